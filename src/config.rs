//! Settings: flags, else environment, else defaults (API.md 13.1), validated once at
//! start-up. Code takes every path from `Settings`, never from a constant.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::schedules::calendar::Zone;

/// A secret that must never reach a log, argv, a unit property or the journal.
/// No Display, no Serialize; reviewers grep for `expose()`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    setting: &'static str,
    problem: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        ConfigError {
            setting,
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Auto,
    Systemd,
    Process,
}

/// The settings every subcommand shares, as flags that each name their variable.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// Listen address host:port, used only when not socket-activated [default: :9999]
    #[arg(long, env = "BORGBOX_ADDR")]
    pub addr: Option<String>,
    /// Directory holding the repositories [default: ~borg/repos]
    #[arg(long, env = "BORGBOX_REPO_ROOT")]
    pub repo_root: Option<PathBuf>,
    /// The authorized_keys file borgbox manages [default: ~borg/.ssh/authorized_keys]
    #[arg(long, env = "BORGBOX_AUTH_KEYS")]
    pub auth_keys: Option<PathBuf>,
    /// Bearer token, literally or @<path> to read it from a file (prefer the file)
    #[arg(long, env = "BORGBOX_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Host used in ssh_url [default: the host name]
    #[arg(long, env = "BORGBOX_SSH_HOST")]
    pub ssh_host: Option<String>,
    /// User used in ssh_url [default: the current user]
    #[arg(long, env = "BORGBOX_SSH_USER")]
    pub ssh_user: Option<String>,
    /// Port used in ssh_url [default: 22]
    #[arg(long, env = "BORGBOX_SSH_PORT")]
    pub ssh_port: Option<String>,
    /// Schedules file [default: ~borg/schedules.json]
    #[arg(long, env = "BORGBOX_SCHEDULES")]
    pub schedules: Option<PathBuf>,
    /// Alerts file [default: ~borg/alerts.json]
    #[arg(long, env = "BORGBOX_ALERTS")]
    pub alerts: Option<PathBuf>,
    /// Job records, caches and borg's base directory [default: ~borg/.local/state/borgbox]
    #[arg(long, env = "BORGBOX_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// The borg binary [default: borg found on PATH]
    #[arg(long, env = "BORGBOX_BORG")]
    pub borg: Option<PathBuf>,
    /// Seconds without requests before a socket-activated borgbox exits; 0 = never [default: 120]
    #[arg(long, env = "BORGBOX_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// Where jobs run: auto, systemd or process [default: auto]
    #[arg(long, env = "BORGBOX_BACKEND", value_enum)]
    pub backend: Option<BackendChoice>,
}

/// Resolved and validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub repo_root: PathBuf,
    pub auth_keys: PathBuf,
    pub token: Secret,
    pub ssh_host: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    pub schedules: PathBuf,
    pub alerts: PathBuf,
    pub state_dir: PathBuf,
    pub borg: PathBuf,
    pub idle_timeout: Option<Duration>,
    pub backend: BackendChoice,
    /// The uid borgbox runs as: the owner of repos, authorized_keys and sessions.
    pub uid: u32,
    /// That account's name, as sshd logs its logins.
    pub account: String,
    /// The server's time zone, in which schedules fire (API.md 11.3).
    pub zone: Zone,
    /// borg's user unit directory, where generated timers go (DESIGN.md).
    pub user_unit_dir: PathBuf,
    /// Where borg's user manager keeps the last-trigger stamps of persistent timers.
    pub timer_stamp_dir: PathBuf,
}

impl ConfigArgs {
    /// Every path under one directory, for `serve --dev` and tests; `token` is kept.
    pub fn rooted_at(mut self, dir: &Path) -> Self {
        self.repo_root.get_or_insert_with(|| dir.join("repos"));
        self.auth_keys
            .get_or_insert_with(|| dir.join("ssh/authorized_keys"));
        self.schedules
            .get_or_insert_with(|| dir.join("schedules.json"));
        self.alerts.get_or_insert_with(|| dir.join("alerts.json"));
        self.state_dir.get_or_insert_with(|| dir.join("state"));
        self
    }
}

