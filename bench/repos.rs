//! GET /repos over 1,000 real borg repositories with 100 segment files each, warm, side by
//! side with `du -sb` over the same tree. Prints numbers; asserts nothing about time.
//!
//! Run: cargo build --release && cargo bench --bench repos

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Instant;

use common::*;

const REPOS: usize = 1000;
const SEGMENTS: usize = 100;
const SAMPLES: usize = 200;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    eprintln!("building {REPOS} repos with {SEGMENTS} segments each…");
    let template = borg_template(dir.path(), SEGMENTS);
    make_tree(&root, &template, REPOS);

    let port = free_port();
    let server = spawn_server(dir.path(), &root, port);
    wait_ready(port, Instant::now());
    let mut http = Http::connect(port).unwrap();

    let started = Instant::now();
    let (status, bytes) = http.get("/repos").unwrap();
    assert_eq!(status, 200);
    let cold = started.elapsed();

    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let (status, _) = http.get("/repos").unwrap();
        samples.push(started.elapsed());
        assert_eq!(status, 200);
    }
    let p50 = percentile(&mut samples, 0.5);
    let p90 = percentile(&mut samples, 0.9);

    // A new process (as after an idle exit): sizes come from the on-disk cache.
    drop(http);
    drop(server);
    let port = free_port();
    let _server = spawn_server(dir.path(), &root, port);
    wait_ready(port, Instant::now());
    let mut http = Http::connect(port).unwrap();
    let started = Instant::now();
    assert_eq!(http.get("/repos").unwrap().0, 200);
    let restarted = started.elapsed();

    let mut du = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let out = Command::new("du").arg("-sb").arg(&root).output().unwrap();
        du.push(started.elapsed());
        assert!(out.status.success());
    }
    let du_p50 = percentile(&mut du, 0.5);

    println!("GET /repos, {REPOS} repos x {SEGMENTS} segments ({bytes} bytes of JSON)");
    println!("  first request (size walk, caches cold): {}", ms(cold));
    println!(
        "  first request of a new process (size cache on disk): {}",
        ms(restarted)
    );
    println!(
        "  warm p50: {}  p90: {}  ({SAMPLES} requests, one keep-alive connection)",
        ms(p50),
        ms(p90)
    );
    println!("  du -sb over the same tree, p50 of 5: {}", ms(du_p50));
    println!(
        "  speed-up over du: {:.0}x",
        du_p50.as_secs_f64() / p50.as_secs_f64()
    );
}
