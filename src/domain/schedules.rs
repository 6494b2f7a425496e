//! Schedule operations (API.md 11): create, change, delete, fire (`run_schedule`, for the
//! `run-schedule` oneshot and the process backend's ticker), what a job's end does to its
//! schedule, and `reconcile`, which makes borg's timers match the files.

use std::sync::Arc;

use super::jobs::{JobRequest, Origin};
use super::{Domain, Error, RepoLock, Result};
use crate::jobs::lifecycle::{outcome, settle_running};
use crate::jobs::record::JobRecord;
use crate::logging::message_id;
use crate::model::timestamp::Stamp;
use crate::model::{JobId, RepoName, ScheduleId};
use crate::schedules::{render, sort, LastJob, LastStatus, Schedule, ScheduleInput};

/// What one fire of a schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// A job started.
    Started(JobId),
    /// The repo directory is gone: recorded as `skipped`.
    Skipped,
    /// A job already runs on the repo: nothing changed; try again in a minute.
    Busy,
    /// The schedule no longer exists or is disabled: nothing to do.
    Idle,
}

impl Domain {
    /// Every schedule (or one repo's), API.md 2.7's order; runs whose jobs ended since are
    /// settled first.
    pub async fn list_schedules(self: &Arc<Self>, repo: Option<RepoName>) -> Result<Vec<Schedule>> {
        self.blocking(move |domain| {
            if let Some(name) = &repo {
                if !domain.repos.exists(name) {
                    return Err(Error::RepoNotFound);
                }
            }
            let mut all = domain.current_schedules()?;
            if let Some(name) = repo {
                all.retain(|s| s.repo == name);
            }
            sort(&mut all);
            Ok(all)
        })
        .await
    }

    pub async fn get_schedule(self: &Arc<Self>, id: ScheduleId) -> Result<Schedule> {
        self.blocking(move |domain| {
            domain
                .current_schedules()?
                .into_iter()
                .find(|s| s.id == id)
                .ok_or(Error::NotFound("schedule"))
        })
        .await
    }

    /// The schedules file, with a `running` last run settled when its job has ended.
    fn current_schedules(&self) -> Result<Vec<Schedule>> {
        let all = self.schedules.load()?;
        if all.iter().any(|s| s.last_status == LastStatus::Running) {
            self.settle_schedules()?;
            return Ok(self.schedules.load()?.to_vec());
        }
        Ok(all.to_vec())
    }

    /// Gives each schedule stuck in `running` its job's outcome, or `error` when the job is
    /// unknown (API.md 11.4, at start-up and whenever it is seen).
    pub fn settle_schedules(&self) -> Result<()> {
        let store = &self.jobs.store;
        self.schedules.modify(|all| {
            settle_running(all, |id| store.read(id).ok().flatten());
            Ok::<_, Error>(())
        })
    }

    /// POST /repos/{name}/schedules.
    pub async fn create_schedule(
        self: &Arc<Self>,
        name: &RepoName,
        input: ScheduleInput,
    ) -> Result<Schedule> {
        self.add_entry(name, move |domain, name| {
            Schedule::create(
                ScheduleId::random(),
                name,
                &input,
                domain.now(),
                &domain.settings.zone,
            )
            .map_err(Error::Invalid)
        })
        .await
    }

    /// PATCH /schedules/{id} (API.md 11.2).
    pub async fn update_schedule(
        self: &Arc<Self>,
        id: ScheduleId,
        input: ScheduleInput,
    ) -> Result<Schedule> {
        self.change_entry(id, move |domain, schedule: &Schedule| {
            schedule
                .merge(&input, domain.now(), &domain.settings.zone)
                .map_err(Error::Invalid)
        })
        .await
    }

    /// DELETE /schedules/{id}.
    pub async fn delete_schedule(self: &Arc<Self>, id: ScheduleId) -> Result<()> {
        self.remove_entry::<Schedule>(id).await.map(drop)
    }

    pub(super) fn log_schedule_change(&self, schedule: &Schedule, what: &str) {
        log::info!(
            message_id = message_id::SCHEDULE_CHANGED,
            borgbox_repo = schedule.repo.as_str(),
            borgbox_schedule_id = schedule.id.as_str();
            "{what} schedule {} ({} of repo {}, {}, enabled: {})",
            schedule.id, schedule.kind.as_str(), schedule.repo,
            schedule.calendar().on_calendar(&self.settings.zone), schedule.enabled
        );
    }

