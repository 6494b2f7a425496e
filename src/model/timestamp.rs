use time::{OffsetDateTime, UtcOffset};

/// Formats an instant as API.md 2.6 wants it: UTC, second precision, `Z`, fixed width.
pub fn format_utc(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `format_utc`, or `""` for an unset timestamp.
pub fn format_opt(t: Option<OffsetDateTime>) -> String {
    t.map(format_utc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn fixed_width_utc_with_z() {
        assert_eq!(
            format_utc(datetime!(2026-04-13 14:32:08.999 UTC)),
            "2026-04-13T14:32:08Z"
        );
        assert_eq!(
            format_utc(datetime!(0999-01-02 03:04:05 +02:00)),
            "0999-01-02T01:04:05Z"
        );
        assert_eq!(format_opt(None), "");
    }
}
