use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;

use crate::support::TestServer;

#[tokio::test]
async fn info_reports_versions_disk_and_backend() {
    let server = TestServer::new().await;
    let (status, info) = server.get("/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["repo_root"], server.root().display().to_string());
    assert!(
        info["borg_version"]
            .as_str()
            .unwrap()
            .starts_with("borg 1."),
        "{info}"
    );
    assert!(info["total_bytes"].as_u64().unwrap() >= info["free_bytes"].as_u64().unwrap());
    assert!(info["uptime_sec"].is_u64());
    assert_eq!(info["activated_at"].as_str().unwrap().len(), 20);
    assert_eq!(info["backend"], "process");
    assert!(info.get("go_version").is_none());
    // Cached: a second answer does not depend on running borg again.
    assert!(server.settings.state_dir.join("borg-version.json").exists());
    assert_eq!(
        server.get("/info").await.1["borg_version"],
        info["borg_version"]
    );
}

#[tokio::test]
async fn system_stats_has_every_required_field() {
    let server = TestServer::new().await;
    let (status, stats) = server.get("/system/stats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!stats["hostname"].as_str().unwrap().is_empty());
    assert!(stats["uptime_seconds"].is_u64());
    assert_eq!(stats["load"].as_array().unwrap().len(), 3);
    let storage = &stats["storage"];
    assert_eq!(storage["path"], server.root().display().to_string());
    for field in ["total_bytes", "used_bytes", "free_bytes"] {
        assert!(storage[field].is_u64(), "{field}");
    }
    assert_eq!(stats["borgbox_version"], env!("CARGO_PKG_VERSION"));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sessions_see_a_real_borg_serve_with_its_client_ip() {
    let server = TestServer::new().await;
    server.create_repo("mac").await;
    let path = server.root().join("mac");
    let child = Command::new("borg")
        .args(["serve", "--restrict-to-repository"])
        .arg(&path)
        .env("SSH_CLIENT", "203.0.113.9 50022 22")
        .env("BORG_BASE_DIR", server.dir.path().join("serve-base"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let pid = child.0.id() as i64;
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, sessions) = server.get("/sessions").await;
        assert_eq!(status, StatusCode::OK);
        if let Some(s) = sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["pid"] == pid)
        {
            if s["repo"] == "mac" {
                assert_eq!(s["client_ip"], "203.0.113.9");
                assert_eq!(s["started_at"].as_str().unwrap().len(), 20);
                assert!(s["rss_bytes"].as_u64().unwrap() > 0);
                assert!(s["cpu_percent"].is_number());
                return;
            }
        }
        last = sessions;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("borg serve {pid} never listed; last: {last}");
}
