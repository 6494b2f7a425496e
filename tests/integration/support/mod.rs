//! TestServer: a borgbox API on 127.0.0.1:0 rooted in a temp dir, plus helpers for real
//! keys and real borg repositories.

#![allow(dead_code)]

pub mod netns;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use borgbox::activity::Activity;
use borgbox::api::{self, state::AppState};
use borgbox::clock::{Clock, SystemClock};
use borgbox::config::{ConfigArgs, Settings};
use borgbox::domain::ticker;
use borgbox::domain::Domain;
use borgbox::jobs::process::ProcessBackend;
use borgbox::jobs::record::JobStore;
use borgbox::serve::listener::{Listener, Socket};
use borgbox::serve::Limits;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789abcdef0123456789abcd";

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub domain: Arc<Domain>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
    /// Resolves to why serving stopped.
    pub stopped: Option<tokio::task::JoinHandle<borgbox::serve::Stop>>,
    /// With `Options::tls`: what is served, and where its files are.
    pub tls: Option<Arc<borgbox::tls::Tls>>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// How a TestServer is set up; `TestServer::new()` takes the defaults.
pub struct Options {
    pub clock: Arc<dyn Clock>,
    /// Run the process backend's ticker (schedules, alerts) at this cadence.
    pub ticker: Option<ticker::Cadence>,
    pub limits: Limits,
    pub idle_timeout: Option<std::time::Duration>,
    /// The webhook notifier's per-attempt timeout and back-off.
    pub webhook_timings: Option<(std::time::Duration, [std::time::Duration; 2])>,
    /// TZ for next_run, instead of UTC.
    pub zone: Option<&'static str>,
    /// Another program in borg's place (jobs with known output and timing).
    pub borg: Option<PathBuf>,
    /// Listen here instead of on 127.0.0.1:0 (an address in a test's network namespace).
    pub listener: Option<std::net::TcpListener>,
    /// Serve TLS too, with a certificate made for localhost, 127.0.0.1 and 10.219.0.1.
    pub tls: bool,
    pub plaintext: borgbox::tls::Plaintext,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            clock: Arc::new(SystemClock),
            ticker: None,
            limits: Limits {
                header_timeout: std::time::Duration::from_secs(30),
                max_connections: 4096,
                ..Limits::default()
            },
            idle_timeout: None,
            webhook_timings: None,
            zone: None,
            borg: None,
            listener: None,
            tls: false,
            plaintext: borgbox::tls::Plaintext::Any,
        }
    }
}

impl TestServer {
    pub async fn new() -> TestServer {
        TestServer::with(Options::default()).await
    }

    /// The real serve path (`serve::run`) on 127.0.0.1:0 with the process backend, rooted
    /// in a temp dir.
    pub async fn with(options: Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let args = ConfigArgs {
            token: Some(TOKEN.into()),
            addr: Some("127.0.0.1:0".into()),
            ssh_host: Some("backup.test".into()),
            ssh_user: Some("borg".into()),
            ..Default::default()
        }
        .rooted_at(dir.path());
        let mut settings = Settings::resolve(args).unwrap();
        if let Some(borg) = options.borg {
            settings.borg = borg;
        }
        settings.zone = match options.zone {
            Some(name) => borgbox::schedules::calendar::Zone::named(name).unwrap(),
            None => borgbox::schedules::calendar::Zone::utc(),
        };
        let clock = options.clock.clone();
        let activity = Activity::default();
        // Jobs run the real borgbox binary's exec-job.
        let backend = Arc::new(ProcessBackend::new(
            env!("CARGO_BIN_EXE_borgbox").into(),
            settings.child_env(),
            JobStore::new(&settings.state_dir),
            activity.clone(),
            clock.clone(),
        ));
        let notifier = match options.webhook_timings {
            Some((attempt, backoff)) => {
                borgbox::alerts::webhook::Notifier::with_timings(clock.clone(), attempt, backoff)
            }
            None => borgbox::alerts::webhook::Notifier::new(clock.clone()),
        };
        let domain = Arc::new(Domain::with_notifier(
            settings.clone(),
            clock,
            backend,
            notifier,
        ));
        let ticker = options
            .ticker
            .map(|cadence| tokio::spawn(ticker::run(domain.clone(), activity.clone(), cadence)));
        let cert_path = dir.path().join("tls/cert.pem");
        let key_path = dir.path().join("tls/key.pem");
        let tls = options.tls.then(|| {
            std::fs::create_dir_all(dir.path().join("tls")).unwrap();
            write_pair(&cert_path, &key_path);
            Arc::new(borgbox::tls::Tls::load(&cert_path, &key_path).unwrap())
        });
        let app = api::router(AppState::with_tls(
            domain.clone(),
            activity.clone(),
            tls.clone(),
        ));
        let listener = match options.listener {
            Some(listener) => {
                listener.set_nonblocking(true).unwrap();
                tokio::net::TcpListener::from_std(listener).unwrap()
            }
            None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let listener = Listener {
            socket: Socket::Tcp(listener),
            activated: options.idle_timeout.is_some(),
        };
        let security = borgbox::serve::Security {
            tls: tls.clone(),
            plaintext: options.plaintext,
        };
        let stopped = tokio::spawn(borgbox::serve::run_secure(
            listener,
            app,
            options.idle_timeout,
            activity,
            options.limits,
            security,
            async {
                let _ = rx.await;
            },
        ));
        TestServer {
            dir,
            base,
            client: reqwest::Client::new(),
            settings,
            domain,
            shutdown: Some(tx),
            ticker,
            stopped: Some(stopped),
            tls,
            cert_path,
            key_path,
        }
    }

    /// A client that trusts this server's certificate (and nothing else).
    pub fn https_client(&self) -> reqwest::ClientBuilder {
        let pem = std::fs::read(&self.cert_path).unwrap();
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
    }

    /// `https://127.0.0.1:<port>/api/v1`.
    pub fn https_base(&self) -> String {
        self.base.replacen("http://", "https://", 1)
    }

    /// A server whose clock reads `unix` until the test moves it.
    pub async fn at(unix: i64) -> (TestServer, Arc<ManualClock>) {
        let clock = ManualClock::at(unix);
        let server = TestServer::with(Options {
            clock: clock.clone(),
            ..Default::default()
        })
        .await;
        (server, clock)
    }

    /// The address the server listens on, `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        self.base
            .trim_start_matches("http://")
            .trim_end_matches("/api/v1")
            .to_owned()
    }

