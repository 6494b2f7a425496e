//! The signatures of a webhook delivery (API.md 12.5): `X-BorgBox-Signature` and the
//! Standard Webhooks `webhook-signature`, plus the `webhook-id` of a new event. Pure: it takes
//! the secret's text and the exact body bytes, does no I/O (beyond the thread RNG behind
//! `new_message_id`), and never keeps, logs or returns the secret: only MACs of it leave.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a Standard Webhooks secret whose remainder is the base64 of the key.
const WHSEC_PREFIX: &str = "whsec_";

/// `sha256=<lowercase hex HMAC-SHA256 of body keyed with the secret's UTF-8 bytes>`
/// (X-BorgBox-Signature).
pub fn borgbox_signature(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        lower_hex(&hmac_sha256(secret.as_bytes(), &[body]))
    )
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256 over "<msg_id>.<timestamp>.<body>">`, keyed with
/// the base64-decoded remainder when the secret starts with `whsec_` (the secret's UTF-8 bytes
/// otherwise, also when the remainder is not valid base64).
pub fn standard_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let decoded = secret
        .strip_prefix(WHSEC_PREFIX)
        .and_then(|rest| BASE64.decode(rest).ok());
    let key = decoded.as_deref().unwrap_or(secret.as_bytes());
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(
        key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(mac))
}

/// A new webhook-id: `msg_` + 24 lowercase hex digits (random).
pub fn new_message_id() -> String {
    let bytes: [u8; 12] = rand::random();
    format!("msg_{}", lower_hex(&bytes))
}

/// HMAC-SHA256 of the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // `new_from_slice` can only fail for MACs with a fixed key length; HMAC takes a key of
    // any length (longer ones are hashed, RFC 2104), and hmac 0.12 always returns Ok here.
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return [0; 32];
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Every expected value below was computed outside this code, with OpenSSL 3.0.19 (Debian
    // 12) and, where noted, re-checked with Python 3.11's hmac module. In the commands,
    // $B is the exact example body of API.md 12.5:
    //   B='{"event":"stale","repo":"mac","hostname":"hive.local","last_write":"2026-04-15T02:11:00Z","stale_after_hours":26,"hours_since_last_write":48}'
    const BODY: &[u8] = br#"{"event":"stale","repo":"mac","hostname":"hive.local","last_write":"2026-04-15T02:11:00Z","stale_after_hours":26,"hours_since_last_write":48}"#;
    const MSG_ID: &str = "msg_0123456789abcdef01234567";
    const TIMESTAMP: i64 = 1_776_219_060;
    /// The Standard Webhooks specification's example secret; its remainder decodes to
    /// `printf %s MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | openssl base64 -d -A | xxd -p`
    /// = 31f290f6bf06298aab4f08d43c3f082cf648a362da2da4b0.
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn borgbox_signature_matches_openssl() {
        let cases: [(&str, &[u8], &str); 7] = [
            // printf %s "$B" | openssl dgst -sha256 -hmac 's3cr3t'
            (
                "s3cr3t",
                BODY,
                "9a7fdef0d4d2be811d5c3209fd88f2bf94c69dec1d7c8cf4a846a955f03b44fb",
            ),
            // RFC 4231 test case 2, and
            // printf %s 'what do ya want for nothing?' | openssl dgst -sha256 -hmac 'Jefe'
            (
                "Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            // The key is the secret's UTF-8 bytes:
            // printf %s "$B" | openssl dgst -sha256 -hmac 'pässwörd🔑'   (UTF-8 terminal)
            // python3: hmac.new("pässwörd🔑".encode(), B, hashlib.sha256).hexdigest()
            (
                "pässwörd🔑",
                BODY,
                "53314528204b5feca49bac7af87a6feb1225304ecffc43c5afced0b9f4e52715",
            ),
            // printf '' | openssl dgst -sha256 -hmac 's3cr3t'
            (
                "s3cr3t",
                b"",
                "3c81cc9496e1c25250f6ccb85f697c1bb623e3480d6538ad8cb6a6648142777d",
            ),
            // A key of exactly one SHA-256 block, and one byte longer (hashed first):
            // printf %s "$B" | openssl dgst -sha256 -hmac "$(python3 -c 'print("k"*64)')"
            (
                "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
                BODY,
                "a8d5e5c62804eea4343df4269611895db6b132b375ca6f637ece555733349c0f",
            ),
            // printf %s "$B" | openssl dgst -sha256 -hmac "$(python3 -c 'print("k"*65)')"
            (
                "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
                BODY,
                "fccfbffa79d08a59aef047eb6de80aee1d0b69d7e764d90c5b213fcd419d75b4",
            ),
            // X-BorgBox-Signature keys with the UTF-8 bytes even for a whsec_ secret:
            // printf %s "$B" | openssl dgst -sha256 -hmac 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
            (
                WHSEC,
                BODY,
                "5af91acc6da040c5746c14daf01f8b6e4e007e60a6cd8b2186cbad6d5bae0951",
            ),
        ];
        for (secret, body, hex) in cases {
            assert_eq!(
                borgbox_signature(secret, body),
                format!("sha256={hex}"),
                "secret {secret:?}"
            );
        }
    }

    #[test]
    fn standard_signature_matches_the_specification_example() {
        // The example of the Standard Webhooks specification
        // (github.com/standard-webhooks/standard-webhooks, spec/standard-webhooks.md),
        // recomputed with:
        // K=$(printf %s MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw | openssl base64 -d -A | xxd -p -c 100)
        // printf %s 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' \
        //   | openssl dgst -sha256 -mac HMAC -macopt hexkey:$K -binary | openssl base64 -A
        // python3: base64.b64encode(hmac.new(base64.b64decode("MfKQ…"), msg, sha256).digest())
        assert_eq!(
            standard_signature(
                WHSEC,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn standard_signature_matches_openssl() {
        let cases = [
            // A plain secret keys with its UTF-8 bytes:
            // printf %s "msg_0123456789abcdef01234567.1776219060.$B" \
            //   | openssl dgst -sha256 -hmac 's3cr3t' -binary | openssl base64 -A
            ("s3cr3t", "RhLAFR/l73mMe/xkE6MUqmvcNnMcC5az2Vs1tiQJ1RI="),
            // whsec_: the decoded remainder is the key ($K as above):
            // printf %s "msg_0123456789abcdef01234567.1776219060.$B" \
            //   | openssl dgst -sha256 -mac HMAC -macopt hexkey:$K -binary | openssl base64 -A
            (WHSEC, "u3nWvyo3+AsCZqpreZDtnnKrU2DgwxuOj6yqnZD9Lrw="),
            // whsec_ with a remainder that is not base64: the whole secret's UTF-8 bytes:
            // printf %s "msg_0123456789abcdef01234567.1776219060.$B" \
            //   | openssl dgst -sha256 -hmac 'whsec_not*base64!' -binary | openssl base64 -A
            (
                "whsec_not*base64!",
                "X3allYOOTUav0gjnvFYNvt1vUT1rx3TnTaEbtH4H++Y=",
            ),
            // The prefix is case-sensitive, so this is a plain secret:
            // printf %s "msg_0123456789abcdef01234567.1776219060.$B" \
            //   | openssl dgst -sha256 -hmac 'WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' -binary \
            //   | openssl base64 -A
            (
                "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "Nd7deXReWRnBZjOdUDT9tL7TFxnES9bnnVIrUlphGVY=",
            ),
        ];
        for (secret, b64) in cases {
            assert_eq!(
                standard_signature(secret, MSG_ID, TIMESTAMP, BODY),
                format!("v1,{b64}"),
                "secret {secret:?}"
            );
        }
    }

    #[test]
    fn message_ids_are_msg_and_24_lowercase_hex_digits_and_differ() {
        let a = new_message_id();
        let b = new_message_id();
        for id in [&a, &b] {
            let hex = id.strip_prefix("msg_").unwrap();
            assert_eq!(hex.len(), 24, "{id}");
            assert!(
                hex.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
                "{id}"
            );
        }
        assert_ne!(a, b);
    }

    proptest! {
        #[test]
        fn signatures_have_their_fixed_shape(
            secret in ".{0,80}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
            timestamp in any::<i64>(),
        ) {
            let borgbox = borgbox_signature(&secret, &body);
            let hex = borgbox.strip_prefix("sha256=").unwrap();
            prop_assert_eq!(hex.len(), 64);
            prop_assert!(hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));

            let standard = standard_signature(&secret, MSG_ID, timestamp, &body);
            let b64 = standard.strip_prefix("v1,").unwrap();
            prop_assert_eq!(BASE64.decode(b64).unwrap().len(), 32);
        }
    }
}
