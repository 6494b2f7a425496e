//! Maintenance jobs (API.md 9): at most one per repo across every borgbox process, records
//! that outlive the API process, cancel, and output for `log_tail` and streams. Where a
//! job runs is the `Backend`'s business.

pub mod backend;
pub mod exec;
pub mod hub;
pub mod lifecycle;
pub mod live;
pub mod output;
pub mod process;
pub mod record;
pub mod spec;
pub mod systemd;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use self::backend::{Backend, BackendError, Follow};
use self::record::{JobRecord, JobStatus, JobStore, Liveness, StoreError};
use self::spec::{JobKind, JobOptions};
use crate::clock::Clock;
use crate::config::Secret;
use crate::model::{JobId, RepoName};

/// Lines in `log_tail` and in a stream's replay.
pub const TAIL_LINES: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("job already finished")]
    Finished,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

pub struct Jobs {
    pub store: JobStore,
    backend: Arc<dyn Backend>,
    clock: Arc<dyn Clock>,
}

impl Jobs {
    pub fn new(store: JobStore, backend: Arc<dyn Backend>, clock: Arc<dyn Clock>) -> Jobs {
        Jobs {
            store,
            backend,
            clock,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(JobStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }

    /// The unfinished job of `repo`, if its process is alive (for break-lock and delete).
    pub async fn running_on(&self, repo: &RepoName) -> Result<Option<JobId>, StoreError> {
        let records = self.blocking(|store| Ok(store.list()?)).await?;
        for record in records
            .iter()
            .filter(|r| &r.repo == repo && !r.status.is_final())
        {
            if self.backend.liveness(record).await == Liveness::Alive {
                return Ok(Some(record.id.clone()));
            }
        }
        Ok(None)
    }

    /// Accepts a job and launches it; 409-worthy `Busy` when one runs on the repo. The
    /// caller holds the repo's lock (`domain`), so nothing else starts or deletes meanwhile.
    pub async fn start(
        &self,
        repo: RepoName,
        kind: JobKind,
        options: JobOptions,
        passphrase: Option<Secret>,
        schedule: Option<crate::model::ScheduleId>,
    ) -> Result<JobRecord, JobError> {
        // Liveness may need the service manager, so it is asked before taking the lock;
        // a record that appears in between counts as alive.
        let unfinished: Vec<JobRecord> = self
            .blocking({
                let repo = repo.clone();
                move |store| {
                    Ok(store
                        .list()?
                        .into_iter()
                        .filter(|r| r.repo == repo && !r.status.is_final())
                        .collect())
                }
            })
            .await?;
        let mut liveness = HashMap::new();
        for record in &unfinished {
            liveness.insert(record.id.clone(), self.backend.liveness(record).await);
        }
        let now = self.now();
        let mut record = JobRecord::new(JobId::random(), repo, kind, options, now);
        record.has_passphrase = passphrase.is_some();
        record.schedule = schedule;
        let created = record.clone();
        self.blocking(move |store| {
            store.create_exclusive(
                &created,
                |r| liveness.get(&r.id).copied().unwrap_or(Liveness::Alive),
                now,
            )
        })
        .await?;
        if let Err(err) = self.backend.start(&record, passphrase).await {
            let now = self.now();
            let note = format!("borgbox: could not start the job: {err:#}");
            let id = record.id.clone();
            let _ = self
                .blocking(move |store| lifecycle::not_started(&store, &id, note, now))
                .await;
            return Err(err.into());
        }
        let id = record.id.clone();
        Ok(self
            .blocking(move |store| Ok(store.read(&id)?))
            .await
            .ok()
            .flatten()
            .unwrap_or(record))
    }

    pub async fn get(&self, id: &JobId) -> Result<Option<(JobRecord, Vec<String>)>, StoreError> {
        let id = id.clone();
        let Some(record) = self.blocking(move |store| Ok(store.read(&id)?)).await? else {
            return Ok(None);
        };
        let record = self.settle(record).await;
        let tail = self.tail(&record).await;
        Ok(Some((record, tail)))
    }

    pub async fn list(&self) -> Result<Vec<(JobRecord, Vec<String>)>, StoreError> {
        let records = self.blocking(|store| Ok(store.list()?)).await?;
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let record = self.settle(record).await;
            let tail = self.tail(&record).await;
            out.push((record, tail));
        }
        Ok(out)
    }

    /// An unfinished record whose process is gone is recorded as lost.
    async fn settle(&self, record: JobRecord) -> JobRecord {
        if record.status.is_final() || self.backend.liveness(&record).await == Liveness::Alive {
            return record;
        }
        let now = self.now();
        let id = record.id.clone();
        self.blocking(move |store| {
            lifecycle::mark_lost(
                &store,
                &id,
                "its process vanished without an exit status",
                now,
            )
        })
        .await
        .unwrap_or(record)
    }

    async fn tail(&self, record: &JobRecord) -> Vec<String> {
        let mut lines = self.backend.log_tail(record, TAIL_LINES).await.unwrap_or_else(|e| {
            log::warn!(borgbox_job_id = record.id.as_str(); "failed to read the log of job {}: {e}", record.id);
            Vec::new()
        });
        if let Some(note) = &record.note {
            lines.push(note.clone());
            if lines.len() > TAIL_LINES {
                lines.remove(0);
            }
        }
        lines
    }

    /// DELETE /jobs/{id}: a queued job is cancelled at once, a running one is asked to stop.
    pub async fn cancel(&self, id: &JobId) -> Result<(JobRecord, Vec<String>), JobError> {
        let now = self.now();
        let id_for_update = id.clone();
        let record = self
            .blocking(move |store| lifecycle::cancel(&store, &id_for_update, now))
            .await?
            .map_err(|()| JobError::Finished)?;
        if record.status == JobStatus::Running {
            self.backend.cancel(&record).await?;
        }
        let tail = self.tail(&record).await;
        Ok((record, tail))
    }

    /// Replay and live lines; `None` for an unknown job.
    pub async fn follow(&self, id: &JobId) -> Result<Option<(JobRecord, Follow)>, StoreError> {
        let id = id.clone();
        let Some(record) = self.blocking(move |store| Ok(store.read(&id)?)).await? else {
            return Ok(None);
        };
        let mut follow = self.backend.follow(&record, TAIL_LINES).await?;
        if let Some(note) = &record.note {
            follow.replay.push(note.clone());
        }
        Ok(Some((record, follow)))
    }

    /// Waits for a record to become final, noticing lost jobs; polls the shared record so
    /// it works whatever process runs the job. None when the record disappears.
    pub async fn wait_final(&self, id: &JobId) -> Option<JobRecord> {
        loop {
            let id = id.clone();
            let record = self
                .blocking(move |store| Ok(store.read(&id)?))
                .await
                .ok()
                .flatten()?;
            let record = self.settle(record).await;
            if record.status.is_final() {
                return Some(record);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    #[tokio::test]
    async fn a_queued_job_is_cancelled_at_once_a_running_one_is_signalled() {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(backend::testing::Fake::default());
        let jobs = Jobs::new(
            JobStore::new(dir.path()),
            backend.clone(),
            Arc::new(SystemClock),
        );
        let queued = jobs
            .start(
                "a".parse().unwrap(),
                JobKind::Check,
                JobOptions::default(),
                None,
                None,
            )
            .await
            .unwrap();
        let (record, _) = jobs.cancel(&queued.id).await.unwrap();
        assert_eq!(
            (record.status, record.exit_code),
            (JobStatus::Cancelled, -1)
        );
        assert!(backend.cancelled.lock().unwrap().is_empty());
        assert!(matches!(
            jobs.cancel(&queued.id).await,
            Err(JobError::Finished)
        ));

        let running = jobs
            .start(
                "b".parse().unwrap(),
                JobKind::Compact,
                JobOptions::default(),
                None,
                None,
            )
            .await
            .unwrap();
        jobs.store
            .update(&running.id, |r| r.status = JobStatus::Running)
            .unwrap();
        let (record, _) = jobs.cancel(&running.id).await.unwrap();
        assert_eq!(record.status, JobStatus::Running);
        assert!(record.cancel_requested);
        assert_eq!(*backend.cancelled.lock().unwrap(), vec![running.id.clone()]);
    }
}