impl Settings {
    /// Applies defaults, checks every value and creates the directories borgbox owns.
    pub fn resolve(args: ConfigArgs) -> Result<Settings, ConfigError> {
        let token = resolve_token(args.token.as_deref())?;
        Settings::resolve_with(args, token)
    }

    /// For subcommands that serve no HTTP (jobs, timers): the token is not needed and
    /// not read.
    pub fn resolve_without_token(mut args: ConfigArgs) -> Result<Settings, ConfigError> {
        args.token = None;
        Settings::resolve_with(args, Secret::new(String::new()))
    }

    /// The environment that makes a child borgbox resolve these same settings; never the
    /// token.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let path = |p: &Path| p.display().to_string();
        vec![
            ("BORGBOX_REPO_ROOT".into(), path(&self.repo_root)),
            ("BORGBOX_AUTH_KEYS".into(), path(&self.auth_keys)),
            ("BORGBOX_STATE_DIR".into(), path(&self.state_dir)),
            ("BORGBOX_SCHEDULES".into(), path(&self.schedules)),
            ("BORGBOX_ALERTS".into(), path(&self.alerts)),
            ("BORGBOX_BORG".into(), path(&self.borg)),
            ("BORGBOX_SSH_HOST".into(), self.ssh_host.clone()),
            ("BORGBOX_SSH_USER".into(), self.ssh_user.clone()),
            ("BORGBOX_SSH_PORT".into(), self.ssh_port.to_string()),
            // A scheduled job computes its schedule's next run (schedules::store::job_began).
            ("TZ".into(), self.zone.name().to_owned()),
        ]
    }

    fn resolve_with(args: ConfigArgs, token: Secret) -> Result<Settings, ConfigError> {
        let uid = nix::unistd::getuid();
        let account = nix::unistd::User::from_uid(uid).ok().flatten();
        let home = account
            .as_ref()
            .map(|u| u.dir.clone())
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));

        let repo_root = resolve_repo_root(args.repo_root.unwrap_or_else(|| home.join("repos")))?;
        let auth_keys = absolute(
            "BORGBOX_AUTH_KEYS (--auth-keys)",
            args.auth_keys
                .unwrap_or_else(|| home.join(".ssh/authorized_keys")),
        )?;
        let schedules = absolute(
            "BORGBOX_SCHEDULES (--schedules)",
            args.schedules
                .unwrap_or_else(|| home.join("schedules.json")),
        )?;
        let alerts = absolute(
            "BORGBOX_ALERTS (--alerts)",
            args.alerts.unwrap_or_else(|| home.join("alerts.json")),
        )?;
        let state_dir = absolute(
            "BORGBOX_STATE_DIR (--state-dir)",
            args.state_dir
                .unwrap_or_else(|| home.join(".local/state/borgbox")),
        )?;
        crate::files::ensure_dir(&state_dir, 0o700).map_err(|e| {
            ConfigError::new(
                "BORGBOX_STATE_DIR (--state-dir)",
                format!("cannot create {}: {e}", state_dir.display()),
            )
        })?;

        let ssh_host = match args.ssh_host.filter(|h| !h.is_empty()) {
            Some(host)
                if host
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '/') =>
            {
                return Err(ConfigError::new(
                    "BORGBOX_SSH_HOST (--ssh-host)",
                    "not a host name",
                ))
            }
            Some(host) => host,
            None => nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_owned()),
        };
        let account_name = account
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_else(|| uid.to_string());
        let ssh_user = args
            .ssh_user
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| account_name.clone());
        let ssh_port = match args.ssh_port {
            None => 22,
            Some(port) => port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                ConfigError::new(
                    "BORGBOX_SSH_PORT (--ssh-port)",
                    "must be a port number from 1 to 65535",
                )
            })?,
        };
        let idle_timeout = match args.idle_timeout {
            None => Some(Duration::from_secs(120)),
            Some(value) => match value.parse::<u64>() {
                Ok(0) => None,
                Ok(secs) => Some(Duration::from_secs(secs)),
                Err(_) => {
                    return Err(ConfigError::new(
                        "BORGBOX_IDLE_TIMEOUT (--idle-timeout)",
                        "must be a whole number of seconds (0 = never)",
                    ))
                }
            },
        };

        let tz = std::env::var("TZ").ok();
        let zone =
            Zone::from_system(tz.as_deref()).map_err(|e| ConfigError::new("TZ", e.to_string()))?;

        Ok(Settings {
            addr: parse_addr(args.addr.as_deref().unwrap_or(":9999"))?,
            repo_root,
            auth_keys,
            token,
            ssh_host,
            ssh_user,
            ssh_port,
            schedules,
            alerts,
            state_dir,
            borg: resolve_borg(args.borg)?,
            idle_timeout,
            backend: args.backend.unwrap_or(BackendChoice::Auto),
            uid: uid.as_raw(),
            account: account_name,
            zone,
            user_unit_dir: home.join(".config/systemd/user"),
            timer_stamp_dir: home.join(".local/share/systemd/timers"),
        })
    }

    /// Checks that every path `serve` writes can be written, so a path outside the unit's
    /// sandbox fails at start with one line naming the setting, not at the first request.
    pub fn check_writable(&self) -> Result<(), ConfigError> {
        let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        for (setting, dir) in [
            ("BORGBOX_REPO_ROOT (--repo-root)", self.repo_root.clone()),
            ("BORGBOX_AUTH_KEYS (--auth-keys)", parent(&self.auth_keys)),
            ("BORGBOX_STATE_DIR (--state-dir)", self.state_dir.clone()),
            ("BORGBOX_SCHEDULES (--schedules)", parent(&self.schedules)),
            ("BORGBOX_ALERTS (--alerts)", parent(&self.alerts)),
        ] {
            writable(&dir).map_err(|e| {
                ConfigError::new(
                    setting,
                    format!(
                        "{} is not writable ({e}); under systemd, let the service write it: \
                         systemctl edit borgbox.service, then [Service] ReadWritePaths={}",
                        dir.display(),
                        dir.display()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// The map of `state_dir`.
    pub fn state(&self) -> crate::state_dir::StateDir {
        crate::state_dir::StateDir::new(&self.state_dir)
    }

    pub fn ssh_url(&self, path: &Path) -> String {
        let host = if self.ssh_host.contains(':') && !self.ssh_host.starts_with('[') {
            format!("[{}]", self.ssh_host)
        } else {
            self.ssh_host.clone()
        };
        format!(
            "ssh://{}@{}:{}{}",
            self.ssh_user,
            host,
            self.ssh_port,
            path.display()
        )
    }
}

/// Whether files can be created in `dir`, or in its nearest existing ancestor when it does
/// not exist yet (borgbox creates it). access(2) reports a read-only mount as EROFS.
fn writable(dir: &Path) -> Result<(), nix::Error> {
    let existing = dir.ancestors().find(|d| d.exists()).unwrap_or(dir);
    nix::unistd::access(
        existing,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
}

fn resolve_token(value: Option<&str>) -> Result<Secret, ConfigError> {
    const SETTING: &str = "BORGBOX_TOKEN (--token)";
    let token = match value {
        None | Some("") => {
            return Err(ConfigError::new(
                SETTING,
                "not set; a bearer token is required",
            ))
        }
        Some(value) => match value.strip_prefix('@') {
            Some(path) => read_token_file(Path::new(path))?,
            None => value.to_owned(),
        },
    };
    if token.is_empty() {
        return Err(ConfigError::new(SETTING, "the token is empty"));
    }
    let length = token.chars().count();
    if length < MIN_TOKEN_CHARS {
        return Err(ConfigError::new(
            SETTING,
            format!(
                "the token has {length} characters; use at least {MIN_TOKEN_CHARS} random ones \
                 (e.g. the output of: openssl rand -hex 20)"
            ),
        ));
    }
    Ok(Secret::new(token))
}

/// A guessable token is as good as none; the packaged one has 40 characters.
const MIN_TOKEN_CHARS: usize = 32;

/// Reads a token file, refusing one that others may read or anyone but its owner may
/// change: `other` must have no read or write bit and `group` no write bit. Group read is
/// fine (the packaged file is 0640 root:borg, read by the service's own group).
fn read_token_file(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    const SETTING: &str = "BORGBOX_TOKEN (--token)";
    let cannot = |e: std::io::Error| {
        ConfigError::new(
            SETTING,
            format!("cannot read token file {}: {e}", path.display()),
        )
    };
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    // The mode of the file actually read, not of whatever the path names a moment later.
    let mode = file.metadata().map_err(cannot)?.permissions().mode();
    if mode & 0o026 != 0 {
        return Err(ConfigError::new(
            SETTING,
            format!(
                "token file {} has mode {:04o}: other users can read or change it; \
                 run: chmod 0600 (or 0640 for the service's group) {}",
                path.display(),
                mode & 0o7777,
                path.display()
            ),
        ));
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(cannot)?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn absolute(setting: &'static str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    if path.is_absolute() {
        Ok(path)
    } else {
        Err(ConfigError::new(
            setting,
            format!("{} is not an absolute path", path.display()),
        ))
    }
}

fn resolve_repo_root(path: PathBuf) -> Result<PathBuf, ConfigError> {
    const SETTING: &str = "BORGBOX_REPO_ROOT (--repo-root)";
    let path = absolute(SETTING, path)?;
    if !path.exists() {
        crate::files::ensure_dir(&path, 0o700).map_err(|e| {
            ConfigError::new(SETTING, format!("cannot create {}: {e}", path.display()))
        })?;
    }
    let canonical = path
        .canonicalize()
        .map_err(|e| ConfigError::new(SETTING, format!("{}: {e}", path.display())))?;
    if !canonical.is_dir() {
        return Err(ConfigError::new(
            SETTING,
            format!("{} is not a directory", path.display()),
        ));
    }
    // The path goes inside the forced command, which sshd runs through `/bin/sh -c`.
    if !safe_in_forced_command(&canonical) {
        return Err(ConfigError::new(SETTING, UNSAFE_PATH));
    }
    Ok(canonical)
}

fn resolve_borg(value: Option<PathBuf>) -> Result<PathBuf, ConfigError> {
    const SETTING: &str = "BORGBOX_BORG (--borg)";
    let path = match value {
        Some(path) if path.as_os_str().is_empty() => {
            return Err(ConfigError::new(SETTING, "is empty"))
        }
        Some(path) if path.components().count() > 1 => path,
        Some(name) => find_on_path(&name).ok_or_else(|| {
            ConfigError::new(SETTING, format!("{} not found on PATH", name.display()))
        })?,
        None => find_on_path(Path::new("borg")).ok_or_else(|| {
            ConfigError::new(
                SETTING,
                "borg not found on PATH; install borgbackup or set BORGBOX_BORG",
            )
        })?,
    };
    let path = path
        .canonicalize()
        .map_err(|e| ConfigError::new(SETTING, format!("{}: {e}", path.display())))?;
    if !path.is_file() {
        return Err(ConfigError::new(
            SETTING,
            format!("{} is not a file", path.display()),
        ));
    }
    if !safe_in_forced_command(&path) {
        return Err(ConfigError::new(SETTING, UNSAFE_PATH));
    }
    Ok(path)
}

fn find_on_path(name: &Path) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

const UNSAFE_PATH: &str = "may contain only letters, digits and / . _ - + , : @ = \
     (it goes into the forced command, which sshd runs through /bin/sh)";

/// A path that can sit inside `command="…"` of authorized_keys, which sshd runs through
/// `/bin/sh -c`: an allow-list, so no quoting, expansion, globbing or word splitting.
pub fn safe_in_forced_command(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        !s.is_empty()
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'/' | b'.' | b'_' | b'-' | b'+' | b',' | b':' | b'@' | b'='
                    )
            })
    })
}

/// Go-style listen addresses: `:9999` means every interface.
fn parse_addr(value: &str) -> Result<SocketAddr, ConfigError> {
    const SETTING: &str = "BORGBOX_ADDR (--addr)";
    let full = match value.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => value.to_owned(),
    };
    full.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ConfigError::new(SETTING, format!("{value:?} is not a host:port address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(dir: &Path) -> ConfigArgs {
        ConfigArgs {
            token: Some("0123456789abcdef0123456789abcdef".into()),
            borg: Some("/bin/sh".into()),
            ..Default::default()
        }
        .rooted_at(dir)
    }

    #[test]
    fn token_from_file_strips_trailing_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let token = "abc".repeat(11);
        std::fs::write(&file, format!("{token}\r\n\n")).unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let args = ConfigArgs {
            token: Some(format!("@{}", file.display())),
            ..base(dir.path())
        };
        assert_eq!(Settings::resolve(args).unwrap().token.expose(), token);
    }

    #[test]
    fn missing_empty_or_unreadable_token_names_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        for token in [
            None,
            Some(String::new()),
            Some("@/nonexistent/token".into()),
            Some(format!("@{}", empty.display())),
        ] {
            let err = Settings::resolve(ConfigArgs {
                token,
                ..base(dir.path())
            })
            .unwrap_err();
            assert!(
                err.to_string().starts_with("BORGBOX_TOKEN (--token): "),
                "{err}"
            );
        }
    }

    #[test]
    fn repo_root_that_is_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let err = Settings::resolve(ConfigArgs {
            repo_root: Some(file),
            ..base(dir.path())
        })
        .unwrap_err();
        assert!(err.to_string().contains("BORGBOX_REPO_ROOT"), "{err}");
        let err = Settings::resolve(ConfigArgs {
            repo_root: Some("rel".into()),
            ..base(dir.path())
        })
        .unwrap_err();
        assert!(err.to_string().contains("not an absolute path"), "{err}");
    }

    #[test]
    fn addresses_ports_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::resolve(base(dir.path())).unwrap();
        assert_eq!(s.addr.to_string(), "0.0.0.0:9999");
        assert_eq!(s.idle_timeout, Some(Duration::from_secs(120)));
        let s = Settings::resolve(ConfigArgs {
            addr: Some("127.0.0.1:0".into()),
            idle_timeout: Some("0".into()),
            ..base(dir.path())
        })
        .unwrap();
        assert_eq!(s.addr.port(), 0);
        assert_eq!(s.idle_timeout, None);
        for port in ["0", "65536", "x"] {
            let err = Settings::resolve(ConfigArgs {
                ssh_port: Some(port.into()),
                ..base(dir.path())
            })
            .unwrap_err();
            assert!(err.to_string().contains("BORGBOX_SSH_PORT"));
        }
    }

    #[test]
    fn ssh_url_brackets_ipv6_and_always_has_the_port() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Settings::resolve(base(dir.path())).unwrap();
        s.ssh_user = "borg".into();
        s.ssh_host = "::1".into();
        assert_eq!(s.ssh_url(Path::new("/r/mac")), "ssh://borg@[::1]:22/r/mac");
        s.ssh_host = "hive.local".into();
        assert_eq!(
            s.ssh_url(Path::new("/r/mac")),
            "ssh://borg@hive.local:22/r/mac"
        );
    }

    #[test]
    fn secret_debug_hides_the_value() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret(***)"
        );
    }
}
