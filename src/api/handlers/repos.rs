//! The repo endpoints of API.md section 6, plus archives and break-lock (section 8).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use super::super::wire::{Registration, Repo};
use super::blocking;
use super::keys::{new_key_line, registration, NewKey};
use crate::borg::{self, output::Archive};
use crate::config::Secret;
use crate::keys::AuthorizedKeys;
use crate::logging::message_id;
use crate::model::RepoName;

/// Served from the last answer while neither the listing nor authorized_keys changed:
/// a warm `GET /repos` costs one stat per repo directory.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    blocking(move || {
        let keys_stamp = state.keys.stamp()?;
        let listing = state.repos.list(state.clock.now())?;
        let stamp = (listing.generation, keys_stamp);
        let mut cached = state.repo_list.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, body)) = cached.as_ref().filter(|(s, _)| *s == stamp) {
            return Ok(json_response(body.clone()));
        }
        let summary = state.keys.read()?.summary();
        let repos: Vec<Repo> = listing
            .repos
            .into_iter()
            .map(|r| {
                let reg = summary
                    .get(&r.name)
                    .map_or(Registration::default(), |k| Registration {
                        keys: k.keys,
                        all_append_only: k.all_append_only,
                    });
                let ssh_url = state.settings.ssh_url(&r.path);
                Repo::new(r.name, r.path.display().to_string(), ssh_url, &r.facts, reg)
            })
            .collect();
        let body =
            Bytes::from(serde_json::to_vec(&repos).map_err(|e| ApiError::Internal(e.into()))?);
        *cached = Some((stamp, body.clone()));
        Ok(json_response(body))
    })
    .await
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The detailed Repo every single-repo endpoint answers with.
fn detailed(state: &AppState, name: &RepoName, keys: &AuthorizedKeys) -> Result<Repo, ApiError> {
    let facts = state
        .repos
        .facts(name, state.clock.now())
        .ok_or_else(ApiError::repo_not_found)?;
    let reg = registration(keys, name);
    let path = state.repos.path(name);
    let details = state.repos.details(name, &state.settings.state_dir);
    Ok(Repo::new(
        name.to_string(),
        path.display().to_string(),
        state.settings.ssh_url(&path),
        &facts,
        reg,
    )
    .with_details(&details, reg))
}

pub async fn create(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Repo>), ApiError> {
    let (name, key, append_only) = registration_body(&body)?;
    blocking(move || {
        let path = state.repos.path(&name);
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(ApiError::Conflict("repo already exists".into()));
        }
        let line = new_key_line(&state, &name, &key, append_only)?;
        let mut created = false;
        let written = state.keys.modify(|keys| {
            refuse_registered(keys, &name)?;
            key.refuse_present(keys)?;
            state.repos.create(&name)?;
            created = true;
            keys.append_line(line);
            Ok::<_, ApiError>(())
        });
        if let Err(err) = written {
            if created {
                let _ = std::fs::remove_dir(&path);
            }
            return Err(err);
        }
        key.record_added(&state, &name);
        log::info!(
            message_id = message_id::REPO_CREATED,
            borgbox_repo = name.as_str(),
            borgbox_key = key.fingerprint.as_str(),
            borgbox_append_only = append_only;
            "created repo {name} with key {}", key.fingerprint
        );
        let keys = state.keys.read()?;
        Ok((StatusCode::CREATED, Json(detailed(&state, &name, &keys)?)))
    })
    .await
}

pub async fn import(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Repo>), ApiError> {
    let (name, key, append_only) = registration_body(&body)?;
    blocking(move || {
        if !state.repos.exists(&name) {
            return Err(ApiError::repo_not_found());
        }
        if !state.repos.path(&name).join("config").is_file() {
            return Err(ApiError::bad_request(
                "directory is not a borg repository (no config file)",
            ));
        }
        let line = new_key_line(&state, &name, &key, append_only)?;
        state.keys.modify(|keys| {
            refuse_registered(keys, &name)?;
            key.refuse_present(keys)?;
            keys.append_line(line);
            Ok::<_, ApiError>(())
        })?;
        key.record_added(&state, &name);
        log::info!(
            message_id = message_id::REPO_IMPORTED,
            borgbox_repo = name.as_str(),
            borgbox_key = key.fingerprint.as_str(),
            borgbox_append_only = append_only;
            "imported repo {name} with key {}", key.fingerprint
        );
        let keys = state.keys.read()?;
        Ok((StatusCode::CREATED, Json(detailed(&state, &name, &keys)?)))
    })
    .await
}

/// The body of create and import, checked in API.md 6.4's order: shape, name, key.
fn registration_body(body: &Body) -> Result<(RepoName, NewKey, bool), ApiError> {
    let (name, pubkey) = (body.req_str("name")?, body.req_str("pubkey")?);
    let append_only = body.opt_bool("append_only")?.unwrap_or(false);
    let name = name
        .parse()
        .map_err(|_| ApiError::bad_request("invalid repo name"))?;
    Ok((name, NewKey::parse(pubkey, None)?, append_only))
}

