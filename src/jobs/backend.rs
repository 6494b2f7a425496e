//! The seam between the job registry and where jobs run. Contract, for both
//! implementations (process children of `serve`, or transient units of borg's user
//! manager):
//!
//! - `start` runs `borgbox exec-job <id>` for a record already written as `queued`, with
//!   the passphrase (if any) on its stdin and nowhere else; it returns once launched.
//! - `exec-job` owns the record from then on: it marks it `running`, runs borg, and
//!   records the final status; the backend only records jobs whose process vanished.
//! - `cancel` asks `exec-job` to stop (SIGINT); it forwards SIGINT to borg and escalates.
//! - `liveness` says whether an unfinished record's process still exists.
//! - `log_tail` and `follow` read the job's output lines, the latter as a replay of the
//!   tail followed by live lines; the live channel closes when the job has ended.
//! - `shutdown` runs when `serve` exits; jobs that outlive it are left alone.
//!
//! Timers are not a backend's business: `schedules::timers` is their seam.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::sync::mpsc;

use super::record::{JobRecord, Liveness};
use crate::config::Secret;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("borg's service manager is not reachable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// One item of a live feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    Line(String),
    /// Lines dropped for a slow subscriber, reported once it catches up.
    Skipped(usize),
}

/// What a subscriber gets: the tail so far, then live items until the channel closes.
pub struct Follow {
    pub replay: Vec<String>,
    pub live: Option<mpsc::Receiver<Feed>>,
}

pub trait Backend: Send + Sync {
    fn name(&self) -> &'static str;
    fn start<'a>(
        &'a self,
        record: &'a JobRecord,
        passphrase: Option<Secret>,
    ) -> BoxFuture<'a, Result<(), BackendError>>;
    fn cancel<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Result<(), BackendError>>;
    fn liveness<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Liveness>;
    fn log_tail<'a>(
        &'a self,
        record: &'a JobRecord,
        lines: usize,
    ) -> BoxFuture<'a, io::Result<Vec<String>>>;
    fn follow<'a>(
        &'a self,
        record: &'a JobRecord,
        lines: usize,
    ) -> BoxFuture<'a, io::Result<Follow>>;
    /// Called when `serve` exits: jobs that would die with it are asked to stop.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A backend that starts nothing: records stay queued and count as alive; cancels and
/// (as `Timers`) timer sets are recorded. For unit tests of the rules above the seam, never alone.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Mutex;

    use super::*;
    use crate::model::JobId;
    use crate::schedules::render::TimerFile;

    #[derive(Default)]
    pub struct Fake {
        pub cancelled: Mutex<Vec<JobId>>,
        /// The names of each set of timers asked for.
        pub timers: Mutex<Vec<Vec<String>>>,
    }

    impl Backend for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn start<'a>(
            &'a self,
            _: &'a JobRecord,
            _: Option<Secret>,
        ) -> BoxFuture<'a, Result<(), BackendError>> {
            Box::pin(async { Ok(()) })
        }
        fn cancel<'a>(&'a self, record: &'a JobRecord) -> BoxFuture<'a, Result<(), BackendError>> {
            self.cancelled.lock().unwrap().push(record.id.clone());
            Box::pin(async { Ok(()) })
        }
        fn liveness<'a>(&'a self, _: &'a JobRecord) -> BoxFuture<'a, Liveness> {
            Box::pin(async { Liveness::Alive })
        }
        fn log_tail<'a>(
            &'a self,
            _: &'a JobRecord,
            _: usize,
        ) -> BoxFuture<'a, io::Result<Vec<String>>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn follow<'a>(&'a self, _: &'a JobRecord, _: usize) -> BoxFuture<'a, io::Result<Follow>> {
            Box::pin(async {
                Ok(Follow {
                    replay: Vec::new(),
                    live: None,
                })
            })
        }
    }

    impl crate::schedules::timers::Timers for Fake {
        fn sync<'a>(
            &'a self,
            timers: &'a [TimerFile],
            _: bool,
        ) -> crate::schedules::timers::BoxFuture<
            'a,
            Result<(), crate::schedules::timers::TimersError>,
        > {
            let names = timers.iter().map(|t| t.name.clone()).collect();
            self.timers.lock().unwrap().push(names);
            Box::pin(async { Ok(()) })
        }
    }
}
