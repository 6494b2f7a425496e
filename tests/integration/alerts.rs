//! Stale-backup alerts (API.md 12) over real HTTP, delivered to real HTTP receivers on
//! 127.0.0.1: shapes, validation, the write-only secret, test deliveries, the monitor tick
//! by tick on a hand-set clock, retries, the last write with real borg.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use borgbox::domain::ticker;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::schedules::{
    assert_refuses_to_start, assert_stamp_or_empty, bare_repo, error_of, file_bytes, is_hex_id,
    raw, serve_command, stamp, unencrypted_repo, unix_of, wait_job_final,
};
use crate::support::{self, encrypted_repo, ManualClock, Options, TestServer, PASSPHRASE, TOKEN};

/// A fixed last write: 2026-04-12T13:20:00Z.
const LW: i64 = 1_776_000_000;
const H: i64 = 3600;
/// Short webhook timings: each attempt, then the two back-offs.
const ATTEMPT: Duration = Duration::from_secs(1);
const BACKOFF: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(20)];

const FIELDS: [&str; 13] = [
    "id",
    "repo",
    "stale_after_hours",
    "webhook_url",
    "enabled",
    "renotify_hours",
    "has_secret",
    "created_at",
    "last_check_at",
    "last_state",
    "last_write",
    "last_alerted_at",
    "last_error",
];

// ---- a real HTTP receiver ----

/// What a receiver does with the n-th request it has read in full.
#[derive(Debug, Clone)]
enum Reply {
    /// That status, an empty body.
    Status(u16),
    /// That status after a pause.
    After(Duration, u16),
    /// 301 to this location.
    Redirect(String),
    /// Closes the connection without answering (FIN).
    Close,
    /// Resets the connection without answering (RST).
    Reset,
    /// Keeps the connection open and never answers.
    Hang,
}

