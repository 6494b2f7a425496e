//! Scheduled maintenance (API.md 11): the Schedule as stored and sent, its validation and
//! PATCH merge (pure), the file it lives in (`store`), the timer files that fire it under
//! systemd (`render`), and when it fires (`calendar`).

pub mod calendar;
pub mod reconcile;
pub mod render;
pub mod store;
pub mod timers;

use serde::{Deserialize, Serialize};

use self::calendar::{Cadence, Calendar, Zone};
use crate::model::timestamp::Stamp;
use crate::model::{JobId, RepoName, ScheduleId};

/// At most this many schedules: each is a timer in borg's user manager.
pub const LIMIT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Check,
    Compact,
}

impl ScheduleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Check => "check",
            ScheduleKind::Compact => "compact",
        }
    }

    pub fn job_kind(self) -> crate::jobs::spec::JobKind {
        match self {
            ScheduleKind::Check => crate::jobs::spec::JobKind::Check,
            ScheduleKind::Compact => crate::jobs::spec::JobKind::Compact,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Cadence)]
pub enum CadenceName {
    Daily,
    Weekly,
    Monthly,
}

/// `last_status` (API.md 4.9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LastStatus {
    #[default]
    #[serde(rename = "")]
    Never,
    Running,
    Done,
    Error,
    Skipped,
}

impl LastStatus {
    pub const ALL: [LastStatus; 5] = [
        LastStatus::Never,
        LastStatus::Running,
        LastStatus::Done,
        LastStatus::Error,
        LastStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LastStatus::Never => "",
            LastStatus::Running => "running",
            LastStatus::Done => "done",
            LastStatus::Error => "error",
            LastStatus::Skipped => "skipped",
        }
    }
}

/// By hand: utoipa's derive drops serde's `rename = ""` and would document `never`.
impl utoipa::PartialSchema for LastStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(LastStatus::ALL.map(LastStatus::as_str)))
            .description(Some("`\"\"` before the first fire"))
            .into()
    }
}

impl utoipa::ToSchema for LastStatus {
    fn name() -> std::borrow::Cow<'static, str> {
        "ScheduleLastStatus".into()
    }
}

/// A job id or `""` (no run yet, or a skipped one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastJob(pub Option<JobId>);

impl Serialize for LastJob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_ref().map_or("", JobId::as_str))
    }
}

impl<'de> Deserialize<'de> for LastJob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(LastJob(None));
        }
        text.parse()
            .map(|id| LastJob(Some(id)))
            .map_err(serde::de::Error::custom)
    }
}

/// A schedule with all 14 fields of API.md 4.9, exactly as the file stores it (11.5) and
/// the API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: ScheduleId,
    pub repo: RepoName,
    pub kind: ScheduleKind,
    pub cadence: CadenceName,
    /// Server local time.
    #[schema(maximum = 23)]
    pub hour: u8,
    #[schema(maximum = 59)]
    pub minute: u8,
    /// 0 (Sunday) to 6 (Saturday) for weekly, otherwise 0.
    #[schema(maximum = 6)]
    pub weekday: u8,
    /// 1 to 28 for monthly, otherwise 0.
    #[schema(maximum = 28)]
    pub day: u8,
    pub enabled: bool,
    pub created_at: Stamp,
    /// `""` before the first fire.
    pub last_run: Stamp,
    pub last_status: LastStatus,
    /// The job of the last run; `""` when none.
    #[schema(value_type = String, pattern = "^(j_[0-9a-f]{12})?$")]
    pub last_job_id: LastJob,
    /// The next instant it fires (API.md 11.3).
    pub next_run: Stamp,
}

/// The seven fields a client may send (API.md 11.2), each already of the right JSON type;
/// absent ones are `None`. Integers are kept wide so that range errors can be named.
#[derive(Debug, Clone, Default)]
pub struct ScheduleInput {
    pub kind: Option<String>,
    pub cadence: Option<String>,
    pub hour: Option<i64>,
    pub minute: Option<i64>,
    pub weekday: Option<i64>,
    pub day: Option<i64>,
    pub enabled: Option<bool>,
}

