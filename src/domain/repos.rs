//! Repo operations (API.md 6, 8.3, 16.1): create, import, update, delete, break-lock, and
//! the views every endpoint answers with. The rules and their order are here; the
//! crash-safe steps on disk are `repos::disk`'s. Create and delete are crash-atomic:
//!
//! - create begins the hidden directory, appends the managed line, then commits the
//!   directory into place. A kill before the commit leaves the hidden directory: `recover`
//!   removes it and the line, so a retried create succeeds.
//! - delete first marks the repo deleting, then removes the managed lines, empties the
//!   marker, removes the repo's schedules and alerts, and last the marker. A kill anywhere
//!   after the mark leaves the marker: `recover` finishes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Domain, Error, Result};
use crate::borg;
use crate::keys::{
    managed_line, parse_public_key, sanitize_comment, AuthorizedKeys, BlobOwner, PublicKey,
    RepoKeys, ServeFlags,
};
use crate::logging::message_id;
use crate::model::timestamp::format_utc;
use crate::model::RepoName;
use crate::repos::{Details, Facts, Listing};

/// What authorized_keys says about one repo.
pub type Registration = RepoKeys;

/// One repo as the API shows it (API.md 4.4, 16.1).
#[derive(Debug, Clone)]
pub struct RepoView {
    pub name: String,
    pub path: String,
    pub ssh_url: String,
    pub facts: Facts,
    pub registration: Registration,
    /// Only for the detailed form.
    pub details: Option<Details>,
}

impl RepoView {
    /// The quota borg enforces: the managed lines' `--storage-quota`, else the repository's
    /// own, else 0 (API.md 16.1).
    pub fn storage_quota_bytes(&self) -> u64 {
        match self.registration.storage_quota {
            0 => self.facts.config_quota_bytes,
            lines => lines,
        }
    }

    /// `borgbox`, `repository` or `""`.
    pub fn quota_source(&self) -> &'static str {
        if self.registration.storage_quota > 0 {
            "borgbox"
        } else if self.facts.config_quota_bytes > 0 {
            "repository"
        } else {
            ""
        }
    }
}

/// The body of create and import.
#[derive(Debug, Clone)]
pub struct NewRepo {
    pub name: String,
    pub pubkey: String,
    pub append_only: bool,
    pub storage_quota_bytes: Option<i64>,
}

impl NewRepo {
    /// The checks of API.md 6.4 and 6.5 that need no file, in their order: name, quota,
    /// key.
    fn checked(&self) -> Result<(RepoName, NewKey, ServeFlags)> {
        let name = Domain::repo_name(&self.name)?;
        let storage_quota = quota(self.storage_quota_bytes)?.unwrap_or(0);
        let key = NewKey::parse(&self.pubkey, None)?;
        let flags = ServeFlags {
            append_only: self.append_only,
            storage_quota,
        };
        Ok((name, key, flags))
    }
}

/// PATCH /repos/{name}: the fields present.
#[derive(Debug, Clone, Default)]
pub struct RepoUpdate {
    pub append_only: Option<bool>,
    pub storage_quota_bytes: Option<i64>,
}

/// borg's own minimum (`10M`) and a bound that keeps every sum in range (API.md 16.1).
const MIN_QUOTA: i64 = 10_000_000;
const MAX_QUOTA: i64 = 1 << 62;

pub(super) fn quota(value: Option<i64>) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(0) => Ok(Some(0)),
        Some(q) if (MIN_QUOTA..=MAX_QUOTA).contains(&q) => Ok(Some(q as u64)),
        Some(_) => Err(Error::Invalid(format!(
            "storage_quota_bytes must be 0 (no quota) or an integer from {MIN_QUOTA} to {MAX_QUOTA}"
        ))),
    }
}

/// A validated public key from a request, with the comment its line will carry.
pub(super) struct NewKey {
    key: PublicKey,
    comment: String,
    pub fingerprint: String,
}

impl NewKey {
    /// Validates `text` (API.md 7.1); `comment`, when given, replaces the key's own.
    pub(super) fn parse(text: &str, comment: Option<&str>) -> Result<NewKey> {
        let key = parse_public_key(text).map_err(|e| Error::Invalid(e.to_string()))?;
        let comment = sanitize_comment(comment.unwrap_or(&key.comment));
        Ok(NewKey {
            fingerprint: key.fingerprint(),
            key,
            comment,
        })
    }

