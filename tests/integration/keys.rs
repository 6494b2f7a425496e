use reqwest::StatusCode;
use serde_json::json;

use crate::support::{keygen, ssh_fingerprint, TestServer, TOKEN};

#[tokio::test]
async fn several_keys_per_repo_in_file_order() {
    let server = TestServer::new().await;
    let first = server.create_repo("mac").await;
    let second = keygen(server.dir.path(), "rsa", "rsa-key");
    let (status, added) = server
        .post(
            "/repos/mac/keys",
            json!({"public_key": second, "comment": "  my   laptop\u{7f} "}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        added["fingerprint"],
        ssh_fingerprint(server.dir.path(), &second)
    );
    let (_, keys) = server.get("/repos/mac/keys").await;
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        keys[0]["fingerprint"],
        ssh_fingerprint(server.dir.path(), &first)
    );
    assert_eq!(keys[1]["comment"], "my laptop");
    assert_eq!(keys[1]["algo"], "ssh-rsa");
    let (_, repo) = server.get("/repos/mac").await;
    assert_eq!(repo["keys"], 2);
}

#[tokio::test]
async fn a_new_key_follows_the_repo_append_only_unless_told() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    server
        .patch("/repos/mac", json!({"append_only": true}))
        .await;
    let follows = keygen(server.dir.path(), "ecdsa", "f");
    server
        .post("/repos/mac/keys", json!({"public_key": follows}))
        .await;
    let explicit = keygen(server.dir.path(), "ed25519", "e");
    server
        .post(
            "/repos/mac/keys",
            json!({"public_key": explicit, "append_only": false}),
        )
        .await;
    let (_, keys) = server.get("/repos/mac/keys").await;
    let flags: Vec<bool> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["append_only"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [true, true, false]);
    let (_, repo) = server.get("/repos/mac").await;
    assert_eq!(repo["append_only"], false, "append_only needs every line");
}

