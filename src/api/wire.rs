//! The JSON objects of API.md section 4, spelled exactly as the GUI client decodes them,
//! and the request bodies the handlers read. Their `ToSchema` derives are the schemas of
//! the OpenAPI document (API.md 16.5): a field's doc comment is its description there.

use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use super::extract::request_body;
use crate::alerts::{AlertInput, SecretChange};
use crate::domain::{NewRepo, RepoUpdate, RepoView};
use crate::jobs::record::{JobRecord, JobStatus};
use crate::jobs::spec::JobKind;
use crate::model::timestamp::{format_opt, format_utc, Stamp};
use crate::model::{JobId, RepoName};
use crate::schedules::{CadenceName, ScheduleInput, ScheduleKind};

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

// Request bodies (API.md 2.4): the fields each handler reads, in the order it checks them.
// A field that is `Option` in Rust may be absent or `null`; the schemas say what a valid
// request holds, and the domain's validation (not the reader) enforces the ranges.

/// A storage quota (API.md 16.1): 0 (no quota) or 10000000 to 2^62 bytes.
fn storage_quota() -> RefOr<Schema> {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some([0])),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(10_000_000))
                .maximum(Some(1u64 << 62)),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "0 (no quota) or 10000000 to 2^62 bytes, enforced by the forced command; \
             absent or null keeps the current one (none for a new repo)",
        ))
        .into()
}

/// Any JSON integer, or null: a schedule's `weekday` and `day`, which a cadence that does
/// not use them accepts whatever their size (API.md 11.2).
fn any_integer(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .description(Some(description))
        .into()
}

fn new_weekday() -> RefOr<Schema> {
    any_integer(
        "0 (Sunday) to 6 (Saturday), required for weekly; any integer otherwise, stored as 0",
    )
}

fn new_day() -> RefOr<Schema> {
    any_integer("1 to 28, required for monthly; any integer otherwise, stored as 0")
}

fn weekday() -> RefOr<Schema> {
    any_integer("0 (Sunday) to 6 (Saturday), required when the merged cadence is weekly")
}

fn day() -> RefOr<Schema> {
    any_integer("1 to 28, required when the merged cadence is monthly")
}

/// An OpenSSH public key line: type, base64 blob and an optional comment (API.md 7.1).
const PUBKEY_EXAMPLE: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID6dEDLK+uzjksND2mWl1eF8U36jG1KzQe63wj5joyW6 laptop";

request_body! {
    /// `POST /repos` and `POST /repos/import` (API.md 6.4, 6.5, 16.1).
    pub struct NewRepoBody {
        #[schema(value_type = RepoName)]
        pub name: String,
        /// A full OpenSSH public key line (API.md 7.1): at most 8 KiB of printable ASCII,
        /// `<type> <base64 blob> [comment]`.
        #[schema(example = json!(PUBKEY_EXAMPLE))]
        pub pubkey: String,
        /// Default false.
        pub append_only: Option<bool>,
        #[schema(schema_with = storage_quota)]
        pub storage_quota_bytes: Option<i64>,
    }
}

impl From<NewRepoBody> for NewRepo {
    fn from(body: NewRepoBody) -> NewRepo {
        NewRepo {
            name: body.name,
            pubkey: body.pubkey,
            append_only: body.append_only.unwrap_or(false),
            storage_quota_bytes: body.storage_quota_bytes,
        }
    }
}

request_body! {
    /// `PATCH /repos/{name}` (API.md 6.7, 16.1): at least one of the two fields.
    pub struct RepoUpdateBody {
        pub append_only: Option<bool>,
        #[schema(schema_with = storage_quota)]
        pub storage_quota_bytes: Option<i64>,
    }
}

impl From<RepoUpdateBody> for RepoUpdate {
    fn from(body: RepoUpdateBody) -> RepoUpdate {
        RepoUpdate {
            append_only: body.append_only,
            storage_quota_bytes: body.storage_quota_bytes,
        }
    }
}

request_body! {
    /// `POST /repos/{name}/keys` (API.md 7.5).
    pub struct NewKeyBody {
        /// Replaces the key's own comment in the line.
        pub comment: Option<String>,
        /// Absent: the repo's current `append_only`.
        pub append_only: Option<bool>,
        /// A full OpenSSH public key line (API.md 7.1).
        #[schema(example = json!(PUBKEY_EXAMPLE))]
        pub public_key: String,
    }
}

request_body! {
    /// `POST /repos/{name}/check` (API.md 9.1).
    pub struct CheckBody {
        pub repair: Option<bool>,
        pub verify_data: Option<bool>,
        /// Handed to borg through a pipe; at most 4096 bytes; `""` counts as absent.
        pub passphrase: Option<String>,
    }
}

request_body! {
    /// `POST /repos/{name}/prune` (API.md 9.1): at least one `keep_*` above 0.
    #[schema(example = json!({"keep_daily": 7, "keep_weekly": 4}))]
    pub struct PruneBody {
        #[schema(minimum = 0, maximum = 4294967295u32)]
        pub keep_daily: Option<i64>,
        #[schema(minimum = 0, maximum = 4294967295u32)]
        pub keep_weekly: Option<i64>,
        #[schema(minimum = 0, maximum = 4294967295u32)]
        pub keep_monthly: Option<i64>,
        #[schema(minimum = 0, maximum = 4294967295u32)]
        pub keep_yearly: Option<i64>,
        pub dry_run: Option<bool>,
        /// Handed to borg through a pipe; at most 4096 bytes; `""` counts as absent.
        pub passphrase: Option<String>,
    }
}

