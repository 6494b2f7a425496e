//! `borgbox job-finished <id>`: the ExecStopPost of a job unit. When exec-job could not
//! record an end (it was killed, or never started), this records one from what systemd
//! tells: SERVICE_RESULT, EXIT_CODE and EXIT_STATUS.

use std::str::FromStr;

use clap::Args;

use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigArgs, Settings};
use crate::jobs::lifecycle::JobLife;
use crate::jobs::record::{JobStore, StoreError};
use crate::logging::message_id;
use crate::model::JobId;

#[derive(Debug, Args)]
pub struct JobFinishedCmd {
    #[command(flatten)]
    config: ConfigArgs,
    id: JobId,
    /// Running in the job sandbox, which cannot write the schedules file (see exec-job)
    #[arg(long, hide = true)]
    sandboxed: bool,
}

/// The exit code to record from systemd's `EXIT_CODE` and `EXIT_STATUS` (API.md 9.2).
pub fn exit_code(kind: Option<&str>, status: Option<&str>) -> i32 {
    match (kind, status) {
        (Some("exited"), Some(status)) => status.parse().unwrap_or(-1),
        (Some("killed" | "dumped"), Some(signal)) => {
            nix::sys::signal::Signal::from_str(&format!("SIG{signal}"))
                .map(|s| 128 + s as i32)
                .or_else(|_| signal.parse::<i32>().map(|n| 128 + n))
                .unwrap_or(-1)
        }
        _ => -1,
    }
}

impl JobFinishedCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        let result = std::env::var("SERVICE_RESULT").unwrap_or_default();
        let kind = std::env::var("EXIT_CODE").ok();
        let status = std::env::var("EXIT_STATUS").ok();
        let code = exit_code(kind.as_deref(), status.as_deref());
        let now = SystemClock.now().unix_timestamp();
        let life = JobLife::new(
            JobStore::new(&settings.state_dir),
            (!self.sandboxed)
                .then(|| crate::schedules::store::schedule_store(settings.schedules.clone())),
            settings.zone.clone(),
        );
        let recorded = life.finish_unrecorded(&self.id, &result, code, now);
        match recorded {
            Ok(Some(r)) => log::info!(
                message_id = message_id::JOB_FINISHED,
                borgbox_job_id = r.id.as_str(),
                borgbox_repo = r.repo.as_str(),
                borgbox_kind = r.kind.as_str(),
                borgbox_status = r.status.as_str(),
                borgbox_exit_code = code;
                "job {} on repo {} ended as error (systemd: {result}, exit code {code})", r.id, r.repo
            ),
            Ok(None) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_from_systemd() {
        assert_eq!(exit_code(Some("exited"), Some("2")), 2);
        assert_eq!(exit_code(Some("killed"), Some("TERM")), 143);
        assert_eq!(exit_code(Some("killed"), Some("KILL")), 137);
        assert_eq!(exit_code(Some("dumped"), Some("SEGV")), 139);
        assert_eq!(exit_code(None, None), -1);
        assert_eq!(exit_code(Some("exited"), Some("x")), -1);
    }
}
