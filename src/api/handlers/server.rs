//! GET /health, /openapi.json, /info, /system/stats, /sessions and /metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::super::error::ApiError;
use super::super::state::AppState;
use super::super::wire::{Info, Session, Status, Storage, SystemStats, TlsInfo};
use crate::model::timestamp::{format_opt, format_utc};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Touches neither borg nor the disk.
#[utoipa::path(get, path = "/health", tag = "server", operation_id = "health",
    summary = "Liveness; needs no token",
    responses((status = 200, description = "borgbox answers", body = Status)))]
pub async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// API.md 16.5: this document, made once per process from the handlers' annotations.
#[utoipa::path(get, path = "/openapi.json", tag = "server", operation_id = "openapi",
    summary = "This OpenAPI document; needs no token",
    responses((status = 200, description = "The OpenAPI 3.1 document",
        content_type = "application/json", body = Object)))]
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::super::openapi_json(),
    )
        .into_response()
}

/// Answers 200 even when borg or statvfs fail: the GUI validates the token with it.
#[utoipa::path(get, path = "/info", tag = "server", operation_id = "info",
    summary = "borgbox, borg and the repo root",
    responses((status = 200, description = "Info", body = Info)))]
pub async fn info(State(state): State<AppState>) -> Json<Info> {
    let info = state.domain.info().await;
    Json(Info {
        version: VERSION,
        repo_root: info.repo_root.display().to_string(),
        free_bytes: info.disk.as_ref().map_or(0, |d| d.free_bytes),
        total_bytes: info.disk.as_ref().map_or(0, |d| d.total_bytes),
        uptime_sec: state.activated.elapsed().as_secs(),
        borg_version: info.borg_version,
        activated_at: format_utc(state.activated_at),
        backend: info.backend,
        tls: tls_info(&state),
    })
}

fn tls_info(state: &AppState) -> TlsInfo {
    let summary = state.tls.as_ref().map(|tls| tls.summary());
    TlsInfo {
        enabled: summary.is_some(),
        cert_not_after: summary.as_ref().map(|s| crate::tls::rfc3339(s.not_after)),
        pubkey_sha256: summary.map(|s| s.pubkey_sha256),
    }
}

/// GET /metrics (API.md 16.2): the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "server", operation_id = "metrics",
    summary = "Prometheus metrics from the cached facts",
    responses((status = 200, description = "The Prometheus text exposition format",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut text = state.domain.metrics().await?;
    if let Some(tls) = &state.tls {
        let mut more = crate::metrics::Exposition::with_capacity(256);
        let name = "borgbox_tls_cert_not_after_seconds";
        more.family(
            name,
            "When the served TLS certificate expires, unix seconds.",
        );
        more.sample(name, &[], tls.summary().not_after);
        text.push_str(&more.finish());
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[utoipa::path(get, path = "/system/stats", tag = "server", operation_id = "system_stats",
    summary = "Host name, uptime, load and the repo root's file system",
    responses((status = 200, description = "SystemStats", body = SystemStats)))]
pub async fn system_stats(State(state): State<AppState>) -> Json<SystemStats> {
    let host = state.domain.host_stats();
    let disk = host.disk;
    Json(SystemStats {
        hostname: host.hostname,
        uptime_seconds: host.uptime_seconds,
        load: host.load,
        storage: Storage {
            path: host.repo_root.display().to_string(),
            total_bytes: disk.as_ref().map_or(0, |d| d.total_bytes),
            used_bytes: disk.as_ref().map_or(0, |d| d.used_bytes),
            free_bytes: disk.as_ref().map_or(0, |d| d.free_bytes),
        },
        borgbox_version: VERSION,
    })
}

#[utoipa::path(get, path = "/sessions", tag = "server", operation_id = "sessions",
    summary = "Live `borg serve` processes, by pid",
    responses((status = 200, description = "[Session]", body = Vec<Session>)))]
pub async fn sessions(State(state): State<AppState>) -> Result<Json<Vec<Session>>, ApiError> {
    let sessions = state.domain.sessions().await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| Session {
                pid: s.pid,
                repo: s.repo,
                client_ip: s.client_ip,
                started_at: format_opt(s.started_at),
                cpu_percent: s.cpu_percent,
                rss_bytes: s.rss_bytes,
            })
            .collect(),
    ))
}
