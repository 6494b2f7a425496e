//! `GET /api/v1/metrics` (API.md 16.2): every family from what borgbox already keeps (the
//! cached repo facts, authorized_keys, job records, the schedules and alerts files, the
//! key-use record) and one look at /proc for live sessions. Never starts borg, never
//! walks a repository.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Domain, RepoView, Result};
use crate::jobs::record::JobStatus;
use crate::metrics::Exposition;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// The per-repo gauges: name, help, and the value (None: no sample for that repo).
type RepoGauge = (
    &'static str,
    &'static str,
    fn(&RepoView, i64) -> Option<i64>,
);

const REPO_GAUGES: [RepoGauge; 11] = [
    (
        "borgbox_repo_size_bytes",
        "Bytes of the repo's files.",
        |r, _| Some(r.facts.size_bytes as i64),
    ),
    (
        "borgbox_repo_quota_used_bytes",
        "The repo's use as borg counts it for its storage quota (hints.N).",
        |r, _| Some(r.facts.quota_used_bytes as i64),
    ),
    (
        "borgbox_repo_quota_bytes",
        "The storage quota borg enforces on the repo; 0 = none.",
        |r, _| Some(r.storage_quota_bytes() as i64),
    ),
    (
        "borgbox_repo_last_write_timestamp_seconds",
        "The last write by a client (API.md 12.2), Unix seconds.",
        |r, _| r.facts.last_write.map(|t| t.unix_timestamp()),
    ),
    (
        "borgbox_repo_initialized",
        "1 when the directory holds a borg repository.",
        |r, _| Some(flag(r.facts.initialized)),
    ),
    (
        "borgbox_repo_registered",
        "1 when authorized_keys has a line for the repo.",
        |r, _| Some(flag(r.registration.keys > 0)),
    ),
    (
        "borgbox_repo_append_only",
        "1 when every key of the repo is append-only.",
        |r, _| {
            Some(flag(
                r.registration.keys > 0 && r.registration.all_append_only,
            ))
        },
    ),
    (
        "borgbox_repo_locked",
        "1 when the repo has a lock file.",
        |r, _| Some(flag(r.facts.locked)),
    ),
    (
        "borgbox_repo_keys",
        "Managed authorized_keys lines of the repo.",
        |r, _| Some(r.registration.keys as i64),
    ),
    (
        "borgbox_repo_unrestricted_keys",
        "Managed lines of the repo without restrict (they may forward ports); the next edit of the repo repairs them.",
        |r, _| Some(r.registration.unrestricted as i64),
    ),
    (
        "borgbox_repo_sessions",
        "Live borg serve processes on the repo.",
        |_, sessions| Some(sessions),
    ),
];

impl Domain {
    /// The exposition text.
    pub async fn metrics(self: &Arc<Self>) -> Result<String> {
        self.refresh_key_use().await;
        self.blocking(|domain| domain.exposition()).await
    }