    /// One fire of a schedule (API.md 11.4): a skipped run when the repo is gone, nothing
    /// while a job runs on it, else its job, started exactly as the API starts one.
    pub async fn run_schedule(self: &Arc<Self>, id: &ScheduleId) -> Result<RunOutcome> {
        let Some(schedule) = self.schedules.load()?.iter().find(|s| s.id == *id).cloned() else {
            return Ok(RunOutcome::Idle);
        };
        if !schedule.enabled {
            return Ok(RunOutcome::Idle);
        }
        let lock = self.lock_repo(&schedule.repo).await?;
        let now = self.now();
        if !self.repos.exists(&schedule.repo) {
            self.record_run(&lock, id, now, LastStatus::Skipped, None)
                .await?;
            log::info!(
                message_id = message_id::SCHEDULE_FIRED,
                borgbox_repo = schedule.repo.as_str(),
                borgbox_schedule_id = id.as_str();
                "schedule {id} skipped: repo {} does not exist", schedule.repo
            );
            return Ok(RunOutcome::Skipped);
        }
        let request = JobRequest::scheduled(schedule.kind.job_kind());
        let record = match self
            .start_job_locked(&lock, &schedule.repo, request, Origin::Schedule(id.clone()))
            .await
        {
            Ok(record) => record,
            Err(Error::Busy { id: running, .. }) => {
                log::info!(
                    borgbox_repo = schedule.repo.as_str(),
                    borgbox_schedule_id = id.as_str();
                    "schedule {id} waits: job {running} runs on repo {}", schedule.repo
                );
                return Ok(RunOutcome::Busy);
            }
            Err(e) => return Err(e),
        };
        // Still under the repo's lock, which the job takes before borg starts: its end can
        // only be recorded after this (a job that could not start at all has ended already).
        self.record_run(&lock, id, now, outcome(&record), Some(record.id.clone()))
            .await?;
        log::info!(
            message_id = message_id::SCHEDULE_FIRED,
            borgbox_repo = schedule.repo.as_str(),
            borgbox_schedule_id = id.as_str(),
            borgbox_job_id = record.id.as_str();
            "schedule {id} started {} job {} on repo {}", schedule.kind.as_str(), record.id, schedule.repo
        );
        Ok(RunOutcome::Started(record.id))
    }

    async fn record_run(
        self: &Arc<Self>,
        _lock: &RepoLock,
        id: &ScheduleId,
        now: i64,
        status: LastStatus,
        job: Option<JobId>,
    ) -> Result<()> {
        let id = id.clone();
        self.blocking(move |domain| {
            domain.schedules.modify(|all| {
                if let Some(s) = all.iter_mut().find(|s| s.id == id) {
                    s.last_run = Stamp::at(now);
                    s.last_status = status;
                    s.last_job_id = LastJob(job);
                    s.next_run = s.next_after(now, &domain.settings.zone);
                }
                Ok::<_, Error>(())
            })
        })
        .await
    }

    /// Waits for a schedule's job to end, then records the end in its schedule (for
    /// `run-schedule`: the job's sandbox cannot write the schedules file).
    pub async fn schedule_job_ended(self: &Arc<Self>, job: &JobId) -> Result<()> {
        if let Some(record) = self.jobs.wait_final(job).await {
            self.job_ended(&record)?;
        }
        Ok(())
    }

    /// A job ended: see `jobs::lifecycle::job_ended`.
    pub fn job_ended(&self, record: &JobRecord) -> Result<()> {
        Ok(crate::jobs::lifecycle::job_ended(&self.schedules, record)?)
    }

    /// Every due schedule fired once (the process backend's minute tick; API.md 11.4).
    pub async fn fire_due_schedules(self: &Arc<Self>) {
        let now = self.now();
        let due: Vec<ScheduleId> = match self.schedules.load() {
            Ok(all) => all
                .iter()
                .filter(|s| s.is_due(now))
                .map(|s| s.id.clone())
                .collect(),
            Err(e) => {
                log::error!("cannot read the schedules: {e}");
                return;
            }
        };
        for id in due {
            if let Err(e) = self.run_schedule(&id).await {
                log::warn!(borgbox_schedule_id = id.as_str(); "schedule {id} could not fire: {e:#}");
            }
        }
    }

    /// Makes borg's timers match the schedules and alerts files (systemd backend) and wakes
    /// the process backend's ticker. Failures are logged, never fatal: the files are the
    /// truth, and the next change or `borgbox reconcile` tries again.
    pub async fn reconcile(self: &Arc<Self>) {
        if let Err(e) = self.try_reconcile(false).await {
            log::warn!("failed to update borg's timers: {e:#}");
        }
        self.changed.notify_one();
    }

    /// `reconcile`, reporting failure: for the `reconcile` subcommand, which also reloads
    /// borg's user manager (`reload`) for the packaged user units an upgrade replaced.
    pub async fn try_reconcile(self: &Arc<Self>, reload: bool) -> Result<()> {
        let timers = self
            .blocking(|domain| {
                let schedules = domain.schedules.load()?;
                let alerts = domain.alerts.load()?.iter().any(|a| a.enabled);
                Ok(render::desired(
                    &schedules,
                    alerts,
                    &domain.settings.zone,
                    domain.now(),
                ))
            })
            .await?;
        self.timers.sync(&timers, reload).await?;
        Ok(())
    }
}
