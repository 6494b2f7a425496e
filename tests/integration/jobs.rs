//! Jobs on the process backend with real borg: every kind, every error, cancel, streams.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{
    encrypted_repo, encrypted_repo_with, Held, Serve, TestServer, PASSPHRASE, TOKEN,
};

async fn start(server: &TestServer, repo: &str, kind: &str, body: Value) -> String {
    let (status, started) = server.post(&format!("/repos/{repo}/{kind}"), body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["job_id"].as_str().unwrap().to_owned();
    assert!(id.len() == 14 && id.starts_with("j_"), "{id}");
    assert!(["queued", "running"].contains(&started["status"].as_str().unwrap()));
    id
}

async fn wait_final(server: &TestServer, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (status, job) = server.get(&format!("/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        if ["done", "error", "cancelled"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        last = job;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} not final after 60s; last: {last}");
}

#[tokio::test]
async fn check_prune_and_compact_run_real_borg_to_done() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    let id = start(&server, "mac", "check", json!({"passphrase": PASSPHRASE})).await;
    let job = wait_final(&server, &id).await;
    assert_eq!(
        (
            job["status"].as_str().unwrap(),
            job["exit_code"].as_i64().unwrap()
        ),
        ("done", 0),
        "{job}"
    );
    assert_eq!(job["kind"], "check");
    assert_eq!(job["repo"], "mac");
    assert_eq!(job["dry_run"], false);
    assert_eq!(job["finished_at"].as_str().unwrap().len(), 20);
    let tail: Vec<&str> = job["log_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        tail.iter().any(|l| l.contains("Starting repository check")),
        "{tail:?}"
    );

    let id = start(
        &server,
        "mac",
        "prune",
        json!({"keep_daily": 1, "dry_run": true, "passphrase": PASSPHRASE}),
    )
    .await;
    let job = wait_final(&server, &id).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["dry_run"], true);
    assert!(
        job["log_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("Would prune")),
        "{job}"
    );

    let id = start(&server, "mac", "compact", json!({})).await;
    assert_eq!(wait_final(&server, &id).await["status"], "done");

    let (_, jobs) = server.get("/jobs").await;
    let keys: Vec<(&str, &str)> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["started_at"].as_str().unwrap(), j["id"].as_str().unwrap()))
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(
        keys.windows(2).all(|w| w[0] > w[1]),
        "newest first, then id descending: {keys:?}"
    );
}

#[tokio::test]
async fn a_wrong_passphrase_ends_in_error_with_borgs_exit_code() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    let id = start(&server, "mac", "check", json!({"passphrase": "wrong"})).await;
    let job = wait_final(&server, &id).await;
    assert_eq!(job["status"], "error", "{job}");
    assert!(job["exit_code"].as_i64().unwrap() >= 2);
}

#[tokio::test]
async fn bad_job_requests_are_refused() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    server.create_repo("fresh").await;
    for (path, body) in [
        ("/repos/mac/prune", json!({})),
        (
            "/repos/mac/prune",
            json!({"keep_daily": 0, "keep_weekly": 0}),
        ),
        (
            "/repos/mac/prune",
            json!({"keep_daily": -1, "keep_weekly": 3}),
        ),
        ("/repos/mac/prune", json!({"keep_daily": "7"})),
        ("/repos/mac/prune", json!({"keep_daily": 7.0})),
        (
            "/repos/mac/prune",
            json!({"keep_daily": 7, "dry_run": "yes"}),
        ),
        ("/repos/mac/check", json!({"repair": 1})),
        ("/repos/mac/check", json!({"verify_data": "true"})),
        ("/repos/mac/check", json!({"passphrase": 5})),
        ("/repos/mac/compact", json!([])),
    ] {
        let (status, err) = server.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {err}");
        assert!(err["error"].is_string());
    }
    assert_eq!(
        server.post("/repos/nope/check", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.post("/repos/No_Pe/check", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        server.post("/repos/mac/defrag", json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, err) = server.post("/repos/fresh/compact", json!({})).await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "repo is not initialized")
    );
    for id in ["j_000000000000", "j_zz", "..%2F..%2Fetc", "J_3F9A0C12BE47"] {
        assert_eq!(
            server.get(&format!("/jobs/{id}")).await.0,
            StatusCode::NOT_FOUND,
            "{id}"
        );
        assert_eq!(
            server.get(&format!("/jobs/{id}/stream")).await.0,
            StatusCode::NOT_FOUND,
            "{id}"
        );
        assert_eq!(
            server.delete(&format!("/jobs/{id}")).await.0,
            StatusCode::NOT_FOUND,
            "{id}"
        );
    }
    let (_, jobs) = server.get("/jobs").await;
    assert_eq!(jobs, json!([]));
}

