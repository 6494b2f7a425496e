//! Scheduled maintenance (API.md 11) over real HTTP: shapes, validation, PATCH, next_run
//! (against systemd-analyze), and firing by the process backend's ticker with real borg and
//! a hand-set clock.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use borgbox::domain::ticker;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{Held, ManualClock, Options, TestServer, PASSPHRASE, TOKEN};

/// 2026-04-13T12:00:00Z, a Monday.
const T0: i64 = 1_776_081_600;
const DAY: i64 = 86_400;

const FIELDS: [&str; 14] = [
    "id",
    "repo",
    "kind",
    "cadence",
    "hour",
    "minute",
    "weekday",
    "day",
    "enabled",
    "created_at",
    "last_run",
    "last_status",
    "last_job_id",
    "next_run",
];

// ---- helpers shared with alerts.rs ----

/// `unix` in API.md 2.6's form.
pub(crate) fn stamp(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The instant of an API.md 2.6 timestamp.
pub(crate) fn unix_of(stamp: &str) -> i64 {
    assert_eq!(stamp.len(), 20, "not a fixed-width timestamp: {stamp:?}");
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{stamp:?}: {e}"))
        .unix_timestamp()
}

/// `""` or a fixed-width UTC timestamp.
pub(crate) fn assert_stamp_or_empty(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    if !text.is_empty() {
        assert_eq!(stamp(unix_of(text)), text, "{what}");
    }
}

pub(crate) fn is_hex_id(id: &str, prefix: &str, digits: usize) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == digits && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A 4xx/5xx answer in API.md 2.3's shape: `{"error": "<non-empty string>"}` and nothing
/// else. Returns the message.
pub(crate) fn error_of(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    assert_eq!(object.len(), 1, "{body}");
    let message = object["error"]
        .as_str()
        .unwrap_or_else(|| panic!("error is not a string: {body}"));
    assert!(!message.is_empty());
    message.to_owned()
}

/// A file's bytes, None when it does not exist.
pub(crate) fn file_bytes(path: &Path) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// A response's status, Content-Type and raw text, for checks on the bytes themselves.
pub(crate) async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<String>,
) -> (StatusCode, String, String) {
    let mut request = server
        .client
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// A plain directory under the repo root: a repo that exists but is neither registered
/// nor a borg repository.
pub(crate) fn bare_repo(server: &TestServer, name: &str) -> PathBuf {
    let path = server.root().join(name);
    std::fs::create_dir(&path).unwrap();
    path
}

/// A real, unencrypted borg repository with no archive (one borg run: cheaper than
/// `encrypted_repo`). Returns its path.
pub(crate) fn unencrypted_repo(server: &TestServer, name: &str) -> String {
    let path = server.root().join(name).display().to_string();
    crate::support::borg(
        &server.dir.path().join("client-borg"),
        "",
        &["init", "--encryption=none", &path],
    );
    path
}

pub(crate) async fn wait_job_final(server: &TestServer, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let (status, job) = server.get(&format!("/jobs/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{job}");
        if ["done", "error", "cancelled"].contains(&job["status"].as_str().unwrap()) {
            return job;
        }
        last = job;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} not final after 60s; last: {last}");
}

/// The real `borgbox serve` rooted in `dir` (process backend, 127.0.0.1:0 unless `env`
/// says otherwise), with `env` on top.
pub(crate) fn serve_command(dir: &Path, env: &[(&str, &std::ffi::OsStr)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_borgbox"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", dir)
        .env("BORGBOX_TOKEN", TOKEN)
        .env("BORGBOX_ADDR", "127.0.0.1:0")
        .env("BORGBOX_BACKEND", "process")
        .env("BORGBOX_REPO_ROOT", dir.join("repos"))
        .env("BORGBOX_AUTH_KEYS", dir.join("ssh/authorized_keys"))
        .env("BORGBOX_STATE_DIR", dir.join("state"))
        .env("BORGBOX_SCHEDULES", dir.join("schedules.json"))
        .env("BORGBOX_ALERTS", dir.join("alerts.json"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

/// Runs `cmd` until it exits (at most 20 s, else it is killed and the test fails):
/// (exit code, stderr).
pub(crate) fn run_until_exit(mut cmd: std::process::Command) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let err_path = dir.path().join("stderr");
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve still runs after 20s; stderr: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        crate::support::pause();
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&err_path).unwrap(),
    )
}

/// A file that `serve` must refuse: it exits non-zero with one stderr line naming the
/// file, and leaves the file exactly as it was (same bytes, same inode).
pub(crate) fn assert_refuses_to_start(dir: &Path, file: &Path, contents: &[u8]) {
    std::fs::write(file, contents).unwrap();
    let inode = std::fs::metadata(file).unwrap().ino();
    let (code, stderr) = run_until_exit(serve_command(dir, &[]));
    let shown = String::from_utf8_lossy(contents);
    assert_ne!(code, 0, "{shown}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{shown}: one line, got: {stderr}"
    );
    assert!(
        stderr.contains(&file.display().to_string()),
        "{shown}: the line names the file: {stderr}"
    );
    assert_eq!(std::fs::read(file).unwrap(), contents, "{shown}");
    assert_eq!(std::fs::metadata(file).unwrap().ino(), inode, "{shown}");
}

// ---- helpers of this module ----

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

fn schedules_file(server: &TestServer) -> PathBuf {
    server.settings.schedules.clone()
}

/// Every field of API.md 4.9, each of its type, strings never null.
fn assert_schedule_shape(s: &Value) {
    let object = s
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {s}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{s}");
    assert!(is_hex_id(s["id"].as_str().unwrap(), "sch_", 16), "{s}");
    for field in ["repo", "kind", "cadence", "last_status", "last_job_id"] {
        assert!(s[field].is_string(), "{field} in {s}");
    }
    for field in ["hour", "minute", "weekday", "day"] {
        assert!(s[field].is_u64(), "{field} is an integer in {s}");
    }
    assert!(s["enabled"].is_boolean(), "{s}");
    for field in ["created_at", "last_run", "next_run"] {
        assert_stamp_or_empty(&s[field], field);
    }
    assert_ne!(s["created_at"], "", "{s}");
    assert_ne!(s["next_run"], "", "{s}");
    let job = s["last_job_id"].as_str().unwrap();
    assert!(job.is_empty() || is_hex_id(job, "j_", 12), "{s}");
    assert!(
        ["", "running", "done", "error", "skipped"].contains(&s["last_status"].as_str().unwrap()),
        "{s}"
    );
}

async fn create(server: &TestServer, repo: &str, body: Value) -> Value {
    let (status, schedule) = server
        .post(&format!("/repos/{repo}/schedules"), body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}: {schedule}");
    assert_schedule_shape(&schedule);
    schedule
}

fn daily(kind: &str, hour: i64, minute: i64) -> Value {
    json!({"kind": kind, "cadence": "daily", "hour": hour, "minute": minute})
}

async fn get_schedule(server: &TestServer, id: &str) -> Value {
    let (status, schedule) = server.get(&format!("/schedules/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{schedule}");
    assert_schedule_shape(&schedule);
    schedule
}

/// Polls GET /schedules/{id} until `done` holds (30 s), reporting the last state seen.
async fn wait_schedule(
    server: &TestServer,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let schedule = get_schedule(server, id).await;
        if done(&schedule) {
            return schedule;
        }
        assert!(
            Instant::now() < deadline,
            "schedule {id}: {what} not reached after 30s; last: {schedule}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn jobs(server: &TestServer) -> Vec<Value> {
    let (status, jobs) = server.get("/jobs").await;
    assert_eq!(status, StatusCode::OK);
    jobs.as_array().unwrap().clone()
}

/// A server whose ticker looks at the schedules every 100 ms (the alert monitor kept out
/// of the way), on a clock the test sets.
async fn ticking(clock: &Arc<ManualClock>) -> TestServer {
    TestServer::with(Options {
        clock: clock.clone(),
        ticker: Some(ticker::Cadence {
            tick: Duration::from_millis(100),
            first_scan: Duration::from_secs(3600),
            scan_every: Duration::from_secs(3600),
        }),
        ..Default::default()
    })
    .await
}

/// Long enough for the 100 ms ticker to have looked several times.
async fn several_ticks() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

// ---- endpoints, shapes, validation ----

#[tokio::test]
async fn schedules_are_created_listed_shown_and_deleted_with_all_fourteen_fields() {
    let (server, clock) = TestServer::at(T0).await;
    server.create_repo("mac").await;
    // A schedule does not need the repo to be registered (API.md 11.1).
    bare_repo(&server, "pc");

    // What the GUI client sends: all seven fields.
    let body = json!({"kind": "check", "cadence": "daily", "hour": 2, "minute": 30,
                      "weekday": 0, "day": 0, "enabled": true})
    .to_string();
    let (status, content_type, text) =
        raw(&server, Method::POST, "/repos/mac/schedules", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(content_type, "application/json");
    assert!(!text.contains("null"), "strings are never null: {text}");
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_schedule_shape(&first);
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        first,
        json!({"id": id, "repo": "mac", "kind": "check", "cadence": "daily", "hour": 2,
               "minute": 30, "weekday": 0, "day": 0, "enabled": true,
               "created_at": "2026-04-13T12:00:00Z", "last_run": "", "last_status": "",
               "last_job_id": "", "next_run": "2026-04-14T02:30:00Z"})
    );

    clock.set(T0 + 60);
    // weekday 0 is Sunday; the unregistered repo is fine; enabled defaults to true but
    // false is kept.
    let weekly = create(
        &server,
        "pc",
        json!({"kind": "compact", "cadence": "weekly", "hour": 2, "minute": 30,
               "weekday": 0, "enabled": false}),
    )
    .await;
    assert_eq!(weekly["next_run"], "2026-04-19T02:30:00Z", "{weekly}");
    assert_eq!(
        (weekly["repo"].as_str(), weekly["enabled"].as_bool()),
        (Some("pc"), Some(false))
    );
    clock.set(T0 + 120);
    let monthly = create(
        &server,
        "mac",
        json!({"kind": "compact", "cadence": "monthly", "hour": 0, "minute": 0, "day": 1}),
    )
    .await;
    assert_eq!(monthly["next_run"], "2026-05-01T00:00:00Z", "{monthly}");
    assert_eq!(monthly["day"], 1);
    assert_eq!(monthly["enabled"], true);
    assert_eq!(monthly["created_at"], "2026-04-13T12:02:00Z");
    // Duplicates (same repo, same kind) are allowed.
    clock.set(T0 + 180);
    let duplicate = create(&server, "mac", daily("check", 2, 30)).await;
    assert_ne!(duplicate["id"], first["id"]);

    let (status, content_type, text) = raw(&server, Method::GET, "/schedules", None).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/json")
    );
    assert!(!text.contains("null"), "{text}");
    let all: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(all, json!([first, weekly, monthly, duplicate]));
    let (status, mac) = server.get("/repos/mac/schedules").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mac, json!([first, monthly, duplicate]));
    let (_, pc) = server.get("/repos/pc/schedules").await;
    assert_eq!(pc, json!([weekly]));
    assert_eq!(get_schedule(&server, id).await, first);

    // The file: a JSON array of the same 14-field objects, mode 0600 (API.md 11.5, 13.3).
    let path = schedules_file(&server);
    let stored: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut stored = stored.as_array().unwrap().clone();
    stored.sort_by_key(|s| s["created_at"].as_str().unwrap().to_owned());
    assert_eq!(Value::Array(stored), all);
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);

    let (status, body) = server.delete(&format!("/schedules/{id}")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = server.get(&format!("/schedules/{id}")).await;
    assert_eq!(
        error_of(status, &body, StatusCode::NOT_FOUND),
        "schedule not found"
    );
    let (status, body) = server.delete(&format!("/schedules/{id}")).await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    let (_, all) = server.get("/schedules").await;
    assert_eq!(all, json!([weekly, monthly, duplicate]));
    // An empty list is [], never null.
    for s in [&weekly, &monthly, &duplicate] {
        let (status, _) = server
            .delete(&format!("/schedules/{}", s["id"].as_str().unwrap()))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, _, text) = raw(&server, Method::GET, "/schedules", None).await;
    assert_eq!(text, "[]");
    let (_, _, text) = raw(&server, Method::GET, "/repos/mac/schedules", None).await;
    assert_eq!(text, "[]");
}

#[tokio::test]
async fn unknown_repos_and_ids_not_of_our_form_are_404_and_change_nothing() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let file = schedules_file(&server);
    let tree = server.snapshot();
    for path in [
        "/repos/nope/schedules",
        "/repos/No_Pe/schedules",
        "/repos/..%2fmac/schedules",
    ] {
        let (status, body) = server.get(path).await;
        error_of(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = server.post(path, daily("check", 2, 30)).await;
        error_of(status, &body, StatusCode::NOT_FOUND);
    }
    for id in [
        "..%2f",
        "..%2F..%2Fschedules.json",
        "sch_XYZ",
        "j_000000000000",
        "sch_0000000000000000",
        "SCH_0000000000000000",
        "sch_000000000000000g",
        "sch_00000000000000000",
        "alert_0000000000000000",
    ] {
        let path = format!("/schedules/{id}");
        let (status, body) = server.get(&path).await;
        error_of(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = server.patch(&path, json!({"enabled": false})).await;
        error_of(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = server.delete(&path).await;
        error_of(status, &body, StatusCode::NOT_FOUND);
    }
    // Known paths, other methods: 405 in the JSON shape, with Allow.
    for (method, path, allow) in [
        (
            Method::PUT,
            "/schedules/sch_0000000000000000",
            "GET,PATCH,DELETE",
        ),
        (Method::POST, "/schedules", "GET"),
        (Method::DELETE, "/repos/mac/schedules", "GET,POST"),
    ] {
        let response = server
            .client
            .request(method.clone(), format!("{}{path}", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let mut allowed: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .filter(|m| m != "HEAD")
            .collect();
        allowed.sort();
        let mut expected: Vec<&str> = allow.split(',').collect();
        expected.sort_unstable();
        assert_eq!(allowed, expected, "{method} {path}");
        let (status, body) = crate::support::read(response).await;
        error_of(status, &body, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(file_bytes(&file), None, "no schedules file was written");
    assert_eq!(server.snapshot(), tree);
}

#[tokio::test]
async fn lists_are_ordered_by_created_at_then_id_not_by_insertion() {
    let (server, clock) = TestServer::at(T0 + 100).await;
    server.create_repo("mac").await;
    server.create_repo("pc").await;
    let late = create(&server, "mac", daily("check", 1, 0)).await;
    clock.set(T0);
    let mut same: Vec<Value> = Vec::new();
    for repo in ["mac", "pc", "mac", "pc", "mac"] {
        same.push(create(&server, repo, daily("compact", 3, 0)).await);
    }
    clock.set(T0 + 50);
    let middle = create(&server, "pc", daily("check", 4, 0)).await;
    same.sort_by_key(|s| s["id"].as_str().unwrap().to_owned());
    let mut expected = same.clone();
    expected.push(middle.clone());
    expected.push(late.clone());
    let (_, all) = server.get("/schedules").await;
    assert_eq!(all, Value::Array(expected.clone()));
    let (_, mac) = server.get("/repos/mac/schedules").await;
    let only_mac: Vec<Value> = expected
        .iter()
        .filter(|s| s["repo"] == "mac")
        .cloned()
        .collect();
    assert_eq!(mac, Value::Array(only_mac));
}

/// Bodies API.md 11.2 and 2.4 refuse on POST, each with the message's subject.
fn bad_post_bodies() -> Vec<(&'static str, String)> {
    let d = |extra: Value| {
        let mut body = daily("check", 2, 30);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body.to_string()
    };
    vec![
        ("hour", d(json!({"hour": 24}))),
        ("hour", d(json!({"hour": -1}))),
        ("minute", d(json!({"minute": 60}))),
        ("minute", d(json!({"minute": -1}))),
        ("weekday", d(json!({"cadence": "weekly"}))),
        ("weekday", d(json!({"cadence": "weekly", "weekday": 7}))),
        ("weekday", d(json!({"cadence": "weekly", "weekday": -1}))),
        ("weekday", d(json!({"cadence": "weekly", "weekday": null}))),
        ("day", d(json!({"cadence": "monthly"}))),
        ("day", d(json!({"cadence": "monthly", "day": 29}))),
        ("day", d(json!({"cadence": "monthly", "day": 0}))),
        ("day", d(json!({"cadence": "monthly", "day": 31}))),
        ("kind", d(json!({"kind": "prune"}))),
        ("kind", d(json!({"kind": ""}))),
        ("kind", d(json!({"kind": "Check"}))),
        ("kind", d(json!({"kind": 1}))),
        ("kind", d(json!({"kind": null}))),
        ("cadence", d(json!({"cadence": "hourly"}))),
        ("cadence", d(json!({"cadence": "Daily"}))),
        ("cadence", d(json!({"cadence": ["daily"]}))),
        (
            "hour",
            r#"{"kind":"check","cadence":"daily","hour":2.0,"minute":30}"#.into(),
        ),
        ("hour", d(json!({"hour": 2.5}))),
        (
            "hour",
            r#"{"kind":"check","cadence":"daily","hour":2e0,"minute":30}"#.into(),
        ),
        ("hour", d(json!({"hour": "2"}))),
        ("hour", d(json!({"hour": true}))),
        ("hour", d(json!({"hour": null}))),
        ("hour", d(json!({"hour": 18_446_744_073_709_551_615_u64}))),
        ("minute", d(json!({"minute": "30"}))),
        ("minute", d(json!({"minute": null}))),
        ("weekday", d(json!({"cadence": "weekly", "weekday": 1.0}))),
        ("weekday", d(json!({"cadence": "weekly", "weekday": "1"}))),
        // A wrong type is refused even where the value would be unused.
        ("weekday", d(json!({"weekday": "1"}))),
        ("day", d(json!({"day": 1.5}))),
        ("day", d(json!({"cadence": "monthly", "day": false}))),
        ("enabled", d(json!({"enabled": "true"}))),
        ("enabled", d(json!({"enabled": 1}))),
        ("kind", r#"{"cadence":"daily","hour":2,"minute":30}"#.into()),
        ("cadence", r#"{"kind":"check","hour":2,"minute":30}"#.into()),
        (
            "hour",
            r#"{"kind":"check","cadence":"daily","minute":30}"#.into(),
        ),
        (
            "minute",
            r#"{"kind":"check","cadence":"daily","hour":2}"#.into(),
        ),
        ("body", "[]".into()),
        ("body", "\"daily\"".into()),
        ("body", "12".into()),
        ("body", "null".into()),
        ("body", "{".into()),
        ("body", "nul".into()),
        ("body", "".into()),
        ("body", "{}".into()),
    ]
}

#[tokio::test]
async fn bad_schedule_bodies_are_400_and_change_nothing() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let file = schedules_file(&server);
    let tree = server.snapshot();
    for (subject, body) in bad_post_bodies() {
        let (status, err) = server
            .send_raw(
                Method::POST,
                "/repos/mac/schedules",
                body.clone().into_bytes(),
            )
            .await;
        let message = error_of(status, &err, StatusCode::BAD_REQUEST);
        if subject != "body" {
            assert!(message.contains(subject), "{body}: {message}");
        }
        assert_eq!(file_bytes(&file), None, "{body} wrote the schedules file");
    }
    assert_eq!(server.snapshot(), tree);

    // PATCH: the same refusals against a stored schedule leave the file byte for byte.
    let stored = create(&server, "mac", daily("check", 2, 30)).await;
    let path = format!("/schedules/{}", stored["id"].as_str().unwrap());
    let before = file_bytes(&file).unwrap();
    let inode = std::fs::metadata(&file).unwrap().ino();
    for (subject, body) in [
        ("hour", json!({"hour": 24})),
        ("hour", json!({"hour": 2.0})),
        ("hour", json!({"hour": "2"})),
        ("minute", json!({"minute": 60})),
        ("minute", json!({"minute": true})),
        ("kind", json!({"kind": "prune"})),
        ("cadence", json!({"cadence": "yearly"})),
        ("weekday", json!({"cadence": "weekly", "weekday": 7})),
        ("day", json!({"cadence": "monthly"})),
        ("day", json!({"cadence": "monthly", "day": 29})),
        ("day", json!({"cadence": "monthly", "day": "15"})),
        ("enabled", json!({"enabled": "false"})),
        ("enabled", json!({"enabled": 0})),
        ("body", json!([{"enabled": false}])),
        ("body", json!("x")),
    ] {
        let (status, err) = server.patch(&path, body.clone()).await;
        let message = error_of(status, &err, StatusCode::BAD_REQUEST);
        if subject != "body" {
            assert!(message.contains(subject), "{body}: {message}");
        }
        assert_eq!(file_bytes(&file).unwrap(), before, "{body}");
    }
    let (status, err) = server
        .send_raw(Method::PATCH, &path, b"{\"hour\":".to_vec())
        .await;
    error_of(status, &err, StatusCode::BAD_REQUEST);
    assert_eq!(file_bytes(&file).unwrap(), before);
    assert_eq!(
        std::fs::metadata(&file).unwrap().ino(),
        inode,
        "never rewritten"
    );
    assert_eq!(
        get_schedule(&server, stored["id"].as_str().unwrap()).await,
        stored
    );
}

#[tokio::test]
async fn weekday_and_day_a_cadence_does_not_use_are_accepted_and_stored_as_zero() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    for (body, weekday, day) in [
        (json!({"weekday": 99, "day": -5}), 0, 0),
        (json!({"weekday": -1, "day": 29}), 0, 0),
        (
            json!({"weekday": 18_446_744_073_709_551_615_u64, "day": i64::MIN}),
            0,
            0,
        ),
        (json!({"cadence": "weekly", "weekday": 6, "day": 40}), 6, 0),
        (
            json!({"cadence": "monthly", "weekday": 9, "day": 28}),
            0,
            28,
        ),
    ] {
        let mut full = daily("compact", 23, 59);
        for (k, v) in body.as_object().unwrap() {
            full[k] = v.clone();
        }
        let s = create(&server, "mac", full.clone()).await;
        assert_eq!(
            (s["weekday"].as_i64(), s["day"].as_i64()),
            (Some(weekday), Some(day)),
            "{full}"
        );
        assert_eq!(get_schedule(&server, s["id"].as_str().unwrap()).await, s);
    }
    // The file stores the normalised values too.
    let stored: Vec<Value> =
        serde_json::from_slice(&std::fs::read(schedules_file(&server)).unwrap()).unwrap();
    assert!(stored
        .iter()
        .all(|s| (s["cadence"] == "weekly" || s["weekday"] == 0)
            && (s["cadence"] == "monthly" || s["day"] == 0)));
}

#[tokio::test]
async fn ids_repos_timestamps_and_last_fields_in_a_body_are_ignored() {
    let (server, clock) = TestServer::at(T0).await;
    server.create_repo("mac").await;
    server.create_repo("pc").await;
    let mut body = daily("check", 2, 30);
    for (k, v) in [
        ("id", json!("sch_0123456789abcdef")),
        ("repo", json!("pc")),
        ("created_at", json!("2000-01-01T00:00:00Z")),
        ("last_run", json!("2000-01-01T00:00:00Z")),
        ("last_status", json!("done")),
        ("last_job_id", json!("j_0123456789ab")),
        ("next_run", json!("2000-01-02T00:00:00Z")),
        ("unknown", json!({"nested": [1, 2]})),
    ] {
        body[k] = v;
    }
    let s = create(&server, "mac", body).await;
    let id = s["id"].as_str().unwrap().to_owned();
    assert_ne!(id, "sch_0123456789abcdef");
    assert_eq!(s["repo"], "mac");
    assert_eq!(s["created_at"], stamp(T0));
    assert_eq!(
        (&s["last_run"], &s["last_status"], &s["last_job_id"]),
        (&json!(""), &json!(""), &json!(""))
    );
    assert_eq!(s["next_run"], "2026-04-14T02:30:00Z");
    // Ignored fields of any type do not make the body invalid.
    let odd = create(
        &server,
        "mac",
        json!({"kind": "compact", "cadence": "daily", "hour": 1, "minute": 0, "id": 7,
               "repo": false, "created_at": 1, "last_run": [], "next_run": {}}),
    )
    .await;
    assert_eq!(odd["repo"], "mac");

    clock.set(T0 + 3 * DAY);
    let (status, patched) = server
        .patch(
            &format!("/schedules/{id}"),
            json!({"id": "sch_ffffffffffffffff", "repo": "pc", "created_at": "2030-01-01T00:00:00Z",
                   "last_run": "2030-01-01T00:00:00Z", "last_status": "error",
                   "last_job_id": "j_ffffffffffff", "next_run": "2030-01-01T00:00:00Z",
                   "minute": 45}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let mut expected = s.clone();
    expected["minute"] = json!(45);
    // The calendar changed: next_run counts from the clock's now, not from the body.
    expected["next_run"] = json!(stamp(T0 + 3 * DAY + 14 * 3600 + 45 * 60));
    assert_eq!(patched, expected);
    let (_, pc) = server.get("/repos/pc/schedules").await;
    assert_eq!(pc, json!([]));
}

#[tokio::test]
async fn patch_is_partial_and_recomputes_next_run_only_when_the_calendar_changes() {
    let (server, clock) = TestServer::at(T0).await;
    server.create_repo("mac").await;
    let s = create(&server, "mac", daily("check", 2, 30)).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let path = format!("/schedules/{id}");
    let first_run = s["next_run"].clone();
    assert_eq!(first_run, "2026-04-14T02:30:00Z");
    // Days later, next_run now lies in the past.
    clock.set(T0 + 5 * DAY);
    let patch = |body: Value| {
        let path = path.clone();
        let server = &server;
        async move {
            let (status, s) = server.patch(&path, body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{body}: {s}");
            assert_schedule_shape(&s);
            s
        }
    };

    let paused = patch(json!({"enabled": false})).await;
    let mut expected = s.clone();
    expected["enabled"] = json!(false);
    assert_eq!(paused, expected, "a bare toggle keeps next_run");
    let resumed = patch(json!({"enabled": true})).await;
    assert_eq!(resumed, s);
    let compact = patch(json!({"kind": "compact"})).await;
    expected = s.clone();
    expected["kind"] = json!("compact");
    assert_eq!(compact, expected, "a kind change keeps next_run");
    // An empty body (= {}) and the full, unchanged calendar as the GUI client sends it.
    let (status, same) = server.send_raw(Method::PATCH, &path, Vec::new()).await;
    assert_eq!((status, &same), (StatusCode::OK, &expected));
    let same = patch(
        json!({"kind": "compact", "cadence": "daily", "hour": 2, "minute": 30,
                            "enabled": true}),
    )
    .await;
    assert_eq!(same, expected);
    assert_eq!(get_schedule(&server, &id).await, expected);

    // The hour: next_run counts from now (2026-04-18T12:00Z) → 2026-04-19T03:30Z.
    let moved = patch(json!({"hour": 3})).await;
    expected["hour"] = json!(3);
    expected["next_run"] = json!("2026-04-19T03:30:00Z");
    assert_eq!(moved, expected);

    // Monthly needs a valid day in the merged result.
    let file = schedules_file(&server);
    let before = file_bytes(&file).unwrap();
    for body in [
        json!({"cadence": "monthly"}),
        json!({"cadence": "monthly", "day": 29}),
        json!({"cadence": "monthly", "weekday": 3}),
    ] {
        let (status, err) = server.patch(&path, body.clone()).await;
        let message = error_of(status, &err, StatusCode::BAD_REQUEST);
        assert!(message.contains("day"), "{body}: {message}");
        assert_eq!(file_bytes(&file).unwrap(), before, "{body}");
    }
    assert_eq!(get_schedule(&server, &id).await, expected);
    let monthly = patch(json!({"cadence": "monthly", "day": 15})).await;
    expected["cadence"] = json!("monthly");
    expected["day"] = json!(15);
    expected["next_run"] = json!("2026-05-15T03:30:00Z");
    assert_eq!(monthly, expected);
    // Now monthly: a day alone is a calendar change; a weekday is unused and stays 0.
    let day = patch(json!({"day": 20, "weekday": 5})).await;
    expected["day"] = json!(20);
    expected["next_run"] = json!("2026-04-20T03:30:00Z");
    assert_eq!(day, expected);
    // Back to weekly (the client sends the weekday): the day is normalised away.
    let weekly = patch(json!({"cadence": "weekly", "weekday": 1})).await;
    expected["cadence"] = json!("weekly");
    expected["weekday"] = json!(1);
    expected["day"] = json!(0);
    expected["next_run"] = json!("2026-04-20T03:30:00Z");
    assert_eq!(weekly, expected);
    // The same instant through another calendar still counts as a change, from now.
    clock.set(T0 + 6 * DAY);
    let daily_again = patch(json!({"cadence": "daily"})).await;
    expected["cadence"] = json!("daily");
    expected["weekday"] = json!(0);
    expected["next_run"] = json!("2026-04-20T03:30:00Z");
    assert_eq!(daily_again, expected);
    assert_eq!(daily_again["created_at"], s["created_at"]);
}

// ---- next_run ----

#[tokio::test]
async fn next_run_skips_the_spring_forward_gap_and_fires_once_in_the_repeated_hour() {
    let clock = ManualClock::at(unix_of("2026-03-28T12:00:00Z"));
    let server = TestServer::with(Options {
        clock: clock.clone(),
        zone: Some("Europe/Madrid"),
        ..Default::default()
    })
    .await;
    server.create_repo("mac").await;
    let cases = [
        // No 02:30 on 29 March: the next run is 30 March 02:30 CEST.
        ("2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z"),
        // 25 October: 02:30 CEST, the first of the two.
        ("2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"),
        // Computed from that run, the repeated 02:30 CET is not a second run.
        ("2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"),
        // From inside the repeated hour, after the first 02:30: the second one.
        ("2026-10-25T01:15:00Z", "2026-10-25T01:30:00Z"),
    ];
    for (now, next) in cases {
        clock.set(unix_of(now));
        let s = create(&server, "mac", daily("check", 2, 30)).await;
        assert_eq!(s["next_run"], next, "daily 02:30 from {now}");
        assert_eq!(s["created_at"], now);
    }
}

/// What `systemd-analyze calendar` (an independent implementation) says the next elapse
/// of each of `expressions` after `base` is in `zone`, as UTC timestamps.
fn systemd_next(zone: &str, base: &str, expressions: &[&str]) -> Vec<String> {
    let out = std::process::Command::new("systemd-analyze")
        .env("TZ", zone)
        .arg("calendar")
        .arg(format!(
            "--base-time={} UTC",
            base.trim_end_matches('Z').replace('T', " ")
        ))
        .args(expressions)
        .output()
        .expect("systemd-analyze must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // "       (in UTC): Mon 2026-03-30 00:30:00 UTC", once per expression, in order.
    let next: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(in UTC): "))
        .map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            format!("{}T{}Z", fields.next().unwrap(), fields.next().unwrap())
        })
        .collect();
    assert_eq!(next.len(), expressions.len(), "{text}");
    next
}

#[tokio::test]
async fn next_run_agrees_with_systemd_analyze_around_dst_and_month_ends() {
    let clock = ManualClock::at(T0);
    let server = TestServer::with(Options {
        clock: clock.clone(),
        zone: Some("Europe/Madrid"),
        ..Default::default()
    })
    .await;
    server.create_repo("mac").await;
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    let schedules: Vec<(Value, String)> = vec![
        (daily("check", 2, 30), "*-*-* 02:30:00".into()),
        (daily("check", 0, 0), "*-*-* 00:00:00".into()),
        (daily("check", 23, 59), "*-*-* 23:59:00".into()),
        (daily("check", 3, 0), "*-*-* 03:00:00".into()),
        (
            json!({"kind": "check", "cadence": "weekly", "hour": 2, "minute": 30, "weekday": 0}),
            format!("{} *-*-* 02:30:00", DAYS[0]),
        ),
        (
            json!({"kind": "check", "cadence": "weekly", "hour": 2, "minute": 15, "weekday": 6}),
            format!("{} *-*-* 02:15:00", DAYS[6]),
        ),
        (
            json!({"kind": "check", "cadence": "weekly", "hour": 0, "minute": 5, "weekday": 1}),
            format!("{} *-*-* 00:05:00", DAYS[1]),
        ),
        (
            json!({"kind": "check", "cadence": "monthly", "hour": 2, "minute": 30, "day": 28}),
            "*-*-28 02:30:00".into(),
        ),
        (
            json!({"kind": "check", "cadence": "monthly", "hour": 0, "minute": 0, "day": 1}),
            "*-*-01 00:00:00".into(),
        ),
    ];
    let bases = [
        "2026-03-28T12:00:00Z",
        "2026-03-29T00:59:59Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T01:30:00Z",
        "2026-10-24T23:59:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:15:00Z",
        "2026-10-25T01:30:00Z",
        "2026-12-31T23:30:00Z",
        "2028-02-28T12:00:00Z",
    ];
    let mut checked = 0;
    for base in bases {
        clock.set(unix_of(base));
        let expressions: Vec<&str> = schedules.iter().map(|(_, e)| e.as_str()).collect();
        let expected = systemd_next("Europe/Madrid", base, &expressions);
        for ((body, expression), expected) in schedules.iter().zip(expected) {
            let s = create(&server, "mac", body.clone()).await;
            assert_eq!(
                s["next_run"].as_str().unwrap(),
                expected,
                "{expression} from {base}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, bases.len() * schedules.len());
}

// ---- firing (the process backend's ticker) ----

#[tokio::test]
async fn a_due_schedule_starts_a_passphrase_free_job_and_records_its_outcome() {
    let clock = ManualClock::at(T0);
    let server = ticking(&clock).await;
    // Encrypted (its archive check would need the passphrase), no archive needed.
    crate::support::borg(
        &server.dir.path().join("client-borg"),
        PASSPHRASE,
        &[
            "init",
            "--encryption=repokey-blake2",
            server.root().join("mac").to_str().unwrap(),
        ],
    );
    let s = create(&server, "mac", daily("check", 2, 30)).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let due = unix_of(s["next_run"].as_str().unwrap());
    several_ticks().await;
    assert!(jobs(&server).await.is_empty(), "nothing is due yet");
    assert_eq!(get_schedule(&server, &id).await, s);

    clock.set(due);
    let fired = wait_schedule(&server, &id, "a fire", |s| s["last_job_id"] != "").await;
    let job_id = fired["last_job_id"].as_str().unwrap().to_owned();
    assert_eq!(fired["last_run"], stamp(due));
    assert!(
        ["running", "done"].contains(&fired["last_status"].as_str().unwrap()),
        "{fired}"
    );
    assert_eq!(
        fired["next_run"],
        stamp(due + DAY),
        "the next future occurrence"
    );

    let listed = jobs(&server).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], job_id.as_str());
    assert_eq!(listed[0]["kind"], "check");
    assert_eq!(listed[0]["repo"], "mac");
    // No passphrase, and yet the check of an encrypted repo succeeds: only the passphrase-free
    // `check --repository-only` ran, not the archive check.
    let job = wait_job_final(&server, &job_id).await;
    assert_eq!(
        (job["status"].as_str(), job["exit_code"].as_i64()),
        (Some("done"), Some(0)),
        "{job}"
    );
    let log = job["log_tail"].to_string();
    assert!(log.contains("Starting repository check"), "{log}");
    assert!(!log.contains("archive consistency"), "{log}");
    let ended = wait_schedule(&server, &id, "last_status done", |s| {
        s["last_status"] == "done"
    })
    .await;
    assert_eq!(ended["last_job_id"], job_id.as_str());
    assert_eq!(ended["last_run"], stamp(due));
    assert_eq!(ended["next_run"], stamp(due + DAY));
    // And nothing fires again until the next occurrence.
    several_ticks().await;
    assert_eq!(jobs(&server).await.len(), 1);
}

#[tokio::test]
async fn missed_runs_fire_once_and_next_run_moves_to_the_next_future_occurrence() {
    let clock = ManualClock::at(T0);
    let server = ticking(&clock).await;
    unencrypted_repo(&server, "mac");
    let s = create(&server, "mac", daily("compact", 2, 30)).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let due = unix_of(s["next_run"].as_str().unwrap());
    // Three runs were missed (borgbox was down, say).
    let now = due + 3 * DAY + 3600;
    clock.set(now);
    let fired = wait_schedule(&server, &id, "a fire", |s| s["last_job_id"] != "").await;
    assert_eq!(fired["last_run"], stamp(now));
    assert_eq!(fired["next_run"], stamp(due + 4 * DAY));
    let job = wait_job_final(&server, fired["last_job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["kind"], "compact");
    several_ticks().await;
    let listed = jobs(&server).await;
    assert_eq!(
        listed.len(),
        1,
        "one run, not one per missed day: {listed:?}"
    );
    let settled = get_schedule(&server, &id).await;
    assert_eq!(settled["last_status"], "done");
    assert_eq!(settled["next_run"], stamp(due + 4 * DAY));
}

#[tokio::test]
async fn a_busy_repo_keeps_the_schedule_due_until_its_job_ends() {
    let clock = ManualClock::at(T0);
    let server = ticking(&clock).await;
    let path = unencrypted_repo(&server, "mac");
    let s = create(&server, "mac", daily("compact", 2, 30)).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let due = unix_of(s["next_run"].as_str().unwrap());

    let (status, started) = server
        .post("/repos/mac/check", json!({"verify_data": true}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let manual = started["job_id"].as_str().unwrap().to_owned();
    let held = Held::new(&path, "check").await;
    clock.set(due + 60);
    several_ticks().await;
    // Nothing changed: next_run stays in the past, no second job.
    assert_eq!(get_schedule(&server, &id).await, s);
    let listed = jobs(&server).await;
    assert_eq!(listed.len(), 1, "{listed:?}");

    held.resume();
    let manual_job = wait_job_final(&server, &manual).await;
    assert_eq!(manual_job["status"], "done", "{manual_job}");
    let fired = wait_schedule(&server, &id, "a fire after the job", |s| {
        s["last_job_id"] != ""
    })
    .await;
    assert_ne!(fired["last_job_id"], manual.as_str());
    assert_eq!(fired["last_run"], stamp(due + 60));
    assert_eq!(fired["next_run"], stamp(due + DAY));
    let job = wait_job_final(&server, fired["last_job_id"].as_str().unwrap()).await;
    assert_eq!(
        (job["kind"].as_str(), job["status"].as_str()),
        (Some("compact"), Some("done"))
    );
    wait_schedule(&server, &id, "last_status done", |s| {
        s["last_status"] == "done"
    })
    .await;
    assert_eq!(jobs(&server).await.len(), 2);
}

#[tokio::test]
async fn a_missing_repo_directory_records_a_skipped_run() {
    let clock = ManualClock::at(T0);
    let server = ticking(&clock).await;
    server.create_repo("mac").await;
    let s = create(&server, "mac", daily("check", 2, 30)).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let due = unix_of(s["next_run"].as_str().unwrap());
    // Removed by hand, not through the API: the schedule stays.
    std::fs::remove_dir_all(server.root().join("mac")).unwrap();
    clock.set(due + 120);
    let skipped = wait_schedule(&server, &id, "a skipped run", |s| s["last_status"] != "").await;
    let mut expected = s.clone();
    expected["last_status"] = json!("skipped");
    expected["last_run"] = json!(stamp(due + 120));
    expected["last_job_id"] = json!("");
    expected["next_run"] = json!(stamp(due + DAY));
    assert_eq!(skipped, expected);
    several_ticks().await;
    assert!(jobs(&server).await.is_empty());
    assert_eq!(
        get_schedule(&server, &id).await,
        expected,
        "skipped once, then waits"
    );
}

#[tokio::test]
async fn disabled_schedules_never_fire_and_enabling_a_late_one_fires_it_once() {
    let clock = ManualClock::at(T0);
    let server = ticking(&clock).await;
    // Not a borg repository: the schedule still starts its job, and borg's failure is the
    // job's (API.md 11.4).
    bare_repo(&server, "mac");
    let mut body = daily("check", 2, 30);
    body["enabled"] = json!(false);
    let s = create(&server, "mac", body).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let due = unix_of(s["next_run"].as_str().unwrap());
    let now = due + 2 * DAY + 3600;
    clock.set(now);
    several_ticks().await;
    assert!(jobs(&server).await.is_empty());
    assert_eq!(
        get_schedule(&server, &id).await,
        s,
        "disabled: next_run kept"
    );

    let (status, enabled) = server
        .patch(&format!("/schedules/{id}"), json!({"enabled": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(
        enabled["next_run"], s["next_run"],
        "enabling keeps the late next_run"
    );
    let fired = wait_schedule(&server, &id, "a fire", |s| s["last_job_id"] != "").await;
    assert_eq!(fired["last_run"], stamp(now));
    assert_eq!(fired["next_run"], stamp(due + 3 * DAY));
    let job = wait_job_final(&server, fired["last_job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "error", "{job}");
    let ended = wait_schedule(&server, &id, "last_status error", |s| {
        s["last_status"] != "running"
    })
    .await;
    assert_eq!(ended["last_status"], "error", "{ended}");
    several_ticks().await;
    assert_eq!(jobs(&server).await.len(), 1, "fired once");
}

#[tokio::test]
async fn a_cancelled_scheduled_job_records_error() {
    let clock = ManualClock::at(T0);
    let server = ticking(&clock).await;
    let path = unencrypted_repo(&server, "mac");
    let s = create(&server, "mac", daily("check", 2, 30)).await;
    let id = s["id"].as_str().unwrap().to_owned();
    clock.set(unix_of(s["next_run"].as_str().unwrap()));
    let held = Held::new(&path, "check").await;
    let fired = wait_schedule(&server, &id, "a fire", |s| s["last_job_id"] != "").await;
    assert_eq!(fired["last_status"], "running");
    let job_id = fired["last_job_id"].as_str().unwrap().to_owned();
    // A scheduled job is an ordinary job: it streams and it cancels.
    let (status, job) = server.delete(&format!("/jobs/{job_id}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    held.resume();
    let job = wait_job_final(&server, &job_id).await;
    assert_eq!(job["status"], "cancelled", "{job}");
    let ended = wait_schedule(&server, &id, "the job's end", |s| {
        s["last_status"] != "running"
    })
    .await;
    assert_eq!(ended["last_status"], "error", "{ended}");
    assert_eq!(ended["last_job_id"], job_id.as_str());
}

#[tokio::test]
async fn a_running_schedule_whose_job_is_unknown_settles_to_error() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let s = create(&server, "mac", daily("check", 2, 30)).await;
    let mut stored = s.clone();
    stored["last_status"] = json!("running");
    stored["last_run"] = json!("2026-04-13T02:30:00Z");
    stored["last_job_id"] = json!("j_0123456789ab");
    std::fs::write(
        schedules_file(&server),
        serde_json::to_vec(&json!([stored])).unwrap(),
    )
    .unwrap();
    let seen = get_schedule(&server, s["id"].as_str().unwrap()).await;
    stored["last_status"] = json!("error");
    assert_eq!(seen, stored);
}

#[tokio::test]
async fn a_scheduled_job_whose_starter_was_killed_records_its_run_itself() {
    use borgbox::clock::Clock;
    use borgbox::jobs::record::{JobRecord, JobStore, Liveness};
    use borgbox::jobs::spec::{JobKind, JobOptions};
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let s = create(&server, "mac", daily("check", 2, 30)).await;
    let id = s["id"].as_str().unwrap();
    // What `run-schedule` leaves when killed right after starting the job: a queued record
    // naming the schedule, nothing in the schedules file; the backend starts exec-job.
    let now = borgbox::clock::SystemClock.now().unix_timestamp();
    let mut record = JobRecord::new(
        borgbox::model::JobId::random(),
        "mac".parse().unwrap(),
        JobKind::Check,
        JobOptions::default(),
        now,
    );
    record.schedule = Some(id.parse().unwrap());
    JobStore::new(&server.settings.state_dir)
        .create_exclusive(&record, |_| Liveness::Gone, now)
        .unwrap();
    let exec = tokio::process::Command::new(env!("CARGO_BIN_EXE_borgbox"))
        .arg("exec-job")
        .arg(record.id.as_str())
        .envs(server.settings.child_env())
        .output()
        .await
        .unwrap();
    let seen = get_schedule(&server, id).await;
    assert_eq!(seen["last_job_id"], record.id.as_str(), "{seen}\n{exec:?}");
    // borg refuses the uninitialised repo: the run ends in error, as any failed job.
    assert_eq!(seen["last_status"], "error", "{seen}");
    assert_ne!(seen["last_run"], "", "{seen}");
    assert!(
        seen["next_run"].as_str() > seen["last_run"].as_str(),
        "next_run moved past the run: {seen}"
    );
}

// ---- deletion, persistence, limits ----

#[tokio::test]
async fn deleting_a_repo_removes_its_schedules_and_alerts_and_keeps_other_repos() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    server.create_repo("pc").await;
    let mut kept_schedules = Vec::new();
    let mut kept_alerts = Vec::new();
    for repo in ["mac", "pc", "mac", "pc"] {
        let s = create(&server, repo, daily("check", 2, 30)).await;
        let (status, a) = server
            .post(
                &format!("/repos/{repo}/alerts"),
                json!({"stale_after_hours": 24, "webhook_url": "http://127.0.0.1:9/hook"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{a}");
        if repo == "pc" {
            kept_schedules.push(s);
            kept_alerts.push(a);
        }
    }
    let order = |v: &Value| (v["created_at"].as_str().unwrap().to_owned(), id_of(v));
    kept_schedules.sort_by_key(order);
    kept_alerts.sort_by_key(order);
    let (status, body) = server.delete("/repos/mac").await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (_, schedules) = server.get("/schedules").await;
    assert_eq!(schedules, Value::Array(kept_schedules.clone()));
    let (_, alerts) = server.get("/alerts").await;
    assert_eq!(alerts, Value::Array(kept_alerts));
    let (status, body) = server.get("/repos/mac/schedules").await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    let (status, body) = server.get("/repos/mac/alerts").await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    let stored: Vec<Value> =
        serde_json::from_slice(&std::fs::read(schedules_file(&server)).unwrap()).unwrap();
    let mut stored = stored;
    stored.sort_by_key(order);
    assert_eq!(stored, kept_schedules);
    let stored: Vec<Value> =
        serde_json::from_slice(&std::fs::read(&server.settings.alerts).unwrap()).unwrap();
    assert!(stored.iter().all(|a| a["repo"] == "pc") && stored.len() == 2);
}

#[test]
fn a_schedules_file_that_does_not_parse_refuses_to_start_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schedules.json");
    let mut out_of_range = json!([{"id": "sch_0123456789abcdef", "repo": "mac", "kind": "check",
        "cadence": "daily", "hour": 2, "minute": 30, "weekday": 0, "day": 0, "enabled": true,
        "created_at": "2026-04-13T12:00:00Z", "last_run": "", "last_status": "",
        "last_job_id": "", "next_run": "2099-04-14T02:30:00Z"}]);
    let valid = out_of_range.to_string();
    out_of_range[0]["hour"] = json!(24);
    for contents in [
        b"{".to_vec(),
        b"{}".to_vec(),
        b"null".to_vec(),
        br#"[{"id":"sch_0"}]"#.to_vec(),
        out_of_range.to_string().into_bytes(),
        valid.replace("\"check\"", "\"prune\"").into_bytes(),
        valid
            .replace("sch_0123456789abcdef", "sch_../../etc")
            .into_bytes(),
        b"[\xff\xfe]".to_vec(),
    ] {
        assert_refuses_to_start(dir.path(), &file, &contents);
    }
    // The control: the same setup with a readable file does start.
    std::fs::write(&file, &valid).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = std::ffi::OsString::from(format!("127.0.0.1:{port}"));
    let mut serve = serve_command(dir.path(), &[("BORGBOX_ADDR", &addr)])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !health_answers(port) {
        if let Some(status) = serve.try_wait().unwrap() {
            panic!("serve exited with a valid schedules file: {status}");
        }
        assert!(Instant::now() < deadline, "serve did not start");
        crate::support::pause();
    }
    kill(Pid::from_raw(serve.id() as i32), Signal::SIGTERM).unwrap();
    assert!(serve.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), valid);
}

/// Whether `GET /api/v1/health` on 127.0.0.1:`port` answers 200 (a blocking client).
fn health_answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let request = b"GET /api/v1/health HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
    let mut answer = String::new();
    stream.write_all(request).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

#[tokio::test]
async fn the_thousand_and_first_schedule_is_refused() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let all: Vec<Value> = (0..1000)
        .map(|n| {
            json!({"id": format!("sch_{n:016x}"), "repo": "mac", "kind": "check",
                   "cadence": "daily", "hour": 2, "minute": 30, "weekday": 0, "day": 0,
                   "enabled": false, "created_at": "2026-04-13T12:00:00Z", "last_run": "",
                   "last_status": "", "last_job_id": "", "next_run": "2026-04-14T02:30:00Z"})
        })
        .collect();
    let file = schedules_file(&server);
    std::fs::write(&file, serde_json::to_vec(&all).unwrap()).unwrap();
    let before = std::fs::read(&file).unwrap();
    let (_, listed) = server.get("/schedules").await;
    assert_eq!(listed.as_array().unwrap().len(), 1000);
    let (status, err) = server
        .post("/repos/mac/schedules", daily("check", 3, 0))
        .await;
    let message = error_of(status, &err, StatusCode::BAD_REQUEST);
    assert!(message.contains("1000"), "{message}");
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // One fewer, and there is room again.
    let (status, _) = server.delete("/schedules/sch_00000000000003e7").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    create(&server, "mac", daily("check", 3, 0)).await;
    let (_, listed) = server.get("/schedules").await;
    assert_eq!(listed.as_array().unwrap().len(), 1000);
}