#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// A hand-written HTTP/1.1 receiver on 127.0.0.1 that records every request and answers
/// the n-th with `script[n]` (the last entry repeats). Dropping it closes everything.
struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> Receiver {
        Receiver::at_path(script, "/hook").await
    }

    async fn at_path(script: Vec<Reply>, path: &str) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let task_log = log.clone();
        let task = tokio::spawn(async move {
            // Owned here: aborting the accept loop ends every connection too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                connections.spawn(answer(stream, script.clone(), task_log.clone()));
            }
        });
        Receiver { url, log, task }
    }

    async fn ok() -> Receiver {
        Receiver::start(vec![Reply::Status(200)]).await
    }

    fn requests(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

async fn answer(mut stream: TcpStream, script: Vec<Reply>, log: Arc<Mutex<Vec<Received>>>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    let reply = {
        let mut log = log.lock().unwrap();
        log.push(request);
        script[(log.len() - 1).min(script.len() - 1)].clone()
    };
    let status = |code: u16| {
        format!("HTTP/1.1 {code} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    };
    match reply {
        Reply::Status(code) => {
            let _ = stream.write_all(status(code).as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::After(pause, code) => {
            tokio::time::sleep(pause).await;
            let _ = stream.write_all(status(code).as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::Redirect(location) => {
            let head = format!(
                "HTTP/1.1 301 Moved Permanently\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::Close => drop(stream),
        Reply::Reset => {
            stream.set_zero_linger().unwrap();
            drop(stream);
        }
        Reply::Hang => std::future::pending::<()>().await,
    }
}

/// One request: the head up to the blank line, then `content-length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        request_line,
        headers,
        body,
        at: Instant::now(),
    })
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- signatures, checked by an independent implementation ----

/// Runs `openssl` with `args`, feeding `stdin`; its stdout.
async fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = tokio::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl must be installed to check signatures");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 as OpenSSL computes it.
async fn openssl_hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let macopt = format!("hexkey:{}", hex(key));
    openssl(
        &[
            "dgst", "-sha256", "-mac", "HMAC", "-macopt", &macopt, "-binary",
        ],
        data,
    )
    .await
}

/// The two signatures as an independent implementation (OpenSSL) computes them from the
/// exact bytes received: X-BorgBox-Signature keyed with the secret's UTF-8 bytes, and
/// Standard Webhooks' over `<id>.<timestamp>.<body>`, keyed with the base64-decoded
/// remainder of a `whsec_` secret.
async fn independent_signatures(secret: &str, id: &str, ts: &str, body: &[u8]) -> (String, String) {
    let borgbox = format!(
        "sha256={}",
        hex(&openssl_hmac(secret.as_bytes(), body).await)
    );
    let key = match secret.strip_prefix("whsec_") {
        Some(rest) => openssl(&["base64", "-d", "-A"], rest.as_bytes()).await,
        None => secret.as_bytes().to_vec(),
    };
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(body);
    let mac = openssl_hmac(&key, &signed).await;
    let b64 = String::from_utf8(openssl(&["base64", "-A"], &mac).await).unwrap();
    (borgbox, format!("v1,{}", b64.trim()))
}

/// Both signatures of `request` verify with `secret`.
async fn assert_signed(request: &Received, secret: &str) {
    let id = request.header("webhook-id").expect("webhook-id");
    assert!(!id.is_empty());
    let ts = request
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let (borgbox, standard) = independent_signatures(secret, id, ts, &request.body).await;
    assert_eq!(
        request.header("x-borgbox-signature"),
        Some(borgbox.as_str()),
        "X-BorgBox-Signature with the secret {secret:?}"
    );
    assert_eq!(
        request.header("webhook-signature"),
        Some(standard.as_str()),
        "webhook-signature with the secret {secret:?}"
    );
}

fn assert_unsigned(request: &Received) {
    for header in [
        "x-borgbox-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ] {
        assert_eq!(request.header(header), None, "{header} without a secret");
    }
}

// ---- helpers ----

async fn alert_server(clock: &Arc<ManualClock>) -> TestServer {
    TestServer::with(Options {
        clock: clock.clone(),
        webhook_timings: Some((ATTEMPT, BACKOFF)),
        ..Default::default()
    })
    .await
}

/// Sets the mtime of `path` (a repo directory without transactions: its last write).
fn written_at(path: &Path, unix: i64) {
    let t = nix::sys::time::TimeVal::new(unix, 0);
    nix::sys::stat::utimes(path, &t, &t).unwrap();
}

/// A repo (a plain directory) whose last write is `unix`.
fn repo_written_at(server: &TestServer, name: &str, unix: i64) -> PathBuf {
    let path = bare_repo(server, name);
    written_at(&path, unix);
    path
}

/// Every field of API.md 4.10, each of its type; only `last_state` may be null.
fn assert_alert_shape(a: &Value) {
    let object = a
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {a}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{a}");
    assert!(is_hex_id(a["id"].as_str().unwrap(), "alert_", 16), "{a}");
    for field in ["repo", "webhook_url", "last_error"] {
        assert!(a[field].is_string(), "{field} in {a}");
    }
    for field in ["stale_after_hours", "renotify_hours"] {
        assert!(a[field].is_u64(), "{field} is an integer in {a}");
    }
    for field in ["enabled", "has_secret"] {
        assert!(a[field].is_boolean(), "{field} in {a}");
    }
    for field in [
        "created_at",
        "last_check_at",
        "last_write",
        "last_alerted_at",
    ] {
        assert_stamp_or_empty(&a[field], field);
    }
    assert_ne!(a["created_at"], "");
    assert!(
        [json!(null), json!("ok"), json!("stale")].contains(&a["last_state"]),
        "{a}"
    );
}

async fn create_alert(server: &TestServer, repo: &str, body: Value) -> Value {
    let (status, alert) = server
        .post(&format!("/repos/{repo}/alerts"), body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}: {alert}");
    assert_alert_shape(&alert);
    alert
}

async fn get_alert(server: &TestServer, id: &str) -> Value {
    let (status, alert) = server.get(&format!("/alerts/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{alert}");
    assert_alert_shape(&alert);
    alert
}

async fn patch_alert(server: &TestServer, id: &str, body: Value) -> Value {
    let (status, alert) = server.patch(&format!("/alerts/{id}"), body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}: {alert}");
    assert_alert_shape(&alert);
    alert
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap().to_owned()
}

async fn scan(server: &TestServer) {
    server.domain.scan_alerts().await.unwrap();
}

async fn hostname(server: &TestServer) -> String {
    let (_, stats) = server.get("/system/stats").await;
    stats["hostname"].as_str().unwrap().to_owned()
}

/// The payload of API.md 12.5, byte for byte.
fn payload(
    event: &str,
    repo: &str,
    hostname: &str,
    last_write: &str,
    stale: i64,
    hours: i64,
) -> String {
    format!(
        r#"{{"event":"{event}","repo":"{repo}","hostname":{},"last_write":"{last_write}","stale_after_hours":{stale},"hours_since_last_write":{hours}}}"#,
        serde_json::to_string(hostname).unwrap()
    )
}

/// The monitor fields of an alert, which PATCH and /test must not touch.
fn monitor_state(a: &Value) -> Value {
    json!([
        a["last_check_at"],
        a["last_state"],
        a["last_write"],
        a["last_alerted_at"],
        a["last_error"]
    ])
}

fn alerts_file(server: &TestServer) -> PathBuf {
    server.settings.alerts.clone()
}

/// The stored form of one alert (secret and pending event included).
fn stored_alert(server: &TestServer, id: &str) -> Value {
    let all: Vec<Value> =
        serde_json::from_slice(&std::fs::read(alerts_file(server)).unwrap()).unwrap();
    all.into_iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("alert {id} not in the file"))
}

async fn repo_last_write(server: &TestServer, repo: &str) -> String {
    let (status, r) = server.get(&format!("/repos/{repo}")).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    r["last_write"].as_str().unwrap().to_owned()
}

fn random_secret(what: &str) -> String {
    format!("{what}-{:016x}", rand::random::<u64>())
}

// ---- endpoints, shapes, validation ----

#[tokio::test]
async fn alerts_are_created_listed_shown_and_deleted_with_all_thirteen_fields() {
    let clock = ManualClock::at(LW);
    let server = alert_server(&clock).await;
    server.create_repo("mac").await;
    bare_repo(&server, "pc");

    let (status, content_type, text) = raw(
        &server,
        Method::POST,
        "/repos/mac/alerts",
        Some(
            json!({"stale_after_hours": 26, "webhook_url": "https://hooks.example.net/x?y=1"})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    assert_eq!(content_type, "application/json");
    assert_eq!(
        text.matches("null").count(),
        1,
        "only last_state is null: {text}"
    );
    let first: Value = serde_json::from_str(&text).unwrap();
    assert_alert_shape(&first);
    let id = id_of(&first);
    assert_eq!(
        first,
        json!({"id": id, "repo": "mac", "stale_after_hours": 26,
               "webhook_url": "https://hooks.example.net/x?y=1", "enabled": true,
               "renotify_hours": 0, "has_secret": false, "created_at": stamp(LW),
               "last_check_at": "", "last_state": null, "last_write": "",
               "last_alerted_at": "", "last_error": ""})
    );

    // Earlier, on an unregistered repo, every optional field given.
    clock.set(LW - 60);
    let second = create_alert(
        &server,
        "pc",
        json!({"stale_after_hours": 8760, "webhook_url": "http://127.0.0.1:9/hook",
               "enabled": false, "renotify_hours": 8760, "secret": random_secret("s")}),
    )
    .await;
    assert_eq!(
        (
            &second["enabled"],
            &second["renotify_hours"],
            &second["has_secret"],
            &second["stale_after_hours"]
        ),
        (&json!(false), &json!(8760), &json!(true), &json!(8760))
    );
    clock.set(LW + 60);
    // An empty secret means no signing.
    let third = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 1, "webhook_url": "http://[::1]:9/h", "secret": "",
               "renotify_hours": null, "enabled": null}),
    )
    .await;
    assert_eq!(
        (
            &third["has_secret"],
            &third["renotify_hours"],
            &third["enabled"]
        ),
        (&json!(false), &json!(0), &json!(true))
    );

    let (_, all) = server.get("/alerts").await;
    assert_eq!(all, json!([second, first, third]), "created_at order");
    let (_, mac) = server.get("/repos/mac/alerts").await;
    assert_eq!(mac, json!([first, third]));
    let (_, pc) = server.get("/repos/pc/alerts").await;
    assert_eq!(pc, json!([second]));
    assert_eq!(get_alert(&server, &id).await, first);
    assert_eq!(
        std::fs::metadata(alerts_file(&server)).unwrap().mode() & 0o777,
        0o600
    );

    let (status, body) = server.delete(&format!("/alerts/{id}")).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = server.get(&format!("/alerts/{id}")).await;
    assert_eq!(
        error_of(status, &body, StatusCode::NOT_FOUND),
        "alert not found"
    );
    let (status, body) = server.delete(&format!("/alerts/{id}")).await;
    error_of(status, &body, StatusCode::NOT_FOUND);
    for a in [&second, &third] {
        let (status, _) = server.delete(&format!("/alerts/{}", id_of(a))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (_, _, text) = raw(&server, Method::GET, "/alerts", None).await;
    assert_eq!(text, "[]");
}

#[tokio::test]
async fn unknown_repos_and_alert_ids_are_404_and_change_nothing() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let tree = server.snapshot();
    let body = json!({"stale_after_hours": 24, "webhook_url": "http://127.0.0.1:9/h"});
    for path in [
        "/repos/nope/alerts",
        "/repos/No_Pe/alerts",
        "/repos/..%2fmac/alerts",
    ] {
        let (status, err) = server.get(path).await;
        error_of(status, &err, StatusCode::NOT_FOUND);
        let (status, err) = server.post(path, body.clone()).await;
        error_of(status, &err, StatusCode::NOT_FOUND);
    }
    for id in [
        "..%2f",
        "..%2F..%2Falerts.json",
        "alert_XYZ",
        "j_000000000000",
        "sch_0000000000000000",
        "alert_0000000000000000",
        "ALERT_0000000000000000",
        "alert_000000000000000",
    ] {
        let path = format!("/alerts/{id}");
        let (status, err) = server.get(&path).await;
        error_of(status, &err, StatusCode::NOT_FOUND);
        let (status, err) = server.patch(&path, json!({"enabled": false})).await;
        error_of(status, &err, StatusCode::NOT_FOUND);
        let (status, err) = server.post(&format!("{path}/test"), json!({})).await;
        error_of(status, &err, StatusCode::NOT_FOUND);
        let (status, err) = server.delete(&path).await;
        error_of(status, &err, StatusCode::NOT_FOUND);
    }
    for (method, path) in [
        (Method::GET, "/alerts/alert_0000000000000000/test"),
        (Method::PUT, "/alerts/alert_0000000000000000"),
        (Method::POST, "/alerts"),
    ] {
        let (status, err) = server.call(method, path, None).await;
        error_of(status, &err, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(file_bytes(&alerts_file(&server)), None);
    assert_eq!(server.snapshot(), tree);
}

#[tokio::test]
async fn bad_alert_bodies_are_400_name_no_secret_and_change_nothing() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let file = alerts_file(&server);
    let tree = server.snapshot();
    let secret = random_secret("never-shown");
    let with = |pairs: Value| {
        let mut body = json!({"stale_after_hours": 24, "webhook_url": "http://127.0.0.1:9/h", "secret": secret});
        for (k, v) in pairs.as_object().unwrap() {
            body[k] = v.clone();
        }
        body.to_string()
    };
    let long_url = format!("http://example.net/{}", "x".repeat(2048 - 19 + 1));
    let mut cases: Vec<(&str, String)> = vec![
        ("stale_after_hours", with(json!({"stale_after_hours": 0}))),
        (
            "stale_after_hours",
            with(json!({"stale_after_hours": 8761})),
        ),
        ("stale_after_hours", with(json!({"stale_after_hours": -1}))),
        ("stale_after_hours", with(json!({"stale_after_hours": 1.5}))),
        (
            "stale_after_hours",
            with(json!({"stale_after_hours": "24"})),
        ),
        (
            "stale_after_hours",
            with(json!({"stale_after_hours": true})),
        ),
        (
            "stale_after_hours",
            with(json!({"stale_after_hours": null})),
        ),
        (
            "stale_after_hours",
            format!(
                r#"{{"stale_after_hours":24.0,"webhook_url":"http://a/","secret":"{secret}"}}"#
            ),
        ),
        (
            "stale_after_hours",
            format!(r#"{{"webhook_url":"http://a/","secret":"{secret}"}}"#),
        ),
        ("renotify_hours", with(json!({"renotify_hours": -1}))),
        ("renotify_hours", with(json!({"renotify_hours": 8761}))),
        ("renotify_hours", with(json!({"renotify_hours": "1"}))),
        ("renotify_hours", with(json!({"renotify_hours": false}))),
        (
            "renotify_hours",
            format!(
                r#"{{"stale_after_hours":24,"renotify_hours":2.0,"webhook_url":"http://a/","secret":"{secret}"}}"#
            ),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "ftp://example.net/x"})),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "/relative/path"})),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "example.net/hook"})),
        ),
        ("webhook_url", with(json!({"webhook_url": "http://"}))),
        (
            "webhook_url",
            with(json!({"webhook_url": "javascript:alert(1)"})),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "mailto:ops@example.net"})),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "file:///etc/passwd"})),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "http:// a.example"})),
        ),
        (
            "webhook_url",
            with(json!({"webhook_url": "http://exa\nmple.net/"})),
        ),
        ("webhook_url", with(json!({"webhook_url": ""}))),
        ("webhook_url", with(json!({"webhook_url": long_url}))),
        ("webhook_url", with(json!({"webhook_url": 5}))),
        ("webhook_url", with(json!({"webhook_url": null}))),
        (
            "secret",
            with(json!({"secret": format!("{secret}{}", "s".repeat(1024))})),
        ),
        // 342 characters, 1026 bytes: the limit is in bytes.
        ("secret", with(json!({"secret": "€".repeat(342)}))),
        ("secret", with(json!({"secret": 5}))),
        ("secret", with(json!({"secret": [secret]}))),
        ("enabled", with(json!({"enabled": "true"}))),
        ("enabled", with(json!({"enabled": 1}))),
    ];
    for body in ["[]", "\"x\"", "12", "null", "{", "", "{}"] {
        cases.push(("body", body.to_owned()));
    }
    for (subject, body) in &cases {
        let (status, err) = server
            .send_raw(Method::POST, "/repos/mac/alerts", body.clone().into_bytes())
            .await;
        let message = error_of(status, &err, StatusCode::BAD_REQUEST);
        if *subject != "body" {
            assert!(message.contains(subject), "{body}: {message}");
        }
        assert!(!message.contains(&secret), "{body}: {message}");
        assert_eq!(file_bytes(&file), None, "{body} wrote the alerts file");
    }
    assert_eq!(server.snapshot(), tree);

    // The limits themselves are accepted.
    let exact_url = format!("http://example.net/{}", "x".repeat(2048 - 19));
    assert_eq!(exact_url.len(), 2048);
    for body in [
        json!({"stale_after_hours": 1, "webhook_url": exact_url, "renotify_hours": 0}),
        json!({"stale_after_hours": 8760, "webhook_url": "https://h.example/", "renotify_hours": 8760}),
        json!({"stale_after_hours": 24, "webhook_url": "http://h/", "secret": format!("{}a", "€".repeat(341))}),
    ] {
        create_alert(&server, "mac", body).await;
    }

    // PATCH refuses the same, after merging, and leaves the file byte for byte.
    let stored = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": "http://127.0.0.1:9/h", "secret": secret}),
    )
    .await;
    let path = format!("/alerts/{}", id_of(&stored));
    let before = file_bytes(&file).unwrap();
    let inode = std::fs::metadata(&file).unwrap().ino();
    for (subject, body) in [
        ("stale_after_hours", json!({"stale_after_hours": 0})),
        ("stale_after_hours", json!({"stale_after_hours": "24"})),
        ("stale_after_hours", json!({"stale_after_hours": 1.5})),
        ("renotify_hours", json!({"renotify_hours": -1})),
        ("renotify_hours", json!({"renotify_hours": 8761})),
        ("webhook_url", json!({"webhook_url": "javascript:alert(1)"})),
        ("webhook_url", json!({"webhook_url": "ftp://example.net/"})),
        ("webhook_url", json!({"webhook_url": ""})),
        ("secret", json!({"secret": "x".repeat(1025)})),
        ("secret", json!({"secret": 12})),
        ("enabled", json!({"enabled": "no"})),
        ("body", json!([])),
    ] {
        let (status, err) = server.patch(&path, body.clone()).await;
        let message = error_of(status, &err, StatusCode::BAD_REQUEST);
        if subject != "body" {
            assert!(message.contains(subject), "{body}: {message}");
        }
        assert!(!message.contains(&secret));
        assert_eq!(file_bytes(&file).unwrap(), before, "{body}");
    }
    assert_eq!(
        std::fs::metadata(&file).unwrap().ino(),
        inode,
        "never rewritten"
    );
    assert_eq!(get_alert(&server, &id_of(&stored)).await, stored);
}

