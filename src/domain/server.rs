//! What the server reports about itself and its host (API.md 4, 16.1): `/info`,
//! `/system/stats` and `/sessions`, each read fresh; the handlers only shape them.

use std::path::PathBuf;
use std::sync::Arc;

use time::OffsetDateTime;

use super::{Domain, Result};
use crate::sysinfo::{self, DiskUsage, Session};

/// What `/info` says about borg and the repo root.
pub struct ServerInfo {
    pub repo_root: PathBuf,
    /// None when statvfs fails (`/info` still answers 200).
    pub disk: Option<DiskUsage>,
    /// `""` when borg cannot be run.
    pub borg_version: String,
    pub backend: &'static str,
}

/// The host as `/system/stats` shows it.
pub struct HostStats {
    pub hostname: String,
    pub uptime_seconds: u64,
    pub load: [f64; 3],
    pub repo_root: PathBuf,
    pub disk: Option<DiskUsage>,
}

impl Domain {
    /// Never fails: the GUI validates its token with `/info`.
    pub async fn info(&self) -> ServerInfo {
        ServerInfo {
            repo_root: self.settings.repo_root.clone(),
            disk: sysinfo::disk_usage(&self.settings.repo_root),
            borg_version: self.borg.version().await,
            backend: self.backend_name(),
        }
    }

    pub fn host_stats(&self) -> HostStats {
        HostStats {
            hostname: sysinfo::hostname(),
            uptime_seconds: sysinfo::host_uptime_seconds(),
            load: sysinfo::load_average(),
            repo_root: self.settings.repo_root.clone(),
            disk: sysinfo::disk_usage(&self.settings.repo_root),
        }
    }

    /// Live `borg serve` processes of our account.
    pub async fn sessions(self: &Arc<Self>) -> Result<Vec<Session>> {
        let now = self.clock.now();
        self.blocking(move |domain| {
            let settings = &domain.settings;
            Ok(sysinfo::sessions(settings.uid, &settings.repo_root, now))
        })
        .await
    }

    /// The time now, by the domain's clock.
    pub fn now_utc(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Reads the schedules and alerts files once, so a oneshot fails early on a bad one.
    pub fn check_stores(&self) -> anyhow::Result<()> {
        self.schedules.load()?;
        self.alerts.load()?;
        Ok(())
    }

    /// The API token, for the HTTP edge's check of each request.
    pub fn api_token(&self) -> &crate::config::Secret {
        &self.settings.token
    }
}
