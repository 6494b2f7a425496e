//! Pure parsers of what borg prints and writes: `borg list --json`, `borg --version`, and
//! the repository's `hints.N` (msgpack) and `config` (ini) files. They take contents, not paths.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::model::timestamp::format_utc;

/// One archive as API.md 4.5 sends it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Archive {
    /// The archive id (hex), as borg prints it.
    pub id: String,
    pub name: String,
    pub hostname: String,
    pub username: String,
    /// The archive's start time, converted to UTC.
    #[schema(value_type = crate::model::timestamp::Stamp)]
    pub time: String,
    pub comment: String,
}

#[derive(Debug, thiserror::Error)]
#[error("borg printed an archive list borgbox cannot read: {0}")]
pub struct BadOutput(String);

/// Parses `borg list --json --format {hostname}{username}{comment}` run with `TZ=UTC`.
pub fn parse_archive_list(json: &[u8]) -> Result<Vec<Archive>, BadOutput> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| BadOutput(e.to_string()))?;
    let archives = value
        .get("archives")
        .and_then(|a| a.as_array())
        .ok_or_else(|| BadOutput("no archives array".into()))?;
    let text = |a: &serde_json::Value, key: &str| {
        a.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    Ok(archives
        .iter()
        .map(|a| Archive {
            id: text(a, "id"),
            name: a
                .get("name")
                .or_else(|| a.get("archive"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            hostname: text(a, "hostname"),
            username: text(a, "username"),
            time: borg_time_to_utc(&text(a, "time")).unwrap_or_default(),
            comment: text(a, "comment"),
        })
        .collect())
}

/// borg prints `2026-04-13T14:32:08.123456` (local time, here TZ=UTC) or, rarely, with an
/// offset. Both become API.md's `2026-04-13T14:32:08Z`.
pub fn borg_time_to_utc(s: &str) -> Option<String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(format_utc(t));
    }
    let seconds = s.split('.').next()?;
    PrimitiveDateTime::parse(
        seconds,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
    .map(|t| format_utc(t.assume_utc()))
}

/// The first line of `borg --version`, trimmed.
pub fn parse_version(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The major version in `borg --version`'s first line: `borg 1.4.0` → 1, `borg2 2.0.0b14` → 2.
pub fn major_version(version: &str) -> Option<u32> {
    version
        .split_whitespace()
        .last()?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// `storage_quota_use` from a `hints.N` file (a msgpack map); None when unreadable.
pub fn quota_use_from_hints(bytes: &[u8]) -> Option<u64> {
    let value = rmpv::decode::read_value(&mut &bytes[..]).ok()?;
    value.as_map()?.iter().find_map(|(key, value)| {
        (key.as_str() == Some("storage_quota_use"))
            .then(|| value.as_u64())
            .flatten()
    })
}

/// What borgbox reads from a repository's `config`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoConfig {
    /// The file has a `[repository]` section header: this is a borg repository.
    pub is_repository: bool,
    pub storage_quota: u64,
    /// `version` of the `[repository]` section: 1 for borg 1.x, 2 for borg 2 (0 = none).
    pub version: u32,
}

pub fn parse_repo_config(text: &str) -> RepoConfig {
    let mut config = RepoConfig::default();
    let mut in_repository = false;
    for line in text.lines() {
        // An indented line continues the previous value (configparser), e.g. of the `key`
        // a backup client writes: never a setting or a section of its own.
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let line = line.trim_end();
        if line.starts_with('[') {
            in_repository = line == "[repository]";
            config.is_repository |= in_repository;
        } else if in_repository {
            if let Some((key, value)) = line.split_once('=') {
                match key.trim() {
                    "storage_quota" => config.storage_quota = value.trim().parse().unwrap_or(0),
                    "version" => config.version = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[u8] = include_bytes!("../../tests/fixtures/borg/list-1.2.4.json");
    const HINTS: &[u8] = include_bytes!("../../tests/fixtures/borg/hints-1.2.4.msgpack");
    const LIST_14: &[u8] = include_bytes!("../../tests/fixtures/borg/list-1.4.0.json");
    const HINTS_14: &[u8] = include_bytes!("../../tests/fixtures/borg/hints-1.4.0.msgpack");

    #[test]
    fn archive_list_and_hints_from_real_borg_1_4() {
        let archives = parse_archive_list(LIST_14).unwrap();
        assert_eq!(archives.len(), 2);
        assert_eq!(
            (archives[0].name.as_str(), archives[0].comment.as_str()),
            ("one", "nightly run")
        );
        assert_eq!(archives[0].time, "2026-12-07T23:33:04Z");
        assert_eq!(archives[0].hostname, "i18borg");
        assert_eq!(archives[0].username, "root");
        assert_eq!(archives[1].comment, "");
        assert_eq!(archives[1].id.len(), 64);
        assert_eq!(quota_use_from_hints(HINTS_14), Some(0x058c));
    }

    #[test]
    fn archive_list_from_real_borg() {
        let archives = parse_archive_list(LIST).unwrap();
        assert_eq!(archives.len(), 2);
        assert_eq!(archives[0].name, "one");
        assert_eq!(archives[0].comment, "nightly run");
        assert_eq!(archives[0].time, "2026-11-26T10:28:16Z");
        assert_eq!(archives[0].hostname, "vm");
        assert_eq!(archives[0].username, "root");
        assert_eq!(archives[1].comment, "");
        assert_eq!(archives[0].id.len(), 64);
    }

    #[test]
    fn archive_list_tolerates_missing_fields_and_rejects_garbage() {
        let archives = parse_archive_list(br#"{"archives":[{"archive":"x","id":"ab"}]}"#).unwrap();
        assert_eq!(archives[0].name, "x");
        assert_eq!(archives[0].time, "");
        assert!(parse_archive_list(b"Enter passphrase").is_err());
        assert!(parse_archive_list(b"{}").is_err());
    }

    #[test]
    fn times_become_utc_with_z() {
        assert_eq!(
            borg_time_to_utc("2026-04-13T14:32:08.999999").unwrap(),
            "2026-04-13T14:32:08Z"
        );
        assert_eq!(
            borg_time_to_utc("2026-04-13T14:32:08").unwrap(),
            "2026-04-13T14:32:08Z"
        );
        assert_eq!(
            borg_time_to_utc("2026-04-13T16:32:08.5+02:00").unwrap(),
            "2026-04-13T14:32:08Z"
        );
        assert_eq!(borg_time_to_utc("yesterday"), None);
    }

    #[test]
    fn quota_use_from_real_hints() {
        assert_eq!(quota_use_from_hints(HINTS), Some(0x0c31));
        assert_eq!(quota_use_from_hints(b"\xc1garbage"), None);
        assert_eq!(quota_use_from_hints(b""), None);
    }

    #[test]
    fn config_section_and_quota() {
        let config = parse_repo_config("[repository]\nversion = 1\nstorage_quota = 1073741824\n");
        assert_eq!(
            config,
            RepoConfig {
                is_repository: true,
                storage_quota: 1 << 30,
                version: 1,
            }
        );
        assert!(!parse_repo_config("[other]\nstorage_quota = 5\n").is_repository);
        assert_eq!(
            parse_repo_config("[other]\nstorage_quota = 5\n").storage_quota,
            0
        );
        assert_eq!(parse_version(b"borg 1.2.4\n"), "borg 1.2.4");
        assert_eq!(parse_repo_config("[repository]\nversion = 2\n").version, 2);
    }

    #[test]
    fn major_versions() {
        for (line, major) in [
            ("borg 1.2.4", Some(1)),
            ("borg 1.4.0", Some(1)),
            ("borg2 2.0.0b14", Some(2)),
            ("borg 2.0.0", Some(2)),
            ("", None),
            ("borg", None),
        ] {
            assert_eq!(major_version(line), major, "{line}");
        }
    }

    #[test]
    fn continuation_lines_are_values_not_settings() {
        // `key` is a multi-line value a backup client writes (borg's repokey storage);
        // configparser reads indented lines as its continuation, so must we.
        for indent in ["\t", " ", "  \t"] {
            let text = format!(
                "[repository]\nversion = 1\nstorage_quota = 0\nkey = aGVsbG8=\n\
                 {indent}storage_quota = 20000000\n{indent}[repository]\n"
            );
            assert_eq!(parse_repo_config(&text).storage_quota, 0, "{indent:?}");
        }
        let text = "[other]\nx = 1\n\t[repository]\n\tstorage_quota = 20000000\n";
        assert_eq!(parse_repo_config(text), RepoConfig::default());
    }
}
