//! The systemd backend: each job is `borgbox-job-<id>.service`, a transient unit of borg's
//! user manager running `borgbox exec-job <id> --journal`; its lines are read back from
//! the journal and shared by every subscriber through the hub (one journalctl per job).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::backend::{Backend, BackendError, BoxFuture, Follow};
use super::hub::Hub;
use super::live::{self, Datagram, Sequencer};
use super::record::{JobRecord, JobStore, Liveness};
use super::spec;
use crate::clock::Clock;
use crate::config::{Secret, Settings};
use crate::journal::parse::Entry;
use crate::journal::reader::Query;
use crate::logging::message_id;
use crate::model::JobId;
use crate::systemd::{SystemdError, TransientService, UnitState, UserManager};

pub struct SystemdBackend {
    manager: UserManager,
    exe: PathBuf,
    env: Vec<String>,
    uid: u32,
    /// What a job's sandbox is made of (`spec::sandbox`).
    repo_root: PathBuf,
    state_dir: PathBuf,
    auth_keys: PathBuf,
    store: JobStore,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    /// Serialises starting a job's journal follower, so each job has at most one.
    followers: tokio::sync::Mutex<()>,
}

pub fn unit_name(id: &JobId) -> String {
    format!("borgbox-job-{id}.service")
}

impl SystemdBackend {
    pub fn new(
        manager: UserManager,
        exe: PathBuf,
        settings: &Settings,
        store: JobStore,
        clock: Arc<dyn Clock>,
    ) -> SystemdBackend {
        let env = settings
            .child_env()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        SystemdBackend {
            manager,
            exe,
            env,
            uid: settings.uid,
            repo_root: settings.repo_root.clone(),
            state_dir: settings.state_dir.clone(),
            auth_keys: settings.auth_keys.clone(),
            store,
            hub: Arc::new(Hub::default()),
            clock,
            followers: tokio::sync::Mutex::new(()),
        }
    }

    fn query(&self, id: &JobId) -> Query {
        Query {
            uid: self.uid,
            job_id: id.to_string(),
        }
    }

    async fn journal_tail(&self, id: &JobId, lines: usize) -> io::Result<Vec<String>> {
        let entries = self.query(id).read_all().await?;
        Ok(last_output_lines(&entries, lines))
    }
}

fn last_output_lines(entries: &[Entry], lines: usize) -> Vec<String> {
    let output: Vec<&Entry> = entries.iter().filter(|e| e.is_output()).collect();
    let skip = output.len().saturating_sub(lines);
    output[skip..].iter().map(|e| e.message.clone()).collect()
}

fn unavailable(err: SystemdError) -> BackendError {
    match err {
        SystemdError::Unreachable { .. } => BackendError::Unavailable(err.into()),
        other => BackendError::Other(other.into()),
    }
}

