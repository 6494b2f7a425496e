use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{encrypted_repo, read, TestServer, PASSPHRASE, TOKEN};

async fn archives_with(
    server: &TestServer,
    repo: &str,
    passphrase: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut request = server
        .client
        .get(format!("{}/repos/{repo}/archives", server.base))
        .bearer_auth(TOKEN);
    if let Some(p) = passphrase {
        request = request.header("X-Borg-Passphrase", p);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn archives_of_an_encrypted_repo_are_listed_with_the_passphrase() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    let (status, archives) = archives_with(&server, "mac", Some(PASSPHRASE)).await;
    assert_eq!(status, StatusCode::OK, "{archives}");
    let archives = archives.as_array().unwrap();
    assert_eq!(archives.len(), 2);
    assert_eq!(archives[0]["name"], "one");
    assert_eq!(archives[0]["comment"], "first one");
    assert_eq!(archives[1]["comment"], "");
    assert_eq!(archives[0]["id"].as_str().unwrap().len(), 64);
    let time = archives[0]["time"].as_str().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z'), "{time}");
    assert!(!archives[0]["hostname"].as_str().unwrap().is_empty());
    assert!(archives[0].get("nfiles").is_none());
}

#[tokio::test]
async fn a_wrong_or_missing_passphrase_fails_fast_with_502() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    for passphrase in [Some("wrong"), None, Some("")] {
        let started = Instant::now();
        let (status, err) = archives_with(&server, "mac", passphrase).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{passphrase:?}: {err}");
        let message = err["error"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains("wrong"),
            "{message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn archives_need_an_initialized_existing_repo() {
    let server = TestServer::new().await;
    server.create_repo("fresh").await;
    let (status, err) = archives_with(&server, "fresh", None).await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "repo is not initialized")
    );
    assert_eq!(
        archives_with(&server, "nope", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn break_lock_removes_a_stale_lock() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    let lock = server.root().join("mac/lock.exclusive");
    std::fs::create_dir(&lock).unwrap();
    std::fs::write(lock.join("otherhost@12345.99999-0"), "").unwrap();
    std::fs::write(server.root().join("mac/lock.roster"), "{}").unwrap();
    let (_, repo) = server.get("/repos/mac").await;
    assert_eq!(repo["locked"], true);
    let (status, body) = server
        .post(
            "/repos/mac/break-lock",
            serde_json::json!({"ignored": true}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, repo) = server.get("/repos/mac").await;
    assert_eq!(repo["locked"], false);
    server.create_repo("fresh").await;
    assert_eq!(
        server
            .post("/repos/fresh/break-lock", serde_json::json!({}))
            .await
            .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        server
            .post("/repos/nope/break-lock", serde_json::json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

/// API.md 17: an `X-Borg-Passphrase` that is not UTF-8 or is longer than 4 KiB is 400 with
/// the JSON error, and borg is not run; a valid UTF-8 one borg rejects is 502 (8.2).
#[tokio::test]
async fn a_passphrase_header_that_is_not_valid_is_400() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "mac");
    let long = "x".repeat(4097);
    for value in [&b"\xff\xfe"[..], b"caf\xc3", long.as_bytes()] {
        let response = server
            .client
            .get(format!("{}/repos/mac/archives", server.base))
            .bearer_auth(TOKEN)
            .header(
                "X-Borg-Passphrase",
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            )
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .starts_with("X-Borg-Passphrase"));
    }
    let utf8 = "pässwörd".as_bytes();
    let response = server
        .client
        .get(format!("{}/repos/mac/archives", server.base))
        .bearer_auth(TOKEN)
        .header(
            "X-Borg-Passphrase",
            reqwest::header::HeaderValue::from_bytes(utf8).unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}
