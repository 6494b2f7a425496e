//! The monitor tick of API.md 12.3 as pure functions: what one check of one alert changes
//! and which event (if any) it must deliver; then what a delivery's outcome changes. Takes
//! `now` and the repo's last write; never reads a clock, a file or the network.

use super::webhook::Payload;
use super::{Alert, Event, Pending, State};
use crate::model::timestamp::Stamp;

/// What the monitor saw of the alert's repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The repo directory is missing.
    Missing,
    /// The last write (API.md 12.2); None when it cannot be told.
    LastWrite(Option<i64>),
}

pub const MISSING: &str = "repository directory not found";

/// Whole hours from `last_write` to `now`, truncated; 0 when unknown.
fn hours_since(last_write: Stamp, now: i64) -> i64 {
    last_write.unix().map_or(0, |t| (now - t).max(0) / 3600)
}

/// The payload of an event about `alert` as it was just checked.
pub fn payload(alert: &Alert, event: &'static str, hostname: &str, now: i64) -> Payload {
    Payload {
        event,
        repo: alert.repo.to_string(),
        hostname: hostname.to_owned(),
        last_write: alert.last_write.to_string(),
        stale_after_hours: i64::from(alert.stale_after_hours),
        hours_since_last_write: hours_since(alert.last_write, now),
    }
}

