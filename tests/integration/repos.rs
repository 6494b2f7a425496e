use std::os::unix::fs::{MetadataExt, PermissionsExt};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{keygen, ssh_fingerprint, TestServer};

const FOREIGN: &str = "# hand-written comment\r\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJvr7x5Ox1l3S8gdE7Z3Z7w9XbmZcRj5p1nYd8OvjJ2N admin@laptop\nfrom=\"10.0.0.0/8\",no-pty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops key\nthis line is garbage";

#[tokio::test]
async fn create_returns_the_detailed_repo_and_writes_one_managed_line() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "borgmac-borgbox-mac");
    let (status, repo) = server
        .post("/repos", json!({"name": "mac", "pubkey": key}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{repo}");
    let path = server.root().join("mac");
    assert_eq!(repo["name"], "mac");
    assert_eq!(repo["path"], path.display().to_string());
    assert_eq!(
        repo["ssh_url"],
        format!("ssh://borg@backup.test:22{}", path.display())
    );
    assert_eq!(repo["registered"], true);
    assert_eq!(repo["append_only"], false);
    assert_eq!(repo["initialized"], false);
    assert_eq!(repo["keys"], 1);
    assert_eq!(repo["transaction_id"], 0);
    assert_eq!(repo["locked"], false);
    assert!(repo["size_bytes"].is_u64());
    assert_eq!(repo["modified_at"].as_str().unwrap().len(), 20);

    let (kind, blob) = {
        let mut f = key.split(' ');
        (f.next().unwrap(), f.next().unwrap())
    };
    let borg = server.settings.borg.display();
    assert_eq!(
        server.auth_keys_text(),
        format!(
            "command=\"{borg} serve --restrict-to-repository {}\",restrict {kind} {blob} # borgbox:mac borgmac-borgbox-mac\n",
            path.display()
        )
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::metadata(server.auth_keys()).unwrap().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(server.auth_keys().parent().unwrap())
            .unwrap()
            .mode()
            & 0o777,
        0o700
    );

    let (status, keys) = server.get("/repos/mac/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys[0]["fingerprint"],
        ssh_fingerprint(server.dir.path(), &key)
    );
    assert_eq!(keys[0]["comment"], "borgmac-borgbox-mac");
    assert_eq!(keys[0]["algo"], "ssh-ed25519");
    assert_eq!(keys[0]["added_at"].as_str().unwrap().len(), 20);
    assert_eq!(keys[0]["last_used_at"], "");
}

#[tokio::test]
async fn create_with_append_only_writes_the_flag() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "c");
    let (status, repo) = server
        .post(
            "/repos",
            json!({"name": "ao", "pubkey": key, "append_only": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(repo["append_only"], true);
    assert!(server
        .auth_keys_text()
        .contains(" serve --append-only --restrict-to-repository "));
}

#[tokio::test]
async fn conflicts_on_create_change_nothing() {
    let server = TestServer::new().await;
    let key = server.create_repo("mac").await;
    std::fs::create_dir(server.root().join("taken")).unwrap();
    let before = server.snapshot();
    let other = keygen(server.dir.path(), "ed25519", "x");
    for (body, message) in [
        (
            json!({"name": "mac", "pubkey": other}),
            "repo already exists",
        ),
        (
            json!({"name": "taken", "pubkey": other}),
            "repo already exists",
        ),
        (
            json!({"name": "mac2", "pubkey": key}),
            "key is already registered for repo mac",
        ),
    ] {
        let (status, err) = server.post("/repos", body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(err["error"], message);
    }
    assert_eq!(server.snapshot(), before);
}

#[tokio::test]
async fn a_key_already_on_a_foreign_line_is_refused() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "x");
    std::fs::create_dir_all(server.auth_keys().parent().unwrap()).unwrap();
    std::fs::write(server.auth_keys(), format!("no-pty {key}\n")).unwrap();
    let before = server.snapshot();
    let (status, err) = server
        .post("/repos", json!({"name": "mac", "pubkey": key}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"], "key is already present in authorized_keys");
    assert_eq!(server.snapshot(), before);
}

#[tokio::test]
async fn a_managed_line_without_directory_blocks_create() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    std::fs::remove_dir(server.root().join("mac")).unwrap();
    let other = keygen(server.dir.path(), "ed25519", "x");
    let (status, err) = server
        .post("/repos", json!({"name": "mac", "pubkey": other}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"], "repo mac is already registered");
    assert!(!server.root().join("mac").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_lose_and_duplicate_no_line() {
    let server = std::sync::Arc::new(TestServer::new().await);
    std::fs::create_dir_all(server.auth_keys().parent().unwrap()).unwrap();
    std::fs::write(server.auth_keys(), FOREIGN).unwrap();
    let keys: Vec<String> = (0..50)
        .map(|i| keygen(server.dir.path(), "ed25519", &format!("k{i}")))
        .collect();
    let tasks: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let server = server.clone();
            let body = json!({"name": format!("r{i}"), "pubkey": key});
            tokio::spawn(async move { server.post("/repos", body).await.0 })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::CREATED);
    }
    let text = server.auth_keys_text();
    assert!(
        text.starts_with(&format!("{FOREIGN}\n")),
        "foreign lines changed"
    );
    for (i, key) in keys.iter().enumerate() {
        let blob = key.split(' ').nth(1).unwrap();
        assert_eq!(text.matches(blob).count(), 1, "key {i}");
        assert_eq!(
            text.matches(&format!("# borgbox:r{i} ")).count(),
            1,
            "repo r{i}"
        );
    }
    assert_eq!(text.lines().count(), FOREIGN.lines().count() + 50);
    let (_, repos) = server.get("/repos").await;
    assert_eq!(repos.as_array().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_of_one_name_give_one_winner() {
    let server = std::sync::Arc::new(TestServer::new().await);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let server = server.clone();
            let key = keygen(server.dir.path(), "ed25519", &format!("k{i}"));
            tokio::spawn(async move {
                server
                    .post("/repos", json!({"name": "same", "pubkey": key}))
                    .await
                    .0
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::CREATED => created += 1,
            status => assert_eq!(status, StatusCode::CONFLICT),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(server.auth_keys_text().lines().count(), 1);
}

#[tokio::test]
async fn foreign_lines_survive_every_kind_of_edit() {
    let server = TestServer::new().await;
    std::fs::create_dir_all(server.auth_keys().parent().unwrap()).unwrap();
    std::fs::write(server.auth_keys(), FOREIGN).unwrap();
    let foreign_lines = |text: &str| -> Vec<String> {
        text.split_inclusive('\n')
            .filter(|l| !l.contains("# borgbox:"))
            .map(|l| l.trim_end_matches('\n').to_owned())
            .collect()
    };
    let expected = foreign_lines(FOREIGN);

    server.create_repo("mac").await;
    assert!(
        server.auth_keys_text().starts_with(&format!("{FOREIGN}\n")),
        "only a final newline may be added"
    );
    let extra = keygen(server.dir.path(), "ed25519", "second");
    assert_eq!(
        server
            .post("/repos/mac/keys", json!({"public_key": extra}))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        server
            .patch("/repos/mac", json!({"append_only": true}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(foreign_lines(&server.auth_keys_text()), expected);
    let fp = ssh_fingerprint(server.dir.path(), &extra);
    assert_eq!(
        server.delete(&format!("/repos/mac/keys/{fp}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(foreign_lines(&server.auth_keys_text()), expected);
    assert_eq!(server.delete("/repos/mac").await.0, StatusCode::NO_CONTENT);
    assert_eq!(server.auth_keys_text(), format!("{FOREIGN}\n"));
    assert_eq!(
        std::fs::metadata(server.auth_keys()).unwrap().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn list_is_sorted_and_skips_dot_dirs_files_and_symlinks() {
    let server = TestServer::new().await;
    server.create_repo("zeta").await;
    server.create_repo("alpha").await;
    for dir in [".hidden", "Not_Valid"] {
        std::fs::create_dir(server.root().join(dir)).unwrap();
    }
    std::fs::write(server.root().join("file"), "x").unwrap();
    std::os::unix::fs::symlink(server.root().join("alpha"), server.root().join("link")).unwrap();
    let (status, repos) = server.get("/repos").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Not_Valid", "alpha", "zeta"]);
    let invalid = &repos[0];
    assert_eq!(invalid["registered"], false);
    assert_eq!(invalid["append_only"], false);
    for field in [
        "name",
        "path",
        "ssh_url",
        "registered",
        "append_only",
        "initialized",
        "size_bytes",
        "modified_at",
    ] {
        assert!(repos[1].get(field).is_some(), "{field}");
    }
    assert_eq!(
        server.get("/repos/Not_Valid").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.get("/repos/link").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn size_and_modified_at_follow_real_borg_commits() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let path = server.root().join("mac");
    let base = server.dir.path().join("client-borg");
    crate::support::borg(
        &base,
        "pw",
        &[
            "init",
            "--encryption=repokey-blake2",
            path.to_str().unwrap(),
        ],
    );
    let (_, first) = server.get("/repos/mac").await;
    assert_eq!(first["initialized"], true);
    let tx1 = first["transaction_id"].as_u64().unwrap();
    assert!(tx1 > 0);
    let data = server.dir.path().join("payload");
    std::fs::write(&data, vec![7u8; 200_000]).unwrap();
    crate::support::borg(
        &base,
        "pw",
        &[
            "create",
            "--compression",
            "none",
            &format!("{}::one", path.display()),
            data.to_str().unwrap(),
        ],
    );
    let (_, listed) = server.get("/repos").await;
    let (_, second) = server.get("/repos/mac").await;
    assert!(second["transaction_id"].as_u64().unwrap() > tx1);
    assert!(
        second["size_bytes"].as_u64().unwrap() > first["size_bytes"].as_u64().unwrap() + 150_000
    );
    assert_eq!(listed[0]["size_bytes"], second["size_bytes"]);
    let du = std::process::Command::new("du")
        .arg("-sb")
        .arg("--apparent-size")
        .arg(&path)
        .output()
        .unwrap();
    let du: u64 = String::from_utf8(du.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // du also counts directory sizes; ours counts regular files only.
    assert!(second["size_bytes"].as_u64().unwrap() <= du);
    assert!(second["segments"].as_u64().unwrap() >= 1);
    assert_ne!(second["last_write"], "");
    assert!(second["modified_at"].as_str().unwrap() >= first["modified_at"].as_str().unwrap());
}

#[tokio::test]
async fn import_registers_an_existing_borg_repository() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "imp");
    let (status, err) = server
        .post("/repos/import", json!({"name": "old", "pubkey": key}))
        .await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "repo not found")
    );
    std::fs::create_dir(server.root().join("old")).unwrap();
    let (status, _) = server
        .post("/repos/import", json!({"name": "old", "pubkey": key}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.auth_keys_text(), "");
    let path = server.root().join("old");
    std::fs::remove_dir(&path).unwrap();
    crate::support::borg(
        &server.dir.path().join("b"),
        "pw",
        &[
            "init",
            "--encryption=repokey-blake2",
            path.to_str().unwrap(),
        ],
    );
    let (status, repo) = server
        .post(
            "/repos/import",
            json!({"name": "old", "pubkey": key, "append_only": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{repo}");
    assert_eq!(repo["registered"], true);
    assert_eq!(repo["initialized"], true);
    assert_eq!(repo["append_only"], true);
    let other = keygen(server.dir.path(), "ed25519", "x");
    let (status, _) = server
        .post("/repos/import", json!({"name": "old", "pubkey": other}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = server
        .post("/repos/import", json!({"name": "Old", "pubkey": other}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn patch_toggles_append_only_idempotently() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let (status, repo) = server
        .patch("/repos/mac", json!({"append_only": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(repo["append_only"], true);
    assert_eq!(repo["keys"], 1);
    let ino = std::fs::metadata(server.auth_keys()).unwrap().ino();
    let (status, _) = server
        .patch("/repos/mac", json!({"append_only": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        std::fs::metadata(server.auth_keys()).unwrap().ino(),
        ino,
        "an idempotent PATCH must not rewrite"
    );
    let (_, repo) = server
        .patch("/repos/mac", json!({"append_only": false}))
        .await;
    assert_eq!(repo["append_only"], false);
    assert!(!server.auth_keys_text().contains("--append-only"));

    for body in [
        json!({}),
        json!({"append_only": "yes"}),
        json!({"append_only": null}),
    ] {
        let (status, err) = server.patch("/repos/mac", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(err["error"].as_str().unwrap().contains("append_only"));
    }
    assert_eq!(
        server
            .patch("/repos/nope", json!({"append_only": true}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    std::fs::create_dir(server.root().join("bare")).unwrap();
    let (status, err) = server
        .patch("/repos/bare", json!({"append_only": true}))
        .await;
    assert_eq!(
        (status, err["error"].as_str().unwrap()),
        (StatusCode::CONFLICT, "repo has no registered key")
    );
}

#[tokio::test]
async fn delete_removes_lines_and_directory() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    server.create_repo("mac2").await;
    std::fs::write(server.root().join("mac/file"), "x").unwrap();
    assert_eq!(server.delete("/repos/mac").await.0, StatusCode::NO_CONTENT);
    assert!(!server.root().join("mac").exists());
    assert!(!server.auth_keys_text().contains("# borgbox:mac "));
    assert!(server.auth_keys_text().contains("# borgbox:mac2 "));
    assert_eq!(server.delete("/repos/mac").await.0, StatusCode::NOT_FOUND);
    // Lines without a directory can still be deleted.
    std::fs::remove_dir(server.root().join("mac2")).unwrap();
    assert_eq!(server.delete("/repos/mac2").await.0, StatusCode::NO_CONTENT);
    assert_eq!(server.auth_keys_text(), "");
}

#[tokio::test]
async fn delete_does_not_follow_symlinks_inside_a_repo() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let outside = server.dir.path().join("precious");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "x").unwrap();
    std::os::unix::fs::symlink(&outside, server.root().join("mac/link")).unwrap();
    assert_eq!(server.delete("/repos/mac").await.0, StatusCode::NO_CONTENT);
    assert!(outside.join("keep").exists());
}

#[tokio::test]
async fn bad_names_are_400_in_bodies_and_404_in_paths_and_change_nothing() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "x");
    let before = server.snapshot();
    let long = "a".repeat(64);
    for name in [
        "Mac",
        "a_b",
        "a/b",
        "..",
        "-lead",
        long.as_str(),
        "",
        "café",
        "a b",
        ".",
    ] {
        let (status, err) = server
            .post("/repos", json!({"name": name, "pubkey": key}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(err["error"], "invalid repo name");
    }
    // Names reqwest sends as written; dot segments go raw, in the test below.
    for path in ["/repos/Mac", "/repos/a_b", "/repos/-lead"] {
        let (status, err) = server.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(err["error"], "repo not found", "{path}");
    }
    assert_eq!(server.snapshot(), before);
}

/// One request written byte for byte on a new connection, so no client library can
/// normalise the target (reqwest resolves `..`, `.`, `%2e%2e` before sending); returns the
/// status, the Content-Type and the body.
async fn raw(server: &TestServer, method: &str, path: &str, body: &str) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        crate::support::TOKEN,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head:?}"));
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[tokio::test]
async fn dot_segments_and_encoded_slashes_sent_raw_are_404_and_escape_nothing() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    // What an escape from the repo root would reach: the root's parent is the temp dir,
    // and `../etc` is a directory beside the root.
    let outside = server.root().parent().unwrap().join("etc");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "x").unwrap();
    let top_level = || {
        let mut names: Vec<_> = std::fs::read_dir(server.root().parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let (before, top_before) = (server.snapshot(), top_level());

    // Every one of them reaches the `/repos/{name}` route, hyper and axum resolving no
    // dot segment; the name, decoded once (API.md 2.8), fails the name rule: 404.
    for path in [
        "/repos/..",
        "/repos/%2e%2e",
        "/repos/%2E%2E",
        "/repos/.",
        "/repos/a%2Fb",
        "/repos/..%2Fetc",
    ] {
        for (method, body) in [
            ("GET", ""),
            ("DELETE", ""),
            ("PATCH", r#"{"append_only":true}"#),
        ] {
            let (status, content_type, body) = raw(&server, method, path, body).await;
            assert_eq!(
                (status, content_type.as_str(), body.as_str()),
                (404, "application/json", r#"{"error":"repo not found"}"#),
                "{method} {path}"
            );
        }
    }
    // Dot segments that would climb back into a real repo are not resolved either: the
    // path matches no route (the router's JSON 404), never /repos/mac.
    for path in ["/repos/../repos/mac", "/repos/./mac", "/jobs/../repos/mac"] {
        for (method, body) in [
            ("GET", ""),
            ("DELETE", ""),
            ("PATCH", r#"{"append_only":true}"#),
        ] {
            let (status, content_type, body) = raw(&server, method, path, body).await;
            assert_eq!(
                (status, content_type.as_str(), body.as_str()),
                (404, "application/json", r#"{"error":"not found"}"#),
                "{method} {path}"
            );
        }
    }
    assert_eq!(server.snapshot(), before);
    assert_eq!(top_level(), top_before);
    assert_eq!(std::fs::read(outside.join("keep")).unwrap(), b"x");
    // The raw requests were well-formed: the same bytes reach a real repo.
    let (status, _, body) = raw(&server, "GET", "/repos/mac", "").await;
    assert_eq!(status, 200, "{body}");
}
