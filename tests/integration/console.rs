//! The web console as served (API.md 16.4): no token for the page and its assets, the
//! security headers on every console response, hashed asset names with immutable caching,
//! `/` as no-cache, client-side routes answered with the page, and `/api/` untouched.

use reqwest::{header, Method, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{read, TestServer, TOKEN};

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn root(server: &TestServer) -> String {
    format!("http://{}", server.addr())
}

fn assert_secure(h: &header::HeaderMap, what: &str) {
    assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP, "{what}");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{what}");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{what}");
}

/// Every `/assets/…` reference in a document.
fn asset_refs(text: &str) -> Vec<String> {
    text.match_indices("\"/assets/")
        .map(|(at, _)| text[at + 1..].split('"').next().unwrap().to_owned())
        .collect()
}

/// Status, headers and body of a GET without a token.
async fn page(server: &TestServer, path: &str) -> (StatusCode, header::HeaderMap, String) {
    let response = server
        .client
        .get(format!("{}{path}", root(server)))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_page_needs_no_token_and_is_not_cached() {
    let server = TestServer::new().await;
    let (status, headers, body) = page(&server, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_secure(&headers, "/");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert!(body.starts_with("<!doctype html>"));
    assert!(!body.contains("style="), "no inline style");
    let refs = asset_refs(&body);
    assert!(refs.iter().any(|r| r.ends_with(".css")));
    assert!(refs.iter().any(|r| r.contains("/main.")));
}

#[tokio::test]
async fn assets_have_content_hashed_names_immutable_caching_and_no_token() {
    let server = TestServer::new().await;
    let (_, _, index) = page(&server, "/").await;
    let mut todo = asset_refs(&index);
    let mut seen = Vec::new();
    while let Some(path) = todo.pop() {
        if seen.contains(&path) {
            continue;
        }
        let response = server
            .client
            .get(format!("{}{path}", root(&server)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_secure(response.headers(), &path);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{path}"
        );
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let bytes = response.bytes().await.unwrap();
        // <stem>.<10 hex digits of SHA-256 of exactly these bytes>.<ext>
        let file = path.trim_start_matches("/assets/");
        let parts: Vec<&str> = file.split('.').collect();
        assert_eq!(parts.len(), 3, "{path}");
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            parts[1],
            &digest[..10],
            "{path} is not named by its content"
        );
        let expected_type = match parts[2] {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other}"),
        };
        assert_eq!(content_type, expected_type, "{path}");
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        // Module imports point at hashed names too.
        for line in text.lines().filter(|l| l.contains(" from \"./")) {
            let name = line.split(" from \"./").nth(1).unwrap().split('"').next();
            todo.push(format!("/assets/{}", name.unwrap()));
        }
        todo.extend(asset_refs(&text));
        seen.push(path);
    }
    assert!(
        seen.len() >= 10,
        "only {} assets reached: {seen:?}",
        seen.len()
    );
}

#[tokio::test]
async fn unknown_paths_outside_api_answer_the_console() {
    let server = TestServer::new().await;
    let (_, _, index) = page(&server, "/").await;
    for path in [
        "/repos/laptop",
        "/jobs/j_0123456789ab",
        "/some/deep/path?x=1",
        "/assetsx",
        "/apix",
        "//api/v1/repos",
    ] {
        let (status, headers, body) = page(&server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_secure(&headers, path);
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(body, index, "{path}");
    }
    let head = server
        .client
        .head(format!("{}/overview", root(&server)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_secure(head.headers(), "HEAD");
}

#[tokio::test]
async fn an_unknown_asset_is_a_json_404_never_the_page() {
    let server = TestServer::new().await;
    for path in ["/assets/main.js", "/assets/nope.0123456789.js", "/assets/"] {
        let response = server
            .client
            .get(format!("{}{path}", root(&server)))
            .send()
            .await
            .unwrap();
        assert_secure(response.headers(), path);
        assert_eq!(
            read(response).await,
            (StatusCode::NOT_FOUND, json!({"error": "not found"})),
            "{path}"
        );
    }
}

#[tokio::test]
async fn console_paths_take_only_get_and_head() {
    let server = TestServer::new().await;
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = server
            .client
            .request(method.clone(), format!("{}/repos/x", root(&server)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
        assert_secure(response.headers(), method.as_str());
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(body, json!({"error": "method not allowed"}));
    }
}

#[tokio::test]
async fn api_paths_still_need_the_token_and_answer_json() {
    let server = TestServer::new().await;
    for path in [
        "/api",
        "/api/",
        "/api/v1/nope",
        "/api/v2/repos",
        "/api/v1/repos",
    ] {
        let response = server
            .client
            .get(format!("{}{path}", root(&server)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert!(response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_none());
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body, json!({"error": "missing or invalid bearer token"}));
    }
    for path in ["/api", "/api/v1/nope", "/api/v2/repos", "/api/v1/repos/"] {
        let response = server
            .client
            .get(format!("{}{path}", root(&server)))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"error": "not found"}));
    }
    let response = server
        .client
        .get(format!("{}/api/v1/health", root(&server)))
        .send()
        .await
        .unwrap();
    assert_eq!(read(response).await.0, StatusCode::OK);
}
