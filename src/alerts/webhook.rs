//! Delivery of alert events to webhooks (API.md 12.4, 12.5): the only outbound HTTP in
//! borgbox. It owns the reqwest client (rustls with the system trust store, no redirects, no
//! proxy), the signature headers of each attempt, the retry policy and the mapping of
//! transport failures to short messages. It sends the body bytes it is given, reads the time
//! only from its `Clock` and waits only with `tokio::time`. It never reads a response body
//! (the status decides), and never logs or returns the secret or the full URL: a URL may carry
//! credentials or tokens, so failure texts are built from fixed words and the innermost
//! cause, never from reqwest's own message, which quotes the URL.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::iter;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, CONTENT_TYPE};
use reqwest::Url;

use super::sign;
use crate::clock::Clock;
use crate::config::Secret;

/// `User-Agent` of every attempt.
const USER_AGENT: &str = concat!("borgbox/", env!("CARGO_PKG_VERSION"));
/// Each attempt, from connecting to the response head (API.md 12.4).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The waits after the first and the second failed attempt; their count + 1 is the number of
/// attempts a `deliver` makes.
const BACKOFF: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(10)];
/// Failure reasons are cut to this many characters.
const MAX_REASON_CHARS: usize = 160;

const X_BORGBOX_SIGNATURE: HeaderName = HeaderName::from_static("x-borgbox-signature");
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// The payload of API.md 12.5, fields in that order, serialised once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Payload {
    /// `stale`, `recovered` or `test`.
    pub event: &'static str,
    pub repo: String,
    pub hostname: String,
    /// API.md 2.6 form, or `""` when the repo directory is missing.
    pub last_write: String,
    pub stale_after_hours: i64,
    pub hours_since_last_write: i64,
}

impl Payload {
    /// The body to send and sign: compact JSON, fields in declaration order.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Only strings and integers: serde_json cannot fail on them.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One event to deliver: the exact body bytes, the webhook-id shared by all its attempts.
/// Deliberately not `Debug`: `url` may carry credentials.
pub struct Delivery<'a> {
    pub url: &'a str,
    pub body: &'a [u8],
    /// `None`, or an empty secret, sends no signature headers.
    pub secret: Option<&'a Secret>,
    /// From `sign::new_message_id()`, once per event.
    pub message_id: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The receiver answered with a status outside 2xx.
    #[error("webhook returned {0}")]
    Status(u16),
    /// No response head within the attempt timeout, in whole seconds rounded up (production
    /// is 10 s; only tests use shorter timeouts, and 300 ms reads "1s").
    #[error("webhook timed out after {0}s")]
    TimedOut(u64),
    /// A coarse reason (`could not connect`, `connection closed`, `tls: handshake failed`…),
    /// never the URL, the secret or which socket error it was (that goes to the log).
    #[error("webhook request failed: {0}")]
    Request(String),
}

/// Sends deliveries; cheap to clone (the connection settings are shared).
#[derive(Clone)]
pub struct Notifier {
    /// Built at the first delivery: loading the system trust store takes milliseconds
    /// that every start of `serve` would pay otherwise. The reason as text when it could
    /// not be built (no usable trust store).
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
    clock: Arc<dyn Clock>,
    attempt_timeout: Duration,
    backoff: [Duration; 2],
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("attempt_timeout", &self.attempt_timeout)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed, and whether another attempt may help.
#[derive(Debug)]
struct Failure {
    error: DeliveryError,
    retry: bool,
}

impl Notifier {
    /// 10 s per attempt, back-off 2 s then 10 s, User-Agent borgbox/<version>, no redirects,
    /// rustls with the system trust store.
    pub fn new(clock: Arc<dyn Clock>) -> Notifier {
        Notifier::with_timings(clock, ATTEMPT_TIMEOUT, BACKOFF)
    }

    /// The same with other timings (tests only shorten them).
    pub fn with_timings(
        clock: Arc<dyn Clock>,
        attempt_timeout: Duration,
        backoff: [Duration; 2],
    ) -> Notifier {
        Notifier {
            client: std::sync::OnceLock::new(),
            clock,
            attempt_timeout,
            backoff,
        }
    }

