//! Repository directories under the repo root: listing, creating and deleting them
//! (`disk`: the crash-safe steps), and the facts API.md 6.2 derives from them. Listing is served from caches keyed on what changed, so
//! `GET /repos` stats each repo directory once and walks nothing that has not changed.

mod disk;
mod facts;
mod sizes;

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::files::FileStamp;

pub use disk::Interrupted;
pub use facts::{Details, Facts};

use crate::model::RepoName;
use crate::state_dir::StateDir;

/// One listed directory: its name as found (valid or not) and its facts.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub path: PathBuf,
    pub facts: Facts,
}

/// Every listed repo, and a number that changes whenever anything in the listing may have.
pub struct Listing {
    pub repos: Vec<Listed>,
    pub generation: u64,
}

/// The repo root and the caches that make listing cheap.
pub struct Repos {
    root: PathBuf,
    state: StateDir,
    facts: Mutex<FactsCache>,
    sizes: sizes::SizeCache,
}

#[derive(Default)]
struct FactsCache {
    /// Facts per directory, valid while the directory's (inode, mtime) is unchanged:
    /// every borg commit, init, lock or config rewrite creates or renames an entry in it.
    entries: HashMap<String, (DirKey, Facts)>,
    /// The names of the last listing.
    listed: Vec<String>,
    /// Bumped when an entry or the set of names changes.
    generation: u64,
}

/// The kernel stamps mtimes with a coarse clock, so two changes a few milliseconds apart
/// can share one mtime. A directory changed this recently is read again next time.
const SETTLE_NS: i128 = 2_000_000_000;

impl FactsCache {
    fn get(
        &mut self,
        name: &str,
        path: &Path,
        sizes: &sizes::SizeCache,
        state: &StateDir,
        own_write: Option<FileStamp>,
        now_ns: i128,
    ) -> Option<Facts> {
        let meta = fs::symlink_metadata(path).ok().filter(|m| m.is_dir())?;
        let key = DirKey::of(&meta, own_write);
        if let Some((cached_key, facts)) = self.entries.get(name) {
            if *cached_key == key {
                return Some(facts.clone());
            }
        }
        let facts = facts::compute(path, &meta, name, sizes, state);
        let settled = now_ns - key.mtime_ns > SETTLE_NS;
        // An unsettled entry gets a key no directory has, so the next call recomputes.
        let stored = if settled {
            key
        } else {
            DirKey {
                ino: 0,
                mtime_ns: i128::MIN,
                own_write: None,
            }
        };
        self.entries
            .insert(name.to_owned(), (stored, facts.clone()));
        self.generation += 1;
        Some(facts)
    }
}

/// What a repo's facts depend on: the directory (every borg commit, init, lock or config
/// rewrite creates or renames an entry in it) and the record of borgbox's own last write,
/// which a job writes just after its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirKey {
    ino: u64,
    mtime_ns: i128,
    own_write: Option<FileStamp>,
}

impl DirKey {
    fn of(meta: &fs::Metadata, own_write: Option<FileStamp>) -> DirKey {
        DirKey {
            ino: meta.ino(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            own_write,
        }
    }
}

impl Repos {
    pub fn new(root: PathBuf, state: &StateDir) -> Repos {
        Repos {
            root,
            state: state.clone(),
            facts: Mutex::new(FactsCache::default()),
            sizes: sizes::SizeCache::new(state.repo_sizes_cache()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, name: &RepoName) -> PathBuf {
        self.root.join(name.as_str())
    }

    /// A repo exists when its path is a real directory (symlinks are not followed).
    pub fn exists(&self, name: &RepoName) -> bool {
        fs::symlink_metadata(self.path(name)).is_ok_and(|m| m.is_dir())
    }

    /// Every real directory under the root not starting with `.`, sorted by name.
    pub fn list(&self, now: OffsetDateTime) -> io::Result<Listing> {
        let mut names: Vec<String> = Vec::new();
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            names.push(name);
        }
        names.sort_unstable();
        // One read of the own-write records' directory instead of a stat per repo.
        let own_writes = facts::own_write_stamps(&self.state);
        let mut cache = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        let mut repos = Vec::with_capacity(names.len());
        let now = now.unix_timestamp_nanos();
        for name in &names {
            let path = self.root.join(name);
            let own_write = own_writes.get(name.as_str()).copied();
            if let Some(facts) = cache.get(name, &path, &self.sizes, &self.state, own_write, now) {
                repos.push(Listed {
                    name: name.clone(),
                    path,
                    facts,
                });
            }
        }
        if cache.listed != names {
            cache.listed = names;
            cache.generation += 1;
        }
        let generation = cache.generation;
        drop(cache);
        self.sizes.persist();
        Ok(Listing { repos, generation })
    }

    /// Facts of one repo, or None when it does not exist.
    pub fn facts(&self, name: &RepoName, now: OffsetDateTime) -> Option<Facts> {
        let mut cache = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        let own_write = FileStamp::of(&self.state.own_write(name.as_str()))
            .ok()
            .flatten();
        let facts = cache.get(
            name.as_str(),
            &self.path(name),
            &self.sizes,
            &self.state,
            own_write,
            now.unix_timestamp_nanos(),
        );
        drop(cache);
        self.sizes.persist();
        facts
    }

    /// The detailed fields of one repo (API.md 4.4) beyond its facts.
    pub fn details(&self, name: &RepoName) -> Details {
        facts::details(&self.path(name))
    }

    /// Forgets what borgbox kept about a deleted repo: cached facts and size, and the
    /// record of its own last write (a new repo of that name starts afresh).
    pub fn forget(&self, name: &RepoName) -> io::Result<()> {
        let mut cache = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        cache.entries.remove(name.as_str());
        cache.generation += 1;
        drop(cache);
        self.sizes.forget(name.as_str());
        self.sizes.persist();
        facts::forget_own_write(&self.state, name)
    }

    /// The last write of API.md 12.2, or None when the repo directory does not exist.
    /// Stat-level work: one read of the repo directory and a small record.
    pub fn last_write(&self, name: &RepoName) -> Option<Option<OffsetDateTime>> {
        self.exists(name)
            .then(|| facts::last_write_of(&self.path(name), &self.state, name))
    }

    /// Called when a borgbox job on `name` ends, so its commits never count as a backup:
    /// `txn` is the transaction after the job, `last_write` the last write before it.
    pub fn record_own_write(
        &self,
        name: &RepoName,
        txn: u64,
        last_write: OffsetDateTime,
    ) -> io::Result<()> {
        facts::record_own_write(&self.state, name, txn, last_write)
    }
}
