//! Everything about running borg (API.md 8.1): the environment, a new session with stdin
//! on /dev/null, the passphrase through a pipe, timeouts that signal the process group,
//! and turning a failure into a message a person can read. Parsing lives in `output`.

pub mod output;

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

use crate::config::Secret;

/// The borg major version borgbox drives: 1.2 (Debian 12) to 1.4 (Debian 13).
pub const SUPPORTED_MAJOR: u32 = 1;

/// Synchronous call timeouts (API.md 8.1).
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
pub const LIST_TIMEOUT: Duration = Duration::from_secs(120);
pub const BREAK_LOCK_TIMEOUT: Duration = Duration::from_secs(60);
pub const CONFIG_TIMEOUT: Duration = Duration::from_secs(60);
/// How long borg gets between SIGINT and SIGKILL after a timeout.
const KILL_GRACE: Duration = Duration::from_secs(10);
/// Passphrases go into a pipe before borg starts, so they must fit its buffer.
pub const MAX_PASSPHRASE: usize = 4096;
/// The descriptor borg reads the passphrase from (BORG_PASSPHRASE_FD).
const PASSPHRASE_FD: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum BorgError {
    #[error("borg could not be started: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("borg timed out after {}s", .0.as_secs())]
    TimedOut(Duration),
    /// borg ran and failed; the message is borg's own last word.
    #[error("{0}")]
    Failed(String),
    #[error("failed to talk to borg: {0}")]
    Io(#[from] std::io::Error),
}

/// How to run borg: the binary and borgbox's base directory for it.
#[derive(Debug, Clone)]
pub struct Borg {
    pub binary: PathBuf,
    pub base_dir: PathBuf,
    /// Where `version` keeps `borg --version` between runs.
    version_cache: PathBuf,
}

/// One borg command line, built by the pure functions below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

pub fn list_archives(repo: &Path) -> Invocation {
    Invocation {
        args: vec![
            "list".into(),
            "--json".into(),
            "--format".into(),
            "{hostname}{username}{comment}".into(),
            repo.display().to_string(),
        ],
        env: vec![("TZ".into(), "UTC".into())],
    }
}

/// `borg config <repo> storage_quota <bytes>`, or with 0 `borg config -d <repo>
/// storage_quota`: the repository's own quota (its section needs no key or passphrase).
pub fn set_storage_quota(repo: &Path, bytes: u64) -> Invocation {
    let repo = repo.display().to_string();
    let args = match bytes {
        0 => vec!["config".into(), "-d".into(), repo, "storage_quota".into()],
        n => vec!["config".into(), repo, "storage_quota".into(), n.to_string()],
    };
    Invocation { args, env: vec![] }
}

pub fn break_lock(repo: &Path) -> Invocation {
    Invocation {
        args: vec!["break-lock".into(), repo.display().to_string()],
        env: vec![],
    }
}

pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Borg {
    /// borg with `invocation`'s arguments and the environment every invocation shares
    /// (API.md 8.1): ours minus every `BORG_*` variable and the token, plus fixed settings.
    fn command(&self, invocation: &Invocation) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.binary);
        command.args(&invocation.args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("BORG_") {
                command.env_remove(key);
            }
        }
        command
            .env_remove("BORGBOX_TOKEN")
            .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK", "yes")
            .env("BORG_BASE_DIR", &self.base_dir)
            // borgbox reads exit codes as 0 success, 1 warning, 2+ error (API.md 9.2). borg 1.4
            // keeps these "legacy" codes unless BORG_EXIT_CODES=modern (specific codes 3-99 for
            // errors, 100-127 for warnings); pinned so a setting elsewhere cannot change what a
            // job's status means. borg 1.2 ignores the variable and only has the legacy codes.
            .env("BORG_EXIT_CODES", "legacy")
            .env("LANG", "C.UTF-8")
            .envs(invocation.env.iter().cloned());
        command
    }

    /// Runs borg to completion; a non-zero exit is `Failed` with borg's last stderr line.
    pub async fn run(
        &self,
        invocation: &Invocation,
        passphrase: Option<&Secret>,
        timeout: Duration,
    ) -> Result<Output, BorgError> {
        crate::files::ensure_dir(&self.base_dir, 0o700)?;
        let passphrase_pipe = passphrase.map(passphrase_pipe).transpose()?;
        let mut command = self.command(invocation);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let read_fd = passphrase_pipe.as_ref().map(|fd| fd.as_raw_fd());
        if read_fd.is_some() {
            command.env("BORG_PASSPHRASE_FD", PASSPHRASE_FD.to_string());
        }
        new_session_with_fd(&mut command, read_fd);

        let mut child = command.spawn().map_err(BorgError::Spawn)?;
        drop(passphrase_pipe); // the child holds its own copy
        let pid = child.id().map(|id| Pid::from_raw(id as i32));
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let mut stderr = child
            .stderr
            .take()
            .ok_or_else(|| std::io::Error::other("no stderr"))?;
        let collect = async {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
            a?;
            b?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, out, err))
        };
        let (status, stdout, stderr) = match tokio::time::timeout(timeout, collect).await {
            Ok(result) => result?,
            Err(_) => {
                if let Some(pid) = pid {
                    let _ = killpg(pid, Signal::SIGINT);
                    tokio::time::sleep(KILL_GRACE).await;
                    let _ = killpg(pid, Signal::SIGKILL);
                }
                return Err(BorgError::TimedOut(timeout));
            }
        };
        if status.success() {
            Ok(Output { stdout, stderr })
        } else {
            Err(BorgError::Failed(failure_message(status, &stderr)))
        }
    }
}

