//! The schedule endpoints of API.md 11.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use crate::domain;
use crate::model::ScheduleId;
use crate::schedules::{Schedule, ScheduleInput};

/// An id not of our form is an unknown schedule: it never reaches a unit name or a path.
fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    raw.parse()
        .map_err(|_| domain::Error::NotFound("schedule").into())
}

/// The seven fields of API.md 11.2, each of its JSON type; `id`, `repo`, `created_at`,
/// the `last_*` fields and `next_run` are ignored.
fn input(body: &Body) -> Result<ScheduleInput, ApiError> {
    Ok(ScheduleInput {
        kind: body.opt_str("kind")?.map(str::to_owned),
        cadence: body.opt_str("cadence")?.map(str::to_owned),
        hour: body.opt_int("hour")?,
        minute: body.opt_int("minute")?,
        weekday: body.opt_int_saturating("weekday")?,
        day: body.opt_int_saturating("day")?,
        enabled: body.opt_bool("enabled")?,
    })
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.domain.list_schedules(None).await?))
}

pub async fn list_for_repo(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(state.domain.list_schedules(Some(name)).await?))
}

pub async fn create(
    State(state): State<AppState>,
    RepoParam(name): RepoParam,
    body: Body,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let schedule = state.domain.create_schedule(&name, input(&body)?).await?;
    Ok((StatusCode::CREATED, Json(schedule)))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(state.domain.get_schedule(schedule_id(&id)?).await?))
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Schedule>, ApiError> {
    let id = schedule_id(&id)?;
    Ok(Json(state.domain.update_schedule(id, input(&body)?).await?))
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.domain.delete_schedule(schedule_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
