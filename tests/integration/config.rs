//! The real binary refuses bad configuration with one line naming the setting.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// A token of the minimum length (32 characters).
const GOOD: &str = "0123456789abcdef0123456789abcdef";

fn serve(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_borgbox"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("HOME", dir.path())
        .env("BORGBOX_STATE_DIR", dir.path().join("state"))
        .env("BORGBOX_SCHEDULES", dir.path().join("schedules.json"))
        .env("BORGBOX_ALERTS", dir.path().join("alerts.json"))
        .env("BORGBOX_REPO_ROOT", dir.path().join("repos"))
        .env("BORGBOX_ADDR", "127.0.0.1:1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_empty_or_unreadable_token_refuses_to_start() {
    for env in [
        vec![],
        vec![("BORGBOX_TOKEN", "")],
        vec![("BORGBOX_TOKEN", "@/nonexistent/token")],
    ] {
        let (code, stderr) = serve(&env);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("BORGBOX_TOKEN"), "{stderr}");
    }
}

#[test]
fn a_repo_root_that_is_not_a_directory_refuses_to_start() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let (code, stderr) = serve(&[
        ("BORGBOX_TOKEN", GOOD),
        ("BORGBOX_REPO_ROOT", file.path().to_str().unwrap()),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("BORGBOX_REPO_ROOT") && stderr.contains("not a directory"),
        "{stderr}"
    );
}

#[test]
fn a_missing_borg_refuses_to_start() {
    let (code, stderr) = serve(&[
        ("BORGBOX_TOKEN", GOOD),
        ("BORGBOX_BORG", "/nonexistent/borg"),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("BORGBOX_BORG"), "{stderr}");
}

#[test]
fn the_token_never_reaches_the_log() {
    let (_, stderr) = serve(&[
        ("BORGBOX_TOKEN", "s3cret-token-value-0123456789abcdef"),
        ("BORGBOX_ADDR", "not an address"),
    ]);
    assert!(stderr.contains("BORGBOX_ADDR"), "{stderr}");
    assert!(!stderr.contains("s3cret-token-value-0123456789abcdef"));
}

#[test]
fn a_time_zone_that_does_not_exist_refuses_to_start_naming_tz() {
    let (code, stderr) = serve(&[("BORGBOX_TOKEN", GOOD), ("TZ", "Mars/Olympus_Mons")]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TZ"), "{stderr}");
}

#[test]
fn a_path_serve_cannot_write_refuses_to_start_naming_the_setting_and_the_remedy() {
    // /proc/sys refuses writes even to root, as a read-only sandbox path would.
    for (setting, path) in [
        ("BORGBOX_SCHEDULES", "/proc/sys/borgbox-test/schedules.json"),
        ("BORGBOX_ALERTS", "/proc/sys/borgbox-test/alerts.json"),
        (
            "BORGBOX_AUTH_KEYS",
            "/proc/sys/borgbox-test/authorized_keys",
        ),
    ] {
        let (code, stderr) = serve(&[("BORGBOX_TOKEN", GOOD), (setting, path)]);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(setting), "{stderr}");
        assert!(stderr.contains("ReadWritePaths="), "{stderr}");
    }
}

#[test]
fn a_schedules_or_alerts_file_that_does_not_parse_refuses_to_start_and_stays() {
    for setting in ["BORGBOX_SCHEDULES", "BORGBOX_ALERTS"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("broken.json");
        std::fs::write(&file, "[{\"id\": 1,").unwrap();
        let (code, stderr) = serve(&[("BORGBOX_TOKEN", GOOD), (setting, file.to_str().unwrap())]);
        assert_ne!(code, 0, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("broken.json"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "[{\"id\": 1,");
    }
}

#[test]
fn a_short_token_refuses_to_start() {
    let (code, stderr) = serve(&[("BORGBOX_TOKEN", &GOOD[1..]), ("BORGBOX_ADDR", "x")]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("BORGBOX_TOKEN") && stderr.contains("at least 32"),
        "{stderr}"
    );
    assert!(!stderr.contains(&GOOD[1..]), "{stderr}");
}

#[test]
fn a_token_file_others_can_read_or_write_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{GOOD}\n")).unwrap();
    let token = format!("@{}", file.display());
    for mode in [0o644, 0o604, 0o602, 0o660, 0o666] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let (code, stderr) = serve(&[("BORGBOX_TOKEN", &token), ("BORGBOX_ADDR", "x")]);
        assert_eq!(code, 2, "{mode:o}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("BORGBOX_TOKEN") && stderr.contains("chmod"),
            "{mode:o}: {stderr}"
        );
        assert!(!stderr.contains(GOOD), "{stderr}");
    }
    // 0600 and the packaged 0640 (root:borg) pass the token check and fail later, on the
    // address.
    for mode in [0o600, 0o640, 0o400, 0o440] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        let (code, stderr) = serve(&[("BORGBOX_TOKEN", &token), ("BORGBOX_ADDR", "x")]);
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("BORGBOX_ADDR"), "{mode:o}: {stderr}");
    }
}

#[test]
fn a_repo_root_with_shell_metacharacters_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "a;b", "a$(id)", "a`id`", "a'b", "a\"b", "a*", "a?", "a b", "a\\b", "a\nb", "a&b", "a|b",
        "a<b", "a>b", "a(b)", "a#b", "~a", "a{b}", "a[b]", "a!b", "a\tb",
    ] {
        let root = dir.path().join(name);
        std::fs::create_dir(&root).unwrap();
        let (code, stderr) = serve(&[
            ("BORGBOX_TOKEN", GOOD),
            ("BORGBOX_REPO_ROOT", root.to_str().unwrap()),
            ("BORGBOX_ADDR", "x"),
        ]);
        assert_eq!(code, 2, "{name:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name:?}: {stderr}");
        assert!(stderr.contains("BORGBOX_REPO_ROOT"), "{name:?}: {stderr}");
    }
    // Letters, digits and . _ - + , : @ = are fine (fails later, on the address).
    let root = dir.path().join("srv_borg-1.4+x,y:z@h=v");
    std::fs::create_dir(&root).unwrap();
    let (_, stderr) = serve(&[
        ("BORGBOX_TOKEN", GOOD),
        ("BORGBOX_REPO_ROOT", root.to_str().unwrap()),
        ("BORGBOX_ADDR", "x"),
    ]);
    assert!(stderr.contains("BORGBOX_ADDR"), "{stderr}");
}
