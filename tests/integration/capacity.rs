//! Quotas enforced by borg through the forced command, and the Prometheus metrics
//! (API.md 16.1, 16.2), with real borg and a real exposition-format checker (promtool).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{encrypted_repo, keygen, TestServer, PASSPHRASE, TOKEN};

/// Stands in for sshd for a local borg client: runs the forced command of the repo's
/// managed line with the client's command as SSH_ORIGINAL_COMMAND, as sshd does.
fn fake_ssh(dir: &Path, auth_keys: &Path, repo: &str) -> String {
    let script = dir.join(format!("ssh-{repo}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             line=$(grep -E '# borgbox:{repo}( |$)' '{keys}')\n\
             cmd=$(printf '%s' \"$line\" | sed -n 's/^command=\"\\([^\"]*\\)\".*/\\1/p')\n\
             [ -n \"$cmd\" ] || {{ echo 'no forced command' >&2; exit 1; }}\n\
             shift\n\
             SSH_ORIGINAL_COMMAND=\"$*\" exec sh -c \"$cmd\"\n",
            keys = auth_keys.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// borg as a client of `repo` through its forced command.
fn client_borg(server: &TestServer, repo: &str, args: &[&str]) -> std::process::Output {
    let rsh = fake_ssh(server.dir.path(), server.auth_keys(), repo);
    Command::new("borg")
        .args(args)
        .env("BORG_RSH", rsh)
        .env("BORG_PASSPHRASE", PASSPHRASE)
        .env("BORG_BASE_DIR", server.dir.path().join("client"))
        .env("BORG_RELOCATED_REPO_ACCESS_IS_OK", "yes")
        .output()
        .unwrap()
}

fn random_file(dir: &Path, name: &str, bytes: usize) -> String {
    let path = dir.join(name);
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    std::fs::write(&path, data).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_quota_set_through_patch_is_what_borg_enforces_over_the_forced_command() {
    let server = TestServer::new().await;
    server.create_repo("laptop").await;
    let url = format!(
        "ssh://borg@backup.test{}",
        server.root().join("laptop").display()
    );
    let init = client_borg(&server, "laptop", &["init", "-e", "repokey-blake2", &url]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    let (status, repo) = server
        .patch("/repos/laptop", json!({"storage_quota_bytes": 10_000_000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(repo["storage_quota_bytes"], 10_000_000);
    assert_eq!(repo["quota_source"], "borgbox");
    assert_eq!(repo["append_only"], false, "an absent append_only is kept");
    assert!(server
        .auth_keys_text()
        .contains("serve --storage-quota 10000000 --restrict-to-repository"));

    let big = random_file(server.dir.path(), "big", 12_000_000);
    let over = client_borg(&server, "laptop", &["create", &format!("{url}::big"), &big]);
    let said = String::from_utf8_lossy(&over.stderr);
    assert!(!over.status.success(), "a 12 MB backup fit a 10 MB quota");
    assert!(said.contains("The storage quota"), "{said}");

    let small = random_file(server.dir.path(), "small", 1_000_000);
    let fits = client_borg(
        &server,
        "laptop",
        &["create", &format!("{url}::small"), &small],
    );
    assert!(
        fits.status.success(),
        "{}",
        String::from_utf8_lossy(&fits.stderr)
    );
    let (_, repo) = server.get("/repos/laptop").await;
    let used = repo["quota_used_bytes"].as_u64().unwrap();
    assert!((1_000_000..10_000_000).contains(&used), "{repo}");
    // The list form carries both quota fields too.
    let (_, list) = server.get("/repos").await;
    assert_eq!(list[0]["storage_quota_bytes"], 10_000_000);
    assert_eq!(list[0]["quota_used_bytes"], used);

    // A key added later inherits the quota; removing it (0) frees the repo.
    let key = keygen(server.dir.path(), "ed25519", "second");
    let (status, _) = server
        .post("/repos/laptop/keys", json!({"public_key": key}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        server
            .auth_keys_text()
            .matches("--storage-quota 10000000 ")
            .count(),
        2
    );
    let (_, repo) = server
        .patch("/repos/laptop", json!({"storage_quota_bytes": 0}))
        .await;
    assert_eq!(
        (
            repo["storage_quota_bytes"].as_u64(),
            repo["quota_source"].as_str()
        ),
        (Some(0), Some(""))
    );
    let again = client_borg(&server, "laptop", &["create", &format!("{url}::big"), &big]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[tokio::test]
async fn bad_quotas_are_400_and_change_nothing() {
    let server = TestServer::new().await;
    server.create_repo("laptop").await;
    let before = server.snapshot();
    let key = keygen(server.dir.path(), "ed25519", "k");
    for quota in [
        json!(-1),
        json!(1),
        json!(9_999_999),
        json!(10_000_000.5),
        json!(1e7),
        json!("10000000"),
        json!(true),
        json!((1u64 << 62) + 1),
        json!(u64::MAX),
    ] {
        for (path, body) in [
            (
                "/repos",
                json!({"name": "other", "pubkey": key, "storage_quota_bytes": quota}),
            ),
            (
                "/repos/import",
                json!({"name": "laptop", "pubkey": key, "storage_quota_bytes": quota}),
            ),
        ] {
            let (status, error) = server.post(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {quota}: {error}");
            assert!(
                error["error"]
                    .as_str()
                    .unwrap()
                    .contains("storage_quota_bytes"),
                "{error}"
            );
        }
        let (status, error) = server
            .patch("/repos/laptop", json!({"storage_quota_bytes": quota}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{quota}: {error}");
    }
    let (status, error) = server.patch("/repos/laptop", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(server.snapshot(), before);
    // The bounds themselves are fine.
    for quota in [0u64, 10_000_000, 1 << 62] {
        let (status, repo) = server
            .patch("/repos/laptop", json!({"storage_quota_bytes": quota}))
            .await;
        assert_eq!(status, StatusCode::OK, "{quota}: {repo}");
    }
}

/// `name{labels} value` lines by their full left-hand side.
fn samples(text: &str) -> HashMap<String, i64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn metrics_pass_promtool_and_carry_the_tree_they_describe() {
    let server = TestServer::new().await;
    encrypted_repo(&server, "laptop");
    server.create_repo("empty").await;
    // A directory whose name needs escaping in a label: listed, never managed.
    std::fs::create_dir(server.root().join("we\"ird\\name")).unwrap();
    server
        .patch(
            "/repos/empty",
            json!({"storage_quota_bytes": 20_000_000, "append_only": true}),
        )
        .await;
    let (_, started) = server
        .post("/repos/laptop/check", json!({"passphrase": PASSPHRASE}))
        .await;
    let job = started["job_id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while server.get(&format!("/jobs/{job}")).await.1["status"] != "done" {
        assert!(
            std::time::Instant::now() < deadline,
            "the check never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, schedule) = server
        .post(
            "/repos/laptop/schedules",
            json!({"kind": "compact", "cadence": "daily", "hour": 3, "minute": 0}),
        )
        .await;
    let (_, alert) = server
        .post(
            "/repos/laptop/alerts",
            json!({"stale_after_hours": 1, "webhook_url": "http://127.0.0.1:9/x"}),
        )
        .await;

    let response = server
        .client
        .get(format!("{}/metrics", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let s = samples(&text);
    let (_, repos) = server.get("/repos").await;
    let laptop = repos
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "laptop")
        .unwrap();
    let get = |series: &str| {
        *s.get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        get(r#"borgbox_repo_size_bytes{repo="laptop"}"#),
        laptop["size_bytes"].as_i64().unwrap()
    );
    assert_eq!(get(r#"borgbox_repo_quota_bytes{repo="empty"}"#), 20_000_000);
    assert_eq!(get(r#"borgbox_repo_append_only{repo="empty"}"#), 1);
    assert_eq!(get(r#"borgbox_repo_registered{repo="we\"ird\\name"}"#), 0);
    assert_eq!(get(r#"borgbox_repo_initialized{repo="laptop"}"#), 1);
    assert_eq!(get(r#"borgbox_repo_initialized{repo="empty"}"#), 0);
    assert_eq!(get(r#"borgbox_repo_keys{repo="laptop"}"#), 0);
    assert_eq!(get(r#"borgbox_repo_keys{repo="empty"}"#), 1);
    assert_eq!(get(r#"borgbox_repo_unrestricted_keys{repo="empty"}"#), 0);
    assert_eq!(get(r#"borgbox_repo_sessions{repo="laptop"}"#), 0);
    let last_write = time::OffsetDateTime::parse(
        laptop["last_write"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    assert_eq!(
        get(r#"borgbox_repo_last_write_timestamp_seconds{repo="laptop"}"#),
        last_write
    );
    assert!(!text.contains(r#"borgbox_repo_last_write_timestamp_seconds{repo="nope""#));
    assert_eq!(get(r#"borgbox_jobs{status="done"}"#), 1);
    assert_eq!(get(r#"borgbox_jobs{status="running"}"#), 0);
    assert_eq!(
        get(r#"borgbox_job_last_exit_code{repo="laptop",kind="check"}"#),
        0
    );
    assert!(s.contains_key(
        r#"borgbox_job_last_finished_timestamp_seconds{repo="laptop",kind="check",status="done"}"#
    ));
    let next_run = time::OffsetDateTime::parse(
        schedule["next_run"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp();
    let id = schedule["id"].as_str().unwrap();
    assert_eq!(
        get(&format!(
            r#"borgbox_schedule_next_run_timestamp_seconds{{id="{id}",repo="laptop",kind="compact"}}"#
        )),
        next_run
    );
    assert!(
        !text.contains("borgbox_schedule_last_run_timestamp_seconds{"),
        "no last run yet"
    );
    let id = alert["id"].as_str().unwrap();
    assert_eq!(
        get(&format!(
            r#"borgbox_alert_stale{{id="{id}",repo="laptop"}}"#
        )),
        0
    );
    assert!(text.contains(r#"borgbox_info{version=""#));
    for family in [
        "borgbox_info",
        "borgbox_storage_total_bytes",
        "borgbox_storage_free_bytes",
        "borgbox_repo_size_bytes",
        "borgbox_repo_quota_used_bytes",
        "borgbox_repo_quota_bytes",
        "borgbox_repo_last_write_timestamp_seconds",
        "borgbox_repo_initialized",
        "borgbox_repo_registered",
        "borgbox_repo_append_only",
        "borgbox_repo_locked",
        "borgbox_repo_keys",
        "borgbox_repo_unrestricted_keys",
        "borgbox_repo_sessions",
        "borgbox_job_last_finished_timestamp_seconds",
        "borgbox_job_last_exit_code",
        "borgbox_jobs",
        "borgbox_schedule_next_run_timestamp_seconds",
        "borgbox_schedule_last_run_timestamp_seconds",
        "borgbox_alert_stale",
        "borgbox_key_last_used_timestamp_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} gauge\n")),
            "{family}"
        );
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
    }
    // Without a journal (this machine's sshd logs elsewhere), keys say "" for their use.
    let (_, keys) = server.get("/repos/empty/keys").await;
    assert_eq!(
        (&keys[0]["last_used_at"], &keys[0]["last_used_from"]),
        (&Value::from(""), &Value::from(""))
    );
}

/// The repository's own `storage_quota` as its config file says.
fn own_quota(server: &TestServer, repo: &str) -> Option<String> {
    let config = std::fs::read_to_string(server.root().join(repo).join("config")).unwrap();
    config
        .lines()
        .find_map(|l| l.strip_prefix("storage_quota = "))
        .map(str::to_owned)
}

#[tokio::test]
async fn a_quota_the_repository_got_at_init_follows_the_api_and_can_be_removed() {
    let server = TestServer::new().await;
    let key = keygen(server.dir.path(), "ed25519", "laptop");
    let (status, body) = server
        .post(
            "/repos",
            json!({"name": "laptop", "pubkey": key, "storage_quota_bytes": 10_000_000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = format!(
        "ssh://borg@backup.test{}",
        server.root().join("laptop").display()
    );
    // borg init through the forced command writes the quota into the repository too.
    let init = client_borg(&server, "laptop", &["init", "-e", "repokey-blake2", &url]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert_eq!(own_quota(&server, "laptop").as_deref(), Some("10000000"));
    let big = random_file(server.dir.path(), "big", 12_000_000);
    let over = client_borg(&server, "laptop", &["create", &format!("{url}::big"), &big]);
    assert!(!over.status.success(), "a 12 MB backup fit a 10 MB quota");

    // A change of the quota borgbox set changes the repository's own too.
    let (status, repo) = server
        .patch("/repos/laptop", json!({"storage_quota_bytes": 11_000_000}))
        .await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(own_quota(&server, "laptop").as_deref(), Some("11000000"));

    // Removed: the next large backup succeeds.
    let (status, repo) = server
        .patch("/repos/laptop", json!({"storage_quota_bytes": 0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(
        (
            repo["storage_quota_bytes"].as_u64(),
            repo["quota_source"].as_str()
        ),
        (Some(0), Some(""))
    );
    assert_eq!(own_quota(&server, "laptop"), None);
    let again = client_borg(&server, "laptop", &["create", &format!("{url}::big"), &big]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A quota of the repository's own (not the one borgbox set) is left alone, and said.
    let (status, _) = server
        .patch("/repos/laptop", json!({"storage_quota_bytes": 20_000_000}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = server.root().join("laptop").display().to_string();
    let set = Command::new("borg")
        .args(["config", &path, "storage_quota", "50000000"])
        .env("BORG_BASE_DIR", server.dir.path().join("operator"))
        .output()
        .unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let (status, repo) = server
        .patch("/repos/laptop", json!({"storage_quota_bytes": 0}))
        .await;
    assert_eq!(status, StatusCode::OK, "{repo}");
    assert_eq!(own_quota(&server, "laptop").as_deref(), Some("50000000"));
    assert_eq!(
        (
            repo["storage_quota_bytes"].as_u64(),
            repo["quota_source"].as_str()
        ),
        (Some(50_000_000), Some("repository"))
    );
}
