//! Key operations (API.md 7.5): list, add and remove a repo's keys.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::repos::NewKey;
use super::{Domain, Error, Result};
use crate::journal::reader::{sshd_lines, SshdFrom, SshdRead};
use crate::journal::sshd::LoginScan;
use crate::keys::{LastUse, ManagedKey, ServeFlags};
use crate::logging::message_id;
use crate::model::RepoName;

/// One managed line as `GET /repos/{name}/keys` shows it.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub key: ManagedKey,
    pub added_at: String,
    pub last_used: Option<LastUse>,
}

/// How often sshd's new logins are read from the journal, at most: a GUI listing keys
/// every second costs one journalctl every few seconds, not one per request.
const KEY_USE_EVERY: Duration = Duration::from_secs(2);

/// How far back the first read of sshd's log goes (or one after the cursor was lost):
/// journald may keep years of brute-force attempts, and an older login says little.
const KEY_USE_WINDOW_SECS: i64 = 90 * 86_400;

impl Domain {
    /// The repo's managed lines in file order; `[]` for an unregistered repo.
    pub async fn list_keys(self: &Arc<Self>, name: &RepoName) -> Result<Vec<KeyView>> {
        self.refresh_key_use().await;
        let name = name.clone();
        self.blocking(move |domain| {
            if !domain.repos.exists(&name) {
                return Err(Error::RepoNotFound);
            }
            let added_at = domain.added_at.snapshot();
            let used = domain.key_use.snapshot();
            Ok(domain
                .keys
                .read()?
                .managed(&name)
                .into_iter()
                .map(|key| KeyView {
                    added_at: added_at(&name, &key.fingerprint),
                    last_used: used.get(&key.fingerprint).cloned(),
                    key,
                })
                .collect())
        })
        .await
    }

    /// Reads sshd's logins since the stored cursor (API.md 16.3), unless this process did
    /// within `KEY_USE_EVERY`. Without a readable journal (dev mode, containers) nothing
    /// changes. The first read, or one after the cursor was lost (journal rotated or
    /// vacuumed), reads the newest `KEY_USE_WINDOW_SECS` of sshd's entries: seconds on a long
    /// journal, so it runs in the background and this answer makes do with what is known.
    pub async fn refresh_key_use(self: &Arc<Self>) {
        {
            let mut read = self.key_use_read.lock().unwrap_or_else(|e| e.into_inner());
            if read.is_some_and(|at| at.elapsed() < KEY_USE_EVERY) {
                return;
            }
            *read = Some(std::time::Instant::now());
        }
        let cursor = match self.blocking(|domain| Ok(domain.key_use.cursor())).await {
            Ok(cursor) => cursor,
            Err(e) => return log::warn!("cannot read the key use record: {e:#}"),
        };
        if cursor.is_some() {
            if let Ok(true) = self.read_key_use(cursor).await.map_err(|e| {
                log::debug!("cannot read sshd's logins from the journal: {e:#}");
            }) {
                return;
            }
        }
        // No cursor, or the journal no longer has it: everything, in the background (one
        // reader at a time: the next refreshes wait their turn through `key_use_read`).
        let domain = self.clone();
        tokio::spawn(async move {
            *domain
                .key_use_read
                .lock()
                .unwrap_or_else(|e| e.into_inner()) =
                Some(std::time::Instant::now() + Duration::from_secs(3600));
            if let Err(e) = domain.read_key_use(None).await {
                log::debug!("cannot read sshd's logins from the journal: {e:#}");
            }
            *domain
                .key_use_read
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        });
    }

