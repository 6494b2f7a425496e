//! The request bodies (API.md 2.4): the fields each handler reads, in the order it checks
//! them. A field that is `Option` in Rust may be absent or `null`; the schemas say what a
//! valid request holds, and the domain's validation (not the reader) enforces the ranges.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

use crate::alerts::{AlertInput, SecretChange};
use crate::api::extract::request_body;
use crate::domain::{NewRepo, RepoUpdate};
use crate::model::RepoName;
use crate::schedules::{CadenceName, ScheduleInput, ScheduleKind};

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
