//! The SSH key endpoints of API.md 7.5.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use super::super::wire::{AddedKey, Key};
use crate::model::timestamp::Stamp;

pub async fn list(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Vec<Key>>, ApiError> {
    let keys = state.domain.list_keys(&name).await?;
    Ok(Json(
        keys.into_iter()
            .map(|k| Key {
                fingerprint: k.key.fingerprint,
                comment: k.key.comment,
                algo: k.key.algo,
                added_at: k.added_at,
                last_used_at: Stamp::from(k.last_used.as_ref().map(|u| u.at)).to_string(),
                last_used_from: k.last_used.map(|u| u.from).unwrap_or_default(),
                append_only: k.key.append_only,
            })
            .collect(),
    ))
}

pub async fn add(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: Body,
) -> Result<(StatusCode, Json<AddedKey>), ApiError> {
    let comment = body.opt_str("comment")?.map(str::to_owned);
    let append_only = body.opt_bool("append_only")?;
    let public_key = body.req_str("public_key")?.to_owned();
    let fingerprint = state
        .domain
        .add_key(&name, public_key, comment, append_only)
        .await?;
    Ok((StatusCode::CREATED, Json(AddedKey { fingerprint })))
}

pub async fn remove(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    Path((_, fingerprint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.domain.remove_key(&name, fingerprint).await?;
    Ok(StatusCode::NO_CONTENT)
}
