//! Request extractors that answer in our error shape: JSON bodies with typed, named field
//! errors (API.md 2.4) and `{name}` path segments that must be valid repo names.
//!
//! Each endpoint's body is declared once with `request_body!` (in `wire`): one field list
//! makes both the struct whose schema the OpenAPI document shows and the reader the
//! handler extracts, so the document cannot name a field the handler does not read.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::model::RepoName;

/// Why a request was refused before its handler ran; `error` turns it into the answer
/// (this module names no answer shape, so `wire` can declare its bodies with it).
#[derive(Debug)]
pub enum Rejection {
    BadRequest(String),
    TooLarge,
    RepoNotFound,
    /// An id of a job, schedule or alert that is not of our form.
    NotFound(&'static str),
}

impl Rejection {
    fn bad_request(msg: impl Into<String>) -> Rejection {
        Rejection::BadRequest(msg.into())
    }
}

/// The largest request body borgbox reads (API.md 2.4).
pub const MAX_BODY: usize = 64 * 1024;

/// A JSON object body. An empty body is `{}`; `null` fields count as absent.
#[derive(Debug, Default)]
pub struct Body(Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Rejection::TooLarge
            } else {
                Rejection::bad_request("failed to read the request body")
            }
        })?;
        Body::parse(&bytes)
    }
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Body, Rejection> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(Rejection::bad_request("request body must be a JSON object")),
            Err(_) => Err(Rejection::bad_request("request body is not valid JSON")),
        }
    }

    fn field(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, Rejection> {
        self.field(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| Rejection::bad_request(format!("{key} must be a boolean")))
            })
            .transpose()
    }

    pub fn req_bool(&self, key: &str) -> Result<bool, Rejection> {
        self.opt_bool(key)?
            .ok_or_else(|| Rejection::bad_request(format!("{key} is required")))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, Rejection> {
        self.field(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| Rejection::bad_request(format!("{key} must be a string")))
            })
            .transpose()
    }

    pub fn req_str(&self, key: &str) -> Result<&str, Rejection> {
        self.opt_str(key)?
            .ok_or_else(|| Rejection::bad_request(format!("{key} is required")))
    }

    /// JSON integers only: no fraction, no exponent, no strings, no booleans.
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, Rejection> {
        self.field(key)
            .map(|v| match v {
                Value::Number(n) if n.is_i64() => n
                    .as_i64()
                    .ok_or_else(|| Rejection::bad_request(format!("{key} must be an integer"))),
                Value::Number(n) if n.is_u64() => {
                    Err(Rejection::bad_request(format!("{key} is out of range")))
                }
                _ => Err(Rejection::bad_request(format!("{key} must be an integer"))),
            })
            .transpose()
    }

    /// Like `opt_int`, but an integer beyond i64 is i64::MAX rather than an error: for
    /// fields where any integer is acceptable when unused (a daily schedule's `weekday`).
    pub fn opt_int_saturating(&self, key: &str) -> Result<Option<i64>, Rejection> {
        match self.field(key) {
            Some(Value::Number(n)) if n.is_u64() && !n.is_i64() => Ok(Some(i64::MAX)),
            _ => self.opt_int(key),
        }
    }
}

/// A field of a request body, read from the JSON object with our messages: `Option<T>`
/// when it may be absent (a `null` counts as absent), `T` when it is required.
pub trait Field: Sized {
    fn read(body: &Body, key: &str) -> Result<Self, Rejection>;
}

impl Field for Option<bool> {
    fn read(body: &Body, key: &str) -> Result<Self, Rejection> {
        body.opt_bool(key)
    }
}

impl Field for Option<i64> {
    fn read(body: &Body, key: &str) -> Result<Self, Rejection> {
        body.opt_int(key)
    }
}

impl Field for Option<String> {
    fn read(body: &Body, key: &str) -> Result<Self, Rejection> {
        Ok(body.opt_str(key)?.map(str::to_owned))
    }
}

impl Field for String {
    fn read(body: &Body, key: &str) -> Result<Self, Rejection> {
        body.req_str(key).map(str::to_owned)
    }
}

