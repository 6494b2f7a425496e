//! `borgbox run-schedule <id>`: one fire of a schedule, what `borgbox-schedule@.service`
//! runs when its timer elapses (API.md 11.4). While a job runs on the repo it tries again
//! every `--retry-after` seconds (a minute) until it can start one, or the schedule is
//! gone or disabled meanwhile; then it waits for its job to end and records that end in
//! the schedule.

use std::time::Duration;

use clap::Args;

use crate::config::{ConfigArgs, Settings};
use crate::domain::RunOutcome;
use crate::model::ScheduleId;

#[derive(Debug, Args)]
pub struct RunScheduleCmd {
    #[command(flatten)]
    config: ConfigArgs,
    /// The schedule (sch_ and 16 hex digits)
    id: ScheduleId,
    /// Seconds between tries while the repo is busy
    #[arg(long, default_value_t = 60, hide = true)]
    retry_after: u64,
}

impl RunScheduleCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        let id = self.id;
        let outcome = super::oneshot_runtime()?.block_on(async {
            let domain = super::oneshot_domain(settings).await?;
            domain.settle_schedules()?;
            let outcome = loop {
                match domain.run_schedule(&id).await? {
                    RunOutcome::Busy => {
                        tokio::time::sleep(Duration::from_secs(self.retry_after)).await
                    }
                    done => break done,
                }
            };
            if let RunOutcome::Started(job) = &outcome {
                // The job's sandbox cannot write the schedules file, so its end reaches
                // the schedule from here, with or without an API process (DESIGN.md).
                domain.schedule_job_ended(job).await?;
            }
            anyhow::Ok(outcome)
        })?;
        // Started and skipped runs are logged by the domain with a MESSAGE_ID.
        if let RunOutcome::Idle | RunOutcome::Busy = &outcome {
            log::info!(borgbox_schedule_id = id.as_str(); "schedule {id} is disabled or deleted: nothing to do");
        }
        Ok(())
    }
}
