//! sshd's login lines (API.md 16.3): "Accepted publickey for <user> from <ip> port <port>
//! ssh2: <TYPE> SHA256:<fp>". Pure: takes the message, returns what it says.

use std::collections::HashMap;

use super::parse::{cursor_of, parse_sshd_entry, SshdEntry};

/// The processes that log sshd's logins: OpenSSH before 9.8 (Debian 12: 9.2) logs them from
/// `sshd`, later ones (Debian 13: 10.0) from the per-connection `sshd-session`.
pub const COMMS: [&str; 2] = ["sshd", "sshd-session"];
/// sshd's own unit: `ssh.service` on Debian, `sshd.service` on Fedora and Arch.
pub const UNITS: [&str; 2] = ["ssh.service", "sshd.service"];

/// Whether sshd itself wrote the entry. `_UID`, `_COMM` and `_SYSTEMD_UNIT` are set by
/// journald from the sender's credentials and cgroup, so only root can fake them: a local
/// user's copy of `logger` named sshd (or `systemd-cat -t sshd`) has its own uid and unit.
pub fn from_sshd(entry: &SshdEntry) -> bool {
    entry.uid == Some(0)
        && COMMS.contains(&entry.comm.as_str())
        && UNITS.contains(&entry.unit.as_str())
}

/// The newest login of each wanted key in a stream of sshd's journal lines, and the cursor
/// of the last line. Memory stays bounded by the number of wanted keys however long the
/// stream: a line is looked at and dropped, and only a line that can be a login (a busy
/// host's sshd mostly logs failed ones) is parsed in full.
pub struct LoginScan<F> {
    user: String,
    wanted: F,
    last_line: Vec<u8>,
    newest: HashMap<String, (i64, String)>,
}

impl<F: Fn(&str) -> bool> LoginScan<F> {
    /// Logins of `user` with a key whose fingerprint `wanted` accepts.
    pub fn new(user: &str, wanted: F) -> Self {
        LoginScan {
            user: user.to_owned(),
            wanted,
            last_line: Vec::new(),
            newest: HashMap::new(),
        }
    }

    /// One line of `journalctl --output=json`.
    pub fn line(&mut self, raw: &[u8]) {
        self.last_line.clear();
        self.last_line.extend_from_slice(raw);
        const NEEDLE: &[u8] = b"Accepted publickey for ";
        if !raw.windows(NEEDLE.len()).any(|w| w == NEEDLE) {
            return;
        }
        let Some(entry) = parse_sshd_entry(&String::from_utf8_lossy(raw)) else {
            return;
        };
        if !from_sshd(&entry) {
            return;
        }
        let Some(login) = accepted_publickey(&entry.message, &self.user) else {
            return;
        };
        let Some(at) = entry
            .realtime_us
            .and_then(|us| i64::try_from(us / 1_000_000).ok())
        else {
            return;
        };
        if !(self.wanted)(&login.fingerprint) {
            return;
        }
        match self.newest.get(&login.fingerprint) {
            Some((known, _)) if *known > at => {}
            _ => {
                self.newest.insert(login.fingerprint, (at, login.from));
            }
        }
    }

    /// The last line's cursor (None when there was no line) and each key's newest login as
    /// (fingerprint, unix seconds, address).
    pub fn finish(self) -> (Option<String>, Vec<(String, i64, String)>) {
        let cursor = cursor_of(&String::from_utf8_lossy(&self.last_line));
        let logins = self
            .newest
            .into_iter()
            .map(|(fingerprint, (at, from))| (fingerprint, at, from))
            .collect();
        (cursor, logins)
    }
}

/// A successful public-key login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub fingerprint: String,
    pub from: String,
}

