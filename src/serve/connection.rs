//! One accepted connection: its first byte is awaited (bounded by the first-byte timeout),
//! then it is served as HTTP/1.1.

use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tower::ServiceExt;

use super::Limits;
use crate::api::ClientAddr;

/// What a connection is served with.
#[derive(Clone)]
pub struct Serving {
    pub app: Router,
    pub limits: Limits,
}

/// Serves one connection until it ends or (once `closing` turns true) its current request
/// is answered. A connection that sends nothing within the first-byte timeout (or the
/// header timeout, when shorter) is closed.
pub async fn serve<Io>(io: Io, serving: Serving, client: ClientAddr, closing: watch::Receiver<bool>)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = serving.limits;
    let wait = limits.first_byte_timeout.min(limits.header_timeout);
    let Some(io) = first_byte(io, wait).await else {
        return;
    };
    serve_http1(
        io,
        serving.app,
        client,
        serving.limits.header_timeout,
        closing,
    )
    .await;
}

/// Waits for the first byte, and gives it back in front of the rest; None when the client
/// closed or stayed silent.
pub async fn first_byte<Io>(mut io: Io, timeout: Duration) -> Option<Prefixed<Io>>
where
    Io: AsyncRead + Unpin,
{
    let mut byte = [0u8; 1];
    match tokio::time::timeout(timeout, io.read(&mut byte)).await {
        Ok(Ok(1)) => Some(Prefixed {
            first: Some(byte[0]),
            io,
        }),
        Ok(_) => None,
        Err(_) => {
            log::debug!("closing a connection silent for {}s", timeout.as_secs());
            None
        }
    }
}

async fn serve_http1<Io>(
    io: Io,
    app: Router,
    client: ClientAddr,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Each request carries its client's address (the 401 counts are kept per address).
    let app = app.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(client);
        request
    });
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(io), service));
    let closed = async move {
        // Err: the server is gone, which means closing too.
        let _ = closing.wait_for(|closing| *closing).await;
    };
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                log::debug!("connection ended: {e}");
            }
        }
        _ = closed => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.as_mut().await;
        }
    }
}

/// A stream with its first byte, already read, put back in front.
pub struct Prefixed<Io> {
    first: Option<u8>,
    io: Io,
}

impl<Io> Prefixed<Io> {
    pub fn first(&self) -> Option<u8> {
        self.first
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Prefixed<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() > 0 {
            if let Some(byte) = self.first.take() {
                buf.put_slice(&[byte]);
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Prefixed<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
