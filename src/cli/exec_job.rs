//! `borgbox exec-job <id>`: runs one job's borg and owns its record until the end. Started
//! by a backend (a child of `serve`, or a transient unit), never by people.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use crate::borg::Borg;
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigArgs, Settings};
use crate::files;
use crate::jobs::live;
use crate::jobs::output::LineSplitter;
use crate::jobs::record::{JobRecord, JobStatus, JobStore};
use crate::jobs::spec;
use crate::model::JobId;
use crate::repos::Repos;

/// After SIGINT, borg gets this long to stop cleanly before SIGTERM, then SIGKILL.
const SIGTERM_AFTER: Duration = Duration::from_secs(60);
const SIGKILL_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct ExecJobCmd {
    #[command(flatten)]
    config: ConfigArgs,
    /// The job to run
    id: JobId,
    /// Send each output line to the journal with the job's fields, instead of stdout
    #[arg(long)]
    journal: bool,
    /// Running in the job sandbox, which cannot write the schedules file: the schedule
    /// learns the job's end from run-schedule, which waits for it
    #[arg(long, hide = true)]
    sandboxed: bool,
}

impl ExecJobCmd {
    pub fn run(self) -> anyhow::Result<()> {
        let settings = Settings::resolve_without_token(self.config)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let code = runtime.block_on(run(&settings, &self.id, self.journal, self.sandboxed))?;
        if code != 0 {
            // So `systemctl status` shows a failed job as failed.
            std::process::exit(code.clamp(1, 255));
        }
        Ok(())
    }
}

async fn run(
    settings: &Settings,
    id: &JobId,
    journal: bool,
    sandboxed: bool,
) -> anyhow::Result<i32> {
    let clock = SystemClock;
    let store = JobStore::new(&settings.state_dir);
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
    let record = store
        .update(id, |r| {
            if r.status != JobStatus::Queued || r.cancel_requested {
                return None;
            }
            r.status = JobStatus::Running;
            r.pid = Some(pid);
            r.pid_start = ticks;
            Some(r.clone())
        })
        .with_context(|| format!("failed to read job {id}"))?;
    let Some(record) = record else {
        // Cancelled while queued (the canceller recorded it), or not ours to run.
        return match store.read(id)? {
            Some(r) if !r.status.is_final() && r.status != JobStatus::Queued => {
                bail!("job {id} is already {}", r.status.as_str())
            }
            _ => Ok(0),
        };
    };

    let schedules =
        (!sandboxed).then(|| crate::schedules::store::schedule_store(settings.schedules.clone()));
    if let Some(schedules) = &schedules {
        if let Err(e) = crate::schedules::store::job_began(schedules, &record, &settings.zone) {
            log::warn!(borgbox_job_id = id.as_str(); "failed to record job {id} in its schedule: {e}");
        }
    }
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
    let finished = store.update(id, |r| {
        let cancelled = interrupted || r.cancel_requested;
        let status = if code == -1 {
            JobStatus::Error
        } else {
            JobStatus::from_exit(code, cancelled)
        };
        r.finish(status, code, now);
        r.clone()
    })?;
    if let Some(schedules) = &schedules {
        if let Err(e) = crate::schedules::store::job_ended(schedules, &finished) {
            log::warn!(borgbox_job_id = id.as_str(); "failed to record job {id}'s end in its schedule: {e}");
        }
    }
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
