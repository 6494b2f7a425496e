//! `borgbox exec-job <id>`: runs one job's borg and owns its record until the end. Started
//! by a backend (a child of `serve`, or a transient unit), never by people.

use clap::Args;

use crate::config::{ConfigArgs, Settings};
use crate::model::JobId;

#[derive(Debug, Args)]
pub struct ExecJobCmd {
    #[command(flatten)]
    config: ConfigArgs,
    /// The job to run
    id: JobId,
    /// Send each output line to the journal with the job's fields, instead of stdout
    #[arg(long)]
    journal: bool,
    /// Running in the job sandbox, which cannot write the schedules file: the schedule
    /// learns the job's end from run-schedule, which waits for it
    #[arg(long, hide = true)]
    sandboxed: bool,
}

impl ExecJobCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let code = runtime.block_on(crate::jobs::exec::run(
            &settings,
            &self.id,
            self.journal,
            self.sandboxed,
        ))?;
        if code != 0 {
            // So `systemctl status` shows a failed job as failed.
            std::process::exit(code.clamp(1, 255));
        }
        Ok(())
    }
}
