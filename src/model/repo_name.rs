use std::fmt;
use std::str::FromStr;

/// A repo name: `^[a-z0-9][a-z0-9-]{0,62}$` (API.md 6.1). Safe as a single path component,
/// in a forced command and in a journal field, because of that alphabet.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repo name")]
pub struct InvalidRepoName;

impl RepoName {
    pub const MAX_LEN: usize = 63;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepoName {
    type Err = InvalidRepoName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if first_ok && rest_ok && bytes.len() <= Self::MAX_LEN {
            Ok(RepoName(s.to_owned()))
        } else {
            Err(InvalidRepoName)
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for RepoName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RepoName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for RepoName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::string_schema(
            "^[a-z0-9][a-z0-9-]{0,62}$",
            "A repo name (API.md 6.1); a path segment of another form is an unknown repo (404).",
            "laptop",
        )
    }
}

impl utoipa::ToSchema for RepoName {}

impl AsRef<str> for RepoName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["a", "0", "mac", "my-laptop-2", &"a".repeat(63)] {
            assert!(ok.parse::<RepoName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "-a",
            "A",
            "Mac",
            "a_b",
            "a/b",
            "..",
            ".",
            "a.b",
            "a b",
            "é",
            &"a".repeat(64),
            "a\0",
            "a\n",
        ] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_valid_names_are_path_safe(s in "\\PC{0,80}") {
            if let Ok(name) = s.parse::<RepoName>() {
                prop_assert!(!name.as_str().contains(['/', '.', '\0', ' ']));
                prop_assert!(name.as_str().len() <= 63);
                prop_assert_eq!(name.to_string(), s);
            }
        }

        #[test]
        fn generated_valid_names_parse(s in "[a-z0-9][a-z0-9-]{0,62}") {
            prop_assert!(s.parse::<RepoName>().is_ok());
        }
    }
}
