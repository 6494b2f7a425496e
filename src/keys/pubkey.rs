//! OpenSSH public keys as clients submit them (API.md 7.1, 7.2): validation, fingerprints
//! and comment sanitising. Pure: no I/O, and nothing here knows about authorized_keys lines.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Longest accepted key text, after trimming.
const MAX_KEY_LEN: usize = 8192;
const MAX_COMMENT_LEN: usize = 200;
const MIN_RSA_BITS: usize = 2048;
/// sshd refuses larger moduli, so such a key could never log in.
const MAX_RSA_BITS: usize = 16384;

/// A validated public key. Only `parse_public_key` builds one in borgbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub algo: String,
    pub blob_b64: String,
    /// `""` when the key had none.
    pub comment: String,
}

impl PublicKey {
    /// `SHA256:…`, exactly as `ssh-keygen -l` prints it. Always set for a parsed key; empty
    /// only for a hand-built one whose blob is not base64.
    pub fn fingerprint(&self) -> String {
        fingerprint_of_blob_b64(&self.blob_b64).unwrap_or_default()
    }
}

/// Why a submitted key was refused; the message is sent to the client as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKey {
    #[error("invalid public key: key is too large")]
    TooLarge,
    #[error("invalid public key: must be a single line of printable ASCII")]
    NotPrintable,
    #[error("invalid public key: must not contain quotes or backslashes")]
    QuoteOrBackslash,
    #[error(
        "invalid public key: expected a key type, a base64 blob and an optional comment \
         without spaces"
    )]
    FieldCount,
    #[error("invalid public key: unsupported key type")]
    UnsupportedType,
    #[error("invalid public key: invalid base64")]
    InvalidBase64,
    #[error("invalid public key: key type does not match blob")]
    TypeMismatch,
    #[error("invalid public key: malformed key data")]
    Malformed,
    #[error("invalid public key: RSA keys must be at least 2048 bits")]
    RsaTooSmall,
    #[error("invalid public key: RSA keys must be at most 16384 bits")]
    RsaTooLarge,
}

/// What follows the type string in a key blob.
#[derive(Clone, Copy)]
enum Shape {
    Ed25519,
    Rsa,
    /// Curve name and length of the uncompressed point.
    Ecdsa(&'static str, usize),
}

/// The accepted key types (API.md 7.1 rule 4); security keys also carry an application.
const KEY_TYPES: [(&str, Shape, bool); 7] = [
    ("ssh-ed25519", Shape::Ed25519, false),
    ("ssh-rsa", Shape::Rsa, false),
    ("ecdsa-sha2-nistp256", Shape::Ecdsa("nistp256", 65), false),
    ("ecdsa-sha2-nistp384", Shape::Ecdsa("nistp384", 97), false),
    ("ecdsa-sha2-nistp521", Shape::Ecdsa("nistp521", 133), false),
    ("sk-ssh-ed25519@openssh.com", Shape::Ed25519, true),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        Shape::Ecdsa("nistp256", 65),
        true,
    ),
];

/// Whether borgbox accepts keys of this type.
pub(crate) fn is_supported_type(algo: &str) -> bool {
    KEY_TYPES.iter().any(|(name, ..)| *name == algo)
}

/// Validates one OpenSSH public key line by every rule of API.md 7.1.
pub fn parse_public_key(input: &str) -> Result<PublicKey, InvalidKey> {
    let line = input.trim();
    if line.len() > MAX_KEY_LEN {
        return Err(InvalidKey::TooLarge);
    }
    if !line.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(InvalidKey::NotPrintable);
    }
    // They would end or escape the quoted options borgbox puts on the line.
    if line.contains(['"', '\\']) {
        return Err(InvalidKey::QuoteOrBackslash);
    }
    let fields: Vec<&str> = line.split(' ').filter(|f| !f.is_empty()).collect();
    let (algo, blob_b64, comment) = match fields.as_slice() {
        [algo, ..] if !is_supported_type(algo) => return Err(InvalidKey::UnsupportedType),
        [algo, blob] => (*algo, *blob, ""),
        [algo, blob, comment] => (*algo, *blob, *comment),
        _ => return Err(InvalidKey::FieldCount),
    };
    let blob = STANDARD
        .decode(blob_b64)
        .map_err(|_| InvalidKey::InvalidBase64)?;
    check_blob(algo, &blob)?;
    Ok(PublicKey {
        algo: algo.to_owned(),
        blob_b64: blob_b64.to_owned(),
        comment: comment.to_owned(),
    })
}

