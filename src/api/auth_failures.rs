//! Failed authentications, logged at most once per client address per minute with their
//! count. One line per 401 let a flood of bad requests trip journald's per-unit rate
//! limit, which then dropped the audit lines (REPO_DELETED, KEY_ADDED…) of whoever holds
//! the token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::logging::message_id;

/// The client address of a request, put in its extensions by the server; `None` for a
/// unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

/// Addresses tracked at once; beyond that the rest share one entry, so a flood from many
/// addresses cannot grow memory or the log either.
const MAX_CLIENTS: usize = 1024;

/// Whom a count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    Addr(IpAddr),
    /// A unix socket, or a request without an address.
    Local,
    /// Every address past `MAX_CLIENTS`.
    Others,
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Client::Addr(ip) => write!(f, "{ip}"),
            Client::Local => f.write_str("local"),
            Client::Others => f.write_str("other addresses"),
        }
    }
}

/// What one log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub client: String,
    pub count: u64,
    /// The newest failed request, e.g. `GET /api/v1/repos`.
    pub last: String,
}

struct Entry {
    /// No line before this instant; failures until then are counted in `pending`.
    quiet_until: Instant,
    pending: u64,
    last: String,
    /// A flush of `pending` is scheduled for `quiet_until`.
    flushing: bool,
}

type Sink = Arc<dyn Fn(&Report) + Send + Sync>;

#[derive(Clone)]
pub struct AuthFailures {
    clients: Arc<Mutex<HashMap<Client, Entry>>>,
    window: Duration,
    sink: Sink,
}

impl Default for AuthFailures {
    fn default() -> Self {
        AuthFailures::new(Duration::from_secs(60), Arc::new(log_report))
    }
}

fn log_report(report: &Report) {
    log::warn!(
        message_id = message_id::AUTH_FAILED,
        borgbox_client = report.client.as_str(),
        borgbox_count = report.count;
        "authentication failed {} from {} (last: {})",
        match report.count {
            1 => "once".to_owned(),
            n => format!("{n} times in the last minute"),
        },
        report.client,
        report.last
    );
}

impl AuthFailures {
    fn new(window: Duration, sink: Sink) -> Self {
        AuthFailures {
            clients: Arc::default(),
            window,
            sink,
        }
    }

    /// Counts one failed request. The first of a quiet address is logged at once (so a
    /// single mistake shows up right away); later ones within the minute are logged
    /// together, with their count, when the minute is over. Needs a Tokio runtime.
    pub fn failed(&self, client: ClientAddr, request: String) {
        let now = Instant::now();
        let mut key = match client.0 {
            Some(ip) => Client::Addr(ip.to_canonical()),
            None => Client::Local,
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if !clients.contains_key(&key) && clients.len() >= MAX_CLIENTS {
            clients.retain(|_, e| e.pending > 0 || e.quiet_until > now);
            if clients.len() >= MAX_CLIENTS {
                key = Client::Others;
            }
        }
        let entry = clients.entry(key).or_insert(Entry {
            quiet_until: now,
            pending: 0,
            last: String::new(),
            flushing: false,
        });
        entry.last = request;
        if entry.quiet_until <= now && entry.pending == 0 {
            entry.quiet_until = now + self.window;
            let report = Report {
                client: key.to_string(),
                count: 1,
                last: entry.last.clone(),
            };
            drop(clients);
            (self.sink)(&report);
            return;
        }
        entry.pending += 1;
        if !entry.flushing {
            entry.flushing = true;
            let at = entry.quiet_until;
            let this = self.clone();
            tokio::spawn(async move { this.flush(key, at).await });
        }
    }

    async fn flush(self, key: Client, at: Instant) {
        tokio::time::sleep_until(at).await;
        let report = {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            let Some(entry) = clients.get_mut(&key) else {
                return;
            };
            entry.flushing = false;
            entry.quiet_until = Instant::now() + self.window;
            Report {
                client: key.to_string(),
                count: std::mem::take(&mut entry.pending),
                last: entry.last.clone(),
            }
        };
        if report.count > 0 {
            (self.sink)(&report);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> (AuthFailures, Arc<Mutex<Vec<Report>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let failures = AuthFailures::new(
            Duration::from_secs(60),
            Arc::new(move |r: &Report| sink.lock().unwrap().push(r.clone())),
        );
        (failures, lines)
    }

    fn addr(s: &str) -> ClientAddr {
        ClientAddr(Some(s.parse().unwrap()))
    }

    #[tokio::test(start_paused = true)]
    async fn one_line_per_address_per_minute_with_the_count() {
        let (failures, lines) = recording();
        for i in 0..10_000 {
            failures.failed(addr("192.0.2.7"), format!("GET /api/v1/x{i}"));
        }
        failures.failed(addr("::ffff:192.0.2.8"), "GET /api/v1/repos".into());
        failures.failed(ClientAddr(None), "GET /api/v1/repos".into());
        let seen = |lines: &Arc<Mutex<Vec<Report>>>| {
            lines
                .lock()
                .unwrap()
                .iter()
                .map(|r| (r.client.clone(), r.count))
                .collect::<Vec<_>>()
        };
        // The first of each address at once.
        assert_eq!(
            seen(&lines),
            [
                ("192.0.2.7".to_owned(), 1),
                ("192.0.2.8".to_owned(), 1),
                ("local".to_owned(), 1)
            ]
        );
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(seen(&lines).len(), 3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(seen(&lines)[3], ("192.0.2.7".to_owned(), 9_999));
        assert_eq!(lines.lock().unwrap()[3].last, "GET /api/v1/x9999");
        assert_eq!(seen(&lines).len(), 4);
        // A flood that goes on: still one line a minute.
        for _ in 0..5 {
            for _ in 0..100 {
                failures.failed(addr("192.0.2.7"), "GET /".into());
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        let flood: Vec<_> = seen(&lines)[4..].to_vec();
        assert_eq!(flood, vec![("192.0.2.7".to_owned(), 100); 5]);
        // Quiet for a minute: the next failure is logged at once again.
        tokio::time::sleep(Duration::from_secs(61)).await;
        failures.failed(addr("192.0.2.7"), "GET /".into());
        assert_eq!(seen(&lines).last().unwrap(), &("192.0.2.7".to_owned(), 1));
    }

    #[tokio::test(start_paused = true)]
    async fn many_addresses_share_one_entry_past_the_cap() {
        let (failures, lines) = recording();
        for i in 0..(MAX_CLIENTS as u32 + 500) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            for _ in 0..3 {
                failures.failed(ClientAddr(Some(ip)), "GET /".into());
            }
        }
        assert_eq!(failures.clients.lock().unwrap().len(), MAX_CLIENTS + 1);
        tokio::time::sleep(Duration::from_secs(61)).await;
        let lines = lines.lock().unwrap();
        // One at once and one with the count for each tracked address, two for the rest.
        assert_eq!(lines.len(), 2 * MAX_CLIENTS + 2);
        let others: u64 = lines
            .iter()
            .filter(|r| r.client == "other addresses")
            .map(|r| r.count)
            .sum();
        assert_eq!(others, 500 * 3);
    }
}
