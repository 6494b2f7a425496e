//! Serving the router: our own accept loop over the listener from systemd or BORGBOX_ADDR,
//! with the limits that keep an unauthenticated client from starving the API (a timeout
//! for reading a request's headers, which also closes idle keep-alive connections, a
//! shorter one for a new connection's first byte, and caps on open connections, streams
//! included, overall and per client address), readiness and stopping notifications, idle
//! exit when socket-activated, and a graceful stop when `shutdown` resolves.

// The HTTP edge: here axum's types may be named (clippy.toml `disallowed-types`).
#![allow(clippy::disallowed_types)]

pub mod connection;
pub mod idle;
pub mod listener;
pub mod notify;
pub mod peers;
pub mod plaintext;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{watch, Semaphore};

use self::connection::Serving;
use self::listener::{Listener, Socket};
use self::peers::{Peer, PeerAddr, PerAddress};
use self::plaintext::Policy;
use crate::activity::Activity;
use crate::tls::{Plaintext, Tls};

/// How long connections get to finish once a SIGTERM shutdown has begun.
const DRAIN: Duration = Duration::from_secs(10);
/// The same after an idle exit: nothing is in flight by definition, so only a client that
/// stopped half-way through its request headers can be left, and it must not hold up the
/// exit while new connections wait in the socket's backlog for the next activation.
const IDLE_DRAIN: Duration = Duration::from_secs(1);
/// Connections refused at once rather than answered when this many refusals are already
/// being written (each holds a descriptor for up to `REFUSE_TIME`).
const MAX_REFUSING: usize = 256;
const REFUSE_TIME: Duration = Duration::from_secs(2);
/// How long a refusal waits for the first byte, to tell a TLS client from a plain one.
const REFUSE_SNIFF: Duration = Duration::from_millis(500);
/// The first byte of a TLS record carrying a handshake (a ClientHello).
pub const TLS_HANDSHAKE: u8 = 0x16;
/// A TLS alert record (TLS 1.0 framing, which every version reads before the handshake):
/// fatal, internal_error.
const TLS_OVERLOADED_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x50];

/// What one connection may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the moment a connection waits for a request (when it opens, and after each
    /// response on a keep-alive connection) until that request's headers are complete.
    /// A stream is exempt: while its response is written no request is awaited.
    pub header_timeout: Duration,
    /// Open connections, streams included; the excess gets a 503 and is closed.
    pub max_connections: usize,
    /// Open connections of one remote address (an IPv6 /64), within `max_connections`;
    /// loopback and unix-socket clients are exempt.
    pub per_address: usize,
    /// From accepting a connection until its first byte arrives: a silent socket holds a
    /// slot this long at most.
    pub first_byte_timeout: Duration,
}

impl Default for Limits {
    /// 30 s for headers (and idle keep-alive), 10 s for a first byte, 4,096 connections,
    /// 64 per address.
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(30),
            max_connections: 4096,
            per_address: 64,
            first_byte_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// The defaults, with connections capped at half the descriptor limit (at most 4,096),
    /// leaving the rest for borg, journalctl and files.
    pub fn for_this_process() -> Limits {
        Limits {
            max_connections: (raise_descriptor_limit() / 2).clamp(16, 4096) as usize,
            ..Limits::default()
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (at most 65,536) where allowed, and
/// returns the soft limit in force. The shipped unit sets LimitNOFILE= itself (and its
/// system call filter refuses setrlimit).
fn raise_descriptor_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    let wanted = hard.min(65_536);
    if wanted > soft && setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).is_ok() {
        return wanted;
    }
    soft
}

/// Why serving stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `shutdown` resolved (SIGTERM, SIGINT, a test).
    Shutdown,
    /// Nothing happened for the idle timeout.
    Idle,
}

/// TLS on the port, and where plain HTTP is answered.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// None: plain HTTP only.
    pub tls: Option<Arc<Tls>>,
    pub plaintext: Plaintext,
}

