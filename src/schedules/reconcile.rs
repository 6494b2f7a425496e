//! Makes borg's user unit directory match the timers borgbox wants (DESIGN.md "Schedules
//! and alerts"): writes new and changed `borgbox-schedule@<id>.timer` and
//! `borgbox-alerts.timer` files, removes generated ones nobody wants (also those of a
//! schedule deleted by hand), reloads borg's user manager once, enables and (re)starts what
//! changed, and starts what should run but does not. Idempotent: a second run with the
//! same input changes nothing and makes no reload. A run killed between writing a file and
//! telling the manager leaves `timers.dirty` beside the lock, and the next run then redoes
//! every wanted timer (write, reload, enable, restart): the file alone cannot show that.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::render::{is_generated, TimerFile};
use crate::files;
use crate::systemd::UserManager;

/// What one reconcile did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub written: Vec<String>,
    pub removed: Vec<String>,
    pub started: Vec<String>,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.removed.is_empty() && self.started.is_empty()
    }
}

/// Where timer files live, where borg's manager stamps their last trigger, and the lock
/// every reconcile holds (`<state dir>/locks/timers.lock`): two processes reconciling at
/// once would undo each other's starts and stops.
pub struct Dirs<'a> {
    pub units: &'a Path,
    pub stamps: &'a Path,
    pub lock: &'a Path,
}

impl Dirs<'_> {
    fn stamp(&self, timer: &str) -> PathBuf {
        self.stamps.join(format!("stamp-{timer}"))
    }

    /// Present while a reconcile is between changing files and telling the manager.
    fn dirty(&self) -> PathBuf {
        self.lock.with_extension("dirty")
    }
}

/// The file changes, decided from what is on disk. Blocking.
struct Plan {
    write: Vec<TimerFile>,
    remove: Vec<String>,
}

fn plan(dirs: &Dirs<'_>, desired: &[TimerFile]) -> io::Result<Plan> {
    let interrupted = dirs.dirty().exists();
    let mut present = BTreeSet::new();
    match fs::read_dir(dirs.units) {
        Ok(entries) => {
            for entry in entries {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if is_generated(&name) {
                    present.insert(name);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let wanted: BTreeMap<&str, &TimerFile> = desired.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut write = Vec::new();
    for timer in desired {
        let current = files::read_or_empty(&dirs.units.join(&timer.name))?;
        if interrupted || current != timer.text.as_bytes() {
            write.push(timer.clone());
        }
    }
    let remove = present
        .into_iter()
        .filter(|name| !wanted.contains_key(name.as_str()))
        .collect();
    Ok(Plan { write, remove })
}

/// Sets the last-trigger stamp systemd reads when a persistent timer starts.
fn write_stamp(path: &Path, at: i64) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        files::ensure_dir(dir, 0o755)?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(at.max(0) as u64);
    file.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))
}

fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

pub async fn apply(
    manager: &UserManager,
    dirs: &Dirs<'_>,
    desired: &[TimerFile],
    reload: bool,
) -> anyhow::Result<Report> {
    let (lock, plan) = {
        let (units, stamps, lock) = (
            dirs.units.to_owned(),
            dirs.stamps.to_owned(),
            dirs.lock.to_owned(),
        );
        let desired = desired.to_vec();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            if let Some(dir) = lock.parent() {
                files::ensure_dir(dir, 0o700)?;
            }
            let held = files::lock(&lock)?;
            let dirs = Dirs {
                units: &units,
                stamps: &stamps,
                lock: &lock,
            };
            let plan =
                plan(&dirs, &desired).context("failed to read borg's user unit directory")?;
            Ok((held, plan))
        })
        .await??
    };
    let mut report = Report::default();
    let changes = !plan.remove.is_empty() || !plan.write.is_empty();
    if changes {
        files::replace(&dirs.dirty(), b"", 0o600)?;
    }

    for name in &plan.remove {
        manager.stop(name).await?;
        manager.disable(&[name]).await?;
        remove_file(&dirs.units.join(name))?;
        remove_file(&dirs.stamp(name))?;
        report.removed.push(name.clone());
    }
    if !plan.write.is_empty() {
        files::ensure_dir(dirs.units, 0o755)?;
    }
    for timer in &plan.write {
        if let Some(at) = timer.last_trigger {
            write_stamp(&dirs.stamp(&timer.name), at)?;
        }
        lock.replace_other(&dirs.units.join(&timer.name), timer.text.as_bytes(), 0o644)?;
        report.written.push(timer.name.clone());
    }
    if reload || changes {
        manager.reload().await?;
    }
    let written: Vec<&str> = plan.write.iter().map(|t| t.name.as_str()).collect();
    manager.enable(&written).await?;

    let active: BTreeMap<String, bool> = manager
        .units_matching("borgbox-*.timer")
        .await?
        .into_iter()
        .collect();
    for timer in desired {
        let is_active = active.get(&timer.name).copied().unwrap_or(false);
        if written.contains(&timer.name.as_str()) && is_active {
            // It keeps its place in the timeline only if restarted: the calendar changed.
            manager.restart(&timer.name).await?;
            report.started.push(timer.name.clone());
        } else if !is_active {
            manager.start(&timer.name).await?;
            report.started.push(timer.name.clone());
        }
    }
    if changes {
        remove_file(&dirs.dirty())?;
    }
    drop(lock);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer(name: &str, text: &str) -> TimerFile {
        TimerFile {
            name: name.into(),
            text: text.into(),
            last_trigger: Some(1_000),
        }
    }

    #[test]
    fn the_plan_writes_what_differs_or_was_interrupted_and_removes_only_generated_strays() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("user");
        let stamps = dir.path().join("timers");
        let lock = dir.path().join("timers");
        let dirs = Dirs {
            units: &units,
            stamps: &stamps,
            lock: &lock,
        };
        let same = timer("borgbox-schedule@sch_0000000000000001.timer", "same\n");
        let changed = timer("borgbox-schedule@sch_0000000000000002.timer", "new\n");
        let added = timer("borgbox-alerts.timer", "alerts\n");
        fs::create_dir_all(&units).unwrap();
        fs::write(units.join(&same.name), "same\n").unwrap();
        fs::write(units.join(&changed.name), "old\n").unwrap();
        fs::write(
            units.join("borgbox-schedule@sch_0000000000000009.timer"),
            "x",
        )
        .unwrap();
        fs::write(units.join("my-own.timer"), "x").unwrap();
        fs::write(units.join("borgbox-schedule@.service"), "x").unwrap();
        let wanted = [same.clone(), changed.clone(), added.clone()];
        let made = plan(&dirs, &wanted).unwrap();
        assert_eq!(made.write, vec![changed, added]);
        assert_eq!(
            made.remove,
            vec!["borgbox-schedule@sch_0000000000000009.timer".to_owned()]
        );
        let none = dir.path().join("none");
        let empty = Dirs {
            units: &none,
            stamps: &stamps,
            lock: &lock,
        };
        assert!(plan(&empty, &[]).unwrap().remove.is_empty());

        // After a run killed between the files and the manager, everything is redone.
        fs::write(dirs.dirty(), "").unwrap();
        assert_eq!(plan(&dirs, &wanted).unwrap().write, wanted);
    }

    #[test]
    fn the_stamp_carries_the_last_trigger_as_its_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let stamp = dir.path().join("timers/stamp-x.timer");
        write_stamp(&stamp, 1_700_000_000).unwrap();
        let modified = fs::metadata(&stamp).unwrap().modified().unwrap();
        assert_eq!(
            modified
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_700_000_000
        );
    }
}
