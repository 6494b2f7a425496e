//! HTTPS and plain HTTP on one port (issue 19): real TLS clients (rustls, curl, openssl),
//! HTTP/2 and HTTP/1.1, the plain-text policy from another address, reloading, and the
//! bad input of the issue.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::netns::NetNs;
use crate::support::{write_pair, Options, TestServer, TOKEN};
use borgbox::clock::Clock;
use borgbox::serve::Limits;
use borgbox::tls::Plaintext;

async fn tls_server() -> TestServer {
    TestServer::with(Options {
        tls: true,
        ..Options::default()
    })
    .await
}

/// A rustls client trusting only `server`'s certificate, offering `alpn`.
fn connector(server: &TestServer, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let pem = std::fs::read(&server.cert_path).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn name(host: &str) -> rustls_pki_types::ServerName<'static> {
    rustls_pki_types::ServerName::try_from(host.to_owned()).unwrap()
}

/// One HTTP/1.1 GET over `stream` (closing after it), and what came back.
async fn get_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    path: &str,
    host: &str,
) -> String {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut said = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut said)).await;
    String::from_utf8_lossy(&said).into_owned()
}

fn body_of(said: &str) -> Value {
    let body = said.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_same_port_answers_tls_and_plain_http_concurrently() {
    let server = tls_server().await;
    let client = server.https_client().build().unwrap();
    let https = async {
        let response = client
            .get(format!("{}/info", server.https_base()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    let (tls, plain) = tokio::join!(https, server.get("/info"));
    assert_eq!(tls.0, StatusCode::OK, "{}", tls.1);
    assert_eq!(plain.0, StatusCode::OK, "{}", plain.1);
    let summary = server.tls.as_ref().unwrap().summary();
    assert_eq!(tls.1["tls"]["enabled"], true, "{}", tls.1);
    assert_eq!(tls.1["tls"]["pubkey_sha256"], summary.pubkey_sha256);
    assert_eq!(
        tls.1["tls"]["cert_not_after"],
        borgbox::tls::rfc3339(summary.not_after)
    );
    assert_eq!(plain.1["tls"], tls.1["tls"]);
    // The expiry in /metrics.
    let text = client
        .get(format!("{}/metrics", server.https_base()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(&format!(
            "borgbox_tls_cert_not_after_seconds {}\n",
            summary.not_after
        )),
        "{text}"
    );
    // Many of each at once.
    let calls = (0..20).map(|i| {
        let client = client.clone();
        let server = &server;
        async move {
            if i % 2 == 0 {
                server.get("/info").await.0
            } else {
                let url = format!("{}/health", server.https_base());
                client.get(url).send().await.unwrap().status()
            }
        }
    });
    for status in futures_util::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_plain_server_says_tls_is_off_in_info() {
    let server = TestServer::new().await;
    let (status, info) = server.get("/info").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info["tls"],
        json!({"enabled": false, "cert_not_after": null, "pubkey_sha256": null})
    );
}

#[tokio::test]
async fn curl_with_the_certificate_or_the_pinned_key_gets_through() {
    let server = tls_server().await;
    let url = format!("{}/info", server.https_base());
    let pin = format!(
        "sha256//{}",
        server.tls.as_ref().unwrap().summary().pubkey_sha256
    );
    let auth = format!("Authorization: Bearer {TOKEN}");
    let cacert = server.cert_path.to_str().unwrap().to_owned();
    let runs: [Vec<&str>; 3] = [
        vec!["--cacert", &cacert],
        // Pinned by key, no CA check at all (what `borgbox tls show` suggests).
        vec!["--insecure", "--pinnedpubkey", &pin],
        vec!["--cacert", &cacert, "--tlsv1.2", "--tls-max", "1.2"],
    ];
    for args in runs {
        let out = tokio::task::spawn_blocking({
            let (url, auth) = (url.clone(), auth.clone());
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            move || {
                Command::new("curl")
                    .args(["-sS", "--fail", "-H", &auth])
                    .args(&args)
                    .arg(&url)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains(r#""enabled":true"#), "{said}");
    }
    // The wrong pin is refused by curl.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .args(["-sS", "--insecure", "--pinnedpubkey"])
            .arg("sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .arg(&url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
}

/// `openssl s_client` with `args` (trusting the server's certificate file), its stdin
/// closed at once; what it printed.
async fn s_client(server: &TestServer, args: &[&str]) -> String {
    let cert = server.cert_path.to_str().unwrap();
    let mut all = vec!["-CAfile", cert];
    all.extend_from_slice(args);
    s_client_bare(server, &all).await
}

async fn s_client_bare(server: &TestServer, args: &[&str]) -> String {
    let addr = server.addr();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &addr])
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn openssl_negotiates_h2_and_names_that_match_nothing_still_get_the_certificate() {
    let server = tls_server().await;
    let said = s_client(&server, &["-alpn", "h2"]).await;
    assert!(said.contains("ALPN protocol: h2"), "{said}");
    assert!(said.contains("Verify return code: 0 (ok)"), "{said}");
    let said = s_client(&server, &["-alpn", "http/1.1", "-tls1_2"]).await;
    assert!(said.contains("ALPN protocol: http/1.1"), "{said}");
    assert!(said.contains("Protocol  : TLSv1.2"), "{said}");
    let said = s_client(&server, &["-servername", "nothing.example"]).await;
    assert!(
        said.contains("CN=borgbox on localhost") || said.contains("CN = borgbox on localhost"),
        "{said}"
    );
    assert!(said.contains("TLSv1.3"), "{said}");
}

fn slow_borg(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("slow-borg");
    std::fs::write(&path, "#!/bin/sh\necho first\nsleep 1\necho last\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn a_job_streams_over_tls_on_h2_and_on_http1() {
    let scratch = tempfile::tempdir().unwrap();
    let server = TestServer::with(Options {
        tls: true,
        borg: Some(slow_borg(scratch.path())),
        ..Options::default()
    })
    .await;
    server.create_repo("r").await;
    std::fs::write(
        server.root().join("r/config"),
        "[repository]\nversion = 1\n",
    )
    .unwrap();
    for (h2, version) in [
        (true, reqwest::Version::HTTP_2),
        (false, reqwest::Version::HTTP_11),
    ] {
        let (status, job) = server.post("/repos/r/compact", json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let id = job["job_id"].as_str().unwrap();
        let builder = server.https_client();
        let client = if h2 { builder } else { builder.http1_only() }
            .build()
            .unwrap();
        let response = client
            .get(format!("{}/jobs/{id}/stream", server.https_base()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), version);
        let body = response.text().await.unwrap();
        assert!(
            body.contains(r#""line":"first""#) && body.contains(r#""line":"last""#),
            "{body}"
        );
        assert!(body.contains("event: end"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_loopback_refuses_plain_http_from_another_address_but_not_tls() {
    let ns = NetNs::new();
    let listener = ns.run(|| std::net::TcpListener::bind("10.219.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let server = TestServer::with(Options {
        tls: true,
        plaintext: Plaintext::Loopback,
        listener: Some(listener),
        ..Options::default()
    })
    .await;
    let host = addr.to_string();
    let plain = ns.socket_from("10.219.0.2").connect(addr).await.unwrap();
    let said = get_on(plain, "/api/v1/repos", &host).await;
    assert!(said.starts_with("HTTP/1.1 403"), "{said}");
    assert!(
        body_of(&said)["error"].as_str().unwrap().contains("https"),
        "{said}"
    );
    // The console over plain HTTP goes to https, path and query kept.
    let plain = ns.socket_from("10.219.0.2").connect(addr).await.unwrap();
    let said = get_on(plain, "/jobs?x=1", &host).await;
    assert!(said.starts_with("HTTP/1.1 308"), "{said}");
    assert!(
        said.to_ascii_lowercase()
            .contains(&format!("location: https://{host}/jobs?x=1\r\n")),
        "{said}"
    );
    // Over TLS from the same address: served.
    let tcp = ns.socket_from("10.219.0.2").connect(addr).await.unwrap();
    let tls = connector(&server, &[b"http/1.1"])
        .connect(name("10.219.0.1"), tcp)
        .await
        .unwrap();
    let said = get_on(tls, "/api/v1/info", &host).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    assert_eq!(body_of(&said)["tls"]["enabled"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_any_serves_another_address_but_redirects_its_console() {
    let ns = NetNs::new();
    let listener = ns.run(|| std::net::TcpListener::bind("10.219.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let _server = TestServer::with(Options {
        tls: true,
        listener: Some(listener),
        ..Options::default()
    })
    .await;
    let host = addr.to_string();
    let plain = ns.socket_from("10.219.0.2").connect(addr).await.unwrap();
    let said = get_on(plain, "/api/v1/info", &host).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    let plain = ns.socket_from("10.219.0.2").connect(addr).await.unwrap();
    let said = get_on(plain, "/", &host).await;
    assert!(said.starts_with("HTTP/1.1 308"), "{said}");
}

#[tokio::test]
async fn loopback_plain_http_is_served_whatever_the_setting() {
    let server = TestServer::with(Options {
        tls: true,
        plaintext: Plaintext::Off,
        ..Options::default()
    })
    .await;
    let (status, _) = server.get("/info").await;
    assert_eq!(status, StatusCode::OK);
    let page = server
        .client
        .get(format!("http://{}/", server.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "no redirect on loopback");
}

fn pin_of(server: &TestServer) -> String {
    server.tls.as_ref().unwrap().summary().pubkey_sha256
}

/// The public key pin of what a new TLS connection is served.
async fn served_pin(server: &TestServer) -> String {
    // Without -CAfile: the test writes broken files there.
    let out = s_client_bare(server, &[]).await;
    let pem_start = out
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let pem_end = out.find("-----END CERTIFICATE-----").unwrap() + 25;
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(&out.as_bytes()[pem_start..pem_end])
        .unwrap();
    borgbox::tls::x509::summarize(&der).unwrap().pubkey_sha256
}

#[tokio::test]
async fn reload_serves_a_new_pair_and_keeps_the_old_one_when_the_new_is_half_written() {
    let server = tls_server().await;
    let tls = server.tls.clone().unwrap();
    let first = pin_of(&server);
    assert_eq!(served_pin(&server).await, first);
    // A half-written certificate: refused, the old pair stays and is served.
    let pem = std::fs::read_to_string(&server.cert_path).unwrap();
    std::fs::write(&server.cert_path, &pem[..pem.len() / 2]).unwrap();
    assert!(tls.reload().is_err());
    assert_eq!(pin_of(&server), first);
    assert_eq!(served_pin(&server).await, first);
    // A new certificate whose key is not written yet: refused as a mismatch.
    let scratch = tempfile::tempdir().unwrap();
    let (new_cert, new_key) = (scratch.path().join("c"), scratch.path().join("k"));
    write_pair(&new_cert, &new_key);
    std::fs::copy(&new_cert, &server.cert_path).unwrap();
    let err = tls.reload().unwrap_err();
    assert!(format!("{err:#}").contains("does not belong"), "{err:#}");
    assert_eq!(served_pin(&server).await, first);
    // Both in place: served to new connections.
    std::fs::copy(&new_key, &server.key_path).unwrap();
    let summary = tls.reload().unwrap();
    assert_ne!(summary.pubkey_sha256, first);
    assert_eq!(served_pin(&server).await, summary.pubkey_sha256);
    let (_, info) = server.get("/info").await;
    assert_eq!(info["tls"]["pubkey_sha256"], summary.pubkey_sha256);
}

/// Bad input: none of it may disturb another connection.
async fn still_serves(server: &TestServer) {
    let client = server.https_client().build().unwrap();
    let response = client
        .get(format!("{}/health", server.https_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.get("/health").await.0, StatusCode::OK);
}

async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let mut said = Vec::new();
    let _ = tokio::time::timeout(within, stream.read_to_end(&mut said)).await;
    (said, started.elapsed())
}

#[tokio::test]
async fn garbage_after_a_tls_first_byte_is_closed() {
    let server = tls_server().await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"\x16GET / HTTP/1.1\r\nHost: x\r\n\r\n garbage garbage garbage")
        .await
        .unwrap();
    let (said, took) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        !String::from_utf8_lossy(&said).contains("HTTP/1.1"),
        "{said:?}"
    );
    still_serves(&server).await;
}

#[tokio::test]
async fn a_handshake_that_never_finishes_is_closed_at_the_first_byte_timeout() {
    let server = TestServer::with(Options {
        tls: true,
        limits: Limits {
            first_byte_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    // A record header announcing 512 bytes of ClientHello, and then nothing.
    stream
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    let (said, took) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(said.is_empty(), "{said:?}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    still_serves(&server).await;
}

/// Forwards 127.0.0.1:<returned port> to `to`, client bytes one at a time.
async fn one_byte_relay(to: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = TcpStream::connect(to).await.unwrap();
        server.set_nodelay(true).unwrap();
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        });
        let mut byte = [0u8; 1];
        while let Ok(1) = client_read.read(&mut byte).await {
            if server_write.write_all(&byte).await.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
    });
    port
}

#[tokio::test]
async fn a_client_hello_written_one_byte_at_a_time_is_served() {
    let server = tls_server().await;
    let port = one_byte_relay(server.addr()).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = connector(&server, &[b"http/1.1"])
        .connect(name("127.0.0.1"), tcp)
        .await
        .unwrap();
    let said = get_on(tls, "/api/v1/health", "127.0.0.1").await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
}

#[tokio::test]
async fn plain_bytes_inside_an_established_tls_session_close_it() {
    let server = tls_server().await;
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut tls = connector(&server, &[b"http/1.1"])
        .connect(name("127.0.0.1"), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Now plain HTTP straight onto the socket, under the TLS session.
    let (tcp, _) = tls.get_mut();
    tcp.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (said, took) = read_until_closed(tcp, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        !String::from_utf8_lossy(&said).contains("HTTP/1.1 200"),
        "{said:?}"
    );
    still_serves(&server).await;
}

#[tokio::test]
async fn a_tls_client_over_the_cap_gets_a_tls_alert_not_a_plain_503() {
    let server = TestServer::with(Options {
        tls: true,
        limits: Limits {
            max_connections: 1,
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let _held = TcpStream::connect(server.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let refused = connector(&server, &[b"h2"])
        .connect(name("127.0.0.1"), tcp)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("InternalError"), "{refused}");
    let said = s_client(&server, &[]).await;
    assert!(said.contains("alert internal error"), "{said}");
    assert!(!said.contains("HTTP/1.1 503"), "{said}");
}

fn borgbox() -> Command {
    Command::new(env!("CARGO_BIN_EXE_borgbox"))
}

/// `serve` on a pair that cannot be served: one line on stderr, and an exit.
fn refused_start(dir: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> String {
    let out = borgbox()
        .arg("serve")
        .env("BORGBOX_TOKEN", TOKEN)
        .env("BORGBOX_ADDR", "127.0.0.1:0")
        .env("BORGBOX_BACKEND", "process")
        .env("BORGBOX_REPO_ROOT", dir.join("repos"))
        .env("BORGBOX_AUTH_KEYS", dir.join("ssh/authorized_keys"))
        .env("BORGBOX_STATE_DIR", dir.join("state"))
        .env("BORGBOX_SCHEDULES", dir.join("schedules.json"))
        .env("BORGBOX_ALERTS", dir.join("alerts.json"))
        .env("BORGBOX_TLS_CERT", cert)
        .env("BORGBOX_TLS_KEY", key)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn serve_refuses_to_start_on_a_missing_or_mismatched_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let said = refused_start(dir.path(), &cert, &key);
    assert!(said.contains("cannot read certificate"), "{said}");
    write_pair(&cert, &key);
    let (other_cert, other_key) = (dir.path().join("c2"), dir.path().join("k2"));
    write_pair(&other_cert, &other_key);
    let said = refused_start(dir.path(), &cert, &other_key);
    assert!(said.contains("does not belong"), "{said}");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nMIIB").unwrap();
    let said = refused_start(dir.path(), &cert, &key);
    assert!(said.contains("cannot serve TLS"), "{said}");
}

#[tokio::test]
async fn sighup_makes_a_running_serve_take_the_new_pair() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    write_pair(&cert, &key);
    let first = borgbox::tls::x509::summarize(&borgbox::tls::read_certs(&cert).unwrap()[0])
        .unwrap()
        .pubkey_sha256;
    let serve = crate::support::Serve::start_with(
        dir.path(),
        &[
            ("BORGBOX_TLS", std::path::Path::new("on")),
            ("BORGBOX_TLS_CERT", &cert),
            ("BORGBOX_TLS_KEY", &key),
        ],
        std::process::Stdio::null(),
    );
    let pinned = |pin: String| {
        let url = format!("https://127.0.0.1:{}/api/v1/health", serve.port);
        move || {
            Command::new("curl")
                .args(["-sS", "--insecure", "--pinnedpubkey"])
                .arg(format!("sha256//{pin}"))
                .arg(url)
                .output()
                .unwrap()
                .status
                .success()
        }
    };
    assert!(pinned(first.clone())());
    write_pair(&cert, &key);
    let second = borgbox::tls::x509::summarize(&borgbox::tls::read_certs(&cert).unwrap()[0])
        .unwrap()
        .pubkey_sha256;
    let pid = nix::unistd::Pid::from_raw(serve.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pinned(second.clone())() {
        assert!(Instant::now() < deadline, "the new pair was never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!pinned(first)(), "the old pair is still served");
    // A second SIGHUP with a broken certificate: still alive, still the second pair.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pinned(second)());
}

#[test]
fn tls_init_refuses_to_overwrite_and_show_prints_what_curl_and_chromium_take() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("tls/cert.pem");
    let key = dir.path().join("tls/key.pem");
    let init = |force: bool| {
        let mut command = borgbox();
        command
            .args(["tls", "init", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key);
        if force {
            command.arg("--force");
        }
        command.output().unwrap()
    };
    let out = init(false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&key), mode(&cert)), (0o600, 0o644));
    let before = std::fs::read(&cert).unwrap();
    let out = init(false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        before,
        "overwritten without --force"
    );
    assert!(init(true).status.success());
    assert_ne!(std::fs::read(&cert).unwrap(), before);
    let out = borgbox()
        .args(["tls", "show", "--cert"])
        .arg(&cert)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    // What openssl computes for the same certificate.
    let pipeline = format!(
        "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        cert.display()
    );
    let pin = Command::new("sh").args(["-c", &pipeline]).output().unwrap();
    let pin = String::from_utf8_lossy(&pin.stdout).trim().to_owned();
    assert!(
        shown.contains(&format!("--pinnedpubkey 'sha256//{pin}'")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("--ignore-certificate-errors-spki-list={pin}")),
        "{shown}"
    );
    let fingerprint = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8_lossy(&fingerprint.stdout);
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap();
    assert!(shown.contains(fingerprint), "{shown}");
    assert!(shown.contains("localhost"), "{shown}");
    assert!(shown.contains("days left"), "{shown}");
}

#[test]
fn tls_show_reads_a_certificate_openssl_made() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("rsa.pem");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "10", "-subj",
        ])
        .arg("/CN=example.org/O=Example")
        .args(["-addext", "subjectAltName=DNS:example.org,IP:192.0.2.1"])
        .arg("-keyout")
        .arg(dir.path().join("rsa.key"))
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(status.status.success());
    let out = borgbox()
        .args(["tls", "show", "--cert"])
        .arg(&cert)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("subject:       CN=example.org, O=Example"),
        "{shown}"
    );
    assert!(
        shown.contains("names:         example.org, 192.0.2.1"),
        "{shown}"
    );
    assert!(
        shown.contains("(9 days left)") || shown.contains("(10 days left)"),
        "{shown}"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_the_header_timeout() {
    let server = TestServer::with(Options {
        tls: true,
        limits: Limits {
            header_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        ..Options::default()
    })
    .await;
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut tls = connector(&server, &[b"h2"])
        .connect(name("127.0.0.1"), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // The client preface and an empty SETTINGS frame, then nothing.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let started = Instant::now();
    let mut said = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut said)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "an idle h2 connection stayed {took:?}"
    );
    // Its frames ended with a GOAWAY (type 7).
    assert!(
        said.windows(2).any(|w| w[1] == 0x07 && w[0] == 0x08),
        "{said:?}"
    );
}

#[tokio::test]
async fn a_certificate_near_its_expiry_is_a_warning_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // Made 820 days ago: 5 days left of its 825.
    let then = borgbox::clock::SystemClock.now() - time::Duration::days(820);
    let (cert_pem, key_pem) = borgbox::tls::make::self_signed(
        &["localhost".to_owned()],
        &["127.0.0.1".parse().unwrap()],
        then,
    )
    .unwrap();
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    let log = dir.path().join("serve.log");
    let serve = crate::support::Serve::start_with(
        dir.path(),
        &[
            ("BORGBOX_TLS", std::path::Path::new("on")),
            ("BORGBOX_TLS_CERT", &cert),
            ("BORGBOX_TLS_KEY", &key),
        ],
        std::fs::File::create(&log).unwrap().into(),
    );
    drop(serve);
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("warn: the TLS certificate") && said.contains("days left"),
        "{said}"
    );
}
