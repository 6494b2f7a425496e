//! borgbox's JSON array files (schedules, alerts; API.md 11.5, 12.6): read without a lock
//! and parsed again only when the file changed, changed only as a locked read-modify-write
//! through `crate::files`. A file that does not parse is an error, never an empty list:
//! borgbox must not overwrite what it cannot read. Blocking: call it from `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::files::{self, FileStamp};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(
        "{path}: cannot be parsed ({reason}); fix or remove it, borgbox will not overwrite it"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One JSON array file: its parse and check rules and the last parse.
pub struct JsonArrayFile<T> {
    path: PathBuf,
    check: fn(&T) -> Result<(), String>,
    cached: Mutex<Option<(FileStamp, Arc<Vec<T>>)>>,
}

impl<T> JsonArrayFile<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq,
{
    pub fn new(path: PathBuf, check: fn(&T) -> Result<(), String>) -> Self {
        JsonArrayFile {
            path,
            check,
            cached: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> FileError {
        FileError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn parse(&self, bytes: &[u8]) -> Result<Vec<T>, FileError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let corrupt = |reason: String| FileError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let items: Vec<T> = serde_json::from_slice(bytes).map_err(|e| corrupt(e.to_string()))?;
        for item in &items {
            (self.check)(item).map_err(corrupt)?;
        }
        Ok(items)
    }

    /// The current contents (a missing file is empty), parsed again only when the file
    /// changed since the last call.
    pub fn load(&self) -> Result<Arc<Vec<T>>, FileError> {
        let stamp = FileStamp::of(&self.path).map_err(|e| self.io(e))?;
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(stamp), Some((seen, items))) = (stamp, cached.as_ref()) {
            if *seen == stamp {
                return Ok(items.clone());
            }
        }
        let bytes = files::read_or_empty(&self.path).map_err(|e| self.io(e))?;
        let items = Arc::new(self.parse(&bytes)?);
        if let Some(stamp) = stamp {
            *cached = Some((stamp, items.clone()));
        }
        Ok(items)
    }

    /// Applies `change` to the contents read under the file's lock and writes the result
    /// back (mode 0600) when `change` succeeded and changed something.
    pub fn modify<R, E: From<FileError>>(
        &self,
        change: impl FnOnce(&mut Vec<T>) -> Result<R, E>,
    ) -> Result<R, E> {
        if let Some(dir) = self.path.parent() {
            files::ensure_dir(dir, 0o700).map_err(|e| self.io(e))?;
        }
        let lock = files::lock(&self.path).map_err(|e| self.io(e))?;
        let bytes = files::read_or_empty(&self.path).map_err(|e| self.io(e))?;
        let before = self.parse(&bytes)?;
        let mut items = before.clone();
        let out = change(&mut items)?;
        if items != before {
            let mut text = serde_json::to_vec_pretty(&items).map_err(|e| self.io(e.into()))?;
            text.push(b'\n');
            lock.replace(&text, 0o600).map_err(|e| self.io(e))?;
        }
        Ok(out)
    }
}
