//! The schedules file (API.md 11.5). What a job's start and end do to its schedule is
//! `jobs::lifecycle`'s.

use std::path::PathBuf;

use super::Schedule;
use crate::json_array::JsonArrayFile;

pub type ScheduleStore = JsonArrayFile<Schedule>;

pub fn schedule_store(path: PathBuf) -> ScheduleStore {
    JsonArrayFile::new(path, Schedule::check)
}

/// A daily 02:30 check of repo `mac`, and adding one to a store: for the tests of the
/// schedules file and of what jobs do to it.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::json_array::FileError;
    use crate::model::ScheduleId;
    use crate::schedules::calendar::Zone;
    use crate::schedules::ScheduleInput;

    pub(crate) fn schedule() -> Schedule {
        Schedule::create(
            ScheduleId::random(),
            "mac".parse().unwrap(),
            &ScheduleInput {
                kind: Some("check".into()),
                cadence: Some("daily".into()),
                hour: Some(2),
                minute: Some(30),
                ..Default::default()
            },
            1_000,
            &Zone::utc(),
        )
        .unwrap()
    }

    pub(crate) fn add(store: &ScheduleStore, s: &Schedule) {
        store
            .modify(|all| {
                all.push(s.clone());
                Ok::<_, FileError>(())
            })
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{add, schedule};
    use super::*;
    use crate::json_array::FileError;

    #[test]
    fn missing_file_is_empty_and_writes_are_private_and_reread() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = schedule_store(dir.path().join("schedules.json"));
        assert!(store.load().unwrap().is_empty());
        let s = schedule();
        add(&store, &s);
        assert_eq!(*store.load().unwrap(), vec![s]);
        assert_eq!(
            std::fs::metadata(store.path()).unwrap().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedules.json");
        let mut out_of_range = serde_json::to_value(vec![schedule()]).unwrap();
        out_of_range[0]["hour"] = 24.into();
        for bad in [
            "{".to_owned(),
            "{}".to_owned(),
            r#"[{"id":"sch_0"}]"#.to_owned(),
            out_of_range.to_string(),
        ] {
            std::fs::write(&path, &bad).unwrap();
            let store = schedule_store(path.clone());
            assert!(
                matches!(store.load(), Err(FileError::Corrupt { .. })),
                "{bad}"
            );
            let result = store.modify(|all| {
                all.clear();
                Ok::<_, FileError>(())
            });
            assert!(matches!(result, Err(FileError::Corrupt { .. })));
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
    }
}
