//! Crash-safe writes of every file borgbox owns: an exclusive `flock` on a sibling
//! `<file>.lock` that is never renamed, and atomic replacement (temp file, fsync, rename,
//! directory fsync). Nothing else in borgbox renames files into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// An exclusive lock on `<path>.lock`, shared by every borgbox process; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _lock: Flock<File>,
}

/// The lock file guarding `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

/// Blocks until the exclusive lock guarding `path` is held. Each call opens the lock file
/// anew, so two callers in one process exclude each other too (flock is per open file
/// description). Call it from `spawn_blocking`, never on an async worker.
pub fn lock(path: &Path) -> io::Result<FileLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(lock_path(path))?;
    let lock =
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))?;
    Ok(FileLock { _lock: lock })
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new contents.
/// The temporary file has `mode` before its first byte is written.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path has no parent directory"))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // An existing temp file keeps its old mode; force ours before writing.
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
        use std::os::unix::fs::MetadataExt;
        match fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp {
                ino: m.ino(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                size: m.size(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn write_atomic_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
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
}
