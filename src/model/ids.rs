//! Ids borgbox makes: a fixed prefix and lowercase hex digits (API.md 4.7, 4.9, 4.10). The
//! alphabet needs no escaping in a unit name, a path or a journal field, and an id can only
//! be built by `random` or by `FromStr`, so anything else a client sends never reaches one.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid id")]
pub struct InvalidId;

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $digits:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn random() -> $name {
                let bits = rand::random::<u64>() >> (64 - 4 * $digits);
                $name(format!(concat!($prefix, "{:0", $digits, "x}"), bits))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s.strip_prefix($prefix).ok_or(InvalidId)?;
                if hex.len() == $digits
                    && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                {
                    Ok($name(s.to_owned()))
                } else {
                    Err(InvalidId)
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                super::string_schema(
                    concat!("^", $prefix, "[0-9a-f]{", $digits, "}$"),
                    concat!("`", $prefix, "` and ", $digits, " lowercase hex digits"),
                    $example,
                )
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// A job: `j_` and 12 lowercase hex digits.
    JobId, "j_", 12, "j_3f9a0c12be47"
);
hex_id!(
    /// A schedule: `sch_` and 16 lowercase hex digits.
    ScheduleId, "sch_", 16, "sch_5436f9b43e0fe765"
);
hex_id!(
    /// An alert: `alert_` and 16 lowercase hex digits.
    AlertId, "alert_", 16, "alert_1d1f0c3e5a7b9d2f"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn random_ids_parse_back() {
        for _ in 0..100 {
            let id = JobId::random();
            assert_eq!(id.as_str().parse::<JobId>().unwrap(), id);
            let id = ScheduleId::random();
            assert_eq!(id.as_str().len(), 4 + 16);
            assert_eq!(id.as_str().parse::<ScheduleId>().unwrap(), id);
            let id = AlertId::random();
            assert_eq!(id.as_str().len(), 6 + 16);
            assert_eq!(id.as_str().parse::<AlertId>().unwrap(), id);
        }
    }

    #[test]
    fn only_our_form_parses() {
        for bad in [
            "",
            "j_",
            "j_3f9a0c12be4",
            "j_3f9a0c12be477",
            "j_3F9A0C12BE47",
            "x_3f9a0c12be47",
            "j_../../etc",
            "j_3f9a0c12be4g",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
        assert!("j_3f9a0c12be47".parse::<JobId>().is_ok());
        for bad in [
            "sch_0123456789abcde",
            "sch_0123456789abcdef0",
            "SCH_0123456789abcdef",
            "sch_0123456789abcdeF",
            "sch_0123456789abcde/",
            "alert_0123456789abcdef",
        ] {
            assert!(bad.parse::<ScheduleId>().is_err(), "{bad}");
        }
        assert!("sch_0123456789abcdef".parse::<ScheduleId>().is_ok());
        assert!("alert_0123456789abcdef".parse::<AlertId>().is_ok());
        assert!("alert_0123456789abcde%".parse::<AlertId>().is_err());
    }

    proptest! {
        #[test]
        fn parsed_ids_are_path_and_unit_safe(s in "\\PC{0,24}") {
            let parsed = [
                s.parse::<JobId>().map(|i| i.to_string()),
                s.parse::<ScheduleId>().map(|i| i.to_string()),
                s.parse::<AlertId>().map(|i| i.to_string()),
            ];
            for id in parsed.into_iter().flatten() {
                prop_assert!(id.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()));
            }
        }
    }
}