#[tokio::test]
async fn one_job_per_repo_and_cancel_stops_borg_cleanly() {
    let server = TestServer::new().await;
    let secret = format!("cancel-test-{:016x}", rand::random::<u64>());
    encrypted_repo_with(&server, "mac", &secret);
    let path = server.root().join("mac").display().to_string();
    let id = start(
        &server,
        "mac",
        "check",
        json!({"passphrase": secret, "verify_data": true}),
    )
    .await;
    let held = Held::new(&path, "check").await;

    let (status, err) = server.post("/repos/mac/compact", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err["error"],
        format!("a job is already running on repo mac ({id})")
    );
    assert_eq!(
        server.post("/repos/mac/break-lock", json!({})).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(server.delete("/repos/mac").await.0, StatusCode::CONFLICT);

    // The passphrase is in borg's pipe only: no argv, environment, record or log has it.
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        for file in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(entry.path().join(file)) {
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(&secret),
                    "{:?}/{file}",
                    entry.path()
                );
            }
        }
    }

    let (status, job) = server.delete(&format!("/jobs/{id}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["id"], id.as_str());
    held.resume();
    let job = wait_final(&server, &id).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(job["log_tail"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l.as_str().unwrap().starts_with("borgbox: cancel")));
    let (status, err) = server.delete(&format!("/jobs/{id}")).await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "job already finished")
    );
    // borg released its lock: the next job runs.
    let next = start(&server, "mac", "compact", json!({})).await;
    assert_eq!(wait_final(&server, &next).await["status"], "done");
    assert_no_file_contains(server.dir.path(), &secret);
}

fn assert_no_file_contains(dir: &std::path::Path, needle: &str) {
    let out = std::process::Command::new("grep")
        .args(["-r", "-l", "-F", needle])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "passphrase found in: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Reads an SSE response to its end: (event name, data JSON) pairs and ping count.
async fn read_stream(
    mut response: reqwest::Response,
    on_first: impl FnOnce(),
) -> Vec<(String, Value)> {
    let mut text = String::new();
    let mut on_first = Some(on_first);
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(60), response.chunk())
        .await
        .expect("stream stalled")
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(f) = on_first.take() {
            f();
        }
    }
    text.split("\n\n")
        .filter(|block| block.starts_with("event:"))
        .map(|block| {
            let mut lines = block.lines();
            let event = lines
                .next()
                .unwrap()
                .trim_start_matches("event: ")
                .to_owned();
            let data = lines.next().unwrap().trim_start_matches("data: ");
            (event, serde_json::from_str(data).unwrap())
        })
        .collect()
}

