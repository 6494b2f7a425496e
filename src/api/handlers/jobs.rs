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
use crate::domain::{self, JobRequest, Origin};
use crate::jobs::backend::Feed;
use crate::jobs::record::{JobRecord, JobStatus};
use crate::model::{JobId, RepoName};

/// Interval of `: ping` comments on an open stream (API.md 10).
const PING: Duration = Duration::from_secs(15);

pub async fn check(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    body: Body,
) -> Result<Response, ApiError> {
    let request = JobRequest::check(
        body.opt_bool("repair")?.unwrap_or(false),
        body.opt_bool("verify_data")?.unwrap_or(false),
        passphrase(&body)?,
    )?;
    start(state, repo, request).await
}

pub async fn prune(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    body: Body,
) -> Result<Response, ApiError> {
    let keep = [
        body.opt_int("keep_daily")?,
        body.opt_int("keep_weekly")?,
        body.opt_int("keep_monthly")?,
        body.opt_int("keep_yearly")?,
    ];
    let dry_run = body.opt_bool("dry_run")?.unwrap_or(false);
    let request = JobRequest::prune(keep, dry_run, passphrase(&body)?)?;
    start(state, repo, request).await
}

pub async fn compact(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    body: Body,
) -> Result<Response, ApiError> {
    let request = JobRequest::compact(passphrase(&body)?)?;
    start(state, repo, request).await
}

fn passphrase(body: &Body) -> Result<Option<String>, ApiError> {
    Ok(body.opt_str("passphrase")?.map(str::to_owned))
}

async fn start(state: AppState, repo: RepoName, request: JobRequest) -> Result<Response, ApiError> {
    let record = state
        .domain
        .start_job(&repo, request, Origin::Client)
        .await?;
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

/// An id not of our form is an unknown job (it never reaches a path).
fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse()
        .map_err(|_| domain::Error::NotFound("job").into())
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Job>>, ApiError> {
    let jobs = state
        .domain
        .jobs
        .list()
        .await
        .map_err(domain::Error::from)?;
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
    let (record, tail) = state
        .domain
        .jobs
        .get(&id)
        .await
        .map_err(domain::Error::from)?
        .ok_or(domain::Error::NotFound("job"))?;
    Ok(Json(Job::new(&record, tail)))
}

pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let id = job_id(&id)?;
    let (record, tail) = state.domain.cancel_job(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(Job::new(&record, tail))))
}

/// GET /jobs/{id}/stream: replay, live lines, then `status` and `end`, then close.
pub async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let (record, follow) = state
        .domain
        .jobs
        .follow(&id)
        .await
        .map_err(domain::Error::from)?
        .ok_or(domain::Error::NotFound("job"))?;
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
            record = state.domain.jobs.wait_final(&record.id) => match record {
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