/// URLs whose host exists only after a WHATWG parser's error correction (`https:///h`
/// becomes `https://h/`): as written they have no host, which API.md 12.1 refuses.
#[tokio::test]
async fn webhook_urls_without_a_host_as_written_are_400() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let file = alerts_file(&server);
    let mut accepted = Vec::new();
    for url in [
        "https:///no-host",
        "http:///no-host/hook",
        "http:/example.net/hook",
        "http:example.net/hook",
        "http:\\\\example.net/hook",
    ] {
        let (status, body) = server
            .post(
                "/repos/mac/alerts",
                json!({"stale_after_hours": 24, "webhook_url": url}),
            )
            .await;
        if status == StatusCode::BAD_REQUEST {
            assert!(error_of(status, &body, StatusCode::BAD_REQUEST).contains("webhook_url"));
        } else {
            accepted.push(format!("{url} → {status} {body}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "accepted without a host: {accepted:#?}"
    );
    assert_eq!(file_bytes(&file), None);
}

#[tokio::test]
async fn the_secret_is_never_in_a_response() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    let receiver = Receiver::start(vec![Reply::Status(200), Reply::Status(404)]).await;
    let secret = random_secret("write-only");
    let rotated = random_secret("rotated");
    let mut texts = Vec::new();
    let (status, _, text) = raw(
        &server,
        Method::POST,
        "/repos/mac/alerts",
        Some(
            json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": secret})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = id_of(&serde_json::from_str(&text).unwrap());
    texts.push(text);
    for (method, path, body) in [
        (Method::GET, "/alerts".to_owned(), None),
        (Method::GET, format!("/alerts/{id}"), None),
        (Method::GET, "/repos/mac/alerts".to_owned(), None),
        (Method::POST, format!("/alerts/{id}/test"), None),
        (Method::POST, format!("/alerts/{id}/test"), None),
        (
            Method::PATCH,
            format!("/alerts/{id}"),
            Some(json!({"renotify_hours": 2}).to_string()),
        ),
        (
            Method::PATCH,
            format!("/alerts/{id}"),
            Some(json!({"secret": rotated}).to_string()),
        ),
        (
            Method::PATCH,
            format!("/alerts/{id}"),
            Some(json!({"secret": rotated, "stale_after_hours": 0}).to_string()),
        ),
        (Method::GET, format!("/alerts/{id}"), None),
    ] {
        let (_, _, text) = raw(&server, method, &path, body).await;
        texts.push(text);
    }
    scan(&server).await;
    let (_, _, text) = raw(&server, Method::GET, "/alerts", None).await;
    texts.push(text);
    for text in &texts {
        assert!(
            !text.contains(&secret) && !text.contains(&rotated),
            "{text}"
        );
    }
    assert!(texts.iter().any(|t| t.contains("\"has_secret\":true")));
    assert!(
        texts.iter().any(|t| t.contains("webhook returned 404")),
        "{texts:?}"
    );
    // Only the alerts file keeps it, and that file is private.
    let file = alerts_file(&server);
    assert!(std::fs::read_to_string(&file).unwrap().contains(&rotated));
    assert_eq!(std::fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
}

/// The real binary at debug level: neither secret nor the webhook URL's token reaches its
/// log, through creating, rotating, failing and succeeding deliveries and bad bodies.
#[tokio::test]
async fn the_secret_never_reaches_serves_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos/mac")).unwrap();
    let secret = random_secret("log-secret");
    let rotated = random_secret("log-rotated");
    let token = random_secret("urltoken");
    let good = Receiver::at_path(vec![Reply::Status(200)], &format!("/hook?token={token}")).await;
    let bad = Receiver::at_path(vec![Reply::Status(500)], &format!("/hook?token={token}")).await;
    let port = closed_port();
    let addr = std::ffi::OsString::from(format!("127.0.0.1:{port}"));
    let log_path = dir.path().join("serve.log");
    let mut cmd = serve_command(dir.path(), &[("BORGBOX_ADDR", &addr)]);
    let mut serve = cmd
        .arg("-vv")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/v1");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{url}/health")).send().await.is_err() {
        assert!(serve.try_wait().unwrap().is_none(), "serve exited");
        assert!(Instant::now() < deadline, "serve did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let call = |method: Method, path: String, body: Value| {
        let request = client
            .request(method, format!("{url}{path}"))
            .bearer_auth(TOKEN)
            .body(body.to_string());
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };
    let (status, text) = call(
        Method::POST,
        "/repos/mac/alerts".into(),
        json!({"stale_after_hours": 1, "webhook_url": good.url, "secret": secret}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let id = id_of(&serde_json::from_str(&text).unwrap());
    let mut texts = vec![text];
    for (method, path, body) in [
        (
            Method::POST,
            "/repos/mac/alerts".to_owned(),
            json!({"stale_after_hours": 0, "webhook_url": good.url, "secret": secret}),
        ),
        (
            Method::POST,
            "/repos/mac/alerts".to_owned(),
            json!({"stale_after_hours": 1, "webhook_url": "ftp://x/", "secret": format!("{secret}{}", "s".repeat(1100))}),
        ),
        (Method::POST, format!("/alerts/{id}/test"), json!({})),
        (
            Method::PATCH,
            format!("/alerts/{id}"),
            json!({"secret": rotated}),
        ),
        (Method::POST, format!("/alerts/{id}/test"), json!({})),
        (
            Method::PATCH,
            format!("/alerts/{id}"),
            json!({"webhook_url": bad.url}),
        ),
        (Method::POST, format!("/alerts/{id}/test"), json!({})),
        (
            Method::PATCH,
            format!("/alerts/{id}"),
            json!({"webhook_url": "javascript:x", "secret": secret}),
        ),
    ] {
        let (_, text) = call(method, path, body).await;
        texts.push(text);
    }
    assert_eq!((good.count(), bad.count()), (2, 1));
    assert!(
        texts.iter().any(|t| t.contains("webhook returned 500")),
        "{texts:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while serve.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains(&id), "the log has the alert's lines: {log}");
    for text in texts.iter().chain([&log]) {
        assert!(!text.contains(&secret), "secret in: {text}");
        assert!(!text.contains(&rotated), "rotated secret in: {text}");
    }
    assert!(
        !log.contains(&token),
        "the webhook URL's token in the log: {log}"
    );
}

// ---- PATCH ----

#[tokio::test]
async fn patch_is_partial_keeps_the_monitor_state_and_has_three_secret_states() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    server.create_repo("pc").await;
    let receiver = Receiver::ok().await;
    let first = random_secret("first");
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": first}),
    )
    .await;
    let id = id_of(&a);
    scan(&server).await;
    assert_eq!(receiver.count(), 1);
    let checked = get_alert(&server, &id).await;
    assert_eq!(checked["last_state"], "stale");
    let state = monitor_state(&checked);

    let mut expected = checked.clone();
    let patched = patch_alert(&server, &id, json!({"stale_after_hours": 48})).await;
    expected["stale_after_hours"] = json!(48);
    assert_eq!(
        patched, expected,
        "one field changed, the monitor state kept"
    );
    // Read-only fields in the body are ignored, whatever their type.
    let patched = patch_alert(
        &server,
        &id,
        json!({"id": "alert_ffffffffffffffff", "repo": "pc", "has_secret": false,
               "created_at": "2000-01-01T00:00:00Z", "last_check_at": "2000-01-01T00:00:00Z",
               "last_state": "ok", "last_write": 5, "last_alerted_at": [],
               "last_error": "boom", "pending": {"event": "stale"}, "renotify_hours": 5}),
    )
    .await;
    expected["renotify_hours"] = json!(5);
    assert_eq!(patched, expected);
    let (_, pc) = server.get("/repos/pc/alerts").await;
    assert_eq!(pc, json!([]));
    let patched = patch_alert(&server, &id, json!({"enabled": false, "secret": null})).await;
    expected["enabled"] = json!(false);
    assert_eq!(patched, expected);
    assert_eq!(monitor_state(&patched), state);
    let (status, same) = server
        .send_raw(Method::PATCH, &format!("/alerts/{id}"), Vec::new())
        .await;
    assert_eq!(
        (status, &same),
        (StatusCode::OK, &expected),
        "an empty PATCH is {{}}"
    );

    let test = |want: &'static str| {
        let path = format!("/alerts/{id}/test");
        let server = &server;
        async move {
            let (status, body) = server.post(&path, json!({})).await;
            assert_eq!(
                (status, body),
                (StatusCode::OK, json!({"status": "ok"})),
                "{want}"
            );
        }
    };
    // Omitted and null kept the secret (the alert is disabled: /test works anyway).
    test("kept").await;
    let last = receiver.requests().pop().unwrap();
    assert_signed(&last, &first).await;

    // A new value rotates it.
    let second = random_secret("second");
    let patched = patch_alert(&server, &id, json!({"secret": second})).await;
    assert_eq!(patched, expected, "has_secret stays true");
    test("rotated").await;
    let last = receiver.requests().pop().unwrap();
    assert_signed(&last, &second).await;
    let (old, _) = independent_signatures(
        &first,
        last.header("webhook-id").unwrap(),
        last.header("webhook-timestamp").unwrap(),
        &last.body,
    )
    .await;
    assert_ne!(last.header("x-borgbox-signature"), Some(old.as_str()));

    // "" clears it: no signature headers at all.
    let patched = patch_alert(&server, &id, json!({"secret": ""})).await;
    expected["has_secret"] = json!(false);
    assert_eq!(patched, expected);
    test("cleared").await;
    assert_unsigned(&receiver.requests().pop().unwrap());
    let stored = stored_alert(&server, &id);
    assert!(stored.get("secret").is_none_or(Value::is_null), "{stored}");

    // And set again, now a Standard Webhooks secret.
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let patched = patch_alert(&server, &id, json!({"secret": whsec})).await;
    expected["has_secret"] = json!(true);
    assert_eq!(patched, expected);
    test("whsec").await;
    assert_signed(&receiver.requests().pop().unwrap(), whsec).await;
    assert_eq!(receiver.count(), 5);
    assert_eq!(monitor_state(&get_alert(&server, &id).await), state);
}

// ---- POST /alerts/{id}/test ----

#[tokio::test]
async fn a_test_delivery_is_one_signed_post_with_the_exact_payload() {
    let clock = ManualClock::at(LW + 5 * H + 59 * 60);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    let receiver = Receiver::at_path(vec![Reply::Status(204)], "/in/hook?token=t0k").await;
    let secret = random_secret("test-secret");
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 26, "webhook_url": receiver.url, "secret": secret}),
    )
    .await;
    let id = id_of(&a);
    let file_before = std::fs::read(alerts_file(&server)).unwrap();
    // Any body is ignored, even one that is not JSON.
    let (status, body) = server
        .send_raw(
            Method::POST,
            &format!("/alerts/{id}/test"),
            b"not json".to_vec(),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.request_line, "POST /in/hook?token=t0k HTTP/1.1");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let (_, info) = server.get("/info").await;
    assert_eq!(
        request.header("user-agent").unwrap(),
        format!("borgbox/{}", info["version"].as_str().unwrap())
    );
    let host = hostname(&server).await;
    assert_eq!(
        request.text(),
        payload("test", "mac", &host, &stamp(LW), 26, 5)
    );
    assert_eq!(
        request.header("webhook-timestamp"),
        Some((LW + 5 * H + 59 * 60).to_string().as_str())
    );
    assert_signed(request, &secret).await;
    // Nothing stored changed.
    assert_eq!(get_alert(&server, &id).await, a);
    assert_eq!(std::fs::read(alerts_file(&server)).unwrap(), file_before);

    // A disabled alert without a secret, whose repo directory is gone: still one delivery,
    // unsigned, with an unknown last write.
    bare_repo(&server, "gone");
    let receiver = Receiver::ok().await;
    let b = create_alert(
        &server,
        "gone",
        json!({"stale_after_hours": 2, "webhook_url": receiver.url, "enabled": false}),
    )
    .await;
    std::fs::remove_dir(server.root().join("gone")).unwrap();
    let (status, body) = server
        .post(&format!("/alerts/{}/test", id_of(&b)), json!({}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].text(), payload("test", "gone", &host, "", 2, 0));
    assert_unsigned(&requests[0]);
    assert_eq!(get_alert(&server, &id_of(&b)).await, b);
}

