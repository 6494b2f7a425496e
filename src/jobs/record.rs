//! Job records in `<state dir>/jobs/<id>.json`: the truth about every job, shared by the
//! API process, `exec-job` and `job-finished`. Every change is a locked read-modify-write.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::spec::{JobKind, JobOptions};
use crate::files::{self, FileStamp};
use crate::model::{JobId, RepoName};

/// Jobs kept: at least this many finished ones; unfinished ones are never removed.
pub const RETAINED: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Error,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Error => "error",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Error | JobStatus::Cancelled
        )
    }

    /// API.md 9.2: exit 0 and 1 are done, anything else an error; a cancel wins.
    pub fn from_exit(code: i32, cancelled: bool) -> JobStatus {
        match (cancelled, code) {
            (true, _) => JobStatus::Cancelled,
            (false, 0 | 1) => JobStatus::Done,
            (false, _) => JobStatus::Error,
        }
    }
}

/// How long a record nobody has taken yet counts as starting rather than lost.
const START_GRACE_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub repo: RepoName,
    pub kind: JobKind,
    pub options: JobOptions,
    pub status: JobStatus,
    /// Unix seconds.
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub exit_code: i32,
    /// Whether borg gets a passphrase on fd 0 (never the passphrase itself).
    #[serde(default)]
    pub has_passphrase: bool,
    /// The `exec-job` process and its start time in clock ticks (guards pid reuse).
    #[serde(default)]
    pub pid: Option<i32>,
    #[serde(default)]
    pub pid_start: Option<u64>,
    #[serde(default)]
    pub cancel_requested: bool,
    /// A line borgbox adds to the log, e.g. why a job was lost.
    #[serde(default)]
    pub note: Option<String>,
    /// The schedule that started it, whose `last_status` follows it (API.md 11.4).
    #[serde(default)]
    pub schedule: Option<crate::model::ScheduleId>,
}

impl JobRecord {
    pub fn new(
        id: JobId,
        repo: RepoName,
        kind: JobKind,
        options: JobOptions,
        now: i64,
    ) -> JobRecord {
        JobRecord {
            id,
            repo,
            kind,
            options,
            status: JobStatus::Queued,
            started_at: now,
            finished_at: None,
            exit_code: -1,
            has_passphrase: false,
            pid: None,
            pid_start: None,
            cancel_requested: false,
            note: None,
            schedule: None,
        }
    }

    /// Records the final status once; a record already final is left alone.
    pub fn finish(&mut self, status: JobStatus, exit_code: i32, now: i64) {
        if !self.status.is_final() {
            self.status = status;
            self.exit_code = exit_code;
            self.finished_at = Some(now);
        }
    }

    /// Whether no process has taken the record yet and it is too young to call lost:
    /// `exec-job` may still be starting (a busy machine, a slow user manager).
    pub fn is_starting(&self, now: i64) -> bool {
        self.pid.is_none() && now - self.started_at < START_GRACE_SECS
    }

