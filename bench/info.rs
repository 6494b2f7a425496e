//! Warm GET /info latency over one keep-alive connection, and the serving process's RSS
//! after 10,000 requests. Prints numbers; asserts nothing about time.
//!
//! Run: cargo build --release && cargo bench --bench info

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::*;

const REQUESTS: usize = 10_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    std::fs::create_dir_all(&root).unwrap();
    let port = free_port();
    let server = spawn_server(dir.path(), &root, port);
    wait_ready(port, Instant::now());
    let pid = server.child.id();
    let mut http = Http::connect(port).unwrap();
    assert_eq!(http.get("/info").unwrap().0, 200);
    let rss_start = rss_kib(pid);

    let mut samples = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let (status, _) = http.get("/info").unwrap();
        samples.push(started.elapsed());
        assert_eq!(status, 200);
    }
    let rss_end = rss_kib(pid);
    println!("GET /info, {REQUESTS} requests on one keep-alive connection");
    println!(
        "  p50: {}  p90: {}  p99: {}",
        ms(percentile(&mut samples, 0.5)),
        ms(percentile(&mut samples, 0.9)),
        ms(percentile(&mut samples, 0.99))
    );
    println!(
        "  RSS of serve: {:.1} MiB after the first request, {:.1} MiB after {REQUESTS}",
        rss_start as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
}