/// The calendar part of a schedule, validated: what decides when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct When {
    cadence: CadenceName,
    hour: u8,
    minute: u8,
    weekday: u8,
    day: u8,
}

fn in_range(field: &str, value: i64, low: i64, high: i64) -> Result<u8, String> {
    if (low..=high).contains(&value) {
        // The ranges above all fit a u8.
        Ok(value as u8)
    } else {
        Err(format!("{field} must be an integer from {low} to {high}"))
    }
}

fn kind(text: &str) -> Result<ScheduleKind, String> {
    match text {
        "check" => Ok(ScheduleKind::Check),
        "compact" => Ok(ScheduleKind::Compact),
        _ => Err("kind must be check or compact".into()),
    }
}

fn cadence(text: &str) -> Result<CadenceName, String> {
    match text {
        "daily" => Ok(CadenceName::Daily),
        "weekly" => Ok(CadenceName::Weekly),
        "monthly" => Ok(CadenceName::Monthly),
        _ => Err("cadence must be daily, weekly or monthly".into()),
    }
}

impl When {
    /// Validates the merged fields; an unused weekday or day is stored as 0 (API.md 11.2).
    fn validate(
        cadence: CadenceName,
        hour: Option<i64>,
        minute: Option<i64>,
        weekday: Option<i64>,
        day: Option<i64>,
    ) -> Result<When, String> {
        let hour = in_range("hour", hour.ok_or("hour is required")?, 0, 23)?;
        let minute = in_range("minute", minute.ok_or("minute is required")?, 0, 59)?;
        let weekday = match cadence {
            CadenceName::Weekly => in_range(
                "weekday",
                weekday.ok_or("weekday is required for a weekly schedule")?,
                0,
                6,
            )?,
            _ => 0,
        };
        let day = match cadence {
            CadenceName::Monthly => in_range(
                "day",
                day.ok_or("day is required for a monthly schedule")?,
                1,
                28,
            )?,
            _ => 0,
        };
        Ok(When {
            cadence,
            hour,
            minute,
            weekday,
            day,
        })
    }

    fn calendar(self) -> Calendar {
        Calendar {
            cadence: match self.cadence {
                CadenceName::Daily => Cadence::Daily,
                CadenceName::Weekly => Cadence::Weekly {
                    weekday: self.weekday,
                },
                CadenceName::Monthly => Cadence::Monthly { day: self.day },
            },
            hour: self.hour,
            minute: self.minute,
        }
    }
}

impl Schedule {
    /// A new schedule from a POST body (API.md 11.2); `next_run` counts from `now`.
    pub fn create(
        id: ScheduleId,
        repo: RepoName,
        input: &ScheduleInput,
        now: i64,
        zone: &Zone,
    ) -> Result<Schedule, String> {
        let kind = kind(input.kind.as_deref().ok_or("kind is required")?)?;
        let cadence = cadence(input.cadence.as_deref().ok_or("cadence is required")?)?;
        let when = When::validate(cadence, input.hour, input.minute, input.weekday, input.day)?;
        let mut schedule = Schedule {
            id,
            repo,
            kind,
            cadence,
            hour: 0,
            minute: 0,
            weekday: 0,
            day: 0,
            enabled: input.enabled.unwrap_or(true),
            created_at: Stamp::at(now),
            last_run: Stamp::UNSET,
            last_status: LastStatus::Never,
            last_job_id: LastJob(None),
            next_run: Stamp::UNSET,
        };
        schedule.set_when(when, now, zone);
        Ok(schedule)
    }

