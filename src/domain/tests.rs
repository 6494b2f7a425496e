//! The domain's rules without HTTP: a real tree in a temp dir, a backend that starts
//! nothing (`Fake`: jobs stay queued and count as alive), and a fixed clock.

use std::fs;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::*;
use crate::clock::Clock;
use crate::config::ConfigArgs;
use crate::jobs::backend::testing::Fake;
use crate::keys::pubkey::tests::ed25519_line;
use crate::schedules::ScheduleInput;

struct FixedClock(Mutex<OffsetDateTime>);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

struct World {
    _dir: tempfile::TempDir,
    domain: Arc<Domain>,
    backend: Arc<Fake>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let args = ConfigArgs {
        token: Some("0123456789abcdef0123456789abcdef".into()),
        borg: Some("/bin/sh".into()),
        ..Default::default()
    }
    .rooted_at(dir.path());
    let settings = Settings::resolve(args).unwrap();
    let clock = Arc::new(FixedClock(Mutex::new(
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
    )));
    let backend = Arc::new(Fake::default());
    let domain =
        Arc::new(Domain::new(settings, clock, backend.clone()).with_timers(backend.clone()));
    World {
        _dir: dir,
        domain,
        backend,
    }
}

fn key(n: u8) -> String {
    ed25519_line(&[n; 32], &format!("k{n}"))
}

fn new_repo(name: &str, n: u8) -> NewRepo {
    NewRepo {
        name: name.into(),
        pubkey: key(n),
        append_only: false,
        storage_quota_bytes: None,
    }
}

