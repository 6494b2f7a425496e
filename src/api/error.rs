//! The one error type of the HTTP edge and the one table from errors to status codes.
//! Every non-2xx answer is `{"error": "…"}` (API.md 2.3).

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::extract::Rejection;
use crate::domain;

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

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> ApiError {
        match rejection {
            Rejection::BadRequest(message) => ApiError::BadRequest(message),
            Rejection::TooLarge => ApiError::TooLarge,
            Rejection::RepoNotFound => ApiError::repo_not_found(),
            Rejection::NotFound(what) => domain::Error::NotFound(what).into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = super::wire::ErrorBody {
            error: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
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

/// The one place domain errors meet status codes (API.md 2.3).
impl From<domain::Error> for ApiError {
    fn from(err: domain::Error) -> Self {
        use domain::Error as E;
        match err {
            E::Invalid(message) => ApiError::BadRequest(message),
            E::RepoNotFound | E::NotFound(_) => ApiError::NotFound(err.to_string()),
            E::RepoExists
            | E::AlreadyRegistered(_)
            | E::NotRegistered
            | E::NotInitialized
            | E::UnsupportedRepo(_)
            | E::KeyRegistered(_)
            | E::KeyPresent
            | E::Busy { .. }
            | E::JobFinished => ApiError::Conflict(err.to_string()),
            E::Borg(_) | E::Webhook(_) => ApiError::BadGateway(err.to_string()),
            E::Unavailable(source) => ApiError::Unavailable(format!(
                "borg's service manager is not reachable: {source:#}"
            )),
            E::Internal(source) => ApiError::Internal(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobId;

    #[test]
    fn domain_errors_get_the_documented_statuses() {
        let cases: Vec<(domain::Error, u16)> = vec![
            (domain::Error::Invalid("x".into()), 400),
            (domain::Error::RepoNotFound, 404),
            (domain::Error::NotFound("schedule"), 404),
            (domain::Error::RepoExists, 409),
            (domain::Error::NotRegistered, 409),
            (domain::Error::NotInitialized, 409),
            (domain::Error::UnsupportedRepo(2), 409),
            (domain::Error::KeyPresent, 409),
            (
                domain::Error::Busy {
                    repo: "mac".parse().unwrap(),
                    id: JobId::random(),
                },
                409,
            ),
            (domain::Error::JobFinished, 409),
            (
                domain::Error::Borg(crate::borg::BorgError::Failed("locked".into())),
                502,
            ),
            (
                domain::Error::Webhook(crate::alerts::webhook::DeliveryError::Status(404)),
                502,
            ),
            (domain::Error::Unavailable(anyhow::anyhow!("down")), 503),
            (domain::Error::Internal(anyhow::anyhow!("disk")), 500),
        ];
        for (err, status) in cases {
            let shown = err.to_string();
            let api = ApiError::from(err);
            assert_eq!(api.status().as_u16(), status, "{shown}");
        }
        assert_eq!(
            ApiError::from(domain::Error::NotFound("alert")).to_string(),
            "alert not found"
        );
        assert_eq!(
            ApiError::from(domain::Error::Internal(anyhow::anyhow!("secret path"))).to_string(),
            "internal error"
        );
    }
}
