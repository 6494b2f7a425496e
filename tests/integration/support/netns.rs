//! A network namespace the test creates and removes: addresses other than loopback,
//! reachable from nowhere else. Needs root (CI runs the tests as root).

use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct NetNs {
    pub name: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

impl NetNs {
    /// A namespace whose `lo` also holds 10.219.0.1 to 10.219.0.3 (no dummy or veth
    /// module needed, as in a container):
    /// the server binds .1, clients bind .2 or .3 as their source, and each is seen as a
    /// separate non-loopback address.
    pub fn new() -> NetNs {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test creates a network namespace and needs root (CI runs tests as root)"
        );
        let name = format!(
            "bbx-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        ip(&["netns", "add", &name]);
        let ns = NetNs { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        for a in ["10.219.0.1/32", "10.219.0.2/32", "10.219.0.3/32"] {
            ip(&["-n", &ns.name, "addr", "add", a, "dev", "lo"]);
        }
        ns
    }

    /// Runs `f` on a thread inside the namespace: sockets it creates belong there for good.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open the namespace");
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("enter the namespace");
            f()
        })
        .join()
        .expect("namespace thread")
    }

    /// A TCP socket inside the namespace whose source address is `source`.
    pub fn socket_from(&self, source: &'static str) -> tokio::net::TcpSocket {
        self.run(move || {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
            socket
        })
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}
