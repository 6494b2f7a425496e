//! Shared pieces of the benchmarks: a tree of real borg repositories, the release
//! `borgbox serve` as a child process, and a minimal keep-alive HTTP/1.1 client so the
//! numbers measure borgbox, not a client library.

#![allow(
    dead_code,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "bench-token-0123456789abcdef0123456789ab";

/// A repo made by real `borg init`, plus `segments` segment files of 2 KiB under data/0.
pub fn borg_template(dir: &Path, segments: usize) -> PathBuf {
    let template = dir.join("template");
    let out = Command::new("borg")
        .args(["init", "--encryption=none"])
        .arg(&template)
        .env("BORG_BASE_DIR", dir.join("borg-base"))
        .output()
        .expect("borg must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..segments {
        std::fs::write(
            template.join(format!("data/0/{}", 100 + i)),
            vec![0u8; 2048],
        )
        .unwrap();
    }
    template
}

/// `count` copies of the template under `root` (cp -a keeps it a real borg layout).
pub fn make_tree(root: &Path, template: &Path, count: usize) {
    std::fs::create_dir_all(root).unwrap();
    for i in 0..count {
        let status = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(root.join(format!("repo-{i:04}")))
            .status()
            .unwrap();
        assert!(status.success());
    }
}

pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/release/deps/<bench> → target/release/borgbox
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("borgbox");
    assert!(
        bin.exists(),
        "build it first: cargo build --release ({})",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn spawn_server(dir: &Path, root: &Path, port: u16) -> Server {
    spawn_server_with(Command::new(binary()), dir, root, port)
}

/// As borgbox runs in production: an unprivileged account owning the tree, which matters
/// where serve looks at that account's processes (/sessions, metrics). As root, the tree
/// is handed to `nobody` and serve runs as `nobody`; otherwise as the current user.
pub fn spawn_unprivileged(dir: &Path, root: &Path, port: u16) -> Server {
    if !nix::unistd::Uid::effective().is_root() {
        return spawn_server(dir, root, port);
    }
    let status = Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    let mut setpriv = Command::new("setpriv");
    setpriv
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(binary());
    spawn_server_with(setpriv, dir, root, port)
}

/// `spawn_server` with more environment (a TLS pair, say).
pub fn spawn_server_env(dir: &Path, root: &Path, port: u16, env: &[(&str, &Path)]) -> Server {
    let mut command = Command::new(binary());
    command.envs(env.iter().map(|(k, v)| (*k, *v)));
    spawn_server_with(command, dir, root, port)
}

fn spawn_server_with(mut command: Command, dir: &Path, root: &Path, port: u16) -> Server {
    // Unless a bench says otherwise, not whatever /etc/borgbox/tls holds here.
    if !command.get_envs().any(|(k, _)| k == "BORGBOX_TLS") {
        command.env("BORGBOX_TLS", "off");
    }
    let child = command
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("BORGBOX_TOKEN", TOKEN)
        .env("BORGBOX_REPO_ROOT", root)
        .env("BORGBOX_AUTH_KEYS", dir.join("ssh/authorized_keys"))
        .env("BORGBOX_STATE_DIR", dir.join("state"))
        .env("BORGBOX_SCHEDULES", dir.join("schedules.json"))
        .env("BORGBOX_ALERTS", dir.join("alerts.json"))
        .env("BORGBOX_BACKEND", "process")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Server { child, port }
}

/// One keep-alive connection.
pub struct Http {
    reader: BufReader<TcpStream>,
}

impl Http {
    pub fn connect(port: u16) -> std::io::Result<Http> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        Ok(Http {
            reader: BufReader::new(stream),
        })
    }

    /// Sends a GET and returns (status, body length).
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, usize)> {
        let request = format!(
            "GET /api/v1{path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        );
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, length))
    }
}

/// Waits until the server answers /health; returns the time from `since`.
pub fn wait_ready(port: u16, since: Instant) -> Duration {
    loop {
        if let Ok(mut http) = Http::connect(port) {
            if let Ok((200, _)) = http.get("/health") {
                return since.elapsed();
            }
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "server did not start"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
