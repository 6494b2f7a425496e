//! The managed line borgbox writes for a key (API.md 7.3): the forced `borg serve` command,
//! `restrict` and the `# borgbox:<name>` tag. Pure: builds text, never reads the file.

use std::path::{Path, PathBuf};

use super::pubkey::{sanitize_comment, PublicKey};
use crate::model::RepoName;

/// A path that would break out of the quoted `command="..."` option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("path {0:?} cannot be used in a forced command")]
pub struct UnsafePath(pub PathBuf);

/// What a managed line lets its key do, beyond `--restrict-to-repository`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeFlags {
    pub append_only: bool,
    /// Bytes for `--storage-quota` (API.md 16.1); 0 = none.
    pub storage_quota: u64,
}

/// `<borg> serve [--append-only ][--storage-quota <bytes> ]--restrict-to-repository <repo_path>`.
pub fn forced_command(
    borg: &Path,
    repo_path: &Path,
    flags: ServeFlags,
) -> Result<String, UnsafePath> {
    let append_only = if flags.append_only {
        "--append-only "
    } else {
        ""
    };
    let quota = match flags.storage_quota {
        0 => String::new(),
        bytes => format!("--storage-quota {bytes} "),
    };
    Ok(format!(
        "{} serve {append_only}{quota}--restrict-to-repository {}",
        quotable(borg)?,
        quotable(repo_path)?
    ))
}

/// The canonical `command="..."` option of a managed line.
pub(crate) fn command_option(
    borg: &Path,
    repo_path: &Path,
    flags: ServeFlags,
) -> Result<String, UnsafePath> {
    Ok(format!(
        "command=\"{}\"",
        forced_command(borg, repo_path, flags)?
    ))
}

/// One managed line, without its newline:
/// `command="<forced>",restrict <type> <blob> # borgbox:<name>[ <comment>]`.
pub fn managed_line(
    borg: &Path,
    repo_path: &Path,
    flags: ServeFlags,
    key: &PublicKey,
    repo: &RepoName,
    comment: &str,
) -> Result<String, UnsafePath> {
    let command = command_option(borg, repo_path, flags)?;
    let comment = sanitize_comment(comment);
    let sep = if comment.is_empty() { "" } else { " " };
    Ok(format!(
        "{command},restrict {} {} # borgbox:{repo}{sep}{comment}",
        key.algo, key.blob_b64
    ))
}

/// The path as text that can sit between the quotes of an option unescaped.
fn quotable(path: &Path) -> Result<&str, UnsafePath> {
    path.to_str()
        .filter(|s| {
            !s.is_empty()
                && !s.contains(|c: char| {
                    c == '"' || c == '\\' || c.is_whitespace() || c.is_control()
                })
        })
        .ok_or_else(|| UnsafePath(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::pubkey::parse_public_key;
    use crate::keys::pubkey::tests::ed25519_line;

    const BORG: &str = "/usr/bin/borg";
    const REPO: &str = "/var/lib/borg/repos/mac";

    fn key(comment: &str) -> PublicKey {
        parse_public_key(&ed25519_line(&[3; 32], comment)).unwrap()
    }

    #[test]
    fn forced_command_matches_the_contract() {
        let (borg, repo) = (Path::new(BORG), Path::new(REPO));
        let flags = |append_only, storage_quota| ServeFlags {
            append_only,
            storage_quota,
        };
        assert_eq!(
            forced_command(borg, repo, flags(false, 0)).unwrap(),
            "/usr/bin/borg serve --restrict-to-repository /var/lib/borg/repos/mac"
        );
        assert_eq!(
            forced_command(borg, repo, flags(true, 0)).unwrap(),
            "/usr/bin/borg serve --append-only --restrict-to-repository /var/lib/borg/repos/mac"
        );
        assert_eq!(
            forced_command(borg, repo, flags(false, 10_000_000)).unwrap(),
            "/usr/bin/borg serve --storage-quota 10000000 --restrict-to-repository \
             /var/lib/borg/repos/mac"
        );
        assert_eq!(
            forced_command(borg, repo, flags(true, 5_000_000_000)).unwrap(),
            "/usr/bin/borg serve --append-only --storage-quota 5000000000 \
             --restrict-to-repository /var/lib/borg/repos/mac"
        );
    }

    #[test]
    fn managed_line_matches_the_contract() {
        let key = key("borgmac-borgbox-mac");
        let name: RepoName = "mac".parse().unwrap();
        let line = managed_line(
            Path::new(BORG),
            Path::new(REPO),
            ServeFlags {
                append_only: true,
                storage_quota: 0,
            },
            &key,
            &name,
            &key.comment,
        )
        .unwrap();
        assert_eq!(
            line,
            format!(
                "command=\"/usr/bin/borg serve --append-only --restrict-to-repository \
                 /var/lib/borg/repos/mac\",restrict ssh-ed25519 {} # borgbox:mac \
                 borgmac-borgbox-mac",
                key.blob_b64
            )
        );
    }

    #[test]
    fn comment_is_sanitised_or_left_out() {
        let key = key("");
        let name: RepoName = "a-1".parse().unwrap();
        let render = |comment| {
            managed_line(
                Path::new(BORG),
                Path::new(REPO),
                ServeFlags::default(),
                &key,
                &name,
                comment,
            )
            .unwrap()
        };
        assert!(render("").ends_with(&format!("{} # borgbox:a-1", key.blob_b64)));
        assert!(render("  \t ").ends_with("# borgbox:a-1"));
        assert!(render(" my  \"work\"\nlaptop ").ends_with("# borgbox:a-1 my work laptop"));
    }

    #[test]
    fn paths_that_break_the_quotes_are_refused() {
        let ok = Path::new(REPO);
        for bad in [
            "",
            "/a b",
            "/a\"b",
            "/a\\b",
            "/a\tb",
            "/a\nb",
            "/a\u{1}b",
            "/a\u{85}b",
        ] {
            let bad = Path::new(bad);
            assert_eq!(
                forced_command(bad, ok, ServeFlags::default()),
                Err(UnsafePath(bad.to_owned()))
            );
            assert_eq!(
                forced_command(ok, bad, ServeFlags::default()),
                Err(UnsafePath(bad.to_owned()))
            );
        }
        let key = key("");
        let name: RepoName = "mac".parse().unwrap();
        assert!(managed_line(
            Path::new("/b b"),
            ok,
            ServeFlags::default(),
            &key,
            &name,
            ""
        )
        .is_err());
    }

    #[test]
    fn non_utf8_paths_are_refused() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(OsStr::from_bytes(b"/repos/\xff"));
        assert!(forced_command(Path::new(BORG), bad, ServeFlags::default()).is_err());
    }
}
