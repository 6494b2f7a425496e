//! Repo sizes, cached in the state dir so they survive idle exit. A size stays valid while
//! the repo's current transaction (its N and mtime) is unchanged: borg only grows or
//! shrinks a repo when a transaction commits (API.md 6.2). A bad cache file is a miss.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SizeKey {
    /// The transaction number, or None for a directory without one.
    pub txn: Option<u64>,
    /// mtime in ns of the transaction file, else of the directory.
    pub mtime_ns: i128,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Entry {
    key: SizeKey,
    size: u64,
}

pub struct SizeCache {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    loaded: bool,
    dirty: bool,
    entries: HashMap<String, Entry>,
}

impl SizeCache {
    pub fn new(path: PathBuf) -> SizeCache {
        SizeCache {
            path,
            state: Mutex::new(State::default()),
        }
    }

    /// The cached size for `key`, or `compute()`'s answer, remembered for next time.
    pub fn get_or_compute(&self, name: &str, key: SizeKey, compute: impl FnOnce() -> u64) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.loaded {
            // Loaded on first use, never at start-up.
            state.entries = std::fs::read(&self.path)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
            state.loaded = true;
        }
        if let Some(entry) = state.entries.get(name) {
            if entry.key == key {
                return entry.size;
            }
        }
        let size = compute();
        state.entries.insert(name.to_owned(), Entry { key, size });
        state.dirty = true;
        size
    }

    pub fn forget(&self, name: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.entries.remove(name).is_some() {
            state.dirty = true;
        }
    }

    /// Writes the cache back when something changed; failures only cost a later walk.
    pub fn persist(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.dirty {
            return;
        }
        state.dirty = false;
        let Ok(bytes) = serde_json::to_vec(&state.entries) else {
            return;
        };
        if let Some(dir) = self.path.parent() {
            let _ = crate::files::ensure_dir(dir, 0o700);
        }
        if let Err(e) = crate::files::replace(&self.path, &bytes, 0o600) {
            log::warn!(
                "failed to write the repo size cache {}: {e}",
                self.path.display()
            );
        }
    }
}
