//! What every handler shares: settings, the clock, the repo and key stores, borg.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::borg::Borg;
use crate::clock::Clock;
use crate::config::Settings;
use crate::files::FileStamp;
use crate::jobs::backend::Backend;
use crate::jobs::record::JobStore;
use crate::jobs::Jobs;
use crate::keys::{AddedAt, KeyStore};
use crate::repos::Repos;
use crate::serve::idle::Activity;

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub repos: Repos,
    pub keys: KeyStore,
    pub added_at: AddedAt,
    pub borg: Borg,
    pub activated_at: OffsetDateTime,
    pub activated: Instant,
    pub jobs: Jobs,
    /// Requests, streams and (process backend) jobs that keep borgbox from idling out.
    pub activity: Activity,
    /// The last `GET /repos` body and what it was made from.
    pub repo_list: Mutex<Option<(RepoListStamp, Bytes)>>,
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
    pub fn new(
        settings: Settings,
        clock: Arc<dyn Clock>,
        backend: Arc<dyn Backend>,
        activity: Activity,
    ) -> AppState {
        let token_digest = Sha256::digest(settings.token.expose().as_bytes()).into();
        let inner = Inner {
            repos: Repos::new(settings.repo_root.clone(), &settings.state_dir),
            keys: KeyStore::new(settings.auth_keys.clone()),
            added_at: AddedAt::new(settings.state_dir.join("keys-added.json")),
            borg: Borg {
                binary: settings.borg.clone(),
                base_dir: settings.state_dir.join("borg"),
            },
            activated_at: clock.now(),
            activated: Instant::now(),
            jobs: Jobs::new(JobStore::new(&settings.state_dir), backend, clock.clone()),
            activity,
            repo_list: Mutex::new(None),
            clock,
            settings,
            token_digest,
        };
        AppState(Arc::new(inner))
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
