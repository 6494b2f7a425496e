//! Stale-backup alerts (API.md 12): the Alert as stored (secret and pending event
//! included) and as sent (neither), validation and PATCH merge (pure), the monitor's rules
//! (`rules`, pure), signatures (`sign`, pure) and delivery (`webhook`, the only outbound
//! HTTP).

pub mod rules;
pub mod sign;
pub mod webhook;

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::json_array::JsonArrayFile;
use crate::model::timestamp::Stamp;
use crate::model::{AlertId, RepoName};

/// At most this many alerts.
pub const LIMIT: usize = 1000;
const MAX_URL: usize = 2048;
const MAX_SECRET: usize = 1024;
const MAX_HOURS: i64 = 8760;

/// A webhook secret as the alerts file keeps it. Written only into that file (0600); its
/// Debug hides it, it has no Display, and only `expose()` reads it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AlertState)]
pub enum State {
    Ok,
    Stale,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    Stale,
    Recovered,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Stale => "stale",
            Event::Recovered => "recovered",
        }
    }
}

/// An event whose delivery failed: retried at each tick with the same id and bytes until it
/// succeeds or the state flips back (API.md 12.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub event: Event,
    /// `webhook-id`, the same for every attempt.
    pub message_id: String,
    /// The exact payload, serialised once (API.md 12.5).
    pub body: String,
}

/// An alert as the alerts file stores it (API.md 12.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: AlertId,
    pub repo: RepoName,
    pub stale_after_hours: u32,
    pub webhook_url: String,
    pub enabled: bool,
    pub renotify_hours: u32,
    pub created_at: Stamp,
    pub last_check_at: Stamp,
    pub last_state: Option<State>,
    pub last_write: Stamp,
    pub last_alerted_at: Stamp,
    pub last_error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<WebhookSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// The secret field of a request: API.md 12.1's three states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SecretChange {
    /// Omitted or null: keep it.
    #[default]
    Keep,
    /// `""`: no signing.
    Clear,
    Set(String),
}

/// The five fields a client may send, each already of the right JSON type.
#[derive(Debug, Clone, Default)]
pub struct AlertInput {
    pub stale_after_hours: Option<i64>,
    pub webhook_url: Option<String>,
    pub enabled: Option<bool>,
    pub renotify_hours: Option<i64>,
    pub secret: SecretChange,
}

fn hours(field: &str, value: i64, low: i64) -> Result<u32, String> {
    if (low..=MAX_HOURS).contains(&value) {
        Ok(value as u32)
    } else {
        Err(format!(
            "{field} must be an integer from {low} to {MAX_HOURS}"
        ))
    }
}

/// The webhook URLs borgbox takes (API.md 12.1), as the OpenAPI document's `pattern` says
/// it (the server checks the same expression, so the two agree exactly): http or https, an
/// optional userinfo, a host name (whose last label starts with a letter, so it is never
/// read as a malformed IPv4 address), an IPv4 address or a bracketed IPv6 address, an
/// optional port, path, query and fragment of RFC 3986 characters.
pub const WEBHOOK_URL_PATTERN: &str = concat!(
    "^[Hh][Tt][Tt][Pp][Ss]?://",
    "(([A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})+@)?",
    "(([A-Za-z0-9](-?[A-Za-z0-9])*[.])*[A-Za-z](-?[A-Za-z0-9])*[.]?",
    "|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])[.]){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    "|\\[(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,7}:|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}|([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}|([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}|([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}|:((:[0-9A-Fa-f]{1,4}){1,7}|:))\\])",
    "(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?",
    "(/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?",
    "([?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?",
    "(#([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$",
);