    pub fn root(&self) -> &Path {
        &self.settings.repo_root
    }

    pub fn auth_keys(&self) -> &Path {
        &self.settings.auth_keys
    }

    pub fn auth_keys_text(&self) -> String {
        std::fs::read_to_string(self.auth_keys()).unwrap_or_default()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Sends raw bytes as the body, for malformed-JSON and size tests.
    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .body(body);
        read(request.send().await.unwrap()).await
    }

    /// Creates a repo through the API with a fresh ed25519 key; returns the key line.
    pub async fn create_repo(&self, name: &str) -> String {
        let key = keygen(self.dir.path(), "ed25519", name);
        let (status, body) = self
            .post("/repos", serde_json::json!({"name": name, "pubkey": key}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        key
    }

    /// What borgbox manages on disk (repos, authorized_keys and its directory), without the
    /// `.lock` files every writer shares and never replaces: path → (mode, contents).
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
        let mut out = BTreeMap::new();
        let ssh_dir = self.auth_keys().parent().unwrap().to_path_buf();
        let mut stack = vec![self.root().to_path_buf(), ssh_dir];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "lock") {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                let contents = if meta.is_file() {
                    std::fs::read(&path).unwrap()
                } else {
                    Vec::new()
                };
                if meta.is_dir() {
                    stack.push(path.clone());
                }
                out.insert(path, (meta.mode(), contents));
            }
        }
        out
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
    }
}

/// A clock tests set by hand (schedules, alerts).
pub struct ManualClock(std::sync::Mutex<time::OffsetDateTime>);

