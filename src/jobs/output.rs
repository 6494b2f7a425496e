//! Turning borg's merged output into job log lines (API.md 9.2): split at `\n`, a
//! trailing `\r` removed, invalid UTF-8 replaced, lines over 8 KiB truncated. Pure.

/// Longest line kept, in bytes.
pub const MAX_LINE: usize = 8 * 1024;

/// Accumulates bytes and yields complete lines.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                lines.push(finish(std::mem::take(&mut self.pending)));
            } else if self.pending.len() <= MAX_LINE {
                // One byte past the limit marks the line for truncation without
                // letting a line that never ends grow without bound.
                self.pending.push(b);
            }
        }
        lines
    }

    /// The last line when the output did not end with a newline.
    pub fn finish(self) -> Option<String> {
        (!self.pending.is_empty()).then(|| finish(self.pending))
    }
}

fn finish(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    line.truncate(MAX_LINE);
    let mut text = String::from_utf8_lossy(&line).into_owned();
    if text.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_strips_cr_and_replaces_bad_utf8() {
        let mut s = LineSplitter::default();
        assert_eq!(s.push(b"one\r\ntw"), vec!["one"]);
        assert_eq!(s.push(b"o\n\xffx\n"), vec!["two", "\u{fffd}x"]);
        assert_eq!(s.push(b"tail"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("tail"));
    }

    #[test]
    fn long_lines_are_truncated() {
        let mut s = LineSplitter::default();
        let mut input = vec![b'a'; 100_000];
        input.push(b'\n');
        let lines = s.push(&input);
        assert_eq!(lines[0].len(), MAX_LINE);
    }

    proptest! {
        #[test]
        fn lines_never_exceed_the_limit_or_contain_newlines(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20_000), 0..5)) {
            let mut s = LineSplitter::default();
            let mut lines = Vec::new();
            for chunk in &chunks {
                lines.extend(s.push(chunk));
            }
            lines.extend(s.finish());
            for line in lines {
                prop_assert!(line.len() <= MAX_LINE);
                prop_assert!(!line.contains('\n'));
            }
        }
    }
}
