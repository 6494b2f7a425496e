//! What `tls show`, `/info` and `/metrics` need from a certificate — subject, names,
//! validity, public key — read straight from its DER. A small reader of the few X.509
//! fields we print instead of a general ASN.1 crate (rustls does the real validation).

use std::net::IpAddr;

use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The subject as `CN=…, O=…`.
    pub subject: String,
    /// DNS names and IP addresses of subjectAltName.
    pub names: Vec<String>,
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// SHA-256 of the whole certificate, upper-case hex pairs joined by colons (as browsers
    /// and `openssl x509 -fingerprint -sha256` print it).
    pub cert_sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo, base64: what `curl --pinnedpubkey sha256//…`
    /// and Chromium's `--ignore-certificate-errors-spki-list` take.
    pub pubkey_sha256: String,
}

#[derive(Debug, thiserror::Error)]
#[error("not an X.509 certificate this reader understands ({0})")]
pub struct BadCert(&'static str);

struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The next element: (tag, contents, the whole element).
    fn next(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), BadCert> {
        let d = self.0;
        let (&tag, rest) = d.split_first().ok_or(BadCert("truncated"))?;
        let (&first, mut rest) = rest.split_first().ok_or(BadCert("truncated"))?;
        let len = if first < 0x80 {
            first as usize
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(BadCert("bad length"));
            }
            let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return Err(BadCert("truncated"));
        }
        let header = d.len() - rest.len();
        self.0 = &rest[len..];
        Ok((tag, &rest[..len], &d[..header + len]))
    }

    fn expect(&mut self, want: u8) -> Result<&'a [u8], BadCert> {
        match self.next()? {
            (tag, contents, _) if tag == want => Ok(contents),
            _ => Err(BadCert("unexpected element")),
        }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const SAN_OID: &[u8] = &[0x55, 0x1d, 0x11];

pub fn summarize(cert: &[u8]) -> Result<Summary, BadCert> {
    let mut outer = Der(Der(cert).expect(SEQUENCE)?);
    let mut tbs = Der(outer.expect(SEQUENCE)?);
    if tbs.peek_tag() == Some(0xa0) {
        tbs.next()?; // version
    }
    tbs.next()?; // serial
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    let mut validity = Der(tbs.expect(SEQUENCE)?);
    let not_before = time_of(validity.next()?)?;
    let not_after = time_of(validity.next()?)?;
    let subject = name_of(tbs.expect(SEQUENCE)?)?;
    let (tag, _, spki) = tbs.next()?;
    if tag != SEQUENCE {
        return Err(BadCert("no public key"));
    }
    let mut names = Vec::new();
    while let Ok((tag, contents, _)) = tbs.next() {
        if tag == 0xa3 {
            names = alt_names(contents)?;
        }
    }
    Ok(Summary {
        subject,
        names,
        not_before,
        not_after,
        cert_sha256: colon_hex(&Sha256::digest(cert)),
        pubkey_sha256: base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki)),
    })
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ), as unix seconds.
fn time_of((tag, contents, _): (u8, &[u8], &[u8])) -> Result<i64, BadCert> {
    let text = std::str::from_utf8(contents).map_err(|_| BadCert("bad time"))?;
    let digits = text.strip_suffix('Z').ok_or(BadCert("time not in UTC"))?;
    let full = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: u32 = digits[..2].parse().map_err(|_| BadCert("bad time"))?;
            format!("{}{digits}", if yy >= 50 { "19" } else { "20" })
        }
        (0x18, 14) => digits.to_owned(),
        _ => return Err(BadCert("bad time")),
    };
    let format = time::macros::format_description!("[year][month][day][hour][minute][second]");
    time::PrimitiveDateTime::parse(&full, format)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| BadCert("bad time"))
}

fn name_of(name: &[u8]) -> Result<String, BadCert> {
    let mut parts = Vec::new();
    let mut rdns = Der(name);
    while !rdns.0.is_empty() {
        let mut set = Der(rdns.expect(SET)?);
        while !set.0.is_empty() {
            let mut pair = Der(set.expect(SEQUENCE)?);
            let oid = pair.expect(0x06)?;
            let (_, value, _) = pair.next()?;
            let key = match oid {
                [0x55, 0x04, 0x03] => "CN".to_owned(),
                [0x55, 0x04, 0x06] => "C".to_owned(),
                [0x55, 0x04, 0x07] => "L".to_owned(),
                [0x55, 0x04, 0x08] => "ST".to_owned(),
                [0x55, 0x04, 0x0a] => "O".to_owned(),
                [0x55, 0x04, 0x0b] => "OU".to_owned(),
                other => format!("OID({})", colon_hex(other)),
            };
            parts.push(format!("{key}={}", String::from_utf8_lossy(value)));
        }
    }
    Ok(parts.join(", "))
}

fn alt_names(extensions: &[u8]) -> Result<Vec<String>, BadCert> {
    let mut list = Der(Der(extensions).expect(SEQUENCE)?);
    while !list.0.is_empty() {
        let mut extension = Der(list.expect(SEQUENCE)?);
        let oid = extension.expect(0x06)?;
        if extension.peek_tag() == Some(0x01) {
            extension.next()?; // critical
        }
        let value = extension.expect(0x04)?;
        if oid != SAN_OID {
            continue;
        }
        let mut names = Vec::new();
        let mut general = Der(Der(value).expect(SEQUENCE)?);
        while !general.0.is_empty() {
            match general.next()? {
                (0x82, dns, _) => names.push(String::from_utf8_lossy(dns).into_owned()),
                (0x87, ip, _) => match ip.len() {
                    4 => names.push(
                        IpAddr::from(<[u8; 4]>::try_from(ip).unwrap_or_default()).to_string(),
                    ),
                    16 => names.push(
                        IpAddr::from(<[u8; 16]>::try_from(ip).unwrap_or_default()).to_string(),
                    ),
                    _ => return Err(BadCert("bad IP address name")),
                },
                _ => {}
            }
        }
        return Ok(names);
    }
    Ok(Vec::new())
}
