//! What a job runs, as plain data: the kind, its options, the borg command line and
//! environment they give (API.md 9.1, 11.4), and the sandbox it runs in. Pure: no I/O.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::borg::Invocation;
use crate::state_dir::StateDir;
use crate::systemd::Sandbox;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Check,
    Prune,
    Compact,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Check => "check",
            JobKind::Prune => "prune",
            JobKind::Compact => "compact",
        }
    }
}

/// The options of one job; never the passphrase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOptions {
    #[serde(default)]
    pub repair: bool,
    #[serde(default)]
    pub verify_data: bool,
    #[serde(default)]
    pub keep_daily: u32,
    #[serde(default)]
    pub keep_weekly: u32,
    #[serde(default)]
    pub keep_monthly: u32,
    #[serde(default)]
    pub keep_yearly: u32,
    #[serde(default)]
    pub dry_run: bool,
    /// Started by a schedule: passphrase-free command lines only (API.md 11.4).
    #[serde(default)]
    pub scheduled: bool,
}

/// The borg command line of a job; the repo path is always the last argument.
pub fn invocation(kind: JobKind, options: &JobOptions, repo_path: &str) -> Invocation {
    let mut args: Vec<String> = Vec::new();
    let mut env = Vec::new();
    match kind {
        JobKind::Check => {
            args.extend(["check".into(), "--info".into()]);
            if options.scheduled {
                args.push("--repository-only".into());
            } else {
                args.push("--show-rc".into());
                if options.repair {
                    args.push("--repair".into());
                    env.push(("BORG_CHECK_I_KNOW_WHAT_I_AM_DOING".into(), "YES".into()));
                }
                if options.verify_data {
                    args.push("--verify-data".into());
                }
            }
        }
        JobKind::Prune => {
            args.extend(["prune".into(), "--list".into()]);
            if options.dry_run {
                args.push("--dry-run".into());
            }
            for (flag, n) in [
                ("--keep-daily", options.keep_daily),
                ("--keep-weekly", options.keep_weekly),
                ("--keep-monthly", options.keep_monthly),
                ("--keep-yearly", options.keep_yearly),
            ] {
                if n > 0 {
                    args.extend([flag.into(), n.to_string()]);
                }
            }
        }
        JobKind::Compact => args.extend(["compact".into(), "--info".into()]),
    }
    args.push(repo_path.to_owned());
    Invocation { args, env }
}

/// A job's memory limit, as a share of the machine's memory. borg check and compact hold
/// the repository index (about 40-60 bytes per chunk, plus the chunks index of an archive
/// check): a few GiB for repositories of tens of millions of chunks, so a fixed size would
/// either break big repositories or never bite on small machines. This keeps a runaway
/// job from taking the machine (sshd, serve) down with it.
pub const MEMORY_MAX_PERCENT: u32 = 75;
/// exec-job, borg and the threads each may start; borg needs a handful.
pub const TASKS_MAX: u64 = 64;

/// Where a job's unit runs, for `sandbox`.
pub struct JobPaths<'a> {
    pub repo_root: &'a Path,
    pub repo: &'a Path,
    pub state_dir: &'a Path,
    pub auth_keys: &'a Path,
    pub uid: u32,
}

