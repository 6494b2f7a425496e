//! Alert operations (API.md 12): create, change, delete, test, and the monitor tick
//! (`scan_alerts`, for the `scan-alerts` oneshot and the process backend's ticker).
//!
//! A tick holds the scan lock (`<alerts file>.scan.lock`) from start to end, so two scans
//! (the timer's, a manual one, a ticker) never deliver one event twice. The alerts file's
//! own lock is held only to record what the tick saw and, after the deliveries, how they
//! ended: changes made through the API meanwhile are kept.

use std::sync::Arc;

use super::{Domain, Error, Result};
use crate::alerts::rules::{self, Seen};
use crate::alerts::webhook::Delivery;
use crate::alerts::{sort, Alert, AlertInput, Pending};
use crate::config::Secret;
use crate::logging::message_id;
use crate::model::{AlertId, RepoName};

/// What one monitor tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub checked: usize,
    pub delivered: usize,
    pub failed: usize,
}

/// An event to deliver, with what its delivery needs.
struct Outgoing {
    alert: AlertId,
    repo: RepoName,
    url: String,
    secret: Option<Secret>,
    pending: Pending,
}

impl Domain {
    pub async fn list_alerts(self: &Arc<Self>, repo: Option<RepoName>) -> Result<Vec<Alert>> {
        self.blocking(move |domain| {
            if let Some(name) = &repo {
                if !domain.repos.exists(name) {
                    return Err(Error::RepoNotFound);
                }
            }
            let mut all: Vec<Alert> = domain
                .alerts
                .load()?
                .iter()
                .filter(|a| repo.as_ref().is_none_or(|r| a.repo == *r))
                .cloned()
                .collect();
            sort(&mut all);
            Ok(all)
        })
        .await
    }

    fn find_alert(&self, id: &AlertId) -> Result<Alert> {
        self.alerts
            .load()?
            .iter()
            .find(|a| a.id == *id)
            .cloned()
            .ok_or(Error::NotFound("alert"))
    }

    pub async fn get_alert(self: &Arc<Self>, id: AlertId) -> Result<Alert> {
        self.blocking(move |domain| domain.find_alert(&id)).await
    }

    /// POST /repos/{name}/alerts.
    pub async fn create_alert(
        self: &Arc<Self>,
        name: &RepoName,
        input: AlertInput,
    ) -> Result<Alert> {
        self.add_entry(name, move |domain, name| {
            Alert::create(AlertId::random(), name, &input, domain.now()).map_err(Error::Invalid)
        })
        .await
    }

    /// PATCH /alerts/{id}: the monitor state is kept.
    pub async fn update_alert(self: &Arc<Self>, id: AlertId, input: AlertInput) -> Result<Alert> {
        self.change_entry(id, move |_, alert: &Alert| {
            alert.merge(&input).map_err(Error::Invalid)
        })
        .await
    }

    /// DELETE /alerts/{id}.
    pub async fn delete_alert(self: &Arc<Self>, id: AlertId) -> Result<()> {
        self.remove_entry::<Alert>(id).await.map(drop)
    }

    pub(super) fn log_alert_change(&self, alert: &Alert, what: &str) {
        // Never the URL (it may carry a token) nor the secret.
        log::info!(
            message_id = message_id::ALERT_CHANGED,
            borgbox_repo = alert.repo.as_str(),
            borgbox_alert_id = alert.id.as_str();
            "{what} alert {} on repo {} (stale after {} h, enabled: {})",
            alert.id, alert.repo, alert.stale_after_hours, alert.enabled
        );
    }

    /// What the monitor sees of `repo` now.
    fn seen(&self, repo: &RepoName) -> Seen {
        match self.repos.last_write(repo) {
            None => Seen::Missing,
            Some(t) => Seen::LastWrite(t.map(|t| t.unix_timestamp())),
        }
    }

