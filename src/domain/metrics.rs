//! `GET /api/v1/metrics` (API.md 16.2): every family from what borgbox already keeps (the
//! cached repo facts, authorized_keys, job records, the schedules and alerts files, the
//! key-use record) and one look at /proc for live sessions. Never starts borg, never
//! walks a repository.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Domain, RepoView, Result};
use crate::jobs::record::JobStatus;
use crate::metrics::{render, Family};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn flag(b: bool) -> i64 {
    i64::from(b)
}

impl Domain {
    /// The exposition text.
    pub async fn metrics(self: &Arc<Self>) -> Result<String> {
        self.refresh_key_use().await;
        self.blocking(|domain| Ok(render(&domain.metric_families()?)))
            .await
    }

    fn metric_families(&self) -> Result<Vec<Family>> {
        let settings = &self.settings;
        let mut families = Vec::new();

        let borg_version = self
            .borg
            .cached_version(&settings.state_dir.join("borg-version.json"))
            .unwrap_or_default();
        let mut info = Family::new(
            "borgbox_info",
            "borgbox's version, backend and borg's version.",
        );
        info.add(
            vec![
                ("version", VERSION.to_owned()),
                ("backend", self.backend_name().to_owned()),
                ("borg_version", borg_version),
            ],
            1,
        );
        families.push(info);
        let disk = crate::sysinfo::disk_usage(&settings.repo_root);
        families.push(
            Family::new(
                "borgbox_storage_total_bytes",
                "Size of the repo root's file system.",
            )
            .one(disk.as_ref().map_or(0, |d| d.total_bytes as i64)),
        );
        families.push(
            Family::new(
                "borgbox_storage_free_bytes",
                "Bytes of the repo root's file system available to borg.",
            )
            .one(disk.as_ref().map_or(0, |d| d.free_bytes as i64)),
        );

        let (_, listing) = self.list_repos()?;
        let repos = self.repo_views(listing)?;
        let sessions =
            crate::sysinfo::sessions(settings.uid, &settings.repo_root, self.clock.now());
        let mut live: HashMap<&str, i64> = HashMap::new();
        for session in &sessions {
            *live.entry(session.repo.as_str()).or_default() += 1;
        }
        let per_repo = |name, help, value: &dyn Fn(&RepoView) -> Option<i64>| {
            let mut family = Family::new(name, help);
            for repo in &repos {
                if let Some(v) = value(repo) {
                    family.add(vec![("repo", repo.name.clone())], v);
                }
            }
            family
        };
        families.extend([
            per_repo(
                "borgbox_repo_size_bytes",
                "Bytes of the repo's files.",
                &|r| Some(r.facts.size_bytes as i64),
            ),
            per_repo(
                "borgbox_repo_quota_used_bytes",
                "The repo's use as borg counts it for its storage quota (hints.N).",
                &|r| Some(r.facts.quota_used_bytes as i64),
            ),
            per_repo(
                "borgbox_repo_quota_bytes",
                "The storage quota borg enforces on the repo; 0 = none.",
                &|r| Some(r.storage_quota_bytes() as i64),
            ),
            per_repo(
                "borgbox_repo_last_write_timestamp_seconds",
                "The last write by a client (API.md 12.2), Unix seconds.",
                &|r| r.facts.last_write.map(|t| t.unix_timestamp()),
            ),
            per_repo(
                "borgbox_repo_initialized",
                "1 when the directory holds a borg repository.",
                &|r| Some(flag(r.facts.initialized)),
            ),
            per_repo(
                "borgbox_repo_registered",
                "1 when authorized_keys has a line for the repo.",
                &|r| Some(flag(r.registration.keys > 0)),
            ),
            per_repo(
                "borgbox_repo_append_only",
                "1 when every key of the repo is append-only.",
                &|r| {
                    Some(flag(
                        r.registration.keys > 0 && r.registration.all_append_only,
                    ))
                },
            ),
            per_repo(
                "borgbox_repo_locked",
                "1 when the repo has a lock file.",
                &|r| Some(flag(r.facts.locked)),
            ),
            per_repo(
                "borgbox_repo_keys",
                "Managed authorized_keys lines of the repo.",
                &|r| Some(r.registration.keys as i64),
            ),
            per_repo(
                "borgbox_repo_sessions",
                "Live borg serve processes on the repo.",
                &|r| Some(live.get(r.name.as_str()).copied().unwrap_or(0)),
            ),
        ]);

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
        // Newest first: the first seen of each group is the one to report.
        let mut finished: BTreeMap<(String, &str, &str), i64> = BTreeMap::new();
        let mut exit_codes: BTreeMap<(String, &str), (i64, i64)> = BTreeMap::new();
        for record in &records {
            *by_status.entry(record.status.as_str()).or_default() += 1;
            let Some(at) = record.finished_at else {
                continue;
            };
            let key = (
                record.repo.to_string(),
                record.kind.as_str(),
                record.status.as_str(),
            );
            let newest = finished.entry(key).or_insert(at);
            *newest = (*newest).max(at);
            let code = exit_codes
                .entry((record.repo.to_string(), record.kind.as_str()))
                .or_insert((at, i64::from(record.exit_code)));
            if at > code.0 {
                *code = (at, i64::from(record.exit_code));
            }
        }
        let mut family = Family::new(
            "borgbox_job_last_finished_timestamp_seconds",
            "When the newest finished job per repo, kind and final status ended, Unix seconds.",
        );
        for ((repo, kind, status), at) in finished {
            family.add(
                vec![
                    ("repo", repo),
                    ("kind", kind.to_owned()),
                    ("status", status.to_owned()),
                ],
                at,
            );
        }
        families.push(family);
        let mut family = Family::new(
            "borgbox_job_last_exit_code",
            "borg's exit code of the newest finished job per repo and kind.",
        );
        for ((repo, kind), (_, code)) in exit_codes {
            family.add(vec![("repo", repo), ("kind", kind.to_owned())], code);
        }
        families.push(family);
        let mut family = Family::new("borgbox_jobs", "Jobs kept, by status.");
        for (status, n) in by_status {
            family.add(vec![("status", status.to_owned())], n);
        }
        families.push(family);

        let schedules = self.schedules.load()?;
        let mut next = Family::new(
            "borgbox_schedule_next_run_timestamp_seconds",
            "When an enabled schedule fires next, Unix seconds.",
        );
        let mut last = Family::new(
            "borgbox_schedule_last_run_timestamp_seconds",
            "When an enabled schedule last fired, Unix seconds.",
        );
        for s in schedules.iter().filter(|s| s.enabled) {
            let labels = vec![
                ("id", s.id.to_string()),
                ("repo", s.repo.to_string()),
                ("kind", s.kind.as_str().to_owned()),
            ];
            if let Some(at) = s.last_run.unix() {
                last.add(labels.clone(), at);
            }
            if let Some(at) = s.next_run.unix() {
                next.add(labels, at);
            }
        }
        families.push(next);
        families.push(last);

        let mut stale = Family::new(
            "borgbox_alert_stale",
            "1 when an enabled alert's last check found its repo stale.",
        );
        for a in self.alerts.load()?.iter().filter(|a| a.enabled) {
            stale.add(
                vec![("id", a.id.to_string()), ("repo", a.repo.to_string())],
                flag(a.last_state == Some(crate::alerts::State::Stale)),
            );
        }
        families.push(stale);

        let used = self.key_use.snapshot();
        let mut keys = Family::new(
            "borgbox_key_last_used_timestamp_seconds",
            "The newest ssh login with a repo's key, from sshd's journal lines, Unix seconds.",
        );
        if !used.is_empty() {
            let authorized = self.keys.read()?;
            for repo in &repos {
                let Ok(name) = repo.name.parse() else {
                    continue;
                };
                for key in authorized.managed(&name) {
                    if let Some(u) = used.get(&key.fingerprint) {
                        keys.add(
                            vec![
                                ("repo", repo.name.clone()),
                                ("fingerprint", key.fingerprint),
                            ],
                            u.at,
                        );
                    }
                }
            }
        }
        families.push(keys);
        Ok(families)
    }
}
