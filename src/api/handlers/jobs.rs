//! Maintenance jobs over HTTP (API.md 9, 10): start, list, show, cancel and stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::mpsc;

use super::super::error::ApiError;
use super::super::extract::{Body, RepoParam};
use super::super::state::AppState;
use super::super::wire::{Job, JobStart, StreamEvent};
use super::blocking;
use crate::config::Secret;
use crate::jobs::backend::Feed;
use crate::jobs::record::{JobRecord, JobStatus, StoreError};
use crate::jobs::spec::{JobKind, JobOptions};
use crate::jobs::JobError;
use crate::model::{JobId, RepoName};

/// Interval of `: ping` comments on an open stream (API.md 10).
const PING: Duration = Duration::from_secs(15);

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Busy { .. } => ApiError::Conflict(err.to_string()),
            StoreError::NotFound => ApiError::NotFound(err.to_string()),
            StoreError::Io(e) => e.into(),
        }
    }
}

impl From<JobError> for ApiError {
    fn from(err: JobError) -> Self {
        use crate::jobs::backend::BackendError;
        match err {
            JobError::Store(e) => e.into(),
            JobError::Finished => ApiError::Conflict(err.to_string()),
            JobError::Backend(BackendError::Unavailable(e)) => {
                ApiError::Unavailable(format!("{e:#}"))
            }
            JobError::Backend(BackendError::Other(e)) => ApiError::Internal(e),
        }
    }
}

pub async fn check(
    state: State<AppState>,
    repo: RepoParam,
    body: Body,
) -> Result<Response, ApiError> {
    let options = JobOptions {
        repair: body.opt_bool("repair")?.unwrap_or(false),
        verify_data: body.opt_bool("verify_data")?.unwrap_or(false),
        ..Default::default()
    };
    start(state, repo, JobKind::Check, options, &body).await
}

pub async fn prune(
    state: State<AppState>,
    repo: RepoParam,
    body: Body,
) -> Result<Response, ApiError> {
    let keep = |key: &str| -> Result<u32, ApiError> {
        match body.opt_int(key)?.unwrap_or(0) {
            n if n < 0 => Err(ApiError::bad_request(format!("{key} must not be negative"))),
            n => u32::try_from(n).map_err(|_| ApiError::bad_request(format!("{key} is too large"))),
        }
    };
    let options = JobOptions {
        keep_daily: keep("keep_daily")?,
        keep_weekly: keep("keep_weekly")?,
        keep_monthly: keep("keep_monthly")?,
        keep_yearly: keep("keep_yearly")?,
        dry_run: body.opt_bool("dry_run")?.unwrap_or(false),
        ..Default::default()
    };
    if options.keep_daily + options.keep_weekly + options.keep_monthly + options.keep_yearly == 0 {
        return Err(ApiError::bad_request("at least one of keep_daily, keep_weekly, keep_monthly, keep_yearly must be greater than 0"));
    }
    start(state, repo, JobKind::Prune, options, &body).await
}

pub async fn compact(
    state: State<AppState>,
    repo: RepoParam,
    body: Body,
) -> Result<Response, ApiError> {
    start(state, repo, JobKind::Compact, JobOptions::default(), &body).await
}

async fn start(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    kind: JobKind,
    options: JobOptions,
    body: &Body,
) -> Result<Response, ApiError> {
    let passphrase = match body.opt_str("passphrase")? {
        Some(p) if p.len() > crate::borg::MAX_PASSPHRASE => {
            return Err(ApiError::bad_request("passphrase is too long"))
        }
        Some("") | None => None,
        Some(p) => Some(Secret::new(p.to_owned())),
    };
    require_initialized(&state, &repo).await?;
    let record = state.jobs.start(repo, kind, options, passphrase).await?;
    log::info!(
        message_id = crate::logging::message_id::JOB_STARTED,
        borgbox_job_id = record.id.as_str(),
        borgbox_repo = record.repo.as_str(),
        borgbox_kind = kind.as_str();
        "started {} job {} on repo {}", kind.as_str(), record.id, record.repo
    );
    let status = if record.status == JobStatus::Queued {
        "queued"
    } else {
        "running"
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(JobStart {
            job_id: record.id.to_string(),
            status,
        }),
    )
        .into_response())
}

