//! Where log lines go (the journal with structured fields when stderr is the journal,
//! plain stderr otherwise), the stable MESSAGE_IDs of audit events, and the exit code of
//! a failed command.

use std::io::Write;

use log::kv::{Key, Value, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};

/// Audit events. Made once with a random 128-bit id; never change or reuse one.
pub mod message_id {
    pub const REPO_CREATED: &str = "1c1c612f3bb9440a880d232b040741fb";
    pub const REPO_DELETED: &str = "e2f4a93e55a94bab93402acb5a13b02c";
    pub const REPO_IMPORTED: &str = "b96060b12e3f4ad38a08e7fe02cd4924";
    pub const KEY_ADDED: &str = "8250488e47da4b28bf0cc343e65de630";
    pub const KEY_REMOVED: &str = "2bde17c926584eceb945db07bfc6336f";
    pub const APPEND_ONLY_CHANGED: &str = "96afe4e49d5f47e382254e4eccc1b6ae";
    pub const AUTH_FAILED: &str = "0090f9c518a5482eb46f810d6fdc5d47";
    pub const LOCK_BROKEN: &str = "65d1cc79d758403cb3cfde6b1cb0acfc";
    pub const JOB_STARTED: &str = "56b6109874d540d99990591ae6885d8a";
    pub const JOB_FINISHED: &str = "c487208ef72b486fa7b7febd09f2d38f";
    pub const JOB_CANCELLED: &str = "cf93938329ba4dd9aa59c2eb8b9dd0fb";
    pub const QUOTA_CHANGED: &str = "50836e8502204684a19e415b1ed7a321";
    pub const SCHEDULE_CHANGED: &str = "77eff8866d224a829f4ddf78cca8d950";
    pub const SCHEDULE_FIRED: &str = "5d3762e2620c42679a430fdc1dd3bc2d";
    pub const ALERT_CHANGED: &str = "5137e9caf8be4755b0d747b5dd0eda4f";
    pub const ALERT_DELIVERED: &str = "a0d1a07bf22543b88ebe78c141b1ae7d";
    pub const WEBHOOK_FAILED: &str = "556af16881f14a9da25894eff1d0afec";
    pub const TIMERS_RECONCILED: &str = "2e68e40fb7764c7da8752a5abea00b51";
}

/// Sends `log` records to the journal when stderr is connected to it, else to stderr.
pub fn init(verbosity: u8) {
    let level = match verbosity {
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    let journal = systemd_journal_logger::connected_to_journal()
        .then(|| systemd_journal_logger::JournalLog::new().ok())
        .flatten();
    let installed = match journal {
        Some(journal) => journal
            .with_syslog_identifier("borgbox".to_owned())
            .install(),
        None => log::set_boxed_logger(Box::new(StderrLog)),
    };
    if installed.is_ok() {
        log::set_max_level(level);
    }
}

/// Logs the error chain once and maps it to an exit code: 2 for configuration and usage
/// errors, 1 for everything else (so systemd marks a failed oneshot as failed).
pub fn report(err: &anyhow::Error) -> std::process::ExitCode {
    log::error!("{err:#}");
    let is_config = err
        .chain()
        .any(|cause| cause.is::<crate::config::ConfigError>());
    std::process::ExitCode::from(if is_config { 2 } else { 1 })
}

/// Plain `level: message key=value…` lines for a terminal or a test log.
struct StderrLog;

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = format!(
            "{}: {}",
            record.level().as_str().to_lowercase(),
            record.args()
        );
        let _ = record.key_values().visit(&mut Pairs(&mut line));
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

struct Pairs<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for Pairs<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        self.0.push_str(&format!(" {key}={value}"));
        Ok(())
    }
}