    fn client(&self) -> &Result<reqwest::Client, String> {
        let attempt_timeout = self.attempt_timeout;
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .use_rustls_tls()
                .tls_built_in_native_certs(true)
                .user_agent(USER_AGENT)
                .redirect(reqwest::redirect::Policy::none())
                // API.md 12.4 posts to the URL itself; HTTP(S)_PROXY in the environment of a
                // daemon is an accident more often than a wish.
                .no_proxy()
                // Deliveries are minutes apart: a pooled connection would only be a stale one.
                .pool_max_idle_per_host(0)
                // The same bound as the `tokio::time::timeout` around `send` below, which is
                // the one the tests see; reqwest reports its own expiry as a timeout as well.
                .timeout(attempt_timeout)
                .build()
                .map_err(|err| format!("tls: {}", innermost(&err)))
        })
    }

    /// stale/recovered: up to 3 attempts; retries only after a transport error (resolution,
    /// connect, TLS, timeout, reset) or 408/429/5xx; any other non-2xx fails at once.
    pub async fn deliver(&self, delivery: &Delivery<'_>) -> Result<(), DeliveryError> {
        let attempts = self.backoff.len() + 1;
        let mut attempt = 1;
        loop {
            let failure = match self.try_once(delivery).await {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let Some(wait) = retry_delay(&self.backoff, attempt, failure.retry) else {
                return Err(failure.error);
            };
            log::debug!(
                "webhook attempt {attempt} of {attempts} failed, retrying in {}s: {}",
                wait.as_secs_f64(),
                failure.error
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// POST /alerts/{id}/test: one attempt, no retry.
    pub async fn attempt(&self, delivery: &Delivery<'_>) -> Result<(), DeliveryError> {
        self.try_once(delivery)
            .await
            .map_err(|failure| failure.error)
    }

    async fn try_once(&self, delivery: &Delivery<'_>) -> Result<(), Failure> {
        let client = self.client().as_ref().map_err(|reason| Failure {
            error: DeliveryError::Request(reason.clone()),
            retry: false,
        })?;
        // url::ParseError says what is wrong without quoting the URL.
        let url = Url::parse(delivery.url).map_err(|err| Failure {
            error: DeliveryError::Request(format!("invalid url: {err}")),
            retry: false,
        })?;
        let mut request = client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(delivery.body.to_vec());
        if let Some(secret) = delivery
            .secret
            .map(Secret::expose)
            .filter(|s| !s.is_empty())
        {
            let timestamp = self.clock.now().unix_timestamp();
            request = request
                .header(
                    X_BORGBOX_SIGNATURE,
                    sign::borgbox_signature(secret, delivery.body),
                )
                .header(WEBHOOK_ID, delivery.message_id)
                .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
                .header(
                    WEBHOOK_SIGNATURE,
                    sign::standard_signature(secret, delivery.message_id, timestamp, delivery.body),
                );
        }
        let response = match tokio::time::timeout(self.attempt_timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => return Err(self.transport_failure(&err, &url)),
            Err(_elapsed) => {
                return Err(Failure {
                    error: self.timed_out(),
                    retry: true,
                })
            }
        };
        // Only the head has been read; dropping the response closes the connection without
        // reading the body, however large or broken it is.
        let status = response.status().as_u16();
        drop(response);
        if (200..=299).contains(&status) {
            Ok(())
        } else {
            Err(Failure {
                error: DeliveryError::Status(status),
                retry: retryable_status(status),
            })
        }
    }

    fn timed_out(&self) -> DeliveryError {
        DeliveryError::TimedOut(whole_seconds_up(self.attempt_timeout))
    }

    /// A failed `send`: everything but a request reqwest refused to build is a transport
    /// error, worth another attempt.
    fn transport_failure(&self, err: &reqwest::Error, url: &Url) -> Failure {
        if err.is_timeout() {
            return Failure {
                error: self.timed_out(),
                retry: true,
            };
        }
        let detail = scrub(&reason(err, url.scheme() == "https"), url);
        // The detail (which socket error, which TLS alert) goes to the log only: in an
        // answer it would make POST /alerts/{id}/test a scanner of the server's network.
        log::warn!(
            "webhook request to {} failed: {detail}",
            url.host_str().unwrap_or("?")
        );
        if err.is_builder() {
            return Failure {
                error: DeliveryError::Request("invalid request".to_owned()),
                retry: false,
            };
        }
        Failure {
            error: DeliveryError::Request(coarse(err, &detail).to_owned()),
            retry: true,
        }
    }
}

/// The wait after failed attempt number `failed` (1-based), or `None` when the delivery
/// gives up: after a failure not worth retrying, or once every wait has been used.
fn retry_delay(backoff: &[Duration; 2], failed: usize, retryable: bool) -> Option<Duration> {
    if !retryable {
        return None;
    }
    backoff.get(failed.checked_sub(1)?).copied()
}

/// 408, 429 and 5xx may pass; any other failure status means the webhook is misconfigured.
fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

fn whole_seconds_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// The errors under `err`, outermost first. `io::Error::source` skips the error it wraps, so
/// the wrapped one is followed explicitly (rustls' errors arrive wrapped twice).
fn causes<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    iter::successors(Some(err), |&e| next_cause(e)).skip(1)
}

fn next_cause<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match err.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(inner) => Some(inner as &(dyn StdError + 'static)),
        None => err.source(),
    }
}

/// The innermost cause's text, or a fixed word when there is none.
fn innermost(err: &reqwest::Error) -> String {
    causes(err)
        .last()
        .map_or_else(|| "unknown error".to_owned(), |e| e.to_string())
}

/// The reason an answer gives for a failed `send`: a few fixed words, from the `reason`
/// that the log gets.
fn coarse(err: &reqwest::Error, detail: &str) -> &'static str {
    if detail.starts_with("tls: ") {
        if detail.contains("certificate") {
            "tls: certificate not accepted"
        } else {
            "tls: handshake failed"
        }
    } else if err.is_connect() {
        "could not connect"
    } else if causes(err).any(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse() || h.is_parse_status())
            // hyper's words for a peer that spoke before the request was answered.
            || e.to_string() == "received unexpected message from connection"
    }) {
        "not an HTTP answer"
    } else {
        "connection closed"
    }
}

