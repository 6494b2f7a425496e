//! Every operation a user can ask for, one function each (DESIGN.md "Domain operations"):
//! repos (`repos`), keys (`keys`), jobs (`jobs`), schedules (`schedules`) and alerts
//! (`alerts`). The HTTP handlers, the `run-schedule`, `scan-alerts` and `reconcile`
//! subcommands and the process backend's ticker all call these; none of them knows HTTP.
//!
//! Operations that mutate a repo or start a job on it hold the repo's lock
//! (`<state dir>/locks/repo-<name>.lock`), shared by every borgbox process, so "delete" and
//! "start a job" never interleave. Taking it first finishes or undoes whatever a killed
//! operation on that repo left half-done (`recover`).

mod alerts;
mod entries;
mod jobs;
mod keys;
mod metrics;
pub mod repos;
mod schedules;
mod server;
pub mod ticker;

use std::path::PathBuf;
use std::sync::Arc;

pub use self::alerts::ScanReport;
pub use self::jobs::{passphrase_for_one_call, JobRequest, Origin};
pub use self::keys::KeyView;
pub use self::repos::{NewRepo, Registration, RepoUpdate, RepoView};
pub use self::schedules::RunOutcome;
pub use self::server::{HostStats, ServerInfo};

use crate::alerts::webhook::{DeliveryError, Notifier};
use crate::alerts::AlertStore;
use crate::borg::{Borg, BorgError};
use crate::clock::Clock;
use crate::config::Settings;
use crate::files::{self, FileLock};
use crate::jobs::backend::{Backend, BackendError};
use crate::jobs::record::{JobStore, StoreError};
use crate::jobs::{JobError, Jobs};
use crate::json_array::FileError;
use crate::keys::{AddedAt, KeyStore, KeyUse};
use crate::model::{JobId, RepoName};
use crate::repos::Repos;
use crate::schedules::store::ScheduleStore;
use crate::schedules::timers::{NoTimers, Timers, TimersError};

/// Why an operation was refused or failed: the cases a caller acts on. `api::error` maps
/// them to status codes in one table.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (a name, key, field or range); the message says what.
    #[error("{0}")]
    Invalid(String),
    #[error("repo not found")]
    RepoNotFound,
    /// A key, job, schedule or alert that does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("repo already exists")]
    RepoExists,
    #[error("repo {0} is already registered")]
    AlreadyRegistered(RepoName),
    #[error("repo has no registered key")]
    NotRegistered,
    #[error("repo is not initialized")]
    NotInitialized,
    /// The repository's config says a format this borgbox's borg cannot use.
    #[error("repo is a borg 2 repository (config version {0}); borgbox supports borg 1 repositories (version 1) only")]
    UnsupportedRepo(u32),
    #[error("key is already registered for repo {0}")]
    KeyRegistered(RepoName),
    #[error("key is already present in authorized_keys")]
    KeyPresent,
    #[error("a job is already running on repo {repo} ({id})")]
    Busy { repo: RepoName, id: JobId },
    #[error("job already finished")]
    JobFinished,
    /// borg ran and failed or timed out; the message is safe to show.
    #[error(transparent)]
    Borg(BorgError),
    /// A webhook delivery failed; the message names no secret.
    #[error(transparent)]
    Webhook(#[from] DeliveryError),
    #[error("borg's service manager is not reachable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Internal(err.into())
    }
}

impl From<FileError> for Error {
    fn from(err: FileError) -> Self {
        Error::Internal(err.into())
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Busy { repo, id } => Error::Busy { repo, id },
            StoreError::NotFound => Error::NotFound("job"),
            StoreError::Io(e) => e.into(),
        }
    }
}

impl From<BackendError> for Error {
    fn from(err: BackendError) -> Self {
        match err {
            BackendError::Unavailable(e) => Error::Unavailable(e),
            BackendError::Other(e) => Error::Internal(e),
        }
    }
}

impl From<TimersError> for Error {
    fn from(err: TimersError) -> Self {
        match err {
            TimersError::Unavailable(e) => Error::Unavailable(e),
            TimersError::Other(e) => Error::Internal(e),
        }
    }
}

impl From<JobError> for Error {
    fn from(err: JobError) -> Self {
        match err {
            JobError::Store(e) => e.into(),
            JobError::Finished => Error::JobFinished,
            JobError::Backend(e) => e.into(),
        }
    }
}

impl From<BorgError> for Error {
    fn from(err: BorgError) -> Self {
        match err {
            BorgError::Io(e) => e.into(),
            other => Error::Borg(other),
        }
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Error::Internal(err.into())
    }
}

