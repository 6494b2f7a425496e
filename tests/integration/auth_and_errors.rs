use reqwest::{header, Method, StatusCode};
use serde_json::json;

use crate::support::{read, TestServer, TOKEN};

#[tokio::test]
async fn health_needs_no_token() {
    let server = TestServer::new().await;
    let response = server
        .client
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        read(response).await,
        (StatusCode::OK, json!({"status": "ok"}))
    );
}

#[tokio::test]
async fn missing_malformed_or_wrong_tokens_get_401_before_routing() {
    let server = TestServer::new().await;
    let cases: Vec<Option<String>> = vec![
        None,
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer{TOKEN}")),
        Some("Bearer ".to_owned()),
        Some("Bearer wrong".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[1..])),
    ];
    for auth in cases {
        for path in ["/repos", "/no/such/route", "/repos/", "/info"] {
            let mut request = server.client.get(format!("{}{path}", server.base));
            if let Some(auth) = &auth {
                request = request.header(header::AUTHORIZATION, auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
            let (status, body) = read(response).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?} {path}");
            assert_eq!(body, json!({"error": "missing or invalid bearer token"}));
        }
    }
    // Outside /api/v1 but under /api/: still before routing. (Paths outside /api/ are the
    // web console's, tests/integration/console.rs.)
    let outside = server
        .client
        .get(server.base.replace("/api/v1", "/api/other"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn scheme_is_case_insensitive_with_several_spaces() {
    let server = TestServer::new().await;
    let response = server
        .client
        .get(format!("{}/repos", server.base))
        .header(header::AUTHORIZATION, format!("bEARER   {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let server = TestServer::new().await;
    for path in ["/nope", "/repos/", "/repos/mac/unknown", "/jobsx"] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body["error"].is_string());
    }
    let response = server
        .client
        .request(Method::PUT, format!("{}/repos", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers()[header::ALLOW]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        read(response).await.1,
        json!({"error": "method not allowed"})
    );
}

/// An id segment that does not percent-decode to UTF-8 is an unknown id like any other
/// of the wrong form: 404, as API.md documents for these paths (axum's `Path` said 400;
/// found while fuzzing the API from its OpenAPI document).
#[tokio::test]
async fn ids_that_are_not_utf8_once_decoded_are_unknown() {
    let server = TestServer::new().await;
    let cases = [
        (Method::GET, "/jobs/%FF", "job not found"),
        (Method::DELETE, "/jobs/%FF", "job not found"),
        (Method::GET, "/jobs/j_%FF%FE/stream", "job not found"),
        (Method::GET, "/schedules/%C3%28", "schedule not found"),
        (Method::PATCH, "/schedules/%FF", "schedule not found"),
        (Method::DELETE, "/schedules/%FF", "schedule not found"),
        (Method::GET, "/alerts/%FF", "alert not found"),
        (Method::PATCH, "/alerts/%FF", "alert not found"),
        (Method::DELETE, "/alerts/%FF", "alert not found"),
        (Method::POST, "/alerts/%FF/test", "alert not found"),
        (Method::DELETE, "/repos/%FF/keys/SHA256:x", "repo not found"),
    ];
    for (method, path, message) in cases {
        let (status, body) = server.call(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(body, json!({ "error": message }), "{method} {path}");
    }
}

#[tokio::test]
async fn malformed_bodies_are_400_and_huge_ones_413() {
    let server = TestServer::new().await;
    for body in [
        &b"not json"[..],
        b"[1,2]",
        b"\"name\"",
        b"{\"name\":",
        b"null",
    ] {
        let (status, err) = server.send_raw(Method::POST, "/repos", body.to_vec()).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(err["error"].is_string());
    }
    let (status, err) = server.send_raw(Method::POST, "/repos", Vec::new()).await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "name is required")
    );
    for (body, field) in [
        (json!({"name": 5, "pubkey": "x"}), "name"),
        (json!({"name": "a", "pubkey": ["x"]}), "pubkey"),
        (
            json!({"name": "a", "pubkey": "ssh-ed25519 AAAA", "append_only": 1}),
            "append_only",
        ),
    ] {
        let (status, err) = server.post("/repos", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(err["error"].as_str().unwrap().contains(field), "{err}");
    }
    let big = format!(
        "{{\"name\":\"a\",\"pubkey\":\"{}\"}}",
        "A".repeat(2 * 1024 * 1024)
    );
    let before = server.snapshot();
    let (status, err) = server
        .send_raw(Method::POST, "/repos", big.into_bytes())
        .await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
    );
    assert_eq!(server.snapshot(), before);
}

/// A flood of bad tokens writes one log line per address and minute, not one per request,
/// so journald's rate limit is not tripped and the audit lines of a real user still flow.
#[tokio::test]
async fn failed_logins_are_logged_once_per_address_and_minute_and_audit_lines_flow() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let serve = crate::support::Serve::start_logging_to(dir.path(), log.into());
    let client = reqwest::Client::new();
    for i in 0..300 {
        let status = client
            .get(serve.url(&format!("/repos/x{i}")))
            .bearer_auth("wrong-token")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let key = crate::support::keygen(dir.path(), "ed25519", "k");
    let created = client
        .post(serve.url("/repos"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "mac", "pubkey": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let deleted = client
        .delete(serve.url("/repos/mac"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    drop(serve);
    let text = std::fs::read_to_string(&log_path).unwrap();
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("authentication failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert!(failed[0].contains("127.0.0.1"), "{}", failed[0]);
    assert!(text.contains("deleted repo mac"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");
}

/// API.md 17: HEAD on a GET route answers like the GET, without a body.
#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    for (path, status) in [
        ("/repos", StatusCode::OK),
        ("/repos/mac", StatusCode::OK),
        ("/repos/mac/keys", StatusCode::OK),
        ("/info", StatusCode::OK),
        ("/repos/nope", StatusCode::NOT_FOUND),
    ] {
        let get = server
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let head = server
            .client
            .head(format!("{}{path}", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!((get.status(), head.status()), (status, status), "{path}");
        assert_eq!(
            head.headers()[header::CONTENT_TYPE],
            get.headers()[header::CONTENT_TYPE],
            "{path}"
        );
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    let unauthenticated = server
        .client
        .head(format!("{}/repos", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}
