//! How each Repo field of API.md 6.2 and 12.2 is computed from the directory.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use time::OffsetDateTime;

use super::sizes::{SizeCache, SizeKey};
use crate::borg::output::{parse_repo_config, quota_use_from_hints};
use crate::files::FileStamp;
use crate::model::RepoName;
use crate::state_dir::StateDir;

/// The fields every listed repo carries, all cheap to keep per directory version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub initialized: bool,
    pub size_bytes: u64,
    pub modified_at: OffsetDateTime,
    /// `storage_quota_use` of the current `hints.N`; 0 when unavailable.
    pub quota_used_bytes: u64,
    /// `storage_quota` of the repository's own `config`; 0 = none.
    pub config_quota_bytes: u64,
    /// API.md 12.2.
    pub last_write: Option<OffsetDateTime>,
    /// `lock.roster` or `lock.exclusive` exists.
    pub locked: bool,
    /// `version` of the repository's own `config`: 1 for borg 1.x, 2 for borg 2; 0 = none.
    pub format_version: u32,
}

/// The detailed fields of a single repo beyond its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    pub transaction_id: u64,
    pub segments: u64,
}

/// What one read of the repo directory tells.
#[derive(Debug, Default)]
struct Scan {
    /// Highest N among `integrity.N` and `hints.N`.
    txn: Option<u64>,
    locked: bool,
    has_config: bool,
}

fn scan(path: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(entries) = fs::read_dir(path) else {
        return scan;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match name {
            "config" => scan.has_config = true,
            "lock.roster" | "lock.exclusive" => scan.locked = true,
            _ => {
                let n = name
                    .strip_prefix("integrity.")
                    .or_else(|| name.strip_prefix("hints."))
                    .and_then(|n| n.parse::<u64>().ok());
                if n.is_some() && n > scan.txn {
                    scan.txn = n;
                }
            }
        }
    }
    scan
}

/// The current transaction file: `integrity.N`, else `hints.N` (borg writes both).
fn txn_meta(path: &Path, n: u64) -> Option<fs::Metadata> {
    fs::symlink_metadata(path.join(format!("integrity.{n}")))
        .or_else(|_| fs::symlink_metadata(path.join(format!("hints.{n}"))))
        .ok()
}

fn mtime_ns(meta: &fs::Metadata) -> i128 {
    i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec())
}

fn to_time(meta: &fs::Metadata) -> OffsetDateTime {
    meta.modified()
        .map(OffsetDateTime::from)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn read_config(path: &Path) -> crate::borg::output::RepoConfig {
    fs::read_to_string(path.join("config"))
        .map(|t| parse_repo_config(&t))
        .unwrap_or_default()
}

pub(super) fn compute(
    path: &Path,
    dir_meta: &fs::Metadata,
    name: &str,
    sizes: &SizeCache,
    state: &StateDir,
) -> Facts {
    let scan = scan(path);
    let txn_meta = scan.txn.and_then(|n| txn_meta(path, n));
    let current = txn_meta.as_ref().unwrap_or(dir_meta);
    let key = SizeKey {
        txn: txn_meta.as_ref().and(scan.txn),
        mtime_ns: mtime_ns(current),
    };
    let config = read_config(path);
    Facts {
        initialized: scan.has_config && config.is_repository,
        size_bytes: sizes.get_or_compute(name, key, || tree_size(path)),
        modified_at: to_time(current),
        quota_used_bytes: quota_used(path, scan.txn),
        config_quota_bytes: config.storage_quota,
        last_write: last_write(path, scan.txn, own_write(state, name)),
        locked: scan.locked,
        format_version: config.version,
    }
}

fn quota_used(path: &Path, txn: Option<u64>) -> u64 {
    txn.and_then(|n| fs::read(path.join(format!("hints.{n}"))).ok())
        .and_then(|bytes| quota_use_from_hints(&bytes))
        .unwrap_or(0)
}

pub(super) fn details(path: &Path) -> Details {
    let scan = scan(path);
    Details {
        transaction_id: scan.txn.unwrap_or(0),
        segments: count_files(&path.join("data")),
    }
}

/// API.md 12.2 for the repo at `path`, read afresh.
pub(super) fn last_write_of(
    path: &Path,
    state: &StateDir,
    name: &RepoName,
) -> Option<OffsetDateTime> {
    let own = own_write(state, name.as_str());
    last_write(path, scan(path).txn, own)
}

/// API.md 12.2: the last commit by anyone but borgbox's own jobs (`own`: what the last
/// one recorded).
fn last_write(
    path: &Path,
    txn: Option<u64>,
    own: Option<(u64, OffsetDateTime)>,
) -> Option<OffsetDateTime> {
    let t = match txn.and_then(|n| txn_meta(path, n)) {
        Some(meta) => to_time(&meta),
        None => newest_mtime(&path.join("data"))
            .or_else(|| fs::symlink_metadata(path).ok().map(|m| to_time(&m)))?,
    };
    match (txn, own) {
        (Some(n), Some((recorded_n, before))) if n == recorded_n => Some(t.min(before)),
        _ => Some(t),
    }
}

/// What the last borgbox job on a repo left (API.md 12.2): the transaction number after
/// it and the last write just before it.
#[derive(serde::Serialize, serde::Deserialize)]
struct OwnWrite {
    txn: u64,
    last_write_unix: i64,
}

/// The identity of every own-write record, by repo name: one directory read.
pub(super) fn own_write_stamps(state: &StateDir) -> std::collections::HashMap<String, FileStamp> {
    let Ok(entries) = fs::read_dir(state.own_writes()) else {
        return Default::default();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let repo = name.strip_suffix(".json")?.to_owned();
            Some((repo, FileStamp::from_metadata(&entry.metadata().ok()?)))
        })
        .collect()
}