#[tokio::test]
async fn a_failed_test_delivery_is_502_after_one_attempt_and_stores_nothing() {
    let clock = ManualClock::at(LW + H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    let target = Receiver::ok().await;
    let cases: Vec<(Reply, &str)> = vec![
        (Reply::Status(404), "webhook returned 404"),
        (Reply::Status(500), "webhook returned 500"),
        (Reply::Status(503), "webhook returned 503"),
        (Reply::Status(429), "webhook returned 429"),
        (Reply::Status(408), "webhook returned 408"),
        (Reply::Redirect(target.url.clone()), "webhook returned 301"),
        (Reply::Reset, "webhook request failed: connection closed"),
        (Reply::Close, "webhook request failed: connection closed"),
        (Reply::Hang, "webhook timed out after "),
    ];
    let secret = random_secret("failing");
    for (reply, message) in cases {
        let receiver = Receiver::at_path(vec![reply.clone()], "/hook?token=quiet-please").await;
        let a = create_alert(
            &server,
            "mac",
            json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": secret}),
        )
        .await;
        let file_before = std::fs::read(alerts_file(&server)).unwrap();
        let started = Instant::now();
        let (status, body) = server
            .post(&format!("/alerts/{}/test", id_of(&a)), json!({}))
            .await;
        let error = error_of(status, &body, StatusCode::BAD_GATEWAY);
        assert!(error.starts_with(message), "{reply:?}: {error}");
        assert!(
            !error.contains(&secret) && !error.contains("quiet-please"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{reply:?}");
        // Retries would have come within the 30 ms of back-off.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(receiver.count(), 1, "{reply:?}: exactly one attempt");
        assert_eq!(get_alert(&server, &id_of(&a)).await, a, "{reply:?}");
        assert_eq!(std::fs::read(alerts_file(&server)).unwrap(), file_before);
    }
    assert_eq!(target.count(), 0, "redirects are not followed");
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": format!("http://127.0.0.1:{}/h", closed_port())}),
    )
    .await;
    let (status, body) = server
        .post(&format!("/alerts/{}/test", id_of(&a)), json!({}))
        .await;
    assert_eq!(
        error_of(status, &body, StatusCode::BAD_GATEWAY),
        "webhook request failed: could not connect"
    );
}

// ---- the monitor ----

#[tokio::test]
async fn the_monitor_delivers_stale_then_recovered_with_exact_payloads() {
    let clock = ManualClock::at(LW + H);
    let server = alert_server(&clock).await;
    let repo = repo_written_at(&server, "mac", LW);
    let receiver = Receiver::ok().await;
    let secret = random_secret("monitor");
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": secret}),
    )
    .await;
    let id = id_of(&a);
    let host = hostname(&server).await;

    // null → ok: recorded, nothing sent.
    scan(&server).await;
    let mut expected = a.clone();
    expected["last_check_at"] = json!(stamp(LW + H));
    expected["last_state"] = json!("ok");
    expected["last_write"] = json!(stamp(LW));
    assert_eq!(get_alert(&server, &id).await, expected);
    assert_eq!(receiver.count(), 0);
    // Exactly 24 hours is not more than 24 hours.
    clock.set(LW + 24 * H);
    scan(&server).await;
    expected["last_check_at"] = json!(stamp(LW + 24 * H));
    assert_eq!(get_alert(&server, &id).await, expected);
    assert_eq!(receiver.count(), 0);

    // ok → stale: delivered; whole hours, truncated.
    let now = LW + 30 * H + 59 * 60 + 59;
    clock.set(now);
    scan(&server).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let stale = &requests[0];
    assert_eq!(stale.request_line, "POST /hook HTTP/1.1");
    assert_eq!(stale.header("content-type"), Some("application/json"));
    assert_eq!(
        stale.text(),
        payload("stale", "mac", &host, &stamp(LW), 24, 30)
    );
    assert_eq!(
        stale.header("webhook-timestamp"),
        Some(now.to_string().as_str())
    );
    assert_signed(stale, &secret).await;
    expected["last_check_at"] = json!(stamp(now));
    expected["last_state"] = json!("stale");
    expected["last_alerted_at"] = json!(stamp(now));
    assert_eq!(get_alert(&server, &id).await, expected);

    // stale → stale without renotify: nothing.
    clock.set(now + 100 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 1);
    expected["last_check_at"] = json!(stamp(now + 100 * H));
    assert_eq!(get_alert(&server, &id).await, expected);

    // A new write: stale → ok sends recovered, with a new webhook-id.
    let later = now + 100 * H;
    written_at(&repo, later - 2 * H - 1);
    clock.set(later + 60);
    scan(&server).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    let recovered = &requests[1];
    assert_eq!(
        recovered.text(),
        payload("recovered", "mac", &host, &stamp(later - 2 * H - 1), 24, 2)
    );
    assert_signed(recovered, &secret).await;
    assert_ne!(recovered.header("webhook-id"), stale.header("webhook-id"));
    expected["last_check_at"] = json!(stamp(later + 60));
    expected["last_state"] = json!("ok");
    expected["last_write"] = json!(stamp(later - 2 * H - 1));
    expected["last_alerted_at"] = json!(stamp(later + 60));
    assert_eq!(get_alert(&server, &id).await, expected);
    // ok → ok: nothing.
    clock.set(later + 2 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 2);
    // The repo's detailed last_write is the same value (API.md 12.2).
    assert_eq!(
        repo_last_write(&server, "mac").await,
        stamp(later - 2 * H - 1)
    );
}

#[tokio::test]
async fn renotify_repeats_stale_once_its_hours_have_passed() {
    let clock = ManualClock::at(LW + 10 * H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    let receiver = Receiver::ok().await;
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 6, "renotify_hours": 3, "webhook_url": receiver.url}),
    )
    .await;
    let id = id_of(&a);
    let host = hostname(&server).await;
    // null → stale.
    scan(&server).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(
        receiver.requests()[0].text(),
        payload("stale", "mac", &host, &stamp(LW), 6, 10)
    );
    assert_unsigned(&receiver.requests()[0]);
    clock.set(LW + 13 * H - 1);
    scan(&server).await;
    assert_eq!(receiver.count(), 1, "not yet 3 hours");
    clock.set(LW + 13 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 2, "3 hours after the last delivery");
    assert_eq!(
        receiver.requests()[1].text(),
        payload("stale", "mac", &host, &stamp(LW), 6, 13)
    );
    assert_eq!(
        get_alert(&server, &id).await["last_alerted_at"],
        stamp(LW + 13 * H)
    );
    clock.set(LW + 15 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 2);
    // Back to transitions only.
    patch_alert(&server, &id, json!({"renotify_hours": 0})).await;
    clock.set(LW + 40 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 2);
}

