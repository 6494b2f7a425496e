//! The seam between the schedules and alerts files and borg's timers (DESIGN.md
//! "Schedules and alerts"), beside the job backend rather than part of it. With borg's
//! user manager (`SystemdTimers`) the timers are unit files the manager fires; with jobs as
//! child processes there are none (`NoTimers`): the domain's ticker reads the files.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use super::reconcile;
use super::render::TimerFile;
use crate::config::Settings;
use crate::logging::message_id;
use crate::systemd::{SystemdError, UserManager};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum TimersError {
    #[error("borg's service manager is not reachable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

pub trait Timers: Send + Sync {
    /// Makes borg's timers exactly `timers`. `reload`: reload the manager even when no
    /// timer file changed (after an upgrade, the packaged units may have).
    fn sync<'a>(
        &'a self,
        timers: &'a [TimerFile],
        reload: bool,
    ) -> BoxFuture<'a, Result<(), TimersError>>;
}

/// No timers to keep: the process backend's ticker fires schedules itself.
pub struct NoTimers;

impl Timers for NoTimers {
    fn sync<'a>(&'a self, _: &'a [TimerFile], _: bool) -> BoxFuture<'a, Result<(), TimersError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Timer units of borg's user manager, written by `reconcile`.
pub struct SystemdTimers {
    manager: UserManager,
    /// Where generated timers go, and where borg's manager keeps their last triggers.
    units: PathBuf,
    stamps: PathBuf,
    lock: PathBuf,
}

impl SystemdTimers {
    pub fn new(manager: UserManager, settings: &Settings) -> SystemdTimers {
        SystemdTimers {
            manager,
            units: settings.user_unit_dir.clone(),
            stamps: settings.timer_stamp_dir.clone(),
            lock: settings.state().timers_lock(),
        }
    }
}

impl Timers for SystemdTimers {
    fn sync<'a>(
        &'a self,
        timers: &'a [TimerFile],
        reload: bool,
    ) -> BoxFuture<'a, Result<(), TimersError>> {
        Box::pin(async move {
            let dirs = reconcile::Dirs {
                units: &self.units,
                stamps: &self.stamps,
                lock: &self.lock,
            };
            let report = reconcile::apply(&self.manager, &dirs, timers, reload)
                .await
                .map_err(|e| match e.downcast::<SystemdError>() {
                    Ok(e @ SystemdError::Unreachable { .. }) => TimersError::Unavailable(e.into()),
                    Ok(e) => TimersError::Other(e.into()),
                    Err(e) => TimersError::Other(e),
                })?;
            if !report.is_empty() {
                log::info!(
                    message_id = message_id::TIMERS_RECONCILED;
                    "timers: {} written, {} removed, {} started",
                    report.written.len(), report.removed.len(), report.started.len()
                );
            }
            Ok(())
        })
    }
}
