//! Serving the router: the listener from systemd or BORGBOX_ADDR, readiness and stopping
//! notifications, idle exit when socket-activated, and shutdown on SIGTERM/SIGINT.

pub mod idle;
pub mod listener;
pub mod notify;

use std::time::Duration;

use axum::Router;

use self::idle::Activity;
use self::listener::{Listener, Socket};

/// How long connections get to finish once a SIGTERM shutdown has begun.
const DRAIN: Duration = Duration::from_secs(10);
/// The same after an idle exit: nothing is in flight by definition, so only a client that
/// stopped half-way through its request headers can be left, and it must not hold up the
/// exit while new connections wait in the socket's backlog for the next activation.
const IDLE_DRAIN: Duration = Duration::from_secs(1);

/// Why serving stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    Signal,
    Idle,
}

/// Serves `app` until SIGTERM/SIGINT or, with `idle_timeout`, until nothing has happened
/// for that long. In-flight requests finish; idle keep-alive connections are closed.
pub async fn run(
    listener: Listener,
    app: Router,
    idle_timeout: Option<Duration>,
    activity: Activity,
) -> anyhow::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        activity.clone(),
        idle::track,
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(Stop::Running);
    let idle = idle_timeout.map_or("no idle exit".to_owned(), |t| {
        format!("exits after {}s idle", t.as_secs())
    });
    notify::ready(&format!("serving on {}; {idle}", listener.describe()));
    let served = serve_with(listener, app, activity, idle_timeout, stop_tx);
    tokio::pin!(served);
    let mut stopping = stop_rx;
    let reason = tokio::select! {
        result = &mut served => return result,
        reason = stopping.wait_for(|s| *s != Stop::Running) => reason.map(|r| *r).unwrap_or(Stop::Signal),
    };
    let drain = if reason == Stop::Idle {
        IDLE_DRAIN
    } else {
        DRAIN
    };
    match tokio::time::timeout(drain, served).await {
        Ok(result) => result,
        Err(_) => {
            log::info!(
                "closing connections still open {}s after shutdown began",
                drain.as_secs()
            );
            Ok(())
        }
    }
}

async fn serve_with(
    listener: Listener,
    app: Router,
    activity: Activity,
    idle_timeout: Option<Duration>,
    stop: tokio::sync::watch::Sender<Stop>,
) -> anyhow::Result<()> {
    let stop = std::sync::Arc::new(stop);
    let mut stopped = stop.subscribe();
    let on_signal = stop.clone();
    let shutdown = async move {
        tokio::select! {
            _ = shutdown_signal() => { on_signal.send_replace(Stop::Signal); }
            _ = stopped.wait_for(|s| *s == Stop::Idle) => {}
        }
        notify::stopping();
    };
    match listener.socket {
        Socket::Tcp(l) => serve_on(l, app, activity, idle_timeout, stop, shutdown).await?,
        Socket::Unix(l) => serve_on(l, app, activity, idle_timeout, stop, shutdown).await?,
    }
    Ok(())
}

async fn serve_on<L>(
    inner: L,
    app: Router,
    activity: Activity,
    idle_timeout: Option<Duration>,
    stop: std::sync::Arc<tokio::sync::watch::Sender<Stop>>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: Sync + std::fmt::Debug,
{
    let listener = IdleListener {
        inner,
        activity,
        idle_timeout,
        stop,
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Takes the idle decision inside the accept loop, so that no connection is accepted
/// once borgbox has decided to exit: whatever arrives after that waits in the socket's
/// backlog and starts the next activation. An accepted connection counts as activity.
struct IdleListener<L> {
    inner: L,
    activity: Activity,
    idle_timeout: Option<Duration>,
    stop: std::sync::Arc<tokio::sync::watch::Sender<Stop>>,
}

impl<L: axum::serve::Listener> axum::serve::Listener for IdleListener<L>
where
    L::Addr: Sync,
{
    type Io = L::Io;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let idle = async {
            match self.idle_timeout {
                Some(timeout) => self.activity.idle(timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            connection = self.inner.accept() => {
                self.activity.touch();
                connection
            }
            _ = idle => {
                if let Some(timeout) = self.idle_timeout {
                    log::info!("idle for {}s, exiting", timeout.as_secs());
                }
                self.stop.send_replace(Stop::Idle);
                // axum stops calling accept once shutdown begins.
                std::future::pending().await
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

async fn shutdown_signal() {
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
