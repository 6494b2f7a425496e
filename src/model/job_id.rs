use std::fmt;
use std::str::FromStr;

/// A job id: `j_` and 12 lowercase hex digits (API.md 4.7). The alphabet needs no
/// escaping in a unit name, a path or a journal field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job id")]
pub struct InvalidJobId;

impl JobId {
    pub fn random() -> JobId {
        let n: u64 = rand::random::<u64>() & 0xffff_ffff_ffff;
        JobId(format!("j_{n:012x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("j_").ok_or(InvalidJobId)?;
        if hex.len() == 12
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(JobId(s.to_owned()))
        } else {
            Err(InvalidJobId)
        }
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn random_ids_parse_back() {
        for _ in 0..100 {
            let id = JobId::random();
            assert_eq!(id.as_str().parse::<JobId>().unwrap(), id);
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
    }

    proptest! {
        #[test]
        fn parsed_ids_are_path_and_unit_safe(s in "\\PC{0,20}") {
            if let Ok(id) = s.parse::<JobId>() {
                prop_assert!(id.as_str().bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()));
            }
        }
    }
}
