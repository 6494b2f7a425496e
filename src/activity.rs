//! Activity, for idle exit: counts requests in flight, open streams and work that keeps
//! `serve` up (running jobs of the process backend, enabled schedules and alerts), and
//! resolves `idle()` once none has been seen for the timeout. Keep-alive connections are
//! not activity. Anything may hold it; `serve` waits on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone)]
pub struct Activity(Arc<Inner>);

struct Inner {
    busy: AtomicUsize,
    last: Mutex<Instant>,
}

/// Held while a request is served or a stream is open; dropping it records activity.
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0 .0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Held by work serve must finish before it exits but which is not a client's activity
/// (the start-up sweep): it delays an exit that is due, never the moment it is due.
pub struct Hold(Activity);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0 .0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity(Arc::new(Inner {
            busy: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
        }))
    }
}

impl Activity {
    pub fn busy(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::SeqCst);
        self.touch();
        Busy(self.clone())
    }

    pub fn hold(&self) -> Hold {
        self.0.busy.fetch_add(1, Ordering::SeqCst);
        Hold(self.clone())
    }

    /// Records activity now (an accepted connection, a finished request).
    pub fn touch(&self) {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once nothing has been busy for `timeout`.
    pub async fn idle(&self, timeout: Duration) {
        loop {
            let deadline = self.last() + timeout;
            if Instant::now() >= deadline && self.0.busy.load(Ordering::SeqCst) == 0 {
                return;
            }
            // While busy, check again after a full timeout: activity will have moved `last`.
            tokio::time::sleep_until(deadline.max(Instant::now() + Duration::from_millis(100)))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_the_timeout_after_the_last_activity() {
        let activity = Activity::default();
        let started = Instant::now();
        activity.idle(Duration::from_secs(120)).await;
        assert_eq!(started.elapsed().as_secs(), 120);

        let busy = activity.busy();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.idle(Duration::from_secs(10)).await })
        };
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!waiter.is_finished(), "a busy server must not go idle");
        drop(busy);
        let released = Instant::now();
        waiter.await.unwrap();
        let waited = released.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_delays_a_due_exit_but_never_moves_it() {
        let activity = Activity::default();
        let started = Instant::now();
        let hold = activity.hold();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.idle(Duration::from_secs(3)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(hold);
        waiter.await.unwrap();
        assert_eq!(
            started.elapsed().as_secs(),
            3,
            "released early: the exit is not moved"
        );

        let hold = activity.hold();
        let waiter = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.idle(Duration::from_secs(3)).await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiter.is_finished(), "exited while held");
        drop(hold);
        let released = Instant::now();
        waiter.await.unwrap();
        assert!(released.elapsed() <= Duration::from_millis(100));
    }
}
