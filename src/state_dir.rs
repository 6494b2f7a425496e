//! The one map of borgbox's state directory (`BORGBOX_STATE_DIR`): every file and
//! directory borgbox keeps under it is named here and nowhere else (a test in this module
//! holds `src/` to that).

use std::path::PathBuf;

use crate::model::RepoName;

/// `<state dir>`, and the paths of what lives in it.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        StateDir { root: root.into() }
    }

    /// `jobs/`: job records, their logs, tail caches and live sockets (`JobStore`).
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }

    /// `locks/repo-<name>`: held by every operation on the repo, in every process.
    pub fn repo_lock(&self, name: &RepoName) -> PathBuf {
        self.root.join("locks").join(format!("repo-{name}"))
    }

    /// `locks/`: every lock above.
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }

    /// What a job's sandbox lets it write besides its repo (`jobs::spec::sandbox`): borg's
    /// base dir, the job records, the locks and the own-write records.
    pub fn job_writable(&self) -> [PathBuf; 4] {
        [
            self.borg_base(),
            self.jobs(),
            self.locks(),
            self.own_writes(),
        ]
    }

    /// `locks/timers`: held while borg's timer unit files are rewritten.
    pub fn timers_lock(&self) -> PathBuf {
        self.root.join("locks").join("timers")
    }

    /// `borg/`: borg's base directory (its config, keys cache and security dirs).
    pub fn borg_base(&self) -> PathBuf {
        self.root.join("borg")
    }

    /// `borg-version.json`: `borg --version`, keyed by the binary's identity.
    pub fn borg_version_cache(&self) -> PathBuf {
        self.root.join("borg-version.json")
    }

    /// `cache/repo-sizes.json`: the sizes of repo directories, so listing stays cheap.
    pub fn repo_sizes_cache(&self) -> PathBuf {
        self.root.join("cache/repo-sizes.json")
    }

    /// `last-write/`: one record per repo of borgbox's own last commit (API.md 12.2).
    pub fn own_writes(&self) -> PathBuf {
        self.root.join("last-write")
    }

    /// `last-write/<name>.json` for the repo directory `name` (a listed directory's name
    /// may not be a valid repo name).
    pub fn own_write(&self, name: &str) -> PathBuf {
        self.own_writes().join(format!("{name}.json"))
    }

    /// `keys-added.json`: when each key was added.
    pub fn keys_added(&self) -> PathBuf {
        self.root.join("keys-added.json")
    }

    /// `keys-used.json`: when each key was last used, from sshd's logins.
    pub fn keys_used(&self) -> PathBuf {
        self.root.join("keys-used.json")
    }
}

#[cfg(test)]
mod tests {
    /// The seam: no other file in `src/` joins a path onto the state directory or spells
    /// one of its file names.
    #[test]
    fn only_this_module_names_paths_under_the_state_dir() {
        let mut offenders = Vec::new();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("state_dir.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests build their own trees.
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                for needle in [
                    "state_dir.join(",
                    "state_dir).join(",
                    "\"borg-version.json\"",
                    "\"last-write\"",
                    "\"keys-added.json\"",
                    "\"keys-used.json\"",
                    "repo-sizes.json",
                ] {
                    if code.contains(needle) {
                        offenders.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
