//! Live output of the jobs this process runs, fanned out to stream subscribers. A slow
//! subscriber never blocks the job or anyone else: its buffer holds `BUFFER` items, then
//! its lines are counted and reported as one `Skipped` once it catches up.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::backend::{Feed, Follow};
use crate::model::JobId;

/// Per-subscriber buffer (API.md 10: at least 1000 events).
pub const BUFFER: usize = 1024;
/// Lines kept in memory for replay.
pub const TAIL: usize = 200;

#[derive(Default)]
pub struct Hub {
    jobs: Mutex<HashMap<JobId, Live>>,
}

#[derive(Default)]
struct Live {
    tail: VecDeque<String>,
    subscribers: Vec<Subscriber>,
}

struct Subscriber {
    tx: mpsc::Sender<Feed>,
    skipped: usize,
}

impl Subscriber {
    /// False when the subscriber has gone away.
    fn offer(&mut self, line: &str) -> bool {
        if self.skipped > 0 {
            match self.tx.try_send(Feed::Skipped(self.skipped)) {
                Ok(()) => self.skipped = 0,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.skipped += 1;
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        match self.tx.try_send(Feed::Line(line.to_owned())) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.skipped += 1;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl Hub {
    pub fn open(&self, id: &JobId) {
        self.lock().insert(id.clone(), Live::default());
    }

    pub fn push(&self, id: &JobId, line: &str) {
        let mut jobs = self.lock();
        let Some(live) = jobs.get_mut(id) else { return };
        if live.tail.len() == TAIL {
            live.tail.pop_front();
        }
        live.tail.push_back(line.to_owned());
        live.subscribers.retain_mut(|s| s.offer(line));
    }

    /// The job ended: dropping the senders closes every subscriber's channel.
    pub fn close(&self, id: &JobId) {
        self.lock().remove(id);
    }

    /// Replay and live channel taken under one lock: no gap, no duplicate.
    pub fn follow(&self, id: &JobId, lines: usize) -> Option<Follow> {
        let mut jobs = self.lock();
        let live = jobs.get_mut(id)?;
        let (tx, rx) = mpsc::channel(BUFFER);
        live.subscribers.push(Subscriber { tx, skipped: 0 });
        let skip = live.tail.len().saturating_sub(lines);
        Some(Follow {
            replay: live.tail.iter().skip(skip).cloned().collect(),
            live: Some(rx),
        })
    }

    /// The jobs currently open.
    pub fn open_jobs(&self) -> Vec<JobId> {
        self.lock().keys().cloned().collect()
    }

    /// The last `lines` lines of a job this process follows.
    pub fn tail(&self, id: &JobId, lines: usize) -> Option<Vec<String>> {
        let jobs = self.lock();
        let live = jobs.get(id)?;
        let skip = live.tail.len().saturating_sub(lines);
        Some(live.tail.iter().skip(skip).cloned().collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Live>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_then_live_without_gap_and_slow_subscribers_skip() {
        let hub = Hub::default();
        let id = JobId::random();
        hub.open(&id);
        hub.push(&id, "one");
        let mut fast = hub.follow(&id, 200).unwrap();
        let mut slow = hub.follow(&id, 200).unwrap();
        assert_eq!(fast.replay, vec!["one"]);
        let mut fast_rx = fast.live.take().unwrap();
        let mut slow_rx = slow.live.take().unwrap();
        for i in 0..(BUFFER + 10) {
            hub.push(&id, &format!("l{i}"));
            // The fast subscriber keeps up.
            assert_eq!(fast_rx.recv().await, Some(Feed::Line(format!("l{i}"))));
        }
        // The slow one got BUFFER lines, then lost 10, reported once it drains.
        for _ in 0..BUFFER {
            assert!(matches!(slow_rx.recv().await, Some(Feed::Line(_))));
        }
        hub.push(&id, "after");
        assert_eq!(slow_rx.recv().await, Some(Feed::Skipped(10)));
        assert_eq!(slow_rx.recv().await, Some(Feed::Line("after".into())));
        hub.close(&id);
        assert_eq!(slow_rx.recv().await, None);
        assert_eq!(fast_rx.recv().await, Some(Feed::Line("after".into())));
        assert_eq!(fast_rx.recv().await, None);
    }

    #[test]
    fn replay_is_limited_to_the_tail() {
        let hub = Hub::default();
        let id = JobId::random();
        hub.open(&id);
        for i in 0..300 {
            hub.push(&id, &i.to_string());
        }
        let follow = hub.follow(&id, 200).unwrap();
        assert_eq!(follow.replay.len(), 200);
        assert_eq!(follow.replay[0], "100");
    }
}
