//! Runs one job's borg in `exec-job`: takes the record through `lifecycle` (begin, then
//! finish), supervises borg (SIGINT is a cancel, escalated), sends each output line to
//! its place and records borgbox's own write on the repo.

use std::time::Duration;

use anyhow::{bail, Context};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use super::lifecycle::{Begun, JobLife};
use super::live;
use super::output::LineSplitter;
use super::record::{JobRecord, JobStatus, JobStore};
use super::spec;
use crate::borg::Borg;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::files;
use crate::model::JobId;
use crate::repos::Repos;

/// After SIGINT, borg gets this long to stop cleanly before SIGTERM, then SIGKILL.
const SIGTERM_AFTER: Duration = Duration::from_secs(60);
const SIGKILL_AFTER: Duration = Duration::from_secs(30);

/// Runs job `id` to its end; its borg's exit code (-1 when borg could not start).
/// `sandboxed`: the job's sandbox cannot write the schedules file; the schedule learns the
/// job's end from `run-schedule`, which waits for it.
pub async fn run(
    settings: &Settings,
    id: &JobId,
    journal: bool,
    sandboxed: bool,
) -> anyhow::Result<i32> {
    let clock = SystemClock;
    let store = JobStore::new(&settings.state_dir);
    let life = JobLife::new(
        store.clone(),
        (!sandboxed).then(|| crate::schedules::store::schedule_store(settings.schedules.clone())),
        settings.zone.clone(),
    );
    // Before the record says running: a cancel's SIGINT from then on must find a handler.
    let signals = Signals::install()?;
    let pid = std::process::id() as i32;
    let ticks = crate::sysinfo::process_start_ticks(pid);
    let repo = store
        .read(id)
        .with_context(|| format!("failed to read job {id}"))?
        .with_context(|| format!("job {id} does not exist"))?
        .repo;
    let state = settings.state();
    let repos = Repos::new(settings.repo_root.clone(), &state);
    // Under the repo's lock, like every operation on it: whoever started this job (the API,
    // a schedule) has finished its part before borg starts.
    let repo_lock = files::lock(&state.repo_lock(&repo))?;
    // queued → running, unless it was cancelled while queued.
    let record = match life
        .begin(id, pid, ticks)
        .with_context(|| format!("failed to read job {id}"))?
    {
        Begun::Running(record) => record,
        // Cancelled while queued (the canceller recorded it), or not ours to run.
        Begun::Nothing => return Ok(0),
        Begun::Elsewhere(status) => bail!("job {id} is already {}", status.as_str()),
    };
    // The last write as it was just before the job (API.md 12.2).
    let before = repos.last_write(&record.repo).flatten();
    drop(repo_lock);
    let emit = Emitter::new(journal, &record, &store);
    let borg = Borg::new(settings.borg.clone(), &state);
    let path = repos.path(&record.repo);
    let invocation = spec::invocation(record.kind, &record.options, &path.display().to_string());
    let (code, interrupted) = match borg.spawn_merged(&invocation, record.has_passphrase) {
        Ok(running) => supervise(running, signals, &emit).await?,
        Err(e) => {
            emit.line(&format!("borgbox: borg could not be started: {e}"));
            (-1, false)
        }
    };

    if let Some(last_write) = before {
        // What the job committed is borgbox's, not a client's backup (API.md 12.2). Recorded
        // before the job is final, so whoever sees it final sees this too; a failure here
        // must not keep the job from ending.
        let recorded = files::lock(&state.repo_lock(&record.repo)).and_then(|_lock| {
            let after = repos.details(&record.repo);
            repos.record_own_write(&record.repo, after.transaction_id, last_write)
        });
        if let Err(e) = recorded {
            log::warn!(borgbox_repo = record.repo.as_str(); "failed to record job {id}'s transaction: {e}");
        }
    }
    let now = clock.now().unix_timestamp();
    let finished = life.finish(id, code, interrupted, now)?;
    emit.finished(finished.status, code);
    Ok(code)
}

/// SIGINT (a cancel) and SIGTERM (a stop or kill of our unit), caught from the start.
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }
}

