//! Lossless model of authorized_keys (API.md 7.3, 7.4): every line is kept as its exact
//! bytes and read the way sshd reads it, so an edit changes only the lines it targets.
//! Pure: takes and returns file contents, never paths.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::pubkey::{fingerprint_of_blob_b64, is_supported_type};
use super::render::{command_option, ServeFlags, UnsafePath};
use crate::model::RepoName;

const TAG: &[u8] = b"# borgbox:";
const COMMAND: &[u8] = b"command=";

/// The whole file. Bytes rather than text: a foreign line in another encoding must survive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizedKeys {
    /// Each line with its own terminator: `\n`, `\r\n`, or none on a last line without one.
    lines: Vec<Vec<u8>>,
}

/// One managed line of a repo, as `GET /repos/{name}/keys` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedKey {
    /// `""` when the line's blob is not base64 (a hand edit).
    pub fingerprint: String,
    pub algo: String,
    /// The text after the tag, trimmed; `""` when none.
    pub comment: String,
    pub append_only: bool,
    /// `--storage-quota` in bytes; 0 = none.
    pub storage_quota: u64,
    /// The line carries `restrict` and nothing that undoes it (`port-forwarding`, `pty`…):
    /// without it the key may forward ports into the server's network.
    pub restricted: bool,
}

/// A repo's managed lines in brief, for `GET /repos`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoKeys {
    pub keys: usize,
    /// Every one of the repo's lines carries `--append-only`.
    pub all_append_only: bool,
    /// The first line's `--storage-quota` (API.md 16.1); 0 = none.
    pub storage_quota: u64,
    /// Lines not `restricted` (`ManagedKey`), until the next edit of the repo repairs them.
    pub unrestricted: usize,
}

/// Which line already carries a key blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOwner {
    /// A managed line of this repo.
    Managed(RepoName),
    /// Any other key line.
    Foreign,
}

impl AuthorizedKeys {
    pub fn parse(contents: &[u8]) -> Self {
        let lines = contents
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect();
        Self { lines }
    }

    pub fn render(&self) -> Vec<u8> {
        self.lines.concat()
    }

    /// The repo's managed lines, in file order.
    pub fn managed(&self, repo: &RepoName) -> Vec<ManagedKey> {
        self.managed_lines()
            .filter(|(_, m)| m.repo == *repo)
            .map(|(line, m)| m.describe(line))
            .collect()
    }

    /// Every repo that has managed lines, keyed by name.
    pub fn summary(&self) -> HashMap<String, RepoKeys> {
        let mut repos: HashMap<String, RepoKeys> = HashMap::new();
        for (line, m) in self.managed_lines() {
            let flags = m.flags(line);
            let entry = repos.entry(m.repo.to_string()).or_insert(RepoKeys {
                keys: 0,
                all_append_only: true,
                storage_quota: flags.storage_quota,
                unrestricted: 0,
            });
            entry.keys += 1;
            entry.all_append_only &= flags.append_only;
            entry.unrestricted += usize::from(!m.restricted(line));
        }
        repos
    }

    /// The first key line, managed or foreign, that carries this blob.
    pub fn blob_owner(&self, blob_b64: &str) -> Option<BlobOwner> {
        self.lines.iter().map(|raw| content(raw)).find_map(|line| {
            let key = key_line(line)?;
            (line[key.blob] == *blob_b64.as_bytes()).then(|| match managed(line) {
                Some(m) => BlobOwner::Managed(m.repo),
                None => BlobOwner::Foreign,
            })
        })
    }

    /// Appends `line` (which has no newline) at the end, first ending an unterminated last
    /// line: the only change ever made to existing bytes.
    pub fn append_line(&mut self, line: String) {
        if let Some(last) = self.lines.last_mut().filter(|l| !l.ends_with(b"\n")) {
            last.push(b'\n');
        }
        let mut line = line.into_bytes();
        line.push(b'\n');
        self.lines.push(line);
    }

    /// Removes the repo's managed lines; returns how many.
    pub fn remove_repo(&mut self, repo: &RepoName) -> usize {
        let before = self.lines.len();
        self.lines
            .retain(|raw| managed(content(raw)).is_none_or(|m| m.repo != *repo));
        before - self.lines.len()
    }

    /// Removes the repo's managed line with this fingerprint, given with or without the
    /// `SHA256:` prefix; false when there is none.
    pub fn remove_key(&mut self, repo: &RepoName, fingerprint: &str) -> bool {
        let wanted = fingerprint.strip_prefix("SHA256:").unwrap_or(fingerprint);
        if wanted.is_empty() {
            return false;
        }
        let before = self.lines.len();
        self.lines.retain(|raw| {
            let line = content(raw);
            !managed(line).is_some_and(|m| {
                m.repo == *repo && m.fingerprint(line).strip_prefix("SHA256:") == Some(wanted)
            })
        });
        self.lines.len() < before
    }