#[tokio::test]
async fn failed_deliveries_follow_the_retry_policy_and_stay_pending_under_one_webhook_id() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    let target = Receiver::ok().await;
    use Reply::*;
    // (script, attempts at the first tick, at the second, error after the first)
    let cases: Vec<(Vec<Reply>, usize, usize, &str)> = vec![
        (vec![Status(500)], 3, 6, "webhook returned 500"),
        (vec![Status(503)], 3, 6, "webhook returned 503"),
        (vec![Status(408)], 3, 6, "webhook returned 408"),
        (vec![Status(429)], 3, 6, "webhook returned 429"),
        (vec![Status(404)], 1, 2, "webhook returned 404"),
        (vec![Status(400)], 1, 2, "webhook returned 400"),
        (
            vec![Redirect(target.url.clone())],
            1,
            2,
            "webhook returned 301",
        ),
        (
            vec![Reset],
            3,
            6,
            "webhook request failed: connection closed",
        ),
        (
            vec![Close],
            3,
            6,
            "webhook request failed: connection closed",
        ),
        (vec![Hang], 3, 3, "webhook timed out after "),
        (vec![Status(500), Status(200)], 2, 2, ""),
        (vec![Status(429), Status(503), Status(202)], 3, 3, ""),
    ];
    let mut alerts = Vec::new();
    for (script, ..) in &cases {
        let receiver = Receiver::start(script.clone()).await;
        let a = create_alert(
            &server,
            "mac",
            json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": "s"}),
        )
        .await;
        alerts.push((receiver, id_of(&a)));
    }
    let refused = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": format!("http://127.0.0.1:{}/h", closed_port())}),
    )
    .await;

    let started = Instant::now();
    scan(&server).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        started.elapsed()
    );
    let mut first_ids = Vec::new();
    for ((script, attempts, _, error), (receiver, id)) in cases.iter().zip(&alerts) {
        let requests = receiver.requests();
        assert_eq!(requests.len(), *attempts, "{script:?}");
        let webhook_id = requests[0].header("webhook-id").unwrap().to_owned();
        for r in &requests {
            assert_eq!(
                r.header("webhook-id"),
                Some(webhook_id.as_str()),
                "{script:?}"
            );
            assert_eq!(r.body, requests[0].body, "{script:?}");
            assert_eq!(
                r.header("webhook-timestamp"),
                Some((LW + 30 * H).to_string().as_str())
            );
        }
        let a = get_alert(&server, id).await;
        assert_eq!(a["last_state"], "stale", "{script:?}");
        if error.is_empty() {
            assert_eq!(
                (a["last_error"].as_str(), a["last_alerted_at"].as_str()),
                (Some(""), Some(stamp(LW + 30 * H).as_str())),
                "{script:?}"
            );
        } else {
            let last_error = a["last_error"].as_str().unwrap();
            assert!(last_error.starts_with(error), "{script:?}: {last_error}");
            assert_eq!(a["last_alerted_at"], "", "{script:?}");
        }
        first_ids.push(webhook_id);
    }
    assert_eq!(target.count(), 0, "redirects are not followed");
    assert_eq!(
        get_alert(&server, &id_of(&refused)).await["last_error"],
        "webhook request failed: could not connect"
    );

    // The next tick sends each pending event again: same id, same bytes. (The receiver
    // that never answers has shown its timeouts: disabled, it is not evaluated.)
    let hang = cases
        .iter()
        .position(|(s, ..)| matches!(s[..], [Hang]))
        .unwrap();
    patch_alert(&server, &alerts[hang].1, json!({"enabled": false})).await;
    clock.set(LW + 31 * H);
    scan(&server).await;
    for (((script, _, attempts, error), (receiver, id)), webhook_id) in
        cases.iter().zip(&alerts).zip(&first_ids)
    {
        let requests = receiver.requests();
        assert_eq!(
            requests.len(),
            *attempts,
            "{script:?} after the second tick"
        );
        for r in &requests {
            assert_eq!(
                r.header("webhook-id"),
                Some(webhook_id.as_str()),
                "{script:?}"
            );
            assert_eq!(
                r.body, requests[0].body,
                "{script:?}: the bytes serialised once"
            );
        }
        assert_signed(requests.last().unwrap(), "s").await;
        if !error.is_empty() && !matches!(script[..], [Hang]) {
            let a = get_alert(&server, id).await;
            assert!(a["last_error"].as_str().unwrap().starts_with(error), "{a}");
            assert_eq!(a["last_check_at"], stamp(LW + 31 * H));
        }
    }
}

