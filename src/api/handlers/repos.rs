//! The repo endpoints of API.md section 6, plus archives and break-lock (section 8).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use super::super::wire::Repo;
use crate::borg::{self, output::Archive};
use crate::config::Secret;
use crate::domain::{NewRepo, RepoUpdate};

/// Served from the last answer while neither the listing nor authorized_keys changed:
/// a warm `GET /repos` costs one stat per repo directory.
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

/// The body of create and import, checked in API.md 6.4's order: shape first.
fn new_repo(body: &Body) -> Result<NewRepo, ApiError> {
    Ok(NewRepo {
        name: body.req_str("name")?.to_owned(),
        pubkey: body.req_str("pubkey")?.to_owned(),
        append_only: body.opt_bool("append_only")?.unwrap_or(false),
        storage_quota_bytes: body.opt_int("storage_quota_bytes")?,
    })
}

pub async fn create(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Repo>), ApiError> {
    let view = state.domain.create_repo(new_repo(&body)?).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

pub async fn import(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<Repo>), ApiError> {
    let view = state.domain.import_repo(new_repo(&body)?).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

pub async fn show(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Repo>, ApiError> {
    let view = tokio::task::spawn_blocking(move || state.domain.repo_detail(&name)).await??;
    Ok(Json(view.into()))
}

pub async fn update(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: Body,
) -> Result<Json<Repo>, ApiError> {
    let update = RepoUpdate {
        append_only: body.opt_bool("append_only")?,
        storage_quota_bytes: body.opt_int("storage_quota_bytes")?,
    };
    Ok(Json(state.domain.update_repo(&name, update).await?.into()))
}

pub async fn remove(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_repo(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

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
    if text.len() > borg::MAX_PASSPHRASE {
        return Err(ApiError::bad_request("X-Borg-Passphrase is too long"));
    }
    Ok((!text.is_empty()).then(|| Secret::new(text.to_owned())))
}

pub async fn break_lock(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<StatusCode, ApiError> {
    state.domain.break_lock(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