    /// PATCH (API.md 11.2): the body merged into this schedule and validated as a whole.
    /// `next_run` is recomputed from `now` only when the calendar changed.
    pub fn merge(&self, input: &ScheduleInput, now: i64, zone: &Zone) -> Result<Schedule, String> {
        let kind = match &input.kind {
            Some(text) => kind(text)?,
            None => self.kind,
        };
        let cadence = match &input.cadence {
            Some(text) => cadence(text)?,
            None => self.cadence,
        };
        let when = When::validate(
            cadence,
            input.hour.or(Some(i64::from(self.hour))),
            input.minute.or(Some(i64::from(self.minute))),
            input.weekday.or(Some(i64::from(self.weekday))),
            input.day.or(Some(i64::from(self.day))),
        )?;
        let mut merged = self.clone();
        merged.kind = kind;
        merged.enabled = input.enabled.unwrap_or(self.enabled);
        if when != self.when() {
            merged.set_when(when, now, zone);
        }
        Ok(merged)
    }

    fn when(&self) -> When {
        When {
            cadence: self.cadence,
            hour: self.hour,
            minute: self.minute,
            weekday: self.weekday,
            day: self.day,
        }
    }

    fn set_when(&mut self, when: When, now: i64, zone: &Zone) {
        self.cadence = when.cadence;
        self.hour = when.hour;
        self.minute = when.minute;
        self.weekday = when.weekday;
        self.day = when.day;
        self.next_run = Stamp::at(when.calendar().next_fire(now, zone));
    }

    pub fn calendar(&self) -> Calendar {
        self.when().calendar()
    }

    /// The instant after `now` it fires next.
    pub fn next_after(&self, now: i64, zone: &Zone) -> Stamp {
        Stamp::at(self.calendar().next_fire(now, zone))
    }

    /// Enabled and its next run is not in the future (API.md 11.4).
    pub fn is_due(&self, now: i64) -> bool {
        self.enabled && self.next_run.unix().is_some_and(|t| t <= now)
    }

    /// A stored schedule is usable only when every field is in its range, so a hand edit
    /// that breaks one makes the file unreadable rather than a timer wrong.
    pub fn check(&self) -> Result<(), String> {
        let when = When::validate(
            self.cadence,
            Some(i64::from(self.hour)),
            Some(i64::from(self.minute)),
            Some(i64::from(self.weekday)),
            Some(i64::from(self.day)),
        )
        .map_err(|e| format!("schedule {}: {e}", self.id))?;
        if when != self.when() {
            return Err(format!(
                "schedule {}: weekday and day must be 0 when the cadence does not use them",
                self.id
            ));
        }
        if !self.created_at.is_set() || !self.next_run.is_set() {
            return Err(format!(
                "schedule {}: created_at and next_run must be set",
                self.id
            ));
        }
        Ok(())
    }
}

