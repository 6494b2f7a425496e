//! `borgbox run-schedule <id>`: one fire of a schedule, what `borgbox-schedule@.service`
//! runs when its timer elapses (API.md 11.4). A busy repo exits 75 (EX_TEMPFAIL), which
//! the unit turns into a retry a minute later.

use clap::Args;

use crate::config::{ConfigArgs, Settings};
use crate::domain::RunOutcome;
use crate::model::ScheduleId;

/// sysexits.h EX_TEMPFAIL: borgbox-schedule@.service's RestartForceExitStatus=.
pub const EX_TEMPFAIL: u8 = 75;

#[derive(Debug, Args)]
pub struct RunScheduleCmd {
    #[command(flatten)]
    config: ConfigArgs,
    /// The schedule (sch_ and 16 hex digits)
    id: ScheduleId,
}

impl RunScheduleCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        let outcome = super::oneshot_runtime()?.block_on(async {
            let domain = super::oneshot_domain(settings).await?;
            domain.settle_schedules()?;
            anyhow::Ok(domain.run_schedule(&self.id).await?)
        })?;
        match outcome {
            RunOutcome::Started(job) => println!("schedule {}: started job {job}", self.id),
            RunOutcome::Skipped => println!("schedule {}: skipped, its repo is gone", self.id),
            RunOutcome::Idle => {
                println!("schedule {}: disabled or deleted, nothing to do", self.id)
            }
            RunOutcome::Busy => {
                println!(
                    "schedule {}: a job runs on its repo, retrying later",
                    self.id
                );
                // Not an error for systemd's failure counting: the unit restarts on it.
                std::process::exit(i32::from(EX_TEMPFAIL));
            }
        }
        Ok(())
    }
}
