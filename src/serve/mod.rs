//! Serving the router: the listener from systemd or BORGBOX_ADDR, readiness and stopping
//! notifications, idle exit when socket-activated, and shutdown on SIGTERM/SIGINT.

pub mod idle;
pub mod listener;
pub mod notify;

use std::future::Future;
use std::time::Duration;

use axum::Router;

use self::idle::Activity;
use self::listener::{Listener, Socket};

/// How long connections get to finish once shutdown has begun; a client that holds a
/// connection open without sending must not keep borgbox alive.
const DRAIN: Duration = Duration::from_secs(10);

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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        match idle_timeout {
            Some(timeout) => tokio::select! {
                _ = shutdown_signal() => {}
                _ = activity.idle(timeout) => log::info!("idle for {}s, exiting", timeout.as_secs()),
            },
            None => shutdown_signal().await,
        }
        notify::stopping();
        let _ = stop_tx.send(true);
    };
    let idle = idle_timeout.map_or("no idle exit".to_owned(), |t| {
        format!("exits after {}s idle", t.as_secs())
    });
    notify::ready(&format!("serving on {}; {idle}", listener.describe()));
    let served = serve_with(listener, app, shutdown);
    tokio::pin!(served);
    let mut stopping = stop_rx;
    tokio::select! {
        result = &mut served => return result,
        _ = stopping.wait_for(|s| *s) => {}
    }
    match tokio::time::timeout(DRAIN, served).await {
        Ok(result) => result,
        Err(_) => {
            log::warn!(
                "connections still open {}s after shutdown began; closing them",
                DRAIN.as_secs()
            );
            Ok(())
        }
    }
}

async fn serve_with(
    listener: Listener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match listener.socket {
        Socket::Tcp(l) => axum::serve(l, app).with_graceful_shutdown(shutdown).await?,
        Socket::Unix(l) => axum::serve(l, app).with_graceful_shutdown(shutdown).await?,
    }
    Ok(())
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