    /// Gives each of the repo's managed lines the canonical `command="..."` option for the
    /// flags `change` makes of its current ones, leaving every other byte alone; returns
    /// how many lines changed.
    pub fn set_flags(
        &mut self,
        repo: &RepoName,
        change: impl Fn(ServeFlags) -> ServeFlags,
        borg: &Path,
        repo_path: &Path,
    ) -> Result<usize, UnsafePath> {
        let before = self.lines.clone();
        for raw in &mut self.lines {
            let line = content(raw);
            let Some(m) = managed(line).filter(|m| m.repo == *repo) else {
                continue;
            };
            let option = command_option(borg, repo_path, change(m.flags(line)))?;
            // A managed line without a forced command gets one: it is what confines the key.
            let (at, new) = match (command_range(line, &m.key), &m.key.options) {
                (Some(range), _) => (range, option.clone()),
                (None, Some(options)) => (options.start..options.start, format!("{option},")),
                (None, None) => (m.key.algo.start..m.key.algo.start, format!("{option} ")),
            };
            if line[at.clone()] != *new.as_bytes() {
                *raw = [&raw[..at.start], new.as_bytes(), &raw[at.end..]].concat();
            }
        }
        self.restrict(repo);
        Ok(self
            .lines
            .iter()
            .zip(&before)
            .filter(|(a, b)| a != b)
            .count())
    }

    /// Gives each of the repo's managed lines that is not `restricted` a `restrict` option
    /// and drops the options that would undo it; returns how many lines changed. Every
    /// edit of a repo's lines ends with this, so a hand-tagged line is repaired by the next.
    pub fn restrict(&mut self, repo: &RepoName) -> usize {
        let mut changed = 0;
        for raw in &mut self.lines {
            let line = content(raw);
            let Some(m) = managed(line).filter(|m| m.repo == *repo && !m.restricted(line)) else {
                continue;
            };
            // `restrict` goes last, after anything that could have undone it is dropped.
            let (at, new) = match &m.key.options {
                Some(field) => {
                    let kept: Vec<&[u8]> = split_options(line, field.clone())
                        .into_iter()
                        .map(|o| &line[o])
                        .filter(|o| {
                            !o.is_empty()
                                && option_name(o).is_none_or(|n| {
                                    n != "restrict" && !UNDOES_RESTRICT.contains(&n.as_str())
                                })
                        })
                        .collect();
                    let mut new = kept.join(&b","[..]);
                    new.extend_from_slice(if new.is_empty() {
                        b"restrict"
                    } else {
                        b",restrict"
                    });
                    (field.clone(), new)
                }
                None => (m.key.algo.start..m.key.algo.start, b"restrict ".to_vec()),
            };
            *raw = [&raw[..at.start], &new, &raw[at.end..]].concat();
            changed += 1;
        }
        changed
    }

    fn managed_lines(&self) -> impl Iterator<Item = (&[u8], Managed)> {
        self.lines.iter().filter_map(|raw| {
            let line = content(raw);
            Some((line, managed(line)?))
        })
    }
}

/// Where sshd finds the fields of a key line; the rest of the line follows the blob.
struct KeyLine {
    options: Option<Range<usize>>,
    algo: Range<usize>,
    blob: Range<usize>,
}

/// A key line tagged `# borgbox:<repo>`.
struct Managed {
    repo: RepoName,
    key: KeyLine,
    /// Just past the repo name in the tag.
    tag_end: usize,
}

/// Options that, after `restrict`, allow again what it forbids (sshd(8)).
const UNDOES_RESTRICT: [&str; 5] = [
    "agent-forwarding",
    "port-forwarding",
    "pty",
    "user-rc",
    "x11-forwarding",
];

/// An option's name, lowercased (sshd matches them in any case).
fn option_name(option: &[u8]) -> Option<String> {
    let end = option
        .iter()
        .position(|b| *b == b'=')
        .unwrap_or(option.len());
    std::str::from_utf8(&option[..end])
        .ok()
        .map(str::to_ascii_lowercase)
}

impl Managed {
    /// `restrict` is among the options and nothing after it undoes it.
    fn restricted(&self, line: &[u8]) -> bool {
        let Some(field) = self.key.options.clone() else {
            return false;
        };
        let names: Vec<String> = split_options(line, field)
            .into_iter()
            .filter_map(|o| option_name(&line[o]))
            .collect();
        names.iter().any(|n| n == "restrict")
            && !names.iter().any(|n| UNDOES_RESTRICT.contains(&n.as_str()))
    }

    fn describe(&self, line: &[u8]) -> ManagedKey {
        ManagedKey {
            fingerprint: self.fingerprint(line),
            algo: String::from_utf8_lossy(&line[self.key.algo.clone()]).into_owned(),
            comment: String::from_utf8_lossy(line[self.tag_end..].trim_ascii()).into_owned(),
            append_only: self.flags(line).append_only,
            storage_quota: self.flags(line).storage_quota,
            restricted: self.restricted(line),
        }
    }

    fn fingerprint(&self, line: &[u8]) -> String {
        std::str::from_utf8(&line[self.key.blob.clone()])
            .ok()
            .and_then(fingerprint_of_blob_b64)
            .unwrap_or_default()
    }