/// The login `message` records for `user`, if it is one.
pub fn accepted_publickey(message: &str, user: &str) -> Option<Login> {
    let rest = message.strip_prefix("Accepted publickey for ")?;
    let rest = rest.strip_prefix(user)?.strip_prefix(" from ")?;
    let (from, rest) = rest.split_once(" port ")?;
    let (_port, rest) = rest.split_once(' ')?;
    // "ssh2: ED25519 SHA256:…", possibly followed by more (an ID for certificates).
    let fingerprint = rest
        .split_whitespace()
        .find(|word| word.starts_with("SHA256:"))?;
    let valid_ip = !from.is_empty() && from.parse::<std::net::IpAddr>().is_ok();
    Some(Login {
        fingerprint: fingerprint.to_owned(),
        from: if valid_ip {
            from.to_owned()
        } else {
            String::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As sshd 9.2p1 (Debian 12) logs it; see tests/fixtures/journal/README.md.
    const REAL: &str = "Accepted publickey for borg from 127.0.0.1 port 43546 ssh2: ED25519 \
                        SHA256:kzsbbE/nK7as1axuS8x9pVMzwOC0+e+fPMHPqhgQL98";

    #[test]
    fn a_real_login_line() {
        assert_eq!(
            accepted_publickey(REAL, "borg"),
            Some(Login {
                fingerprint: "SHA256:kzsbbE/nK7as1axuS8x9pVMzwOC0+e+fPMHPqhgQL98".into(),
                from: "127.0.0.1".into(),
            })
        );
        let v6 = REAL.replace("127.0.0.1", "2001:db8::7");
        assert_eq!(accepted_publickey(&v6, "borg").unwrap().from, "2001:db8::7");
    }

    #[test]
    fn other_users_other_methods_and_garbage_are_not_logins() {
        assert_eq!(accepted_publickey(REAL, "bor"), None);
        assert_eq!(
            accepted_publickey(&REAL.replace("borg", "root"), "borg"),
            None
        );
        for other in [
            "Accepted password for borg from 127.0.0.1 port 1 ssh2",
            "Failed publickey for borg from 127.0.0.1 port 1 ssh2: ED25519 SHA256:x",
            "Accepted publickey for borg from 127.0.0.1",
            "Accepted publickey for borg from 127.0.0.1 port 1 ssh2: ED25519",
            "",
        ] {
            assert_eq!(accepted_publickey(other, "borg"), None, "{other}");
        }
        let odd = REAL.replace("127.0.0.1", "not-an-address");
        assert_eq!(accepted_publickey(&odd, "borg").unwrap().from, "");
    }

    const DEBIAN12: &str = include_str!("../../tests/fixtures/journal/sshd-debian12.json");
    const DEBIAN13: &str = include_str!("../../tests/fixtures/journal/sshd-debian13.json");
    const FORGED: &str = include_str!("../../tests/fixtures/journal/sshd-forged.json");

    fn scan(lines: &str, wanted: &[&str]) -> (Option<String>, Vec<(String, i64, String)>) {
        let mut scan = LoginScan::new("borg", |fp: &str| wanted.contains(&fp));
        for line in lines.lines() {
            scan.line(line.as_bytes());
        }
        scan.finish()
    }

    fn fingerprints(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(parse_sshd_entry)
            .filter_map(|e| accepted_publickey(&e.message, "borg"))
            .map(|l| l.fingerprint)
            .collect()
    }

    #[test]
    fn real_logins_of_openssh_9_2_and_10_0_count() {
        for fixture in [DEBIAN12, DEBIAN13] {
            let fp = fingerprints(fixture);
            assert!(!fp.is_empty());
            let wanted: Vec<&str> = fp.iter().map(String::as_str).collect();
            let (cursor, logins) = scan(fixture, &wanted);
            let last = fixture.lines().last().and_then(cursor_of);
            assert!(cursor.is_some() && cursor == last);
            assert_eq!(logins.len(), 1, "{logins:?}");
            assert_eq!(logins[0].0, fp[0]);
            assert_eq!(logins[0].2, "127.0.0.1");
        }
    }

    #[test]
    fn forged_lines_and_unmanaged_keys_are_ignored() {
        // A local user's `systemd-cat -t sshd` and a copy of logger named sshd: the message
        // is a perfect login line, the credentials are not sshd's.
        let forged = fingerprints(FORGED);
        assert!(forged.len() >= 2, "{forged:?}");
        let wanted: Vec<&str> = forged.iter().map(String::as_str).collect();
        let (cursor, logins) = scan(FORGED, &wanted);
        assert!(cursor.is_some());
        assert!(logins.is_empty(), "{logins:?}");
        // A real login of a key that is not managed is not kept either.
        let (_, logins) = scan(DEBIAN13, &["SHA256:not-managed"]);
        assert!(logins.is_empty());
    }

    #[test]
    fn only_sshds_own_credentials_are_trusted() {
        let real = SshdEntry {
            cursor: "s=1".into(),
            message: REAL.into(),
            realtime_us: Some(1),
            uid: Some(0),
            comm: "sshd-session".into(),
            unit: "ssh.service".into(),
        };
        assert!(from_sshd(&real));
        assert!(from_sshd(&SshdEntry {
            comm: "sshd".into(),
            unit: "sshd.service".into(),
            ..real.clone()
        }));
        for forged in [
            SshdEntry {
                uid: Some(1000),
                ..real.clone()
            },
            SshdEntry {
                uid: None,
                ..real.clone()
            },
            SshdEntry {
                comm: "logger".into(),
                ..real.clone()
            },
            SshdEntry {
                unit: "session-3.scope".into(),
                ..real.clone()
            },
            SshdEntry {
                unit: "user@1000.service".into(),
                ..real.clone()
            },
        ] {
            assert!(!from_sshd(&forged), "{forged:?}");
        }
    }

    #[test]
    fn the_newest_login_of_a_key_wins() {
        let line = |cursor: &str, at: u64, from: &str| {
            serde_json::json!({
                "__CURSOR": cursor,
                "__REALTIME_TIMESTAMP": (at * 1_000_000).to_string(),
                "_UID": "0", "_COMM": "sshd", "_SYSTEMD_UNIT": "ssh.service",
                "MESSAGE": REAL.replace("127.0.0.1", from),
            })
            .to_string()
        };
        let fp = "SHA256:kzsbbE/nK7as1axuS8x9pVMzwOC0+e+fPMHPqhgQL98";
        let text = [
            line("s=1", 20, "10.0.0.2"),
            line("s=2", 10, "10.0.0.1"),
            r#"{"__CURSOR":"s=3","MESSAGE":"Failed password for root"}"#.to_owned(),
        ]
        .join("\n");
        let (cursor, logins) = scan(&text, &[fp]);
        assert_eq!(cursor.as_deref(), Some("s=3"));
        assert_eq!(logins, vec![(fp.to_owned(), 20, "10.0.0.2".to_owned())]);
        assert_eq!(scan("", &[fp]), (None, vec![]));
    }
}
