//! When and from where each key last logged in (API.md 16.3), as read from sshd's lines in
//! the journal: kept in `<state dir>/keys-used.json` with the journal cursor it has read
//! up to, so each refresh reads only what is new. A missing or unreadable record only
//! means `""`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::files;

/// The newest login with one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUse {
    /// Unix seconds.
    pub at: i64,
    /// The client address, `""` when sshd gave none.
    pub from: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    cursor: Option<String>,
    keys: BTreeMap<String, LastUse>,
}

pub struct KeyUse {
    path: PathBuf,
}

impl KeyUse {
    pub fn new(path: PathBuf) -> KeyUse {
        KeyUse { path }
    }

    fn read(&self) -> Record {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Every key's last use, by fingerprint (`SHA256:…`).
    pub fn snapshot(&self) -> BTreeMap<String, LastUse> {
        self.read().keys
    }

    /// Where the last read of the journal stopped.
    pub fn cursor(&self) -> Option<String> {
        self.read().cursor
    }

    /// Records logins read from the journal up to `cursor` (None: no new entry), keeping
    /// each key's newest. Blocking.
    pub fn record(
        &self,
        cursor: Option<String>,
        logins: impl IntoIterator<Item = (String, LastUse)>,
    ) -> std::io::Result<()> {
        let lock = files::lock(&self.path)?;
        let mut record = self.read();
        let mut changed = cursor.is_some() && cursor != record.cursor;
        if cursor.is_some() {
            record.cursor = cursor;
        }
        for (fingerprint, used) in logins {
            let newer = record
                .keys
                .get(&fingerprint)
                .is_none_or(|known| known.at <= used.at);
            if newer && record.keys.get(&fingerprint) != Some(&used) {
                record.keys.insert(fingerprint, used);
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        lock.replace(&bytes, 0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(at: i64, from: &str) -> LastUse {
        LastUse {
            at,
            from: from.into(),
        }
    }

    #[test]
    fn the_newest_login_wins_and_the_cursor_moves() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyUse::new(dir.path().join("keys-used.json"));
        assert!(keys.snapshot().is_empty() && keys.cursor().is_none());
        keys.record(
            Some("c1".into()),
            [
                ("SHA256:a".to_owned(), used(10, "10.0.0.1")),
                ("SHA256:a".to_owned(), used(20, "10.0.0.2")),
            ],
        )
        .unwrap();
        // An older login read again (after a lost cursor) does not go back in time.
        keys.record(
            Some("c2".into()),
            [("SHA256:a".to_owned(), used(15, "10.0.0.3"))],
        )
        .unwrap();
        assert_eq!(keys.snapshot()["SHA256:a"], used(20, "10.0.0.2"));
        assert_eq!(keys.cursor().as_deref(), Some("c2"));
        keys.record(None, []).unwrap();
        assert_eq!(keys.cursor().as_deref(), Some("c2"));
    }
}