    /// The forced command's `--append-only` and `--storage-quota` arguments.
    fn flags(&self, line: &[u8]) -> ServeFlags {
        let Some(command) = command_range(line, &self.key)
            .and_then(|range| dequote(&line[range.start + COMMAND.len()..range.end]))
        else {
            return ServeFlags::default();
        };
        let mut flags = ServeFlags::default();
        let mut args = command
            .split(u8::is_ascii_whitespace)
            .filter(|a| !a.is_empty());
        while let Some(arg) = args.next() {
            if arg == b"--append-only" {
                flags.append_only = true;
            } else if arg == b"--storage-quota" {
                flags.storage_quota = args.next().and_then(parse_size).unwrap_or(0);
            } else if let Some(value) = arg.strip_prefix(b"--storage-quota=") {
                flags.storage_quota = parse_size(value).unwrap_or(0);
            }
        }
        flags
    }
}

/// A size as borg's `--storage-quota` takes it: digits with an optional decimal suffix
/// (`10M` = 10,000,000, as borg's `parse_file_size`).
fn parse_size(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let (digits, power) = match text.char_indices().last()? {
        (at, c @ ('K' | 'M' | 'G' | 'T' | 'P' | 'E')) => {
            (&text[..at], 1 + "KMGTPE".find(c).unwrap_or(0) as u32)
        }
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(1000u64.checked_pow(power)?)
}

/// A line without its `\n` or `\r\n`.
fn content(raw: &[u8]) -> &[u8] {
    match raw.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => raw,
    }
}

/// The line as a managed line, when it is a key line whose text after the blob has
/// `# borgbox:<name>` followed by a space or the end. The first valid tag wins, so a
/// comment that repeats the tag cannot move the line to another repo.
fn managed(line: &[u8]) -> Option<Managed> {
    let key = key_line(line)?;
    let (repo, tag_end) = (key.blob.end..line.len())
        .filter(|&at| line[at..].starts_with(TAG))
        .find_map(|at| {
            let start = at + TAG.len();
            let end = line[start..]
                .iter()
                .position(|b| *b == b' ')
                .map_or(line.len(), |n| start + n);
            let repo = std::str::from_utf8(&line[start..end]).ok()?.parse().ok()?;
            Some((repo, end))
        })?;
    Some(Managed { repo, key, tag_end })
}

/// Splits a line as sshd does: blank and `#` lines are not keys; a first field that is
/// not a key type is the options field, whose quoted strings may hold blanks and `\"`.
fn key_line(line: &[u8]) -> Option<KeyLine> {
    let start = skip_blanks(line, 0);
    if line.get(start).is_none_or(|b| *b == b'#') {
        return None;
    }
    let (options, algo_start) = if is_key_type(&line[start..token_end(line, start)]) {
        (None, start)
    } else {
        let end = options_end(line, start)?;
        (Some(start..end), skip_blanks(line, end))
    };
    let algo = algo_start..token_end(line, algo_start);
    if !is_key_type(&line[algo.clone()]) {
        return None;
    }
    let blob_start = skip_blanks(line, algo.end);
    let blob = blob_start..token_end(line, blob_start);
    (!blob.is_empty()).then_some(KeyLine {
        options,
        algo,
        blob,
    })
}

/// Key type names sshd knows, beyond the ones borgbox accepts.
fn is_key_type(token: &[u8]) -> bool {
    std::str::from_utf8(token).is_ok_and(|t| {
        is_supported_type(t)
            || matches!(t, "ssh-dss" | "ssh-xmss@openssh.com")
            || t.ends_with("-cert-v01@openssh.com")
    })
}

fn is_blank(b: &u8) -> bool {
    matches!(b, b' ' | b'\t')
}

fn skip_blanks(line: &[u8], from: usize) -> usize {
    from + line[from..].iter().take_while(|b| is_blank(b)).count()
}

fn token_end(line: &[u8], from: usize) -> usize {
    from + line[from..].iter().take_while(|b| !is_blank(b)).count()
}

/// The end of the options field starting at `from`; `None` for an unterminated quote,
/// which makes sshd skip the line.
fn options_end(line: &[u8], from: usize) -> Option<usize> {
    let mut quoted = false;
    let mut at = from;
    while let Some(b) = line.get(at) {
        if !quoted && is_blank(b) {
            break;
        }
        match b {
            b'\\' if line.get(at + 1) == Some(&b'"') => at += 1,
            b'"' => quoted = !quoted,
            _ => {}
        }
        at += 1;
    }
    (!quoted).then_some(at)
}

/// The range of the first `command=` option (sshd matches option names in any case).
fn command_range(line: &[u8], key: &KeyLine) -> Option<Range<usize>> {
    split_options(line, key.options.clone()?)
        .into_iter()
        .find(|option| {
            line[option.clone()]
                .get(..COMMAND.len())
                .is_some_and(|name| name.eq_ignore_ascii_case(COMMAND))
        })
}

/// The comma-separated options of an options field; commas inside quotes do not split.
fn split_options(line: &[u8], field: Range<usize>) -> Vec<Range<usize>> {
    let mut options = Vec::new();
    let (mut start, mut quoted, mut at) = (field.start, false, field.start);
    while let Some(b) = line.get(at).filter(|_| at < field.end) {
        match b {
            b'\\' if line.get(at + 1) == Some(&b'"') => at += 1,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                options.push(start..at);
                start = at + 1;
            }
            _ => {}
        }
        at += 1;
    }
    options.push(start..field.end);
    options
}