/// A short reason for a failed `send`, for the log: fixed words for the usual socket failures, else the
/// innermost cause (hyper's, rustls', the resolver's), prefixed with `tls: ` or
/// `dns error: ` when that is where it failed.
fn reason(err: &reqwest::Error, https: bool) -> String {
    let ios: Vec<&io::Error> = causes(err)
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .collect();
    for io in ios.iter().rev() {
        let fixed = match io.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused",
            io::ErrorKind::ConnectionReset => "connection reset",
            io::ErrorKind::ConnectionAborted => "connection aborted",
            io::ErrorKind::BrokenPipe => "connection closed while sending",
            io::ErrorKind::UnexpectedEof => "connection closed",
            io::ErrorKind::HostUnreachable => "host unreachable",
            io::ErrorKind::NetworkUnreachable => "network unreachable",
            io::ErrorKind::AddrNotAvailable => "address not available",
            _ => continue,
        };
        return fixed.to_owned();
    }
    let inner = innermost(err);
    // tokio-rustls reports every TLS failure (handshake, certificate, alert, garbage where
    // a record was due) as InvalidData.
    if https && ios.iter().any(|io| io.kind() == io::ErrorKind::InvalidData) {
        return format!("tls: {inner}");
    }
    // hyper-util's connector names the resolver step this way.
    if causes(err).any(|e| e.to_string() == "dns error") {
        return format!("dns error: {inner}");
    }
    inner
}

