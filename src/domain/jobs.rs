//! Job operations (API.md 9): start a check, prune or compact on a repo (manually or for a
//! schedule, through the same path) and cancel one.

use std::sync::Arc;

use super::{Domain, Error, RepoLock, Result};
use crate::borg::MAX_PASSPHRASE;
use crate::config::Secret;
use crate::jobs::backend::Follow;
use crate::jobs::record::JobRecord;
use crate::jobs::spec::{JobKind, JobOptions};
use crate::logging::message_id;
use crate::model::{JobId, RepoName, ScheduleId};

/// Who asked for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A client, through the API: the repo must be initialized.
    Client,
    /// A schedule firing: passphrase-free command lines, and the job runs even on an
    /// uninitialized repo (borg's failure is then the job's, API.md 11.4).
    Schedule(ScheduleId),
}

/// A validated job request (API.md 9.1); never logged whole (it may hold a passphrase).
pub struct JobRequest {
    kind: JobKind,
    options: JobOptions,
    passphrase: Option<Secret>,
}

/// The one rule for a passphrase given for one call, in a body field or a header named
/// `field`: at most `MAX_PASSPHRASE` bytes; present but empty counts as absent (API.md 8.1).
pub fn passphrase_for_one_call(value: Option<String>, field: &str) -> Result<Option<Secret>> {
    match value {
        Some(p) if p.len() > MAX_PASSPHRASE => Err(Error::Invalid(format!("{field} is too long"))),
        Some(p) if p.is_empty() => Ok(None),
        other => Ok(other.map(Secret::new)),
    }
}

fn passphrase(value: Option<String>) -> Result<Option<Secret>> {
    passphrase_for_one_call(value, "passphrase")
}

impl JobRequest {
    pub fn check(repair: bool, verify_data: bool, pass: Option<String>) -> Result<JobRequest> {
        Ok(JobRequest {
            kind: JobKind::Check,
            options: JobOptions {
                repair,
                verify_data,
                ..Default::default()
            },
            passphrase: passphrase(pass)?,
        })
    }

    /// `keep` holds keep_daily, keep_weekly, keep_monthly and keep_yearly (absent = 0).
    pub fn prune(
        keep: [Option<i64>; 4],
        dry_run: bool,
        pass: Option<String>,
    ) -> Result<JobRequest> {
        let names = ["keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"];
        let mut values = [0u32; 4];
        for ((value, name), out) in keep.iter().zip(names).zip(values.iter_mut()) {
            *out = match value.unwrap_or(0) {
                n if n < 0 => return Err(Error::Invalid(format!("{name} must not be negative"))),
                n => {
                    u32::try_from(n).map_err(|_| Error::Invalid(format!("{name} is too large")))?
                }
            };
        }
        if values.iter().all(|n| *n == 0) {
            return Err(Error::Invalid(
                "at least one of keep_daily, keep_weekly, keep_monthly, keep_yearly must be \
                 greater than 0"
                    .into(),
            ));
        }
        let [keep_daily, keep_weekly, keep_monthly, keep_yearly] = values;
        Ok(JobRequest {
            kind: JobKind::Prune,
            options: JobOptions {
                keep_daily,
                keep_weekly,
                keep_monthly,
                keep_yearly,
                dry_run,
                ..Default::default()
            },
            passphrase: passphrase(pass)?,
        })
    }

    pub fn compact(pass: Option<String>) -> Result<JobRequest> {
        Ok(JobRequest {
            kind: JobKind::Compact,
            options: JobOptions::default(),
            passphrase: passphrase(pass)?,
        })
    }

    /// What a schedule runs: no passphrase, the command lines of API.md 11.4.
    pub fn scheduled(kind: JobKind) -> JobRequest {
        JobRequest {
            kind,
            options: JobOptions {
                scheduled: true,
                ..Default::default()
            },
            passphrase: None,
        }
    }
}

impl Domain {
    /// Starts a job on `name` under the repo's lock: one job per repo, never on a repo
    /// being deleted. Returns the record as accepted (queued, or already running).
    pub async fn start_job(
        self: &Arc<Self>,
        name: &RepoName,
        request: JobRequest,
        origin: Origin,
    ) -> Result<JobRecord> {
        let lock = self.lock_known_repo(name).await?;
        self.start_job_locked(&lock, name, request, origin).await
    }

    /// `start_job` for a caller that already holds the repo's lock.
    pub(super) async fn start_job_locked(
        self: &Arc<Self>,
        _lock: &RepoLock,
        name: &RepoName,
        request: JobRequest,
        origin: Origin,
    ) -> Result<JobRecord> {
        {
            let (name, origin) = (name.clone(), origin.clone());
            self.blocking(move |domain| {
                let facts = domain
                    .repos
                    .facts(&name, domain.clock.now())
                    .ok_or(Error::RepoNotFound)?;
                if origin == Origin::Client && !facts.initialized {
                    return Err(Error::NotInitialized);
                }
                if origin == Origin::Client {
                    super::repos::supported_format(&facts)?;
                }
                Ok(())
            })
            .await?;
        }
        let schedule = match origin {
            Origin::Client => None,
            Origin::Schedule(id) => Some(id),
        };
        let record = self
            .jobs
            .start(
                name.clone(),
                request.kind,
                request.options,
                request.passphrase,
                schedule,
            )
            .await?;
        log::info!(
            message_id = message_id::JOB_STARTED,
            borgbox_job_id = record.id.as_str(),
            borgbox_repo = record.repo.as_str(),
            borgbox_kind = record.kind.as_str();
            "started {} job {} on repo {}", record.kind.as_str(), record.id, record.repo
        );
        Ok(record)
    }

    /// Every retained job with its log tail, newest first.
    pub async fn list_jobs(&self) -> Result<Vec<(JobRecord, Vec<String>)>> {
        Ok(self.jobs.list().await?)
    }

    /// One job with its log tail.
    pub async fn job(&self, id: &JobId) -> Result<(JobRecord, Vec<String>)> {
        self.jobs.get(id).await?.ok_or(Error::NotFound("job"))
    }

    /// One job's output: the tail so far, then live lines until it ends.
    pub async fn follow_job(&self, id: &JobId) -> Result<(JobRecord, Follow)> {
        self.jobs.follow(id).await?.ok_or(Error::NotFound("job"))
    }

    /// The job's record once final; None when the record disappears.
    pub async fn job_final(&self, id: &JobId) -> Option<JobRecord> {
        self.jobs.wait_final(id).await
    }

    /// DELETE /jobs/{id}: a queued job is cancelled at once, a running one asked to stop.
    pub async fn cancel_job(self: &Arc<Self>, id: &JobId) -> Result<(JobRecord, Vec<String>)> {
        let (record, tail) = self.jobs.cancel(id).await?;
        log::info!(
            message_id = message_id::JOB_CANCELLED,
            borgbox_job_id = record.id.as_str(),
            borgbox_repo = record.repo.as_str();
            "cancel of job {} on repo {} requested", record.id, record.repo
        );
        if record.status.is_final() {
            // Cancelled while queued: no exec-job will report the end to its schedule.
            let ended = record.clone();
            self.blocking(move |domain| domain.job_ended(&ended))
                .await?;
        }
        Ok((record, tail))
    }
}
