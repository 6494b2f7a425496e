//! Socket activation and idle exit of the real binary, with systemd's own
//! `systemd-socket-activate` passing the listening socket (LISTEN_FDS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TOKEN;

struct Activated {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Activated {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn activate(idle_timeout: &str, extra_listen: bool) -> Activated {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg(format!("--listen=127.0.0.1:{port}"));
    if extra_listen {
        cmd.arg(format!(
            "--listen={}",
            dir.path().join("second.sock").display()
        ));
    }
    for (key, value) in [
        ("BORGBOX_TOKEN", TOKEN.to_owned()),
        ("BORGBOX_IDLE_TIMEOUT", idle_timeout.to_owned()),
        (
            "BORGBOX_REPO_ROOT",
            dir.path().join("repos").display().to_string(),
        ),
        (
            "BORGBOX_AUTH_KEYS",
            dir.path().join("ssh/authorized_keys").display().to_string(),
        ),
        (
            "BORGBOX_STATE_DIR",
            dir.path().join("state").display().to_string(),
        ),
        (
            "BORGBOX_SCHEDULES",
            dir.path().join("schedules.json").display().to_string(),
        ),
        (
            "BORGBOX_ALERTS",
            dir.path().join("alerts.json").display().to_string(),
        ),
    ] {
        cmd.env(key, &value).arg(format!("--setenv={key}"));
    }
    let child = cmd
        .arg(env!("CARGO_BIN_EXE_borgbox"))
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate (Debian package systemd) must be installed");
    // It binds before it forks nothing; wait until the port accepts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate never listened"
        );
        crate::support::pause();
    }
    Activated {
        child,
        port,
        _dir: dir,
    }
}

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /api/v1{path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        crate::support::pause();
    }
    None
}

#[test]
fn a_socket_activated_serve_answers_then_exits_when_idle() {
    let mut activated = activate("1", false);
    let response = get(activated.port, "/health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // An idle keep-alive connection must not pin the process.
    let idle_conn = TcpStream::connect(("127.0.0.1", activated.port)).unwrap();
    let started = Instant::now();
    let status = wait_exit(&mut activated.child, Duration::from_secs(20))
        .expect("serve did not exit when idle");
    assert!(status.success(), "{status}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    drop(idle_conn);
}

#[test]
fn idle_timeout_zero_never_exits() {
    let mut activated = activate("0", false);
    assert!(get(activated.port, "/info").starts_with("HTTP/1.1 200"));
    assert!(wait_exit(&mut activated.child, Duration::from_secs(3)).is_none());
}

#[test]
fn two_sockets_from_systemd_are_refused() {
    let mut activated = activate("1", true);
    // The first connection makes systemd-socket-activate exec borgbox.
    let _ = TcpStream::connect(("127.0.0.1", activated.port));
    let status =
        wait_exit(&mut activated.child, Duration::from_secs(10)).expect("serve kept running");
    assert!(!status.success());
    let mut stderr = String::new();
    activated
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("systemd passed 2 sockets"), "{stderr}");
}
