//! The HTTP side of idle exit: every request counts as activity (`crate::activity`).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::activity::Activity;

/// Middleware: the request counts as activity until its response has been produced.
/// Streams hold their own `Busy` for as long as they are open.
pub async fn track(State(activity): State<Activity>, request: Request, next: Next) -> Response {
    let _busy = activity.busy();
    next.run(request).await
}