    pub fn lost(&mut self, why: &str, now: i64) {
        if !self.status.is_final() {
            self.note = Some(format!("borgbox: job lost: {why}"));
            self.finish(JobStatus::Error, -1, now);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a job is already running on repo {repo} ({id})")]
    Busy { repo: RepoName, id: JobId },
    #[error("job not found")]
    NotFound,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What a backend says about an unfinished record's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Gone,
}

#[derive(Debug, Clone)]
pub struct JobStore {
    dir: PathBuf,
    /// Records as last parsed, by id, with the identity of the file they came from. Every
    /// write renames a new file into place, so an unchanged identity is unchanged content.
    parsed: Arc<Mutex<HashMap<JobId, (FileStamp, JobRecord)>>>,
}

impl JobStore {
    /// The records under `state_dir` (`StateDir::jobs`).
    pub fn new(state_dir: &Path) -> JobStore {
        JobStore {
            dir: crate::state_dir::StateDir::new(state_dir).jobs(),
            parsed: Arc::default(),
        }
    }

    pub fn record_path(&self, id: &JobId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn log_path(&self, id: &JobId) -> PathBuf {
        self.dir.join(format!("{id}.log"))
    }

    /// A finished job's log tail, cached by the systemd backend (the journal is slow).
    pub fn tail_cache_path(&self, id: &JobId) -> PathBuf {
        self.dir.join(format!("{id}.tail.json"))
    }

    pub fn read(&self, id: &JobId) -> io::Result<Option<JobRecord>> {
        match fs::read(self.record_path(id)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Changes one record under its lock; NotFound when there is none.
    pub fn update<T>(
        &self,
        id: &JobId,
        change: impl FnOnce(&mut JobRecord) -> T,
    ) -> Result<T, StoreError> {
        let path = self.record_path(id);
        // No lock file for a record that does not exist.
        if !path.exists() {
            return Err(StoreError::NotFound);
        }
        let lock = files::lock(&path)?;
        let Some(mut record) = self.read(id)? else {
            // Pruned meanwhile: its lock file goes too.
            lock.remove()?;
            return Err(StoreError::NotFound);
        };
        let before = record.clone();
        let out = change(&mut record);
        if record != before {
            write(&lock, &record)?;
        }
        Ok(out)
    }

    /// Every record, newest first (`started_at`, then `id`, descending). A record whose
    /// file did not change since the last call is not read again.
    pub fn list(&self) -> io::Result<Vec<JobRecord>> {
        let mut records = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(records),
            Err(e) => return Err(e),
        };
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = HashMap::with_capacity(parsed.len());
        for entry in entries {
            let name = entry?.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<JobId>().ok())
            else {
                continue;
            };
            // A record removed while listing is simply not listed.
            let Ok(Some(stamp)) = FileStamp::of(&self.record_path(&id)) else {
                continue;
            };
            let record = match parsed.remove(&id) {
                Some((known, record)) if known == stamp => record,
                _ => match self.read(&id) {
                    Ok(Some(record)) => record,
                    _ => continue,
                },
            };
            records.push(record.clone());
            seen.insert(id, (stamp, record));
        }
        *parsed = seen;
        drop(parsed);
        records.sort_by(|a, b| (b.started_at, &b.id).cmp(&(a.started_at, &a.id)));
        Ok(records)
    }

    /// Adds `record` unless a job of its repo is unfinished and alive, under one lock
    /// shared by every borgbox process. Unfinished records whose process is gone are
    /// recorded as lost on the way; old finished jobs beyond `RETAINED` are removed.
    pub fn create_exclusive(
        &self,
        record: &JobRecord,
        liveness: impl Fn(&JobRecord) -> Liveness,
        now: i64,
    ) -> Result<(), StoreError> {
        files::ensure_dir(&self.dir, 0o700)?;
        let _lock = files::lock(&self.dir.join("jobs"))?;
        let records = self.list()?;
        for other in records
            .iter()
            .filter(|r| r.repo == record.repo && !r.status.is_final())
        {
            match liveness(other) {
                Liveness::Alive => {
                    return Err(StoreError::Busy {
                        repo: record.repo.clone(),
                        id: other.id.clone(),
                    })
                }
                Liveness::Gone => {
                    self.update(&other.id, |r| {
                        r.lost("its process vanished without an exit status", now)
                    })?;
                }
            }
        }
        write(&files::lock(&self.record_path(&record.id))?, record)?;
        self.prune(records)?;
        Ok(())
    }

    /// Removes finished jobs beyond `RETAINED`, each under its record's lock, which goes
    /// last (only its holder may remove it: `files::FileLock::remove`).
    fn prune(&self, newest_first: Vec<JobRecord>) -> io::Result<()> {
        let finished = newest_first.into_iter().filter(|r| r.status.is_final());
        for old in finished.skip(RETAINED) {
            let record = self.record_path(&old.id);
            let tail = self.tail_cache_path(&old.id);
            let (record_lock, tail_lock) = (files::lock(&record)?, files::lock(&tail)?);
            for path in [record, tail, self.log_path(&old.id)] {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            tail_lock.remove()?;
            record_lock.remove()?;
        }
        Ok(())
    }
}

fn write(lock: &files::FileLock, record: &JobRecord) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    lock.replace(&bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(repo: &str, started: i64) -> JobRecord {
        JobRecord::new(
            JobId::random(),
            repo.parse().unwrap(),
            JobKind::Check,
            JobOptions::default(),
            started,
        )
    }

    #[test]
    fn status_from_exit_codes() {
        assert_eq!(JobStatus::from_exit(0, false), JobStatus::Done);
        assert_eq!(JobStatus::from_exit(1, false), JobStatus::Done);
        assert_eq!(JobStatus::from_exit(2, false), JobStatus::Error);
        assert_eq!(JobStatus::from_exit(130, false), JobStatus::Error);
        assert_eq!(JobStatus::from_exit(0, true), JobStatus::Cancelled);
    }

    #[test]
    fn a_record_nobody_took_is_starting_only_for_the_grace_period() {
        let mut r = record("mac", 1_000);
        assert!(r.is_starting(1_000));
        assert!(r.is_starting(1_000 + START_GRACE_SECS - 1));
        assert!(!r.is_starting(1_000 + START_GRACE_SECS));
        r.pid = Some(42);
        assert!(
            !r.is_starting(1_000),
            "a record with a process is not starting"
        );
    }

    #[test]
    fn one_unfinished_job_per_repo_and_the_dead_are_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::new(dir.path());
        let first = record("mac", 1);
        store
            .create_exclusive(&first, |_| Liveness::Alive, 1)
            .unwrap();
        let err = store
            .create_exclusive(&record("mac", 2), |_| Liveness::Alive, 2)
            .unwrap_err();
        assert!(matches!(err, StoreError::Busy { .. }), "{err}");
        store
            .create_exclusive(&record("other", 2), |_| Liveness::Alive, 2)
            .unwrap();
        store
            .create_exclusive(&record("mac", 3), |_| Liveness::Gone, 3)
            .unwrap();
        let lost = store.read(&first.id).unwrap().unwrap();
        assert_eq!(
            (lost.status, lost.exit_code, lost.finished_at),
            (JobStatus::Error, -1, Some(3))
        );
        assert!(lost.note.unwrap().starts_with("borgbox: job lost"));
    }

    #[test]
    fn retains_the_newest_finished_and_every_unfinished() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::new(dir.path());
        let unfinished = record("keep", 0);
        store
            .create_exclusive(&unfinished, |_| Liveness::Alive, 0)
            .unwrap();
        for i in 1..=(RETAINED as i64 + 5) {
            let mut r = record(&format!("r{i}"), i);
            r.finish(JobStatus::Done, 0, i);
            store.create_exclusive(&r, |_| Liveness::Alive, i).unwrap();
        }
        let all = store.list().unwrap();
        assert!(all.iter().any(|r| r.id == unfinished.id));
        assert!(
            all.len() > RETAINED && all.len() <= RETAINED + 2,
            "{}",
            all.len()
        );
        assert!(all.windows(2).all(|w| w[0].started_at >= w[1].started_at));
    }
}
