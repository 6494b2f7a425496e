//! Plain HTTP where it is not safe (BORGBOX_PLAINTEXT): from another machine it is
//! refused with a JSON 403 when restricted, the console is redirected to https, and a
//! valid token sent in clear is a warning in the journal (once per address per hour).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::connection::ConnInfo;
use super::peers::Peer;
use crate::tls::Plaintext;

/// Put in a response's extensions by authentication when the request's token matched.
#[derive(Debug, Clone, Copy)]
pub struct TokenAccepted;

const WARN_EVERY: Duration = Duration::from_secs(3600);
/// Addresses remembered for the once-an-hour warning; beyond this the oldest go.
const REMEMBERED: usize = 4096;

#[derive(Clone)]
pub struct Policy(Arc<Inner>);

struct Inner {
    plaintext: Plaintext,
    tls: bool,
    warned: Mutex<HashMap<IpAddr, Instant>>,
}

impl Policy {
    pub fn new(plaintext: Plaintext, tls: bool) -> Policy {
        Policy(Arc::new(Inner {
            plaintext,
            tls,
            warned: Mutex::default(),
        }))
    }

    /// True the first time in an hour for `ip`.
    fn first_in_an_hour(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut warned = self.0.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned
            .get(&ip)
            .is_some_and(|last| now.duration_since(*last) < WARN_EVERY)
        {
            return false;
        }
        if warned.len() >= REMEMBERED {
            warned.retain(|_, last| now.duration_since(*last) < WARN_EVERY);
            if warned.len() >= REMEMBERED {
                warned.clear();
            }
        }
        warned.insert(ip, now);
        true
    }
}

pub async fn guard(State(policy): State<Policy>, request: Request, next: Next) -> Response {
    let info = request.extensions().get::<ConnInfo>().copied();
    let remote = match info {
        Some(ConnInfo {
            tls: false,
            peer: Some(ip),
        }) if Peer::of(Some(ip)) != Peer::Local => ip.to_canonical(),
        _ => return next.run(request).await,
    };
    let path = request.uri().path();
    if policy.0.tls && !crate::console::is_api_path(path) {
        if let Some(location) = https_url(&request) {
            return (
                StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
    }
    if policy.0.plaintext != Plaintext::Any {
        let body = serde_json::json!({
            "error": "plain HTTP is refused from other machines on this server; use https:// on the same port"
        });
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let response = next.run(request).await;
    if response.extensions().get::<TokenAccepted>().is_some() && policy.first_in_an_hour(remote) {
        log::warn!(
            "{remote} sent a valid API token over plain HTTP, readable by anyone on the network; \
             use https:// on the same port (BORGBOX_PLAINTEXT=loopback refuses this)"
        );
    }
    response
}

/// The same URL over https, when the request named its host.
fn https_url(request: &Request) -> Option<HeaderValue> {
    let host = request.headers().get(header::HOST)?.to_str().ok()?;
    if host.is_empty() || host.contains(['/', '\\', '@', ' ']) {
        return None;
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    HeaderValue::from_str(&format!("https://{host}{path}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_is_once_per_address_per_hour() {
        let policy = Policy::new(Plaintext::Any, true);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap());
        assert!(policy.first_in_an_hour(a));
        assert!(!policy.first_in_an_hour(a));
        assert!(policy.first_in_an_hour(b));
        // An hour later it is said again.
        let earlier = Instant::now() - WARN_EVERY - Duration::from_secs(1);
        policy.0.warned.lock().unwrap().insert(a, earlier);
        assert!(policy.first_in_an_hour(a));
    }
}