/// The fingerprint of a base64 key blob, `None` when it is not valid base64.
pub fn fingerprint_of_blob_b64(blob_b64: &str) -> Option<String> {
    let blob = STANDARD.decode(blob_b64).ok()?;
    Some(format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(blob))
    ))
}

/// A comment made safe for a managed line (API.md 7.3): printable ASCII without `"` and
/// `\`, whitespace runs as one space, trimmed, at most 200 characters.
pub fn sanitize_comment(s: &str) -> String {
    let kept: String = s
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| matches!(c, ' '..='~') && !matches!(c, '"' | '\\'))
        .collect();
    let mut out = kept
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    // Only ASCII is left, so any byte index is a char boundary.
    out.truncate(MAX_COMMENT_LEN);
    out.truncate(out.trim_end().len());
    out
}

/// Checks the decoded blob against its declared type (API.md 7.1 rules 5 and 6).
fn check_blob(algo: &str, blob: &[u8]) -> Result<(), InvalidKey> {
    let (_, shape, security_key) = KEY_TYPES
        .iter()
        .find(|(name, ..)| *name == algo)
        .ok_or(InvalidKey::UnsupportedType)?;
    let mut r = Reader(blob);
    if r.string() != Some(algo.as_bytes()) {
        return Err(InvalidKey::TypeMismatch);
    }
    match *shape {
        Shape::Ed25519 => {
            r.string()
                .filter(|k| k.len() == 32)
                .ok_or(InvalidKey::Malformed)?;
        }
        Shape::Rsa => {
            let e = r.mpint().ok_or(InvalidKey::Malformed)?;
            let n = r.mpint().ok_or(InvalidKey::Malformed)?;
            if e.is_empty() {
                return Err(InvalidKey::Malformed);
            }
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if bits < MIN_RSA_BITS {
                return Err(InvalidKey::RsaTooSmall);
            }
            if bits > MAX_RSA_BITS {
                return Err(InvalidKey::RsaTooLarge);
            }
        }
        Shape::Ecdsa(curve, point_len) => {
            if r.string() != Some(curve.as_bytes()) {
                return Err(InvalidKey::TypeMismatch);
            }
            r.string()
                .filter(|q| q.len() == point_len && q.first() == Some(&4))
                .ok_or(InvalidKey::Malformed)?;
        }
    }
    if *security_key {
        r.string().ok_or(InvalidKey::Malformed)?;
    }
    if r.0.is_empty() {
        Ok(())
    } else {
        Err(InvalidKey::Malformed)
    }
}

