//! The schedules file (API.md 11.5) and what a job's end does to its schedule.

use std::path::PathBuf;

use super::calendar::Zone;
use super::{LastJob, LastStatus, Schedule};
use crate::jobs::record::{JobRecord, JobStatus};
use crate::json_array::{FileError, JsonArrayFile};
use crate::model::timestamp::Stamp;

pub type ScheduleStore = JsonArrayFile<Schedule>;

pub fn schedule_store(path: PathBuf) -> ScheduleStore {
    JsonArrayFile::new(path, Schedule::check)
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
    use crate::model::{JobId, ScheduleId};
    use crate::schedules::calendar::Zone;
    use crate::schedules::ScheduleInput;

    fn schedule() -> Schedule {
        Schedule::create(
            ScheduleId::random(),
            "mac".parse().unwrap(),
            &ScheduleInput {
                kind: Some("check".into()),
                cadence: Some("daily".into()),
                hour: Some(2),
                minute: Some(30),
                ..Default::default()
            },
            1_000,
            &Zone::utc(),
        )
        .unwrap()
    }

    fn add(store: &ScheduleStore, s: &Schedule) {
        store
            .modify(|all| {
                all.push(s.clone());
                Ok::<_, FileError>(())
            })
            .unwrap();
    }

    #[test]
    fn missing_file_is_empty_and_writes_are_private_and_reread() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = schedule_store(dir.path().join("schedules.json"));
        assert!(store.load().unwrap().is_empty());
        let s = schedule();
        add(&store, &s);
        assert_eq!(*store.load().unwrap(), vec![s]);
        assert_eq!(
            std::fs::metadata(store.path()).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedules.json");
        let mut out_of_range = serde_json::to_value(vec![schedule()]).unwrap();
        out_of_range[0]["hour"] = 24.into();
        for bad in [
            "{".to_owned(),
            "{}".to_owned(),
            r#"[{"id":"sch_0"}]"#.to_owned(),
            out_of_range.to_string(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            let store = schedule_store(path.clone());
            assert!(
                matches!(store.load(), Err(FileError::Corrupt { .. })),
                "{bad}"
            );
            let result = store.modify(|all| {
                all.clear();
                Ok::<_, FileError>(())
            });
            assert!(matches!(result, Err(FileError::Corrupt { .. })));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
    }

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
