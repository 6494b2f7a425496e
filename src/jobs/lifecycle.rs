//! One owner of a job's life: queued → running → final, and what follows each step (the
//! schedule that started it records its run and outcome). `Jobs::start` accepts a job
//! (the API, a schedule) and `Jobs::cancel` cancels one; `exec-job` begins and finishes it
//! (`JobLife`); `job-finished` finishes one exec-job could not; the backends record a job
//! whose process vanished (`mark_lost`). Every change of a record's status is made here.

use super::record::{JobRecord, JobStatus, JobStore, StoreError};
use crate::json_array::FileError;
use crate::model::timestamp::Stamp;
use crate::model::JobId;
use crate::schedules::calendar::Zone;
use crate::schedules::store::ScheduleStore;
use crate::schedules::{LastJob, LastStatus, Schedule};

/// The record and the schedules, for the process that runs a job (`exec-job`) or records
/// its end (`job-finished`).
pub struct JobLife {
    store: JobStore,
    /// None in the job sandbox, which cannot write the schedules file.
    schedules: Option<ScheduleStore>,
    zone: Zone,
}

/// What `begin` found.
pub enum Begun {
    /// queued → running: borg may start.
    Running(JobRecord),
    /// Cancelled while queued (the canceller recorded it), or already final: nothing to do.
    Nothing,
    /// Another process runs it.
    Elsewhere(JobStatus),
}

impl JobLife {
    pub fn new(store: JobStore, schedules: Option<ScheduleStore>, zone: Zone) -> JobLife {
        JobLife {
            store,
            schedules,
            zone,
        }
    }

    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// queued → running as process `pid` (started at `ticks`), unless it was cancelled
    /// while queued; then the schedule that started it records this run. The caller holds
    /// the repo's lock.
    pub fn begin(&self, id: &JobId, pid: i32, ticks: Option<u64>) -> Result<Begun, StoreError> {
        let record = self.store.update(id, |r| {
            if r.status != JobStatus::Queued || r.cancel_requested {
                return None;
            }
            r.status = JobStatus::Running;
            r.pid = Some(pid);
            r.pid_start = ticks;
            Some(r.clone())
        })?;
        let Some(record) = record else {
            return Ok(match self.store.read(id)? {
                Some(r) if !r.status.is_final() && r.status != JobStatus::Queued => {
                    Begun::Elsewhere(r.status)
                }
                _ => Begun::Nothing,
            });
        };
        if let Some(schedules) = &self.schedules {
            if let Err(e) = job_began(schedules, &record, &self.zone) {
                log::warn!(borgbox_job_id = id.as_str(); "failed to record job {id} in its schedule: {e}");
            }
        }
        Ok(Begun::Running(record))
    }

    /// running → final from borg's exit `code` (-1: borg could not be started), then the
    /// schedule follows.
    pub fn finish(
        &self,
        id: &JobId,
        code: i32,
        interrupted: bool,
        now: i64,
    ) -> Result<JobRecord, StoreError> {
        let finished = self.store.update(id, |r| {
            let cancelled = interrupted || r.cancel_requested;
            let status = if code == -1 {
                JobStatus::Error
            } else {
                JobStatus::from_exit(code, cancelled)
            };
            r.finish(status, code, now);
            r.clone()
        })?;
        self.ended(&finished);
        Ok(finished)
    }

    /// `job-finished`: the job's process ended without recording an end; systemd's
    /// `result` and the exit `code` say how. None when the record is already final.
    pub fn finish_unrecorded(
        &self,
        id: &JobId,
        result: &str,
        code: i32,
        now: i64,
    ) -> Result<Option<JobRecord>, StoreError> {
        let recorded = self.store.update(id, |r| {
            if r.status.is_final() {
                return None;
            }
            r.note = Some(format!(
                "borgbox: the job's process ended without an exit status (systemd: {result})"
            ));
            r.finish(JobStatus::Error, code, now);
            Some(r.clone())
        })?;
        if let Some(r) = &recorded {
            self.ended(r);
        }
        Ok(recorded)
    }

    fn ended(&self, record: &JobRecord) {
        let Some(schedules) = &self.schedules else {
            return;
        };
        if let Err(e) = job_ended(schedules, record) {
            log::warn!(borgbox_job_id = record.id.as_str(); "failed to record job {}'s end in its schedule: {e}", record.id);
        }
    }
}

/// A launched job's process is gone without recording an end: error, with `why`.
pub fn mark_lost(
    store: &JobStore,
    id: &JobId,
    why: &str,
    now: i64,
) -> Result<JobRecord, StoreError> {
    store.update(id, |r| {
        r.lost(why, now);
        r.clone()
    })
}

/// The backend could not launch the job: error, with `note`.
pub fn not_started(store: &JobStore, id: &JobId, note: String, now: i64) -> Result<(), StoreError> {
    store.update(id, |r| {
        r.note = Some(note);
        r.finish(JobStatus::Error, -1, now);
    })
}

/// A cancel: a queued job is cancelled at once (exec-job moves to running under the
/// record's lock before it starts borg, and now never will); a running one is marked for
/// its exec-job to stop. `Err(())` when the job has already finished.
pub fn cancel(store: &JobStore, id: &JobId, now: i64) -> Result<Result<JobRecord, ()>, StoreError> {
    store.update(id, |r| {
        if r.status.is_final() {
            return Err(());
        }
        r.cancel_requested = true;
        if r.status == JobStatus::Queued {
            r.finish(JobStatus::Cancelled, -1, now);
        }
        Ok(r.clone())
    })
}