#[tokio::test]
async fn a_pending_event_is_dropped_when_a_real_backup_lands_first() {
    let clock = ManualClock::at(LW);
    let server = alert_server(&clock).await;
    let path = unencrypted_repo(&server, "mac");
    let receiver = Receiver::start(vec![Reply::Status(500)]).await;
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": "s"}),
    )
    .await;
    let id = id_of(&a);
    let written = unix_of(&repo_last_write(&server, "mac").await);
    // The repo's files carry real times: look 30 hours later.
    clock.set(written + 30 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 3);
    let failed = get_alert(&server, &id).await;
    assert_eq!(
        (failed["last_state"].as_str(), failed["last_error"].as_str()),
        (Some("stale"), Some("webhook returned 500"))
    );
    assert!(stored_alert(&server, &id)["pending"].is_object());

    // A client's backup lands before the event got through.
    let file = server.dir.path().join("data.txt");
    std::fs::write(&file, "data").unwrap();
    support::borg(
        &server.dir.path().join("client-borg"),
        "",
        &["create", &format!("{path}::a"), file.to_str().unwrap()],
    );
    let backup = unix_of(&repo_last_write(&server, "mac").await);
    clock.set(backup + 60);
    scan(&server).await;
    assert_eq!(
        receiver.count(),
        3,
        "neither the stale event nor a recovered one is sent"
    );
    let after = get_alert(&server, &id).await;
    assert_eq!(after["last_state"], "ok");
    assert_eq!(after["last_write"], stamp(backup));
    assert_eq!(after["last_alerted_at"], "");
    assert_eq!(after["last_error"], "");
    assert!(stored_alert(&server, &id)["pending"].is_null());
    clock.set(backup + 120);
    scan(&server).await;
    assert_eq!(receiver.count(), 3);
}