/// Reads the SSH wire encoding (RFC 4251 section 5) from the front of a blob.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let (value, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        Some(value)
    }

    /// A non-negative mpint's magnitude, only in its one canonical form (RFC 4251: no
    /// leading zero byte except before a byte with the top bit set), so that one key has
    /// one blob and one fingerprint.
    fn mpint(&mut self) -> Option<&'a [u8]> {
        let raw = self.string()?;
        match raw {
            [first, ..] if first & 0x80 != 0 => None,
            [0, next, ..] if next & 0x80 != 0 => Some(&raw[1..]),
            [0, ..] => None,
            _ => Some(raw),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Path;
    use std::process::Command;

    pub(crate) fn ssh_string(bytes: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        out
    }

    fn blob(parts: &[&[u8]]) -> String {
        STANDARD.encode(parts.iter().flat_map(|p| ssh_string(p)).collect::<Vec<_>>())
    }

    /// An ed25519 key line with the given 32 key bytes.
    pub(crate) fn ed25519_line(key: &[u8; 32], comment: &str) -> String {
        format!("ssh-ed25519 {} {comment}", blob(&[b"ssh-ed25519", key]))
    }

    /// An RSA blob whose modulus is `n`, written as an mpint field as given.
    fn rsa_line(n: &[u8]) -> String {
        format!("ssh-rsa {}", blob(&[b"ssh-rsa", &[1, 0, 1], n]))
    }

    /// A modulus of exactly `bits` bits, as a minimal mpint.
    fn modulus(bits: usize) -> Vec<u8> {
        let mut n = vec![0xff; bits.div_ceil(8)];
        n[0] = 0xff >> ((8 - bits % 8) % 8);
        if n[0] & 0x80 != 0 {
            n.insert(0, 0);
        }
        n
    }

    fn ecdsa_line(algo: &str, curve: &str, point_len: usize) -> String {
        let mut q = vec![7; point_len];
        q[0] = 4;
        format!("{algo} {}", blob(&[algo.as_bytes(), curve.as_bytes(), &q]))
    }

    /// Generates a key with ssh-keygen; returns the .pub line and ssh-keygen's fingerprint.
    fn keygen(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
        let path = dir.join(name);
        let status = Command::new("ssh-keygen")
            .args(["-q", "-N", "", "-C", &format!("{name}@test"), "-f"])
            .arg(&path)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
        let line = std::fs::read_to_string(path.with_extension("pub")).unwrap();
        let out = Command::new("ssh-keygen")
            .args(["-l", "-E", "sha256", "-f"])
            .arg(path.with_extension("pub"))
            .output()
            .unwrap();
        let printed = String::from_utf8(out.stdout).unwrap();
        (line, printed.split(' ').nth(1).unwrap().to_owned())
    }

    #[test]
    fn real_keys_parse_with_ssh_keygen_fingerprints() {
        let dir = tempfile::tempdir().unwrap();
        for (name, args, algo) in [
            ("ed", &["-t", "ed25519"][..], "ssh-ed25519"),
            ("p256", &["-t", "ecdsa", "-b", "256"], "ecdsa-sha2-nistp256"),
            ("p384", &["-t", "ecdsa", "-b", "384"], "ecdsa-sha2-nistp384"),
            ("p521", &["-t", "ecdsa", "-b", "521"], "ecdsa-sha2-nistp521"),
            ("rsa2048", &["-t", "rsa", "-b", "2048"], "ssh-rsa"),
            ("rsa4096", &["-t", "rsa", "-b", "4096"], "ssh-rsa"),
        ] {
            let (line, expected) = keygen(dir.path(), name, args);
            let key = parse_public_key(&line).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(key.algo, algo);
            assert_eq!(key.comment, format!("{name}@test"));
            assert_eq!(key.fingerprint(), expected, "{name}");
            assert_eq!(fingerprint_of_blob_b64(&key.blob_b64).unwrap(), expected);
        }
    }

    #[test]
    fn real_1024_bit_rsa_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (line, _) = keygen(dir.path(), "rsa1024", &["-t", "rsa", "-b", "1024"]);
        assert_eq!(parse_public_key(&line), Err(InvalidKey::RsaTooSmall));
    }

    #[test]
    fn rsa_modulus_size_is_counted_in_bits() {
        assert!(parse_public_key(&rsa_line(&modulus(2048))).is_ok());
        assert!(parse_public_key(&rsa_line(&modulus(16384))).is_ok());
        assert_eq!(
            parse_public_key(&rsa_line(&modulus(2047))),
            Err(InvalidKey::RsaTooSmall)
        );
        assert_eq!(
            parse_public_key(&rsa_line(&modulus(16385))),
            Err(InvalidKey::RsaTooLarge)
        );
        // 2040 bits padded to 257 bytes: not a minimal mpint, so not a key at all.
        let mut padded = vec![0, 0];
        padded.extend(modulus(2040));
        assert_eq!(
            parse_public_key(&rsa_line(&padded)),
            Err(InvalidKey::Malformed)
        );
        // The top bit set without a leading zero makes the mpint negative.
        assert_eq!(
            parse_public_key(&rsa_line(&[0xff; 256])),
            Err(InvalidKey::Malformed)
        );
        let zero_e = format!("ssh-rsa {}", blob(&[b"ssh-rsa", &[], &modulus(2048)]));
        assert_eq!(parse_public_key(&zero_e), Err(InvalidKey::Malformed));
    }

    #[test]
    fn one_key_has_one_encoding() {
        // Re-encoding a real key with non-minimal mpints (e = 00 01 00 01, n with an extra
        // leading zero) would give another blob and fingerprint for the same key.
        let dir = tempfile::tempdir().unwrap();
        let (line, _) = keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "2048"]);
        let raw = STANDARD.decode(line.split(' ').nth(1).unwrap()).unwrap();
        let mut r = Reader(&raw);
        r.string().unwrap();
        let e = r.string().unwrap().to_vec();
        let n = r.string().unwrap().to_vec();
        assert_eq!(e, [1, 0, 1]);
        let with_zero = |v: &[u8]| [&[0u8][..], v].concat();
        for (e, n) in [
            (with_zero(&e), n.clone()),
            (e.clone(), with_zero(&n)),
            (with_zero(&with_zero(&e)), n.clone()),
        ] {
            let line = format!("ssh-rsa {}", blob(&[b"ssh-rsa", &e, &n]));
            assert_eq!(parse_public_key(&line), Err(InvalidKey::Malformed));
        }
        assert!(parse_public_key(&format!("ssh-rsa {}", blob(&[b"ssh-rsa", &e, &n]))).is_ok());
        // A leading zero is right (and needed) only before a byte with the top bit set.
        assert_eq!(n[0], 0);
        assert!(n[1] & 0x80 != 0);
        // ECDSA and security keys: nothing after the last field.
        let ecdsa = ecdsa_line("ecdsa-sha2-nistp256", "nistp256", 65);
        let mut raw = STANDARD.decode(ecdsa.split(' ').nth(1).unwrap()).unwrap();
        raw.push(0);
        let line = format!("ecdsa-sha2-nistp256 {}", STANDARD.encode(&raw));
        assert_eq!(parse_public_key(&line), Err(InvalidKey::Malformed));
        let algo = "sk-ssh-ed25519@openssh.com";
        let sk = blob(&[algo.as_bytes(), &[1; 32], b"ssh:", b""]);
        assert_eq!(
            parse_public_key(&format!("{algo} {sk}")),
            Err(InvalidKey::Malformed)
        );
    }

    #[test]
    fn ecdsa_curve_and_point_are_checked() {
        for (algo, curve, len) in [
            ("ecdsa-sha2-nistp256", "nistp256", 65),
            ("ecdsa-sha2-nistp384", "nistp384", 97),
            ("ecdsa-sha2-nistp521", "nistp521", 133),
        ] {
            assert!(
                parse_public_key(&ecdsa_line(algo, curve, len)).is_ok(),
                "{algo}"
            );
            let short = ecdsa_line(algo, curve, len - 1);
            assert_eq!(parse_public_key(&short), Err(InvalidKey::Malformed));
        }
        let wrong_curve = ecdsa_line("ecdsa-sha2-nistp256", "nistp384", 65);
        assert_eq!(
            parse_public_key(&wrong_curve),
            Err(InvalidKey::TypeMismatch)
        );
    }

    #[test]
    fn ed25519_needs_exactly_32_bytes_and_nothing_after() {
        assert!(parse_public_key(&ed25519_line(&[1; 32], "")).is_ok());
        let short = format!("ssh-ed25519 {}", blob(&[b"ssh-ed25519", &[1; 31]]));
        assert_eq!(parse_public_key(&short), Err(InvalidKey::Malformed));
        let trailing = format!("ssh-ed25519 {}", blob(&[b"ssh-ed25519", &[1; 32], b"x"]));
        assert_eq!(parse_public_key(&trailing), Err(InvalidKey::Malformed));
        let truncated = STANDARD.encode(&ssh_string(b"ssh-ed25519")[..10]);
        let line = format!("ssh-ed25519 {truncated}");
        assert_eq!(parse_public_key(&line), Err(InvalidKey::TypeMismatch));
    }

    #[test]
    fn security_keys_need_their_application() {
        let app: &[u8] = b"ssh:";
        let sk = "sk-ssh-ed25519@openssh.com";
        assert!(
            parse_public_key(&format!("{sk} {}", blob(&[sk.as_bytes(), &[1; 32], app]))).is_ok()
        );
        let missing = format!("{sk} {}", blob(&[sk.as_bytes(), &[1; 32]]));
        assert_eq!(parse_public_key(&missing), Err(InvalidKey::Malformed));
        let sk = "sk-ecdsa-sha2-nistp256@openssh.com";
        let mut q = vec![4; 65];
        q[1] = 9;
        let line = format!("{sk} {} c", blob(&[sk.as_bytes(), b"nistp256", &q, app]));
        assert_eq!(parse_public_key(&line).unwrap().comment, "c");
    }

    #[test]
    fn type_must_match_the_blob() {
        let ed = ed25519_line(&[1; 32], "");
        let as_rsa = ed.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert_eq!(parse_public_key(&as_rsa), Err(InvalidKey::TypeMismatch));
        let rsa = rsa_line(&modulus(2048));
        let as_ed = rsa.replacen("ssh-rsa", "ssh-ed25519", 1);
        assert_eq!(parse_public_key(&as_ed), Err(InvalidKey::TypeMismatch));
    }

    #[test]
    fn unknown_types_and_options_are_refused() {
        let ed = ed25519_line(&[1; 32], "me");
        let body = ed.strip_prefix("ssh-ed25519 ").unwrap();
        for algo in [
            "ssh-dss",
            "ssh-ed25519-cert-v01@openssh.com",
            "rsa-sha2-256",
            "SSH-ED25519",
        ] {
            let line = format!("{algo} {body}");
            assert_eq!(
                parse_public_key(&line),
                Err(InvalidKey::UnsupportedType),
                "{algo}"
            );
        }
        for prefix in [
            "restrict",
            "no-pty",
            "from=10.0.0.1",
            "no-port-forwarding,no-pty",
        ] {
            let line = format!("{prefix} {ed}");
            assert_eq!(
                parse_public_key(&line),
                Err(InvalidKey::UnsupportedType),
                "{prefix}"
            );
        }
        let line = format!("command=\"/bin/sh\" {ed}");
        assert_eq!(parse_public_key(&line), Err(InvalidKey::QuoteOrBackslash));
    }

    #[test]
    fn only_one_line_of_printable_ascii() {
        let ed = ed25519_line(&[1; 32], "me");
        assert!(
            parse_public_key(&format!("  {ed}\r\n")).is_ok(),
            "surrounding space is trimmed"
        );
        for bad in ["\n", "\r", "\t", "\0", "\u{7f}", "é"] {
            let line = ed.replacen(' ', &format!(" {bad}"), 1);
            assert_eq!(
                parse_public_key(&line),
                Err(InvalidKey::NotPrintable),
                "{bad:?}"
            );
        }
        let two_lines = format!("{ed}\n{ed}");
        assert_eq!(parse_public_key(&two_lines), Err(InvalidKey::NotPrintable));
        assert_eq!(
            parse_public_key(&format!("{ed}\"")),
            Err(InvalidKey::QuoteOrBackslash)
        );
        assert_eq!(
            parse_public_key(&format!("{ed}\\")),
            Err(InvalidKey::QuoteOrBackslash)
        );
    }

    #[test]
    fn two_or_three_fields() {
        let ed = ed25519_line(&[1; 32], "");
        let (algo, body) = ed.trim().split_once(' ').unwrap();
        assert_eq!(parse_public_key(""), Err(InvalidKey::FieldCount));
        assert_eq!(parse_public_key(algo), Err(InvalidKey::FieldCount));
        assert_eq!(
            parse_public_key(&format!("{ed} my laptop")),
            Err(InvalidKey::FieldCount)
        );
        let spaced = parse_public_key(&format!("{algo}   {body}   c")).unwrap();
        assert_eq!(
            (spaced.blob_b64.as_str(), spaced.comment.as_str()),
            (body, "c")
        );
    }

    #[test]
    fn base64_must_be_strict_standard() {
        // 52 bytes: the last group encodes one byte and needs two `=`.
        let padded = STANDARD.encode([0u8; 52]);
        assert!(padded.ends_with("AA=="));
        let unpadded = padded.trim_end_matches('=');
        let trailing_bits = format!("{}AB==", &padded[..padded.len() - 4]);
        let url_safe = format!("-_{}", &padded[2..]);
        for bad in ["!!!!", unpadded, &trailing_bits, &url_safe] {
            let line = format!("ssh-ed25519 {bad}");
            assert_eq!(
                parse_public_key(&line),
                Err(InvalidKey::InvalidBase64),
                "{bad}"
            );
        }
        let line = format!("ssh-ed25519 {padded}");
        assert_eq!(parse_public_key(&line), Err(InvalidKey::TypeMismatch));
        assert_eq!(fingerprint_of_blob_b64("!!!!"), None);
    }

    #[test]
    fn size_limit_is_8_kib_after_trimming() {
        let huge = format!("ssh-rsa {}", "A".repeat(20 * 1024));
        assert_eq!(parse_public_key(&huge), Err(InvalidKey::TooLarge));
        let ed = ed25519_line(&[1; 32], "");
        let exact = format!("{ed}{}", "c".repeat(MAX_KEY_LEN - ed.len()));
        assert!(parse_public_key(&format!("{exact}  \n")).is_ok());
        assert_eq!(
            parse_public_key(&format!("{exact}c")),
            Err(InvalidKey::TooLarge)
        );
    }

    #[test]
    fn messages_are_for_people() {
        assert_eq!(
            InvalidKey::UnsupportedType.to_string(),
            "invalid public key: unsupported key type"
        );
        assert_eq!(
            InvalidKey::TooLarge.to_string(),
            "invalid public key: key is too large"
        );
        assert_eq!(
            InvalidKey::RsaTooSmall.to_string(),
            "invalid public key: RSA keys must be at least 2048 bits"
        );
    }

    #[test]
    fn fingerprint_matches_the_documented_form() {
        let key = parse_public_key(&ed25519_line(&[1; 32], "")).unwrap();
        let fp = key.fingerprint();
        let digest = fp.strip_prefix("SHA256:").unwrap();
        assert_eq!(digest.len(), 43);
        assert!(!digest.ends_with('='));
    }

    #[test]
    fn comments_are_sanitised() {
        assert_eq!(sanitize_comment("  a\t\tb \r\n c  "), "a b c");
        assert_eq!(sanitize_comment("say \"hi\" \\o/ é\u{7}x"), "say hi o/ x");
        assert_eq!(sanitize_comment("\u{a0}x\u{2003}y"), "x y");
        assert_eq!(sanitize_comment(""), "");
        assert_eq!(sanitize_comment(&"x".repeat(300)).len(), 200);
        let cut_at_space = format!("{} y", "x".repeat(199));
        assert_eq!(sanitize_comment(&cut_at_space), "x".repeat(199));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>(), bytes in any::<Vec<u8>>()) {
            let _ = parse_public_key(&s);
            for algo in KEY_TYPES.map(|(name, ..)| name) {
                let _ = parse_public_key(&format!("{algo} {}", STANDARD.encode(&bytes)));
            }
        }

        #[test]
        fn mutated_blobs_never_panic(
            key in any::<[u8; 32]>(),
            cut in 0usize..51,
            junk in any::<Vec<u8>>(),
        ) {
            let mut raw = [ssh_string(b"ssh-ed25519"), ssh_string(&key)].concat();
            raw.truncate(cut);
            raw.extend(junk);
            let _ = parse_public_key(&format!("ssh-ed25519 {}", STANDARD.encode(raw)));
        }

        #[test]
        fn sanitised_comments_obey_the_rules(s in any::<String>()) {
            let c = sanitize_comment(&s);
            prop_assert!(c.len() <= MAX_COMMENT_LEN);
            prop_assert!(c.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'));
            prop_assert!(!c.contains("  ") && c.trim() == c);
            prop_assert_eq!(sanitize_comment(&c), c.clone());
        }
    }
}
