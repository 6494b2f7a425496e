//! GET /api/v1/openapi.json (API.md 16.5): served without a token, and in agreement with
//! the contract's endpoint table and with what the running server routes.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{header, Method, StatusCode};
use serde_json::Value;

use crate::support::{read, TestServer, TOKEN};

/// API.md section 3 with 16.2 and 16.5: method, path, then the success and the other
/// statuses of the table. Every endpoint but the two public ones may also answer 401, 405,
/// 413 and 500; every one may answer the connection cap's 503.
const CONTRACT: &[(&str, &str, &[u16])] = &[
    ("GET", "/health", &[200]),
    ("GET", "/openapi.json", &[200]),
    ("GET", "/info", &[200]),
    ("GET", "/system/stats", &[200]),
    ("GET", "/sessions", &[200]),
    ("GET", "/metrics", &[200]),
    ("GET", "/repos", &[200]),
    ("POST", "/repos", &[201, 400, 409]),
    ("POST", "/repos/import", &[201, 400, 404, 409]),
    ("GET", "/repos/{name}", &[200, 404]),
    ("PATCH", "/repos/{name}", &[200, 400, 404, 409]),
    ("DELETE", "/repos/{name}", &[204, 404, 409]),
    // 400: an X-Borg-Passphrase that is not UTF-8 or longer than borg takes (2.3, 8.1).
    ("GET", "/repos/{name}/archives", &[200, 400, 404, 409, 502]),
    ("POST", "/repos/{name}/break-lock", &[204, 404, 409, 502]),
    ("POST", "/repos/{name}/check", &[202, 400, 404, 409]),
    ("POST", "/repos/{name}/prune", &[202, 400, 404, 409]),
    ("POST", "/repos/{name}/compact", &[202, 400, 404, 409]),
    ("GET", "/repos/{name}/keys", &[200, 404]),
    ("POST", "/repos/{name}/keys", &[201, 400, 404, 409]),
    ("DELETE", "/repos/{name}/keys/{fingerprint}", &[204, 404]),
    ("GET", "/repos/{name}/schedules", &[200, 404]),
    ("POST", "/repos/{name}/schedules", &[201, 400, 404]),
    ("GET", "/repos/{name}/alerts", &[200, 404]),
    ("POST", "/repos/{name}/alerts", &[201, 400, 404]),
    ("GET", "/jobs", &[200]),
    ("GET", "/jobs/{id}", &[200, 404]),
    ("DELETE", "/jobs/{id}", &[202, 404, 409]),
    ("GET", "/jobs/{id}/stream", &[200, 404]),
    ("GET", "/schedules", &[200]),
    ("GET", "/schedules/{id}", &[200, 404]),
    ("PATCH", "/schedules/{id}", &[200, 400, 404]),
    ("DELETE", "/schedules/{id}", &[204, 404]),
    ("GET", "/alerts", &[200]),
    ("GET", "/alerts/{id}", &[200, 404]),
    ("PATCH", "/alerts/{id}", &[200, 400, 404]),
    ("DELETE", "/alerts/{id}", &[204, 404]),
    ("POST", "/alerts/{id}/test", &[200, 404, 502]),
];

const PUBLIC: [&str; 2] = ["/health", "/openapi.json"];

async fn document(server: &TestServer) -> Value {
    let response = server
        .client
        .get(format!("{}/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let (status, doc) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

/// (method, path) → documented statuses.
fn operations(doc: &Value) -> BTreeMap<(String, String), BTreeSet<u16>> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let statuses = op["responses"]
                .as_object()
                .unwrap()
                .keys()
                .map(|s| s.parse().unwrap())
                .collect();
            out.insert((method.to_uppercase(), path.clone()), statuses);
        }
    }
    out
}

