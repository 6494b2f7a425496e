//! The only journalctl spawner. Matches always include `_UID=<borg's uid>`, a field
//! journald sets itself, so another local user cannot forge a job's lines.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use super::parse::{parse_entry, Entry};

pub struct Query {
    pub uid: u32,
    pub job_id: String,
}

impl Query {
    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("journalctl");
        command
            .args(["--no-pager", "--quiet", "--output=json"])
            .arg(format!("_UID={}", self.uid))
            .arg(format!("BORGBOX_JOB_ID={}", self.job_id))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Every entry of the job so far.
    pub async fn read_all(&self) -> std::io::Result<Vec<Entry>> {
        let output = self.command().output().await?;
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(parse_entry)
            .collect())
    }

    /// Entries after `cursor` (all of them without one), as they arrive, until the
    /// receiver is dropped; the journalctl process dies with the sender.
    pub fn follow(&self, cursor: Option<&str>) -> std::io::Result<mpsc::Receiver<Entry>> {
        let mut command = self.command();
        command.arg("--follow");
        match cursor {
            Some(cursor) => command.arg(format!("--after-cursor={cursor}")),
            // `-n 0` with a field match can lose the first new line (DESIGN.md).
            None => command.arg("--lines=all"),
        };
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("journalctl has no stdout"))?;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                tokio::select! {
                    line = lines.next_line() => match line {
                        Ok(Some(line)) => {
                            if let Some(entry) = parse_entry(&line) {
                                if tx.send(entry).await.is_err() {
                                    break;
                                }
                            }
                        }
                        _ => break,
                    },
                    _ = tx.closed() => break,
                }
            }
            let _ = child.kill().await;
        });
        Ok(rx)
    }
}

/// Where a read of sshd's lines starts.
pub enum SshdFrom {
    /// After the entry this cursor names.
    Cursor(String),
    /// At this time (Unix seconds): the first read, or one after the cursor was lost.
    Since(i64),
}

pub enum SshdRead {
    Done,
    /// journalctl refused the cursor.
    CursorGone,
}

/// Streams sshd's lines to `each`, one line of JSON at a time (never all of them in
/// memory: sshd's log can hold millions of failed logins). Matches on fields journald sets
/// itself (`super::sshd::from_sshd` checks them again): root, sshd's unit, sshd's process.
/// Blocking.
pub fn sshd_lines(from: &SshdFrom, mut each: impl FnMut(&[u8])) -> std::io::Result<SshdRead> {
    use std::io::BufRead;
    let mut command = std::process::Command::new("journalctl");
    // The cursor and timestamp come with every entry; of the rest only these are read.
    command.args([
        "--no-pager",
        "--quiet",
        "--output=json",
        "--output-fields=MESSAGE,_UID,_COMM,_SYSTEMD_UNIT",
        "_UID=0",
    ]);
    // Within a field the matches are alternatives, between fields all must hold.
    command.args(super::sshd::UNITS.map(|unit| format!("_SYSTEMD_UNIT={unit}")));
    command.args(super::sshd::COMMS.map(|comm| format!("_COMM={comm}")));
    match from {
        SshdFrom::Cursor(cursor) => command.arg(format!("--after-cursor={cursor}")),
        SshdFrom::Since(at) => command.arg(format!("--since=@{at}")),
    };
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("journalctl has no stdout"))?;
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, stdout);
    let mut line = Vec::with_capacity(4096);
    let read = loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break Ok(()),
            Ok(_) => each(line.strip_suffix(b"\n").unwrap_or(&line)),
            Err(e) => break Err(e),
        }
    };
    if read.is_err() {
        let _ = child.kill();
    }
    let status = child.wait()?;
    read?;
    if !status.success() && matches!(from, SshdFrom::Cursor(_)) {
        return Ok(SshdRead::CursorGone);
    }
    Ok(SshdRead::Done)
}