fn refuse_registered(keys: &AuthorizedKeys, name: &RepoName) -> Result<(), ApiError> {
    if keys.managed(name).is_empty() {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "repo {name} is already registered"
        )))
    }
}

pub async fn show(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Repo>, ApiError> {
    blocking(move || {
        let keys = state.keys.read()?;
        Ok(Json(detailed(&state, &name, &keys)?))
    })
    .await
}

pub async fn set_append_only(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: Body,
) -> Result<Json<Repo>, ApiError> {
    let append_only = body.req_bool("append_only")?;
    blocking(move || {
        if !state.repos.exists(&name) {
            return Err(ApiError::repo_not_found());
        }
        let path = state.repos.path(&name);
        let changed = state.keys.modify(|keys| {
            if keys.managed(&name).is_empty() {
                return Err(ApiError::Conflict("repo has no registered key".into()));
            }
            keys.set_append_only(&name, append_only, &state.settings.borg, &path)
                .map_err(|e| ApiError::Internal(e.into()))
        })?;
        if changed > 0 {
            log::info!(
                message_id = message_id::APPEND_ONLY_CHANGED,
                borgbox_repo = name.as_str(),
                borgbox_append_only = append_only;
                "set append-only to {append_only} on repo {name}"
            );
        }
        let keys = state.keys.read()?;
        Ok(Json(detailed(&state, &name, &keys)?))
    })
    .await
}

/// 409 while a job of the repo is queued or running (API.md 6.8, 8.3).
async fn refuse_busy(state: &AppState, name: &RepoName) -> Result<(), ApiError> {
    match state.jobs.running_on(name).await? {
        Some(id) => Err(ApiError::Conflict(format!(
            "a job is already running on repo {name} ({id})"
        ))),
        None => Ok(()),
    }
}

pub async fn remove(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<StatusCode, ApiError> {
    refuse_busy(&state, &name).await?;
    blocking(move || {
        let exists = state.repos.exists(&name);
        let removed = state.keys.modify(|keys| {
            if !exists && keys.managed(&name).is_empty() {
                return Err(ApiError::repo_not_found());
            }
            Ok::<_, ApiError>(keys.remove_repo(&name))
        })?;
        if let Err(e) = state.added_at.forget(&name, None) {
            log::warn!("failed to forget key records of repo {name}: {e}");
        }
        if exists {
            state.repos.delete(&name)?;
        }
        log::info!(
            message_id = message_id::REPO_DELETED,
            borgbox_repo = name.as_str();
            "deleted repo {name} ({removed} key lines removed)"
        );
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// 404 unless the repo exists, 409 unless it holds a borg repository.
fn require_initialized(state: &AppState, name: &RepoName) -> Result<std::path::PathBuf, ApiError> {
    let facts = state
        .repos
        .facts(name, state.clock.now())
        .ok_or_else(ApiError::repo_not_found)?;
    if !facts.initialized {
        return Err(ApiError::Conflict("repo is not initialized".into()));
    }
    Ok(state.repos.path(name))
}

pub async fn archives(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    headers: HeaderMap,
) -> Result<Json<Vec<Archive>>, ApiError> {
    let passphrase = passphrase_header(&headers)?;
    let path = {
        let state = state.clone();
        blocking(move || require_initialized(&state, &name)).await?
    };
    let output = state
        .borg
        .run(
            &borg::list_archives(&path),
            passphrase.as_ref(),
            borg::LIST_TIMEOUT,
        )
        .await?;
    let archives = borg::output::parse_archive_list(&output.stdout)
        .map_err(|e| ApiError::BadGateway(e.to_string()))?;
    Ok(Json(archives))
}

/// `X-Borg-Passphrase`, used for one call; present but empty counts as absent.
fn passphrase_header(headers: &HeaderMap) -> Result<Option<Secret>, ApiError> {
    let Some(value) = headers.get("x-borg-passphrase") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| ApiError::bad_request("X-Borg-Passphrase must be UTF-8"))?;
    if text.len() > borg::MAX_PASSPHRASE {
        return Err(ApiError::bad_request("X-Borg-Passphrase is too long"));
    }
    Ok((!text.is_empty()).then(|| Secret::new(text.to_owned())))
}

pub async fn break_lock(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<StatusCode, ApiError> {
    let path = {
        let state = state.clone();
        let name = name.clone();
        blocking(move || require_initialized(&state, &name)).await?
    };
    refuse_busy(&state, &name).await?;
    state
        .borg
        .run(&borg::break_lock(&path), None, borg::BREAK_LOCK_TIMEOUT)
        .await?;
    log::info!(message_id = message_id::LOCK_BROKEN, borgbox_repo = name.as_str(); "broke the lock of repo {name}");
    Ok(StatusCode::NO_CONTENT)
}
