//! The alert endpoints of API.md 12.1 and 12.4. The secret goes in, never out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{IdParam, RepoParam};
use super::super::state::AppState;
use super::super::wire::{AlertUpdateBody, AlertView, ErrorBody, NewAlertBody, Status};
use crate::model::{AlertId, RepoName};

#[utoipa::path(get, path = "/alerts", tag = "alerts", operation_id = "list_alerts",
    summary = "Every alert, oldest first",
    responses((status = 200, description = "[Alert]", body = Vec<AlertView>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<AlertView>>, ApiError> {
    let alerts = state.domain.list_alerts(None).await?;
    Ok(Json(alerts.iter().map(AlertView::of).collect()))
}

#[utoipa::path(get, path = "/repos/{name}/alerts", tag = "alerts",
    operation_id = "list_repo_alerts", summary = "The repo's alerts, oldest first",
    params(("name" = RepoName, Path)),
    responses(
        (status = 200, description = "[Alert]", body = Vec<AlertView>),
        (status = 404, description = "Unknown repo", body = ErrorBody)))]
pub async fn list_for_repo(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let alerts = state.domain.list_alerts(Some(name)).await?;
    Ok(Json(alerts.iter().map(AlertView::of).collect()))
}

/// The five fields of API.md 12.1; `secret` omitted or null keeps, `""` clears.
#[utoipa::path(post, path = "/repos/{name}/alerts", tag = "alerts", operation_id = "create_alert",
    summary = "Watch the repo's last write and call a webhook when it goes stale",
    params(("name" = RepoName, Path)),
    request_body = NewAlertBody,
    responses(
        (status = 201, description = "The new Alert", body = AlertView, links(
            ("get" = (operation_id = "get_alert", parameters(("id" = "$response.body#/id")))),
            ("update" = (operation_id = "update_alert",
                parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_alert",
                parameters(("id" = "$response.body#/id")))),
            ("test" = (operation_id = "test_alert",
                parameters(("id" = "$response.body#/id")))))),
        (status = 400, description = "Bad body or field", body = ErrorBody),
        (status = 404, description = "Unknown repo", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: NewAlertBody,
) -> Result<(StatusCode, Json<AlertView>), ApiError> {
    let alert = state.domain.create_alert(&name, body.into()).await?;
    Ok((StatusCode::CREATED, Json(AlertView::of(&alert))))
}

#[utoipa::path(get, path = "/alerts/{id}", tag = "alerts", operation_id = "get_alert",
    summary = "One alert",
    params(("id" = AlertId, Path)),
    responses(
        (status = 200, description = "Alert", body = AlertView),
        (status = 404, description = "Unknown alert", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    id: IdParam<AlertId>,
) -> Result<Json<AlertView>, ApiError> {
    let alert = state.domain.get_alert(id.get()?).await?;
    Ok(Json(AlertView::of(&alert)))
}

#[utoipa::path(patch, path = "/alerts/{id}", tag = "alerts", operation_id = "update_alert",
    summary = "Partial update, validated after merging; keeps the monitor state",
    params(("id" = AlertId, Path)),
    request_body(content = Option<AlertUpdateBody>, description = "An empty body is `{}`"),
    responses(
        (status = 200, description = "The merged Alert", body = AlertView),
        (status = 400, description = "Bad body or merged field", body = ErrorBody),
        (status = 404, description = "Unknown alert", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    id: IdParam<AlertId>,
    body: AlertUpdateBody,
) -> Result<Json<AlertView>, ApiError> {
    let id = id.get()?;
    let alert = state.domain.update_alert(id, body.into()).await?;
    Ok(Json(AlertView::of(&alert)))
}

#[utoipa::path(delete, path = "/alerts/{id}", tag = "alerts", operation_id = "delete_alert",
    summary = "Delete an alert",
    params(("id" = AlertId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown alert", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    id: IdParam<AlertId>,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_alert(id.get()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /alerts/{id}/test ignores any body (API.md 2.4).
#[utoipa::path(post, path = "/alerts/{id}/test", tag = "alerts", operation_id = "test_alert",
    summary = "One `test` delivery, one attempt, also for a disabled alert",
    params(("id" = AlertId, Path)),
    responses(
        (status = 200, description = "The webhook answered 2xx", body = Status),
        (status = 404, description = "Unknown alert", body = ErrorBody),
        (status = 502, description = "The delivery failed", body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    id: IdParam<AlertId>,
) -> Result<Json<Status>, ApiError> {
    state.domain.test_alert(id.get()?).await?;
    Ok(Json(Status { status: "ok" }))
}
