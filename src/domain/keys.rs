//! Key operations (API.md 7.5): list, add and remove a repo's keys.

use std::sync::Arc;

use super::repos::NewKey;
use super::{Domain, Error, Result};
use crate::keys::{ManagedKey, ServeFlags};
use crate::logging::message_id;
use crate::model::RepoName;

/// One managed line as `GET /repos/{name}/keys` shows it.
#[derive(Debug, Clone)]
pub struct KeyView {
    pub key: ManagedKey,
    pub added_at: String,
}

impl Domain {
    /// The repo's managed lines in file order; `[]` for an unregistered repo.
    pub fn list_keys(&self, name: &RepoName) -> Result<Vec<KeyView>> {
        if !self.repos.exists(name) {
            return Err(Error::RepoNotFound);
        }
        let added_at = self.added_at.snapshot();
        Ok(self
            .keys
            .read()?
            .managed(name)
            .into_iter()
            .map(|key| KeyView {
                added_at: added_at(name, &key.fingerprint),
                key,
            })
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
        let _lock = self.lock_repo(name).await?;
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
        let _lock = self.lock_repo(name).await?;
        let name = name.clone();
        self.blocking(move |domain| {
            if !domain.repos.exists(&name) {
                return Err(Error::RepoNotFound);
            }
            let removed = domain
                .keys
                .modify(|keys| Ok::<_, Error>(keys.remove_key(&name, &fingerprint)))?;
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