/// Everything the operations work on. Cheap to build: nothing here reads a file or grows
/// with the number of repos, jobs, schedules or alerts.
pub struct Domain {
    settings: Settings,
    clock: Arc<dyn Clock>,
    repos: Repos,
    keys: KeyStore,
    added_at: AddedAt,
    key_use: KeyUse,
    /// When this process last read sshd's logins from the journal.
    key_use_read: std::sync::Mutex<Option<std::time::Instant>>,
    borg: Borg,
    jobs: Jobs,
    schedules: ScheduleStore,
    alerts: AlertStore,
    notifier: Notifier,
    backend: Arc<dyn Backend>,
    timers: Arc<dyn Timers>,
    /// Woken after a schedule or alert changed (the process backend's ticker waits on it).
    changed: tokio::sync::Notify,
}

/// The repo lock, held for the length of one operation.
pub struct RepoLock {
    _lock: FileLock,
}

impl Domain {
    pub fn new(settings: Settings, clock: Arc<dyn Clock>, backend: Arc<dyn Backend>) -> Domain {
        Domain::with_notifier(settings, clock.clone(), backend, Notifier::new(clock))
    }

    /// The same with a given webhook notifier (tests shorten its timeouts).
    pub fn with_notifier(
        settings: Settings,
        clock: Arc<dyn Clock>,
        backend: Arc<dyn Backend>,
        notifier: Notifier,
    ) -> Domain {
        let state = settings.state();
        Domain {
            repos: Repos::new(settings.repo_root.clone(), &state),
            keys: KeyStore::new(settings.auth_keys.clone()),
            added_at: AddedAt::new(state.keys_added()),
            key_use: KeyUse::new(state.keys_used()),
            key_use_read: std::sync::Mutex::new(None),
            borg: Borg::new(settings.borg.clone(), &state),
            jobs: Jobs::new(
                JobStore::new(&settings.state_dir),
                backend.clone(),
                clock.clone(),
            ),
            schedules: crate::schedules::store::schedule_store(settings.schedules.clone()),
            alerts: crate::alerts::alert_store(settings.alerts.clone()),
            notifier,
            backend,
            timers: Arc::new(NoTimers),
            changed: tokio::sync::Notify::new(),
            clock,
            settings,
        }
    }

    /// The same, keeping borg's timers with `timers` (by default there are none: the
    /// process backend's ticker reads the files).
    pub fn with_timers(mut self, timers: Arc<dyn Timers>) -> Domain {
        self.timers = timers;
        self
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// Parses a repo name from a request body (API.md 6.1).
    pub fn repo_name(text: &str) -> Result<RepoName> {
        text.parse()
            .map_err(|_| Error::Invalid("invalid repo name".into()))
    }

    fn lock_path(&self, name: &RepoName) -> PathBuf {
        self.settings.state().repo_lock(name)
    }

    /// Takes `name`'s lock (waiting for whoever holds it), then finishes or undoes what a
    /// killed operation on it left behind.
    pub async fn lock_repo(self: &Arc<Self>, name: &RepoName) -> Result<RepoLock> {
        let domain = self.clone();
        let name = name.clone();
        let (lock, timers_changed) = tokio::task::spawn_blocking(move || -> Result<_> {
            let path = domain.lock_path(&name);
            if let Some(dir) = path.parent() {
                files::ensure_dir(dir, 0o700)?;
            }
            let lock = files::lock(&path)?;
            let changed = domain.recover(&name)?;
            Ok((RepoLock { _lock: lock }, changed))
        })
        .await??;
        if timers_changed {
            self.reconcile().await;
        }
        Ok(lock)
    }

    /// `lock_repo` for an operation on an existing repo. A name nothing on disk knows (no
    /// lock file yet, no directory, no half-done create or delete, no managed line) is
    /// RepoNotFound before any lock is taken: requests name repos freely, and a refused one
    /// must not leave a lock file behind (API.md 16.5: nothing changes on disk).
    pub async fn lock_known_repo(self: &Arc<Self>, name: &RepoName) -> Result<RepoLock> {
        let known = {
            let name = name.clone();
            self.blocking(move |domain| domain.knows(&name)).await?
        };
        if !known {
            return Err(Error::RepoNotFound);
        }
        self.lock_repo(name).await
    }

    /// Whether anything on disk belongs to `name` (see `lock_known_repo`).
    fn knows(&self, name: &RepoName) -> Result<bool> {
        Ok(
            std::fs::symlink_metadata(files::lock_path(&self.lock_path(name))).is_ok()
                || self.repos.occupied(name)
                || self.repos.half_done(name)
                || !self.keys.read()?.managed(name).is_empty(),
        )
    }

    /// Runs blocking file work (flock, directory walks) off the async workers.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Domain) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let domain = self.clone();
        tokio::task::spawn_blocking(move || work(&domain)).await?
    }
}

#[cfg(test)]
mod tests;
