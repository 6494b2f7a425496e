//! What a job runs, as plain data: the kind, its options, and the borg command line and
//! environment they give (API.md 9.1, 11.4). Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::borg::Invocation;

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

#[cfg(test)]
mod tests {
    use super::*;

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
