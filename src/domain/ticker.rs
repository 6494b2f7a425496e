//! The process backend's own clock work (DESIGN.md "Two backends"), beside the schedule
//! and alert operations it drives: with no user manager
//! to hold timers, `serve` fires due schedules at least once a minute (API.md 11.4) and
//! runs the alert monitor once shortly after it starts and then every 5 minutes (12.3).
//! While an enabled schedule or alert exists, it keeps `serve` from exiting when idle.

use std::sync::Arc;
use std::time::Duration;

use crate::activity::{Activity, Busy};
use crate::domain::Domain;

/// How often the monitor runs (API.md 12.3).
const SCAN_EVERY: Duration = Duration::from_secs(300);
/// Shortly after start.
const FIRST_SCAN: Duration = Duration::from_secs(5);

/// How long the ticker sleeps at most between looks at the schedules.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    pub tick: Duration,
    pub first_scan: Duration,
    pub scan_every: Duration,
}

impl Default for Cadence {
    fn default() -> Cadence {
        Cadence {
            tick: Duration::from_secs(60),
            first_scan: FIRST_SCAN,
            scan_every: SCAN_EVERY,
        }
    }
}

/// Runs until the task is dropped.
pub async fn run(domain: Arc<Domain>, activity: Activity, cadence: Cadence) {
    if let Err(e) = {
        let domain = domain.clone();
        tokio::task::spawn_blocking(move || domain.settle_schedules()).await
    } {
        log::warn!("failed to settle schedules at start: {e}");
    }
    let mut hold: Option<Busy> = None;
    let mut next_scan = tokio::time::Instant::now() + cadence.first_scan;
    let mut scanning: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let (work, wait) = {
            let domain = domain.clone();
            tokio::task::spawn_blocking(move || look(&domain, cadence.tick))
                .await
                .unwrap_or((false, cadence.tick))
        };
        // Enabled schedules or alerts are work the process must stay up for.
        match (work, hold.is_some()) {
            (true, false) => hold = Some(activity.busy()),
            (false, true) => hold = None,
            _ => {}
        }
        domain.fire_due_schedules().await;
        let now = tokio::time::Instant::now();
        if now >= next_scan && scanning.as_ref().is_none_or(|s| s.is_finished()) {
            next_scan = now + cadence.scan_every;
            let domain = domain.clone();
            // Deliveries may take a while (retries); schedules must not wait for them.
            scanning = Some(tokio::spawn(async move {
                if let Err(e) = domain.scan_alerts().await {
                    log::error!("alert scan failed: {e:#}");
                }
            }));
        }
        let until_scan = next_scan.saturating_duration_since(now);
        tokio::select! {
            _ = tokio::time::sleep(wait.min(until_scan).max(Duration::from_millis(10))) => {}
            _ = domain.changed.notified() => {}
        }
    }
}

/// Whether an enabled schedule or alert exists, and how long until the next schedule
/// falls due (at most `tick`; one that is due already but could not fire, its repo busy,
/// is tried again at the next tick).
fn look(domain: &Domain, tick: Duration) -> (bool, Duration) {
    let now = domain.clock.now().unix_timestamp();
    let schedules = domain
        .schedules
        .load()
        .map(|all| all.to_vec())
        .unwrap_or_else(|e| {
            log::error!("cannot read the schedules: {e}");
            Vec::new()
        });
    let alerts = domain
        .alerts
        .load()
        .map(|all| all.iter().any(|a| a.enabled))
        .unwrap_or(false);
    let wait = schedules
        .iter()
        .filter(|s| s.enabled)
        .filter_map(|s| s.next_run.unix())
        .filter(|t| *t > now)
        .min()
        .map_or(tick, |t| Duration::from_secs((t - now) as u64));
    (
        alerts || schedules.iter().any(|s| s.enabled),
        wait.min(tick),
    )
}