/// Declares a request body: the struct (deriving `ToSchema`, so the document shows exactly
/// these fields) and `read`, which takes the fields from the JSON object in the order
/// listed (the order of the 400 checks) by their types (`Field`), or with the `Body`
/// method named after `=>`. It is also an extractor: an empty body is `{}`, unknown
/// fields are ignored, `null` is absent and integers are strict (API.md 2.4).
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty $(=> $reader:ident)? ),* $(,)?
        }
    ) => {
        #[derive(Debug, Default, utoipa::ToSchema)]
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $name {
            /// The field names, in reading order.
            #[allow(dead_code)]
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            pub fn read(
                body: &$crate::api::extract::Body,
            ) -> Result<$name, $crate::api::extract::Rejection> {
                Ok($name {
                    $( $field: $crate::api::extract::request_body!(
                        @read body, $field, $ty $(, $reader)?
                    ), )*
                })
            }
        }

        impl<S: Send + Sync> axum::extract::FromRequest<S> for $name {
            type Rejection = $crate::api::extract::Rejection;

            async fn from_request(
                request: axum::extract::Request,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                let body = $crate::api::extract::Body::from_request(request, state).await?;
                $name::read(&body)
            }
        }
    };
    (@read $body:ident, $field:ident, $ty:ty) => {
        <$ty as $crate::api::extract::Field>::read($body, stringify!($field))?
    };
    (@read $body:ident, $field:ident, $ty:ty, $reader:ident) => {
        $body.$reader(stringify!($field))?
    };
}
pub(crate) use request_body;

/// An `{id}` path segment of a job, schedule or alert. One that does not percent-decode
/// to UTF-8 or is not of our form is an unknown `T`, answered 404 when the handler asks
/// for it with `get` (API.md 2.8; axum's own `Path` would answer 400), so body errors
/// still come first.
pub struct IdParam<T>(Option<T>);

/// An id type of a path segment, and what an unknown one is called in the 404.
pub trait PathId: std::str::FromStr {
    const WHAT: &'static str;
}

impl PathId for crate::model::JobId {
    const WHAT: &'static str = "job";
}

impl PathId for crate::model::ScheduleId {
    const WHAT: &'static str = "schedule";
}

impl PathId for crate::model::AlertId {
    const WHAT: &'static str = "alert";
}

impl<T: PathId> IdParam<T> {
    pub fn get(self) -> Result<T, Rejection> {
        self.0.ok_or(Rejection::NotFound(T::WHAT))
    }
}

impl<S: Send + Sync, T: PathId> FromRequestParts<S> for IdParam<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let id = Path::<String>::from_request_parts(parts, state).await.ok();
        Ok(IdParam(id.and_then(|Path(id)| id.parse().ok())))
    }
}

/// A `{name}` path segment. An invalid name is an unknown repo: 404 (API.md 2.8).
pub struct RepoParam(pub RepoName);

impl<S: Send + Sync> FromRequestParts<S> for RepoParam {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|_| Rejection::RepoNotFound)?;
        params
            .iter()
            .find(|(key, _)| key == "name")
            .and_then(|(_, value)| value.parse().ok())
            .map(RepoParam)
            .ok_or(Rejection::RepoNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_is_an_empty_object() {
        assert!(Body::parse(b"").unwrap().opt_bool("x").unwrap().is_none());
        assert!(Body::parse(b" \n").is_ok());
    }

    #[test]
    fn types_are_strict_and_null_is_absent() {
        let body = Body::parse(
            br#"{"a":12.0,"b":"12","c":true,"d":null,"e":12,"f":1e2,"g":18446744073709551615}"#,
        )
        .unwrap();
        assert!(body.opt_int("a").is_err());
        assert!(body.opt_int("b").is_err());
        assert!(body.opt_int("c").is_err());
        assert_eq!(body.opt_int("d").unwrap(), None);
        assert_eq!(body.opt_int("e").unwrap(), Some(12));
        assert!(body.opt_int("f").is_err());
        assert!(body.opt_int("g").is_err());
        assert!(body.opt_bool("e").is_err());
        assert!(body.req_str("d").is_err());
    }

    #[test]
    fn non_objects_and_garbage_are_rejected() {
        for bad in [&b"[]"[..], b"\"x\"", b"nul", b"{", b"12"] {
            assert!(matches!(Body::parse(bad), Err(Rejection::BadRequest(_))));
        }
    }
}