async fn open_stream(server: &TestServer, id: &str) -> reqwest::Response {
    let response = server
        .client
        .get(format!("{}/jobs/{id}/stream", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    response
}

#[tokio::test]
async fn streams_replay_then_follow_live_then_end_and_close() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    let path = server.root().join("mac").display().to_string();
    let id = start(&server, "mac", "check", json!({"passphrase": PASSPHRASE})).await;
    let held = Held::new(&path, "check").await;
    let first = open_stream(&server, &id).await;
    let second = open_stream(&server, &id).await;
    let pid = held.pid;
    let (a, b) = tokio::join!(
        read_stream(first, move || {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
        }),
        read_stream(second, || {})
    );
    drop(held);
    for events in [&a, &b] {
        let kinds: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
        assert!(kinds.len() >= 3, "{events:?}");
        assert_eq!(&kinds[kinds.len() - 2..], ["status", "end"]);
        assert!(kinds[..kinds.len() - 2].iter().all(|k| *k == "log"));
        for (event, data) in events.iter() {
            assert_eq!(data["type"], event.as_str());
            for field in ["type", "line", "status", "exit_code"] {
                assert!(data.get(field).is_some(), "{field} in {data}");
            }
        }
        let (_, end) = events.last().unwrap();
        assert_eq!(
            (
                end["status"].as_str().unwrap(),
                end["exit_code"].as_i64().unwrap()
            ),
            ("done", 0)
        );
    }
    let (_, job) = server.get(&format!("/jobs/{id}")).await;
    let lines = |events: &Vec<(String, Value)>| -> Vec<String> {
        events
            .iter()
            .filter(|(e, _)| e == "log")
            .map(|(_, d)| d["line"].as_str().unwrap().to_owned())
            .collect()
    };
    let tail: Vec<String> = job["log_tail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        lines(&a),
        tail,
        "no gap and no duplicate between replay and live"
    );
    assert_eq!(lines(&b), tail);

    // A finished job: replay, status, end, and the server closes at once.
    let started = Instant::now();
    let replay = read_stream(open_stream(&server, &id).await, || {}).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(lines(&replay), tail);
    assert_eq!(replay.len(), tail.len() + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_streams_on_one_job_all_end_and_the_server_keeps_answering() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // Client and server share this process: 2 descriptors per stream.
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    if hard < 1200 {
        panic!("RLIMIT_NOFILE hard limit {hard} is too low for 500 streams in one process");
    }
    let server = std::sync::Arc::new(TestServer::new().await);
    encrypted_repo(&server, "mac");
    let path = server.root().join("mac").display().to_string();
    let id = start(&server, "mac", "check", json!({"passphrase": PASSPHRASE})).await;
    let held = Held::new(&path, "check").await;
    let mut streams = Vec::new();
    for _ in 0..500 {
        let server = server.clone();
        let id = id.clone();
        streams.push(tokio::spawn(async move {
            read_stream(open_stream(&server, &id).await, || {}).await
        }));
    }
    // Every stream is open and the server still answers others.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.get("/health").await.0, StatusCode::OK);
    held.resume();
    for stream in streams {
        let events = stream.await.unwrap();
        assert_eq!(events.last().unwrap().0, "end");
    }
}

/// The real binary with the process backend: SIGTERM to serve while a job runs sends the
/// job SIGINT, waits for it, and the job ends recorded (cancelled) before serve exits.
#[tokio::test]
async fn serve_stops_its_jobs_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    std::fs::create_dir_all(&root).unwrap();
    let path = root.join("mac");
    let secret = format!("shutdown-test-{:016x}", rand::random::<u64>());
    let base = dir.path().join("client");
    crate::support::borg(
        &base,
        &secret,
        &[
            "init",
            "--encryption=repokey-blake2",
            path.to_str().unwrap(),
        ],
    );
    let mut serve = Serve::start(dir.path());
    let client = reqwest::Client::new();
    let url = serve.url("");
    let started: Value = client
        .post(format!("{url}/repos/mac/check"))
        .bearer_auth(TOKEN)
        .body(json!({"passphrase": secret}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["job_id"].as_str().unwrap().to_owned();
    let held = Held::new(&path.display().to_string(), "check").await;
    kill(Pid::from_raw(serve.child.id() as i32), Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "serve must wait for its job"
    );
    held.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not exit after its job ended"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let record: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join(format!("state/jobs/{id}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(record["status"], "cancelled", "{record}");
}