    /// A blob may stand on one line only (API.md 7.4).
    pub(super) fn refuse_present(&self, keys: &AuthorizedKeys) -> Result<()> {
        match keys.blob_owner(&self.key.blob_b64) {
            None => Ok(()),
            Some(BlobOwner::Managed(repo)) => Err(Error::KeyRegistered(repo)),
            Some(BlobOwner::Foreign) => Err(Error::KeyPresent),
        }
    }
}

fn registration(keys: &AuthorizedKeys, name: &RepoName) -> Registration {
    keys.summary().remove(name.as_str()).unwrap_or_default()
}

/// The 409s of API.md 6.4 and 6.5 that authorized_keys decides: the name already has a
/// managed line, or the key is already in the file.
fn refuse_registration(keys: &AuthorizedKeys, name: &RepoName, key: &NewKey) -> Result<()> {
    if !keys.managed(name).is_empty() {
        return Err(Error::AlreadyRegistered(name.clone()));
    }
    key.refuse_present(keys)
}

impl Domain {
    pub fn ssh_url(&self, path: &Path) -> String {
        self.settings.ssh_url(path)
    }

    /// Every directory under the repo root, and a stamp that changes whenever the answer
    /// of `GET /repos` may have: the listing's generation and authorized_keys' identity.
    pub fn list_repos(&self) -> Result<((u64, Option<crate::files::FileStamp>), Listing)> {
        let keys_stamp = self.keys.stamp()?;
        let listing = self.repos.list(self.clock.now())?;
        Ok(((listing.generation, keys_stamp), listing))
    }

    /// The views of a listing (API.md 6.3), reading authorized_keys once.
    pub fn repo_views(&self, listing: Listing) -> Result<Vec<RepoView>> {
        let summary = self.keys.read()?.summary();
        Ok(listing
            .repos
            .into_iter()
            .map(|r| RepoView {
                registration: summary.get(&r.name).copied().unwrap_or_default(),
                ssh_url: self.ssh_url(&r.path),
                path: r.path.display().to_string(),
                name: r.name,
                facts: r.facts,
                details: None,
            })
            .collect())
    }

    /// The detailed view of one repo (API.md 4.4); RepoNotFound when it does not exist.
    pub fn repo_detail(&self, name: &RepoName) -> Result<RepoView> {
        let keys = self.keys.read()?;
        self.detail_with(name, &keys)
    }

    fn detail_with(&self, name: &RepoName, keys: &AuthorizedKeys) -> Result<RepoView> {
        let facts = self
            .repos
            .facts(name, self.clock.now())
            .ok_or(Error::RepoNotFound)?;
        let path = self.repos.path(name);
        Ok(RepoView {
            name: name.to_string(),
            ssh_url: self.ssh_url(&path),
            path: path.display().to_string(),
            facts,
            registration: registration(keys, name),
            details: Some(self.repos.details(name)),
        })
    }

    pub(super) fn line(&self, name: &RepoName, key: &NewKey, flags: ServeFlags) -> Result<String> {
        managed_line(
            &self.settings.borg,
            &self.repos.path(name),
            flags,
            &key.key,
            name,
            &key.comment,
        )
        .map_err(|e| Error::Internal(e.into()))
    }

    pub(super) fn record_added(&self, name: &RepoName, fingerprint: &str) {
        let at = format_utc(self.clock.now());
        if let Err(e) = self.added_at.record(name, fingerprint, at) {
            log::warn!("failed to record when key {fingerprint} was added to repo {name}: {e}");
        }
    }