/// What a schedule's last run became once its job ended (API.md 11.4): done for exit 0 or
/// 1, error for everything else (cancelled and lost jobs too).
pub fn outcome(record: &JobRecord) -> LastStatus {
    match record.status {
        JobStatus::Done => LastStatus::Done,
        JobStatus::Queued | JobStatus::Running => LastStatus::Running,
        JobStatus::Error | JobStatus::Cancelled => LastStatus::Error,
    }
}

/// A scheduled job is about to run borg, under its repo's lock: its schedule's last run is
/// this job. `run-schedule` records that before it lets go of the lock; when it was killed
/// in between, this records it instead (API.md 11.4's fields, as it would have), so the
/// run is not lost and `next_run` does not stay in the past. For `exec-job`.
pub fn job_began(store: &ScheduleStore, record: &JobRecord, zone: &Zone) -> Result<(), FileError> {
    let Some(id) = &record.schedule else {
        return Ok(());
    };
    let started = record.started_at;
    store.modify(|all| {
        if let Some(s) = all.iter_mut().find(|s| {
            s.id == *id
                && s.last_job_id.0.as_ref() != Some(&record.id)
                && s.last_run.unix().is_none_or(|run| run <= started)
        }) {
            s.last_run = Stamp::at(started);
            s.last_status = LastStatus::Running;
            s.last_job_id = LastJob(Some(record.id.clone()));
            s.next_run = s.next_after(started, zone);
        }
        Ok::<_, FileError>(())
    })
}

/// A job ended: its schedule's `last_status` follows (done for exit 0 or 1, error for
/// anything else), if that schedule's last run is still this job. For `exec-job`,
/// `job-finished` and a cancel of a queued job.
pub fn job_ended(store: &ScheduleStore, record: &JobRecord) -> Result<(), FileError> {
    let Some(id) = &record.schedule else {
        return Ok(());
    };
    let status = outcome(record);
    store.modify(|all| {
        if let Some(s) = all
            .iter_mut()
            .find(|s| s.id == *id && s.last_job_id.0.as_ref() == Some(&record.id))
        {
            s.last_status = status;
        }
        Ok::<_, FileError>(())
    })
}

/// Gives every schedule whose last run is `running` its job's outcome: the record from
/// `find` (None: the job is unknown, so `error`). Returns whether anything changed.
pub fn settle_running(
    schedules: &mut [Schedule],
    find: impl Fn(&crate::model::JobId) -> Option<JobRecord>,
) -> bool {
    let mut changed = false;
    for schedule in schedules
        .iter_mut()
        .filter(|s| s.last_status == LastStatus::Running)
    {
        let status = match &schedule.last_job_id {
            LastJob(Some(id)) => find(id).map_or(LastStatus::Error, |r| outcome(&r)),
            LastJob(None) => LastStatus::Error,
        };
        if status != LastStatus::Running {
            schedule.last_status = status;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::spec::{JobKind, JobOptions};
    use crate::model::timestamp::Stamp;
    use crate::model::JobId;
    use crate::schedules::calendar::Zone;
    use crate::schedules::store::schedule_store;
    use crate::schedules::store::testing::{add, schedule};

    #[test]
    fn running_schedules_take_their_jobs_outcome() {
        let mut job = JobRecord::new(
            JobId::random(),
            "mac".parse().unwrap(),
            JobKind::Check,
            JobOptions::default(),
            1,
        );
        let mut running = schedule();
        running.last_status = LastStatus::Running;
        running.last_job_id = LastJob(Some(job.id.clone()));
        running.last_run = Stamp::at(1);
        let mut unknown = running.clone();
        unknown.last_job_id = LastJob(Some(JobId::random()));
        let mut all = vec![running, unknown];
        // Its job still runs: only the schedule whose job is unknown changes.
        job.status = JobStatus::Running;
        let find = |id: &JobId| (*id == job.id).then(|| job.clone());
        assert!(settle_running(&mut all, find));
        assert_eq!(all[0].last_status, LastStatus::Running);
        assert_eq!(all[1].last_status, LastStatus::Error);
        job.finish(JobStatus::Done, 1, 2);
        let find = |id: &JobId| (*id == job.id).then(|| job.clone());
        assert!(settle_running(&mut all, find));
        assert_eq!(all[0].last_status, LastStatus::Done);
        assert!(!settle_running(&mut all, |_| None));
    }

    #[test]
    fn a_scheduled_job_its_starter_did_not_record_is_recorded_when_it_begins() {
        let dir = tempfile::tempdir().unwrap();
        let store = schedule_store(dir.path().join("schedules.json"));
        let s = schedule();
        add(&store, &s);
        // 1970-01-02 00:00: the run of 02:30 that day is next.
        let mut job = JobRecord::new(
            JobId::random(),
            "mac".parse().unwrap(),
            JobKind::Check,
            JobOptions::default(),
            86_400,
        );
        job.schedule = Some(s.id.clone());
        job_began(&store, &job, &Zone::utc()).unwrap();
        let recorded = store.load().unwrap()[0].clone();
        assert_eq!(recorded.last_run, Stamp::at(86_400));
        assert_eq!(recorded.last_status, LastStatus::Running);
        assert_eq!(recorded.last_job_id, LastJob(Some(job.id.clone())));
        assert_eq!(recorded.next_run, Stamp::at(86_400 + 9_000));

        // Recorded already (the usual case), or an older job: nothing changes.
        job_began(&store, &job, &Zone::utc()).unwrap();
        let mut older = job.clone();
        older.id = JobId::random();
        older.started_at = 10;
        job_began(&store, &older, &Zone::utc()).unwrap();
        assert_eq!(store.load().unwrap()[0], recorded);
    }
}
