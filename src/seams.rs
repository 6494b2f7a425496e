//! Tests that hold the seams of the architecture (README "Architecture"), so that a change
//! cannot cross one by accident. The state directory's seam is tested in `state_dir`; the
//! axum seam is a clippy rule (clippy.toml `disallowed-types`).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/` with its code before the first `#[cfg(test)]`; test-only
/// modules (`tests.rs`, this file) are left out.
fn sources() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with("tests.rs")
                && !path.ends_with("seams.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let rel = path
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap()
                    .to_owned();
                out.push((rel, code));
            }
        }
    }
    out
}

fn offenders(needles: &[&str], allowed: impl Fn(&str) -> bool) -> Vec<String> {
    sources()
        .into_iter()
        .filter(|(path, _)| !allowed(&path.to_string_lossy()))
        .flat_map(|(path, code)| {
            needles
                .iter()
                .filter(|n| code.contains(**n))
                .map(|n| format!("{}: {n}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn only_the_lifecycle_changes_a_jobs_status() {
    let found = offenders(
        &[".finish(JobStatus", ".lost(", "status = JobStatus"],
        |p| p == "src/jobs/lifecycle.rs" || p == "src/jobs/record.rs",
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_domain_and_the_jobs_open_the_job_records() {
    let found = offenders(&["JobStore::new("], |p| {
        p.starts_with("src/jobs/")
            || p.starts_with("src/domain/")
            // Where `serve` and the job's own processes build their backend or lifecycle.
            || p == "src/cli/mod.rs"
            || p == "src/cli/job_finished.rs"
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn handlers_reach_nothing_past_the_domain() {
    let found = offenders(
        &[
            "domain.settings",
            "domain.jobs",
            "domain.clock",
            "domain.borg",
            "domain.repos",
            "domain.schedules",
            "domain.alerts",
            "state_dir",
        ],
        |p| !p.starts_with("src/api/"),
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_repos_disk_takes_the_crash_safe_steps() {
    let found = offenders(
        &[
            "renameat2",
            "\"creating\"",
            "\"deleting\"",
            "remove_dir_all",
        ],
        |p| p == "src/repos/disk.rs",
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn lower_layers_do_not_import_upper_ones() {
    // (layer, what it must not import)
    let rules: [(&str, &[&str]); 5] = [
        (
            "src/jobs/",
            &["crate::serve", "crate::api", "crate::domain", "crate::cli"],
        ),
        // A schedule names a job kind (`jobs::spec`); a job's records are not its business.
        (
            "src/schedules/",
            &[
                "crate::jobs::record",
                "crate::jobs::lifecycle",
                "crate::serve",
                "crate::api",
                "crate::domain",
            ],
        ),
        (
            "src/alerts/",
            &["crate::serve", "crate::api", "crate::domain", "crate::cli"],
        ),
        (
            "src/repos/",
            &["crate::serve", "crate::api", "crate::domain", "crate::cli"],
        ),
        ("src/domain/", &["crate::serve", "crate::api", "crate::cli"]),
    ];
    let mut found = Vec::new();
    for (layer, banned) in rules {
        found.extend(offenders(banned, |p| !p.starts_with(layer)));
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// `api`'s own layers: the answer shapes (`wire`) and the extractors name no error type
/// of ours; `error` turns both into answers (no cycle through `ErrorBody`).
#[test]
fn the_api_layers_import_downwards() {
    let mut found = offenders(&["super::error", "api::error", "super::wire"], |p| {
        p != "src/api/extract.rs"
    });
    found.extend(offenders(
        &["super::error", "api::error", "super::extract::Rejection"],
        |p| p != "src/api/wire.rs",
    ));
    assert!(found.is_empty(), "{found:#?}");
}

/// No module grows past ~600 lines of code (tests aside), so each stays one concern.
#[test]
fn no_source_file_is_much_over_600_lines_of_code() {
    let long: Vec<_> = sources()
        .into_iter()
        .map(|(path, code)| (path, code.lines().count()))
        .filter(|(_, n)| *n > 650)
        .collect();
    assert!(long.is_empty(), "{long:?}");
}
