//! The crash-safe steps that create and delete a repo directory, as named operations; the
//! domain decides when each runs (and what goes with it: key lines, schedules, alerts).
//!
//! - create: `begin_create` makes `<root>/.<name>.creating`; `commit_create` renames it
//!   into place unless the name is taken (renameat2 NOREPLACE). A kill in between leaves
//!   the hidden directory, which `drop_create` removes.
//! - delete: `mark_deleting` renames the directory to `<root>/.<name>.deleting` (or makes
//!   that directory empty when there is none: it marks the intent); `empty_deleting` then
//!   `finish_delete` remove it. A kill after the mark leaves the marker.
//! - recovery: `interrupted` says which markers of a name a kill left, `interrupted_names`
//!   finds every name with one in the root.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::Repos;
use crate::model::RepoName;

/// Which half-done operations on a name a kill left behind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interrupted {
    pub create: bool,
    pub delete: bool,
}

impl Repos {
    fn hidden(&self, name: &RepoName, what: &str) -> PathBuf {
        self.root().join(format!(".{name}.{what}"))
    }

    /// Whether anything is at the repo's path (a directory, a file, a link).
    pub fn occupied(&self, name: &RepoName) -> bool {
        fs::symlink_metadata(self.path(name)).is_ok()
    }

    /// Whether a create or delete of `name` left anything behind, marker or not.
    pub fn half_done(&self, name: &RepoName) -> bool {
        ["creating", "deleting"]
            .iter()
            .any(|what| fs::symlink_metadata(self.hidden(name, what)).is_ok())
    }

    /// Create, step 1: the hidden directory. `AlreadyExists` when a create is under way.
    pub fn begin_create(&self, name: &RepoName) -> io::Result<()> {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(self.hidden(name, "creating"))
    }

    /// A create given up before anything else was written: its empty hidden directory.
    pub fn abandon_create(&self, name: &RepoName) {
        let _ = fs::remove_dir(self.hidden(name, "creating"));
    }

    /// Create, last step: the directory takes the repo's name, unless something has it
    /// (`AlreadyExists`; an empty directory would otherwise be replaced).
    pub fn commit_create(&self, name: &RepoName) -> io::Result<()> {
        use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
        renameat2(
            AT_FDCWD,
            &self.hidden(name, "creating"),
            AT_FDCWD,
            &self.path(name),
            RenameFlags::RENAME_NOREPLACE,
        )
        .map_err(io::Error::from)
    }

    /// Removes an unfinished create's hidden directory, whatever is in it.
    pub fn drop_create(&self, name: &RepoName) -> io::Result<()> {
        remove_tree(&self.hidden(name, "creating"))
    }

    /// Delete, step 1: the directory becomes the marker (`exists`), or an empty marker
    /// records the intent.
    pub fn mark_deleting(&self, name: &RepoName, exists: bool) -> io::Result<()> {
        let marker = self.hidden(name, "deleting");
        if exists {
            fs::rename(self.path(name), &marker)
        } else {
            fs::DirBuilder::new().mode(0o700).create(&marker)
        }
    }

    /// A delete that failed part-way gives what is left of the repo back.
    pub fn unmark_deleting(&self, name: &RepoName) {
        let _ = fs::rename(self.hidden(name, "deleting"), self.path(name));
    }

    /// Delete: empties the marker, never following symbolic links.
    pub fn empty_deleting(&self, name: &RepoName) -> io::Result<()> {
        let dir = self.hidden(name, "deleting");
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                remove_tree(&entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }

    /// Delete, last step: the empty marker goes.
    pub fn finish_delete(&self, name: &RepoName) -> io::Result<()> {
        fs::remove_dir(self.hidden(name, "deleting"))
    }

    /// The markers of `name` a kill left. Only a real directory counts: one that is a
    /// symbolic link is never followed (recovering through it would empty its target);
    /// anything else there is left alone and named in the log.
    pub fn interrupted(&self, name: &RepoName) -> Interrupted {
        Interrupted {
            create: is_marker(&self.hidden(name, "creating")),
            delete: is_marker(&self.hidden(name, "deleting")),
        }
    }

    /// Every name with a hidden `.<name>.creating` or `.<name>.deleting` in the root.
    pub fn interrupted_names(&self) -> io::Result<Vec<RepoName>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.root())? {
            let file = entry?.file_name();
            let Some(name) = file.to_str().and_then(|f| f.strip_prefix('.')) else {
                continue;
            };
            let name = name
                .strip_suffix(".creating")
                .or_else(|| name.strip_suffix(".deleting"));
            if let Some(name) = name.and_then(|n| n.parse::<RepoName>().ok()) {
                names.push(name);
            }
        }
        Ok(names)
    }
}

fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn is_marker(path: &Path) -> bool {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => true,
        Ok(_) => {
            log::warn!(
                "left {} alone: not a directory borgbox made, so not recovered",
                path.display()
            );
            false
        }
        Err(_) => false,
    }
}
