//! The HTTP API under `/api/v1` (API.md): router, authentication before routing, and the
//! layers that give every error our JSON shape and log each 5xx once. Paths outside
//! `/api/` belong to the web console (crate::console), which needs no token.
//!
//! The OpenAPI document (API.md 16.5, `openapi`) is made from each handler's
//! `#[utoipa::path]` (`api_routes`), built only when it is asked for; the router that
//! serves (`api_router`) is plain axum, so a start of `serve` does not pay for building
//! the document. Tests hold the two to each other both ways: `openapi`'s unit test reads
//! the serving router's routes, and tests/integration/openapi.rs probes the running server.

mod auth_failures;
pub mod error;
pub mod extract;
mod handlers;
mod openapi;
pub mod state;
pub mod wire;

use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::auth_failures::ClientAddr;
pub use self::openapi::openapi;
pub(crate) use self::openapi::openapi_json;

use self::error::{ApiError, InternalCause};
use self::state::AppState;
use crate::console;

/// Where every endpoint lives (API.md 2.1).
pub const BASE: &str = "/api/v1";

/// The paths under `BASE` that need no token (API.md 2.2, 16.5); the document says so too.
pub const PUBLIC: [&str; 2] = ["/health", "/openapi.json"];

/// Every route under `BASE` as served.
fn api_router() -> Router<AppState> {
    use axum::routing::{delete, get, post};
    use handlers::{alerts, jobs, keys, repos, schedules, server};
    Router::new()
        .route("/health", get(server::health))
        .route("/openapi.json", get(server::openapi))
        .route("/info", get(server::info))
        .route("/system/stats", get(server::system_stats))
        .route("/sessions", get(server::sessions))
        .route("/metrics", get(server::metrics))
        .route("/repos", get(repos::list).post(repos::create))
        .route("/repos/import", post(repos::import))
        .route(
            "/repos/{name}",
            get(repos::show).patch(repos::update).delete(repos::remove),
        )
        .route("/repos/{name}/archives", get(repos::archives))
        .route("/repos/{name}/break-lock", post(repos::break_lock))
        .route("/repos/{name}/keys", get(keys::list).post(keys::add))
        .route("/repos/{name}/keys/{*fingerprint}", delete(keys::remove))
        .route("/repos/{name}/check", post(jobs::check))
        .route("/repos/{name}/prune", post(jobs::prune))
        .route("/repos/{name}/compact", post(jobs::compact))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::show).delete(jobs::cancel))
        .route("/jobs/{id}/stream", get(jobs::stream))
        .route(
            "/repos/{name}/schedules",
            get(schedules::list_for_repo).post(schedules::create),
        )
        .route("/schedules", get(schedules::list))
        .route(
            "/schedules/{id}",
            get(schedules::show)
                .patch(schedules::update)
                .delete(schedules::remove),
        )
        .route(
            "/repos/{name}/alerts",
            get(alerts::list_for_repo).post(alerts::create),
        )
        .route("/alerts", get(alerts::list))
        .route(
            "/alerts/{id}",
            get(alerts::show)
                .patch(alerts::update)
                .delete(alerts::remove),
        )
        .route("/alerts/{id}/test", post(alerts::test))
}

/// Every route under `BASE` as the document describes it, each from its handler's
/// `#[utoipa::path]`. Handlers that share a path go in one `routes!`.
fn api_routes() -> OpenApiRouter<AppState> {
    use handlers::{alerts, jobs, keys, repos, schedules, server};
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(server::health))
        .routes(routes!(server::openapi))
        .routes(routes!(server::info))
        .routes(routes!(server::system_stats))
        .routes(routes!(server::sessions))
        .routes(routes!(server::metrics))
        .routes(routes!(repos::list, repos::create))
        .routes(routes!(repos::import))
        .routes(routes!(repos::show, repos::update, repos::remove))
        .routes(routes!(repos::archives))
        .routes(routes!(repos::break_lock))
        .routes(routes!(keys::list, keys::add))
        .routes(routes!(keys::remove))
        .routes(routes!(jobs::check))
        .routes(routes!(jobs::prune))
        .routes(routes!(jobs::compact))
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::show, jobs::cancel))
        .routes(routes!(jobs::stream))
        .routes(routes!(schedules::list_for_repo, schedules::create))
        .routes(routes!(schedules::list))
        .routes(routes!(
            schedules::show,
            schedules::update,
            schedules::remove
        ))
        .routes(routes!(alerts::list_for_repo, alerts::create))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::show, alerts::update, alerts::remove))
        .routes(routes!(alerts::test))
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .nest(BASE, api_router())
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Unknown paths under `/api/` keep their JSON 404; every other path is the console's
/// (an asset, or the page for client-side routing).
async fn fallback(request: Request) -> Response {
    let path = request.uri().path();
    if console::is_api_path(path) {
        return ApiError::NotFound("not found".into()).into_response();
    }
    console::respond(request.method(), path)
}

/// Runs before routing, so an unauthenticated request to an unknown path under `/api/`
/// gets 401. The console's page and assets (every path outside `/api/`) need no token:
/// they hold no data, and everything the console shows comes through the API.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path
        .strip_prefix(BASE)
        .is_some_and(|rest| PUBLIC.contains(&rest))
        || !console::is_api_path(path)
        || bearer_token(request.headers()).is_some_and(|t| state.token_matches(t))
    {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr(None));
    state.auth_failures.failed(
        client,
        format!("{} {}", request.method(), path.get(..200).unwrap_or(path)),
    );
    ApiError::Unauthorized.into_response()
}

/// `Bearer <token>`: the scheme case-insensitive, then one or more spaces (API.md 2.2).
fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || rest.first() != Some(&b' ') {
        return None;
    }
    let token = rest.trim_ascii_start();
    (!token.is_empty()).then_some(token)
}

/// Gives answers made outside our handlers (405, path rejections) the JSON error shape,
/// and logs the cause of each 500 once.
async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if let Some(InternalCause(err)) = response.extensions().get::<InternalCause>() {
        log::error!("{method} {path} failed: {err:#}");
    }
    if status.is_success() || is_json(response.headers()) {
        return response;
    }
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed",
        StatusCode::NOT_FOUND => "not found",
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        s if s.is_client_error() => "bad request",
        _ => "internal error",
    };
    let (mut parts, _) = response.into_parts();
    let body = serde_json::to_string(&wire::ErrorBody {
        error: message.to_owned(),
    })
    .unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, HttpBody::from(body))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &'static [u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        h
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_space() {
        assert_eq!(bearer_token(&headers(b"Bearer abc")), Some(&b"abc"[..]));
        assert_eq!(bearer_token(&headers(b"bEaReR    abc")), Some(&b"abc"[..]));
        assert_eq!(bearer_token(&headers(b"Bearerabc")), None);
        assert_eq!(bearer_token(&headers(b"Basic abc")), None);
        assert_eq!(bearer_token(&headers(b"Bearer ")), None);
        assert_eq!(bearer_token(&headers(b"Bear")), None);
    }
}
