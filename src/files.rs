//! Crash-safe writes of every file borgbox owns: an exclusive `flock` on a sibling
//! `<file>.lock`, and atomic replacement (temp file, fsync, rename, directory fsync) made
//! only while that lock is held. Nothing else in borgbox renames files into place.
//!
//! Two rules make a SIGKILL at any instant harmless:
//! - every temporary file has a name unique to its write (`.<name>.tmp.<pid>.<n>`), and
//!   since every writer of `<name>` holds its lock, any such file found under the lock
//!   belongs to a writer that died: `FileLock::replace` removes them first;
//! - a lock file may be removed only by its holder (`FileLock::remove`), and `lock` checks
//!   after each flock that the path still names the file it locked, retrying otherwise,
//!   so a waiter never ends up holding a lock on an unlinked file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{Flock, FlockArg};

/// An exclusive lock on `<path>.lock`, shared by every borgbox process; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _held: Flock<File>,
    /// The file this lock guards.
    path: PathBuf,
}

/// The lock file guarding `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    sibling(path, ".lock")
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Blocks until the exclusive lock guarding `path` is held. Each call opens the lock file
/// anew, so two callers in one process exclude each other too (flock is per open file
/// description). Call it from `spawn_blocking`, never on an async worker.
pub fn lock(path: &Path) -> io::Result<FileLock> {
    let lock_file = lock_path(path);
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_file)?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| io::Error::from(errno))?;
        // Its holder may have removed the lock file while we waited: ours is then an
        // unlinked inode nobody else will lock, so start again with the current one.
        let held = lock.metadata()?;
        match fs::metadata(&lock_file) {
            Ok(now) if (now.dev(), now.ino()) == (held.dev(), held.ino()) => {
                return Ok(FileLock {
                    _held: lock,
                    path: path.to_owned(),
                })
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

impl FileLock {
    /// Replaces the guarded file with `bytes` (see `write_atomic`), first removing the
    /// temporaries of writers that died: under the lock no other writer can be mid-write.
    pub fn replace(&self, bytes: &[u8], mode: u32) -> io::Result<()> {
        remove_stale_temporaries(&self.path)?;
        write_atomic(&self.path, bytes, mode)
    }

    /// Replaces another file this lock guards (one lock for a directory of files, such as
    /// the generated timers), the same way as `replace`.
    pub fn replace_other(&self, path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
        remove_stale_temporaries(path)?;
        write_atomic(path, bytes, mode)
    }

    /// Removes the lock file itself (when what it guards is gone for good). Safe while
    /// held: `lock` notices and retries on the new file.
    pub fn remove(self) -> io::Result<()> {
        match fs::remove_file(lock_path(&self.path)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Replaces `path` with `bytes` under its lock: for files with no read-modify-write
/// (caches). Blocking, like `lock`.
pub fn replace(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    lock(path)?.replace(bytes, mode)
}

/// The prefix of every temporary file made for `path`.
fn temp_prefix(path: &Path) -> String {
    format!(
        ".{}.tmp.",
        path.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Removes `.<name>.tmp.*` next to `path`. Only under `path`'s lock.
fn remove_stale_temporaries(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    let prefix = temp_prefix(path);
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new contents.
/// The temporary file has `mode` before its first byte is written and a name no other
/// write uses. Callers hold `path`'s lock (`FileLock::replace`), which is what lets a
/// later writer remove the temporary of one that was killed.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let tmp = dir.join(format!(
        "{}{}.{}",
        temp_prefix(path),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed `mode`; force it before writing.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `dir` (and missing parents) with `mode`, leaving an existing directory alone.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match fs::DirBuilder::new().recursive(true).mode(mode).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads `path`, treating a missing file as empty.
pub fn read_or_empty(path: &Path) -> io::Result<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Identifies one version of a file that is only ever replaced by rename or appended to:
/// a new inode, mtime or size means new contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    ino: u64,
    mtime_ns: i128,
    size: u64,
}

impl FileStamp {
    /// None when the file does not exist.
    pub fn of(path: &Path) -> io::Result<Option<FileStamp>> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp::from_metadata(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn from_metadata(m: &fs::Metadata) -> FileStamp {
        FileStamp {
            ino: m.ino(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            size: m.size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replace_sets_mode_and_leaves_only_the_file_and_its_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "old").unwrap();
        replace(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(names(dir.path()), vec!["f", "f.lock"]);
    }

    #[test]
    fn a_dead_writers_temporaries_are_removed_under_the_lock_and_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // What a writer killed between create and rename leaves behind.
        fs::write(dir.path().join(".f.tmp.123.0"), "half").unwrap();
        fs::write(dir.path().join(".f.tmp.123.1"), "half").unwrap();
        fs::write(dir.path().join(".g.tmp.123.0"), "another file's").unwrap();
        replace(&path, b"new", 0o600).unwrap();
        assert_eq!(names(dir.path()), vec![".g.tmp.123.0", "f", "f.lock"]);
    }

    #[test]
    fn two_writers_in_one_process_never_share_a_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::thread::scope(|scope| {
            for n in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    for _ in 0..50 {
                        replace(path, &[n; 100], 0o600).unwrap();
                    }
                });
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "a torn write");
        assert_eq!(names(dir.path()), vec!["f", "f.lock"]);
    }

    #[test]
    fn lock_excludes_a_second_holder_in_the_same_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let held = lock(&path).unwrap();
        let file = OpenOptions::new()
            .write(true)
            .open(lock_path(&path))
            .unwrap();
        assert!(Flock::lock(file, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let file = OpenOptions::new()
            .write(true)
            .open(lock_path(&path))
            .unwrap();
        assert!(Flock::lock(file, FlockArg::LockExclusiveNonblock).is_ok());
    }

    #[test]
    fn a_waiter_never_holds_a_removed_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let held = lock(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                let got = lock(&path).unwrap();
                tx.send(()).unwrap();
                got
            })
        };
        // Give the waiter time to block on the old file, then remove it while held.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(std::time::Duration::from_millis(100));
        held.remove().unwrap();
        rx.recv().unwrap();
        let got = waiter.join().unwrap();
        // The waiter holds the lock file that is there now, so a third party is excluded.
        let file = OpenOptions::new()
            .write(true)
            .open(lock_path(&path))
            .unwrap();
        assert!(Flock::lock(file, FlockArg::LockExclusiveNonblock).is_err());
        drop(got);
    }
}