    /// Reads and records sshd's logins after `cursor` (or within the window without one),
    /// keeping only logins with managed keys; false when the journal refused the cursor.
    async fn read_key_use(self: &Arc<Self>, cursor: Option<String>) -> Result<bool> {
        self.blocking(move |domain| {
            let managed = domain.managed_fingerprints()?;
            let from = match cursor {
                Some(cursor) => SshdFrom::Cursor(cursor),
                None => SshdFrom::Since(domain.now() - KEY_USE_WINDOW_SECS),
            };
            let mut scan = LoginScan::new(&domain.settings.account, |fingerprint: &str| {
                managed.contains(fingerprint)
            });
            if let SshdRead::CursorGone = sshd_lines(&from, |line| scan.line(line))? {
                return Ok(false);
            }
            let (last, logins) = scan.finish();
            if last.is_some() {
                let logins = logins
                    .into_iter()
                    .map(|(fingerprint, at, from)| (fingerprint, LastUse { at, from }));
                domain.key_use.record(last, logins)?;
            }
            Ok(true)
        })
        .await
    }

    /// The fingerprints of every repo's managed lines.
    fn managed_fingerprints(&self) -> Result<HashSet<String>> {
        let keys = self.keys.read()?;
        Ok(keys
            .summary()
            .into_keys()
            .filter_map(|repo| repo.parse::<RepoName>().ok())
            .flat_map(|repo| keys.managed(&repo))
            .map(|key| key.fingerprint)
            .filter(|fingerprint| !fingerprint.is_empty())
            .collect())
    }

    /// POST /repos/{name}/keys: a new line that follows the repo's current append-only
    /// (unless told) and quota. Returns the fingerprint.
    pub async fn add_key(
        self: &Arc<Self>,
        name: &RepoName,
        public_key: String,
        comment: Option<String>,
        append_only: Option<bool>,
    ) -> Result<String> {
        let _lock = self.lock_known_repo(name).await?;
        let name = name.clone();
        self.blocking(move |domain| {
            // An unknown repo is 404 before the key is judged.
            if !domain.repos.exists(&name) {
                return Err(Error::RepoNotFound);
            }
            let key = NewKey::parse(&public_key, comment.as_deref())?;
            let append_only = domain.keys.modify(|keys| {
                key.refuse_present(keys)?;
                let current = keys.summary().remove(name.as_str()).unwrap_or_default();
                let flags = ServeFlags {
                    append_only: append_only.unwrap_or(current.keys > 0 && current.all_append_only),
                    storage_quota: current.storage_quota,
                };
                keys.append_line(domain.line(&name, &key, flags)?);
                keys.restrict(&name);
                Ok::<_, Error>(flags.append_only)
            })?;
            domain.record_added(&name, &key.fingerprint);
            log::info!(
                message_id = message_id::KEY_ADDED,
                borgbox_repo = name.as_str(),
                borgbox_key = key.fingerprint.as_str(),
                borgbox_append_only = append_only;
                "added key {} to repo {name}", key.fingerprint
            );
            Ok(key.fingerprint)
        })
        .await
    }

    /// DELETE /repos/{name}/keys/{fingerprint}, with or without the `SHA256:` prefix.
    pub async fn remove_key(self: &Arc<Self>, name: &RepoName, fingerprint: String) -> Result<()> {
        let _lock = self.lock_known_repo(name).await?;
        let name = name.clone();
        self.blocking(move |domain| {
            if !domain.repos.exists(&name) {
                return Err(Error::RepoNotFound);
            }
            let removed = domain.keys.modify(|keys| {
                let removed = keys.remove_key(&name, &fingerprint);
                if removed {
                    keys.restrict(&name);
                }
                Ok::<_, Error>(removed)
            })?;
            if !removed {
                return Err(Error::NotFound("key"));
            }
            let full = if fingerprint.starts_with("SHA256:") {
                fingerprint.clone()
            } else {
                format!("SHA256:{fingerprint}")
            };
            if let Err(e) = domain.added_at.forget(&name, Some(&full)) {
                log::warn!("failed to forget the record of key {full} of repo {name}: {e}");
            }
            log::info!(
                message_id = message_id::KEY_REMOVED,
                borgbox_repo = name.as_str(),
                borgbox_key = full.as_str();
                "removed key {full} from repo {name}"
            );
            Ok(())
        })
        .await
    }
}