fn own_write(state: &StateDir, name: &str) -> Option<(u64, OffsetDateTime)> {
    // A listed directory's name may not be a valid repo name; it then has no record.
    name.parse::<RepoName>().ok()?;
    let bytes = fs::read(state.own_write(name)).ok()?;
    let record: OwnWrite = serde_json::from_slice(&bytes).ok()?;
    Some((
        record.txn,
        OffsetDateTime::from_unix_timestamp(record.last_write_unix).ok()?,
    ))
}

pub(super) fn forget_own_write(state: &StateDir, name: &RepoName) -> std::io::Result<()> {
    let path = state.own_write(name.as_str());
    if !path.exists() {
        return Ok(());
    }
    let lock = crate::files::lock(&path)?;
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    lock.remove()
}

/// Called when a borgbox job on `name` ends, so its commits never count as a backup.
pub(super) fn record_own_write(
    state: &StateDir,
    name: &RepoName,
    txn: u64,
    last_write: OffsetDateTime,
) -> std::io::Result<()> {
    let path = state.own_write(name.as_str());
    if let Some(dir) = path.parent() {
        crate::files::ensure_dir(dir, 0o700)?;
    }
    let record = OwnWrite {
        txn,
        last_write_unix: last_write.unix_timestamp(),
    };
    let bytes = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
    crate::files::replace(&path, &bytes, 0o600)
}

/// Sum of regular file sizes below `dir`, never following symbolic links.
pub(super) fn tree_size(dir: &Path) -> u64 {
    walk(dir, &mut |meta| meta.len()).0
}

fn count_files(dir: &Path) -> u64 {
    walk(dir, &mut |_| 1).0
}

fn newest_mtime(dir: &Path) -> Option<OffsetDateTime> {
    walk(dir, &mut |_| 0).1.as_ref().map(to_time)
}

/// Adds `measure` over every regular file below `dir` and finds the newest one.
fn walk(dir: &Path, measure: &mut dyn FnMut(&fs::Metadata) -> u64) -> (u64, Option<fs::Metadata>) {
    let mut total = 0;
    let mut newest: Option<fs::Metadata> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // DirEntry::metadata does not follow symbolic links.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += measure(&meta);
                if newest
                    .as_ref()
                    .is_none_or(|n| mtime_ns(&meta) > mtime_ns(n))
                {
                    newest = Some(meta);
                }
            }
        }
    }
    (total, newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_counts_regular_files_and_skips_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("data/0")).unwrap();
        fs::write(dir.path().join("data/0/1"), vec![0u8; 1000]).unwrap();
        fs::write(dir.path().join("config"), "[repository]\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("big"), vec![0u8; 50_000]).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        assert_eq!(tree_size(dir.path()), 1000 + 13);
        assert_eq!(count_files(&dir.path().join("data")), 1);
    }

    #[test]
    fn scan_finds_the_highest_transaction_and_locks() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "hints.9",
            "integrity.9",
            "index.9",
            "hints.10",
            "integrity.10",
            "lock.roster",
            "config",
        ] {
            fs::write(dir.path().join(f), "").unwrap();
        }
        let scan = scan(dir.path());
        assert_eq!(scan.txn, Some(10));
        assert!(scan.locked && scan.has_config);
    }
}
