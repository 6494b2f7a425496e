//! The fast path for live job output under systemd. journald hands new entries to
//! `journalctl --follow` in batches (~200 ms); so `exec-job` also sends each numbered line
//! as a datagram to `<state dir>/jobs/<id>.live` when `serve` is listening there. The
//! journal stays the record: every line carries `BORGBOX_SEQ`, and the `Sequencer` merges
//! both sources into one ordered feed without gaps or duplicates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::record::JobStore;
use crate::model::JobId;

/// Where serve listens for a job's datagrams while it follows the job.
pub fn socket_path(store: &JobStore, id: &JobId) -> PathBuf {
    store.log_path(id).with_extension("live")
}

/// One datagram from exec-job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    Line {
        seq: u64,
        text: String,
    },
    /// The job ended after line `last`.
    End {
        last: u64,
    },
}

pub fn encode(datagram: &Datagram) -> Vec<u8> {
    match datagram {
        Datagram::Line { seq, text } => format!("L{seq}\t{text}").into_bytes(),
        Datagram::End { last } => format!("E{last}").into_bytes(),
    }
}

pub fn decode(bytes: &[u8]) -> Option<Datagram> {
    let text = std::str::from_utf8(bytes).ok()?;
    match text.split_at_checked(1)? {
        ("L", rest) => {
            let (seq, line) = rest.split_once('\t')?;
            Some(Datagram::Line {
                seq: seq.parse().ok()?,
                text: line.to_owned(),
            })
        }
        ("E", last) => Some(Datagram::End {
            last: last.parse().ok()?,
        }),
        _ => None,
    }
}

/// Orders lines numbered from 1 that arrive from two sources, each possibly late.
#[derive(Debug)]
pub struct Sequencer {
    next: u64,
    pending: BTreeMap<u64, String>,
    end: Option<u64>,
}

impl Sequencer {
    /// `delivered` lines have already gone out (e.g. in the replay).
    pub fn new(delivered: u64) -> Sequencer {
        Sequencer {
            next: delivered + 1,
            pending: BTreeMap::new(),
            end: None,
        }
    }

    /// The lines that can go out now, in order.
    pub fn offer(&mut self, seq: u64, line: String) -> Vec<String> {
        if seq >= self.next {
            self.pending.entry(seq).or_insert(line);
        }
        let mut out = Vec::new();
        while let Some(line) = self.pending.remove(&self.next) {
            out.push(line);
            self.next += 1;
        }
        out
    }

    pub fn end(&mut self, last: u64) {
        self.end = Some(last);
    }

    /// Every line up to the announced end has gone out.
    pub fn complete(&self) -> bool {
        self.end.is_some_and(|last| self.next > last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn datagrams_round_trip() {
        for d in [
            Datagram::Line {
                seq: 7,
                text: "a\tb".into(),
            },
            Datagram::End { last: 9 },
        ] {
            assert_eq!(decode(&encode(&d)), Some(d));
        }
        assert_eq!(decode(b"X1"), None);
        assert_eq!(decode(b"Lx\ty"), None);
        assert_eq!(decode(b""), None);
    }

    #[test]
    fn late_and_duplicate_lines_come_out_once_in_order() {
        let mut s = Sequencer::new(2);
        assert_eq!(s.offer(2, "old".into()), Vec::<String>::new());
        assert_eq!(s.offer(4, "four".into()), Vec::<String>::new());
        assert_eq!(s.offer(3, "three".into()), vec!["three", "four"]);
        assert_eq!(s.offer(4, "four".into()), Vec::<String>::new());
        s.end(5);
        assert!(!s.complete());
        assert_eq!(s.offer(5, "five".into()), vec!["five"]);
        assert!(s.complete());
    }

    proptest! {
        #[test]
        fn any_interleaving_of_two_copies_gives_each_line_once(order in Just((1u64..=40).chain(1..=40).collect::<Vec<_>>()).prop_shuffle()) {
            let mut s = Sequencer::new(0);
            let mut out = Vec::new();
            for seq in order {
                out.extend(s.offer(seq, seq.to_string()));
            }
            prop_assert_eq!(out, (1..=40).map(|n| n.to_string()).collect::<Vec<_>>());
        }
    }
}
