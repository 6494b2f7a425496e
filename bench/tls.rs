//! HTTPS on the API port (issue 19): a new TLS connection to its first answer (GET /info,
//! ECDSA P-256, TLS 1.3) next to a new plain one; keep-alive GET /info over TLS and plain
//! with wrk, side by side; start-up with TLS on and off; RSS of an idle serve with TLS on.
//! Prints numbers; asserts nothing about time.
//!
//! Run: cargo build --release && cargo bench --bench tls   (wrk: apt-get install wrk)

#![allow(clippy::disallowed_methods, clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

const RUNS: usize = 300;

fn client_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // Every connection a full handshake, as a new client's first one.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// One GET /info on `stream`; the status.
fn get_info<S: Read + Write>(stream: S) -> u16 {
    let mut reader = BufReader::new(stream);
    let request = format!(
        "GET /api/v1/info HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    );
    reader.get_mut().write_all(request.as_bytes()).unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    status
}

fn new_connection_first_answer(port: u16, tls: Option<&Arc<rustls::ClientConfig>>) -> Duration {
    let started = Instant::now();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let status = match tls {
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
            get_info(rustls::StreamOwned::new(conn, tcp))
        }
        None => get_info(tcp),
    };
    assert_eq!(status, 200);
    started.elapsed()
}

fn wrk(url: &str) -> Option<f64> {
    let out = Command::new("wrk")
        .args(["-t2", "-c16", "-d5s", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Requests/sec:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repos");
    std::fs::create_dir_all(&root).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new(binary())
        .args(["tls", "init", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let tls_env: [(&str, &Path); 3] = [
        ("BORGBOX_TLS", Path::new("on")),
        ("BORGBOX_TLS_CERT", &cert),
        ("BORGBOX_TLS_KEY", &key),
    ];

    // Start-up, TLS on and off, alternately.
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        for tls in [true, false] {
            let port = free_port();
            let started = Instant::now();
            let env: &[(&str, &Path)] = if tls { &tls_env } else { &[] };
            let server = spawn_server_env(dir.path(), &root, port, env);
            let took = wait_ready(port, started);
            if tls {
                on.push(took)
            } else {
                off.push(took)
            }
            drop(server);
        }
    }
    println!(
        "serve exec -> first answer: TLS on p50 {}  p90 {}; TLS off p50 {}  p90 {}",
        ms(percentile(&mut on, 0.5)),
        ms(percentile(&mut on, 0.9)),
        ms(percentile(&mut off, 0.5)),
        ms(percentile(&mut off, 0.9))
    );

    let port = free_port();
    let server = spawn_server_env(dir.path(), &root, port, &tls_env);
    wait_ready(port, Instant::now());
    let config = client_config(&cert);
    let (mut tls, mut plain) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        tls.push(new_connection_first_answer(port, Some(&config)));
        plain.push(new_connection_first_answer(port, None));
    }
    println!(
        "new connection -> first answer (GET /info): TLS 1.3 p50 {}  p90 {}; plain p50 {}  p90 {}",
        ms(percentile(&mut tls, 0.5)),
        ms(percentile(&mut tls, 0.9)),
        ms(percentile(&mut plain, 0.5)),
        ms(percentile(&mut plain, 0.9))
    );

    std::thread::sleep(Duration::from_secs(1));
    println!(
        "RSS of serve with TLS on, idle after {} TLS and {} plain connections: {} KiB",
        RUNS,
        RUNS,
        rss_kib(server.child.id())
    );

    let plain_url = format!("http://127.0.0.1:{port}/api/v1/info");
    let tls_url = format!("https://127.0.0.1:{port}/api/v1/info");
    let mut rates = (Vec::new(), Vec::new());
    for _ in 0..2 {
        match (wrk(&plain_url), wrk(&tls_url)) {
            (Some(p), Some(t)) => {
                rates.0.push(p);
                rates.1.push(t);
            }
            _ => {
                println!("keep-alive req/s: wrk not found or failed (apt-get install wrk)");
                return;
            }
        }
    }
    let (p, t) = (
        rates.0.iter().sum::<f64>() / rates.0.len() as f64,
        rates.1.iter().sum::<f64>() / rates.1.len() as f64,
    );
    println!(
        "keep-alive GET /info, wrk -t2 -c16 -d5s, alternating twice: plain {p:.0} req/s, TLS {t:.0} req/s ({:.0} %)",
        t / p * 100.0
    );
    println!(
        "RSS of serve with TLS on after wrk: {} KiB",
        rss_kib(server.child.id())
    );
}