    fn exposition(&self) -> Result<String> {
        let settings = &self.settings;
        let (_, listing) = self.list_repos()?;
        let repos = self.repo_views(listing)?;
        let mut text = Exposition::with_capacity(1024 + repos.len() * 800);

        let borg_version = self.borg.version_if_cached().unwrap_or_default();
        text.family(
            "borgbox_info",
            "borgbox's version, backend and borg's version.",
        );
        text.sample(
            "borgbox_info",
            &[
                ("version", VERSION),
                ("backend", self.backend_name()),
                ("borg_version", &borg_version),
            ],
            1,
        );
        let disk = crate::sysinfo::disk_usage(&settings.repo_root);
        for (name, help, value) in [
            (
                "borgbox_storage_total_bytes",
                "Size of the repo root's file system.",
                disk.as_ref().map_or(0, |d| d.total_bytes),
            ),
            (
                "borgbox_storage_free_bytes",
                "Bytes of the repo root's file system available to borg.",
                disk.as_ref().map_or(0, |d| d.free_bytes),
            ),
        ] {
            text.family(name, help);
            text.sample(name, &[], value as i64);
        }

        let sessions =
            crate::sysinfo::sessions(settings.uid, &settings.repo_root, self.clock.now());
        let mut live: HashMap<&str, i64> = HashMap::new();
        for session in &sessions {
            *live.entry(session.repo.as_str()).or_default() += 1;
        }
        for (name, help, value) in REPO_GAUGES {
            text.family(name, help);
            for repo in &repos {
                let sessions = live.get(repo.name.as_str()).copied().unwrap_or(0);
                if let Some(v) = value(repo, sessions) {
                    text.sample(name, &[("repo", &repo.name)], v);
                }
            }
        }

        let records = self.jobs.store.list()?;
        let mut by_status: BTreeMap<&str, i64> = [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Done,
            JobStatus::Error,
            JobStatus::Cancelled,
        ]
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
        let mut finished: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
        let mut exit_codes: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
        for record in &records {
            *by_status.entry(record.status.as_str()).or_default() += 1;
            let Some(at) = record.finished_at else {
                continue;
            };
            let (repo, kind) = (record.repo.as_str(), record.kind.as_str());
            let newest = finished
                .entry((repo, kind, record.status.as_str()))
                .or_insert(at);
            *newest = (*newest).max(at);
            let code = exit_codes
                .entry((repo, kind))
                .or_insert((at, i64::from(record.exit_code)));
            if at > code.0 {
                *code = (at, i64::from(record.exit_code));
            }
        }
        let name = "borgbox_job_last_finished_timestamp_seconds";
        text.family(
            name,
            "When the newest finished job per repo, kind and final status ended, Unix seconds.",
        );
        for ((repo, kind, status), at) in finished {
            text.sample(
                name,
                &[("repo", repo), ("kind", kind), ("status", status)],
                at,
            );
        }
        let name = "borgbox_job_last_exit_code";
        text.family(
            name,
            "borg's exit code of the newest finished job per repo and kind.",
        );
        for ((repo, kind), (_, code)) in exit_codes {
            text.sample(name, &[("repo", repo), ("kind", kind)], code);
        }
        text.family("borgbox_jobs", "Jobs kept, by status.");
        for (status, n) in by_status {
            text.sample("borgbox_jobs", &[("status", status)], n);
        }

        let schedules = self.schedules.load()?;
        let enabled = || schedules.iter().filter(|s| s.enabled);
        for (name, help, last) in [
            (
                "borgbox_schedule_next_run_timestamp_seconds",
                "When an enabled schedule fires next, Unix seconds.",
                false,
            ),
            (
                "borgbox_schedule_last_run_timestamp_seconds",
                "When an enabled schedule last fired, Unix seconds.",
                true,
            ),
        ] {
            text.family(name, help);
            for s in enabled() {
                let at = if last { s.last_run } else { s.next_run };
                if let Some(at) = at.unix() {
                    let labels = [
                        ("id", s.id.as_str()),
                        ("repo", s.repo.as_str()),
                        ("kind", s.kind.as_str()),
                    ];
                    text.sample(name, &labels, at);
                }
            }
        }

        let name = "borgbox_alert_stale";
        text.family(
            name,
            "1 when an enabled alert's last check found its repo stale.",
        );
        for a in self.alerts.load()?.iter().filter(|a| a.enabled) {
            let stale = a.last_state == Some(crate::alerts::State::Stale);
            text.sample(
                name,
                &[("id", a.id.as_str()), ("repo", a.repo.as_str())],
                flag(stale),
            );
        }

        let name = "borgbox_key_last_used_timestamp_seconds";
        text.family(
            name,
            "The newest ssh login with a repo's key, from sshd's journal lines, Unix seconds.",
        );
        let used = self.key_use.snapshot();
        if !used.is_empty() {
            let authorized = self.keys.read()?;
            for repo in &repos {
                let Ok(repo_name) = repo.name.parse() else {
                    continue;
                };
                for key in authorized.managed(&repo_name) {
                    if let Some(u) = used.get(&key.fingerprint) {
                        let labels = [
                            ("repo", repo.name.as_str()),
                            ("fingerprint", &key.fingerprint),
                        ];
                        text.sample(name, &labels, u.at);
                    }
                }
            }
        }
        Ok(text.finish())
    }
}