#[tokio::test]
async fn adding_a_key_to_an_unregistered_repo_registers_it() {
    let server = TestServer::new().await;
    std::fs::create_dir(server.root().join("bare")).unwrap();
    let (_, keys) = server.get("/repos/bare/keys").await;
    assert_eq!(keys, json!([]));
    let key = keygen(server.dir.path(), "ed25519", "k");
    assert_eq!(
        server
            .post("/repos/bare/keys", json!({"public_key": key}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (_, repo) = server.get("/repos/bare").await;
    assert_eq!(repo["registered"], true);
    let (status, err) = server
        .post("/repos/bare/keys", json!({"public_key": key}))
        .await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (
            StatusCode::CONFLICT,
            "key is already registered for repo bare"
        )
    );
}

#[tokio::test]
async fn delete_key_accepts_raw_slashes_plus_percent_encoding_and_no_prefix() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    // Find keys whose fingerprints contain '/' and '+', as the GUI sends them unescaped.
    let mut wanted = Vec::new();
    while wanted.len() < 3 {
        let key = keygen(server.dir.path(), "ed25519", "k");
        let fp = ssh_fingerprint(server.dir.path(), &key);
        if fp.contains('/') || fp.contains('+') {
            assert_eq!(
                server
                    .post("/repos/mac/keys", json!({"public_key": key}))
                    .await
                    .0,
                StatusCode::CREATED
            );
            wanted.push(fp);
        }
    }
    let encoded = wanted[1]
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace(':', "%3A");
    let bare = wanted[2].trim_start_matches("SHA256:").to_owned();
    for path in [wanted[0].clone(), encoded, bare] {
        let (status, body) = server.delete(&format!("/repos/mac/keys/{path}")).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
    }
    let (_, keys) = server.get("/repos/mac/keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
    let (status, err) = server
        .delete(&format!("/repos/mac/keys/{}", wanted[0]))
        .await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "key not found")
    );
    assert_eq!(
        server.delete("/repos/nope/keys/SHA256:abc").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn deleting_the_last_key_unregisters_but_keeps_the_directory() {
    let server = TestServer::new().await;
    let key = server.create_repo("mac").await;
    let fp = ssh_fingerprint(server.dir.path(), &key);
    assert_eq!(
        server.delete(&format!("/repos/mac/keys/{fp}")).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, repo) = server.get("/repos/mac").await;
    assert_eq!(repo["registered"], false);
    assert!(server.root().join("mac").is_dir());
}

#[tokio::test]
async fn bad_keys_are_400_and_change_nothing() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let good = keygen(server.dir.path(), "ed25519", "c");
    let blob = good.split(' ').nth(1).unwrap().to_owned();
    let rsa1024 = {
        let file = server.dir.path().join("small");
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-t", "rsa", "-b", "1024", "-f"])
            .arg(&file)
            .status()
            .unwrap()
            .success();
        ok.then(|| {
            std::fs::read_to_string(file.with_extension("pub"))
                .unwrap()
                .trim()
                .to_owned()
        })
    };
    let mut bad = vec![
        format!("ssh-ed25519 {blob} a\nssh-ed25519 {blob}"),
        format!("command=\"/bin/sh\" ssh-ed25519 {blob}"),
        format!("no-pty ssh-ed25519 {blob}"),
        format!("ssh-ed25519 {blob} \"quoted\""),
        format!("ssh-ed25519 {blob} back\\slash"),
        format!("ssh-ed25519 {blob} tab\there"),
        "ssh-ed25519 not*base64".to_owned(),
        format!("ssh-rsa {blob}"),
        format!("ssh-dss {blob}"),
        format!("ssh-ed25519 {}", "A".repeat(20 * 1024)),
        "ssh-ed25519".to_owned(),
        String::new(),
        format!("ssh-ed25519 {blob} two words"),
    ];
    bad.extend(rsa1024);
    let before = server.snapshot();
    for key in &bad {
        for (path, body) in [
            ("/repos", json!({"name": "new", "pubkey": key})),
            ("/repos/mac/keys", json!({"public_key": key})),
        ] {
            let (status, err) = server.post(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {key:?}");
            assert!(
                err["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("invalid public key"),
                "{err}"
            );
        }
    }
    for body in [
        json!({"name": "new"}),
        json!({"name": "new", "pubkey": 5}),
        json!({"pubkey": good}),
    ] {
        assert_eq!(server.post("/repos", body).await.0, StatusCode::BAD_REQUEST);
    }
    assert_eq!(
        server
            .post("/repos/mac/keys", json!({"public_key": good, "comment": 5}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        server
            .post(
                "/repos/mac/keys",
                json!({"public_key": good, "append_only": "no"})
            )
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(server.snapshot(), before);
}

#[tokio::test]
async fn key_endpoints_of_unknown_or_invalid_repos_are_404() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "k");
    for path in ["/repos/nope/keys", "/repos/No_Pe/keys"] {
        assert_eq!(server.get(path).await.0, StatusCode::NOT_FOUND);
        let (status, err) = server.post(path, json!({"public_key": key})).await;
        assert_eq!(
            (status, err["error"].as_str().unwrap()),
            (StatusCode::NOT_FOUND, "repo not found")
        );
    }
    assert_eq!(server.auth_keys_text(), "");
}

/// A hand-tagged line (no `restrict`: its key could forward ports) is reported, counted in
/// /metrics, and repaired by the next edit of the repo.
#[tokio::test]
async fn a_managed_line_without_restrict_is_reported_counted_and_repaired() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let hand = keygen(server.dir.path(), "ed25519", "hand");
    let hand = hand.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let mut text = server.auth_keys_text();
    text.push_str(&format!("{hand} # borgbox:mac by-hand\n"));
    std::fs::write(server.auth_keys(), text).unwrap();

    let restricted = || async {
        let (status, keys) = server.get("/repos/mac/keys").await;
        assert_eq!(status, StatusCode::OK);
        keys.as_array()
            .unwrap()
            .iter()
            .map(|k| k["restricted"].as_bool().unwrap())
            .collect::<Vec<_>>()
    };
    let unrestricted_metric = || async {
        let text = server
            .client
            .get(format!("{}/metrics", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(r#"borgbox_repo_unrestricted_keys{repo="mac"} "#))
            .unwrap_or_else(|| panic!("{text}"))
            .to_owned()
    };
    assert_eq!(restricted().await, [true, false]);
    assert_eq!(unrestricted_metric().await, "1");

    let (status, body) = server
        .patch("/repos/mac", json!({"append_only": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(restricted().await, [true, true]);
    assert_eq!(unrestricted_metric().await, "0");
    let line = server
        .auth_keys_text()
        .lines()
        .find(|l| l.ends_with("by-hand"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("--append-only --restrict-to-repository")
            && line.contains(&format!("\",restrict {hand} # borgbox:mac by-hand")),
        "{line}"
    );
}

/// API.md 17: with an existing repo, a fingerprint that matches none of its keys is 404
/// "key not found"; "repo not found" only when the repo is unknown.
#[tokio::test]
async fn an_unknown_key_of_a_known_repo_is_key_not_found() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    std::fs::create_dir(server.root().join("bare")).unwrap();
    for (path, message) in [
        ("/repos/mac/keys/SHA256:abc", "key not found"),
        ("/repos/mac/keys/abc", "key not found"),
        ("/repos/mac/keys/SHA256:", "key not found"),
        ("/repos/mac/keys/a/b//c", "key not found"),
        ("/repos/bare/keys/SHA256:abc", "key not found"),
        ("/repos/nope/keys/SHA256:abc", "repo not found"),
    ] {
        let (status, body) = server.delete(path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some(message)),
            "{path}"
        );
    }
    let (_, keys) = server.get("/repos/mac/keys").await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
}