#[tokio::test]
async fn the_document_needs_no_token_and_is_openapi_3_1() {
    let server = TestServer::new().await;
    for auth in [None, Some("Bearer wrong")] {
        let mut request = server.client.get(format!("{}/openapi.json", server.base));
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let (status, doc) = read(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{auth:?}");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "/api/v1");
    }
    // Everything else still needs one.
    let response = server
        .client
        .get(format!("{}/openapi", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_document_has_every_endpoint_and_status_of_the_contract_and_no_other() {
    let server = TestServer::new().await;
    let documented = operations(&document(&server).await);
    let mut expected = BTreeMap::new();
    for (method, path, statuses) in CONTRACT {
        let mut statuses: BTreeSet<u16> = statuses.iter().copied().collect();
        statuses.insert(503);
        if !PUBLIC.contains(path) {
            statuses.extend([401, 405, 413, 500]);
        }
        expected.insert((method.to_string(), path.to_string()), statuses);
    }
    let keys =
        |m: &BTreeMap<(String, String), BTreeSet<u16>>| m.keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&documented), keys(&expected), "operations");
    for (operation, statuses) in &expected {
        assert_eq!(&documented[operation], statuses, "{operation:?}");
    }
}

/// A concrete path for a documented one: ids of our form that do not exist, a repo name
/// that does not exist, a fingerprint with a slash.
fn concrete(path: &str) -> String {
    path.replace("{name}", "nosuchrepo")
        .replace("/jobs/{id}", "/jobs/j_000000000000")
        .replace("/schedules/{id}", "/schedules/sch_0000000000000000")
        .replace("/alerts/{id}", "/alerts/alert_0000000000000000")
        .replace("{fingerprint}", "SHA256:AAAA/BBBB+CCCC")
}

/// The running server answers every documented operation from its handler (a documented
/// status, never the router's own 404 or 405) and, on each documented path, answers 405
/// with an `Allow` that lists exactly the documented methods (and HEAD beside GET) to
/// every other method.
#[tokio::test]
async fn the_server_routes_what_the_document_says_and_refuses_the_rest() {
    let server = TestServer::new().await;
    let documented = operations(&document(&server).await);
    let mut methods_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (method, path) in documented.keys() {
        methods_of.entry(path).or_default().insert(method);
    }
    let all = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
    ];
    for (path, methods) in &methods_of {
        let url = concrete(path);
        for method in all {
            let response = server
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{url}", server.base),
                )
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await.unwrap();
            let json: Option<Value> = serde_json::from_slice(&body).ok();
            let served = methods.contains(method) || (method == "HEAD" && methods.contains("GET"));
            if served {
                let statuses = &documented[&(method.replace("HEAD", "GET"), path.to_string())];
                assert!(
                    statuses.contains(&status.as_u16()),
                    "{method} {url}: {status} {json:?}"
                );
                assert_ne!(
                    json,
                    Some(serde_json::json!({"error": "not found"})),
                    "{method} {url}: the router's own 404"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {url}: {json:?}"
                );
                let allow: BTreeSet<&str> = headers[header::ALLOW]
                    .to_str()
                    .unwrap()
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !(*m == "HEAD" && methods.contains("GET")))
                    .collect();
                assert_eq!(&allow, methods, "Allow of {url}");
            }
        }
    }
}

/// Issue 17.14: the document says what a schema can of the server's rules, so generated
/// clients refuse before sending what the server would refuse (tests/api-fuzz/run holds
/// the two to each other both ways, positive data included).
#[tokio::test]
async fn the_document_is_as_strict_as_a_schema_can_be() {
    let server = TestServer::new().await;
    let doc = document(&server).await;
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let prune = schema("PruneBody");
    let keeps: Vec<&str> = prune["anyOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["required"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        keeps,
        ["keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]
    );
    let new_schedule = schema("NewScheduleBody");
    assert_eq!(new_schedule["discriminator"]["propertyName"], "cadence");
    assert_eq!(new_schedule["oneOf"].as_array().unwrap().len(), 3);
    assert_eq!(schema("WeeklyCadence")["required"][0], "weekday");
    assert_eq!(schema("MonthlyCadence")["required"][0], "day");
    for (body, field) in [
        ("NewAlertBody", "webhook_url"),
        ("AlertUpdateBody", "webhook_url"),
    ] {
        let url = &schema(body)["properties"][field];
        assert_eq!(url["format"], "uri", "{body}");
        assert!(url["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^[Hh][Tt][Tt][Pp]"));
    }
    for (body, field) in [("NewRepoBody", "pubkey"), ("NewKeyBody", "public_key")] {
        let key = &schema(body)["properties"][field];
        assert_eq!(key["maxLength"], 8192, "{body}");
        assert!(key["pattern"].as_str().unwrap().contains("ssh-ed25519"));
    }
    assert_eq!(schema("Key")["properties"]["restricted"]["type"], "boolean");
    let patch_repo = &doc["paths"]["/repos/{name}"]["patch"];
    assert_eq!(patch_repo["requestBody"]["required"], true);
    let import = doc["paths"]["/repos/import"]["post"]["description"]
        .as_str()
        .unwrap();
    assert!(import.contains("no borg repository"), "{import}");
}