    /// POST /alerts/{id}/test: one `test` delivery, one attempt, nothing stored.
    pub async fn test_alert(self: &Arc<Self>, id: AlertId) -> Result<()> {
        let (alert, body) = self
            .blocking(move |domain| {
                let mut alert = domain.find_alert(&id)?;
                let now = domain.now();
                alert.last_write = match domain.seen(&alert.repo) {
                    Seen::LastWrite(Some(t)) => crate::model::timestamp::Stamp::at(t),
                    _ => crate::model::timestamp::Stamp::UNSET,
                };
                let body =
                    rules::payload(&alert, "test", &crate::sysinfo::hostname(), now).to_bytes();
                Ok((alert, body))
            })
            .await?;
        let secret = alert
            .secret
            .as_ref()
            .map(|s| Secret::new(s.expose().to_owned()));
        let message_id = crate::alerts::sign::new_message_id();
        self.notifier
            .attempt(&Delivery {
                url: &alert.webhook_url,
                body: &body,
                secret: secret.as_ref(),
                message_id: &message_id,
            })
            .await?;
        Ok(())
    }

    /// One monitor tick (API.md 12.3): every enabled alert checked, due events delivered
    /// concurrently (one hanging receiver delays nobody else's page), outcomes recorded.
    pub async fn scan_alerts(self: &Arc<Self>) -> Result<ScanReport> {
        let scan_lock = {
            let mut path = self.settings.alerts.clone().into_os_string();
            path.push(".scan");
            let path = std::path::PathBuf::from(path);
            tokio::task::spawn_blocking(move || crate::files::lock(&path)).await??
        };
        let hostname = crate::sysinfo::hostname();
        let (checked, outgoing) = self
            .blocking(move |domain| {
                let now = domain.now();
                domain.alerts.modify(|all| {
                    let mut outgoing = Vec::new();
                    let mut checked = 0;
                    for alert in all.iter_mut().filter(|a| a.enabled) {
                        checked += 1;
                        let seen = domain.seen(&alert.repo);
                        let event = rules::check(
                            alert,
                            seen,
                            now,
                            &hostname,
                            crate::alerts::sign::new_message_id,
                        );
                        if let Some(pending) = event {
                            outgoing.push(Outgoing {
                                alert: alert.id.clone(),
                                repo: alert.repo.clone(),
                                url: alert.webhook_url.clone(),
                                secret: alert
                                    .secret
                                    .as_ref()
                                    .map(|s| Secret::new(s.expose().to_owned())),
                                pending,
                            });
                        }
                    }
                    Ok::<_, Error>((checked, outgoing))
                })
            })
            .await?;
        let mut deliveries = tokio::task::JoinSet::new();
        for out in outgoing {
            let domain = self.clone();
            deliveries.spawn(async move {
                let result = domain
                    .notifier
                    .deliver(&Delivery {
                        url: &out.url,
                        body: out.pending.body.as_bytes(),
                        secret: out.secret.as_ref(),
                        message_id: &out.pending.message_id,
                    })
                    .await;
                (out, result)
            });
        }
        let mut report = ScanReport {
            checked,
            ..Default::default()
        };
        let mut outcomes = Vec::new();
        while let Some(joined) = deliveries.join_next().await {
            let (out, result) = joined?;
            match &result {
                Ok(()) => {
                    report.delivered += 1;
                    log::info!(
                        message_id = message_id::ALERT_DELIVERED,
                        borgbox_repo = out.repo.as_str(),
                        borgbox_alert_id = out.alert.as_str();
                        "delivered {} event of alert {} on repo {}", out.pending.event.as_str(), out.alert, out.repo
                    );
                }
                Err(e) => {
                    report.failed += 1;
                    log::warn!(
                        message_id = message_id::WEBHOOK_FAILED,
                        borgbox_repo = out.repo.as_str(),
                        borgbox_alert_id = out.alert.as_str();
                        "{} event of alert {} on repo {} not delivered: {e}; retried at the next scan",
                        out.pending.event.as_str(), out.alert, out.repo
                    );
                }
            }
            outcomes.push((
                out.alert,
                out.pending.message_id,
                result.map_err(|e| e.to_string()),
            ));
        }
        if !outcomes.is_empty() {
            self.blocking(move |domain| {
                let now = domain.now();
                domain.alerts.modify(|all| {
                    for (id, message_id, result) in outcomes {
                        if let Some(alert) = all.iter_mut().find(|a| a.id == id) {
                            rules::delivered(alert, &message_id, result, now);
                        }
                    }
                    Ok::<_, Error>(())
                })
            })
            .await?;
        }
        drop(scan_lock);
        Ok(report)
    }
}
