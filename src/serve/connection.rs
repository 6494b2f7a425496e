//! One accepted connection: its first byte is awaited (bounded by the first-byte timeout);
//! a TLS ClientHello is served over TLS (HTTP/2 or HTTP/1.1 as ALPN says), anything else
//! as plain HTTP/1.1. Every request carries a `ConnInfo` saying which.

use std::io;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use super::{Limits, TLS_HANDSHAKE};
use crate::tls::Tls;

/// What a connection is served with.
#[derive(Clone)]
pub struct Serving {
    pub app: Router,
    pub limits: Limits,
    pub tls: Option<Arc<Tls>>,
}

/// How a request arrived, in its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    pub tls: bool,
    /// None for a unix socket.
    pub peer: Option<IpAddr>,
}

/// Streams one HTTP/2 connection may have open at once.
const H2_STREAMS: u32 = 32;
/// How long an idle HTTP/2 connection gets to acknowledge its GOAWAY.
const H2_GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// Serves one connection until it ends or (once `closing` turns true) its current request
/// is answered. A connection that sends nothing within the first-byte timeout (or the
/// header timeout, when shorter) is closed.
/// The TLS handshake counts against the same timeout: it must be over by then.
pub async fn serve<Io>(
    io: Io,
    peer: Option<IpAddr>,
    serving: Serving,
    closing: watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = serving.limits;
    let deadline = Instant::now() + limits.first_byte_timeout.min(limits.header_timeout);
    let Some(io) = first_byte(io, deadline).await else {
        return;
    };
    let tls = serving
        .tls
        .as_ref()
        .filter(|_| io.first() == Some(TLS_HANDSHAKE));
    let Some(tls) = tls else {
        let app = with_info(serving.app, ConnInfo { tls: false, peer });
        return serve_http1(io, app, limits.header_timeout, closing).await;
    };
    let stream = match tokio::time::timeout_at(deadline, tls.acceptor().accept(io)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return log::debug!("TLS handshake failed: {e}"),
        Err(_) => return log::debug!("TLS handshake not finished in time, closing"),
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let app = with_info(serving.app, ConnInfo { tls: true, peer });
    if h2 {
        serve_http2(stream, app, limits.header_timeout, closing).await;
    } else {
        serve_http1(stream, app, limits.header_timeout, closing).await;
    }
}

/// The router for one connection: puts its `ConnInfo` into every request and, for
/// HTTP/2, counts responses in flight.
#[derive(Clone)]
struct ConnService {
    app: Router,
    info: ConnInfo,
    in_flight: Option<InFlight>,
}

fn with_info(app: Router, info: ConnInfo) -> ConnService {
    ConnService {
        app,
        info,
        in_flight: None,
    }
}

impl tower::Service<hyper::Request<Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(self.info);
        // The 401 counts are kept per client address.
        request
            .extensions_mut()
            .insert(crate::api::ClientAddr(self.info.peer));
        let guard = self.in_flight.as_ref().map(InFlight::start);
        let answer = self.app.clone().oneshot(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(match guard {
                Some(guard) => response.map(|body| {
                    Body::new(Tracked {
                        body,
                        _guard: guard,
                    })
                }),
                None => response,
            })
        })
    }
}

/// Waits for the first byte, and gives it back in front of the rest; None when the client
/// closed or stayed silent.
pub async fn first_byte<Io>(mut io: Io, deadline: Instant) -> Option<Prefixed<Io>>
where
    Io: AsyncRead + Unpin,
{
    let mut byte = [0u8; 1];
    match tokio::time::timeout_at(deadline, io.read(&mut byte)).await {
        Ok(Ok(1)) => Some(Prefixed {
            first: Some(byte[0]),
            io,
        }),
        Ok(_) => None,
        Err(_) => {
            log::debug!("closing a connection that sent nothing in time");
            None
        }
    }
}

async fn serve_http1<Io>(
    io: Io,
    app: ConnService,
    header_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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

/// One HTTP/2 connection. HTTP/2 has no header timeout of its own in hyper, so the
/// connection is closed gracefully once no request has been in flight for
/// `idle_timeout` (a stream's response counts as in flight until its body ends).
async fn serve_http2<Io>(
    io: Io,
    app: ConnService,
    idle_timeout: Duration,
    mut closing: watch::Receiver<bool>,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let in_flight = InFlight::default();
    let app = ConnService {
        in_flight: Some(in_flight.clone()),
        ..app
    };
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_STREAMS);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(io), service));
    let idle = async {
        loop {
            let since = in_flight.idle_since();
            match since {
                Some(since) if since.elapsed() >= idle_timeout => break,
                Some(since) => tokio::time::sleep_until(since + idle_timeout).await,
                None => tokio::time::sleep(idle_timeout).await,
            }
        }
    };
    let closed = async move {
        let _ = closing.wait_for(|closing| *closing).await;
    };
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                log::debug!("HTTP/2 connection ended: {e}");
            }
            return;
        }
        _ = closed => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.as_mut().await;
            return;
        }
        _ = idle => {}
    }
    // GOAWAY, then a PING whose answer tells that the client saw it; a client that does
    // not answer in time is not waited for.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(H2_GOAWAY_GRACE, connection.as_mut()).await;
}

/// Responses of one connection not yet fully sent, and when the last one ended.
#[derive(Clone)]
struct InFlight(Arc<(AtomicUsize, Mutex<Instant>)>);

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Arc::new((AtomicUsize::new(0), Mutex::new(Instant::now()))))
    }
}

struct InFlightGuard(InFlight);

impl InFlight {
    fn start(&self) -> InFlightGuard {
        self.0 .0.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// None while a response is in flight.
    fn idle_since(&self) -> Option<Instant> {
        let last = *self.0 .1.lock().unwrap_or_else(|e| e.into_inner());
        (self.0 .0.load(Ordering::SeqCst) == 0).then_some(last)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        *self.0 .0 .1.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0 .0 .0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that holds its connection's in-flight count until it is dropped.
struct Tracked {
    body: Body,
    _guard: InFlightGuard,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
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
