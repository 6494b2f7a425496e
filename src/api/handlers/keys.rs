//! The SSH key endpoints of API.md 7.5, and the key checks create and import share.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use super::super::wire::{AddedKey, Key, Registration};
use super::blocking;
use crate::keys::{
    managed_line, parse_public_key, sanitize_comment, AuthorizedKeys, BlobOwner, PublicKey,
};
use crate::logging::message_id;
use crate::model::timestamp::format_utc;
use crate::model::RepoName;

/// A validated public key from a request body, with the comment its line will carry.
pub struct NewKey {
    key: PublicKey,
    comment: String,
    pub fingerprint: String,
}

impl NewKey {
    /// Validates `text` (API.md 7.1); `comment`, when given, replaces the key's own.
    pub fn parse(text: &str, comment: Option<&str>) -> Result<NewKey, ApiError> {
        let key = parse_public_key(text).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let comment = sanitize_comment(comment.unwrap_or(&key.comment));
        Ok(NewKey {
            fingerprint: key.fingerprint(),
            key,
            comment,
        })
    }

    /// A blob may stand on one line only (API.md 7.4).
    pub fn refuse_present(&self, keys: &AuthorizedKeys) -> Result<(), ApiError> {
        match keys.blob_owner(&self.key.blob_b64) {
            None => Ok(()),
            Some(BlobOwner::Managed(repo)) => Err(ApiError::Conflict(format!(
                "key is already registered for repo {repo}"
            ))),
            Some(BlobOwner::Foreign) => Err(ApiError::Conflict(
                "key is already present in authorized_keys".into(),
            )),
        }
    }

    pub fn record_added(&self, state: &AppState, repo: &RepoName) {
        if let Err(e) =
            state
                .added_at
                .record(repo, &self.fingerprint, format_utc(state.clock.now()))
        {
            log::warn!(
                "failed to record when key {} was added to repo {repo}: {e}",
                self.fingerprint
            );
        }
    }
}

pub fn new_key_line(
    state: &AppState,
    repo: &RepoName,
    key: &NewKey,
    append_only: bool,
) -> Result<String, ApiError> {
    managed_line(
        &state.settings.borg,
        &state.repos.path(repo),
        append_only,
        &key.key,
        repo,
        &key.comment,
    )
    .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))
}

pub fn registration(keys: &AuthorizedKeys, repo: &RepoName) -> Registration {
    let managed = keys.managed(repo);
    Registration {
        keys: managed.len(),
        all_append_only: managed.iter().all(|k| k.append_only),
    }
}

pub async fn list(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Vec<Key>>, ApiError> {
    blocking(move || {
        if !state.repos.exists(&name) {
            return Err(ApiError::repo_not_found());
        }
        let added_at = state.added_at.snapshot();
        Ok(Json(
            state
                .keys
                .read()?
                .managed(&name)
                .into_iter()
                .map(|k| Key {
                    added_at: added_at(&name, &k.fingerprint),
                    fingerprint: k.fingerprint,
                    comment: k.comment,
                    algo: k.algo,
                    last_used_at: String::new(),
                    append_only: k.append_only,
                })
                .collect(),
        ))
    })
    .await
}

pub async fn add(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: Body,
) -> Result<(StatusCode, Json<AddedKey>), ApiError> {
    let comment = body.opt_str("comment")?;
    let append_only = body.opt_bool("append_only")?;
    // Checked after the repo exists: an unknown repo is 404 before the key is judged.
    let key = NewKey::parse(body.req_str("public_key")?, comment);
    blocking(move || {
        if !state.repos.exists(&name) {
            return Err(ApiError::repo_not_found());
        }
        let key = key?;
        let append_only = state.keys.modify(|keys| {
            key.refuse_present(keys)?;
            // Absent: the new line follows the repo's current append_only.
            let reg = registration(keys, &name);
            let append_only = append_only.unwrap_or(reg.keys > 0 && reg.all_append_only);
            keys.append_line(new_key_line(&state, &name, &key, append_only)?);
            Ok::<_, ApiError>(append_only)
        })?;
        key.record_added(&state, &name);
        let fingerprint = key.fingerprint;
        log::info!(
            message_id = message_id::KEY_ADDED,
            borgbox_repo = name.as_str(),
            borgbox_key = fingerprint.as_str(),
            borgbox_append_only = append_only;
            "added key {fingerprint} to repo {name}"
        );
        Ok((StatusCode::CREATED, Json(AddedKey { fingerprint })))
    })
    .await
}

pub async fn remove(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    Path((_, fingerprint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    blocking(move || {
        if !state.repos.exists(&name) {
            return Err(ApiError::repo_not_found());
        }
        let removed = state
            .keys
            .modify(|keys| Ok::<_, ApiError>(keys.remove_key(&name, &fingerprint)))?;
        if !removed {
            return Err(ApiError::NotFound("key not found".into()));
        }
        let full = if fingerprint.starts_with("SHA256:") {
            fingerprint.clone()
        } else {
            format!("SHA256:{fingerprint}")
        };
        if let Err(e) = state.added_at.forget(&name, Some(&full)) {
            log::warn!("failed to forget the record of key {full} of repo {name}: {e}");
        }
        log::info!(
            message_id = message_id::KEY_REMOVED,
            borgbox_repo = name.as_str(),
            borgbox_key = full.as_str();
            "removed key {full} from repo {name}"
        );
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
