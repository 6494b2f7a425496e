//! The schedule endpoints of API.md 11.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{IdParam, RepoParam};
use super::super::state::AppState;
use super::super::wire::{ErrorBody, NewScheduleBody, ScheduleUpdateBody};
use crate::model::{RepoName, ScheduleId};
use crate::schedules::Schedule;

#[utoipa::path(get, path = "/schedules", tag = "schedules", operation_id = "list_schedules",
    summary = "Every schedule, oldest first",
    responses((status = 200, description = "[Schedule]", body = Vec<Schedule>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.domain.list_schedules(None).await?))
}

#[utoipa::path(get, path = "/repos/{name}/schedules", tag = "schedules",
    operation_id = "list_repo_schedules", summary = "The repo's schedules, oldest first",
    params(("name" = RepoName, Path)),
    responses(
        (status = 200, description = "[Schedule]", body = Vec<Schedule>),
        (status = 404, description = "Unknown repo", body = ErrorBody)))]
pub async fn list_for_repo(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.domain.list_schedules(Some(name)).await?))
}

/// The seven fields of API.md 11.2; `id`, `repo`, `created_at`, the `last_*` fields and
/// `next_run` are ignored.
#[utoipa::path(post, path = "/repos/{name}/schedules", tag = "schedules",
    operation_id = "create_schedule", summary = "Schedule a passphrase-free check or compact",
    params(("name" = RepoName, Path)),
    request_body = NewScheduleBody,
    responses(
        (status = 201, description = "The new Schedule", body = Schedule, links(
            ("get" = (operation_id = "get_schedule",
                parameters(("id" = "$response.body#/id")))),
            ("update" = (operation_id = "update_schedule",
                parameters(("id" = "$response.body#/id")))),
            ("delete" = (operation_id = "delete_schedule",
                parameters(("id" = "$response.body#/id")))))),
        (status = 400, description = "Bad body or field", body = ErrorBody),
        (status = 404, description = "Unknown repo", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: NewScheduleBody,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let schedule = state.domain.create_schedule(&name, body.into()).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

#[utoipa::path(get, path = "/schedules/{id}", tag = "schedules", operation_id = "get_schedule",
    summary = "One schedule",
    params(("id" = ScheduleId, Path)),
    responses(
        (status = 200, description = "Schedule", body = Schedule),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    id: IdParam<ScheduleId>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.domain.get_schedule(id.get()?).await?))
}

#[utoipa::path(patch, path = "/schedules/{id}", tag = "schedules",
    operation_id = "update_schedule", summary = "Partial update, validated after merging",
    params(("id" = ScheduleId, Path)),
    request_body(content = Option<ScheduleUpdateBody>, description = "An empty body is `{}`"),
    responses(
        (status = 200, description = "The merged Schedule", body = Schedule),
        (status = 400, description = "Bad body or merged field", body = ErrorBody),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    id: IdParam<ScheduleId>,
    body: ScheduleUpdateBody,
) -> Result<Json<Schedule>, ApiError> {
    let id = id.get()?;
    Ok(Json(state.domain.update_schedule(id, body.into()).await?))
}

#[utoipa::path(delete, path = "/schedules/{id}", tag = "schedules",
    operation_id = "delete_schedule", summary = "Delete a schedule and its timer",
    params(("id" = ScheduleId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    id: IdParam<ScheduleId>,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_schedule(id.get()?).await?;
    Ok(StatusCode::NO_CONTENT)
}
