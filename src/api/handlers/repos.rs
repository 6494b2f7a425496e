//! The repo endpoints of API.md section 6, plus archives and break-lock (section 8).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::RepoParam;
use super::super::state::AppState;
use super::super::wire::{ErrorBody, NewRepoBody, Repo, RepoDetailed, RepoUpdateBody};
use crate::borg::output::Archive;
use crate::config::Secret;
use crate::domain;
use crate::model::RepoName;

/// Served from the last answer while neither the listing nor authorized_keys changed:
/// a warm `GET /repos` costs one stat per repo directory.
#[utoipa::path(get, path = "/repos", tag = "repos", operation_id = "list_repos",
    summary = "Every directory under the repo root, by name",
    responses((status = 200, description = "[Repo]", body = Vec<Repo>)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    tokio::task::spawn_blocking(move || {
        let (stamp, listing) = state.domain.list_repos()?;
        let mut cached = state.repo_list.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, body)) = cached.as_ref().filter(|(s, _)| *s == stamp) {
            return Ok(json_response(body.clone()));
        }
        let repos: Vec<Repo> = state
            .domain
            .repo_views(listing)?
            .into_iter()
            .map(Repo::from)
            .collect();
        let body =
            Bytes::from(serde_json::to_vec(&repos).map_err(|e| ApiError::Internal(e.into()))?);
        *cached = Some((stamp, body.clone()));
        Ok(json_response(body))
    })
    .await?
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The body is checked in API.md 6.4's order: shape first (`NewRepoBody`).
#[utoipa::path(post, path = "/repos", tag = "repos", operation_id = "create_repo",
    summary = "Create a repo directory and register its first key",
    request_body = NewRepoBody,
    responses(
        (status = 201, description = "The detailed Repo", body = RepoDetailed),
        (status = 400, description = "Bad body, name, key or quota", body = ErrorBody),
        (status = 409, description = "The name or the key is taken", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    body: NewRepoBody,
) -> Result<(StatusCode, Json<RepoDetailed>), ApiError> {
    let view = state.domain.create_repo(body.into()).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[utoipa::path(post, path = "/repos/import", tag = "repos", operation_id = "import_repo",
    summary = "Register a key for an existing borg repository directory",
    request_body = NewRepoBody,
    responses(
        (status = 201, description = "The detailed Repo", body = RepoDetailed),
        (status = 400, description = "Bad body, name, key or quota, or not a borg repository",
            body = ErrorBody),
        (status = 404, description = "No such directory", body = ErrorBody),
        (status = 409, description = "Already registered, or the key is taken",
            body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    body: NewRepoBody,
) -> Result<(StatusCode, Json<RepoDetailed>), ApiError> {
    let view = state.domain.import_repo(body.into()).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[utoipa::path(get, path = "/repos/{name}", tag = "repos", operation_id = "get_repo",
    summary = "One repo, detailed",
    params(("name" = RepoName, Path)),
    responses(
        (status = 200, description = "The detailed Repo", body = RepoDetailed),
        (status = 404, description = "Unknown repo", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<RepoDetailed>, ApiError> {
    let view = tokio::task::spawn_blocking(move || state.domain.repo_detail(&name)).await??;
    Ok(Json(view.into()))
}

#[utoipa::path(patch, path = "/repos/{name}", tag = "repos", operation_id = "update_repo",
    summary = "Toggle append-only and set the storage quota of every managed line",
    params(("name" = RepoName, Path)),
    request_body(content = Option<RepoUpdateBody>, description = "An empty body is `{}`, \
        which fails the rule that one field must be present"),
    responses(
        (status = 200, description = "The detailed Repo", body = RepoDetailed),
        (status = 400, description = "Bad body, or neither field", body = ErrorBody),
        (status = 404, description = "Unknown repo", body = ErrorBody),
        (status = 409, description = "The repo has no registered key", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: RepoUpdateBody,
) -> Result<Json<RepoDetailed>, ApiError> {
    Ok(Json(
        state.domain.update_repo(&name, body.into()).await?.into(),
    ))
}

#[utoipa::path(delete, path = "/repos/{name}", tag = "repos", operation_id = "delete_repo",
    summary = "Remove the managed lines, the directory, the schedules and the alerts",
    params(("name" = RepoName, Path, example = "old-laptop")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown repo", body = ErrorBody),
        (status = 409, description = "A job of the repo is queued or running",
            body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_repo(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/repos/{name}/archives", tag = "repos",
    operation_id = "list_archives", summary = "`borg list`, oldest first",
    params(
        ("name" = RepoName, Path),
        ("X-Borg-Passphrase" = Option<String>, Header, nullable = false,
            description = "The repo's passphrase for this one call; at most 4096 bytes of \
                UTF-8; empty counts as absent")),
    responses(
        (status = 200, description = "[Archive]", body = Vec<Archive>),
        (status = 400, description = "X-Borg-Passphrase is not UTF-8 or too long",
            body = ErrorBody),
        (status = 404, description = "Unknown repo", body = ErrorBody),
        (status = 409, description = "The repo is not initialized", body = ErrorBody),
        (status = 502, description = "borg failed or timed out", body = ErrorBody)))]
pub async fn archives(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    headers: HeaderMap,
) -> Result<Json<Vec<Archive>>, ApiError> {
    let passphrase = passphrase_header(&headers)?;
    Ok(Json(state.domain.archives(&name, passphrase).await?))
}

/// `X-Borg-Passphrase`, used for one call; present but empty counts as absent.
fn passphrase_header(headers: &HeaderMap) -> Result<Option<Secret>, ApiError> {
    let Some(value) = headers.get("x-borg-passphrase") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| ApiError::bad_request("X-Borg-Passphrase must be UTF-8"))?;
    Ok(domain::passphrase_for_one_call(
        Some(text.to_owned()),
        "X-Borg-Passphrase",
    )?)
}

/// Ignores any body and `X-Borg-Passphrase` (API.md 8.3).
#[utoipa::path(post, path = "/repos/{name}/break-lock", tag = "repos",
    operation_id = "break_lock", summary = "`borg break-lock`",
    params(("name" = RepoName, Path)),
    responses(
        (status = 204, description = "borg broke the lock"),
        (status = 404, description = "Unknown repo", body = ErrorBody),
        (status = 409, description = "Not initialized, or a job of the repo is queued or \
            running", body = ErrorBody),
        (status = 502, description = "borg failed or timed out", body = ErrorBody)))]
pub async fn break_lock(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<StatusCode, ApiError> {
    state.domain.break_lock(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
