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

/// What sshd logged after `cursor` (everything it has, without one). `_COMM=sshd` is set
/// by journald itself, so no local user can forge an sshd line.
pub enum SshdRead {
    Entries(Vec<Entry>),
    /// The cursor no longer names an entry (the journal was rotated or vacuumed).
    CursorGone,
}

pub async fn sshd_entries(cursor: Option<&str>) -> std::io::Result<SshdRead> {
    let mut command = tokio::process::Command::new("journalctl");
    command
        // The cursor and timestamp come with every entry; of the rest only the message is
        // read (half of journalctl's work on a long journal).
        .args([
            "--no-pager",
            "--quiet",
            "--output=json",
            "--output-fields=MESSAGE",
            "_COMM=sshd",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cursor) = cursor {
        command.arg(format!("--after-cursor={cursor}"));
    }
    let output = command.output().await?;
    if !output.status.success() && cursor.is_some() {
        return Ok(SshdRead::CursorGone);
    }
    Ok(SshdRead::Entries(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(parse_entry)
            .collect(),
    ))
}