request_body! {
    /// `POST /repos/{name}/compact` (API.md 9.1).
    pub struct CompactBody {
        /// Handed to borg through a pipe; at most 4096 bytes; `""` counts as absent.
        pub passphrase: Option<String>,
    }
}

request_body! {
    /// `POST /repos/{name}/schedules` (API.md 11.2).
    #[schema(example = json!(
        {"kind": "check", "cadence": "weekly", "weekday": 0, "hour": 3, "minute": 30}
    ))]
    pub struct NewScheduleBody {
        #[schema(value_type = ScheduleKind, required = true)]
        pub kind: Option<String>,
        #[schema(value_type = CadenceName, required = true)]
        pub cadence: Option<String>,
        /// Server local time.
        #[schema(value_type = i64, minimum = 0, maximum = 23, required = true)]
        pub hour: Option<i64>,
        #[schema(value_type = i64, minimum = 0, maximum = 59, required = true)]
        pub minute: Option<i64>,
        #[schema(schema_with = new_weekday)]
        pub weekday: Option<i64> => opt_int_saturating,
        #[schema(schema_with = new_day)]
        pub day: Option<i64> => opt_int_saturating,
        /// Default true.
        pub enabled: Option<bool>,
    }
}

request_body! {
    /// `PATCH /schedules/{id}` (API.md 11.2): a partial update, validated after merging.
    pub struct ScheduleUpdateBody {
        #[schema(value_type = Option<ScheduleKind>)]
        pub kind: Option<String>,
        #[schema(value_type = Option<CadenceName>)]
        pub cadence: Option<String>,
        #[schema(minimum = 0, maximum = 23)]
        pub hour: Option<i64>,
        #[schema(minimum = 0, maximum = 59)]
        pub minute: Option<i64>,
        #[schema(schema_with = weekday)]
        pub weekday: Option<i64> => opt_int_saturating,
        #[schema(schema_with = day)]
        pub day: Option<i64> => opt_int_saturating,
        pub enabled: Option<bool>,
    }
}

/// The create and update bodies differ only in their schema (which fields are required),
/// so both become the same input.
macro_rules! body_into_input {
    ($input:ident $fields:tt from $($body:ident),+) => {
        $(body_into_input!(@impl $input $fields $body);)+
    };
    (@impl $input:ident { $($field:ident $(: $convert:ident)?),* $(,)? } $body:ident) => {
        impl From<$body> for $input {
            fn from(b: $body) -> $input {
                $input { $($field: body_into_input!(@field b.$field $(, $convert)?)),* }
            }
        }
    };
    (@field $value:expr) => { $value };
    (@field $value:expr, $convert:ident) => { $convert($value) };
}

body_into_input!(ScheduleInput { kind, cadence, hour, minute, weekday, day, enabled }
    from NewScheduleBody, ScheduleUpdateBody);

request_body! {
    /// `POST /repos/{name}/alerts` (API.md 12.1).
    #[schema(example = json!(
        {"stale_after_hours": 26, "webhook_url": "https://hooks.example.net/borg"}
    ))]
    pub struct NewAlertBody {
        #[schema(value_type = i64, minimum = 1, maximum = 8760, required = true)]
        pub stale_after_hours: Option<i64>,
        /// An absolute http or https URL with a host, at most 2048 characters.
        #[schema(value_type = String, max_length = 2048, required = true,
                 example = "https://hooks.example.net/borg")]
        pub webhook_url: Option<String>,
        /// Default true.
        pub enabled: Option<bool>,
        /// Default 0: notify only on transitions.
        #[schema(minimum = 0, maximum = 8760)]
        pub renotify_hours: Option<i64>,
        /// Signs deliveries; absent or `""`: no signing. At most 1024 bytes; never returned.
        pub secret: Option<String>,
    }
}

request_body! {
    /// `PATCH /alerts/{id}` (API.md 12.1): a partial update, validated after merging.
    pub struct AlertUpdateBody {
        #[schema(minimum = 1, maximum = 8760)]
        pub stale_after_hours: Option<i64>,
        /// An absolute http or https URL with a host, at most 2048 characters.
        #[schema(max_length = 2048)]
        pub webhook_url: Option<String>,
        pub enabled: Option<bool>,
        #[schema(minimum = 0, maximum = 8760)]
        pub renotify_hours: Option<i64>,
        /// Absent or null keeps the secret, `""` clears it, anything else sets it.
        pub secret: Option<String>,
    }
}

fn secret_change(secret: Option<String>) -> SecretChange {
    match secret {
        None => SecretChange::Keep,
        Some(secret) if secret.is_empty() => SecretChange::Clear,
        Some(secret) => SecretChange::Set(secret),
    }
}

body_into_input!(AlertInput {
    stale_after_hours, webhook_url, enabled, renotify_hours, secret: secret_change,
} from NewAlertBody, AlertUpdateBody);
