//! A schedule's calendar: the `OnCalendar=` expression its timer carries and the instant
//! at which that timer fires next (API.md 11.3), in the server's time zone. Pure calendar
//! maths on jiff's reading of the system tz database (the files systemd reads too): the
//! base instant is a parameter, there is no hand-written offset maths, and this module
//! reads neither the clock nor the environment. Its only outside reads are /etc/localtime
//! and /etc/timezone, in `read_system_zone_files`, for `Zone::from_system` without `TZ`.

use std::io;
use std::path::PathBuf;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ToSpan};

/// How often a schedule fires (API.md 4.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    Daily,
    /// `weekday`: 0 = Sunday … 6 = Saturday.
    Weekly {
        weekday: u8,
    },
    /// `day`: 1..=28, so that every month has it.
    Monthly {
        day: u8,
    },
}

/// When a schedule fires: its cadence and a wall-clock time in the server's zone.
///
/// The fields are validated by the API (API.md 11.2). Out-of-range values are clamped
/// (hour to 23, minute to 59, weekday to 6, day into 1..=28) by `on_calendar` and
/// `next_fire` alike, so the timer file and `next_run` never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    pub cadence: Cadence,
    pub hour: u8,
    pub minute: u8,
}

impl Calendar {
    /// The `OnCalendar=` expression with the zone written out, e.g.
    /// `*-*-* 02:30:00 Europe/Madrid`, `Sun *-*-* 02:30:00 UTC`,
    /// `*-*-15 02:30:00 Asia/Kolkata` (DESIGN.md: daily `*-*-* HH:MM:00`, weekly
    /// `Sun *-*-* HH:MM:00`, monthly `*-*-DD HH:MM:00`). It is already in systemd's
    /// normalized form.
    pub fn on_calendar(&self, zone: &Zone) -> String {
        let c = self.clamped();
        let time = format!("{:02}:{:02}:00", c.hour, c.minute);
        match c.cadence {
            Cadence::Daily => format!("*-*-* {time} {}", zone.name),
            Cadence::Weekly { weekday } => {
                format!("{} *-*-* {time} {}", weekday_name(weekday), zone.name)
            }
            Cadence::Monthly { day } => format!("*-*-{day:02} {time} {}", zone.name),
        }
    }

    /// API.md 11.3: the first instant strictly after `after` (unix seconds) at which a
    /// systemd timer with `on_calendar(zone)` fires. The next matching wall-clock date and
    /// time after `after`'s wall-clock reading is taken; a date on which that time falls in
    /// a spring-forward gap is skipped (the run does not move to the end of the gap), and a
    /// time that occurs twice (fall-back) fires at the earlier of its instants that is
    /// after `after`, so from the first one the next run is on a later date.
    ///
    /// Returns `i64::MAX` when there is no such instant within jiff's range (years up to
    /// 9999; systemd itself stops at 2199); an `after` before that range counts as its
    /// start.
    pub fn next_fire(&self, after: i64, zone: &Zone) -> i64 {
        self.clamped()
            .try_next_fire(after, &zone.tz)
            .unwrap_or(i64::MAX)
    }

    fn clamped(self) -> Calendar {
        let cadence = match self.cadence {
            Cadence::Daily => Cadence::Daily,
            Cadence::Weekly { weekday } => Cadence::Weekly {
                weekday: weekday.min(6),
            },
            Cadence::Monthly { day } => Cadence::Monthly {
                day: day.clamp(1, 28),
            },
        };
        Calendar {
            cadence,
            hour: self.hour.min(23),
            minute: self.minute.min(59),
        }
    }

    /// `next_fire` for a clamped calendar; `None` past the end of jiff's range.
    fn try_next_fire(self, after: i64, tz: &TimeZone) -> Option<i64> {
        let first = Timestamp::MIN.as_second();
        let last = Timestamp::MAX.as_second();
        let base = Timestamp::from_second(after.clamp(first, last)).ok()?;
        let local = tz.to_datetime(base);
        let time = Time::new(
            i8::try_from(self.hour).ok()?,
            i8::try_from(self.minute).ok()?,
            0,
            0,
        )
        .ok()?;
        let mut date = self.cadence.first_on_or_after(local.date())?;
        loop {
            let wall = date.to_datetime(time);
            if wall > local {
                if let Some(fire) = first_instant_after(tz, wall, base) {
                    return Some(fire.as_second());
                }
            }
            date = self.cadence.first_on_or_after(date.tomorrow().ok()?)?;
        }
    }
}

impl Cadence {
    /// The first date on or after `date` on which this cadence fires.
    fn first_on_or_after(self, date: Date) -> Option<Date> {
        match self {
            Cadence::Daily => Some(date),
            Cadence::Weekly { weekday } => {
                let want = Weekday::from_sunday_zero_offset(i8::try_from(weekday).ok()?).ok()?;
                let ahead = (want.to_sunday_zero_offset() - date.weekday().to_sunday_zero_offset())
                    .rem_euclid(7);
                date.checked_add(ahead.days()).ok()
            }
            Cadence::Monthly { day } => {
                let day = i8::try_from(day).ok()?;
                let month = if date.day() <= day {
                    date
                } else {
                    date.first_of_month().checked_add(1.month()).ok()?
                };
                month.with().day(day).build().ok()
            }
        }
    }
}

/// systemd's name of a weekday counted from Sunday = 0 (6 and above: Saturday).
fn weekday_name(weekday: u8) -> &'static str {
    match weekday {
        0 => "Sun",
        1 => "Mon",
        2 => "Tue",
        3 => "Wed",
        4 => "Thu",
        5 => "Fri",
        _ => "Sat",
    }
}

