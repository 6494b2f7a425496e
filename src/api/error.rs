//! The one error type of the HTTP edge and the one table from errors to status codes.
//! Every non-2xx answer is `{"error": "…"}` (API.md 2.3).

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body too large")]
    TooLarge,
    /// borg's service manager cannot be reached.
    #[error("{0}")]
    Unavailable(String),
    /// An external party (borg) failed; the message is safe to show.
    #[error("{0}")]
    BadGateway(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The stored cause of a 500, logged once by the error-logging middleware.
#[derive(Clone)]
pub struct InternalCause(pub Arc<anyhow::Error>);

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }

    pub fn repo_not_found() -> Self {
        ApiError::NotFound("repo not found".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status(), Json(json!({ "error": self.to_string() }))).into_response();
        match self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Internal(err) => {
                response
                    .extensions_mut()
                    .insert(InternalCause(Arc::new(err)));
            }
            _ => {}
        }
        response
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        ApiError::Internal(err.into())
    }
}

impl From<crate::borg::BorgError> for ApiError {
    fn from(err: crate::borg::BorgError) -> Self {
        use crate::borg::BorgError;
        match err {
            BorgError::Io(e) => ApiError::Internal(e.into()),
            other => ApiError::BadGateway(other.to_string()),
        }
    }
}

impl From<crate::repos::RepoError> for ApiError {
    fn from(err: crate::repos::RepoError) -> Self {
        use crate::repos::RepoError;
        match err {
            RepoError::Exists => ApiError::Conflict("repo already exists".into()),
            RepoError::NotFound => ApiError::repo_not_found(),
            RepoError::Io(e) => e.into(),
        }
    }
}