/// Checks one enabled alert at `now`. Updates the monitor fields and returns the event to
/// deliver now: a new one, or the pending one again. `new_id` makes a webhook-id.
pub fn check(
    alert: &mut Alert,
    seen: Seen,
    now: i64,
    hostname: &str,
    new_id: impl FnOnce() -> String,
) -> Option<Pending> {
    alert.last_check_at = Stamp::at(now);
    let last_write = match seen {
        Seen::Missing => {
            alert.last_error = MISSING.to_owned();
            return None;
        }
        Seen::LastWrite(t) => t,
    };
    alert.last_write = last_write.map_or(Stamp::UNSET, Stamp::at);
    let age = last_write.map(|t| now - t);
    let observed = match age {
        Some(age) if age > i64::from(alert.stale_after_hours) * 3600 => State::Stale,
        // A repo whose last write cannot be told is not called stale.
        _ => State::Ok,
    };
    let previous = alert.last_state.replace(observed);
    // The check succeeded; a delivery below may set its own error.
    alert.last_error.clear();

    if let Some(pending) = &alert.pending {
        let still = matches!(
            (pending.event, observed),
            (Event::Stale, State::Stale) | (Event::Recovered, State::Ok)
        );
        if still {
            return alert.pending.clone();
        }
        // The state flipped back before the event got through: nothing is sent for either.
        alert.pending = None;
        return None;
    }

    let event = match (previous, observed) {
        (None | Some(State::Ok), State::Stale) => Some(Event::Stale),
        (Some(State::Stale), State::Stale) => {
            let renotify = i64::from(alert.renotify_hours) * 3600;
            let due = alert
                .last_alerted_at
                .unix()
                .is_none_or(|t| now - t >= renotify);
            (alert.renotify_hours > 0 && due).then_some(Event::Stale)
        }
        (Some(State::Stale), State::Ok) => Some(Event::Recovered),
        (None | Some(State::Ok), State::Ok) => None,
    }?;
    let body = payload(alert, event.as_str(), hostname, now).to_bytes();
    let pending = Pending {
        event,
        message_id: new_id(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    alert.pending = Some(pending.clone());
    Some(pending)
}

/// Records how the delivery of `message_id` ended, if the alert still waits for it.
pub fn delivered(alert: &mut Alert, message_id: &str, outcome: Result<(), String>, now: i64) {
    if alert
        .pending
        .as_ref()
        .is_none_or(|p| p.message_id != message_id)
    {
        return;
    }
    match outcome {
        Ok(()) => {
            alert.pending = None;
            alert.last_alerted_at = Stamp::at(now);
            alert.last_error.clear();
        }
        Err(message) => alert.last_error = message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::AlertInput;
    use crate::model::AlertId;

    const H: i64 = 3600;
    const T0: i64 = 1_800_000_000;

    fn alert(stale_after_hours: i64, renotify_hours: i64) -> Alert {
        Alert::create(
            AlertId::random(),
            "mac".parse().unwrap(),
            &AlertInput {
                stale_after_hours: Some(stale_after_hours),
                renotify_hours: Some(renotify_hours),
                webhook_url: Some("http://127.0.0.1/hook".into()),
                ..Default::default()
            },
            T0,
        )
        .unwrap()
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("msg_{n:024x}")
        }
    }

    /// One tick at `now` with the last write `hours_ago` before it; the event delivered
    /// with `outcome`. Returns the event name sent, if any.
    fn tick(alert: &mut Alert, now: i64, hours_ago: i64, ok: bool) -> Option<&'static str> {
        let pending = check(
            alert,
            Seen::LastWrite(Some(now - hours_ago * H)),
            now,
            "hive",
            ids(),
        )?;
        let outcome = if ok {
            Ok(())
        } else {
            Err("webhook returned 500".into())
        };
        delivered(alert, &pending.message_id, outcome, now);
        Some(pending.event.as_str())
    }

    #[test]
    fn every_row_of_the_state_table() {
        // null → ok: nothing.
        let mut a = alert(26, 0);
        assert_eq!(tick(&mut a, T0, 1, true), None);
        assert_eq!(a.last_state, Some(State::Ok));
        // ok → ok: nothing.
        assert_eq!(tick(&mut a, T0 + H, 2, true), None);
        // ok → stale: stale.
        assert_eq!(tick(&mut a, T0 + 2 * H, 27, true), Some("stale"));
        assert_eq!(
            (a.last_state, a.last_alerted_at),
            (Some(State::Stale), Stamp::at(T0 + 2 * H))
        );
        // stale → stale without renotify: nothing, ever.
        assert_eq!(tick(&mut a, T0 + 500 * H, 600, true), None);
        // stale → ok: recovered.
        assert_eq!(tick(&mut a, T0 + 501 * H, 0, true), Some("recovered"));
        assert_eq!(a.last_state, Some(State::Ok));
        // null → stale: stale.
        let mut b = alert(26, 0);
        assert_eq!(tick(&mut b, T0, 30, true), Some("stale"));
        // Exactly at the threshold is not stale (greater than).
        let mut c = alert(26, 0);
        assert_eq!(tick(&mut c, T0, 26, true), None);
    }

    #[test]
    fn renotify_repeats_stale_after_its_hours_since_the_last_alert() {
        let mut a = alert(1, 6);
        assert_eq!(tick(&mut a, T0, 2, true), Some("stale"));
        assert_eq!(tick(&mut a, T0 + 5 * H, 7, true), None);
        assert_eq!(tick(&mut a, T0 + 6 * H, 8, true), Some("stale"));
        assert_eq!(a.last_alerted_at, Stamp::at(T0 + 6 * H));
        assert_eq!(tick(&mut a, T0 + 7 * H, 9, true), None);
    }

    #[test]
    fn a_failed_event_stays_pending_with_its_id_and_bytes_until_it_gets_through() {
        let mut a = alert(1, 0);
        assert_eq!(tick(&mut a, T0, 2, false), Some("stale"));
        assert_eq!(a.last_error, "webhook returned 500");
        let first = a.pending.clone().unwrap();
        assert!(a.last_alerted_at == Stamp::UNSET);
        // Next tick: the same event again, same id and bytes, even though time moved on.
        let again = check(
            &mut a,
            Seen::LastWrite(Some(T0 - 5 * H)),
            T0 + H,
            "hive",
            ids(),
        )
        .unwrap();
        assert_eq!(again, first);
        assert_eq!(
            a.last_error, "",
            "a successful check clears the error until the delivery"
        );
        delivered(
            &mut a,
            &again.message_id,
            Err("webhook returned 502".into()),
            T0 + H,
        );
        assert_eq!(a.last_error, "webhook returned 502");
        assert_eq!(tick(&mut a, T0 + 2 * H, 3, true), Some("stale"));
        assert_eq!((a.pending.clone(), a.last_error.as_str()), (None, ""));
        assert_eq!(a.last_alerted_at, Stamp::at(T0 + 2 * H));
    }

    #[test]
    fn a_pending_event_is_dropped_when_the_state_flips_back_and_nothing_is_sent() {
        let mut a = alert(1, 0);
        assert_eq!(tick(&mut a, T0, 2, false), Some("stale"));
        // A backup arrives: the unsent stale is dropped, and no recovered is sent for it.
        assert_eq!(tick(&mut a, T0 + H, 0, true), None);
        assert_eq!((a.pending.clone(), a.last_state), (None, Some(State::Ok)));
        // The same for a pending recovered that sees the repo go stale again.
        let mut b = alert(1, 0);
        assert_eq!(tick(&mut b, T0, 2, true), Some("stale"));
        assert_eq!(tick(&mut b, T0 + H, 0, false), Some("recovered"));
        assert_eq!(tick(&mut b, T0 + 3 * H, 2, true), None);
        assert_eq!(
            (b.pending.clone(), b.last_state),
            (None, Some(State::Stale))
        );
    }

    #[test]
    fn a_missing_repo_is_an_error_without_state_change_or_delivery() {
        let mut a = alert(1, 0);
        assert_eq!(tick(&mut a, T0, 2, true), Some("stale"));
        let before = a.clone();
        assert!(check(&mut a, Seen::Missing, T0 + H, "hive", ids()).is_none());
        assert_eq!(a.last_error, MISSING);
        assert_eq!(a.last_check_at, Stamp::at(T0 + H));
        assert_eq!(
            (a.last_state, a.last_write),
            (before.last_state, before.last_write)
        );
    }

    #[test]
    fn a_late_outcome_for_another_event_changes_nothing() {
        let mut a = alert(1, 0);
        check(&mut a, Seen::LastWrite(Some(T0 - 2 * H)), T0, "hive", ids()).unwrap();
        let before = a.clone();
        delivered(&mut a, "msg_other", Ok(()), T0);
        assert_eq!(a, before);
    }

    #[test]
    fn the_payload_has_the_fields_in_order_and_whole_hours() {
        let mut a = alert(26, 0);
        let pending = check(
            &mut a,
            Seen::LastWrite(Some(T0 - 48 * H - 59)),
            T0,
            "hive.local",
            ids(),
        )
        .unwrap();
        assert_eq!(
            pending.body,
            format!(
                "{{\"event\":\"stale\",\"repo\":\"mac\",\"hostname\":\"hive.local\",\
                 \"last_write\":\"{}\",\"stale_after_hours\":26,\"hours_since_last_write\":48}}",
                Stamp::at(T0 - 48 * H - 59)
            )
        );
        let unknown = payload(&alert(1, 0), "test", "h", T0);
        assert_eq!(
            (unknown.last_write.as_str(), unknown.hours_since_last_write),
            ("", 0)
        );
    }
}
