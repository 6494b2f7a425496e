//! The alert endpoints of API.md 12.1 and 12.4. The secret goes in, never out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use super::super::wire::Status;
use crate::alerts::{AlertInput, AlertView, SecretChange};
use crate::domain;
use crate::model::AlertId;

/// An id not of our form is an unknown alert.
fn alert_id(raw: &str) -> Result<AlertId, ApiError> {
    raw.parse()
        .map_err(|_| domain::Error::NotFound("alert").into())
}

/// The five fields of API.md 12.1; `secret` omitted or null keeps, `""` clears.
fn input(body: &Body) -> Result<AlertInput, ApiError> {
    Ok(AlertInput {
        stale_after_hours: body.opt_int("stale_after_hours")?,
        webhook_url: body.opt_str("webhook_url")?.map(str::to_owned),
        enabled: body.opt_bool("enabled")?,
        renotify_hours: body.opt_int("renotify_hours")?,
        secret: match body.opt_str("secret")? {
            None => SecretChange::Keep,
            Some("") => SecretChange::Clear,
            Some(secret) => SecretChange::Set(secret.to_owned()),
        },
    })
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AlertView>>, ApiError> {
    Ok(Json(state.domain.list_alerts(None).await?))
}

pub async fn list_for_repo(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    Ok(Json(state.domain.list_alerts(Some(name)).await?))
}

pub async fn create(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: Body,
) -> Result<(StatusCode, Json<AlertView>), ApiError> {
    let alert = state.domain.create_alert(&name, input(&body)?).await?;
    Ok((StatusCode::CREATED, Json(alert)))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ApiError> {
    Ok(Json(state.domain.get_alert(alert_id(&id)?).await?))
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<AlertView>, ApiError> {
    let id = alert_id(&id)?;
    Ok(Json(state.domain.update_alert(id, input(&body)?).await?))
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_alert(alert_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /alerts/{id}/test ignores any body (API.md 2.4).
pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Status>, ApiError> {
    state.domain.test_alert(alert_id(&id)?).await?;
    Ok(Json(Status { status: "ok" }))
}
