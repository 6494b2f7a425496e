//! What every handler shares: the domain operations, and what only the HTTP edge needs
//! (the token's digest, activity for idle exit, the last `GET /repos` answer).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::activity::Activity;
use crate::domain::Domain;
use crate::files::FileStamp;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub domain: Arc<Domain>,
    pub activated_at: OffsetDateTime,
    pub activated: Instant,
    /// Requests, streams and (process backend) jobs that keep borgbox from idling out.
    pub activity: Activity,
    /// The last `GET /repos` body and what it was made from.
    pub repo_list: Mutex<Option<(RepoListStamp, Bytes)>>,
    /// The certificate served, for `/info` and `/metrics`; None when TLS is off.
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// 401s, counted per client address for the log.
    pub auth_failures: super::auth_failures::AuthFailures,
    token_digest: [u8; 32],
}

/// What a `GET /repos` answer depends on: the listing's generation and authorized_keys.
pub type RepoListStamp = (u64, Option<FileStamp>);

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Cheap: nothing here grows with the number of repos or jobs.
    pub fn new(domain: Arc<Domain>, activity: Activity) -> AppState {
        AppState::with_tls(domain, activity, None)
    }

    pub fn with_tls(
        domain: Arc<Domain>,
        activity: Activity,
        tls: Option<Arc<crate::tls::Tls>>,
    ) -> AppState {
        let token_digest = Sha256::digest(domain.api_token().expose().as_bytes()).into();
        AppState(Arc::new(Inner {
            activated_at: domain.now_utc(),
            activated: Instant::now(),
            activity,
            repo_list: Mutex::new(None),
            tls,
            auth_failures: Default::default(),
            domain,
            token_digest,
        }))
    }

    /// Compares SHA-256 digests in constant time, so neither the token's contents nor its
    /// length leak through timing.
    pub fn token_matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest
            .iter()
            .zip(self.token_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}