/// An absolute http or https URL with a host, as written (`http://host…`, not one a
/// parser would repair, like `http:host` or `http:///host`), at most 2,048 characters of
/// RFC 3986 (no spaces, controls, quotes, angle brackets or non-ASCII: what is shown is
/// where deliveries go).
pub fn check_url(url: &str) -> Result<(), String> {
    let bad = || Err("webhook_url must be an absolute http or https URL".to_owned());
    if url.len() > MAX_URL {
        return Err(format!("webhook_url must be at most {MAX_URL} characters"));
    }
    if !url
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b"<>\"\\^`{|}".contains(&b))
    {
        return bad();
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
        return bad();
    }
    // A constant that compiles (its unit test shows it); None would refuse every URL.
    static PATTERN: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(WEBHOOK_URL_PATTERN).ok());
    if !PATTERN.as_ref().is_some_and(|p| p.is_match(url)) {
        return bad();
    }
    match reqwest::Url::parse(url) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https")
                && parsed.host_str().is_some_and(|h| !h.is_empty()) =>
        {
            Ok(())
        }
        _ => bad(),
    }
}

fn secret(
    change: &SecretChange,
    current: Option<&WebhookSecret>,
) -> Result<Option<WebhookSecret>, String> {
    match change {
        SecretChange::Keep => Ok(current.cloned()),
        SecretChange::Clear => Ok(None),
        SecretChange::Set(s) if s.len() > MAX_SECRET => {
            Err(format!("secret must be at most {MAX_SECRET} bytes"))
        }
        SecretChange::Set(s) => Ok(Some(WebhookSecret(s.clone()))),
    }
}

impl Alert {
    /// A new alert from a POST body (API.md 12.1).
    pub fn create(
        id: AlertId,
        repo: RepoName,
        input: &AlertInput,
        now: i64,
    ) -> Result<Alert, String> {
        let stale_after_hours = hours(
            "stale_after_hours",
            input
                .stale_after_hours
                .ok_or("stale_after_hours is required")?,
            1,
        )?;
        let webhook_url = input.webhook_url.clone().ok_or("webhook_url is required")?;
        check_url(&webhook_url)?;
        Ok(Alert {
            id,
            repo,
            stale_after_hours,
            webhook_url,
            enabled: input.enabled.unwrap_or(true),
            renotify_hours: hours("renotify_hours", input.renotify_hours.unwrap_or(0), 0)?,
            created_at: Stamp::at(now),
            last_check_at: Stamp::UNSET,
            last_state: None,
            last_write: Stamp::UNSET,
            last_alerted_at: Stamp::UNSET,
            last_error: String::new(),
            secret: secret(&input.secret, None)?,
            pending: None,
        })
    }

    /// PATCH: the five fields merged and validated; the monitor state is kept.
    pub fn merge(&self, input: &AlertInput) -> Result<Alert, String> {
        let mut merged = self.clone();
        if let Some(value) = input.stale_after_hours {
            merged.stale_after_hours = hours("stale_after_hours", value, 1)?;
        }
        if let Some(value) = input.renotify_hours {
            merged.renotify_hours = hours("renotify_hours", value, 0)?;
        }
        if let Some(url) = &input.webhook_url {
            check_url(url)?;
            merged.webhook_url = url.clone();
        }
        merged.enabled = input.enabled.unwrap_or(self.enabled);
        merged.secret = secret(&input.secret, self.secret.as_ref())?;
        Ok(merged)
    }

    /// A stored alert is usable only when its fields are in range.
    pub fn check(&self) -> Result<(), String> {
        let inner = || -> Result<(), String> {
            hours("stale_after_hours", i64::from(self.stale_after_hours), 1)?;
            hours("renotify_hours", i64::from(self.renotify_hours), 0)?;
            check_url(&self.webhook_url)?;
            if !self.created_at.is_set() {
                return Err("created_at must be set".into());
            }
            Ok(())
        };
        inner().map_err(|e| format!("alert {}: {e}", self.id))
    }
}

pub type AlertStore = JsonArrayFile<Alert>;

pub fn alert_store(path: PathBuf) -> AlertStore {
    JsonArrayFile::new(path, Alert::check)
}