/// Reads borg's merged output line by line until it exits; SIGINT means cancel.
async fn supervise(
    mut running: crate::borg::Running,
    signals: Signals,
    emit: &Emitter<'_>,
) -> anyhow::Result<(i32, bool)> {
    let Signals {
        interrupt: mut sigint,
        terminate: mut sigterm,
    } = signals;
    let group = running.child.id().map(|p| Pid::from_raw(p as i32));
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut interrupted = false;
    // Armed by the first SIGINT: SIGTERM after SIGTERM_AFTER, SIGKILL after SIGKILL_AFTER.
    let escalation = tokio::time::sleep(Duration::from_secs(u64::from(u32::MAX)));
    tokio::pin!(escalation);
    let mut escalated = 0;
    let mut eof = false;
    loop {
        tokio::select! {
            read = running.output.read(&mut buf), if !eof => {
                let n = read.unwrap_or(0);
                if n == 0 {
                    eof = true;
                    if let Some(line) = std::mem::take(&mut splitter).finish() {
                        emit.line(&line);
                    }
                } else {
                    for line in splitter.push(&buf[..n]) {
                        emit.line(&line);
                    }
                }
            }
            status = running.child.wait(), if eof => {
                let status = status?;
                use std::os::unix::process::ExitStatusExt;
                let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return Ok((code, interrupted));
            }
            _ = sigint.recv() => {
                if !interrupted {
                    interrupted = true;
                    emit.line("borgbox: cancel requested, sending SIGINT to borg");
                    signal_group(group, Signal::SIGINT);
                    escalation.as_mut().reset(tokio::time::Instant::now() + SIGTERM_AFTER);
                }
            }
            _ = sigterm.recv() => signal_group(group, Signal::SIGTERM),
            _ = &mut escalation, if interrupted && escalated < 2 => {
                if escalated == 0 {
                    emit.line("borgbox: borg still running, sending SIGTERM");
                    signal_group(group, Signal::SIGTERM);
                    escalation.as_mut().reset(tokio::time::Instant::now() + SIGKILL_AFTER);
                } else {
                    emit.line("borgbox: borg still running, sending SIGKILL");
                    signal_group(group, Signal::SIGKILL);
                }
                escalated += 1;
            }
        }
    }
}

fn signal_group(group: Option<Pid>, signal: Signal) {
    if let Some(group) = group {
        let _ = killpg(group, signal);
    }
}

/// Where output lines go: stdout for the process backend (serve reads them), the journal
/// with the job's fields for the systemd backend, each line also offered to a listening
/// serve as a datagram (`jobs::live`).
struct Emitter<'a> {
    journal: bool,
    record: &'a JobRecord,
    seq: std::cell::Cell<u64>,
    live: Option<(std::os::unix::net::UnixDatagram, std::path::PathBuf)>,
}

impl<'a> Emitter<'a> {
    fn new(journal: bool, record: &'a JobRecord, store: &JobStore) -> Emitter<'a> {
        let live = journal
            .then(|| {
                let socket = std::os::unix::net::UnixDatagram::unbound().ok()?;
                // Never wait for serve: a full buffer drops the datagram, the journal has it.
                socket.set_nonblocking(true).ok()?;
                Some((socket, live::socket_path(store, &record.id)))
            })
            .flatten();
        Emitter {
            journal,
            record,
            seq: std::cell::Cell::new(0),
            live,
        }
    }

    fn offer(&self, datagram: &live::Datagram) {
        if let Some((socket, path)) = &self.live {
            let _ = socket.send_to(&live::encode(datagram), path);
        }
    }

    fn line(&self, line: &str) {
        if !self.journal {
            use std::io::Write;
            // serve may have gone away; borg still runs to completion and the record
            // keeps the result.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
            return;
        }
        let seq = self.seq.get() + 1;
        self.seq.set(seq);
        self.offer(&live::Datagram::Line {
            seq,
            text: line.to_owned(),
        });
        log::info!(
            target: "borg",
            borgbox_job_id = self.record.id.as_str(),
            borgbox_repo = self.record.repo.as_str(),
            borgbox_kind = self.record.kind.as_str(),
            borgbox_seq = seq;
            "{line}"
        );
    }

    /// After the record holds the final status.
    fn finished(&self, status: JobStatus, code: i32) {
        self.offer(&live::Datagram::End {
            last: self.seq.get(),
        });
        log::info!(
            message_id = crate::logging::message_id::JOB_FINISHED,
            borgbox_job_id = self.record.id.as_str(),
            borgbox_repo = self.record.repo.as_str(),
            borgbox_kind = self.record.kind.as_str(),
            borgbox_status = status.as_str(),
            borgbox_exit_code = code;
            "job {} ({} on repo {}) finished: {} (exit code {code})",
            self.record.id, self.record.kind.as_str(), self.record.repo, status.as_str()
        );
    }
}