/// Removes from `text` whatever of `url` could be a credential (the whole URL, its path and
/// query, the user info), drops control characters and caps the length. The host stays:
/// it names the receiver and is no secret. This is a second line of defence (the causes
/// `reason` reads do not quote the URL), so pieces shorter than 4 characters are left alone
/// rather than replaced all through the text.
fn scrub(text: &str, url: &Url) -> String {
    let path_and_query = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let pieces = [
        url.as_str(),
        &path_and_query,
        url.query().unwrap_or(""),
        url.fragment().unwrap_or(""),
        url.password().unwrap_or(""),
        url.username(),
    ];
    let mut text = text.to_owned();
    for piece in pieces {
        if piece.chars().count() >= 4 {
            text = text.replace(piece, "…");
        }
    }
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Mutex;

    use time::OffsetDateTime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::{JoinHandle, JoinSet};
    use tokio::time::Instant;

    /// The Standard Webhooks specification's example secret; the key of `webhook-signature`
    /// is its remainder base64-decoded:
    /// `printf %s MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | openssl base64 -d -A | xxd -p`.
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const WHSEC_KEY_HEX: &str = "31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0";
    const MSG_ID: &str = "msg_00112233445566778899aabb";
    /// 2026-04-15T02:11:00Z, the first instant the test clock reports.
    const T0: i64 = 1_776_219_060;

    /// Reports T0, T0 + 1 s, T0 + 2 s, … on successive calls, so each attempt's timestamp
    /// shows that the clock was read at that attempt.
    struct SteppingClock(AtomicI64);

    impl Clock for SteppingClock {
        fn now(&self) -> OffsetDateTime {
            let secs = self.0.fetch_add(1, Ordering::SeqCst);
            OffsetDateTime::from_unix_timestamp(secs).unwrap()
        }
    }

    fn clock() -> Arc<dyn Clock> {
        Arc::new(SteppingClock(AtomicI64::new(T0)))
    }

    /// Real sockets and real time: a generous attempt timeout, tiny back-offs.
    fn fast_notifier() -> Notifier {
        Notifier::with_timings(
            clock(),
            Duration::from_secs(5),
            [Duration::from_millis(10), Duration::from_millis(10)],
        )
    }

    fn payload() -> Payload {
        Payload {
            event: "stale",
            repo: "mac".to_owned(),
            hostname: "hive.local".to_owned(),
            last_write: "2026-04-15T02:11:00Z".to_owned(),
            stale_after_hours: 26,
            hours_since_last_write: 48,
        }
    }

    fn delivery<'a>(url: &'a str, body: &'a [u8], secret: Option<&'a Secret>) -> Delivery<'a> {
        Delivery {
            url,
            body,
            secret,
            message_id: MSG_ID,
        }
    }

    /// What a scripted receiver does with a request it has read in full.
    #[derive(Debug, Clone)]
    enum Reply {
        /// That status, an empty body.
        Status(u16),
        /// 301 with this `Location`.
        Redirect(String),
        /// Closes the connection without answering (FIN).
        Close,
        /// Resets the connection without answering (RST).
        Reset,
        /// Keeps the connection open and never answers.
        Hang,
        /// 200 announcing a 1 GiB body, then streams zeros for as long as the client reads.
        Huge,
        /// 200 announcing 1000 bytes, sends 10, closes.
        Truncated,
    }

    #[derive(Debug, Clone)]
    struct Request {
        request_line: String,
        /// Lower-case names, in arrival order.
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        at: Instant,
    }

    impl Request {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        fn header_names(&self) -> Vec<&str> {
            let mut names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
            names.sort_unstable();
            names
        }
    }

    #[derive(Default)]
    struct Log {
        requests: Vec<Request>,
        /// Bytes of body a `Huge` reply wrote before the client went away.
        huge_sent: Vec<u64>,
    }

    /// A hand-written HTTP/1.1 receiver on 127.0.0.1: records each request and answers the
    /// n-th one with `script[n]` (the last entry repeats). Dropping it closes everything.
    struct Receiver {
        url: String,
        log: Arc<Mutex<Log>>,
        task: JoinHandle<()>,
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl Receiver {
        async fn start(script: Vec<Reply>) -> Receiver {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", listener.local_addr().unwrap());
            let log = Arc::new(Mutex::new(Log::default()));
            let task_log = Arc::clone(&log);
            let task = tokio::spawn(async move {
                // Owned here, so aborting the accept loop also ends every connection.
                let mut connections = JoinSet::new();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    connections.spawn(serve(stream, script.clone(), Arc::clone(&task_log)));
                }
            });
            Receiver { url, log, task }
        }

        fn requests(&self) -> Vec<Request> {
            self.log.lock().unwrap().requests.clone()
        }

        fn count(&self) -> usize {
            self.log.lock().unwrap().requests.len()
        }
    }

    async fn serve(mut stream: TcpStream, script: Vec<Reply>, log: Arc<Mutex<Log>>) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let reply = {
            let mut log = log.lock().unwrap();
            log.requests.push(request);
            script[(log.requests.len() - 1).min(script.len() - 1)].clone()
        };
        match reply {
            Reply::Status(code) => {
                let length = if code == 204 || code == 304 {
                    ""
                } else {
                    "content-length: 0\r\n"
                };
                let head = format!("HTTP/1.1 {code} Scripted\r\n{length}connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            Reply::Redirect(location) => {
                let head = format!(
                    "HTTP/1.1 301 Moved Permanently\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            Reply::Close => drop(stream),
            Reply::Reset => {
                stream.set_zero_linger().unwrap();
                drop(stream);
            }
            Reply::Hang => {
                std::future::pending::<()>().await;
            }
            Reply::Huge => {
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n";
                let mut sent = 0u64;
                if stream.write_all(head.as_bytes()).await.is_ok() {
                    let chunk = vec![b'0'; 64 * 1024];
                    while sent < 1 << 30 && stream.write_all(&chunk).await.is_ok() {
                        sent += chunk.len() as u64;
                    }
                }
                log.lock().unwrap().huge_sent.push(sent);
            }
            Reply::Truncated => {
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789";
                let _ = stream.write_all(head.as_bytes()).await;
                drop(stream);
            }
        }
    }

    /// Reads one request: head up to the blank line, then `content-length` bytes of body.
    async fn read_request(stream: &mut TcpStream) -> Option<Request> {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 || buf.len() > 64 * 1024 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let at = Instant::now();
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Some(Request {
            request_line,
            headers,
            body,
            at,
        })
    }

    /// A port nothing listens on (bound, then released).
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// Runs `openssl` with `args`, feeding `stdin`; its stdout.
    async fn openssl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let mut child = tokio::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl must be installed to check signatures");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).await.unwrap();
        drop(input);
        let output = child.wait_with_output().await.unwrap();
        assert!(output.status.success(), "openssl {args:?} failed");
        output.stdout
    }

    /// The two signatures as an independent implementation (OpenSSL) computes them from the
    /// bytes the receiver got: `sha256=<hex>` keyed with the secret's UTF-8 bytes, and
    /// `v1,<base64>` over `<id>.<timestamp>.<body>` keyed with `standard_key_hex`.
    async fn openssl_signatures(
        secret: &str,
        standard_key_hex: &str,
        id: &str,
        timestamp: &str,
        body: &[u8],
    ) -> (String, String) {
        // `-r` prints "<hex> *stdin".
        let hex = openssl(&["dgst", "-sha256", "-r", "-hmac", secret], body).await;
        let hex = String::from_utf8(hex).unwrap();
        let hex = hex.split_whitespace().next().unwrap().to_owned();

        let mut signed = format!("{id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        let macopt = format!("hexkey:{standard_key_hex}");
        let mac = openssl(
            &[
                "dgst", "-sha256", "-mac", "HMAC", "-macopt", &macopt, "-binary",
            ],
            &signed,
        )
        .await;
        let b64 = openssl(&["base64", "-A"], &mac).await;
        let b64 = String::from_utf8(b64).unwrap();
        (format!("sha256={hex}"), format!("v1,{}", b64.trim()))
    }

    fn hex_of(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn payload_serialises_as_api_md_shows_it() {
        assert_eq!(
            String::from_utf8(payload().to_bytes()).unwrap(),
            r#"{"event":"stale","repo":"mac","hostname":"hive.local","last_write":"2026-04-15T02:11:00Z","stale_after_hours":26,"hours_since_last_write":48}"#
        );
    }

    #[test]
    fn production_timings_and_timeout_message() {
        let notifier = Notifier::new(clock());
        assert_eq!(notifier.attempt_timeout, Duration::from_secs(10));
        assert_eq!(
            notifier.backoff,
            [Duration::from_secs(2), Duration::from_secs(10)]
        );
        assert_eq!(
            notifier.timed_out().to_string(),
            "webhook timed out after 10s"
        );
        assert_eq!(whole_seconds_up(Duration::from_millis(300)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(10_001)), 11);
        assert_eq!(USER_AGENT, format!("borgbox/{}", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn retry_schedule_is_2s_then_10s_then_give_up() {
        assert_eq!(retry_delay(&BACKOFF, 1, true), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_delay(&BACKOFF, 2, true),
            Some(Duration::from_secs(10))
        );
        assert_eq!(retry_delay(&BACKOFF, 3, true), None);
        assert_eq!(retry_delay(&BACKOFF, 1, false), None);
    }

    #[test]
    fn only_408_429_and_5xx_are_retried() {
        for status in 100..=999 {
            let expected = status == 408 || status == 429 || (500..600).contains(&status);
            assert_eq!(retryable_status(status), expected, "{status}");
        }
    }

    #[test]
    fn scrub_removes_url_parts_and_control_characters() {
        let url =
            Url::parse("https://alice:hunter22@hooks.example/t/0ken123?key=s3cret#frag").unwrap();
        let text = format!(
            "failed for {} at /t/0ken123?key=s3cret by alice: hunter22\nx",
            url
        );
        let scrubbed = scrub(&text, &url);
        for secret in ["0ken123", "s3cret", "hunter22", "alice", "frag", "\n"] {
            assert!(!scrubbed.contains(secret), "{secret:?} in {scrubbed:?}");
        }
        assert!(scrubbed.contains("failed for"));
        assert_eq!(
            scrub(&"x".repeat(500), &url).chars().count(),
            MAX_REASON_CHARS
        );
    }

    #[tokio::test]
    async fn signed_delivery_sends_exact_headers_and_signatures_openssl_verifies() {
        let receiver = Receiver::start(vec![
            Reply::Status(500),
            Reply::Status(500),
            Reply::Status(200),
        ])
        .await;
        let body = payload().to_bytes();
        let secret = Secret::new(WHSEC.to_owned());
        fast_notifier()
            .deliver(&delivery(&receiver.url, &body, Some(&secret)))
            .await
            .unwrap();

        let requests = receiver.requests();
        assert_eq!(requests.len(), 3, "500, 500, 200: three attempts");
        for (n, request) in requests.iter().enumerate() {
            assert_eq!(request.request_line, "POST /hook HTTP/1.1");
            assert_eq!(request.body, body, "the exact bytes");
            assert_eq!(
                request.header_names(),
                [
                    "accept",
                    "content-length",
                    "content-type",
                    "host",
                    "user-agent",
                    "webhook-id",
                    "webhook-signature",
                    "webhook-timestamp",
                    "x-borgbox-signature",
                ]
            );
            assert_eq!(request.header("content-type"), Some("application/json"));
            let user_agent = format!("borgbox/{}", env!("CARGO_PKG_VERSION"));
            assert_eq!(request.header("user-agent"), Some(user_agent.as_str()));
            assert_eq!(
                request.header("webhook-id"),
                Some(MSG_ID),
                "same id each attempt"
            );
            // The clock is read once per attempt, at that attempt.
            let timestamp = (T0 + n as i64).to_string();
            assert_eq!(
                request.header("webhook-timestamp"),
                Some(timestamp.as_str())
            );

            let (borgbox, standard) =
                openssl_signatures(WHSEC, WHSEC_KEY_HEX, MSG_ID, &timestamp, &request.body).await;
            assert_eq!(
                request.header("x-borgbox-signature"),
                Some(borgbox.as_str())
            );
            assert_eq!(request.header("webhook-signature"), Some(standard.as_str()));
        }
    }

    #[tokio::test]
    async fn plain_secret_keys_both_signatures_with_its_utf8_bytes() {
        let receiver = Receiver::start(vec![Reply::Status(204)]).await;
        let body = payload().to_bytes();
        let text = "pässwörd with spaces";
        let secret = Secret::new(text.to_owned());
        fast_notifier()
            .attempt(&delivery(&receiver.url, &body, Some(&secret)))
            .await
            .unwrap();

        let request = &receiver.requests()[0];
        let timestamp = request.header("webhook-timestamp").unwrap();
        let (borgbox, standard) = openssl_signatures(
            text,
            &hex_of(text.as_bytes()),
            MSG_ID,
            timestamp,
            &request.body,
        )
        .await;
        assert_eq!(
            request.header("x-borgbox-signature"),
            Some(borgbox.as_str())
        );
        assert_eq!(request.header("webhook-signature"), Some(standard.as_str()));
    }

    #[tokio::test]
    async fn without_a_secret_no_signature_headers_are_sent() {
        let empty = Secret::new(String::new());
        for secret in [None, Some(&empty)] {
            let receiver = Receiver::start(vec![Reply::Status(200)]).await;
            let body = payload().to_bytes();
            fast_notifier()
                .deliver(&delivery(&receiver.url, &body, secret))
                .await
                .unwrap();
            let requests = receiver.requests();
            assert_eq!(requests.len(), 1);
            assert_eq!(
                requests[0].header_names(),
                [
                    "accept",
                    "content-length",
                    "content-type",
                    "host",
                    "user-agent"
                ]
            );
            assert_eq!(requests[0].body, body);
        }
    }

    #[tokio::test]
    async fn any_2xx_is_success_at_the_first_attempt() {
        for status in [200, 201, 202, 204, 299] {
            let receiver = Receiver::start(vec![Reply::Status(status)]).await;
            let result = fast_notifier()
                .deliver(&delivery(&receiver.url, b"{}", None))
                .await;
            assert_eq!(result, Ok(()), "{status}");
            assert_eq!(receiver.count(), 1, "{status}");
        }
    }

    #[tokio::test]
    async fn service_unavailable_three_times_fails_after_three_attempts() {
        let receiver = Receiver::start(vec![Reply::Status(503)]).await;
        let secret = Secret::new("a-distinctive-secret-value".to_owned());
        let err = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", Some(&secret)))
            .await
            .unwrap_err();
        assert_eq!(err, DeliveryError::Status(503));
        assert_eq!(err.to_string(), "webhook returned 503");
        assert_eq!(receiver.count(), 3);
    }

    #[tokio::test]
    async fn timeout_429_and_5xx_answers_are_retried() {
        for status in [408, 429, 500, 502, 599] {
            let receiver = Receiver::start(vec![Reply::Status(status), Reply::Status(200)]).await;
            let result = fast_notifier()
                .deliver(&delivery(&receiver.url, b"{}", None))
                .await;
            assert_eq!(result, Ok(()), "{status}");
            assert_eq!(receiver.count(), 2, "{status}");
        }
    }

    #[tokio::test]
    async fn other_failure_answers_are_not_retried() {
        for status in [300, 304, 400, 401, 403, 404, 410, 413, 422] {
            let receiver = Receiver::start(vec![Reply::Status(status), Reply::Status(200)]).await;
            let err = fast_notifier()
                .deliver(&delivery(&receiver.url, b"{}", None))
                .await
                .unwrap_err();
            assert_eq!(err, DeliveryError::Status(status));
            assert_eq!(err.to_string(), format!("webhook returned {status}"));
            assert_eq!(receiver.count(), 1, "{status}");
        }
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let elsewhere = Receiver::start(vec![Reply::Status(200)]).await;
        let receiver = Receiver::start(vec![Reply::Redirect(elsewhere.url.clone())]).await;
        let err = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "webhook returned 301");
        assert_eq!(receiver.count(), 1, "3xx is not retried");
        assert_eq!(elsewhere.count(), 0, "the Location was not followed");
    }

    #[tokio::test]
    async fn connection_closed_without_an_answer_is_retried() {
        let receiver = Receiver::start(vec![Reply::Close, Reply::Close, Reply::Status(200)]).await;
        let result = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await;
        assert_eq!(result, Ok(()));
        assert_eq!(receiver.count(), 3);

        let receiver = Receiver::start(vec![Reply::Close]).await;
        let err = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "webhook request failed: connection closed");
        assert_eq!(receiver.count(), 3);
    }

    #[tokio::test]
    async fn connection_reset_is_retried() {
        let receiver = Receiver::start(vec![Reply::Reset, Reply::Status(200)]).await;
        let result = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await;
        assert_eq!(result, Ok(()));
        assert_eq!(receiver.count(), 2);

        let receiver = Receiver::start(vec![Reply::Reset]).await;
        let err = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "webhook request failed: connection closed");
        assert_eq!(receiver.count(), 3);
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out_and_is_retried() {
        let receiver = Receiver::start(vec![Reply::Hang]).await;
        let notifier = Notifier::with_timings(
            clock(),
            Duration::from_millis(300),
            [Duration::from_millis(10), Duration::from_millis(10)],
        );
        let started = std::time::Instant::now();
        let err = notifier
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err, DeliveryError::TimedOut(1));
        assert_eq!(err.to_string(), "webhook timed out after 1s");
        assert_eq!(receiver.count(), 3);
        assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[tokio::test]
    async fn a_huge_answer_is_not_read() {
        let receiver = Receiver::start(vec![Reply::Huge]).await;
        let started = std::time::Instant::now();
        let result = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await;
        assert_eq!(result, Ok(()));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The client hung up long before the announced GiB: the receiver's writes failed.
        let deadline = Instant::now() + Duration::from_secs(5);
        let sent = loop {
            if let Some(&sent) = receiver.log.lock().unwrap().huge_sent.first() {
                break sent;
            }
            assert!(Instant::now() < deadline, "the receiver is still writing");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert!(sent < 64 << 20, "{sent} bytes written");
        assert_eq!(receiver.count(), 1);
    }

    #[tokio::test]
    async fn an_answer_cut_off_after_the_head_still_counts() {
        let receiver = Receiver::start(vec![Reply::Truncated]).await;
        let result = fast_notifier()
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await;
        assert_eq!(result, Ok(()));
        assert_eq!(receiver.count(), 1);
    }

    #[tokio::test]
    async fn connection_refused_names_no_part_of_the_url() {
        let url = format!(
            "http://alice:hunter22pass@127.0.0.1:{}/hooks/t0ken-in-path?key=qu3ry-secret",
            closed_port()
        );
        let secret = Secret::new("a-distinctive-secret-value".to_owned());
        let err = fast_notifier()
            .deliver(&delivery(&url, b"{}", Some(&secret)))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "webhook request failed: could not connect");
    }

    #[tokio::test]
    async fn another_protocol_on_the_port_is_named_coarsely() {
        // What an SSH server says first: the answer tells only that it is not HTTP.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            for first in [true, false] {
                let (mut stream, _) = listener.accept().await.unwrap();
                if !first {
                    // Or after reading the request.
                    let mut buf = [0u8; 1024];
                    let _ = stream.read(&mut buf).await;
                }
                let _ = stream
                    .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                    .await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        let url = format!("http://u:p4ssw0rd@127.0.0.1:{port}/hooks/t0ken-in-path");
        for _ in 0..2 {
            let err = fast_notifier()
                .attempt(&delivery(&url, b"{}", None))
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "webhook request failed: not an HTTP answer"
            );
        }
        task.abort();
    }

    #[tokio::test]
    async fn tls_failure_is_reported_as_tls_and_retried() {
        // A plain-HTTP peer where TLS was due: rustls rejects its first bytes.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            let mut open = Vec::new();
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                *counter.lock().unwrap() += 1;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await;
                open.push(stream);
            }
        });
        let url = format!("https://localhost:{port}/hooks/t0ken-in-path?key=qu3ry-secret");
        let err = fast_notifier()
            .deliver(&delivery(&url, b"{}", None))
            .await
            .unwrap_err();
        task.abort();
        let text = err.to_string();
        assert_eq!(text, "webhook request failed: tls: handshake failed");
        assert!(
            !text.contains("t0ken-in-path") && !text.contains("qu3ry-secret"),
            "{text}"
        );
        assert_eq!(*accepted.lock().unwrap(), 3);
    }

    /// A real TLS server (openssl s_server) with a self-signed certificate for 127.0.0.1: the
    /// certificate is checked against the system trust store, which does not hold it.
    #[tokio::test]
    async fn an_untrusted_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let req: &[&str] = &[
            "req",
            "-x509",
            "-nodes",
            "-days",
            "2",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            // Not CN=localhost: Debian's ssl-cert puts a snakeoil CN=localhost into
            // /etc/ssl/certs, and webpki would try that as the issuer.
            "-subj",
            "/CN=borgbox webhook test receiver",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            // A leaf, not a CA (req -x509 makes CAs by default), so the only fault left
            // is that nobody trusted vouches for it.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ];
        let status = tokio::process::Command::new("openssl")
            .args(req)
            .current_dir(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success());
        let port = closed_port();
        let mut server = tokio::process::Command::new("openssl")
            .args(["s_server", "-www", "-cert", "cert.pem", "-key", "key.pem"])
            .arg("-accept")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // s_server prints ACCEPT once it listens.
        let mut stdout = server.stdout.take().unwrap();
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("ACCEPT") {
            let mut chunk = [0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut chunk))
                .await
                .expect("openssl s_server did not start")
                .unwrap();
            assert!(n > 0, "openssl s_server exited");
            seen.extend_from_slice(&chunk[..n]);
        }

        let url = format!("https://127.0.0.1:{port}/hooks/t0ken-in-path");
        let err = fast_notifier()
            .attempt(&delivery(&url, b"{}", None))
            .await
            .unwrap_err();
        server.kill().await.unwrap();
        assert_eq!(
            err.to_string(),
            "webhook request failed: tls: certificate not accepted"
        );
    }

    #[tokio::test]
    async fn an_unusable_url_fails_at_once() {
        for url in ["not a url", "http://[::1/x"] {
            let err = fast_notifier()
                .deliver(&delivery(url, b"{}", None))
                .await
                .unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with("webhook request failed: invalid url: "),
                "{text}"
            );
        }
        let err = fast_notifier()
            .deliver(&delivery("ftp://example.com/x", b"{}", None))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "webhook request failed: invalid request");
    }

    #[tokio::test]
    async fn attempt_makes_exactly_one_attempt() {
        let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(200)]).await;
        let err = fast_notifier()
            .attempt(&delivery(&receiver.url, b"{}", None))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "webhook returned 500");
        assert_eq!(receiver.count(), 1);
    }

    /// The production schedule on tokio's paused clock: the receiver notes when each attempt
    /// arrives, and virtual time only moves when every task waits on a timer.
    #[tokio::test(start_paused = true)]
    async fn back_off_is_2s_then_10s() {
        let receiver = Receiver::start(vec![Reply::Status(503)]).await;
        let started = Instant::now();
        let err = Notifier::new(clock())
            .deliver(&delivery(&receiver.url, b"{}", None))
            .await
            .unwrap_err();
        assert_eq!(err, DeliveryError::Status(503));
        let arrivals: Vec<Duration> = receiver
            .requests()
            .iter()
            .map(|request| request.at - started)
            .collect();
        assert_eq!(
            arrivals,
            [
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_secs(12)
            ]
        );
    }
}
