//! `borgbox serve` from exec to its first answered request, with no repos and with 1,000
//! real borg repositories. Prints numbers; asserts nothing about time.
//!
//! Run: cargo build --release && cargo bench --bench startup

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::*;

const RUNS: usize = 30;

fn measure(
    dir: &std::path::Path,
    root: &std::path::Path,
) -> (std::time::Duration, std::time::Duration) {
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let port = free_port();
        let started = Instant::now();
        let server = spawn_server(dir, root, port);
        samples.push(wait_ready(port, started));
        drop(server);
    }
    (percentile(&mut samples, 0.5), percentile(&mut samples, 0.9))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (p50, p90) = measure(dir.path(), &empty);
    println!(
        "serve exec -> first answer, 0 repos:     p50 {}  p90 {}",
        ms(p50),
        ms(p90)
    );

    let root = dir.path().join("repos");
    let template = borg_template(dir.path(), 100);
    make_tree(&root, &template, 1000);
    let (p50, p90) = measure(dir.path(), &root);
    println!(
        "serve exec -> first answer, 1,000 repos: p50 {}  p90 {}",
        ms(p50),
        ms(p90)
    );
}
