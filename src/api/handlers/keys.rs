//! The SSH key endpoints of API.md 7.5.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::RepoParam;
use super::super::state::AppState;
use super::super::wire::{AddedKey, ErrorBody, Key, NewKeyBody};
use crate::model::timestamp::Stamp;
use crate::model::RepoName;

#[utoipa::path(get, path = "/repos/{name}/keys", tag = "keys", operation_id = "list_keys",
    summary = "The repo's managed lines, in file order",
    params(("name" = RepoName, Path)),
    responses(
        (status = 200, description = "[Key]", body = Vec<Key>),
        (status = 404, description = "Unknown repo", body = ErrorBody)))]
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
                restricted: k.key.restricted,
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/repos/{name}/keys", tag = "keys", operation_id = "add_key",
    summary = "Append a managed line (registers an unregistered repo)",
    params(("name" = RepoName, Path)),
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "The new key's fingerprint", body = AddedKey, links(
            ("delete" = (operation_id = "delete_key", parameters(
                ("name" = "$request.path.name"),
                ("fingerprint" = "$response.body#/fingerprint")))))),
        (status = 400, description = "Bad body or key", body = ErrorBody),
        (status = 404, description = "Unknown repo", body = ErrorBody),
        (status = 409, description = "The key blob is already in authorized_keys",
            body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: NewKeyBody,
) -> Result<(StatusCode, Json<AddedKey>), ApiError> {
    let fingerprint = state
        .domain
        .add_key(&name, body.public_key, body.comment, body.append_only)
        .await?;
    Ok((StatusCode::CREATED, Json(AddedKey { fingerprint })))
}

/// `{fingerprint}` is the rest of the path, slashes included (API.md 2.8); the router's
/// `{*fingerprint}` is the document's `{fingerprint}`.
#[utoipa::path(delete, path = "/repos/{name}/keys/{*fingerprint}", tag = "keys",
    operation_id = "delete_key", summary = "Remove one managed line",
    params(
        ("name" = RepoName, Path),
        ("fingerprint" = String, Path, description = "The key's fingerprint, with or without \
            `SHA256:`; `/` may be sent as is or as `%2F`",
            example = "SHA256:CEve5S39i2c3PhAguVks/EeEM+2AbQWm87oIE9IWGYY")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "Unknown repo or key", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    Path((_, fingerprint)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.domain.remove_key(&name, fingerprint).await?;
    Ok(StatusCode::NO_CONTENT)
}
