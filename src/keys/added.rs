//! When borgbox added each key line (`Key.added_at`), kept in the state dir because
//! authorized_keys has no room for it. Written under the same lock discipline as every
//! shared file; a missing or unreadable record only means `added_at` is `""`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::files;
use crate::model::RepoName;

pub struct AddedAt {
    path: PathBuf,
}

type Records = BTreeMap<String, String>;

fn record_key(repo: &RepoName, fingerprint: &str) -> String {
    format!("{repo} {fingerprint}")
}

impl AddedAt {
    pub fn new(path: PathBuf) -> AddedAt {
        AddedAt { path }
    }

    fn read(&self) -> Records {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// All records, read once per request.
    pub fn snapshot(&self) -> impl Fn(&RepoName, &str) -> String {
        let records = self.read();
        move |repo, fingerprint| {
            records
                .get(&record_key(repo, fingerprint))
                .cloned()
                .unwrap_or_default()
        }
    }

    /// Applies `change` to the records under the file lock.
    fn modify(&self, change: impl FnOnce(&mut Records)) -> std::io::Result<()> {
        let lock = files::lock(&self.path)?;
        let mut records = self.read();
        let before = records.clone();
        change(&mut records);
        if records == before {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&records).map_err(std::io::Error::other)?;
        lock.replace(&bytes, 0o600)
    }

    pub fn record(&self, repo: &RepoName, fingerprint: &str, at: String) -> std::io::Result<()> {
        self.modify(|r| {
            r.insert(record_key(repo, fingerprint), at);
        })
    }

    pub fn forget(&self, repo: &RepoName, fingerprint: Option<&str>) -> std::io::Result<()> {
        let prefix = format!("{repo} ");
        self.modify(|r| match fingerprint {
            Some(fp) => {
                r.remove(&record_key(repo, fp));
            }
            None => r.retain(|k, _| !k.starts_with(&prefix)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_forget_only_their_repo() {
        let dir = tempfile::tempdir().unwrap();
        let added = AddedAt::new(dir.path().join("keys-added.json"));
        let (mac, mac2): (RepoName, RepoName) = ("mac".parse().unwrap(), "mac2".parse().unwrap());
        added
            .record(&mac, "SHA256:a", "2026-01-01T00:00:00Z".into())
            .unwrap();
        added
            .record(&mac2, "SHA256:b", "2026-01-02T00:00:00Z".into())
            .unwrap();
        added.forget(&mac, None).unwrap();
        let get = added.snapshot();
        assert_eq!(get(&mac, "SHA256:a"), "");
        assert_eq!(get(&mac2, "SHA256:b"), "2026-01-02T00:00:00Z");
    }
}