    /// POST /repos (API.md 6.4): checks in the contract's order, then the directory and
    /// its managed line, crash-atomically.
    pub async fn create_repo(self: &Arc<Self>, request: NewRepo) -> Result<RepoView> {
        let (name, key, flags) = request.checked()?;
        // The refusals are checked first without the lock, so that a refused create leaves
        // nothing on disk, not even the name's lock file; under the lock they hold again.
        let (name, key) = self
            .blocking(move |domain| {
                domain.refuse_create(&name, &key)?;
                Ok((name, key))
            })
            .await?;
        let _lock = self.lock_repo(&name).await?;
        self.blocking(move |domain| {
            if domain.repos.occupied(&name) {
                return Err(Error::RepoExists);
            }
            let line = domain.line(&name, &key, flags)?;
            let written = domain.keys.modify(|keys| {
                refuse_registration(keys, &name, &key)?;
                domain
                    .repos
                    .begin_create(&name)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::AlreadyExists => Error::RepoExists,
                        _ => e.into(),
                    })?;
                keys.append_line(line);
                Ok(())
            });
            if let Err(err) = written {
                domain.repos.abandon_create(&name);
                return Err(err);
            }
            if let Err(e) = domain.repos.commit_create(&name) {
                // Undo the line and the directory the commit would have made whole.
                domain.undo_create(&name)?;
                return Err(match e.kind() {
                    io::ErrorKind::AlreadyExists => Error::RepoExists,
                    _ => e.into(),
                });
            }
            domain.record_added(&name, &key.fingerprint);
            log::info!(
                message_id = message_id::REPO_CREATED,
                borgbox_repo = name.as_str(),
                borgbox_key = key.fingerprint.as_str(),
                borgbox_append_only = flags.append_only;
                "created repo {name} with key {}", key.fingerprint
            );
            domain.repo_detail(&name)
        })
        .await
    }

    /// Why a create of `name` with `key` would be refused (API.md 6.4's 409s), read
    /// without the repo's lock. Nothing while a killed create or delete of the name awaits
    /// its recovery, which only the lock's holder may do (and may change the answer).
    fn refuse_create(&self, name: &RepoName, key: &NewKey) -> Result<()> {
        if self.repos.half_done(name) {
            return Ok(());
        }
        if self.repos.occupied(name) {
            return Err(Error::RepoExists);
        }
        refuse_registration(&self.keys.read()?, name, key)
    }

    /// POST /repos/import (API.md 6.5): a key line for a directory that already exists.
    pub async fn import_repo(self: &Arc<Self>, request: NewRepo) -> Result<RepoView> {
        let (name, key, flags) = request.checked()?;
        let _lock = self.lock_known_repo(&name).await?;
        self.blocking(move |domain| {
            if !domain.repos.exists(&name) {
                return Err(Error::RepoNotFound);
            }
            if !domain.repos.path(&name).join("config").is_file() {
                return Err(Error::Invalid(
                    "directory is not a borg repository (no config file)".into(),
                ));
            }
            let line = domain.line(&name, &key, flags)?;
            domain.keys.modify(|keys| {
                refuse_registration(keys, &name, &key)?;
                keys.append_line(line);
                Ok::<_, Error>(())
            })?;
            domain.record_added(&name, &key.fingerprint);
            log::info!(
                message_id = message_id::REPO_IMPORTED,
                borgbox_repo = name.as_str(),
                borgbox_key = key.fingerprint.as_str(),
                borgbox_append_only = flags.append_only;
                "imported repo {name} with key {}", key.fingerprint
            );
            domain.repo_detail(&name)
        })
        .await
    }

    /// PATCH /repos/{name} (API.md 6.7, 16.1): rewrites the forced command of every
    /// managed line; each present field is applied, absent ones kept line by line.
    pub async fn update_repo(
        self: &Arc<Self>,
        name: &RepoName,
        update: RepoUpdate,
    ) -> Result<RepoView> {
        if update.append_only.is_none() && update.storage_quota_bytes.is_none() {
            return Err(Error::Invalid(
                "append_only or storage_quota_bytes is required".into(),
            ));
        }
        let quota = quota(update.storage_quota_bytes)?;
        let _lock = self.lock_known_repo(name).await?;
        if let Some(quota) = quota {
            self.follow_quota_in_repository(name, quota).await?;
        }
        let name = name.clone();
        self.blocking(move |domain| {
            if !domain.repos.exists(&name) {
                return Err(Error::RepoNotFound);
            }
            let path = domain.repos.path(&name);
            let change = |flags: ServeFlags| ServeFlags {
                append_only: update.append_only.unwrap_or(flags.append_only),
                storage_quota: quota.unwrap_or(flags.storage_quota),
            };
            let changed = domain.keys.modify(|keys| {
                if keys.managed(&name).is_empty() {
                    return Err(Error::NotRegistered);
                }
                keys.set_flags(&name, change, &domain.settings.borg, &path)
                    .map_err(|e| Error::Internal(e.into()))
            })?;
            if changed > 0 {
                if let Some(append_only) = update.append_only {
                    log::info!(
                        message_id = message_id::APPEND_ONLY_CHANGED,
                        borgbox_repo = name.as_str(),
                        borgbox_append_only = append_only;
                        "set append-only to {append_only} on repo {name}"
                    );
                }
                if let Some(quota) = quota {
                    log::info!(
                        message_id = message_id::QUOTA_CHANGED,
                        borgbox_repo = name.as_str(),
                        borgbox_storage_quota = quota;
                        "set the storage quota of repo {name} to {quota} bytes (0 = none)"
                    );
                }
            }
            domain.repo_detail(&name)
        })
        .await
    }

    /// Under the repo's lock, before its lines change: a `borg init` through a forced
    /// command with `--storage-quota` wrote that quota into the repository's own config,
    /// which borg keeps enforcing once the lines lose it. When the repository holds the
    /// very quota borgbox's lines carry, it follows the new one (0 deletes it); a value
    /// of the repository's own is left alone (and reported as `quota_source: repository`).
    async fn follow_quota_in_repository(self: &Arc<Self>, name: &RepoName, new: u64) -> Result<()> {
        let (path, lines, own) = {
            let name = name.clone();
            self.blocking(move |domain| {
                let lines = domain
                    .keys
                    .read()?
                    .summary()
                    .remove(name.as_str())
                    .map_or(0, |keys| keys.storage_quota);
                let path = domain.repos.path(&name);
                let own = fs::read_to_string(path.join("config"))
                    .map(|text| borg::output::parse_repo_config(&text))
                    .unwrap_or_default();
                Ok((path, lines, own.is_repository.then_some(own.storage_quota)))
            })
            .await?
        };
        if lines == 0 || own != Some(lines) || lines == new {
            return Ok(());
        }
        self.borg
            .run(
                &borg::set_storage_quota(&path, new),
                None,
                borg::CONFIG_TIMEOUT,
            )
            .await?;
        log::info!(
            borgbox_repo = name.as_str();
            "set the repository's own storage_quota of repo {name} to {new} bytes (0 = none), as its keys'"
        );
        Ok(())
    }

    /// 409 while a job of the repo is queued or running (API.md 6.8, 8.3).
    async fn refuse_busy(&self, name: &RepoName) -> Result<()> {
        match self.jobs.running_on(name).await? {
            Some(id) => Err(Error::Busy {
                repo: name.clone(),
                id,
            }),
            None => Ok(()),
        }
    }

    /// DELETE /repos/{name} (API.md 6.8): its managed lines, then its directory, then its
    /// schedules and alerts with their timers.
    pub async fn delete_repo(self: &Arc<Self>, name: &RepoName) -> Result<()> {
        let _lock = self.lock_known_repo(name).await?;
        self.refuse_busy(name).await?;
        let name = name.clone();
        let timers_changed = self
            .blocking(move |domain| {
                let exists = domain.repos.exists(&name);
                // Its lines change only under its lock, which this holds.
                if !exists && domain.keys.read()?.managed(&name).is_empty() {
                    return Err(Error::RepoNotFound);
                }
                domain.repos.mark_deleting(&name, exists)?;
                let (removed, timers_changed) = match domain.finish_delete(&name) {
                    Ok(done) => done,
                    Err(e) => {
                        // Give what is left of the repo back, so the operator sees it.
                        if exists {
                            domain.repos.unmark_deleting(&name);
                        }
                        return Err(e);
                    }
                };
                log::info!(
                    message_id = message_id::REPO_DELETED,
                    borgbox_repo = name.as_str();
                    "deleted repo {name} ({removed} key lines removed)"
                );
                Ok(timers_changed)
            })
            .await?;
        if timers_changed {
            self.reconcile().await;
        }
        Ok(())
    }

    /// A delete from its marker on (API.md 6.8's order): the managed lines, the directory's
    /// contents, then schedules and alerts, bookkeeping, and the marker. Returns how many
    /// lines went and whether a schedule or alert went (their timers must follow).
    fn finish_delete(&self, name: &RepoName) -> Result<(usize, bool)> {
        let removed = self
            .keys
            .modify(|keys| Ok::<_, Error>(keys.remove_repo(name)))?;
        if let Err(e) = self.added_at.forget(name, None) {
            log::warn!("failed to forget key records of repo {name}: {e}");
        }
        self.repos.empty_deleting(name)?;
        let schedules = self.schedules.modify(|all| {
            let before = all.len();
            all.retain(|s| s.repo != *name);
            Ok::<_, Error>(all.len() != before)
        })?;
        let alerts = self.alerts.modify(|all| {
            let before = all.len();
            all.retain(|a| a.repo != *name);
            Ok::<_, Error>(all.len() != before)
        })?;
        self.repos.forget(name)?;
        self.repos.finish_delete(name)?;
        Ok((removed, schedules || alerts))
    }

    /// Finishes or undoes, under each repo's lock, every create or delete a kill left
    /// half-done (the hidden `.<name>.creating` and `.<name>.deleting` entries): what
    /// `serve` runs in the background once it is ready, so a repo nobody touches again
    /// does not stay half-made.
    pub async fn recover_all(self: &Arc<Self>) -> Result<usize> {
        let names = self
            .blocking(|domain| Ok(domain.repos.interrupted_names()?))
            .await?;
        for name in &names {
            drop(self.lock_repo(name).await?);
        }
        Ok(names.len())
    }

    /// Removes what a create that did not finish made: its line and hidden directory.
    fn undo_create(&self, name: &RepoName) -> Result<()> {
        let removed = self
            .keys
            .modify(|keys| Ok::<_, Error>(keys.remove_repo(name)))?;
        if let Err(e) = self.added_at.forget(name, None) {
            log::warn!("failed to forget key records of repo {name}: {e}");
        }
        self.repos.drop_create(name)?;
        log::warn!(
            borgbox_repo = name.as_str();
            "undid an unfinished create of repo {name} ({removed} key lines removed)"
        );
        Ok(())
    }

    /// Under the repo's lock: finishes a delete or undoes a create that a kill interrupted.
    /// Returns whether schedules or alerts changed. Two stats when there is nothing to do.
    pub(super) fn recover(&self, name: &RepoName) -> Result<bool> {
        let interrupted = self.repos.interrupted(name);
        if interrupted.create {
            if self.repos.exists(name) {
                // Not ours to judge: a directory made by hand meanwhile keeps its lines.
                self.repos.drop_create(name)?;
            } else {
                // The line, if it was written, belongs to the create that never finished.
                self.undo_create(name)?;
            }
        }
        if interrupted.delete {
            log::warn!(borgbox_repo = name.as_str(); "finishing an interrupted delete of repo {name}");
            return Ok(self.finish_delete(name)?.1);
        }
        Ok(false)
    }

    /// POST /repos/{name}/break-lock (API.md 8.3). Holds the repo's lock throughout, so no
    /// job starts while borg breaks the lock.
    pub async fn break_lock(self: &Arc<Self>, name: &RepoName) -> Result<()> {
        let _lock = self.lock_known_repo(name).await?;
        let path = {
            let name = name.clone();
            self.blocking(move |domain| domain.initialized_path(&name))
                .await?
        };
        self.refuse_busy(name).await?;
        self.borg
            .run(&borg::break_lock(&path), None, borg::BREAK_LOCK_TIMEOUT)
            .await?;
        log::info!(message_id = message_id::LOCK_BROKEN, borgbox_repo = name.as_str(); "broke the lock of repo {name}");
        Ok(())
    }

    /// RepoNotFound unless the repo exists, NotInitialized unless it holds a borg repository,
    /// UnsupportedRepo when that is a borg 2 one.
    pub fn initialized_path(&self, name: &RepoName) -> Result<PathBuf> {
        let facts = self
            .repos
            .facts(name, self.clock.now())
            .ok_or(Error::RepoNotFound)?;
        if !facts.initialized {
            return Err(Error::NotInitialized);
        }
        supported_format(&facts)?;
        Ok(self.repos.path(name))
    }

    /// GET /repos/{name}/archives (API.md 8.2).
    pub async fn archives(
        self: &Arc<Self>,
        name: &RepoName,
        passphrase: Option<crate::config::Secret>,
    ) -> Result<Vec<borg::output::Archive>> {
        let path = {
            let name = name.clone();
            self.blocking(move |domain| domain.initialized_path(&name))
                .await?
        };
        let output = self
            .borg
            .run(
                &borg::list_archives(&path),
                passphrase.as_ref(),
                borg::LIST_TIMEOUT,
            )
            .await?;
        borg::output::parse_archive_list(&output.stdout)
            .map_err(|e| Error::Borg(borg::BorgError::Failed(e.to_string())))
    }
}

/// borg 1.x opens repositories of config version 1 only; a borg 2 repository gets a clear
/// 409 instead of borg's "not a valid repository".
pub(super) fn supported_format(facts: &crate::repos::Facts) -> Result<()> {
    match facts.format_version {
        0 | 1 => Ok(()),
        other => Err(Error::UnsupportedRepo(other)),
    }
}