/// The earliest instant after `base` at which the zone's clocks read `wall`: none when
/// `wall` falls in a spring-forward gap, the earlier eligible one of the two in a fold.
fn first_instant_after(tz: &TimeZone, wall: DateTime, base: Timestamp) -> Option<Timestamp> {
    let offsets = match tz.to_ambiguous_timestamp(wall).offset() {
        AmbiguousOffset::Unambiguous { offset } => [Some(offset), None],
        AmbiguousOffset::Gap { .. } => return None,
        AmbiguousOffset::Fold { before, after } => [Some(before), Some(after)],
    };
    offsets
        .into_iter()
        .flatten()
        .filter_map(|offset| offset.to_timestamp(wall).ok())
        .filter(|instant| *instant > base)
        .min()
}

/// The server's time zone, with the IANA name written into timer files.
#[derive(Debug, Clone)]
pub struct Zone {
    tz: TimeZone,
    name: String,
}

const LOCALTIME: &str = "/etc/localtime";
const TIMEZONE: &str = "/etc/timezone";

impl Zone {
    /// An IANA name from the system tz database, spelled exactly as the database does
    /// (systemd looks the file up by that name).
    pub fn named(name: &str) -> Result<Zone, ZoneError> {
        Zone::lookup("time zone", name, name)
    }

    pub fn utc() -> Zone {
        Zone {
            tz: TimeZone::UTC,
            name: "UTC".to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// API.md 11.3: `TZ` when set and non-empty (a leading ':' allowed, and a path into the
    /// tz database), else /etc/localtime: its IANA name from the symlink target, else
    /// /etc/timezone as Debian keeps it; UTC when there is no /etc/localtime, as for glibc.
    /// The value of `TZ` is passed in: the caller reads the environment.
    pub fn from_system(tz_env: Option<&str>) -> Result<Zone, ZoneError> {
        match tz_env.filter(|value| !value.is_empty()) {
            Some(value) => Zone::from_tz_variable(value),
            None => Zone::from_system_files(read_system_zone_files()?),
        }
    }

    fn from_tz_variable(value: &str) -> Result<Zone, ZoneError> {
        let name = value.strip_prefix(':').unwrap_or(value);
        let name = if name.starts_with('/') {
            zoneinfo_name(name).ok_or_else(|| ZoneError::NotAName {
                setting: "TZ",
                value: value.to_owned(),
            })?
        } else {
            name
        };
        Zone::lookup("TZ", value, name)
    }

    fn from_system_files(files: SystemZoneFiles) -> Result<Zone, ZoneError> {
        match &files.localtime {
            Localtime::Missing => return Ok(Zone::utc()),
            Localtime::Link(target) => {
                let shown = target.to_string_lossy();
                if let Some(name) = zoneinfo_name(&shown) {
                    return Zone::lookup(LOCALTIME, &shown, name);
                }
            }
            Localtime::NotALink => {}
        }
        let name = files
            .timezone
            .as_deref()
            .and_then(|text| text.lines().next())
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .ok_or(ZoneError::Unnamed)?;
        Zone::lookup(TIMEZONE, name, name)
    }

    /// `name` as systemd takes it at the end of an `OnCalendar=` expression. `setting` and
    /// `value` say where it came from, for the error.
    fn lookup(setting: &'static str, value: &str, name: &str) -> Result<Zone, ZoneError> {
        let not_usable = |reason| ZoneError::NotUsable {
            setting,
            value: value.to_owned(),
            reason,
        };
        if name == "UTC" {
            return Ok(Zone::utc());
        }
        if !is_zone_name(name) {
            return Err(ZoneError::NotAName {
                setting,
                value: value.to_owned(),
            });
        }
        if name.starts_with("right/") {
            return Err(not_usable(
                "it counts leap seconds, which systemd timers and borgbox do not; use the \
                 name without \"right/\"",
            ));
        }
        let unknown = |suggestion| ZoneError::Unknown {
            setting,
            value: value.to_owned(),
            suggestion,
        };
        // The zone's own file first: asking jiff's database by name makes it list every
        // zone on the system first (milliseconds at each start of serve). It answers only
        // when the file is missing, for its case-insensitive suggestion.
        let tz = match read_zone_file(name).and_then(|bytes| TimeZone::tzif(name, &bytes).ok()) {
            Some(tz) => tz,
            None => {
                let found = jiff::tz::db().get(name).ok();
                return Err(unknown(
                    found
                        .as_ref()
                        .and_then(|tz| tz.iana_name())
                        .filter(|found| *found != name)
                        .map(str::to_owned),
                ));
            }
        };
        if !name.contains('/') {
            // calendarspec.c takes a last word equal to the evaluating process's zone
            // abbreviation for that abbreviation: under Europe/Madrid in summer,
            // `*-*-* 02:30:00 CET` never elapses.
            return Err(not_usable(
                "systemd can take a zone name without an area for an abbreviation of its \
                 own local zone; use an Area/Location name such as Europe/Madrid",
            ));
        }
        Ok(Zone {
            tz,
            name: name.to_owned(),
        })
    }
}

/// Whether systemd's `verify_timezone()` accepts the characters of `name`: letters, digits,
/// `-`, `_`, `+` and `/` between non-empty components (no leading `/`, no `..`).
fn is_zone_name(name: &str) -> bool {
    name.split('/').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+'))
    })
}

/// The zone name in a path into a tz database: `Europe/Madrid` from
/// `/usr/share/zoneinfo/Europe/Madrid` or `../usr/share/zoneinfo/Europe/Madrid`.
fn zoneinfo_name(path: &str) -> Option<&str> {
    path.rsplit_once("/zoneinfo/")
        .map(|(_, name)| name)
        .or_else(|| path.strip_prefix("zoneinfo/"))
}

/// What /etc says about the local zone.
#[derive(Debug)]
struct SystemZoneFiles {
    localtime: Localtime,
    /// The contents of /etc/timezone, when it exists.
    timezone: Option<String>,
}

