//! GET /repos over 1,000 real borg repositories with 100 segment files each, side by side
//! with `du -sb` over the same tree. `du` walks every file on each run, so the headline sets
//! it beside borgbox's own cold figures (a new process with no size cache walks every file
//! too; a new process with the size cache on disk, as after an idle exit) as well as the
//! warm one. The kernel's inode and dentry caches are warm for every row: nothing here
//! drops them. Prints numbers; asserts nothing about time.
//!
//! Run: cargo build --release && cargo bench --bench repos

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const REPOS: usize = 1000;
const SEGMENTS: usize = 100;
const SAMPLES: usize = 200;
/// Runs of `du` and new borgbox processes per cold figure.
const RUNS: usize = 5;

/// A new borgbox process whose state (size cache included) lives under `home`; returns
/// the time of its first GET /repos, the JSON's length, and the server with its connection.
fn first_request(home: &Path, root: &Path) -> (Duration, usize, Server, Http) {
    std::fs::create_dir_all(home).unwrap();
    let port = free_port();
    let server = spawn_server(home, root, port);
    wait_ready(port, Instant::now());
    let mut http = Http::connect(port).unwrap();
    let started = Instant::now();
    let (status, bytes) = http.get("/repos").unwrap();
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    (elapsed, bytes, server, http)
}

/// `du -sb`'s p50 over the same number of runs as the cold figures.
fn du_p50(root: &Path) -> Duration {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let out = Command::new("du").arg("-sb").arg(root).output().unwrap();
        runs.push(started.elapsed());
        assert!(out.status.success());
    }
    percentile(&mut runs, 0.5)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    eprintln!("building {REPOS} repos with {SEGMENTS} segments each…");
    let template = borg_template(dir.path(), SEGMENTS);
    make_tree(&root, &template, REPOS);

    let du = du_p50(&root);

    // Fully cold: each run a new process with its own empty state dir, so no size cache.
    let mut no_cache = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for run in 0..RUNS {
        let home = dir.path().join(format!("cold-{run}"));
        let (elapsed, length, _server, _http) = first_request(&home, &root);
        no_cache.push(elapsed);
        bytes = length;
    }

    // A new process with the size cache on disk (as after an idle exit): one process fills
    // it, then each run starts a new one on the same state dir.
    let home = dir.path().join("cached");
    drop(first_request(&home, &root));
    let mut disk_cache = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let (elapsed, _, server, http) = first_request(&home, &root);
        disk_cache.push(elapsed);
        last = Some((server, http));
    }

    // Warm: the same process and keep-alive connection, after its first request.
    let (_server, mut http) = last.unwrap();
    let mut warm = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let (status, _) = http.get("/repos").unwrap();
        warm.push(started.elapsed());
        assert_eq!(status, 200);
    }

    let no_cache = percentile(&mut no_cache, 0.5);
    let disk_cache = percentile(&mut disk_cache, 0.5);
    let warm_p90 = percentile(&mut warm, 0.9);
    let warm = percentile(&mut warm, 0.5);
    let row = |what: &str, took: Duration| {
        println!(
            "  {what:<58} {:>12}  du/this {:>7.1}x",
            ms(took),
            du.as_secs_f64() / took.as_secs_f64()
        );
    };

    println!("GET /repos, {REPOS} repos x {SEGMENTS} segments ({bytes} bytes of JSON), p50s:");
    row(
        &format!("du -sb over the same tree (walks every file; {RUNS} runs)"),
        du,
    );
    row(
        &format!("borgbox cold: new process, no size cache ({RUNS} runs)"),
        no_cache,
    );
    row(
        &format!("borgbox cold: new process, size cache on disk ({RUNS} runs)"),
        disk_cache,
    );
    row(
        &format!("borgbox warm: same process, keep-alive ({SAMPLES} requests)"),
        warm,
    );
    println!("  warm p90: {}", ms(warm_p90));
    println!("  each cold borgbox figure is the first request after /health answered");
}