#[tokio::test]
async fn server_side_compact_and_prune_are_not_backups_but_a_client_create_is() {
    let clock = ManualClock::at(LW);
    let server = alert_server(&clock).await;
    encrypted_repo(&server, "mac");
    let receiver = Receiver::ok().await;
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url}),
    )
    .await;
    let id = id_of(&a);
    let host = hostname(&server).await;
    let (_, repo) = server.get("/repos/mac").await;
    let written = repo["last_write"].as_str().unwrap().to_owned();
    let mut txn = repo["transaction_id"].as_u64().unwrap();
    clock.set(unix_of(&written) + 30 * H + 30 * 60);
    scan(&server).await;
    assert_eq!(receiver.count(), 1);
    assert_eq!(
        receiver.requests()[0].text(),
        payload("stale", "mac", &host, &written, 24, 30)
    );

    for (kind, body) in [
        ("compact", json!({})),
        ("prune", json!({"keep_daily": 1, "passphrase": PASSPHRASE})),
    ] {
        let (status, started) = server.post(&format!("/repos/mac/{kind}"), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let job = wait_job_final(&server, started["job_id"].as_str().unwrap()).await;
        assert_eq!(job["status"], "done", "{job}");
        let (_, repo) = server.get("/repos/mac").await;
        let now_txn = repo["transaction_id"].as_u64().unwrap();
        assert!(
            now_txn > txn,
            "{kind} committed a transaction: {txn} → {now_txn}"
        );
        txn = now_txn;
        assert_eq!(repo["last_write"], written.as_str(), "after {kind}");
        scan(&server).await;
        assert_eq!(
            receiver.count(),
            1,
            "still stale after {kind}, nothing sent"
        );
        let seen = get_alert(&server, &id).await;
        assert_eq!(
            (seen["last_state"].as_str(), seen["last_write"].as_str()),
            (Some("stale"), Some(written.as_str()))
        );
    }

    let file = server.dir.path().join("file.txt");
    support::borg(
        &server.dir.path().join("client-borg"),
        PASSPHRASE,
        &[
            "create",
            &format!("{}::three", server.root().join("mac").display()),
            file.to_str().unwrap(),
        ],
    );
    let backup = repo_last_write(&server, "mac").await;
    assert!(
        unix_of(&backup) > unix_of(&written),
        "{backup} after {written}"
    );
    clock.set(unix_of(&backup) + 60);
    scan(&server).await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[1].text(),
        payload("recovered", "mac", &host, &backup, 24, 0)
    );
    let seen = get_alert(&server, &id).await;
    assert_eq!(
        (seen["last_state"].as_str(), seen["last_write"].as_str()),
        (Some("ok"), Some(backup.as_str()))
    );
}

#[tokio::test]
async fn two_concurrent_scans_deliver_an_event_once() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    // A slow answer keeps the first scan's delivery in flight while the second one runs.
    let receiver = Receiver::start(vec![Reply::After(Duration::from_millis(200), 200)]).await;
    create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": "s"}),
    )
    .await;
    let domain = server.domain.clone();
    let (a, b) = tokio::join!(domain.scan_alerts(), domain.scan_alerts());
    a.unwrap();
    b.unwrap();
    assert_eq!(receiver.count(), 1, "{:?}", receiver.requests());
}

