//! What the schedules and alerts operations share (API.md 11, 12): an entry of a repo,
//! kept in a JSON array file, created under the repo's lock up to a limit, changed and
//! deleted by id, and after each change logged and given to the timers (`reconcile`).

use std::sync::Arc;

use super::{Domain, Error, Result};
use crate::json_array::JsonArrayFile;
use crate::model::{AlertId, RepoName, ScheduleId};

/// A schedule or an alert, as the shared operations see it.
pub(super) trait Entry:
    serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq + Send + Sync + 'static
{
    type Id: PartialEq + Send + 'static;
    /// "schedule" or "alert", for messages.
    const NOUN: &'static str;
    /// How many the file keeps at most.
    const LIMIT: usize;
    fn id(&self) -> &Self::Id;
    fn file(domain: &Domain) -> &JsonArrayFile<Self>;
    /// Logs the change (`what`: created, changed or deleted).
    fn log_change(&self, domain: &Domain, what: &str);
}

impl Entry for crate::schedules::Schedule {
    type Id = ScheduleId;
    const NOUN: &'static str = "schedule";
    const LIMIT: usize = crate::schedules::LIMIT;
    fn id(&self) -> &ScheduleId {
        &self.id
    }
    fn file(domain: &Domain) -> &JsonArrayFile<Self> {
        &domain.schedules
    }
    fn log_change(&self, domain: &Domain, what: &str) {
        domain.log_schedule_change(self, what);
    }
}

impl Entry for crate::alerts::Alert {
    type Id = AlertId;
    const NOUN: &'static str = "alert";
    const LIMIT: usize = crate::alerts::LIMIT;
    fn id(&self) -> &AlertId {
        &self.id
    }
    fn file(domain: &Domain) -> &JsonArrayFile<Self> {
        &domain.alerts
    }
    fn log_change(&self, domain: &Domain, what: &str) {
        domain.log_alert_change(self, what);
    }
}

impl Domain {
    /// Adds the entry `make` builds for repo `name`, under the repo's lock (an entry never
    /// outlives a delete running meanwhile).
    pub(super) async fn add_entry<T: Entry>(
        self: &Arc<Self>,
        name: &RepoName,
        make: impl FnOnce(&Domain, RepoName) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _lock = self.lock_known_repo(name).await?;
        let name = name.clone();
        let entry = self
            .blocking(move |domain| {
                if !domain.repos.exists(&name) {
                    return Err(Error::RepoNotFound);
                }
                let entry = make(domain, name)?;
                T::file(domain).modify(|all| {
                    if all.len() >= T::LIMIT {
                        return Err(Error::Invalid(format!(
                            "too many {}s: borgbox keeps at most {}",
                            T::NOUN,
                            T::LIMIT
                        )));
                    }
                    all.push(entry.clone());
                    Ok(())
                })?;
                Ok(entry)
            })
            .await?;
        self.entry_changed(&entry, "created").await;
        Ok(entry)
    }

    /// Replaces entry `id` with what `change` makes of it.
    pub(super) async fn change_entry<T: Entry>(
        self: &Arc<Self>,
        id: T::Id,
        change: impl FnOnce(&Domain, &T) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let entry = self
            .blocking(move |domain| {
                T::file(domain).modify(|all| {
                    let entry = all
                        .iter_mut()
                        .find(|e| *e.id() == id)
                        .ok_or(Error::NotFound(T::NOUN))?;
                    *entry = change(domain, entry)?;
                    Ok(entry.clone())
                })
            })
            .await?;
        self.entry_changed(&entry, "changed").await;
        Ok(entry)
    }

    pub(super) async fn remove_entry<T: Entry>(self: &Arc<Self>, id: T::Id) -> Result<T> {
        let entry = self
            .blocking(move |domain| {
                T::file(domain).modify(|all| {
                    let at = all
                        .iter()
                        .position(|e| *e.id() == id)
                        .ok_or(Error::NotFound(T::NOUN))?;
                    Ok(all.remove(at))
                })
            })
            .await?;
        self.entry_changed(&entry, "deleted").await;
        Ok(entry)
    }

    async fn entry_changed<T: Entry>(self: &Arc<Self>, entry: &T, what: &str) {
        entry.log_change(self, what);
        self.reconcile().await;
    }
}