/// A quoted option value with `\"` unescaped; `None` unless it is exactly one quoted string.
fn dequote(value: &[u8]) -> Option<Vec<u8>> {
    let mut rest = value.strip_prefix(b"\"")?;
    let mut out = Vec::with_capacity(rest.len());
    loop {
        match rest {
            [b'\\', b'"', tail @ ..] => {
                out.push(b'"');
                rest = tail;
            }
            [b'"'] => return Some(out),
            [] | [b'"', ..] => return None,
            [b, tail @ ..] => {
                out.push(*b);
                rest = tail;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::pubkey::tests::ed25519_line;
    use crate::keys::{managed_line, parse_public_key, PublicKey};
    use proptest::prelude::*;

    const BORG: &str = "/usr/bin/borg";

    fn name(s: &str) -> RepoName {
        s.parse().unwrap()
    }

    fn key(n: u8) -> PublicKey {
        parse_public_key(&ed25519_line(&[n; 32], "")).unwrap()
    }

    fn repo_path(repo: &RepoName) -> std::path::PathBuf {
        Path::new("/srv/repos").join(repo.as_str())
    }

    fn ao(append_only: bool) -> ServeFlags {
        ServeFlags {
            append_only,
            storage_quota: 0,
        }
    }

    fn line(repo: &str, n: u8, append_only: bool, comment: &str) -> String {
        let repo = name(repo);
        let key = key(n);
        managed_line(
            Path::new(BORG),
            &repo_path(&repo),
            ao(append_only),
            &key,
            &repo,
            comment,
        )
        .unwrap()
    }

    fn text(keys: &AuthorizedKeys) -> String {
        String::from_utf8(keys.render()).unwrap()
    }

    /// Hand-written lines borgbox must leave alone, each with its terminator.
    fn foreign() -> Vec<String> {
        let blob = key(200).blob_b64;
        vec![
            "# my keys\n".to_owned(),
            "\n".to_owned(),
            "   \t\r\n".to_owned(),
            format!("ssh-ed25519 {blob} admin@host\r\n"),
            "from=\"10.0.0.1,10.0.0.2\",command=\"echo \\\"a b\\\" # borgbox:mac\" ssh-rsa AAAA x\n"
                .to_owned(),
            "no-pty,command=\"unterminated ssh-ed25519 AAAA # borgbox:mac\n".to_owned(),
            "garbage that is not a key # borgbox:mac\n".to_owned(),
            "  # ssh-ed25519 AAAA # borgbox:mac\n".to_owned(),
            "ssh-ed25519 AAAA #borgbox:mac\n".to_owned(),
            "ssh-ed25519 AAAA # borgbox:mac\tx\n".to_owned(),
            "ssh-ed25519 AAAA # borgbox:Mac\n".to_owned(),
            "ssh-ed25519 # borgbox:mac\n".to_owned(),
            "caf\u{e9} \u{0}\n".to_owned(),
        ]
    }

    #[test]
    fn foreign_lines_are_never_managed() {
        let keys = AuthorizedKeys::parse(foreign().concat().as_bytes());
        assert!(keys.summary().is_empty());
        assert!(keys.managed(&name("mac")).is_empty());
    }

    #[test]
    fn managed_lines_are_read_in_file_order() {
        let file = [
            format!("{}\n", line("mac", 1, true, "first key")),
            foreign().concat(),
            format!("{}\r\n", line("mac2", 2, false, "")),
            format!("  {}", line("mac", 3, false, "")),
        ]
        .concat();
        let keys = AuthorizedKeys::parse(file.as_bytes());
        let mac = keys.managed(&name("mac"));
        assert_eq!(
            mac,
            vec![
                ManagedKey {
                    fingerprint: key(1).fingerprint(),
                    algo: "ssh-ed25519".to_owned(),
                    comment: "first key".to_owned(),
                    append_only: true,
                    storage_quota: 0,
                    restricted: true,
                },
                ManagedKey {
                    fingerprint: key(3).fingerprint(),
                    algo: "ssh-ed25519".to_owned(),
                    comment: String::new(),
                    append_only: false,
                    storage_quota: 0,
                    restricted: true,
                },
            ]
        );
        let summary = keys.summary();
        assert_eq!(summary.len(), 2);
        assert_eq!(
            summary["mac"],
            RepoKeys {
                keys: 2,
                all_append_only: false,
                storage_quota: 0,
                unrestricted: 0,
            }
        );
        assert_eq!(
            summary["mac2"],
            RepoKeys {
                keys: 1,
                all_append_only: false,
                storage_quota: 0,
                unrestricted: 0,
            }
        );
        assert_eq!(
            keys.managed(&name("mac2"))[0].fingerprint,
            key(2).fingerprint()
        );
    }

    #[test]
    fn recognition_follows_sshd_field_splitting() {
        let blob = key(1).blob_b64;
        let cases = [
            (format!("ssh-ed25519 {blob} # borgbox:mac"), true),
            (
                format!("ssh-ed25519 {blob} laptop # borgbox:mac more text"),
                true,
            ),
            (
                format!("\t restrict  ssh-ed25519\t{blob}   # borgbox:mac"),
                true,
            ),
            (
                format!("from=\"a b\",command=\"x \\\"y z\\\"\" ssh-ed25519 {blob} # borgbox:mac"),
                true,
            ),
            (
                format!("ssh-ed25519-cert-v01@openssh.com {blob} # borgbox:mac"),
                true,
            ),
            (format!("ssh-ed25519 {blob} # borgbox:mac2"), false),
            (format!("ssh-ed25519 {blob} # borgbox:ma"), false),
            (format!("ssh-ed25519 {blob} # borgbox:mac\t"), false),
            (
                format!("command=\"# borgbox:mac \" ssh-ed25519 {blob}"),
                false,
            ),
            (format!("# ssh-ed25519 {blob} # borgbox:mac"), false),
            (format!("ssh-foo {blob} # borgbox:mac"), false),
            (format!("restrict {blob} # borgbox:mac"), false),
            (
                format!("command=\"a ssh-ed25519 {blob} # borgbox:mac"),
                false,
            ),
        ];
        for (line, expected) in cases {
            let keys = AuthorizedKeys::parse(line.as_bytes());
            assert_eq!(keys.managed(&name("mac")).len() == 1, expected, "{line}");
        }
    }

    #[test]
    fn first_valid_tag_wins() {
        let blob = key(1).blob_b64;
        let line = format!("ssh-ed25519 {blob} # borgbox:BAD # borgbox:mac # borgbox:evil");
        let keys = AuthorizedKeys::parse(line.as_bytes());
        assert_eq!(keys.managed(&name("mac"))[0].comment, "# borgbox:evil");
        assert!(keys.managed(&name("evil")).is_empty());
    }

    #[test]
    fn append_only_is_read_from_the_command_option() {
        let blob = key(1).blob_b64;
        let cases = [
            (
                "command=\"borg serve --append-only --restrict-to-repository /r\"",
                true,
            ),
            ("restrict,COMMAND=\"borg serve --append-only\"", true),
            ("command=\"borg serve\t--append-only\"", true),
            ("command=\"borg serve --append-only-not\"", false),
            ("command=\"borg serve\",from=\"--append-only\"", false),
            ("command=\"borg serve \\\"--append-only\\\"\"", false),
            ("command=borg,restrict", false),
            ("restrict", false),
        ];
        for (options, expected) in cases {
            let line = format!("{options} ssh-ed25519 {blob} # borgbox:mac --append-only");
            let keys = AuthorizedKeys::parse(line.as_bytes());
            assert_eq!(
                keys.managed(&name("mac"))[0].append_only,
                expected,
                "{options}"
            );
        }
    }

    #[test]
    fn storage_quota_is_read_from_the_command_option() {
        let blob = key(1).blob_b64;
        let cases = [
            (
                "command=\"borg serve --storage-quota 10000000 --restrict-to-repository /r\"",
                10_000_000,
            ),
            (
                "command=\"borg serve --append-only --storage-quota 10M\"",
                10_000_000,
            ),
            ("command=\"borg serve --storage-quota=5G\"", 5_000_000_000),
            ("command=\"borg serve --storage-quota\"", 0),
            ("command=\"borg serve --storage-quota x10\"", 0),
            (
                "command=\"borg serve --storage-quota 99999999999999999999T\"",
                0,
            ),
            ("command=\"borg serve\",from=\"--storage-quota 10\"", 0),
            ("restrict", 0),
        ];
        for (options, expected) in cases {
            let line = format!("{options} ssh-ed25519 {blob} # borgbox:mac");
            let keys = AuthorizedKeys::parse(line.as_bytes());
            assert_eq!(
                keys.managed(&name("mac"))[0].storage_quota,
                expected,
                "{options}"
            );
            assert_eq!(keys.summary()["mac"].storage_quota, expected);
        }
    }

    #[test]
    fn set_flags_keeps_what_the_change_keeps() {
        let repo = name("mac");
        let path = repo_path(&repo);
        let mut keys = AuthorizedKeys::parse(
            format!(
                "{}\n{}\n",
                line("mac", 1, true, ""),
                line("mac", 2, false, "")
            )
            .as_bytes(),
        );
        let quota = |flags: ServeFlags| ServeFlags {
            storage_quota: 20_000_000,
            ..flags
        };
        assert_eq!(keys.set_flags(&repo, quota, Path::new(BORG), &path), Ok(2));
        let managed = keys.managed(&repo);
        assert_eq!(
            managed
                .iter()
                .map(|k| (k.append_only, k.storage_quota))
                .collect::<Vec<_>>(),
            vec![(true, 20_000_000), (false, 20_000_000)]
        );
        assert!(text(&keys)
            .contains("serve --append-only --storage-quota 20000000 --restrict-to-repository"));
    }

    #[test]
    fn a_managed_line_without_restrict_is_reported_and_repaired_by_the_next_edit() {
        let repo = name("mac");
        let path = repo_path(&repo);
        let blob = |n: u8| key(n).blob_b64;
        let command = format!("command=\"{BORG} serve --restrict-to-repository /srv/repos/mac\"");
        let file = format!(
            "{}\n\
             ssh-ed25519 {} # borgbox:mac hand-tagged\n\
             no-pty,{command} ssh-ed25519 {} # borgbox:mac migrated\r\n\
             {command},restrict,Port-Forwarding,pty ssh-ed25519 {} # borgbox:mac undone\n\
             ssh-ed25519 {} # borgbox:other\n",
            line("mac", 1, false, "written"),
            blob(2),
            blob(3),
            blob(4),
            blob(5),
        );
        let mut keys = AuthorizedKeys::parse(file.as_bytes());
        let restricted = |keys: &AuthorizedKeys| {
            keys.managed(&repo)
                .iter()
                .map(|k| k.restricted)
                .collect::<Vec<_>>()
        };
        assert_eq!(restricted(&keys), [true, false, false, false]);
        assert_eq!(keys.summary()["mac"].unrestricted, 3);
        assert_eq!(keys.summary()["other"].unrestricted, 1);
        // Any edit of the repo's lines: here a change of append-only.
        let on = |flags: ServeFlags| ServeFlags {
            append_only: true,
            ..flags
        };
        assert_eq!(keys.set_flags(&repo, on, Path::new(BORG), &path), Ok(4));
        assert_eq!(restricted(&keys), [true; 4]);
        assert_eq!(keys.summary()["mac"].unrestricted, 0);
        let on_command = format!(
            "command=\"{BORG} serve --append-only --restrict-to-repository /srv/repos/mac\""
        );
        let lines: Vec<String> = text(&keys).lines().map(str::to_owned).collect();
        assert_eq!(
            lines[1],
            format!(
                "{on_command},restrict ssh-ed25519 {} # borgbox:mac hand-tagged",
                blob(2)
            )
        );
        assert_eq!(
            lines[2],
            format!(
                "no-pty,{on_command},restrict ssh-ed25519 {} # borgbox:mac migrated",
                blob(3)
            )
        );
        assert!(text(&keys).contains("migrated\r\n"));
        assert_eq!(
            lines[3],
            format!(
                "{on_command},restrict ssh-ed25519 {} # borgbox:mac undone",
                blob(4)
            )
        );
        // Other repos' lines are not touched; a restricted repo changes nothing.
        assert_eq!(lines[4], format!("ssh-ed25519 {} # borgbox:other", blob(5)));
        assert_eq!(keys.restrict(&repo), 0);
        assert_eq!(keys.restrict(&name("other")), 1);
        assert!(keys.managed(&name("other"))[0].restricted);
    }

    #[test]
    fn blob_owner_sees_every_key_line() {
        let file = [foreign().concat(), line("mac", 1, false, "")].concat();
        let keys = AuthorizedKeys::parse(file.as_bytes());
        assert_eq!(
            keys.blob_owner(&key(1).blob_b64),
            Some(BlobOwner::Managed(name("mac")))
        );
        assert_eq!(
            keys.blob_owner(&key(200).blob_b64),
            Some(BlobOwner::Foreign)
        );
        assert_eq!(keys.blob_owner(&key(7).blob_b64), None);
        let with_options = format!("no-pty,from=\"x y\" ssh-rsa {} me\n", key(7).blob_b64);
        let keys = AuthorizedKeys::parse(with_options.as_bytes());
        assert_eq!(keys.blob_owner(&key(7).blob_b64), Some(BlobOwner::Foreign));
        assert_eq!(keys.blob_owner("AAAA"), None);
    }

    #[test]
    fn append_adds_a_missing_final_newline_only() {
        let mut keys = AuthorizedKeys::parse(b"# a\r\n# b");
        keys.append_line("x".to_owned());
        assert_eq!(text(&keys), "# a\r\n# b\nx\n");
        let mut keys = AuthorizedKeys::parse(b"");
        keys.append_line("x".to_owned());
        assert_eq!(text(&keys), "x\n");
        let mut keys = AuthorizedKeys::parse(b"# a\r\n");
        keys.append_line("x".to_owned());
        assert_eq!(text(&keys), "# a\r\nx\n");
    }

    #[test]
    fn removal_takes_only_the_named_lines() {
        let foreign = foreign().concat();
        let file = [
            format!("{}\n", line("mac", 1, false, "")),
            foreign.clone(),
            format!("{}\r\n", line("mac2", 2, false, "")),
            line("mac", 3, false, ""),
        ]
        .concat();
        let mut keys = AuthorizedKeys::parse(file.as_bytes());
        assert!(
            !keys.remove_key(&name("mac"), &key(2).fingerprint()),
            "other repo's key"
        );
        assert!(!keys.remove_key(&name("mac"), ""));
        assert!(!keys.remove_key(&name("mac"), "SHA256:"));
        let fp = key(3).fingerprint();
        assert!(keys.remove_key(&name("mac"), fp.strip_prefix("SHA256:").unwrap()));
        assert!(!keys.remove_key(&name("mac"), &fp));
        assert_eq!(keys.managed(&name("mac")).len(), 1);
        assert_eq!(keys.remove_repo(&name("mac")), 1);
        assert_eq!(keys.remove_repo(&name("mac")), 0);
        let mac2 = format!("{}\r\n", line("mac2", 2, false, ""));
        assert_eq!(text(&keys), format!("{foreign}{mac2}"));
        assert!(keys.remove_key(&name("mac2"), &key(2).fingerprint()));
        assert_eq!(text(&keys), foreign);
    }

    #[test]
    fn set_append_only_rewrites_only_the_command() {
        let blob = key(1).blob_b64;
        let repo = name("mac");
        let path = repo_path(&repo);
        let foreign = foreign().concat();
        let file = [
            format!("{}\r\n", line("mac", 1, false, "a")),
            foreign.clone(),
            format!(
                "no-pty,Command=\"/old/borg serve\",restrict ssh-ed25519 {blob} # borgbox:mac b\n"
            ),
            format!("no-pty ssh-ed25519 {blob} # borgbox:mac\n"),
            format!("  ssh-ed25519 {blob} # borgbox:mac c"),
            format!("\n{}", line("mac2", 2, false, "")),
        ]
        .concat();
        let mut keys = AuthorizedKeys::parse(file.as_bytes());
        let before = keys.managed(&repo);
        let changed = keys
            .set_flags(&repo, |_| ao(true), Path::new(BORG), &path)
            .unwrap();
        assert_eq!(changed, 4);
        let option = command_option(Path::new(BORG), &path, ao(true)).unwrap();
        assert_eq!(
            text(&keys),
            [
                format!("{}\r\n", line("mac", 1, true, "a")),
                foreign.clone(),
                format!("no-pty,{option},restrict ssh-ed25519 {blob} # borgbox:mac b\n"),
                format!("{option},no-pty,restrict ssh-ed25519 {blob} # borgbox:mac\n"),
                format!("  {option},restrict ssh-ed25519 {blob} # borgbox:mac c"),
                format!("\n{}", line("mac2", 2, false, "")),
            ]
            .concat()
        );
        let after = keys.managed(&repo);
        assert!(after.iter().all(|k| k.append_only));
        let strip = |keys: Vec<ManagedKey>| {
            keys.into_iter()
                .map(|k| (k.fingerprint, k.comment))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(after), strip(before));
        let again = keys.clone();
        assert_eq!(
            keys.set_flags(&repo, |_| ao(true), Path::new(BORG), &path),
            Ok(0)
        );
        assert_eq!(keys, again);
        assert_eq!(
            keys.set_flags(&repo, |_| ao(false), Path::new(BORG), &path),
            Ok(4)
        );
        assert_eq!(
            keys.summary()["mac"],
            RepoKeys {
                keys: 4,
                all_append_only: false,
                storage_quota: 0,
                unrestricted: 0,
            }
        );
    }

    #[test]
    fn set_append_only_refuses_unsafe_paths() {
        let file = line("mac", 1, false, "");
        let mut keys = AuthorizedKeys::parse(file.as_bytes());
        let result = keys.set_flags(
            &name("mac"),
            |_| ao(true),
            Path::new("/a b"),
            Path::new("/r"),
        );
        assert!(result.is_err());
        assert_eq!(text(&keys), file);
    }

    /// One line of a realistic file with its terminator, and the repo it is managed for.
    fn any_line() -> impl Strategy<Value = (String, Option<String>)> {
        let managed = (
            "[a-z0-9][a-z0-9-]{0,6}",
            any::<u8>(),
            any::<bool>(),
            "\\PC{0,30}",
            prop_oneof![Just("\n"), Just("\r\n")],
        )
            .prop_map(|(repo, n, ao, comment, eol)| {
                (format!("{}{eol}", line(&repo, n, ao, &comment)), Some(repo))
            });
        let foreign = prop_oneof![
            prop::sample::select(foreign()),
            "[ \t#a-z\"\\\\,=-]{0,30}\r?\n",
            "\\PC{0,40}\n",
            ("[a-z=\",\\\\ ]{0,20}", any::<u8>(), "[ a-z#:]{0,20}").prop_map(
                |(options, n, rest)| {
                    format!("{options} ssh-ed25519 {} {rest}\n", key(n).blob_b64)
                }
            ),
        ]
        .prop_map(|line| (line, None));
        prop_oneof![3 => managed, 2 => foreign]
    }

    /// A realistic file: lines, perhaps without a final newline.
    fn any_file() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
        (prop::collection::vec(any_line(), 0..12), any::<bool>()).prop_map(|(mut lines, cut)| {
            if let Some((last, _)) = lines.last_mut().filter(|_| cut) {
                last.truncate(last.trim_end_matches(['\r', '\n']).len());
            }
            lines
        })
    }

    fn concat(lines: &[(String, Option<String>)]) -> String {
        lines.iter().map(|(l, _)| l.as_str()).collect()
    }

    proptest! {
        #[test]
        fn round_trip_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            prop_assert_eq!(AuthorizedKeys::parse(&bytes).render(), bytes);
        }

        #[test]
        fn round_trip_strings(s in any::<String>(), t in "[\r\n \t\"\\\\a#=,]{0,80}") {
            prop_assert_eq!(AuthorizedKeys::parse(s.as_bytes()).render(), s.as_bytes());
            prop_assert_eq!(AuthorizedKeys::parse(t.as_bytes()).render(), t.as_bytes());
        }

        #[test]
        fn round_trip_realistic_files(lines in any_file()) {
            let file = concat(&lines);
            let keys = AuthorizedKeys::parse(file.as_bytes());
            prop_assert_eq!(text(&keys), file);
            let mut counts: HashMap<String, usize> = HashMap::new();
            for repo in lines.iter().filter_map(|(_, repo)| repo.clone()) {
                *counts.entry(repo).or_default() += 1;
            }
            let summary: HashMap<String, usize> =
                keys.summary().into_iter().map(|(repo, k)| (repo, k.keys)).collect();
            prop_assert_eq!(summary, counts);
        }

        #[test]
        fn edits_leave_other_lines_alone(
            lines in any_file(),
            target in "[a-z0-9]{1,2}",
            append_only in any::<bool>(),
            quota in prop_oneof![Just(0u64), 10_000_000u64..1u64 << 62],
        ) {
            let ao_flags = ServeFlags { append_only, storage_quota: quota };
            let repo = name(&target);
            let file = concat(&lines);
            let ours = |(_, r): &&(String, Option<String>)| r.as_deref() == Some(target.as_str());

            let mut keys = AuthorizedKeys::parse(file.as_bytes());
            let expected: Vec<_> = lines.iter().filter(|l| !ours(l)).cloned().collect();
            let removed = keys.remove_repo(&repo);
            prop_assert_eq!(removed, lines.iter().filter(ours).count());
            prop_assert_eq!(text(&keys), concat(&expected));

            let mut keys = AuthorizedKeys::parse(file.as_bytes());
            let set = |keys: &mut AuthorizedKeys| {
                keys.set_flags(&repo, |_| ao_flags, Path::new(BORG), &repo_path(&repo))
            };
            set(&mut keys).unwrap();
            prop_assert!(keys
                .managed(&repo)
                .iter()
                .all(|k| k.append_only == append_only && k.storage_quota == quota));
            let after = text(&keys);
            // Our lines keep everything after the command option; other lines are untouched.
            let tail = |l: &str| l.split_once(",restrict ").map(|(_, t)| t.to_owned());
            prop_assert_eq!(file.lines().count(), after.lines().count());
            for ((old, new), (_, r)) in file.lines().zip(after.lines()).zip(&lines) {
                if r.as_deref() == Some(target.as_str()) {
                    prop_assert_eq!(tail(old), tail(new));
                } else {
                    prop_assert_eq!(old, new);
                }
            }
            prop_assert_eq!(set(&mut keys), Ok(0));
            prop_assert_eq!(text(&keys), after);
        }

        #[test]
        fn rendered_lines_parse_back(
            n in any::<[u8; 32]>(),
            repo in "[a-z0-9][a-z0-9-]{0,62}",
            comment in "\\PC{0,250}",
            append_only in any::<bool>(),
            quota in prop_oneof![Just(0u64), 10_000_000u64..1u64 << 62],
            eol in prop_oneof![Just(""), Just("\n"), Just("\r\n")],
        ) {
            let key = parse_public_key(&ed25519_line(&n, "")).unwrap();
            let repo = name(&repo);
            let path = repo_path(&repo);
            let flags = ServeFlags { append_only, storage_quota: quota };
            let line = managed_line(Path::new(BORG), &path, flags, &key, &repo, &comment).unwrap();
            let keys = AuthorizedKeys::parse(format!("{line}{eol}").as_bytes());
            let expected = ManagedKey {
                fingerprint: key.fingerprint(),
                algo: key.algo.clone(),
                comment: crate::keys::sanitize_comment(&comment),
                append_only,
                storage_quota: quota,
                restricted: true,
            };
            prop_assert_eq!(keys.managed(&repo), vec![expected]);
            prop_assert_eq!(keys.blob_owner(&key.blob_b64), Some(BlobOwner::Managed(repo)));
        }

        #[test]
        fn a_prefix_name_is_never_confused(
            short in "[a-z0-9][a-z0-9-]{0,10}",
            suffix in "[a-z0-9-]{1,5}",
            comment in "\\PC{0,30}",
        ) {
            let long = format!("{short}{suffix}");
            let (a, b) = (line(&short, 1, false, &comment), line(&long, 2, true, &comment));
            let file = format!("{a}\n{b}\n");
            let mut keys = AuthorizedKeys::parse(file.as_bytes());
            let (short, long) = (name(&short), name(&long));
            prop_assert_eq!(keys.managed(&short).len(), 1);
            prop_assert_eq!(&keys.managed(&long)[0].fingerprint, &key(2).fingerprint());
            let owner = keys.blob_owner(&key(2).blob_b64);
            prop_assert_eq!(owner, Some(BlobOwner::Managed(long.clone())));
            prop_assert_eq!(keys.remove_repo(&short), 1);
            prop_assert_eq!(keys.managed(&long).len(), 1);
        }
    }
}