/// A borg process whose stdout and stderr share one pipe, so lines keep arrival order.
pub struct Running {
    pub child: tokio::process::Child,
    pub output: tokio::net::unix::pipe::Receiver,
}

impl Borg {
    /// Starts a long-running borg (a job). With `passphrase_on_stdin`, borg reads the
    /// passphrase from the pipe that is our stdin; otherwise its stdin is /dev/null.
    pub fn spawn_merged(
        &self,
        invocation: &Invocation,
        passphrase_on_stdin: bool,
    ) -> std::io::Result<Running> {
        crate::files::ensure_dir(&self.base_dir, 0o700)?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut command = self.command(invocation);
        command
            .stdout(Stdio::from(write.try_clone()?))
            .stderr(Stdio::from(write))
            .stdin(if passphrase_on_stdin {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        if passphrase_on_stdin {
            command.env("BORG_PASSPHRASE_FD", "0");
        }
        new_session_with_fd(&mut command, None);
        let child = command.spawn()?;
        drop(command); // closes our copies of the write end, so EOF comes when borg exits
        let output = tokio::net::unix::pipe::Receiver::from_owned_fd(read)?;
        Ok(Running { child, output })
    }
}

/// A pipe already holding the passphrase; the returned end is for borg to read.
pub fn passphrase_pipe(passphrase: &Secret) -> std::io::Result<OwnedFd> {
    let bytes = passphrase.expose().as_bytes();
    if bytes.len() > MAX_PASSPHRASE {
        return Err(std::io::Error::other("passphrase too long"));
    }
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    std::fs::File::from(write).write_all(bytes)?; // closed here: borg sees EOF after it
    Ok(read)
}

/// Puts the child in its own session (no controlling terminal, its own process group for
/// signals) and hands it the passphrase pipe as `PASSPHRASE_FD`.
#[allow(unsafe_code)]
fn new_session_with_fd(command: &mut tokio::process::Command, fd: Option<i32>) {
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (setsid, dup2, fcntl) without allocating.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(fd) = fd {
                // dup2 onto itself would keep O_CLOEXEC, so clear it explicitly then.
                let rc = if fd == PASSPHRASE_FD {
                    libc::fcntl(fd, libc::F_SETFD, 0)
                } else {
                    libc::dup2(fd, PASSPHRASE_FD)
                };
                if rc == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// borg's last non-empty stderr line, else its exit status (API.md 8.1).
pub fn failure_message(status: ExitStatus, stderr: &[u8]) -> String {
    use std::os::unix::process::ExitStatusExt;
    let text = String::from_utf8_lossy(stderr);
    if let Some(line) = text.lines().map(str::trim).rev().find(|l| !l.is_empty()) {
        return line.to_owned();
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("borg exited with status {code}"),
        (None, Some(signal)) => format!("borg was killed by signal {signal}"),
        (None, None) => "borg failed".to_owned(),
    }
}

/// What `borg --version` said, and for which binary (its path, size and mtime).
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct VersionKey {
    path: PathBuf,
    size: u64,
    mtime_ns: i128,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CachedVersion {
    key: VersionKey,
    version: String,
}

impl Borg {
    /// The borg at `binary`, with its base directory and version cache in `state`.
    pub fn new(binary: PathBuf, state: &crate::state_dir::StateDir) -> Borg {
        Borg {
            binary,
            base_dir: state.borg_base(),
            version_cache: state.borg_version_cache(),
        }
    }

    fn version_key(&self) -> Option<VersionKey> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.binary).ok()?;
        Some(VersionKey {
            path: self.binary.clone(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        })
    }

    /// The version `version` last cached for this very binary; never runs borg (for
    /// metrics).
    pub fn version_if_cached(&self) -> Option<String> {
        let key = self.version_key()?;
        std::fs::read(&self.version_cache)
            .ok()
            .and_then(|b| serde_json::from_slice::<CachedVersion>(&b).ok())
            .filter(|c| c.key == key)
            .map(|c| c.version)
    }

    /// borg's `--version` line when it is a major version borgbox does not support (borg 2
    /// changed the repository format and the command line); None when supported or unknown.
    pub async fn unsupported_version(&self) -> Option<String> {
        let version = self.version().await;
        output::major_version(&version)
            .is_some_and(|major| major != SUPPORTED_MAJOR)
            .then_some(version)
    }

    /// `borg --version`, cached keyed by the binary's path, size and mtime, so borg runs
    /// only when the binary changes. `""` when borg cannot be run.
    pub async fn version(&self) -> String {
        if let Some(version) = self.version_if_cached() {
            return version;
        }
        let Some(key) = self.version_key() else {
            return String::new();
        };
        let invocation = Invocation {
            args: vec!["--version".into()],
            env: vec![],
        };
        let Ok(output) = self.run(&invocation, None, VERSION_TIMEOUT).await else {
            return String::new();
        };
        let version = output::parse_version(&output.stdout);
        if let Ok(bytes) = serde_json::to_vec(&CachedVersion {
            key,
            version: version.clone(),
        }) {
            let cache = self.version_cache.clone();
            let written =
                tokio::task::spawn_blocking(move || crate::files::replace(&cache, &bytes, 0o600))
                    .await;
            if let Ok(Err(e)) = written {
                log::warn!("failed to cache the borg version: {e}");
            }
        }
        version
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn repo_path_is_the_last_argument() {
        let repo = Path::new("/srv/repos/mac");
        assert_eq!(list_archives(repo).args.last().unwrap(), "/srv/repos/mac");
        assert_eq!(
            list_archives(repo).env,
            vec![("TZ".to_owned(), "UTC".to_owned())]
        );
        assert_eq!(break_lock(repo).args, vec!["break-lock", "/srv/repos/mac"]);
    }

    /// API.md 9.2's meaning of an exit code holds for borg 1.4 only with its legacy codes.
    #[test]
    fn borg_runs_with_the_legacy_exit_codes() {
        let borg = Borg::new("borg".into(), &crate::state_dir::StateDir::new("/s"));
        let command = borg.command(&break_lock(Path::new("/r/mac")));
        let env: Vec<_> = command.as_std().get_envs().collect();
        assert!(
            env.contains(&(
                std::ffi::OsStr::new("BORG_EXIT_CODES"),
                Some(std::ffi::OsStr::new("legacy"))
            )),
            "{env:?}"
        );
    }

    #[test]
    fn failure_message_prefers_the_last_stderr_line() {
        let status = ExitStatus::from_raw(2 << 8);
        assert_eq!(
            failure_message(status, b"first\nRepository is locked\n\n"),
            "Repository is locked"
        );
        assert_eq!(
            failure_message(status, b"  \n"),
            "borg exited with status 2"
        );
        assert_eq!(
            failure_message(ExitStatus::from_raw(9), b""),
            "borg was killed by signal 9"
        );
    }
}