/// The sandbox of a job's unit (issue 17): borg parses data a backup client wrote, so a
/// parser bug must not become an SSH key, a token or a way out. It writes only its repo
/// (every other repo hidden under an empty tmpfs, unless the state dir is among them) and
/// `StateDir::job_writable`, which must exist before it starts; it cannot see
/// authorized_keys, /etc/borgbox (the token) or borg's user bus (through which any process
/// could start an unsandboxed unit); and it has no network.
pub fn sandbox(paths: &JobPaths<'_>) -> Sandbox {
    let text = |p: &Path| p.display().to_string();
    // authorized_keys' directory (~/.ssh), unless the repos or the state dir are in it:
    // then the file alone.
    let keys = match paths.auth_keys.parent() {
        Some(dir)
            if dir != Path::new("/")
                && !paths.repo_root.starts_with(dir)
                && !paths.state_dir.starts_with(dir) =>
        {
            dir
        }
        _ => paths.auth_keys,
    };
    let mut read_write: Vec<String> = StateDir::new(paths.state_dir)
        .job_writable()
        .iter()
        .map(|d| text(d))
        .collect();
    // An empty tmpfs over the repo root would hide a state dir inside it.
    let (emptied, bound) = if paths.state_dir.starts_with(paths.repo_root) {
        read_write.push(text(paths.repo));
        (vec![], vec![])
    } else {
        (vec![text(paths.repo_root)], vec![text(paths.repo)])
    };
    Sandbox {
        read_write,
        emptied,
        bound,
        hidden: vec![
            format!("-{}", text(keys)),
            "-/etc/borgbox".to_owned(),
            format!("/run/user/{}", paths.uid),
            "-/run/dbus".to_owned(),
        ],
        memory_max_percent: MEMORY_MAX_PERCENT,
        tasks_max: TASKS_MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_writes_only_its_repo_and_its_state_and_sees_no_keys_token_or_bus() {
        let paths = JobPaths {
            repo_root: Path::new("/var/lib/borg/repos"),
            repo: Path::new("/var/lib/borg/repos/mac"),
            state_dir: Path::new("/var/lib/borg/.local/state/borgbox"),
            auth_keys: Path::new("/var/lib/borg/.ssh/authorized_keys"),
            uid: 999,
        };
        let s = sandbox(&paths);
        let state = "/var/lib/borg/.local/state/borgbox";
        assert_eq!(
            s.read_write,
            ["borg", "jobs", "locks", "last-write"].map(|d| format!("{state}/{d}"))
        );
        assert_eq!(s.emptied, ["/var/lib/borg/repos"]);
        assert_eq!(s.bound, ["/var/lib/borg/repos/mac"]);
        assert_eq!(
            s.hidden,
            [
                "-/var/lib/borg/.ssh",
                "-/etc/borgbox",
                "/run/user/999",
                "-/run/dbus"
            ]
        );
        assert_eq!((s.memory_max_percent, s.tasks_max), (75, 64));

        // authorized_keys next to the repos: only the file is hidden.
        let beside = JobPaths {
            auth_keys: Path::new("/var/lib/borg/authorized_keys"),
            ..paths
        };
        assert_eq!(sandbox(&beside).hidden[0], "-/var/lib/borg/authorized_keys");

        // The state dir among the repos: the repo writable, the others not hidden.
        let inside = JobPaths {
            repo_root: Path::new("/srv"),
            repo: Path::new("/srv/mac"),
            state_dir: Path::new("/srv/.state"),
            ..paths
        };
        let s = sandbox(&inside);
        assert!(s.emptied.is_empty() && s.bound.is_empty(), "{s:?}");
        assert_eq!(s.read_write.last().unwrap(), "/srv/mac");
    }

    fn argv(kind: JobKind, options: JobOptions) -> String {
        invocation(kind, &options, "/r/mac").args.join(" ")
    }

    #[test]
    fn command_lines_match_the_contract() {
        assert_eq!(
            argv(JobKind::Check, JobOptions::default()),
            "check --info --show-rc /r/mac"
        );
        let repair = JobOptions {
            repair: true,
            verify_data: true,
            ..Default::default()
        };
        assert_eq!(
            argv(JobKind::Check, repair.clone()),
            "check --info --show-rc --repair --verify-data /r/mac"
        );
        assert_eq!(
            invocation(JobKind::Check, &repair, "/r/mac").env,
            vec![(
                "BORG_CHECK_I_KNOW_WHAT_I_AM_DOING".to_owned(),
                "YES".to_owned()
            )]
        );
        let prune = JobOptions {
            keep_daily: 7,
            keep_monthly: 6,
            dry_run: true,
            ..Default::default()
        };
        assert_eq!(
            argv(JobKind::Prune, prune),
            "prune --list --dry-run --keep-daily 7 --keep-monthly 6 /r/mac"
        );
        assert_eq!(
            argv(JobKind::Compact, JobOptions::default()),
            "compact --info /r/mac"
        );
        let scheduled = JobOptions {
            scheduled: true,
            repair: true,
            ..Default::default()
        };
        assert_eq!(
            argv(JobKind::Check, scheduled),
            "check --info --repository-only /r/mac"
        );
    }
}