/// API.md 2.7: `created_at` ascending, then `id`.
pub fn sort(schedules: &mut [Schedule]) {
    schedules.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document's enum is what serde writes, `""` included (utoipa's derive drops it).
    #[test]
    fn last_status_schema_lists_what_serde_writes() {
        let schema = serde_json::to_value(<LastStatus as utoipa::PartialSchema>::schema()).unwrap();
        let written: Vec<serde_json::Value> = LastStatus::ALL
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
            .collect();
        assert_eq!(schema["enum"], serde_json::Value::Array(written));
        assert_eq!(schema["enum"][0], "");
    }

    fn input(kind: &str, cadence: &str, hour: i64, minute: i64) -> ScheduleInput {
        ScheduleInput {
            kind: Some(kind.into()),
            cadence: Some(cadence.into()),
            hour: Some(hour),
            minute: Some(minute),
            ..Default::default()
        }
    }

    fn create(input: &ScheduleInput) -> Result<Schedule, String> {
        Schedule::create(
            ScheduleId::random(),
            "mac".parse().unwrap(),
            input,
            1_000_000,
            &Zone::utc(),
        )
    }

    #[test]
    fn create_validates_every_field_and_normalises_unused_ones() {
        let s = create(&ScheduleInput {
            weekday: Some(9),
            day: Some(-3),
            ..input("check", "daily", 2, 30)
        })
        .unwrap();
        assert_eq!((s.weekday, s.day, s.enabled), (0, 0, true));
        assert_eq!(s.last_status, LastStatus::Never);
        assert!(s.next_run.unix().unwrap() > 1_000_000);
        s.check().unwrap();
        for (bad, message) in [
            (
                input("prune", "daily", 2, 30),
                "kind must be check or compact",
            ),
            (
                input("check", "hourly", 2, 30),
                "cadence must be daily, weekly or monthly",
            ),
            (
                input("check", "daily", 24, 30),
                "hour must be an integer from 0 to 23",
            ),
            (
                input("check", "daily", -1, 30),
                "hour must be an integer from 0 to 23",
            ),
            (
                input("check", "daily", 2, 60),
                "minute must be an integer from 0 to 59",
            ),
            (
                input("check", "weekly", 2, 30),
                "weekday is required for a weekly schedule",
            ),
            (
                ScheduleInput {
                    weekday: Some(7),
                    ..input("check", "weekly", 2, 30)
                },
                "weekday must be an integer from 0 to 6",
            ),
            (
                input("check", "monthly", 2, 30),
                "day is required for a monthly schedule",
            ),
            (
                ScheduleInput {
                    day: Some(29),
                    ..input("compact", "monthly", 2, 30)
                },
                "day must be an integer from 1 to 28",
            ),
            (ScheduleInput::default(), "kind is required"),
        ] {
            assert_eq!(create(&bad).unwrap_err(), message);
        }
    }

    #[test]
    fn merge_keeps_next_run_for_toggles_and_kind_and_recomputes_for_the_calendar() {
        let zone = Zone::utc();
        let s = create(&input("check", "daily", 2, 30)).unwrap();
        let later = 5_000_000;
        let toggled = s
            .merge(
                &ScheduleInput {
                    enabled: Some(false),
                    kind: Some("compact".into()),
                    ..Default::default()
                },
                later,
                &zone,
            )
            .unwrap();
        assert_eq!(
            (toggled.enabled, toggled.kind, toggled.next_run),
            (false, ScheduleKind::Compact, s.next_run)
        );
        // The same calendar, sent again in full, is no change either.
        let same = s
            .merge(&input("check", "daily", 2, 30), later, &zone)
            .unwrap();
        assert_eq!(same.next_run, s.next_run);
        let moved = s
            .merge(
                &ScheduleInput {
                    hour: Some(3),
                    ..Default::default()
                },
                later,
                &zone,
            )
            .unwrap();
        assert_eq!(moved.hour, 3);
        assert!(moved.next_run.unix().unwrap() > later);
        // Switching to monthly without a day is refused; with one it is kept.
        let monthly = ScheduleInput {
            cadence: Some("monthly".into()),
            ..Default::default()
        };
        assert_eq!(
            s.merge(&monthly, later, &zone).unwrap_err(),
            "day must be an integer from 1 to 28"
        );
        let monthly = ScheduleInput {
            day: Some(15),
            ..monthly
        };
        let m = s.merge(&monthly, later, &zone).unwrap();
        assert_eq!((m.day, m.weekday), (15, 0));
        // Back to daily: the day is normalised away.
        let daily = ScheduleInput {
            cadence: Some("daily".into()),
            ..Default::default()
        };
        assert_eq!(m.merge(&daily, later, &zone).unwrap().day, 0);
    }

    #[test]
    fn the_stored_form_has_the_fourteen_fields_with_empty_strings() {
        let s = create(&input("check", "weekly", 2, 30).with_weekday(1)).unwrap();
        let value = serde_json::to_value(&s).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 14);
        assert_eq!(object["last_run"], "");
        assert_eq!(object["last_status"], "");
        assert_eq!(object["last_job_id"], "");
        assert_eq!(object["weekday"], 1);
        let back: Schedule = serde_json::from_value(value).unwrap();
        assert_eq!(back, s);
    }

    impl ScheduleInput {
        fn with_weekday(mut self, weekday: i64) -> Self {
            self.weekday = Some(weekday);
            self
        }
    }
}