impl ManualClock {
    pub fn at(unix: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock(std::sync::Mutex::new(
            time::OffsetDateTime::from_unix_timestamp(unix).unwrap(),
        )))
    }

    pub fn set(&self, unix: i64) {
        *self.0.lock().unwrap() = time::OffsetDateTime::from_unix_timestamp(unix).unwrap();
    }

    pub fn unix(&self) -> i64 {
        self.0.lock().unwrap().unix_timestamp()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> time::OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

/// A fresh public key line from the real ssh-keygen.
pub fn keygen(dir: &Path, kind: &str, comment: &str) -> String {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = dir.join(format!("key-{n}"));
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-N", "", "-C", comment, "-f"])
        .arg(&file)
        .args(["-t", kind]);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let status = cmd.status().expect("ssh-keygen must be installed");
    assert!(status.success());
    std::fs::read_to_string(file.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The fingerprint ssh-keygen prints for a public key line.
pub fn ssh_fingerprint(dir: &Path, key: &str) -> String {
    let file = dir.join(format!("fp-{}.pub", std::process::id()));
    std::fs::write(&file, key).unwrap();
    let out = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

/// Runs real borg against a local path with a passphrase in the environment.
pub fn borg(base: &Path, passphrase: &str, args: &[&str]) {
    let out = Command::new("borg")
        .args(args)
        .env("BORG_PASSPHRASE", passphrase)
        .env("BORG_BASE_DIR", base)
        .output()
        .expect("borg must be installed");
    assert!(
        out.status.success(),
        "borg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A short blocking pause for polling loops in synchronous tests.
#[allow(clippy::disallowed_methods)]
pub fn pause() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

pub const PASSPHRASE: &str = "correct horse battery staple";

/// A repokey-blake2 repository with two archives, made by real borg.
pub fn encrypted_repo(server: &TestServer, name: &str) {
    encrypted_repo_with(server, name, PASSPHRASE);
}

/// The same with its own passphrase: tests run in parallel, and a test that searches every
/// process for a passphrase must not find another test's borg setup.
pub fn encrypted_repo_with(server: &TestServer, name: &str, passphrase: &str) {
    let path = server.root().join(name);
    let path = path.to_str().unwrap();
    let base = server.dir.path().join("client-borg");
    let file = server.dir.path().join("file.txt");
    std::fs::write(&file, "hello").unwrap();
    borg(
        &base,
        passphrase,
        &["init", "--encryption=repokey-blake2", path],
    );
    borg(
        &base,
        passphrase,
        &[
            "create",
            "--comment",
            "first one",
            &format!("{path}::one"),
            file.to_str().unwrap(),
        ],
    );
    borg(
        &base,
        passphrase,
        &["create", &format!("{path}::two"), file.to_str().unwrap()],
    );
}

/// The pid of the real borg a job runs (its argv holds `kind` and the repo path).
pub async fn borg_pid(repo_path: &str, kind: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let has = |s: &str| args.contains(&s.as_bytes());
            if has(kind) && has(repo_path) && args.iter().any(|a| a.ends_with(b"borg")) {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no borg {kind} process for {repo_path}");
}

/// Whether `pid`'s SigCgt mask has SIGINT (signal 2, bit 1).
pub fn catches_sigint(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << 1) != 0)
}

/// A running job whose borg is held with SIGSTOP until `resume`.
pub struct Held {
    pub pid: i32,
}

impl Held {
    pub async fn new(repo_path: &str, kind: &str) -> Held {
        let pid = borg_pid(repo_path, kind).await;
        // Until Python catches SIGINT, SIGINT's default action would kill even a stopped
        // process: hold borg only once it catches SIGINT, as it does for its whole run.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !catches_sigint(pid) {
            assert!(Instant::now() < deadline, "borg {pid} never caught SIGINT");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        Held { pid }
    }

    pub fn resume(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGCONT);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.resume();
    }
}

/// `borgbox serve` as a process of its own (the process backend), rooted in `dir`, so it
/// can be signalled or killed.
pub struct Serve {
    pub child: std::process::Child,
    pub port: u16,
}

/// A fresh self-signed pair for localhost, 127.0.0.1 and 10.219.0.1 (a namespace's
/// server address), written over `cert` and `key`.
pub fn write_pair(cert: &Path, key: &Path) {
    let names = vec!["localhost".to_owned()];
    let addresses = vec!["127.0.0.1".parse().unwrap(), "10.219.0.1".parse().unwrap()];
    let (cert_pem, key_pem) =
        borgbox::tls::make::self_signed(&names, &addresses, SystemClock.now()).unwrap();
    std::fs::write(key, key_pem).unwrap();
    std::fs::write(cert, cert_pem).unwrap();
}

impl Serve {
    pub fn start(dir: &std::path::Path) -> Serve {
        Serve::start_with(dir, &[], std::process::Stdio::null())
    }

    /// Like `start`, with serve's log (its stderr) going to `log`.
    pub fn start_logging_to(dir: &std::path::Path, log: std::process::Stdio) -> Serve {
        Serve::start_with(dir, &[], log)
    }

    /// With more environment (`BORGBOX_TLS=on` and a pair, say).
    pub fn start_with(
        dir: &std::path::Path,
        env: &[(&str, &Path)],
        log: std::process::Stdio,
    ) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_borgbox"))
            .arg("serve")
            .env("BORGBOX_TOKEN", TOKEN)
            .env("BORGBOX_ADDR", format!("127.0.0.1:{port}"))
            .env("BORGBOX_BACKEND", "process")
            .env("BORGBOX_REPO_ROOT", dir.join("repos"))
            .env("BORGBOX_AUTH_KEYS", dir.join("ssh/authorized_keys"))
            .env("BORGBOX_STATE_DIR", dir.join("state"))
            .env("BORGBOX_SCHEDULES", dir.join("schedules.json"))
            .env("BORGBOX_ALERTS", dir.join("alerts.json"))
            // Whatever /etc/borgbox/tls holds on this machine.
            .env("BORGBOX_TLS", "off")
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "serve did not start");
            pause();
        }
        Serve { child, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/api/v1{path}", self.port)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
