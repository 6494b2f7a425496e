//! The command line: one file per subcommand, each `run(self) -> anyhow::Result<()>`.

mod exec_job;
mod job_finished;
mod reconcile;
mod run_schedule;
mod scan_alerts;
mod serve;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::activity::Activity;
use crate::clock::Clock;
use crate::config::{BackendChoice, Settings};
use crate::jobs::backend::Backend;
use crate::jobs::process::ProcessBackend;
use crate::jobs::record::JobStore;
use crate::jobs::systemd::SystemdBackend;
use crate::schedules::timers::{NoTimers, SystemdTimers, Timers};
use crate::systemd::UserManager;

#[derive(Debug, Parser)]
#[command(
    name = "borgbox",
    version,
    about = "Host Borg backup repositories, managed over a REST API"
)]
pub struct Cli {
    /// More log output (-v debug, -vv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (socket-activated under systemd, or on BORGBOX_ADDR)
    Serve(serve::ServeCmd),
    /// Run one job's borg (started by borgbox itself, not by people)
    #[command(hide = true)]
    ExecJob(exec_job::ExecJobCmd),
    /// Record how a job's unit ended (its ExecStopPost)
    #[command(hide = true)]
    JobFinished(job_finished::JobFinishedCmd),
    /// Fire one schedule now (what its timer runs), waiting while a job runs on its repo
    RunSchedule(run_schedule::RunScheduleCmd),
    /// Run one stale-backup alert check and deliver what is due (what the alerts timer runs)
    ScanAlerts(scan_alerts::ScanAlertsCmd),
    /// HTTPS: make the certificate (`init`) or print it (`show`)
    Tls(tls::TlsCmd),
    /// Make borg's timer units match the schedules and alerts files (after an upgrade or a
    /// hand edit)
    Reconcile(reconcile::ReconcileCmd),
}

impl Cli {
    pub fn verbosity(&self) -> u8 {
        self.verbose
    }

    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(cmd) => cmd.run(),
            Command::ExecJob(cmd) => cmd.run(),
            Command::JobFinished(cmd) => cmd.run(),
            Command::RunSchedule(cmd) => cmd.run(),
            Command::ScanAlerts(cmd) => cmd.run(),
            Command::Reconcile(cmd) => cmd.run(),
            Command::Tls(cmd) => cmd.run(),
        }
    }
}

/// `auto` takes borg's user manager when its bus answers (jobs are transient units, and
/// schedules and alerts its timers), else child processes (and the ticker).
pub(crate) async fn choose_backend(
    settings: &Settings,
    activity: &Activity,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn Backend>, Arc<dyn Timers>)> {
    let exe = std::env::current_exe().context("cannot find the borgbox binary for exec-job")?;
    let store = JobStore::new(&settings.state_dir);
    let bus = format!("/run/user/{}/bus", settings.uid);
    let systemd = match settings.backend {
        BackendChoice::Process => None,
        // The user bus restarts with the manager: give it a few seconds when asked for.
        BackendChoice::Systemd => Some(
            UserManager::connect(settings.uid, Duration::from_secs(10))
                .await
                .context("BORGBOX_BACKEND=systemd")?,
        ),
        BackendChoice::Auto if std::path::Path::new(&bus).exists() => {
            match UserManager::connect(settings.uid, Duration::from_secs(3)).await {
                Ok(manager) => Some(manager),
                Err(e) => {
                    log::warn!("{e}; running jobs as child processes");
                    None
                }
            }
        }
        BackendChoice::Auto => None,
    };
    let (backend, timers): (Arc<dyn Backend>, Arc<dyn Timers>) = match systemd {
        Some(manager) => (
            Arc::new(SystemdBackend::new(
                manager.clone(),
                exe,
                settings,
                store,
                clock.clone(),
            )),
            Arc::new(SystemdTimers::new(manager, settings)),
        ),
        None => (
            Arc::new(ProcessBackend::new(
                exe,
                settings.child_env(),
                store,
                activity.clone(),
                clock.clone(),
            )),
            Arc::new(NoTimers),
        ),
    };
    log::debug!("jobs run with the {} backend", backend.name());
    Ok((backend, timers))
}

/// A runtime for a oneshot subcommand.
fn oneshot_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// The domain as a oneshot sees it: the backend `serve` would choose, its own clock.
async fn oneshot_domain(settings: Settings) -> anyhow::Result<Arc<crate::domain::Domain>> {
    let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
    let (backend, timers) = choose_backend(&settings, &Activity::default(), &clock).await?;
    let domain = Arc::new(crate::domain::Domain::new(settings, clock, backend).with_timers(timers));
    domain.check_stores()?;
    Ok(domain)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
