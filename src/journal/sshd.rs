//! sshd's login lines (API.md 16.3): "Accepted publickey for <user> from <ip> port <port>
//! ssh2: <TYPE> SHA256:<fp>". Pure: takes the message, returns what it says.

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
}
