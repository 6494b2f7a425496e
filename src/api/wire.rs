//! The JSON objects of API.md section 4, spelled exactly as the GUI client decodes them.

use serde::Serialize;

use crate::domain::RepoView;
use crate::jobs::record::JobRecord;
use crate::model::timestamp::{format_opt, format_utc};

#[derive(Debug, Serialize)]
pub struct Repo {
    pub name: String,
    pub path: String,
    pub ssh_url: String,
    pub registered: bool,
    pub append_only: bool,
    pub initialized: bool,
    pub size_bytes: u64,
    pub modified_at: String,
    /// Detailed fields the list form carries too (API.md 4.4: "when they are cheap to
    /// produce"): they come from the cached facts and authorized_keys.
    pub quota_used_bytes: u64,
    pub storage_quota_bytes: u64,
    pub quota_source: &'static str,
    pub last_write: String,
    pub locked: bool,
    pub keys: u64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<RepoDetails>,
}

/// What only the single-repo form has: it reads the repo directory afresh.
#[derive(Debug, Serialize)]
pub struct RepoDetails {
    pub transaction_id: u64,
    pub segments: u64,
}

impl From<RepoView> for Repo {
    fn from(view: RepoView) -> Repo {
        let reg = view.registration;
        Repo {
            registered: reg.keys > 0,
            append_only: reg.keys > 0 && reg.all_append_only,
            initialized: view.facts.initialized,
            size_bytes: view.facts.size_bytes,
            modified_at: format_utc(view.facts.modified_at),
            quota_used_bytes: view.facts.quota_used_bytes,
            storage_quota_bytes: view.storage_quota_bytes(),
            quota_source: view.quota_source(),
            last_write: format_opt(view.facts.last_write),
            locked: view.facts.locked,
            keys: reg.keys as u64,
            details: view.details.as_ref().map(|details| RepoDetails {
                transaction_id: details.transaction_id,
                segments: details.segments,
            }),
            name: view.name,
            path: view.path,
            ssh_url: view.ssh_url,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Key {
    pub fingerprint: String,
    pub comment: String,
    pub algo: String,
    pub added_at: String,
    /// API.md 16.3: the newest login with this key, from sshd's lines in the journal.
    pub last_used_at: String,
    pub last_used_from: String,
    pub append_only: bool,
}

#[derive(Debug, Serialize)]
pub struct AddedKey {
    pub fingerprint: String,
}

#[derive(Debug, Serialize)]
pub struct Info {
    pub version: &'static str,
    pub repo_root: String,
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub uptime_sec: u64,
    pub borg_version: String,
    pub activated_at: String,
    pub backend: &'static str,
}

#[derive(Debug, Serialize)]
pub struct SystemStats {
    pub hostname: String,
    pub uptime_seconds: u64,
    pub load: [f64; 3],
    pub storage: Storage,
    pub borgbox_version: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Storage {
    pub path: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Session {
    pub pid: i32,
    pub repo: String,
    pub client_ip: String,
    pub started_at: String,
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct JobStart {
    pub job_id: String,
    pub status: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Job {
    pub id: String,
    pub repo: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub started_at: String,
    pub finished_at: String,
    pub exit_code: i32,
    pub dry_run: bool,
    pub log_tail: Vec<String>,
}

fn unix(t: i64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t).ok()
}

impl Job {
    pub fn new(record: &JobRecord, log_tail: Vec<String>) -> Job {
        Job {
            id: record.id.to_string(),
            repo: record.repo.to_string(),
            kind: record.kind.as_str(),
            status: record.status.as_str(),
            started_at: format_opt(unix(record.started_at)),
            finished_at: format_opt(record.finished_at.and_then(unix)),
            exit_code: record.exit_code,
            dry_run: record.kind == crate::jobs::spec::JobKind::Prune && record.options.dry_run,
            log_tail,
        }
    }
}

/// The data of every stream event (API.md 4.8); all four fields always sent.
#[derive(Debug, Serialize)]
pub struct StreamEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub line: String,
    pub status: &'static str,
    pub exit_code: i32,
}

impl StreamEvent {
    pub fn log(line: String) -> StreamEvent {
        StreamEvent {
            kind: "log",
            line,
            status: "",
            exit_code: 0,
        }
    }

    pub fn status(kind: &'static str, record: &JobRecord) -> StreamEvent {
        StreamEvent {
            kind,
            line: String::new(),
            status: record.status.as_str(),
            exit_code: record.exit_code,
        }
    }
}
