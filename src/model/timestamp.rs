//! Timestamps as API.md 2.6 spells them: UTC, second precision, `Z`, fixed width; `""`
//! when unset.

use time::{OffsetDateTime, UtcOffset};

/// Formats an instant as API.md 2.6 wants it: UTC, second precision, `Z`, fixed width.
pub fn format_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `format_utc`, or `""` for an unset timestamp.
pub fn format_opt(t: Option<OffsetDateTime>) -> String {
    t.map(format_utc).unwrap_or_default()
}

/// Parses exactly the form `format_utc` writes.
pub fn parse_utc(text: &str) -> Option<OffsetDateTime> {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::PrimitiveDateTime::parse(text, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// An instant kept in unix seconds and written as API.md 2.6 wants it, `""` when unset:
/// what schedules and alerts store in their files and send on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(Option<i64>);

impl Stamp {
    pub const UNSET: Stamp = Stamp(None);

    pub fn at(unix: i64) -> Stamp {
        Stamp(Some(unix))
    }

    pub fn of(t: OffsetDateTime) -> Stamp {
        Stamp(Some(t.unix_timestamp()))
    }

    pub fn unix(self) -> Option<i64> {
        self.0
    }

    pub fn is_set(self) -> bool {
        self.0.is_some()
    }
}

impl From<Option<i64>> for Stamp {
    fn from(unix: Option<i64>) -> Stamp {
        Stamp(unix)
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self
            .0
            .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
        f.write_str(&format_opt(t))
    }
}

impl serde::Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(Stamp::UNSET);
        }
        parse_utc(&text)
            .map(Stamp::of)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a timestamp")))
    }
}

/// What every timestamp matches on the wire: the fixed-width form, or `""` when unset.
pub const PATTERN: &str = r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)?$";

/// The document's `Timestamp`: also the schema of the timestamp fields that handlers build
/// as strings with `format_utc` and `format_opt` (`#[schema(value_type = Stamp)]`).
impl utoipa::PartialSchema for Stamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::string_schema(
            PATTERN,
            "UTC, second precision, `Z` suffix, fixed width (API.md 2.6); `\"\"` when unset",
            "2026-04-13T14:32:08Z",
        )
    }
}

impl utoipa::ToSchema for Stamp {
    fn name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_width_utc_with_z() {
        assert_eq!(
            format_utc(datetime!(2026-04-13 14:32:08.999 UTC)),
            "2026-04-13T14:32:08Z"
        );
        assert_eq!(
            format_utc(datetime!(0999-01-02 03:04:05 +02:00)),
            "0999-01-02T01:04:05Z"
        );
        assert_eq!(format_opt(None), "");
    }

    #[test]
    fn stamps_round_trip_and_reject_other_forms() {
        let stamp: Stamp = serde_json::from_str("\"2026-04-13T14:32:08Z\"").unwrap();
        assert_eq!(stamp.unix(), Some(1_776_090_728));
        assert_eq!(
            serde_json::to_string(&stamp).unwrap(),
            "\"2026-04-13T14:32:08Z\""
        );
        let unset: Stamp = serde_json::from_str("\"\"").unwrap();
        assert_eq!(
            (unset, serde_json::to_string(&unset).unwrap()),
            (Stamp::UNSET, "\"\"".into())
        );
        for bad in [
            "\"2026-04-13T14:32:08+02:00\"",
            "\"2026-04-13 14:32:08Z\"",
            "\"2026-04-13T14:32:08.5Z\"",
            "null",
            "12",
        ] {
            assert!(serde_json::from_str::<Stamp>(bad).is_err(), "{bad}");
        }
    }
}
