//! The process backend: `borgbox exec-job <id>` as a child of `serve`, its output lines
//! read from its stdout into `<state dir>/jobs/<id>.log` and the live hub. For dev mode,
//! containers and the test suite, where no user manager is reachable.

use std::io::{self, BufRead, Seek, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::backend::{Backend, BackendError, BoxFuture, Follow};
use super::hub::Hub;
use super::output::LineSplitter;
use super::record::{JobRecord, JobStore, Liveness};
use crate::activity::Activity;
use crate::clock::Clock;
use crate::config::Secret;

pub struct ProcessBackend {
    /// The borgbox binary that runs `exec-job`.
    exe: PathBuf,
    /// The environment that makes `exec-job` resolve the same settings as `serve`.
    env: Vec<(String, String)>,
    store: JobStore,
    hub: Arc<Hub>,
    activity: Activity,
    clock: Arc<dyn Clock>,
}

impl ProcessBackend {
    pub fn new(
        exe: PathBuf,
        env: Vec<(String, String)>,
        store: JobStore,
        activity: Activity,
        clock: Arc<dyn Clock>,
    ) -> ProcessBackend {
        ProcessBackend {
            exe,
            env,
            store,
            hub: Arc::new(Hub::default()),
            activity,
            clock,
        }
    }

    async fn launch(&self, record: &JobRecord, passphrase: Option<Secret>) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .arg("exec-job")
            .arg(record.id.as_str())
            .env_remove("BORGBOX_TOKEN")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C meant for `serve --dev` must not reach jobs.
            .process_group(0);
        match &passphrase {
            Some(p) => command.stdin(Stdio::from(crate::borg::passphrase_pipe(p)?)),
            None => command.stdin(Stdio::null()),
        };
        let mut child = command
            .spawn()
            .with_context(|| format!("failed to run {} exec-job", self.exe.display()))?;
        drop(command); // our copy of the passphrase pipe's read end
        let pid = child.id().map(|p| p as i32);
        let ticks = pid.and_then(crate::sysinfo::process_start_ticks);
        let (store, id) = (self.store.clone(), record.id.clone());
        tokio::task::spawn_blocking(move || {
            store.update(&id, |r| {
                r.pid = pid;
                r.pid_start = ticks;
            })
        })
        .await??;
        let stdout = child.stdout.take().context("exec-job has no stdout")?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.log_path(&record.id))
            .context("failed to open the job log")?;
        self.hub.open(&record.id);
        let (id, hub, store, clock) = (
            record.id.clone(),
            self.hub.clone(),
            self.store.clone(),
            self.clock.clone(),
        );
        // The process backend must not idle-exit while a job runs.
        let busy = self.activity.busy();
        tokio::spawn(async move {
            let _busy = busy;
            if let Err(e) = pump(stdout, log, &hub, &id).await {
                log::warn!(borgbox_job_id = id.as_str(); "failed to read the output of job {id}: {e}");
            }
            let status = child.wait().await;
            let now = clock.now().unix_timestamp();
            let why = match &status {
                Ok(s) => format!("exec-job ended ({s}) without recording an exit status"),
                Err(e) => format!("failed to wait for exec-job: {e}"),
            };
            let closing = id.clone();
            let _ = tokio::task::spawn_blocking(move || {
                super::lifecycle::mark_lost(&store, &id, &why, now)
            })
            .await;
            hub.close(&closing);
        });
        Ok(())
    }
}

/// Copies exec-job's output lines into the log file and the hub until EOF.
async fn pump(
    mut stdout: tokio::process::ChildStdout,
    mut log: std::fs::File,
    hub: &Hub,
    id: &crate::model::JobId,
) -> io::Result<()> {
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdout.read(&mut buf).await?;
        let lines = if n == 0 {
            std::mem::take(&mut splitter).finish().into_iter().collect()
        } else {
            splitter.push(&buf[..n])
        };
        if !lines.is_empty() {
            let mut text = String::new();
            for line in &lines {
                text.push_str(line);
                text.push('\n');
            }
            log.write_all(text.as_bytes())?;
            for line in &lines {
                hub.push(id, line);
            }
        }
        if n == 0 {
            return Ok(());
        }
    }
}

/// The record's `exec-job` process if it still runs: the pid and its start time must
/// both match, so a reused pid is never signalled.
fn running_exec_job(record: &JobRecord) -> Option<Pid> {
    let (pid, ticks) = (record.pid?, record.pid_start?);
    (crate::sysinfo::process_start_ticks(pid) == Some(ticks)).then(|| Pid::from_raw(pid))
}

/// The last `lines` lines of a log file, reading at most the last 1 MiB.
fn file_tail(path: &std::path::Path, lines: usize) -> io::Result<Vec<String>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(1 << 20);
    file.seek(io::SeekFrom::Start(start))?;
    let mut all: Vec<String> = io::BufReader::new(file)
        .split(b'\n')
        .map(|l| l.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .collect::<io::Result<_>>()?;
    if start > 0 && !all.is_empty() {
        all.remove(0); // a partial first line
    }
    let skip = all.len().saturating_sub(lines);
    Ok(all.split_off(skip))
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn start<'a>(
        &'a self,
        record: &'a JobRecord,
        passphrase: Option<Secret>,
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.launch(record, passphrase)
                .await
                .map_err(BackendError::Other)
        })
    }

    fn cancel<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            if let Some(pid) = running_exec_job(record) {
                kill(pid, Signal::SIGINT).context("failed to signal exec-job")?;
            }
            Ok(())
        })
    }

    fn liveness<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Liveness> {
        Box::pin(async move {
            let now = self.clock.now().unix_timestamp();
            if running_exec_job(record).is_some() || record.is_starting(now) {
                Liveness::Alive
            } else {
                Liveness::Gone
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
            let path = self.store.log_path(&record.id);
            tokio::task::spawn_blocking(move || file_tail(&path, lines))
                .await
                .map_err(io::Error::other)?
        })
    }

    /// API.md 9.3: SIGINT to running jobs, then up to 30 s for them to end; a job still
    /// running then is recorded as lost, and its exec-job gets SIGTERM (passed on to borg).
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let running = self.hub.open_jobs();
            if running.is_empty() {
                return;
            }
            log::info!("stopping {} running jobs", running.len());
            for id in &running {
                if let Ok(Some(record)) = self.store.read(id) {
                    let _ = self.cancel(&record).await;
                }
            }
            let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
            while !self.hub.open_jobs().is_empty() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let now = self.clock.now().unix_timestamp();
            for id in self.hub.open_jobs() {
                let Ok(record) = super::lifecycle::mark_lost(
                    &self.store,
                    &id,
                    "borgbox stopped while the job was still running",
                    now,
                ) else {
                    continue;
                };
                if let Some(pid) = running_exec_job(&record) {
                    let _ = kill(pid, Signal::SIGTERM);
                }
            }
        })
    }

    fn follow<'a>(
        &'a self,
        record: &'a JobRecord,
        lines: usize,
    ) -> BoxFuture<'a, io::Result<Follow>> {
        Box::pin(async move {
            if let Some(follow) = self.hub.follow(&record.id, lines) {
                return Ok(follow);
            }
            Ok(Follow {
                replay: self.log_tail(record, lines).await?,
                live: None,
            })
        })
    }
}

/// How long `serve` waits for its jobs after SIGINT at shutdown (API.md 9.3).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