/// API.md 2.7: `created_at` ascending, then `id`.
pub fn sort(alerts: &mut [Alert]) {
    alerts.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_the_documents_pattern_exactly() {
        for good in [
            "https://hooks.example.net/borg",
            "HTTP://Hooks.Example.NET:8080/a/b?c=d&e=%20#frag",
            "http://user:p%40ss@1password.com/x",
            "http://10.0.0.1:65535/",
            "http://[::1]/hook",
            "http://[2001:db8::8a2e:370:7334]:9000",
            "http://localhost",
            "https://a.",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "https://u.p.info*",
            "http://1.2.3.4.5/",
            "http://999999999999/",
            "http://a:65536/",
            "http://a_b.example/",
            "http://xn--a/",
            "http://[1.2.3.4]/",
            "http://host/%zz",
            "http://@host/",
            "ftp://host/",
            "http:///host",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    /// What the API shows of an alert (`api::wire::AlertView`), as these tests read it.
    trait View {
        fn view(&self) -> crate::api::wire::AlertView;
    }

    impl View for Alert {
        fn view(&self) -> crate::api::wire::AlertView {
            crate::api::wire::AlertView::of(self)
        }
    }

    fn input(hours: i64, url: &str) -> AlertInput {
        AlertInput {
            stale_after_hours: Some(hours),
            webhook_url: Some(url.into()),
            ..Default::default()
        }
    }

    fn create(input: &AlertInput) -> Result<Alert, String> {
        Alert::create(AlertId::random(), "mac".parse().unwrap(), input, 1_000)
    }

    #[test]
    fn create_validates_and_starts_unchecked() {
        let alert = create(&input(26, "https://hooks.example.net/x?y=1")).unwrap();
        assert_eq!((alert.enabled, alert.renotify_hours), (true, 0));
        assert_eq!(alert.last_state, None);
        let view = serde_json::to_value(alert.view()).unwrap();
        assert_eq!(view["last_state"], serde_json::Value::Null);
        assert_eq!(view["has_secret"], false);
        assert_eq!(view["last_check_at"], "");
        assert_eq!(view.as_object().unwrap().len(), 13);
        for (bad, message) in [
            (
                input(0, "http://a"),
                "stale_after_hours must be an integer from 1 to 8760",
            ),
            (
                input(8761, "http://a"),
                "stale_after_hours must be an integer from 1 to 8760",
            ),
            (
                input(1, "ftp://a/x"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "/relative"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http://"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http://exa\nmple.com"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http:// a"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http:///h/hook"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http:example.net/x"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http:\\\\example.net/x"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http://h/<script>"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "http://h/\u{202e}x"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "javascript:alert(1)"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, "https:"),
                "webhook_url must be an absolute http or https URL",
            ),
            (
                input(1, &format!("http://a/{}", "x".repeat(2040))),
                "webhook_url must be at most 2048 characters",
            ),
            (
                AlertInput {
                    renotify_hours: Some(-1),
                    ..input(1, "http://a")
                },
                "renotify_hours must be an integer from 0 to 8760",
            ),
            (
                AlertInput {
                    secret: SecretChange::Set("s".repeat(1025)),
                    ..input(1, "http://a")
                },
                "secret must be at most 1024 bytes",
            ),
            (AlertInput::default(), "stale_after_hours is required"),
        ] {
            assert_eq!(create(&bad).unwrap_err(), message);
        }
        assert!(create(&input(1, &format!("http://a/{}", "x".repeat(2037)))).is_ok());
    }

    #[test]
    fn the_secret_is_write_only_and_patch_has_three_states() {
        let alert = create(&AlertInput {
            secret: SecretChange::Set("s3cret-value".into()),
            ..input(26, "http://127.0.0.1:9/hook")
        })
        .unwrap();
        let shown = serde_json::to_string(&alert.view()).unwrap();
        assert!(!shown.contains("s3cret-value") && shown.contains("\"has_secret\":true"));
        assert!(!format!("{alert:?}").contains("s3cret-value"));
        let kept = alert.merge(&AlertInput::default()).unwrap();
        assert_eq!(kept.secret, alert.secret);
        let rotated = alert
            .merge(&AlertInput {
                secret: SecretChange::Set("other".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(rotated.secret.unwrap().expose(), "other");
        let cleared = alert
            .merge(&AlertInput {
                secret: SecretChange::Clear,
                ..Default::default()
            })
            .unwrap();
        assert!(!cleared.view().has_secret);
    }
}
