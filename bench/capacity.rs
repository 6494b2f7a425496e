//! Schedules, alerts and metrics at the sizes the issues name: GET /metrics with 1,000
//! repos, 200 jobs, 500 schedules and 500 alerts; GET /schedules with 500 schedules; one
//! `borgbox scan-alerts` over 1,000 repos with 1,000 enabled alerts and no delivery due,
//! with a borg that records any run (there must be none). Prints numbers; asserts nothing
//! about time.
//!
//! Run: cargo build --release && cargo bench --bench capacity

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const REPOS: usize = 1000;
const REQUESTS: usize = 300;

fn schedules(count: usize) -> String {
    let items: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"id":"sch_{i:016x}","repo":"repo-{r:04}","kind":"check","cadence":"daily","hour":3,"minute":0,"weekday":0,"day":0,"enabled":true,"created_at":"2026-01-01T00:00:00Z","last_run":"2026-11-30T03:00:00Z","last_status":"done","last_job_id":"","next_run":"2026-12-31T03:00:00Z"}}"#,
                r = i % REPOS
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn alerts(count: usize) -> String {
    let items: Vec<String> = (0..count)
        .map(|i| {
            format!(
                r#"{{"id":"alert_{i:016x}","repo":"repo-{r:04}","stale_after_hours":8760,"webhook_url":"http://127.0.0.1:9/hook","enabled":true,"renotify_hours":0,"created_at":"2026-01-01T00:00:00Z","last_check_at":"","last_state":null,"last_write":"","last_alerted_at":"","last_error":""}}"#,
                r = i % REPOS
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn jobs(state: &Path, count: usize) {
    let dir = state.join("jobs");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..count {
        let id = format!("j_{i:012x}");
        std::fs::write(
            dir.join(format!("{id}.json")),
            format!(
                r#"{{"id":"{id}","repo":"repo-{r:04}","kind":"check","options":{{}},"status":"done","started_at":{t},"finished_at":{f},"exit_code":0}}"#,
                r = i % REPOS,
                t = 1_790_000_000 + i,
                f = 1_790_000_060 + i
            ),
        )
        .unwrap();
    }
}

fn timed(port: u16, path: &str) -> (Duration, Duration, usize) {
    let mut http = Http::connect(port).unwrap();
    let (status, size) = http.get(path).unwrap();
    assert_eq!(status, 200, "{path}");
    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        assert_eq!(http.get(path).unwrap().0, 200);
        samples.push(started.elapsed());
    }
    (
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.9),
        size,
    )
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let template = borg_template(dir.path(), 20);
    let root = dir.path().join("repos");
    make_tree(&root, &template, REPOS);
    jobs(&dir.path().join("state"), 200);
    std::fs::write(dir.path().join("schedules.json"), schedules(500)).unwrap();
    std::fs::write(dir.path().join("alerts.json"), alerts(500)).unwrap();

    let port = free_port();
    let server = spawn_unprivileged(dir.path(), &root, port);
    wait_ready(port, Instant::now());
    println!(
        "{REPOS} repos, 200 jobs, 500 schedules, 500 alerts; {REQUESTS} warm requests each \
         (serve as an unprivileged user, as packaged)"
    );
    for path in ["/metrics", "/schedules", "/repos"] {
        let (p50, p90, size) = timed(port, path);
        println!(
            "  GET {path:<11} p50 {}  p90 {}  ({} KiB)",
            ms(p50),
            ms(p90),
            size / 1024
        );
    }
    drop(server);

    // One scan = one process, as borgbox-alerts.service runs it; a borg that records any
    // run proves none is spawned.
    std::fs::write(dir.path().join("alerts.json"), alerts(1000)).unwrap();
    let spy = dir.path().join("borg-spy");
    let ran = dir.path().join("borg-ran");
    std::fs::write(
        &spy,
        format!("#!/bin/sh\ntouch {}\nexec borg \"$@\"\n", ran.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&spy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scan = || {
        let started = Instant::now();
        let out = Command::new(binary())
            .arg("scan-alerts")
            .env("BORGBOX_REPO_ROOT", &root)
            .env("BORGBOX_AUTH_KEYS", dir.path().join("ssh/authorized_keys"))
            .env("BORGBOX_STATE_DIR", dir.path().join("state"))
            .env("BORGBOX_SCHEDULES", dir.path().join("schedules.json"))
            .env("BORGBOX_ALERTS", dir.path().join("alerts.json"))
            .env("BORGBOX_BORG", &spy)
            .env("BORGBOX_BACKEND", "process")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            started.elapsed(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (first, said) = scan();
    let mut samples: Vec<Duration> = (0..10).map(|_| scan().0).collect();
    println!(
        "borgbox scan-alerts, {REPOS} repos, 1,000 enabled alerts, no delivery due (a whole process)"
    );
    println!(
        "  first (states null → ok, file written) {}; then p50 {}  p90 {}; borg runs: {}",
        ms(first),
        ms(percentile(&mut samples, 0.5)),
        ms(percentile(&mut samples, 0.9)),
        if ran.exists() { "SOME" } else { "none" }
    );
    println!("  it said: {}", said.trim());
}
