//! Every JSON shape of the API: the objects of API.md section 4, spelled exactly as the GUI
//! client decodes them, and (`requests`) the request bodies the handlers read. Their
//! `ToSchema` derives are the schemas of the OpenAPI document (API.md 16.5): a field's doc
//! comment is its description there. Stored forms stay where they are stored.

mod requests;

pub use self::requests::*;

use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::alerts::{Alert, State as AlertState};
use crate::domain::RepoView;
use crate::jobs::record::{JobRecord, JobStatus};
use crate::jobs::spec::JobKind;
use crate::model::timestamp::{format_opt, format_utc, Stamp};
use crate::model::{AlertId, JobId, RepoName};

/// A string schema that allows exactly `values`: for the `&'static str` fields below.
fn one_of(values: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .into()
}

fn quota_source() -> RefOr<Schema> {
    one_of(&["borgbox", "repository", ""])
}

fn backend() -> RefOr<Schema> {
    one_of(&["systemd", "process"])
}

fn ok() -> RefOr<Schema> {
    one_of(&["ok"])
}

fn started() -> RefOr<Schema> {
    one_of(&["queued", "running"])
}

fn event_type() -> RefOr<Schema> {
    one_of(&["log", "status", "end"])
}

/// `""` (a `log` event) or a job status.
fn event_status() -> RefOr<Schema> {
    let mut values = vec![serde_json::Value::from("")];
    if let RefOr::T(Schema::Object(status)) = <JobStatus as utoipa::PartialSchema>::schema() {
        values.extend(status.enum_values.unwrap_or_default());
    }
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// Every non-2xx answer, on any path (API.md 2.3): a short sentence for people, which
/// clients show and never parse.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    #[schema(example = "repo not found")]
    pub error: String,
}

/// A repo as `GET /repos` lists it (API.md 4.4, 16.1).
#[derive(Debug, Serialize, ToSchema)]
pub struct Repo {
    /// The directory name; a listed directory may have a name outside the name rule.
    pub name: String,
    /// Absolute path, the one in `--restrict-to-repository`.
    pub path: String,
    /// `ssh://<user>@<host>:<port><path>`.
    pub ssh_url: String,
    pub registered: bool,
    pub append_only: bool,
    pub initialized: bool,
    pub size_bytes: u64,
    /// The newest committed transaction.
    #[schema(value_type = Stamp)]
    pub modified_at: String,
    // Detailed fields the list form carries too (API.md 4.4: "when they are cheap to
    // produce"): they come from the cached facts and authorized_keys.
    /// `storage_quota_use` from the current `hints.N`; 0 when unavailable.
    pub quota_used_bytes: u64,
    /// 0 means no quota.
    pub storage_quota_bytes: u64,
    /// Where the quota comes from: borgbox's managed lines, the repository's config, or none.
    #[schema(schema_with = quota_source)]
    pub quota_source: &'static str,
    /// The last backup write as the alert monitor sees it (API.md 12.2).
    #[schema(value_type = Stamp)]
    pub last_write: String,
    pub locked: bool,
    /// The number of managed lines.
    pub keys: u64,
}

/// The detailed Repo (API.md 4.4): what every endpoint that returns a single repo sends. It
/// adds what only a fresh read of the repo directory gives.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepoDetailed {
    #[serde(flatten)]
    pub repo: Repo,
    /// N of the current transaction; 0 when none.
    pub transaction_id: u64,
    /// Segment files under `data/`.
    pub segments: u64,
}

impl From<RepoView> for RepoDetailed {
    fn from(view: RepoView) -> RepoDetailed {
        // Every single-repo view is read with its details (`Domain::repo_detail`).
        let (transaction_id, segments) = view
            .details
            .as_ref()
            .map_or((0, 0), |d| (d.transaction_id, d.segments));
        RepoDetailed {
            repo: view.into(),
            transaction_id,
            segments,
        }
    }
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
            name: view.name,
            path: view.path,
            ssh_url: view.ssh_url,
        }
    }
}

/// A managed line of authorized_keys (API.md 4.11).
#[derive(Debug, Serialize, ToSchema)]
pub struct Key {
    /// `SHA256:` and the unpadded base64 of the blob's digest, as `ssh-keygen -l` prints it.
    #[schema(example = "SHA256:CEve5S39i2c3PhAguVks/EeEM+2AbQWm87oIE9IWGYY")]
    pub fingerprint: String,
    pub comment: String,
    /// The key type as written in the line.
    #[schema(example = "ssh-ed25519")]
    pub algo: String,
    #[schema(value_type = Stamp)]
    pub added_at: String,
    /// API.md 16.3: the newest login with this key, from sshd's lines in the journal.
    #[schema(value_type = Stamp)]
    pub last_used_at: String,
    /// That login's client address; `""` when unknown.
    pub last_used_from: String,
    pub append_only: bool,
    /// False for a line without `restrict` (a hand-tagged or migrated line), which may
    /// forward ports; the next edit of the repo's keys or flags adds it.
    pub restricted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AddedKey {
    #[schema(example = "SHA256:CEve5S39i2c3PhAguVks/EeEM+2AbQWm87oIE9IWGYY")]
    pub fingerprint: String,
}

/// API.md 4.1.
#[derive(Debug, Serialize, ToSchema)]
pub struct Info {
    /// borgbox's own version.
    #[schema(example = "1.0.0")]
    pub version: &'static str,
    pub repo_root: String,
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Seconds since this API process started.
    pub uptime_sec: u64,
    /// The first line of `borg --version`; `""` if borg cannot be run.
    #[schema(example = "borg 1.2.4")]
    pub borg_version: String,
    #[schema(value_type = Stamp)]
    pub activated_at: String,
    #[schema(schema_with = backend)]
    pub backend: &'static str,
    pub tls: TlsInfo,
}

/// HTTPS on the API port (issue 19): whether it is served, and the certificate's expiry
/// and public key pin (what `borgbox tls show` prints).
#[derive(Debug, Serialize, ToSchema)]
pub struct TlsInfo {
    pub enabled: bool,
    #[schema(value_type = Option<Stamp>)]
    pub cert_not_after: Option<String>,
    /// SHA-256 of the certificate's SubjectPublicKeyInfo, base64.
    #[schema(example = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]
    pub pubkey_sha256: Option<String>,
}

/// API.md 4.2.
#[derive(Debug, Serialize, ToSchema)]
pub struct SystemStats {
    pub hostname: String,
    pub uptime_seconds: u64,
    /// The 1, 5 and 15 minute load averages.
    #[schema(min_items = 3, max_items = 3)]
    pub load: [f64; 3],
    pub storage: Storage,
    pub borgbox_version: &'static str,
}

/// The file system of the repo root; the numbers are 0 when statvfs fails.
#[derive(Debug, Serialize, ToSchema)]
pub struct Storage {
    pub path: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
}

/// A live `borg serve` process of borgbox's user (API.md 4.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub pid: i32,
    /// The repo name, or the full path when it is outside the repo root.
    pub repo: String,
    /// `""` when unknown.
    pub client_ip: String,
    #[schema(value_type = Stamp)]
    pub started_at: String,
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    #[schema(schema_with = ok)]
    pub status: &'static str,
}

