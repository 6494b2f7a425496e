//! The listening socket: the one systemd passes (LISTEN_FDS, TCP or unix stream), else
//! BORGBOX_ADDR bound by us.

use std::net::SocketAddr;

use anyhow::{bail, Context};

pub struct Listener {
    pub socket: Socket,
    /// Passed by systemd: borgbox may exit when idle and be started again.
    pub activated: bool,
}

pub enum Socket {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

impl Listener {
    pub fn describe(&self) -> String {
        match &self.socket {
            Socket::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Socket::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| "a unix socket".into()),
        }
    }
}

/// Takes exactly one socket from systemd, or binds `addr` when none was passed.
pub async fn from_systemd_or_bind(addr: &SocketAddr, dev: bool) -> anyhow::Result<Listener> {
    let mut fds = listenfd::ListenFd::from_env();
    match fds.len() {
        0 => {}
        1 => {
            if let Some(l) = fds
                .take_tcp_listener(0)
                .context("the socket from systemd is unusable")?
            {
                l.set_nonblocking(true)?;
                let socket = Socket::Tcp(tokio::net::TcpListener::from_std(l)?);
                return Ok(Listener {
                    socket,
                    activated: true,
                });
            }
            if let Some(l) = fds
                .take_unix_listener(0)
                .context("the socket from systemd is unusable")?
            {
                l.set_nonblocking(true)?;
                let socket = Socket::Unix(tokio::net::UnixListener::from_std(l)?);
                return Ok(Listener {
                    socket,
                    activated: true,
                });
            }
            bail!("the socket from systemd is neither a TCP nor a unix stream listener");
        }
        n => bail!("systemd passed {n} sockets; borgbox.socket must listen on exactly one"),
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("failed to listen on {addr} (BORGBOX_ADDR)"))?;
    if !dev {
        log::info!("not socket-activated; listening on {addr}");
    }
    Ok(Listener {
        socket: Socket::Tcp(listener),
        activated: false,
    })
}
