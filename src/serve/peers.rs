//! Open connections counted per client address, so that one address reopening silent
//! sockets cannot take every slot of the global cap.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Where a connection comes from, as far as the caps care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A loopback address or a unix socket: this machine, exempt from the per-address cap.
    Local,
    /// An IPv4 address, or the /64 of an IPv6 address (one client holds a whole /64).
    Remote(IpAddr),
}

impl Peer {
    pub fn of(ip: Option<IpAddr>) -> Peer {
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else {
            return Peer::Local;
        };
        if ip.is_loopback() {
            return Peer::Local;
        }
        match ip {
            IpAddr::V4(_) => Peer::Remote(ip),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                Peer::Remote(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }
}

/// The address of an accepted connection: an IP for TCP, none for a unix socket.
pub trait PeerAddr {
    fn peer_ip(&self) -> Option<IpAddr>;
}

impl PeerAddr for std::net::SocketAddr {
    fn peer_ip(&self) -> Option<IpAddr> {
        Some(self.ip())
    }
}

impl PeerAddr for tokio::net::unix::SocketAddr {
    fn peer_ip(&self) -> Option<IpAddr> {
        None
    }
}

#[derive(Clone)]
pub struct PerAddress {
    cap: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a remote address; dropping it frees the slot.
pub struct Slot {
    key: Option<IpAddr>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddress {
    pub fn new(cap: usize) -> PerAddress {
        PerAddress {
            cap,
            open: Arc::default(),
        }
    }

    /// A slot for `peer`, or None when that address already holds `cap` connections.
    pub fn take(&self, peer: Peer) -> Option<Slot> {
        let Peer::Remote(key) = peer else {
            return Some(Slot {
                key: None,
                open: self.open.clone(),
            });
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            key: Some(key),
            open: self.open.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn loopback_unix_and_mapped_loopback_are_local() {
        assert_eq!(Peer::of(None), Peer::Local);
        assert_eq!(Peer::of(ip("127.0.0.1")), Peer::Local);
        assert_eq!(Peer::of(ip("127.3.2.1")), Peer::Local);
        assert_eq!(Peer::of(ip("::1")), Peer::Local);
        assert_eq!(Peer::of(ip("::ffff:127.0.0.1")), Peer::Local);
        assert_eq!(Peer::of(ip("::ffff:10.0.0.2")), Peer::of(ip("10.0.0.2")));
    }

    #[test]
    fn an_ipv6_client_counts_once_for_its_whole_64() {
        assert_eq!(
            Peer::of(ip("2001:db8:1:2::1")),
            Peer::of(ip("2001:db8:1:2:ffff:0:0:7"))
        );
        assert_ne!(
            Peer::of(ip("2001:db8:1:2::1")),
            Peer::of(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn the_cap_counts_per_address_and_frees_on_drop() {
        let caps = PerAddress::new(2);
        let (a, b) = (Peer::of(ip("10.0.0.2")), Peer::of(ip("10.0.0.3")));
        let first = caps.take(a).unwrap();
        let _second = caps.take(a).unwrap();
        assert!(caps.take(a).is_none());
        assert!(caps.take(b).is_some(), "another address is not affected");
        let local: Vec<_> = (0..10).map(|_| caps.take(Peer::Local).unwrap()).collect();
        assert_eq!(local.len(), 10, "loopback is exempt");
        drop(first);
        assert!(caps.take(a).is_some());
    }
}