async fn require_initialized(state: &AppState, repo: &RepoName) -> Result<(), ApiError> {
    let (state, repo) = (state.clone(), repo.clone());
    blocking(move || {
        let facts = state
            .repos
            .facts(&repo, state.clock.now())
            .ok_or_else(ApiError::repo_not_found)?;
        if facts.initialized {
            Ok(())
        } else {
            Err(ApiError::Conflict("repo is not initialized".into()))
        }
    })
    .await
}

fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse().map_err(|_| StoreError::NotFound.into())
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Job>>, ApiError> {
    let jobs = state.jobs.list().await?;
    Ok(Json(
        jobs.into_iter()
            .map(|(record, tail)| Job::new(&record, tail))
            .collect(),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
    let id = job_id(&id)?;
    let (record, tail) = state.jobs.get(&id).await?.ok_or(StoreError::NotFound)?;
    Ok(Json(Job::new(&record, tail)))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let id = job_id(&id)?;
    let (record, tail) = state.jobs.cancel(&id).await?;
    log::info!(
        message_id = crate::logging::message_id::JOB_CANCELLED,
        borgbox_job_id = record.id.as_str(),
        borgbox_repo = record.repo.as_str();
        "cancel of job {} on repo {} requested", record.id, record.repo
    );
    Ok((StatusCode::ACCEPTED, Json(Job::new(&record, tail))))
}

/// GET /jobs/{id}/stream: replay, live lines, then `status` and `end`, then close.
pub async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let (record, follow) = state.jobs.follow(&id).await?.ok_or(StoreError::NotFound)?;
    let (tx, rx) = mpsc::channel::<Event>(64);
    // An open stream is activity: borgbox must not idle-exit under it.
    let busy = state.activity.busy();
    tokio::spawn(async move {
        let _busy = busy;
        let _ = produce(&state, record, follow, &tx).await;
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), rx))
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(PING).text("ping"))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        "cache-control",
        axum::http::HeaderValue::from_static("no-cache"),
    );
    headers.insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    // The GUI stops reading only when the connection closes (API.md 10, 14).
    headers.insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    Ok(response)
}

/// Errors only when the subscriber went away.
async fn produce(
    state: &AppState,
    record: JobRecord,
    follow: crate::jobs::backend::Follow,
    tx: &mpsc::Sender<Event>,
) -> Result<(), mpsc::error::SendError<Event>> {
    for line in follow.replay {
        tx.send(event(StreamEvent::log(line))).await?;
    }
    let mut record = record;
    if !record.status.is_final() {
        if let Some(mut live) = follow.live {
            loop {
                tokio::select! {
                    item = live.recv() => match item {
                        Some(Feed::Line(line)) => tx.send(event(StreamEvent::log(line))).await?,
                        Some(Feed::Skipped(n)) => tx.send(event(StreamEvent::log(format!("borgbox: {n} lines skipped")))).await?,
                        None => break,
                    },
                    _ = tx.closed() => return Ok(()),
                }
            }
        }
        record = tokio::select! {
            record = state.jobs.wait_final(&record.id) => match record {
                Some(record) => record,
                None => return Ok(()),
            },
            _ = tx.closed() => return Ok(()),
        };
    }
    tx.send(event(StreamEvent::status("status", &record)))
        .await?;
    tx.send(event(StreamEvent::status("end", &record))).await?;
    Ok(())
}

fn event(data: StreamEvent) -> Event {
    let json = serde_json::to_string(&data).unwrap_or_default();
    Event::default().event(data.kind).data(json)
}
