//! `journalctl -o json` lines → entries. Pure. journald sends a MESSAGE that is not valid
//! UTF-8 as an array of bytes, and a field that repeats as an array of values.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub cursor: String,
    pub message: String,
    /// `TARGET` of our log records: `borg` for a job's output lines.
    pub target: String,
    pub message_id: String,
    /// `BORGBOX_SEQ`: the line's number within its job.
    pub seq: Option<u64>,
    /// `__REALTIME_TIMESTAMP`: when journald received it, microseconds since the epoch.
    pub realtime_us: Option<u64>,
}

impl Entry {
    /// A line borg printed, as opposed to borgbox's own records about the job.
    pub fn is_output(&self) -> bool {
        self.target == "borg"
    }
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_u64) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(Value::as_u64)
                .map(|b| b as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        // A repeated field: the first value.
        Some(Value::Array(items)) => text(items.first()),
        _ => String::new(),
    }
}

/// One of sshd's entries, with the fields journald sets itself (from the kernel's view of
/// the sender), which say who really wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshdEntry {
    pub cursor: String,
    pub message: String,
    pub realtime_us: Option<u64>,
    pub uid: Option<u32>,
    pub comm: String,
    pub unit: String,
}

/// None for a line that is not a journal entry.
pub fn parse_sshd_entry(line: &str) -> Option<SshdEntry> {
    let value: Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    Some(SshdEntry {
        cursor: text(object.get("__CURSOR")),
        message: text(object.get("MESSAGE")),
        realtime_us: text(object.get("__REALTIME_TIMESTAMP")).parse().ok(),
        uid: text(object.get("_UID")).parse().ok(),
        comm: text(object.get("_COMM")),
        unit: text(object.get("_SYSTEMD_UNIT")),
    })
}

/// The cursor of an entry line, without reading the rest of it.
pub fn cursor_of(line: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Cursor {
        #[serde(rename = "__CURSOR")]
        cursor: String,
    }
    serde_json::from_str::<Cursor>(line).ok().map(|c| c.cursor)
}

/// None for a line that is not a journal entry.
pub fn parse_entry(line: &str) -> Option<Entry> {
    let value: Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    Some(Entry {
        cursor: text(object.get("__CURSOR")),
        message: text(object.get("MESSAGE")),
        target: text(object.get("TARGET")),
        message_id: text(object.get("MESSAGE_ID")),
        seq: text(object.get("BORGBOX_SEQ")).parse().ok(),
        realtime_us: text(object.get("__REALTIME_TIMESTAMP")).parse().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECK_JOB: &str = include_str!("../../tests/fixtures/journal/check-job.json");
    const NON_UTF8: &str = include_str!("../../tests/fixtures/journal/non-utf8-message.json");

    #[test]
    fn a_real_jobs_entries() {
        let entries: Vec<Entry> = CHECK_JOB.lines().filter_map(parse_entry).collect();
        assert_eq!(entries.len(), 11);
        let output: Vec<&Entry> = entries.iter().filter(|e| e.is_output()).collect();
        assert_eq!(output.len(), 9);
        assert_eq!(output[0].message, "Starting repository check");
        assert_eq!(
            output.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=9).map(Some).collect::<Vec<_>>()
        );
        let last = entries.last().unwrap();
        assert_eq!(last.message_id, crate::logging::message_id::JOB_FINISHED);
        assert!(entries.iter().all(|e| e.cursor.starts_with("s=")));
    }

    #[test]
    fn a_real_non_utf8_message() {
        let entry = parse_entry(NON_UTF8.trim()).unwrap();
        assert_eq!(entry.message, "latin1 caf\u{fffd} line");
    }

    #[test]
    fn string_and_byte_array_messages() {
        let e = parse_entry(r#"{"__CURSOR":"s=1","MESSAGE":"hello","TARGET":"borg","BORGBOX_JOB_ID":"j_000000000001"}"#).unwrap();
        assert_eq!(
            (e.cursor.as_str(), e.message.as_str(), e.is_output()),
            ("s=1", "hello", true)
        );
        let e = parse_entry(r#"{"__CURSOR":"s=2","MESSAGE":[104,105,255]}"#).unwrap();
        assert_eq!(e.message, "hi\u{fffd}");
        assert!(!e.is_output());
        let e = parse_entry(r#"{"__CURSOR":"s=3","MESSAGE":null,"TARGET":["borg","x"]}"#).unwrap();
        assert_eq!((e.message.as_str(), e.target.as_str()), ("", "borg"));
        assert!(parse_entry("not json").is_none());
        assert!(parse_entry("[]").is_none());
    }
}