#[tokio::test]
async fn a_missing_repo_directory_is_recorded_without_state_change_or_delivery() {
    let clock = ManualClock::at(LW + H);
    let server = alert_server(&clock).await;
    let repo = repo_written_at(&server, "mac", LW);
    let receiver = Receiver::start(vec![Reply::Status(500)]).await;
    let body = json!({"stale_after_hours": 24, "webhook_url": receiver.url, "secret": "s"});
    let checked = create_alert(&server, "mac", body.clone()).await;
    scan(&server).await;
    let pending = create_alert(&server, "mac", body.clone()).await;
    clock.set(LW + 30 * H);
    // `pending` goes stale and its delivery fails (3 attempts); `checked` too.
    let checked_id = id_of(&checked);
    patch_alert(&server, &checked_id, json!({"enabled": false})).await;
    scan(&server).await;
    assert_eq!(receiver.count(), 3);
    patch_alert(&server, &checked_id, json!({"enabled": true})).await;
    let never = create_alert(&server, "mac", body).await;
    let mut before = Vec::new();
    for a in [&checked, &pending, &never] {
        before.push(get_alert(&server, &id_of(a)).await);
    }

    std::fs::remove_dir(&repo).unwrap();
    clock.set(LW + 100 * H);
    scan(&server).await;
    assert_eq!(receiver.count(), 3, "no delivery, not even the pending one");
    for old in before {
        let now = get_alert(&server, &id_of(&old)).await;
        let mut expected = old.clone();
        expected["last_check_at"] = json!(stamp(LW + 100 * H));
        expected["last_error"] = json!("repository directory not found");
        assert_eq!(now, expected);
    }
    assert_eq!(
        get_alert(&server, &id_of(&never)).await["last_state"],
        Value::Null
    );
    assert_eq!(get_alert(&server, &checked_id).await["last_state"], "ok");
    assert_eq!(
        get_alert(&server, &id_of(&pending)).await["last_state"],
        "stale"
    );
}

#[tokio::test]
async fn disabled_alerts_keep_every_field_and_unchanged_ticks_do_not_rewrite_the_file() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = alert_server(&clock).await;
    repo_written_at(&server, "mac", LW);
    let receiver = Receiver::ok().await;
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url, "enabled": false}),
    )
    .await;
    let file = alerts_file(&server);
    let stat = |f: &Path| {
        let m = std::fs::metadata(f).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec())
    };
    let before = (std::fs::read(&file).unwrap(), stat(&file));
    scan(&server).await;
    assert_eq!(receiver.count(), 0);
    assert_eq!(get_alert(&server, &id_of(&a)).await, a);
    assert_eq!(
        (std::fs::read(&file).unwrap(), stat(&file)),
        before,
        "not rewritten"
    );

    // An enabled one: the first tick records its check; a second tick at the same instant
    // changes nothing and does not rewrite the file.
    let b = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url}),
    )
    .await;
    scan(&server).await;
    assert_eq!(receiver.count(), 1);
    let after_first = (std::fs::read(&file).unwrap(), stat(&file));
    scan(&server).await;
    assert_eq!((std::fs::read(&file).unwrap(), stat(&file)), after_first);
    assert_eq!(get_alert(&server, &id_of(&a)).await, a);
    assert_eq!(get_alert(&server, &id_of(&b)).await["last_state"], "stale");
}

#[tokio::test]
async fn deleting_a_repo_removes_its_alerts() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    server.create_repo("pc").await;
    let body =
        json!({"stale_after_hours": 24, "webhook_url": "http://127.0.0.1:9/h", "secret": "s"});
    let gone = create_alert(&server, "mac", body.clone()).await;
    let kept = create_alert(&server, "pc", body.clone()).await;
    create_alert(&server, "mac", body).await;
    let (status, _) = server.delete("/repos/mac").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = server.get("/alerts").await;
    assert_eq!(all, json!([kept]));
    let (status, err) = server.get(&format!("/alerts/{}", id_of(&gone))).await;
    error_of(status, &err, StatusCode::NOT_FOUND);
    let (status, err) = server.get("/repos/mac/alerts").await;
    error_of(status, &err, StatusCode::NOT_FOUND);
    let stored: Vec<Value> =
        serde_json::from_slice(&std::fs::read(alerts_file(&server)).unwrap()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["id"], kept["id"]);
    // A repo made again under the same name starts without alerts.
    server.create_repo("mac").await;
    let (_, mac) = server.get("/repos/mac/alerts").await;
    assert_eq!(mac, json!([]));
}

#[tokio::test]
async fn a_hanging_receiver_does_not_delay_another_alerts_delivery() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = TestServer::with(Options {
        clock: clock.clone(),
        webhook_timings: Some((Duration::from_secs(3), BACKOFF)),
        ..Default::default()
    })
    .await;
    repo_written_at(&server, "mac", LW);
    let hanging = Receiver::start(vec![Reply::Hang, Reply::Status(200)]).await;
    let good = Receiver::ok().await;
    let slow = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": hanging.url}),
    )
    .await;
    create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": good.url}),
    )
    .await;
    let started = Instant::now();
    scan(&server).await;
    let took = started.elapsed();
    let arrived = good.requests()[0].at.duration_since(started);
    assert!(
        arrived < Duration::from_millis(1500),
        "the good receiver waited {arrived:?}"
    );
    let hung = hanging.requests();
    assert_eq!(hung.len(), 2);
    assert!(hung[1].at.duration_since(started) >= Duration::from_secs(3));
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let slow = get_alert(&server, &id_of(&slow)).await;
    assert_eq!(
        (
            slow["last_error"].as_str(),
            slow["last_alerted_at"].as_str()
        ),
        (Some(""), Some(stamp(LW + 30 * H).as_str()))
    );
}

#[tokio::test]
async fn the_process_backends_ticker_runs_the_monitor_by_itself() {
    let clock = ManualClock::at(LW + 30 * H);
    let server = TestServer::with(Options {
        clock: clock.clone(),
        ticker: Some(ticker::Cadence {
            tick: Duration::from_millis(100),
            first_scan: Duration::from_millis(100),
            scan_every: Duration::from_millis(200),
        }),
        webhook_timings: Some((ATTEMPT, BACKOFF)),
        ..Default::default()
    })
    .await;
    repo_written_at(&server, "mac", LW);
    let receiver = Receiver::ok().await;
    let a = create_alert(
        &server,
        "mac",
        json!({"stale_after_hours": 24, "webhook_url": receiver.url}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.count() == 0 {
        assert!(
            Instant::now() < deadline,
            "no tick delivered: {}",
            get_alert(&server, &id_of(&a)).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let host = hostname(&server).await;
    assert_eq!(
        receiver.requests()[0].text(),
        payload("stale", "mac", &host, &stamp(LW), 24, 30)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 1, "later ticks send nothing more");
}

#[test]
fn an_alerts_file_that_does_not_parse_refuses_to_start_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.json");
    let valid = json!([{"id": "alert_0123456789abcdef", "repo": "mac", "stale_after_hours": 24,
        "webhook_url": "http://127.0.0.1:9/h", "enabled": true, "renotify_hours": 0,
        "created_at": "2026-04-13T12:00:00Z", "last_check_at": "", "last_state": null,
        "last_write": "", "last_alerted_at": "", "last_error": ""}]);
    let with = |key: &str, value: Value| {
        let mut bad = valid.clone();
        bad[0][key] = value;
        bad.to_string().into_bytes()
    };
    for contents in [
        b"{".to_vec(),
        b"{}".to_vec(),
        br#"[{"id":"alert_0"}]"#.to_vec(),
        with("stale_after_hours", json!(0)),
        with("webhook_url", json!("ftp://x/")),
        with("last_state", json!("stale-ish")),
        b"\xff".to_vec(),
    ] {
        assert_refuses_to_start(dir.path(), &file, &contents);
    }
}