impl Backend for SystemdBackend {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn start<'a>(
        &'a self,
        record: &'a JobRecord,
        passphrase: Option<Secret>,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let stdin = passphrase
                .as_ref()
                .map(crate::borg::passphrase_pipe)
                .transpose()
                .map_err(|e| BackendError::Other(e.into()))?;
            let exe = self.exe.display().to_string();
            let unit = unit_name(&record.id);
            // The sandbox mounts these; a missing one would fail the unit at start.
            for dir in crate::state_dir::StateDir::new(&self.state_dir).job_writable() {
                crate::files::ensure_dir(&dir, 0o700).map_err(|e| BackendError::Other(e.into()))?;
            }
            let repo = self.repo_root.join(record.repo.as_str());
            let sandbox = spec::sandbox(&spec::JobPaths {
                repo_root: &self.repo_root,
                repo: &repo,
                state_dir: &self.state_dir,
                auth_keys: &self.auth_keys,
                uid: self.uid,
            });
            let service = TransientService {
                name: &unit,
                description: format!(
                    "borgbox {} job {} on repo {}",
                    record.kind.as_str(),
                    record.id,
                    record.repo
                ),
                exec_start: vec![
                    exe.clone(),
                    "exec-job".into(),
                    record.id.to_string(),
                    "--journal".into(),
                    "--sandboxed".into(),
                ],
                exec_stop_post: vec![
                    exe,
                    "job-finished".into(),
                    record.id.to_string(),
                    "--sandboxed".into(),
                ],
                environment: self.env.clone(),
                stdin,
                sandbox,
            };
            self.manager
                .start_service(service)
                .await
                .map_err(unavailable)
        })
    }

    fn cancel<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            // exec-job forwards SIGINT to borg and escalates; it records `cancelled`.
            match self
                .manager
                .kill(&unit_name(&record.id), "main", libc::SIGINT)
                .await
            {
                Ok(()) | Err(SystemdError::NoSuchUnit) => Ok(()),
                Err(e) => Err(unavailable(e)),
            }
        })
    }

    fn liveness<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Liveness> {
        Box::pin(async move {
            match self.manager.unit_state(&unit_name(&record.id)).await {
                Ok(UnitState::Running) => Liveness::Alive,
                Ok(UnitState::Gone) if record.is_starting(self.clock.now().unix_timestamp()) => {
                    Liveness::Alive
                }
                Ok(UnitState::Gone) => Liveness::Gone,
                // Unknown is not gone: never record a job as lost because the bus hiccupped.
                Err(_) => Liveness::Alive,
            }
        })
    }

    fn log_tail<'a>(
        &'a self,
        record: &'a JobRecord,
        lines: usize,
    ) -> BoxFuture<'a, io::Result<Vec<String>>> {
        Box::pin(async move {
            if let Some(tail) = self.hub.tail(&record.id, lines) {
                return Ok(tail);
            }
            if !record.status.is_final() {
                return self.journal_tail(&record.id, lines).await;
            }
            // A finished job's tail never changes: read the journal once.
            let cache = self.store.tail_cache_path(&record.id);
            if let Some(tail) = std::fs::read(&cache)
                .ok()
                .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
            {
                return Ok(tail);
            }
            let tail = self.journal_tail(&record.id, lines).await?;
            let bytes = serde_json::to_vec(&tail).map_err(io::Error::other)?;
            crate::files::replace(&cache, &bytes, 0o600)?;
            Ok(tail)
        })
    }

    fn follow<'a>(
        &'a self,
        record: &'a JobRecord,
        lines: usize,
    ) -> BoxFuture<'a, io::Result<Follow>> {
        Box::pin(async move {
            let _starting = self.followers.lock().await;
            if let Some(follow) = self.hub.follow(&record.id, lines) {
                return Ok(follow);
            }
            // Listen for exec-job's datagrams before reading the journal, so no line falls
            // between the two; without the socket the journal alone still gives every line.
            let socket_path = live::socket_path(&self.store, &record.id);
            let _ = std::fs::remove_file(&socket_path);
            let socket = tokio::net::UnixDatagram::bind(&socket_path)
                .inspect_err(|e| log::debug!("no live socket for job {}: {e}", record.id))
                .ok();
            let query = self.query(&record.id);
            let entries = query.read_all().await?;
            let ended = entries
                .iter()
                .any(|e| e.message_id == message_id::JOB_FINISHED);
            if record.status.is_final() || ended {
                let _ = std::fs::remove_file(&socket_path);
                return Ok(Follow {
                    replay: last_output_lines(&entries, lines),
                    live: None,
                });
            }
            let journal = query.follow(entries.last().map(|e| e.cursor.as_str()))?;
            self.hub.open(&record.id);
            for line in last_output_lines(&entries, super::hub::TAIL) {
                self.hub.push(&record.id, &line);
            }
            let follow = self
                .hub
                .follow(&record.id, lines)
                .ok_or_else(|| io::Error::other("hub closed"))?;
            let delivered = entries.iter().filter_map(|e| e.seq).max().unwrap_or(0);
            let feed = Feeder {
                hub: self.hub.clone(),
                store: self.store.clone(),
                id: record.id.clone(),
                sequencer: Sequencer::new(delivered),
            };
            tokio::spawn(feed.run(journal, socket, socket_path));
            Ok(follow)
        })
    }
}