/// The answer to starting a job (API.md 4.6).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobStart {
    #[schema(value_type = JobId)]
    pub job_id: String,
    /// `queued` until borg has started.
    #[schema(schema_with = started)]
    pub status: &'static str,
}

/// API.md 4.7.
#[derive(Debug, Serialize, ToSchema)]
pub struct Job {
    #[schema(value_type = JobId)]
    pub id: String,
    #[schema(value_type = RepoName)]
    pub repo: String,
    #[schema(value_type = JobKind)]
    pub kind: &'static str,
    #[schema(value_type = JobStatus)]
    pub status: &'static str,
    /// When borgbox accepted the job.
    #[schema(value_type = Stamp)]
    pub started_at: String,
    /// `""` until the job is final.
    #[schema(value_type = Stamp)]
    pub finished_at: String,
    /// borg's exit status; -1 while queued or running, and when there is none (API.md 9.2).
    pub exit_code: i32,
    /// True only for a prune run with `dry_run`.
    pub dry_run: bool,
    /// The last 200 output lines, oldest first.
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
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEvent {
    #[serde(rename = "type")]
    #[schema(schema_with = event_type)]
    pub kind: &'static str,
    /// The output line of a `log` event; `""` otherwise.
    pub line: String,
    /// The job status of `status` and `end`; `""` for `log`.
    #[schema(schema_with = event_status)]
    pub status: &'static str,
    /// The exit code of `status` and `end`; 0 for `log`.
    pub exit_code: i32,
}

/// One event of `GET /jobs/{id}/stream` (API.md 10) as OpenAPI 3.2 describes an item of
/// an event stream: its `event` name, and its `data`, one line of JSON holding a
/// StreamEvent. Tools read a 3.1 document's `text/event-stream` schema the same way.
pub struct StreamItem;

impl utoipa::PartialSchema for StreamItem {
    fn schema() -> RefOr<Schema> {
        let mut data = ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/json")
            .description(Some("A StreamEvent, as one line of JSON"))
            .build();
        data.extensions.get_or_insert_with(Default::default).insert(
            "contentSchema".into(),
            serde_json::json!({ "$ref": format!("#/components/schemas/{}", StreamEvent::name()) }),
        );
        ObjectBuilder::new()
            .property("event", event_type())
            .required("event")
            .property("data", data)
            .required("data")
            .into()
    }
}

impl ToSchema for StreamItem {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            StreamEvent::name().into(),
            <StreamEvent as utoipa::PartialSchema>::schema(),
        ));
    }
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

/// An alert as the API sends it (API.md 4.10): never the secret, never the pending event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Alert)]
pub struct AlertView {
    pub id: AlertId,
    pub repo: RepoName,
    #[schema(minimum = 1, maximum = 8760)]
    pub stale_after_hours: u32,
    pub webhook_url: String,
    pub enabled: bool,
    /// 0: notify only on transitions.
    #[schema(maximum = 8760)]
    pub renotify_hours: u32,
    /// Whether deliveries are signed; the secret itself is never sent.
    pub has_secret: bool,
    pub created_at: Stamp,
    pub last_check_at: Stamp,
    /// `null` before the first check: the only `null` in the API (API.md 2.5).
    #[schema(required = true)]
    pub last_state: Option<AlertState>,
    /// The last write seen at the last check.
    pub last_write: Stamp,
    /// The last successful `stale` or `recovered` delivery.
    pub last_alerted_at: Stamp,
    /// The last delivery or check error; `""` when the last one succeeded.
    pub last_error: String,
}

impl AlertView {
    pub fn of(alert: &Alert) -> AlertView {
        AlertView {
            id: alert.id.clone(),
            repo: alert.repo.clone(),
            stale_after_hours: alert.stale_after_hours,
            webhook_url: alert.webhook_url.clone(),
            enabled: alert.enabled,
            renotify_hours: alert.renotify_hours,
            has_secret: alert.secret.is_some(),
            created_at: alert.created_at,
            last_check_at: alert.last_check_at,
            last_state: alert.last_state,
            last_write: alert.last_write,
            last_alerted_at: alert.last_alerted_at,
            last_error: alert.last_error.clone(),
        }
    }
}
