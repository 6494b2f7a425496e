//! The HTTP API under `/api/v1` (API.md): router, authentication before routing, and the
//! layers that give every error our JSON shape and log each 5xx once. Paths outside
//! `/api/` belong to the web console (crate::console), which needs no token.
//!
//! One route list (`route_list!`) makes both the router that serves (`api_router`, plain
//! axum, cheap to build) and the OpenAPI document (API.md 16.5, `openapi`, from each
//! handler's `#[utoipa::path]`, built only when it is asked for). `openapi`'s unit test
//! reads the serving router's routes, and tests/integration/openapi.rs probes the running
//! server.

// The HTTP edge: here axum's types may be named (clippy.toml `disallowed-types`).
#![allow(clippy::disallowed_types)]

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

/// Every route under `BASE`, listed once: handlers that share a path on one line. Each
/// handler's `#[utoipa::path]` says its path and methods; the list expands to the serving
/// router (`api_router`, which reads only those two, so a start of `serve` does not build
/// the document) and to the document's routes (`api_routes`).
macro_rules! route_list {
    ($( $m0:ident :: $h0:ident $(, $module:ident :: $handler:ident)* ; )+) => {
        fn api_router() -> Router<AppState> {
            use utoipa::Path as _;
            use utoipa_axum::PathItemExt as _;
            let mut router = Router::new();
            $(
                let mut methods = axum::routing::MethodRouter::new();
                utoipa_axum::paste! {
                    let path = handlers::$m0::[<__path_ $h0>]::path();
                    for method in handlers::$m0::[<__path_ $h0>]::methods() {
                        methods = methods.on(method.to_method_filter(), handlers::$m0::$h0);
                    }
                }
                $(
                    utoipa_axum::paste! {
                        for method in handlers::$module::[<__path_ $handler>]::methods() {
                            methods = methods.on(method.to_method_filter(), handlers::$module::$handler);
                        }
                    }
                )*
                router = router.route(&path, methods);
            )+
            router
        }

        fn api_routes() -> OpenApiRouter<AppState> {
            OpenApiRouter::with_openapi(openapi::base())
                $( .routes(routes!(handlers::$m0::$h0 $(, handlers::$module::$handler)*)) )+
        }
    };
}

route_list! {
    server::health;
    server::openapi;
    server::info;
    server::system_stats;
    server::sessions;
    server::metrics;
    repos::list, repos::create;
    repos::import;
    repos::show, repos::update, repos::remove;
    repos::archives;
    repos::break_lock;
    keys::list, keys::add;
    keys::remove;
    jobs::check;
    jobs::prune;
    jobs::compact;
    jobs::list;
    jobs::show, jobs::cancel;
    jobs::stream;
    schedules::list_for_repo, schedules::create;
    schedules::list;
    schedules::show, schedules::update, schedules::remove;
    alerts::list_for_repo, alerts::create;
    alerts::list;
    alerts::show, alerts::update, alerts::remove;
    alerts::test;
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
    if bearer_token(request.headers()).is_some_and(|t| state.token_matches(t)) {
        // Marked for serve's plain-HTTP warning (a token that crossed the network in clear).
        let mut response = next.run(request).await;
        let accepted = crate::serve::plaintext::TokenAccepted;
        response.extensions_mut().insert(accepted);
        return response;
    }
    let path = request.uri().path();
    if path
        .strip_prefix(BASE)
        .is_some_and(|rest| PUBLIC.contains(&rest))
        || !console::is_api_path(path)
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