/// A datagram from the fast path, or never when there is none.
async fn recv(socket: Option<&tokio::net::UnixDatagram>, buf: &mut [u8]) -> io::Result<usize> {
    match socket {
        Some(socket) => socket.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// Feeds one job's lines into the hub, merging the journal and the datagram fast path,
/// until the job's end is seen: announced by exec-job, or (when it died without a word)
/// a final record.
struct Feeder {
    hub: Arc<Hub>,
    store: JobStore,
    id: JobId,
    sequencer: Sequencer,
}

impl Feeder {
    fn offer(&mut self, seq: Option<u64>, line: String) {
        let lines = match seq {
            Some(seq) => self.sequencer.offer(seq, line),
            None => vec![line],
        };
        for line in lines {
            self.hub.push(&self.id, &line);
        }
    }

    /// Returns true when the job has ended.
    fn journal(&mut self, entry: Option<Entry>) -> bool {
        match entry {
            // The journal keeps one sender's order: every line came before this.
            Some(entry) if entry.message_id == message_id::JOB_FINISHED => true,
            Some(entry) if entry.is_output() => {
                self.offer(entry.seq, entry.message);
                false
            }
            Some(_) => false,
            None => true,
        }
    }

    async fn run(
        mut self,
        mut journal: tokio::sync::mpsc::Receiver<Entry>,
        socket: Option<tokio::net::UnixDatagram>,
        socket_path: PathBuf,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                entry = journal.recv() => if self.journal(entry) { break },
                received = recv(socket.as_ref(), &mut buf) => {
                    match received.ok().and_then(|n| live::decode(&buf[..n])) {
                        Some(Datagram::Line { seq, text }) => self.offer(Some(seq), text),
                        Some(Datagram::End { last }) => self.sequencer.end(last),
                        None => {}
                    }
                    if self.sequencer.complete() {
                        break;
                    }
                }
                _ = tick.tick() => {
                    let (store, id) = (self.store.clone(), self.id.clone());
                    let record = tokio::task::spawn_blocking(move || store.read(&id)).await;
                    if matches!(record, Ok(Ok(Some(r))) if r.status.is_final()) {
                        // exec-job died without announcing its end: take what journald
                        // still hands over, then stop.
                        let grace = tokio::time::sleep(Duration::from_millis(500));
                        tokio::pin!(grace);
                        loop {
                            tokio::select! {
                                entry = journal.recv() => if self.journal(entry) { break },
                                _ = &mut grace => break,
                            }
                        }
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&socket_path);
        self.hub.close(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::backend::Feed;

    fn entry(seq: Option<u64>, message: &str, target: &str, message_id: &str) -> Entry {
        Entry {
            cursor: String::new(),
            message: message.into(),
            target: target.into(),
            message_id: message_id.into(),
            seq,
            realtime_us: None,
        }
    }

    /// The journal alone (no datagram socket) feeds subscribers in order, skips what the
    /// replay already had, and ends the feed at exec-job's finished record.
    #[tokio::test]
    async fn journal_only_feed_orders_lines_and_ends_at_finished() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(Hub::default());
        let id = JobId::random();
        hub.open(&id);
        hub.push(&id, "one");
        let mut follow = hub.follow(&id, 200).unwrap();
        let mut live = follow.live.take().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let feeder = Feeder {
            hub: hub.clone(),
            store: JobStore::new(dir.path()),
            id: id.clone(),
            sequencer: Sequencer::new(1),
        };
        let task = tokio::spawn(feeder.run(rx, None, dir.path().join("none.live")));
        for e in [
            entry(Some(1), "one", "borg", ""),
            entry(Some(3), "three", "borg", ""),
            entry(None, "audit", "borgbox", ""),
            entry(Some(2), "two", "borg", ""),
            entry(None, "", "borgbox", message_id::JOB_FINISHED),
        ] {
            tx.send(e).await.unwrap();
        }
        task.await.unwrap();
        let mut got = Vec::new();
        while let Some(Feed::Line(line)) = live.recv().await {
            got.push(line);
        }
        assert_eq!(follow.replay, vec!["one"]);
        assert_eq!(got, vec!["two", "three"]);
        assert!(hub.tail(&id, 10).is_none(), "the hub closed the job");
    }
}