/// Serves `app` over plain HTTP only; see `run_secure`.
pub async fn run(
    listener: Listener,
    app: Router,
    idle_timeout: Option<Duration>,
    activity: Activity,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> Stop {
    let security = Security::default();
    run_secure(
        listener,
        app,
        idle_timeout,
        activity,
        limits,
        security,
        shutdown,
    )
    .await
}

/// Serves `app` until `shutdown` resolves or, with `idle_timeout`, until nothing has
/// happened for that long. In-flight requests finish; idle keep-alive connections close.
pub async fn run_secure(
    listener: Listener,
    app: Router,
    idle_timeout: Option<Duration>,
    activity: Activity,
    limits: Limits,
    security: Security,
    shutdown: impl Future<Output = ()> + Send,
) -> Stop {
    let policy = Policy::new(security.plaintext, security.tls.is_some());
    let app = app
        .layer(axum::middleware::from_fn_with_state(
            activity.clone(),
            idle::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            policy,
            plaintext::guard,
        ));
    let idle = idle_timeout.map_or("no idle exit".to_owned(), |t| {
        format!("exits after {}s idle", t.as_secs())
    });
    let tls = match &security.tls {
        Some(_) => "HTTPS and plain HTTP",
        None => "plain HTTP only",
    };
    notify::ready(&format!(
        "serving {tls} on {}; {idle}; at most {} connections, {} per address",
        listener.describe(),
        limits.max_connections,
        limits.per_address
    ));
    let serving = Serving {
        app,
        limits,
        tls: security.tls,
    };
    match listener.socket {
        Socket::Tcp(l) => {
            // Small writes (a handshake, an answer) leave at once rather than after
            // Nagle's wait for an acknowledgement.
            let l = l.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            serve_on(l, serving, activity, idle_timeout, shutdown).await
        }
        Socket::Unix(l) => serve_on(l, serving, activity, idle_timeout, shutdown).await,
    }
}

async fn serve_on<L>(
    mut listener: L,
    serving: Serving,
    activity: Activity,
    idle_timeout: Option<Duration>,
    shutdown: impl Future<Output = ()> + Send,
) -> Stop
where
    L: axum::serve::Listener,
    L::Addr: PeerAddr,
{
    let limits = serving.limits;
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = PerAddress::new(limits.per_address);
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    // Connections watch `closing`; each holds `alive` until it ends.
    let (closing, _) = watch::channel(false);
    let (alive, mut all_gone) = tokio::sync::mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    let stop = loop {
        let idle = async {
            match idle_timeout {
                Some(timeout) => activity.idle(timeout).await,
                None => std::future::pending().await,
            }
        };
        // The idle decision is taken here, after any waiting connection was accepted: once
        // borgbox decides to exit, whatever arrives waits in the socket's backlog and
        // starts the next activation.
        tokio::select! {
            biased;
            _ = &mut shutdown => break Stop::Shutdown,
            (io, addr) = listener.accept() => {
                activity.touch();
                let peer = Peer::of(addr.peer_ip());
                let Some(slot) = per_address.take(peer) else {
                    refuse(io, &refusing, "too many open connections from one address");
                    continue;
                };
                match open.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let connection = connection::serve(
                            io,
                            addr.peer_ip(),
                            serving.clone(),
                            closing.subscribe(),
                        );
                        let alive = alive.clone();
                        tokio::spawn(async move {
                            connection.await;
                            drop((permit, slot, alive));
                        });
                    }
                    Err(_) => refuse(io, &refusing, "too many open connections"),
                }
            }
            _ = idle => {
                if let Some(timeout) = idle_timeout {
                    log::info!("idle for {}s, exiting", timeout.as_secs());
                }
                break Stop::Idle;
            }
        }
    };
    notify::stopping();
    drop(listener);
    closing.send_replace(true);
    drop(alive);
    let drain = if stop == Stop::Idle {
        IDLE_DRAIN
    } else {
        DRAIN
    };
    if tokio::time::timeout(drain, all_gone.recv()).await.is_err() {
        log::info!(
            "closing connections still open {}s after stopping began",
            drain.as_secs()
        );
    }
    stop
}

/// Answers a connection over a cap and closes it, without reading what the client sent
/// beyond what closing cleanly takes: plain HTTP (or a client silent for a moment) gets a
/// JSON 503; a TLS ClientHello gets a TLS alert, since a 503 would be garbage to it.
fn refuse<Io>(mut io: Io, refusing: &Arc<Semaphore>, why: &'static str)
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Ok(permit) = refusing.clone().try_acquire_owned() else {
        // Even refusals are capped: drop it (the client sees the connection closed).
        return;
    };
    log::debug!("{why}, refusing one");
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSE_TIME, async {
            let mut first = [0u8; 1];
            let sniffed = tokio::time::timeout(REFUSE_SNIFF, io.read(&mut first)).await;
            if matches!(sniffed, Ok(Ok(1))) && first[0] == TLS_HANDSHAKE {
                io.write_all(&TLS_OVERLOADED_ALERT).await?;
            } else {
                let body = format!(r#"{{"error":"{why}, try again later"}}"#);
                let response = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                io.write_all(response.as_bytes()).await?;
            }
            io.shutdown().await?;
            // Read what the client sent, so closing does not reset the connection
            // before it has read the answer.
            let mut sink = [0u8; 4096];
            while io.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
        drop(permit);
    });
}

/// Resolves on SIGTERM or SIGINT: how `borgbox serve` is stopped.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::warn!("cannot listen for SIGTERM/SIGINT; stop borgbox with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM received, stopping"),
        _ = int.recv() => log::info!("SIGINT received, stopping"),
    }
}
