//! The authorized_keys file on disk (API.md 7.4, 13.3): lock-free reads and locked
//! read-modify-write through `crate::files`. Blocking: call it from `spawn_blocking`.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::parse::AuthorizedKeys;
use crate::files;

/// sshd's StrictModes wants no group or other access to the file and its directory.
const FILE_MODE: u32 = 0o600;
const DIR_MODE: u32 = 0o700;

#[derive(Debug, Clone)]
pub struct KeyStore {
    path: PathBuf,
}

impl KeyStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The current contents; a missing file reads as empty.
    pub fn read(&self) -> io::Result<AuthorizedKeys> {
        Ok(AuthorizedKeys::parse(&files::read_or_empty(&self.path)?))
    }

    /// Changes whenever the file's contents may have.
    pub fn stamp(&self) -> io::Result<Option<files::FileStamp>> {
        files::FileStamp::of(&self.path)
    }

    /// Applies `f` to the contents read under the file lock and writes the result back
    /// atomically, only when `f` succeeded and changed something. Either way an existing
    /// file is left at mode 0600.
    pub fn modify<T, E: From<io::Error>>(
        &self,
        f: impl FnOnce(&mut AuthorizedKeys) -> Result<T, E>,
    ) -> Result<T, E> {
        if let Some(dir) = self.path.parent() {
            files::ensure_dir(dir, DIR_MODE)?;
        }
        let lock = files::lock(&self.path)?;
        let before = files::read_or_empty(&self.path)?;
        let mut keys = AuthorizedKeys::parse(&before);
        let out = f(&mut keys)?;
        let after = keys.render();
        if after != before {
            lock.replace(&after, FILE_MODE)?;
        } else {
            self.fix_mode()?;
        }
        Ok(out)
    }

    fn fix_mode(&self) -> io::Result<()> {
        match fs::metadata(&self.path) {
            Ok(meta) if meta.permissions().mode() & 0o7777 != FILE_MODE => {
                fs::set_permissions(&self.path, fs::Permissions::from_mode(FILE_MODE))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use crate::keys::{managed_line, RepoKeys};
    use crate::keys::{parse_public_key, pubkey::tests::ed25519_line};
    use crate::model::RepoName;

    const FOREIGN: &str = "# hand-written\r\n\nfrom=\"10.0.0.1\" ssh-ed25519 AAAAforeign admin";

    fn store_in(dir: &Path) -> KeyStore {
        KeyStore::new(dir.join("ssh").join("authorized_keys"))
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    fn line_for(repo: &RepoName, n: u8) -> String {
        let key = parse_public_key(&ed25519_line(&[n; 32], &format!("k{n}"))).unwrap();
        managed_line(
            Path::new("/usr/bin/borg"),
            &Path::new("/srv/repos").join(repo.as_str()),
            crate::keys::ServeFlags::default(),
            &key,
            repo,
            &key.comment,
        )
        .unwrap()
    }

    #[test]
    fn missing_file_reads_empty_and_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        assert_eq!(store.read().unwrap().render(), b"");
        let repo: RepoName = "mac".parse().unwrap();
        store
            .modify(|keys| {
                keys.append_line(line_for(&repo, 1));
                Ok::<_, io::Error>(())
            })
            .unwrap();
        assert_eq!(mode(&store.path), 0o600);
        assert_eq!(mode(store.path.parent().unwrap()), 0o700);
        assert_eq!(store.read().unwrap().managed(&repo).len(), 1);
    }

    #[test]
    fn unchanged_contents_are_not_rewritten_but_mode_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        fs::create_dir(store.path.parent().unwrap()).unwrap();
        fs::write(&store.path, FOREIGN).unwrap();
        fs::set_permissions(&store.path, fs::Permissions::from_mode(0o644)).unwrap();
        let before = fs::metadata(&store.path).unwrap();
        let removed = store
            .modify(|keys| Ok::<_, io::Error>(keys.remove_repo(&"mac".parse().unwrap())))
            .unwrap();
        assert_eq!(removed, 0);
        let after = fs::metadata(&store.path).unwrap();
        assert_eq!(
            (after.ino(), after.mtime_nsec()),
            (before.ino(), before.mtime_nsec())
        );
        assert_eq!(mode(&store.path), 0o600);
        assert_eq!(fs::read_to_string(&store.path).unwrap(), FOREIGN);
    }

    #[test]
    fn a_failed_change_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        let result = store.modify(|keys| {
            keys.append_line("x".to_owned());
            Err::<(), _>(io::Error::other("refused"))
        });
        assert!(result.is_err());
        assert!(!store.path.exists());
    }

    #[test]
    fn concurrent_writers_lose_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path());
        fs::create_dir(store.path.parent().unwrap()).unwrap();
        fs::write(&store.path, FOREIGN).unwrap();
        let repos: Vec<RepoName> = (0..50).map(|n| format!("r{n}").parse().unwrap()).collect();
        std::thread::scope(|scope| {
            for (n, repo) in repos.iter().enumerate() {
                let (store, line) = (&store, line_for(repo, n as u8));
                scope.spawn(move || {
                    store
                        .modify(|keys| {
                            keys.append_line(line);
                            Ok::<_, io::Error>(())
                        })
                        .unwrap()
                });
            }
        });
        let text = fs::read_to_string(&store.path).unwrap();
        assert!(
            text.starts_with(&format!("{FOREIGN}\n")),
            "foreign lines intact"
        );
        let keys = store.read().unwrap();
        let summary = keys.summary();
        for (n, repo) in repos.iter().enumerate() {
            assert_eq!(
                text.matches(&format!("{}\n", line_for(repo, n as u8)))
                    .count(),
                1
            );
            let one = RepoKeys {
                keys: 1,
                all_append_only: false,
                storage_quota: 0,
                unrestricted: 0,
            };
            assert_eq!(summary.get(repo.as_str()), Some(&one));
        }
        assert_eq!(text.lines().count(), 3 + 50);
        assert_eq!(mode(&store.path), 0o600);
    }
}