fn name(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn auth_keys(w: &World) -> String {
    fs::read_to_string(&w.domain.settings.auth_keys).unwrap_or_default()
}

fn root_entries(w: &World) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(&w.domain.settings.repo_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn schedule_input() -> ScheduleInput {
    ScheduleInput {
        kind: Some("check".into()),
        cadence: Some("daily".into()),
        hour: Some(2),
        minute: Some(30),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_checks_in_the_contracts_order() {
    let w = world();
    let d = &w.domain;
    let bad_name = NewRepo {
        pubkey: "garbage".into(),
        ..new_repo("Bad", 1)
    };
    assert!(
        matches!(d.create_repo(bad_name).await, Err(Error::Invalid(m)) if m == "invalid repo name")
    );
    let bad_key = NewRepo {
        pubkey: "ssh-ed25519 AAAA".into(),
        ..new_repo("mac", 1)
    };
    assert!(
        matches!(d.create_repo(bad_key).await, Err(Error::Invalid(m)) if m.starts_with("invalid public key"))
    );
    let small_quota = NewRepo {
        storage_quota_bytes: Some(9_999_999),
        ..new_repo("mac", 1)
    };
    assert!(matches!(
        d.create_repo(small_quota).await,
        Err(Error::Invalid(_))
    ));
    d.create_repo(new_repo("mac", 1)).await.unwrap();
    assert!(matches!(
        d.create_repo(new_repo("mac", 2)).await,
        Err(Error::RepoExists)
    ));
    assert!(matches!(
        d.create_repo(new_repo("other", 1)).await,
        Err(Error::KeyRegistered(r)) if r.as_str() == "mac"
    ));
    assert_eq!(root_entries(&w), vec!["mac"]);
    assert_eq!(auth_keys(&w).lines().count(), 1);
}

#[tokio::test]
async fn a_create_killed_before_its_rename_is_undone_by_the_next_operation() {
    let w = world();
    let d = &w.domain;
    // What a kill between writing the line and renaming the directory leaves behind.
    d.create_repo(new_repo("mac", 1)).await.unwrap();
    let root = &d.settings.repo_root;
    fs::rename(root.join("mac"), root.join(".mac.creating")).unwrap();
    assert_eq!(d.keys.read().unwrap().managed(&name("mac")).len(), 1);
    // The retry succeeds, as if the first create never happened.
    let view = d.create_repo(new_repo("mac", 1)).await.unwrap();
    assert_eq!(view.registration.keys, 1);
    assert_eq!(root_entries(&w), vec!["mac"]);
    assert_eq!(auth_keys(&w).lines().count(), 1);
}

#[tokio::test]
async fn a_create_killed_before_its_line_leaves_nothing_after_recovery() {
    let w = world();
    let d = &w.domain;
    fs::create_dir(d.settings.repo_root.join(".mac.creating")).unwrap();
    // Any operation on the repo recovers first; this one then finds no repo.
    assert!(matches!(
        d.delete_repo(&name("mac")).await,
        Err(Error::RepoNotFound)
    ));
    assert!(root_entries(&w).is_empty());
}

#[tokio::test]
async fn a_delete_killed_after_its_rename_is_finished_by_the_next_operation() {
    let w = world();
    let d = &w.domain;
    d.create_repo(new_repo("mac", 1)).await.unwrap();
    d.create_repo(new_repo("other", 2)).await.unwrap();
    d.create_schedule(&name("mac"), schedule_input())
        .await
        .unwrap();
    d.create_schedule(&name("other"), schedule_input())
        .await
        .unwrap();
    // A kill after the lines went and the directory was renamed to its marker.
    d.keys
        .modify(|k| Ok::<_, Error>(k.remove_repo(&name("mac"))))
        .unwrap();
    let root = &d.settings.repo_root;
    fs::rename(root.join("mac"), root.join(".mac.deleting")).unwrap();
    fs::write(root.join(".mac.deleting/config"), "[repository]\n").unwrap();
    // A create of the same name finishes the delete first, so it starts clean.
    d.create_repo(new_repo("mac", 3)).await.unwrap();
    assert_eq!(root_entries(&w), vec!["mac", "other"]);
    let left: Vec<String> = d
        .list_schedules(None)
        .await
        .unwrap()
        .iter()
        .map(|s| s.repo.to_string())
        .collect();
    assert_eq!(left, vec!["other"]);
}

#[tokio::test]
async fn delete_removes_lines_directory_schedules_and_alerts_then_is_404() {
    let w = world();
    let d = &w.domain;
    d.create_repo(new_repo("mac", 1)).await.unwrap();
    d.create_schedule(&name("mac"), schedule_input())
        .await
        .unwrap();
    d.create_alert(
        &name("mac"),
        crate::alerts::AlertInput {
            stale_after_hours: Some(26),
            webhook_url: Some("http://127.0.0.1:9/x".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let timers_before = w.backend.timers.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        timers_before.len(),
        2,
        "a schedule timer and the alerts timer"
    );
    d.delete_repo(&name("mac")).await.unwrap();
    assert!(root_entries(&w).is_empty());
    assert_eq!(auth_keys(&w), "");
    assert!(d.list_schedules(None).await.unwrap().is_empty());
    assert!(d.list_alerts(None).await.unwrap().is_empty());
    assert_eq!(
        w.backend.timers.lock().unwrap().last().cloned().unwrap(),
        Vec::<String>::new(),
        "their timers go too"
    );
    assert!(matches!(
        d.delete_repo(&name("mac")).await,
        Err(Error::RepoNotFound)
    ));
}

#[tokio::test]
async fn a_job_and_a_delete_of_one_repo_never_both_succeed() {
    let w = world();
    let d = &w.domain;
    d.create_repo(new_repo("mac", 1)).await.unwrap();
    fs::write(d.settings.repo_root.join("mac/config"), "[repository]\n").unwrap();
    let check = JobRequest::check(false, false, None).unwrap();
    let mac = name("mac");
    let (started, deleted) = tokio::join!(
        d.start_job(&mac, check, Origin::Client),
        d.delete_repo(&mac)
    );
    match (started, deleted) {
        (Ok(_), Err(Error::Busy { .. })) | (Err(Error::RepoNotFound), Ok(())) => {}
        (s, d) => panic!("no serial order allows: start {s:?}, delete {d:?}"),
    }
}

#[tokio::test]
async fn a_busy_repo_keeps_the_schedule_due_and_a_missing_one_skips_it() {
    let w = world();
    let d = &w.domain;
    d.create_repo(new_repo("mac", 1)).await.unwrap();
    let s = d
        .create_schedule(&name("mac"), schedule_input())
        .await
        .unwrap();
    let first = d.run_schedule(&s.id).await.unwrap();
    let RunOutcome::Started(job) = first else {
        panic!("{first:?}")
    };
    let after = d.get_schedule(s.id.clone()).await.unwrap();
    assert_eq!(after.last_job_id.0, Some(job));
    assert!(after.next_run.unix().unwrap() > 1_800_000_000);
    // The inert backend's job stays queued (alive): the next fire waits.
    assert_eq!(d.run_schedule(&s.id).await.unwrap(), RunOutcome::Busy);
    assert_eq!(d.get_schedule(s.id.clone()).await.unwrap(), after);
    fs::remove_dir_all(d.settings.repo_root.join("mac")).unwrap();
    assert_eq!(d.run_schedule(&s.id).await.unwrap(), RunOutcome::Skipped);
    let skipped = d.get_schedule(s.id.clone()).await.unwrap();
    assert_eq!(skipped.last_status, crate::schedules::LastStatus::Skipped);
    assert_eq!(skipped.last_job_id.0, None);
}

#[tokio::test]
async fn quota_goes_on_every_line_and_added_keys_inherit_it() {
    let w = world();
    let d = &w.domain;
    let quota = NewRepo {
        storage_quota_bytes: Some(20_000_000),
        ..new_repo("mac", 1)
    };
    let view = d.create_repo(quota).await.unwrap();
    assert_eq!(
        (view.storage_quota_bytes(), view.quota_source()),
        (20_000_000, "borgbox")
    );
    d.add_key(&name("mac"), key(2), None, None).await.unwrap();
    assert_eq!(
        auth_keys(&w).matches("--storage-quota 20000000 ").count(),
        2
    );
    let update = RepoUpdate {
        append_only: Some(true),
        storage_quota_bytes: None,
    };
    let view = d.update_repo(&name("mac"), update).await.unwrap();
    assert!(view.registration.all_append_only);
    assert_eq!(
        view.storage_quota_bytes(),
        20_000_000,
        "an absent field is kept"
    );
    let none = RepoUpdate {
        append_only: None,
        storage_quota_bytes: Some(0),
    };
    let view = d.update_repo(&name("mac"), none).await.unwrap();
    assert_eq!((view.storage_quota_bytes(), view.quota_source()), (0, ""));
    assert!(view.registration.all_append_only);
    assert!(matches!(
        d.update_repo(&name("mac"), RepoUpdate::default()).await,
        Err(Error::Invalid(_))
    ));
    for bad in [-1, 1, 9_999_999, (1 << 62) + 1] {
        let update = RepoUpdate {
            append_only: None,
            storage_quota_bytes: Some(bad),
        };
        assert!(
            matches!(
                d.update_repo(&name("mac"), update).await,
                Err(Error::Invalid(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn prune_keep_values_are_checked_without_overflow() {
    assert!(JobRequest::prune(
        [Some(i64::from(u32::MAX)), Some(1), None, None],
        false,
        None
    )
    .is_ok());
    assert!(matches!(
        JobRequest::prune([Some(0), None, None, Some(0)], false, None),
        Err(Error::Invalid(m)) if m.starts_with("at least one")
    ));
    assert!(matches!(
        JobRequest::prune([Some(-1), Some(5), None, None], false, None),
        Err(Error::Invalid(m)) if m == "keep_daily must not be negative"
    ));
    assert!(matches!(
        JobRequest::prune([None, Some(i64::from(u32::MAX) + 1), None, None], false, None),
        Err(Error::Invalid(m)) if m == "keep_weekly is too large"
    ));
}

#[tokio::test]
async fn recover_all_finishes_every_interrupted_operation_under_the_root() {
    let w = world();
    let d = &w.domain;
    d.create_repo(new_repo("kept", 1)).await.unwrap();
    d.create_repo(new_repo("gone", 2)).await.unwrap();
    let root = &d.settings.repo_root;
    fs::rename(root.join("gone"), root.join(".gone.deleting")).unwrap();
    fs::create_dir(root.join(".half.creating")).unwrap();
    fs::create_dir(root.join(".not a repo.creating")).unwrap();
    assert_eq!(d.recover_all().await.unwrap(), 2);
    assert_eq!(root_entries(&w), vec![".not a repo.creating", "kept"]);
    assert_eq!(
        auth_keys(&w).lines().count(),
        1,
        "the deleted repo's line went"
    );
}