#[derive(Debug)]
enum Localtime {
    /// No /etc/localtime: glibc, and so systemd, use UTC.
    Missing,
    /// /etc/localtime is a symbolic link to this path.
    Link(PathBuf),
    /// /etc/localtime is a copy of a zone file.
    NotALink,
}

/// The tz database's file for `name` (a checked name: no `..`, no leading `/`), where
/// systemd reads it too.
fn read_zone_file(name: &str) -> Option<Vec<u8>> {
    std::fs::read(std::path::Path::new("/usr/share/zoneinfo").join(name)).ok()
}

/// The other place this module touches files.
fn read_system_zone_files() -> Result<SystemZoneFiles, ZoneError> {
    let localtime = match std::fs::read_link(LOCALTIME) {
        Ok(target) => Localtime::Link(target),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Localtime::Missing,
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Localtime::NotALink,
        Err(source) => {
            return Err(ZoneError::Read {
                path: LOCALTIME,
                source,
            })
        }
    };
    let timezone = match std::fs::read_to_string(TIMEZONE) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ZoneError::Read {
                path: TIMEZONE,
                source,
            })
        }
    };
    Ok(SystemZoneFiles {
        localtime,
        timezone,
    })
}

/// Why the server's time zone cannot be used; each names the setting it came from (`TZ`,
/// `/etc/localtime`, `/etc/timezone`, or `time zone` for `Zone::named`).
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// Not a zone name at all: a POSIX TZ rule, a path outside the tz database, odd
    /// characters.
    #[error(
        "{setting}: {value:?} is not an IANA time zone name such as Europe/Madrid, which \
         systemd timers need"
    )]
    NotAName {
        setting: &'static str,
        value: String,
    },
    /// A name systemd would misread in a timer.
    #[error("{setting}: {value:?} cannot be used in a systemd timer: {reason}")]
    NotUsable {
        setting: &'static str,
        value: String,
        reason: &'static str,
    },
    /// A well-formed name the tz database does not have (`suggestion`: the spelling it has
    /// for the name given in another case).
    #[error(
        "{setting}: {value:?} is not a time zone in the system's tz database{}",
        did_you_mean(.suggestion)
    )]
    Unknown {
        setting: &'static str,
        value: String,
        suggestion: Option<String>,
    },
    #[error(
        "/etc/localtime is not a link into the tz database and /etc/timezone names no zone; \
         set TZ to an IANA name such as Europe/Madrid"
    )]
    Unnamed,
    #[error("failed to read {path}")]
    Read {
        path: &'static str,
        #[source]
        source: io::Error,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|name| format!(" (did you mean {name:?}?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_second()
    }

    fn iso(t: i64) -> String {
        match Timestamp::from_second(t) {
            Ok(t) => t.to_string(),
            Err(_) => t.to_string(),
        }
    }

    fn zone(name: &str) -> Zone {
        Zone::named(name).unwrap()
    }

    fn daily(hour: u8, minute: u8) -> Calendar {
        Calendar {
            cadence: Cadence::Daily,
            hour,
            minute,
        }
    }

    fn weekly(weekday: u8, hour: u8, minute: u8) -> Calendar {
        Calendar {
            cadence: Cadence::Weekly { weekday },
            hour,
            minute,
        }
    }

    fn monthly(day: u8, hour: u8, minute: u8) -> Calendar {
        Calendar {
            cadence: Cadence::Monthly { day },
            hour,
            minute,
        }
    }

    #[track_caller]
    fn assert_next(cal: Calendar, zone: &Zone, after: &str, want: &str) {
        assert_eq!(
            iso(cal.next_fire(ts(after), zone)),
            want,
            "{} after {after}",
            cal.on_calendar(zone)
        );
    }

    #[test]
    fn madrid_spring_forward_skips_the_day() {
        // API.md 11.3 point 3: no run on 29 March 2026.
        assert_next(
            daily(2, 30),
            &zone("Europe/Madrid"),
            "2026-03-28T12:00:00Z",
            "2026-03-30T00:30:00Z",
        );
    }

    #[test]
    fn madrid_fall_back_fires_once() {
        // API.md 11.3 point 4.
        let madrid = zone("Europe/Madrid");
        let cal = daily(2, 30);
        assert_next(cal, &madrid, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z");
        assert_next(cal, &madrid, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
        assert_next(cal, &madrid, "2026-10-25T01:15:00Z", "2026-10-25T01:30:00Z");
    }

    #[test]
    fn weekly_fires_on_its_weekday() {
        let utc = Zone::utc();
        // Wednesday 15 April 2026 → Sunday 19 April.
        assert_next(
            weekly(0, 2, 30),
            &utc,
            "2026-04-15T10:00:00Z",
            "2026-04-19T02:30:00Z",
        );
        // From a run, a week later; from just before it, that run.
        assert_next(
            weekly(0, 2, 30),
            &utc,
            "2026-04-19T02:30:00Z",
            "2026-04-26T02:30:00Z",
        );
        assert_next(
            weekly(0, 2, 30),
            &utc,
            "2026-04-19T02:29:59Z",
            "2026-04-19T02:30:00Z",
        );
        // Saturday 23:45 in Kolkata (+05:30) is Saturday 18:15Z.
        assert_next(
            weekly(6, 23, 45),
            &zone("Asia/Kolkata"),
            "2026-04-18T18:15:00Z",
            "2026-04-25T18:15:00Z",
        );
        assert_next(
            weekly(6, 23, 45),
            &zone("Asia/Kolkata"),
            "2026-04-18T18:14:00Z",
            "2026-04-18T18:15:00Z",
        );
    }

    #[test]
    fn monthly_fires_on_its_day() {
        let kolkata = zone("Asia/Kolkata");
        // 15 January 05:30 IST is past 02:30 that day: 15 February 02:30 IST.
        assert_next(
            monthly(15, 2, 30),
            &kolkata,
            "2026-01-15T00:00:00Z",
            "2026-02-14T21:00:00Z",
        );
        // 15 January 01:30 IST: the same day.
        assert_next(
            monthly(15, 2, 30),
            &kolkata,
            "2026-01-14T20:00:00Z",
            "2026-01-14T21:00:00Z",
        );
        // Over the year's end, and 28 February in a common year.
        assert_next(
            monthly(28, 0, 0),
            &Zone::utc(),
            "2026-12-28T00:00:00Z",
            "2027-01-28T00:00:00Z",
        );
        assert_next(
            monthly(28, 23, 59),
            &Zone::utc(),
            "2027-02-01T00:00:00Z",
            "2027-02-28T23:59:00Z",
        );
    }

    #[test]
    fn on_calendar_writes_the_zone() {
        assert_eq!(
            daily(2, 30).on_calendar(&zone("Europe/Madrid")),
            "*-*-* 02:30:00 Europe/Madrid"
        );
        assert_eq!(
            weekly(0, 2, 30).on_calendar(&Zone::utc()),
            "Sun *-*-* 02:30:00 UTC"
        );
        assert_eq!(
            weekly(6, 0, 5).on_calendar(&Zone::utc()),
            "Sat *-*-* 00:05:00 UTC"
        );
        assert_eq!(
            monthly(15, 2, 30).on_calendar(&zone("Asia/Kolkata")),
            "*-*-15 02:30:00 Asia/Kolkata"
        );
        assert_eq!(
            monthly(1, 23, 59).on_calendar(&zone("America/New_York")),
            "*-*-01 23:59:00 America/New_York"
        );
    }

    #[test]
    fn out_of_range_fields_are_clamped_alike() {
        let utc = Zone::utc();
        let wild = Calendar {
            cadence: Cadence::Monthly { day: 31 },
            hour: 99,
            minute: 99,
        };
        assert_eq!(wild.on_calendar(&utc), "*-*-28 23:59:00 UTC");
        assert_next(wild, &utc, "2026-01-01T00:00:00Z", "2026-01-28T23:59:00Z");
        let wild = weekly(9, 0, 0);
        assert_eq!(wild.on_calendar(&utc), "Sat *-*-* 00:00:00 UTC");
        // 2026-01-01 is a Thursday.
        assert_next(wild, &utc, "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z");
        assert_eq!(monthly(0, 0, 0).on_calendar(&utc), "*-*-01 00:00:00 UTC");
    }

    #[test]
    fn extreme_bases_do_not_panic() {
        let madrid = zone("Europe/Madrid");
        for after in [i64::MIN, -1, 0, i64::MAX, Timestamp::MAX.as_second()] {
            for cal in [daily(2, 30), weekly(3, 0, 0), monthly(28, 23, 59)] {
                let fire = cal.next_fire(after, &madrid);
                assert!(fire > after || fire == i64::MAX, "{after} → {fire}");
            }
        }
        assert_eq!(daily(0, 0).next_fire(i64::MAX, &madrid), i64::MAX);
    }

    #[test]
    fn zone_names() {
        assert_eq!(zone("Europe/Madrid").name(), "Europe/Madrid");
        assert_eq!(zone("UTC").name(), "UTC");
        assert_eq!(Zone::utc().name(), "UTC");
        assert_eq!(zone("Etc/UTC").name(), "Etc/UTC");
        assert_eq!(
            zone("America/Argentina/Buenos_Aires").name(),
            "America/Argentina/Buenos_Aires"
        );
        // A link keeps the name it was given: systemd opens that file.
        assert_eq!(zone("Asia/Calcutta").name(), "Asia/Calcutta");
        assert_eq!(zone("Etc/GMT+5").name(), "Etc/GMT+5");

        let err = |name: &str| Zone::named(name).unwrap_err().to_string();
        assert_eq!(
            err("Mars/Olympus"),
            "time zone: \"Mars/Olympus\" is not a time zone in the system's tz database"
        );
        assert_eq!(
            err("europe/madrid"),
            "time zone: \"europe/madrid\" is not a time zone in the system's tz database \
             (did you mean \"Europe/Madrid\"?)"
        );
        for not_a_name in [
            "",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "<+0530>-5:30",
            "/usr/share/zoneinfo/Europe/Madrid",
            "Europe/../Madrid",
            "Europe//Madrid",
            "Europe/Madrid/",
            "Europe/Madrid x",
        ] {
            assert!(
                matches!(Zone::named(not_a_name), Err(ZoneError::NotAName { .. })),
                "{not_a_name:?}"
            );
        }
        for misread in ["CET", "GMT", "EST5EDT", "Japan", "right/Europe/Madrid"] {
            assert!(
                matches!(Zone::named(misread), Err(ZoneError::NotUsable { .. })),
                "{misread:?}"
            );
        }
        assert!(err("CET").contains("Area/Location"));
        assert!(matches!(
            Zone::named("Olympus"),
            Err(ZoneError::Unknown { .. })
        ));
    }

    #[test]
    fn zone_from_tz_variable() {
        let from_tz = |v: &str| Zone::from_system(Some(v)).map(|z| z.name().to_owned());
        assert_eq!(from_tz("Europe/Madrid").unwrap(), "Europe/Madrid");
        assert_eq!(from_tz(":Europe/Madrid").unwrap(), "Europe/Madrid");
        assert_eq!(
            from_tz(":/usr/share/zoneinfo/Asia/Kolkata").unwrap(),
            "Asia/Kolkata"
        );
        assert_eq!(from_tz("UTC").unwrap(), "UTC");
        assert_eq!(
            from_tz("Mars/Olympus").unwrap_err().to_string(),
            "TZ: \"Mars/Olympus\" is not a time zone in the system's tz database"
        );
        assert_eq!(
            from_tz("CET-1CEST,M3.5.0,M10.5.0/3")
                .unwrap_err()
                .to_string(),
            "TZ: \"CET-1CEST,M3.5.0,M10.5.0/3\" is not an IANA time zone name such as \
             Europe/Madrid, which systemd timers need"
        );
        assert!(matches!(
            from_tz(":"),
            Err(ZoneError::NotAName { setting: "TZ", .. })
        ));
        assert!(matches!(
            from_tz(":/etc/my-zone"),
            Err(ZoneError::NotAName { setting: "TZ", .. })
        ));
    }

    #[test]
    fn zone_from_system_files() {
        let from = |localtime, timezone: Option<&str>| {
            Zone::from_system_files(SystemZoneFiles {
                localtime,
                timezone: timezone.map(str::to_owned),
            })
        };
        let link = |p: &str| Localtime::Link(PathBuf::from(p));
        let name = |z: Result<Zone, ZoneError>| z.unwrap().name().to_owned();

        assert_eq!(name(from(Localtime::Missing, Some("Europe/Madrid"))), "UTC");
        assert_eq!(
            name(from(
                link("/usr/share/zoneinfo/Europe/Madrid"),
                Some("Asia/Kolkata")
            )),
            "Europe/Madrid"
        );
        assert_eq!(
            name(from(link("../usr/share/zoneinfo/America/New_York"), None)),
            "America/New_York"
        );
        assert_eq!(
            name(from(Localtime::NotALink, Some("Australia/Lord_Howe\n"))),
            "Australia/Lord_Howe"
        );
        assert_eq!(
            name(from(
                link("/etc/alternatives/localtime"),
                Some(" Asia/Kolkata \n")
            )),
            "Asia/Kolkata"
        );
        assert!(matches!(
            from(Localtime::NotALink, None),
            Err(ZoneError::Unnamed)
        ));
        assert!(matches!(
            from(Localtime::NotALink, Some("\n")),
            Err(ZoneError::Unnamed)
        ));
        assert_eq!(
            from(link("/usr/share/zoneinfo/Mars/Olympus"), None)
                .unwrap_err()
                .to_string(),
            "/etc/localtime: \"/usr/share/zoneinfo/Mars/Olympus\" is not a time zone in \
             the system's tz database"
        );
        assert_eq!(
            from(Localtime::NotALink, Some("Mars/Olympus\n"))
                .unwrap_err()
                .to_string(),
            "/etc/timezone: \"Mars/Olympus\" is not a time zone in the system's tz database"
        );
    }

    #[test]
    fn zone_from_this_system() {
        // Whatever this machine has, it is either a usable zone or a clear error.
        match Zone::from_system(None) {
            Ok(zone) => assert_eq!(Zone::named(zone.name()).unwrap().name(), zone.name()),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        // An empty TZ counts as unset.
        assert_eq!(
            Zone::from_system(Some(""))
                .map(|z| z.name().to_owned())
                .ok(),
            Zone::from_system(None).map(|z| z.name().to_owned()).ok()
        );
    }

    /// Zones with gaps and folds of every kind: 30-minute and 2-hour shifts, DST at
    /// midnight, negative DST, a skipped day (Apia, 30 December 2011).
    const PROPTEST_ZONES: &[&str] = &[
        "UTC",
        "Europe/Madrid",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Apia",
        "America/Santiago",
        "America/Havana",
        "Europe/Dublin",
        "Antarctica/Troll",
        "Pacific/Chatham",
        "Asia/Tehran",
        "Pacific/Kiritimati",
    ];

    fn valid_calendar() -> impl Strategy<Value = Calendar> {
        let cadence = prop_oneof![
            Just(Cadence::Daily),
            (0u8..=6).prop_map(|weekday| Cadence::Weekly { weekday }),
            (1u8..=28).prop_map(|day| Cadence::Monthly { day }),
        ];
        (cadence, 0u8..=23, 0u8..=59).prop_map(|(cadence, hour, minute)| Calendar {
            cadence,
            hour,
            minute,
        })
    }

    proptest! {
        #[test]
        fn next_fire_lands_on_the_calendar(
            // 1970-01-01 .. 2200-01-01
            after in 0i64..7_258_118_400,
            cal in valid_calendar(),
            zone_name in prop::sample::select(PROPTEST_ZONES),
        ) {
            let zone = Zone::named(zone_name).unwrap();
            let fire = cal.next_fire(after, &zone);
            prop_assert!(fire > after, "{} after {}: {}", cal.on_calendar(&zone), iso(after), iso(fire));
            let local = zone.tz.to_datetime(Timestamp::from_second(fire).unwrap());
            prop_assert_eq!(
                (local.hour(), local.minute(), local.second()),
                (cal.hour as i8, cal.minute as i8, 0)
            );
            let max_wait_days = match cal.cadence {
                Cadence::Daily => 3,
                Cadence::Weekly { weekday } => {
                    prop_assert_eq!(local.weekday().to_sunday_zero_offset(), weekday as i8);
                    15
                }
                Cadence::Monthly { day } => {
                    prop_assert_eq!(local.day(), day as i8);
                    93
                }
            };
            prop_assert!(fire - after <= max_wait_days * 86_400);
        }

        #[test]
        fn next_fire_never_panics(
            after in any::<i64>(),
            hour in any::<u8>(),
            minute in any::<u8>(),
            kind in 0u8..3,
            n in any::<u8>(),
            zone_name in prop::sample::select(PROPTEST_ZONES),
        ) {
            let cadence = match kind {
                0 => Cadence::Daily,
                1 => Cadence::Weekly { weekday: n },
                _ => Cadence::Monthly { day: n },
            };
            let cal = Calendar { cadence, hour, minute };
            let zone = Zone::named(zone_name).unwrap();
            let fire = cal.next_fire(after, &zone);
            prop_assert!(fire > after || fire == i64::MAX);
            let _ = cal.on_calendar(&zone);
        }
    }

    /// Agreement with the real thing: `systemd-analyze calendar --iterations=N` run under
    /// `faketime` (systemd 252 has no --base-time) at frozen base instants around both DST
    /// transitions of 2026, against chained `next_fire`. One process per zone and base
    /// takes all of that zone's expressions; a missing tool fails, never skips.
    mod systemd_agreement {
        use super::*;
        use std::process::Command;
        use std::sync::atomic::{AtomicUsize, Ordering};

        const ITERATIONS: usize = 3;
        const WORKERS: usize = 4;
        const M: i64 = 60;
        const H: i64 = 3600;
        const D: i64 = 86_400;

        /// Base instants relative to a transition at T: the day before, before the
        /// changed hour, inside it (both passes of a fold), at T and after.
        const AROUND_TRANSITION: &[i64] = &[
            -D,
            -2 * H,
            -H,
            -30 * M,
            -15 * M,
            -1,
            0,
            15 * M,
            30 * M,
            45 * M,
            90 * M,
            D,
        ];
        /// Base instants around a plain anchor (zones without DST).
        const AROUND_ANCHOR: &[i64] = &[-D, -H, -1, 0, 1, H];

        struct Case {
            zone: &'static str,
            /// The UTC instants at which the zone's offset changes (checked against jiff)
            /// or, for zones without DST, plain anchors.
            instants: &'static [&'static str],
            dst: bool,
            /// Wall-clock times: before, inside and after the gap and the fold.
            times: &'static [(u8, u8)],
            weekdays: &'static [u8],
            month_days: &'static [u8],
        }

        /// All transitions of 2026 but Santiago's and Havana's fall on Sundays, so weekly
        /// Sunday and monthly on the transition's day hit them.
        const CASES: &[Case] = &[
            // Gap 02:00–03:00 on 29 March, fold 02:00–03:00 on 25 October.
            Case {
                zone: "Europe/Madrid",
                instants: &["2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"],
                dst: true,
                times: &[
                    (0, 0),
                    (1, 30),
                    (1, 59),
                    (2, 0),
                    (2, 30),
                    (2, 59),
                    (3, 0),
                    (3, 30),
                    (23, 30),
                ],
                weekdays: &[0],
                // 29 cannot be a monthly day (API.md 11.2).
                month_days: &[25],
            },
            // Gap 02:00–03:00 on 8 March, fold 01:00–02:00 on 1 November.
            Case {
                zone: "America/New_York",
                instants: &["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"],
                dst: true,
                times: &[
                    (0, 30),
                    (0, 59),
                    (1, 0),
                    (1, 30),
                    (1, 59),
                    (2, 0),
                    (2, 30),
                    (2, 59),
                    (3, 0),
                ],
                weekdays: &[0],
                month_days: &[8, 1],
            },
            // 30-minute shifts: fold 01:30–02:00 on 5 April, gap 02:00–02:30 on 4 October.
            Case {
                zone: "Australia/Lord_Howe",
                instants: &["2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"],
                dst: true,
                times: &[
                    (1, 0),
                    (1, 29),
                    (1, 30),
                    (1, 45),
                    (1, 59),
                    (2, 0),
                    (2, 15),
                    (2, 29),
                    (2, 30),
                    (2, 45),
                    (3, 0),
                ],
                weekdays: &[0],
                month_days: &[5, 4],
            },
            // At midnight: gap 00:00–01:00 on 8 March, fold 00:00–01:00 on 1 November.
            Case {
                zone: "America/Havana",
                instants: &["2026-03-08T05:00:00Z", "2026-11-01T05:00:00Z"],
                dst: true,
                times: &[(0, 0), (0, 30), (0, 59), (1, 0), (1, 30), (23, 30)],
                weekdays: &[0],
                month_days: &[8, 1],
            },
            // Across midnight: fold 23:00–24:00 on Saturday 4 April, gap 00:00–01:00 on
            // Sunday 6 September.
            Case {
                zone: "America/Santiago",
                instants: &["2026-04-05T03:00:00Z", "2026-09-06T04:00:00Z"],
                dst: true,
                times: &[(23, 0), (23, 30), (23, 59), (0, 0), (0, 30), (1, 0)],
                weekdays: &[6, 0],
                month_days: &[4, 6],
            },
            // Local midnights of 1 March and 1 January, and an arbitrary Sunday.
            Case {
                zone: "Asia/Kolkata",
                instants: &[
                    "2026-02-28T18:30:00Z",
                    "2026-12-31T18:30:00Z",
                    "2026-03-29T01:00:00Z",
                ],
                dst: false,
                times: &[(0, 0), (2, 30), (5, 30), (23, 59)],
                weekdays: &[0, 3],
                month_days: &[1, 28],
            },
            Case {
                zone: "UTC",
                instants: &[
                    "2026-12-31T23:59:00Z",
                    "2028-02-28T12:00:00Z",
                    "2026-03-29T01:00:00Z",
                ],
                dst: false,
                times: &[(0, 0), (2, 30), (23, 59)],
                weekdays: &[0, 6],
                month_days: &[1, 28],
            },
        ];

        /// One systemd-analyze process: every calendar of a zone at one base instant.
        struct Run {
            zone: Zone,
            base: i64,
            calendars: Vec<Calendar>,
        }

        /// The `faketime -f` timestamp that freezes the clock at `t`. Without a leading
        /// `@` the clock stands still, so systemd's base is exactly `t` (it then looks
        /// strictly after it, as `next_fire` does). libfaketime reads the timestamp with
        /// mktime in the child's `TZ`, so it is the wall-clock time in that zone; the
        /// agreement runs use `TZ=UTC` and write the zone into the expression.
        fn frozen_at(t: i64, tz: &TimeZone) -> String {
            tz.to_datetime(Timestamp::from_second(t).unwrap())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        }

        fn command(program: &str, frozen: &str, tz: &str) -> Command {
            let mut cmd = Command::new("faketime");
            cmd.args(["-f", frozen, program])
                .env("TZ", tz)
                .env("LC_ALL", "C")
                .env("SYSTEMD_COLORS", "0")
                .env("SYSTEMD_PAGER", "");
            cmd
        }

        fn stdout_of(mut cmd: Command) -> Result<String, String> {
            let out = cmd
                .output()
                .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "{cmd:?} failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            String::from_utf8(out.stdout).map_err(|e| format!("{cmd:?}: {e}"))
        }

        /// The instant the clock of a child under `faketime -f <frozen>` and `TZ=<tz>`
        /// reads, by `date +%s`. Not `date -u`: it sets TZ=UTC0 before its first clock
        /// read, and libfaketime parses the timestamp only then, in the changed zone.
        fn faked_now(frozen: &str, tz: &str) -> i64 {
            let mut cmd = command("date", frozen, tz);
            cmd.arg("+%s");
            let out = stdout_of(cmd)
                .unwrap_or_else(|e| panic!("faketime is required (Debian package faketime): {e}"));
            out.trim().parse().unwrap()
        }

        /// systemd-analyze's answer for one expression.
        #[derive(Debug)]
        struct Answer {
            normalized: String,
            /// The next elapses in UTC (`None`: unparsable, e.g. `never`).
            elapses: Vec<Option<i64>>,
        }

        /// `systemd-analyze calendar --iterations=N` for these expressions under
        /// `TZ=<tz>` with the clock frozen at `base`: an answer per expression, in order.
        fn analyze(base: i64, tz: &str, expressions: &[String]) -> Result<Vec<Answer>, String> {
            let frozen = frozen_at(base, &Zone::named(tz).map_err(|e| e.to_string())?.tz);
            let mut cmd = command("systemd-analyze", &frozen, tz);
            cmd.arg("calendar")
                .arg(format!("--iterations={ITERATIONS}"))
                .args(expressions);
            let stdout = stdout_of(cmd)?;
            Ok(parse_analyze(&stdout))
        }

        /// Blocks of `systemd-analyze calendar` output. Elapses are on `Next elapse:` and
        /// `Iter. #k:` lines, in local time; when that is not UTC an `(in UTC):` line
        /// follows with the same instant.
        fn parse_analyze(stdout: &str) -> Vec<Answer> {
            let mut blocks: Vec<Answer> = Vec::new();
            for line in stdout.lines().map(str::trim) {
                if let Some(form) = line.strip_prefix("Normalized form:") {
                    blocks.push(Answer {
                        normalized: form.trim().to_owned(),
                        elapses: Vec::new(),
                    });
                    continue;
                }
                let Some(Answer { elapses, .. }) = blocks.last_mut() else {
                    continue;
                };
                if let Some(utc) = line.strip_prefix("(in UTC):") {
                    elapses.pop();
                    elapses.push(parse_utc(utc));
                } else if line.starts_with("Next elapse:") || line.starts_with("Iter. #") {
                    let (_, when) = line.split_once(':').unwrap();
                    elapses.push(parse_utc(when));
                }
            }
            blocks
        }

        /// `Mon 2026-03-30 00:30:00 UTC` → unix seconds.
        fn parse_utc(s: &str) -> Option<i64> {
            let s = s.trim().strip_suffix(" UTC")?;
            let (_weekday, datetime) = s.split_once(' ')?;
            let dt = DateTime::strptime("%Y-%m-%d %H:%M:%S", datetime).ok()?;
            Some(TimeZone::UTC.to_timestamp(dt).ok()?.as_second())
        }

        /// `f` over `items` on a few threads, results in order.
        fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
            let next = AtomicUsize::new(0);
            let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
                let workers: Vec<_> = (0..WORKERS)
                    .map(|_| {
                        s.spawn(|| {
                            let mut mine = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                let Some(item) = items.get(i) else {
                                    break mine;
                                };
                                mine.push((i, f(item)));
                            }
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .flat_map(|w| w.join().unwrap())
                    .collect()
            });
            done.sort_by_key(|(i, _)| *i);
            done.into_iter().map(|(_, r)| r).collect()
        }

        fn calendars(case: &Case) -> Vec<Calendar> {
            let mut out = Vec::new();
            for &(hour, minute) in case.times {
                out.push(daily(hour, minute));
                for &weekday in case.weekdays {
                    out.push(weekly(weekday, hour, minute));
                }
                for &day in case.month_days {
                    out.push(monthly(day, hour, minute));
                }
            }
            out
        }

        fn runs() -> Vec<Run> {
            let mut runs = Vec::new();
            for case in CASES {
                let zone = zone(case.zone);
                let mut bases = Vec::new();
                for instant in case.instants {
                    let t = ts(instant);
                    if case.dst {
                        let before = zone.tz.to_offset(Timestamp::from_second(t - 1).unwrap());
                        let after = zone.tz.to_offset(Timestamp::from_second(t).unwrap());
                        assert_ne!(
                            before, after,
                            "{} has no transition at {instant}",
                            case.zone
                        );
                    }
                    let around = if case.dst {
                        AROUND_TRANSITION
                    } else {
                        AROUND_ANCHOR
                    };
                    bases.extend(around.iter().map(|offset| t + offset));
                }
                bases.sort_unstable();
                bases.dedup();
                for base in bases {
                    runs.push(Run {
                        zone: zone.clone(),
                        base,
                        calendars: calendars(case),
                    });
                }
            }
            runs
        }

        /// The tools are there and `faketime` freezes the clock where we ask, for a UTC
        /// child and for one in a DST zone; a missing tool fails the test, never skips it.
        fn check_tools() {
            let version = stdout_of({
                let mut cmd = Command::new("systemd-analyze");
                cmd.arg("--version");
                cmd
            })
            .unwrap_or_else(|e| panic!("systemd-analyze is required: {e}"));
            assert!(version.starts_with("systemd "), "{version}");
            for (t, tz) in [
                ("2026-03-28T12:00:00Z", "UTC"),
                ("2026-10-25T01:15:00Z", "UTC"),
                ("2026-10-24T12:00:00Z", "Europe/Madrid"),
            ] {
                let frozen = frozen_at(ts(t), &zone(tz).tz);
                assert_eq!(
                    iso(faked_now(&frozen, tz)),
                    t,
                    "faketime -f {frozen:?}, TZ={tz}"
                );
            }
        }

        #[test]
        fn next_fire_agrees_with_systemd_analyze() {
            check_tools();
            let runs = runs();
            let answers = parallel(&runs, |run| {
                let expressions: Vec<String> = run
                    .calendars
                    .iter()
                    .map(|c| c.on_calendar(&run.zone))
                    .collect();
                analyze(run.base, "UTC", &expressions)
            });

            let mut comparisons = 0;
            let mut disagreements = Vec::new();
            for (run, answer) in runs.iter().zip(answers) {
                let blocks = match answer {
                    Ok(blocks) => blocks,
                    Err(e) => {
                        disagreements.push(format!(
                            "{} base {}: {e}",
                            run.zone.name(),
                            iso(run.base)
                        ));
                        continue;
                    }
                };
                if blocks.len() != run.calendars.len() {
                    disagreements.push(format!(
                        "{} base {}: {} expressions, {} answers",
                        run.zone.name(),
                        iso(run.base),
                        run.calendars.len(),
                        blocks.len()
                    ));
                    continue;
                }
                for (
                    cal,
                    Answer {
                        normalized,
                        elapses,
                    },
                ) in run.calendars.iter().zip(blocks)
                {
                    let expr = cal.on_calendar(&run.zone);
                    if normalized != expr {
                        disagreements
                            .push(format!("{expr:?}: systemd normalizes it to {normalized:?}"));
                    }
                    if elapses.len() != ITERATIONS {
                        disagreements.push(format!(
                            "{} | {expr} | base {} | systemd gave {} elapses, not {ITERATIONS}",
                            run.zone.name(),
                            iso(run.base),
                            elapses.len()
                        ));
                    }
                    let mut ours = run.base;
                    for (k, theirs) in elapses.into_iter().enumerate() {
                        ours = cal.next_fire(ours, &run.zone);
                        comparisons += 1;
                        if theirs != Some(ours) {
                            disagreements.push(format!(
                                "{} | {expr} | base {} | iteration {} | systemd {} | ours {}",
                                run.zone.name(),
                                iso(run.base),
                                k + 1,
                                theirs.map_or("none".to_owned(), iso),
                                iso(ours)
                            ));
                        }
                    }
                }
            }
            eprintln!(
                "{comparisons} comparisons in {} systemd-analyze runs",
                runs.len()
            );
            assert!(
                disagreements.is_empty(),
                "{} of {comparisons} comparisons disagree with systemd-analyze:\n{}",
                disagreements.len(),
                disagreements.join("\n")
            );
            assert!(comparisons > 10_000, "only {comparisons} comparisons");
        }

        /// The zone written into the expression (evaluated under TZ=UTC) means the same as
        /// the process's local zone with no zone in the expression.
        #[test]
        fn zone_suffix_equals_local_zone() {
            check_tools();
            let cases = [
                ("Europe/Madrid", "2026-03-28T12:00:00Z", daily(2, 30)),
                ("Europe/Madrid", "2026-10-24T12:00:00Z", daily(2, 30)),
                ("Europe/Madrid", "2026-10-25T01:15:00Z", daily(2, 30)),
                ("America/New_York", "2026-10-31T12:00:00Z", weekly(0, 1, 30)),
                ("Australia/Lord_Howe", "2026-04-04T00:00:00Z", daily(1, 45)),
                (
                    "Australia/Lord_Howe",
                    "2026-10-03T00:00:00Z",
                    monthly(4, 2, 15),
                ),
                ("Asia/Kolkata", "2026-01-14T20:00:00Z", monthly(15, 2, 30)),
            ];
            let mut failures = Vec::new();
            for (name, base, cal) in cases {
                let zone = zone(name);
                let base = ts(base);
                let with_zone = cal.on_calendar(&zone);
                let local = with_zone
                    .strip_suffix(&format!(" {name}"))
                    .unwrap()
                    .to_owned();
                // libfaketime reads the wall-clock time with mktime, which picks one of
                // the two instants in a fold (01:15Z in Madrid's is the later one): check
                // that the child really sees the base.
                let frozen = frozen_at(base, &zone.tz);
                assert_eq!(
                    faked_now(&frozen, name),
                    base,
                    "faketime {frozen:?} TZ={name}"
                );

                let suffixed = analyze(base, "UTC", std::slice::from_ref(&with_zone)).unwrap();
                let plain = analyze(base, name, std::slice::from_ref(&local)).unwrap();
                let mut ours = Vec::new();
                let mut t = base;
                for _ in 0..ITERATIONS {
                    t = cal.next_fire(t, &zone);
                    ours.push(Some(t));
                }
                let [Answer {
                    elapses: suffixed, ..
                }] = &suffixed[..]
                else {
                    panic!("{suffixed:?}")
                };
                let [Answer {
                    normalized,
                    elapses: plain,
                }] = &plain[..]
                else {
                    panic!("{plain:?}")
                };
                assert_eq!(normalized, &local);
                if suffixed != plain || plain != &ours {
                    failures.push(format!(
                        "{name} base {}: {with_zone:?} under TZ=UTC {suffixed:?}, {local:?} \
                         under TZ={name} {plain:?}, ours {ours:?}",
                        iso(base)
                    ));
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        }
    }
}
