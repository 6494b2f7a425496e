//! borg 2 is not supported yet (issue 18): a borg 2 binary refuses start-up, a borg 2
//! repository gets a clear 409 on every request that would run borg on it.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use reqwest::StatusCode;

use crate::support::TestServer;

/// A stand-in for borg that answers `--version` like borg 2's beta does.
fn fake_borg(dir: &std::path::Path, version_line: &str) -> std::path::PathBuf {
    let path = dir.join("borg");
    std::fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn serve_with_borg(borg: &std::path::Path) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    // An address already taken, so a borg that is accepted makes serve fail right after,
    // as root too (root may bind a low port, so "port 1" hung there).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_borgbox"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir.path())
        .env("BORGBOX_TOKEN", "t".repeat(40))
        .env("BORGBOX_STATE_DIR", dir.path().join("state"))
        .env("BORGBOX_SCHEDULES", dir.path().join("schedules.json"))
        .env("BORGBOX_ALERTS", dir.path().join("alerts.json"))
        .env("BORGBOX_REPO_ROOT", dir.path().join("repos"))
        .env("BORGBOX_BORG", borg)
        .env("BORGBOX_ADDR", taken.local_addr().unwrap().to_string())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_borg_2_binary_refuses_to_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve_with_borg(&fake_borg(dir.path(), "borg2 2.0.0b14"));
    assert_eq!(code, 2, "{stderr}");
    // One line says why (an info line about TLS may come before it).
    let said: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("info:")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        stderr.contains("BORGBOX_BORG") && stderr.contains("borg2 2.0.0b14"),
        "{stderr}"
    );
    assert!(stderr.contains("borg 2 is not supported"), "{stderr}");
    // borg 1.4 passes this check (and then fails to bind the taken address).
    let (_, stderr) = serve_with_borg(&fake_borg(dir.path(), "borg 1.4.0"));
    assert!(!stderr.contains("not supported"), "{stderr}");
}

#[tokio::test]
async fn a_borg_2_repository_gets_409_naming_the_version() {
    let server = TestServer::new().await;
    server.create_repo("two").await;
    std::fs::write(
        server.root().join("two/config"),
        "[repository]\nversion = 2\nsegments_per_dir = 1000\nid = 00\n",
    )
    .unwrap();
    let expected = "repo is a borg 2 repository (config version 2); borgbox supports borg 1 \
                    repositories (version 1) only";
    let (status, body) = server.get("/repos/two/archives").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some(expected))
    );
    for path in [
        "/repos/two/check",
        "/repos/two/compact",
        "/repos/two/break-lock",
    ] {
        let (status, body) = server.post(path, serde_json::json!({})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some(expected)),
            "{path}"
        );
    }
    let (status, body) = server
        .post("/repos/two/prune", serde_json::json!({"keep_daily": 1}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some(expected))
    );
    // The repo is still listed as it is; nothing was changed.
    let (status, repo) = server.get("/repos/two").await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert!(!server.root().join("two/lock.roster").exists());
}
