//! Maintenance jobs over HTTP (API.md 9, 10): start, list, show, cancel and stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use tokio::sync::mpsc;

use super::super::error::ApiError;
use super::super::extract::{IdParam, RepoParam};
use super::super::state::AppState;
use super::super::wire::{
    CheckBody, CompactBody, ErrorBody, Job, JobStart, PruneBody, StreamEvent, StreamItem,
};
use crate::domain::{JobRequest, Origin};
use crate::jobs::backend::Feed;
use crate::jobs::record::{JobRecord, JobStatus};
use crate::model::{JobId, RepoName};

/// Interval of `: ping` comments on an open stream (API.md 10).
const PING: Duration = Duration::from_secs(15);

/// The three job starts answer alike (API.md 9.1): 202 with links to the job, 400 (whose
/// description differs), 404 and 409. One block of annotations for the three.
macro_rules! start_job {
    (path = $path:tt, operation_id = $op:tt, summary = $summary:tt, body = $body:ident,
     body_description = $body_desc:tt, bad_body = $bad:tt, $($item:tt)*) => {
        #[utoipa::path(post, path = $path, tag = "jobs", operation_id = $op, summary = $summary,
            params(("name" = RepoName, Path)),
            request_body(content = Option<$body>, description = $body_desc),
            responses(
                (status = 202, description = "The job was accepted", body = JobStart, links(
                    ("get" = (operation_id = "get_job",
                        parameters(("id" = "$response.body#/job_id")))),
                    ("stream" = (operation_id = "stream_job",
                        parameters(("id" = "$response.body#/job_id")))),
                    ("cancel" = (operation_id = "cancel_job",
                        parameters(("id" = "$response.body#/job_id")))))),
                (status = 400, description = $bad, body = ErrorBody),
                (status = 404, description = "Unknown repo", body = ErrorBody),
                (status = 409, description = "Not initialized, or a job of the repo is already \
                    queued or running", body = ErrorBody)))]
        $($item)*
    };
}

start_job! {
    path = "/repos/{name}/check", operation_id = "start_check",
    summary = "Start `borg check`", body = CheckBody,
    body_description = "An empty body is `{}`",
    bad_body = "Bad body",
pub async fn check(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    body: CheckBody,
) -> Result<Response, ApiError> {
    let request = JobRequest::check(
        body.repair.unwrap_or(false),
        body.verify_data.unwrap_or(false),
        body.passphrase,
    )?;
    start(state, repo, request).await
}
}

start_job! {
    path = "/repos/{name}/prune", operation_id = "start_prune",
    summary = "Start `borg prune` (never compacts)", body = PruneBody,
    body_description = "An empty body is `{}`, which \
        fails the rule that one `keep_*` must be above 0",
    bad_body = "Bad body, or no `keep_*` above 0",
pub async fn prune(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    body: PruneBody,
) -> Result<Response, ApiError> {
    let keep = [
        body.keep_daily,
        body.keep_weekly,
        body.keep_monthly,
        body.keep_yearly,
    ];
    let dry_run = body.dry_run.unwrap_or(false);
    let request = JobRequest::prune(keep, dry_run, body.passphrase)?;
    start(state, repo, request).await
}
}

start_job! {
    path = "/repos/{name}/compact", operation_id = "start_compact",
    summary = "Start `borg compact`", body = CompactBody,
    body_description = "An empty body is `{}`",
    bad_body = "Bad body",
pub async fn compact(
    State(state): State<AppState>,
    RepoParam(repo): RepoParam,
    body: CompactBody,
) -> Result<Response, ApiError> {
    let request = JobRequest::compact(body.passphrase)?;
    start(state, repo, request).await
}
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

#[utoipa::path(get, path = "/jobs", tag = "jobs", operation_id = "list_jobs",
    summary = "Every retained job, newest first",
    responses((status = 200, description = "[Job]", body = Vec<Job>)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Job>>, ApiError> {
    let jobs = state.domain.list_jobs().await?;
    Ok(Json(
        jobs.into_iter()
            .map(|(record, tail)| Job::new(&record, tail))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", operation_id = "get_job",
    summary = "One job",
    params(("id" = JobId, Path)),
    responses(
        (status = 200, description = "Job", body = Job),
        (status = 404, description = "Unknown job", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    id: IdParam<JobId>,
) -> Result<Json<Job>, ApiError> {
    let id = id.get()?;
    let (record, tail) = state.domain.job(&id).await?;
    Ok(Json(Job::new(&record, tail)))
}

#[utoipa::path(delete, path = "/jobs/{id}", tag = "jobs", operation_id = "cancel_job",
    summary = "Cancel a queued or running job (SIGINT to borg)",
    params(("id" = JobId, Path)),
    responses(
        (status = 202, description = "The job as it is now, possibly still running",
            body = Job),
        (status = 404, description = "Unknown job", body = ErrorBody),
        (status = 409, description = "The job has already finished", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    id: IdParam<JobId>,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let id = id.get()?;
    let (record, tail) = state.domain.cancel_job(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(Job::new(&record, tail))))
}

/// GET /jobs/{id}/stream: replay, live lines, then `status` and `end`, then close.
#[utoipa::path(get, path = "/jobs/{id}/stream", tag = "jobs", operation_id = "stream_job",
    summary = "The job's output as Server-Sent Events (API.md 10)",
    params(("id" = JobId, Path)),
    responses(
        (status = 200, description = "Server-Sent Events: the log replayed, then live lines, \
            then `status` and `end`, after which the server closes the connection; a `: ping` \
            comment every 15 s",
            content_type = "text/event-stream", body = StreamItem,
            headers(
                ("Cache-Control" = String, description = "`no-cache`"),
                ("X-Accel-Buffering" = String, description = "`no`"))),
        (status = 404, description = "Unknown job", body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    id: IdParam<JobId>,
) -> Result<Response, ApiError> {
    let id = id.get()?;
    let (record, follow) = state.domain.follow_job(&id).await?;
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
            record = state.domain.job_final(&record.id) => match record {
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
