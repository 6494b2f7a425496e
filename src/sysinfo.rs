//! Host facts from /proc and statvfs, and the live `borg serve` sessions: the only module
//! that reads /proc or calls statvfs. It returns plain structs, never fails as a whole, and
//! never reads the wall clock (`now` is a parameter).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Component, Path};

use procfs::process::Process;
use procfs::{CurrentSI, KernelStats, ProcResult};
use time::OffsetDateTime;

/// The option whose value names the repo a `borg serve` may open.
const RESTRICT_OPT: &str = "--restrict-to-repository";

/// Environment variables sshd sets, in the order we trust them.
const SSH_VARS: [&str; 2] = ["SSH_CLIENT", "SSH_CONNECTION"];

/// How far up the process tree we look for sshd's variables; a guard against a pid loop
/// created by reuse while we walk, real chains are a handful deep.
const MAX_ANCESTORS: usize = 64;

/// One live `borg serve` process (API.md 4.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub pid: i32,
    /// The repo name when the repo lies directly under the repo root, else the path as
    /// written; `""` when the command line has no `--restrict-to-repository`.
    pub repo: String,
    /// `""` when unknown.
    pub client_ip: String,
    pub started_at: Option<OffsetDateTime>,
    /// Average over the process lifetime; can exceed 100 for a multi-threaded process.
    pub cpu_percent: f64,
    pub rss_bytes: u64,
}

/// Space on the file system holding a path, in bytes, as `df` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskUsage {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
}

/// Host-wide values every session's figures are computed from.
struct HostClock {
    /// `None` when /proc/stat is unreadable: then no start times, and no CPU average.
    btime: Option<u64>,
    ticks_per_second: u64,
    page_size: u64,
}

/// The live `borg serve` processes owned by `uid`, sorted by pid. `now` is a parameter
/// (time comes from a Clock elsewhere). A process that cannot be read is left out.
pub fn sessions(uid: u32, repo_root: &Path, now: OffsetDateTime) -> Vec<Session> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // /proc/<pid> belongs to the process's uid: only `uid`'s processes are opened.
    let processes = entries.flatten().filter_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let owner = std::os::unix::fs::MetadataExt::uid(&entry.metadata().ok()?);
        (owner == uid).then(|| Process::new(pid))
    });
    // Read btime on every call: the kernel moves it when the wall clock is stepped, and
    // procfs::boot_time_secs caches it per thread for the life of a long-running daemon.
    let host = HostClock {
        btime: KernelStats::current().ok().map(|stats| stats.btime),
        ticks_per_second: procfs::ticks_per_second(),
        page_size: procfs::page_size(),
    };
    let mut found: Vec<Session> = processes
        .filter_map(Result::ok)
        // Any error means the process vanished or cannot be read: skip just that one.
        .filter_map(|process| read_session(&process, uid, repo_root, now, &host).ok()?)
        .collect();
    found.sort_by_key(|session| session.pid);
    found
}

/// `Ok(None)` for a process that is not a session of `uid`.
fn read_session(
    process: &Process,
    uid: u32,
    repo_root: &Path,
    now: OffsetDateTime,
    host: &HostClock,
) -> ProcResult<Option<Session>> {
    if process.uid()? != uid {
        return Ok(None);
    }
    let argv = split_cmdline(&read_cmdline(process)?);
    let Some(serve) = parse_serve_argv(&argv) else {
        return Ok(None);
    };
    let repo = serve
        .repo
        .map(|path| repo_display_name(path, repo_root))
        .unwrap_or_default();

    // procfs parses stat after the last ')', so a comm with spaces or parentheses is fine.
    let stat = process.stat()?;
    let statm = process.statm()?;
    let started_at = host
        .btime
        .and_then(|btime| start_time(btime, stat.starttime, host.ticks_per_second));
    let cpu_percent = started_at.map_or(0.0, |start| {
        cpu_percent(
            stat.utime.saturating_add(stat.stime),
            host.ticks_per_second,
            (now - start).as_seconds_f64(),
        )
    });
    let client_ip = client_ip_of(process, stat.ppid).unwrap_or_default();

    Ok(Some(Session {
        pid: process.pid(),
        repo,
        client_ip,
        started_at,
        cpu_percent,
        rss_bytes: statm.resident.saturating_mul(host.page_size),
    }))
}

/// Raw bytes, read through the process's pinned /proc fd: procfs's own `cmdline()` drops
/// empty arguments (shifting an option's value) and rejects non-UTF-8 paths.
fn read_cmdline(process: &Process) -> ProcResult<Vec<u8>> {
    let mut file = process.open_relative("cmdline")?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The SSH client address from the process's environment or, failing that, from the
/// nearest ancestor whose environment is readable and has one.
fn client_ip_of(process: &Process, ppid: i32) -> Option<String> {
    if let Some(ip) = process.environ().ok().as_ref().and_then(ip_from_environ) {
        return Some(ip);
    }
    let mut pid = ppid;
    for _ in 0..MAX_ANCESTORS {
        if pid <= 0 {
            return None;
        }
        let ancestor = Process::new(pid).ok()?;
        // Unreadable (another user's, or a zombie's empty one): keep climbing.
        if let Some(ip) = ancestor.environ().ok().as_ref().and_then(ip_from_environ) {
            return Some(ip);
        }
        pid = ancestor.stat().ok()?.ppid;
    }
    None
}

/// Statvfs of `path`; `None` when statvfs fails.
pub fn disk_usage(path: &Path) -> Option<DiskUsage> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    // Identity on 64-bit Linux; c_ulong and fsblkcnt_t are 32 bits wide on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let usage = usage_from_statvfs(
        u64::from(st.blocks()),
        u64::from(st.blocks_free()),
        u64::from(st.blocks_available()),
        u64::from(st.fragment_size()),
        u64::from(st.block_size()),
    );
    Some(usage)
}

/// The 1, 5 and 15 minute load averages from /proc/loadavg; zeros if unreadable.
pub fn load_average() -> [f64; 3] {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| parse_loadavg(&text))
        .unwrap_or([0.0; 3])
}

/// Integer part of the first number of /proc/uptime; 0 if unreadable.
pub fn host_uptime_seconds() -> u64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|text| parse_uptime(&text))
        .unwrap_or(0)
}

/// A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with
/// its pid, an identity that tells a reused pid apart. None when the process does not exist
/// or its stat cannot be read.
pub fn process_start_ticks(pid: i32) -> Option<u64> {
    Process::new(pid)
        .and_then(|p| p.stat())
        .ok()
        .map(|stat| stat.starttime)
}

/// The kernel host name (uname's nodename); `""` if it cannot be read.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ---- pure functions: contents in, values out ----

/// What a `borg serve` command line says; built only by [`parse_serve_argv`].
#[derive(Debug, PartialEq, Eq)]
struct ServeArgv<'a> {
    /// The `--restrict-to-repository` value, as written.
    repo: Option<&'a str>,
}

/// Arguments from /proc/<pid>/cmdline: NUL-terminated, NUL-separated, lossily decoded.
fn split_cmdline(bytes: &[u8]) -> Vec<String> {
    let body = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if body.is_empty() {
        // Kernel threads and zombies have an empty cmdline.
        return Vec::new();
    }
    body.split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

/// `None` unless some argument runs borg (base name `borg` or `borg.exe`, or the pair
/// `-m borg`) and a later argument is exactly `serve`. Per argument, so a shell's
/// `-c "borg serve …"` is one argument and no match.
fn parse_serve_argv(argv: &[String]) -> Option<ServeArgv<'_>> {
    let after_borg = argv.iter().enumerate().find_map(|(i, arg)| {
        if is_borg_program(arg) {
            Some(i + 1)
        } else if arg == "-m" && argv.get(i + 1).is_some_and(|module| module == "borg") {
            Some(i + 2)
        } else {
            None
        }
    })?;
    let rest = argv.get(after_borg..)?;
    let serve_at = rest.iter().position(|arg| arg == "serve")?;
    // The option belongs to the serve subcommand, so it can only follow `serve`.
    let options = rest.get(serve_at + 1..).unwrap_or_default();
    Some(ServeArgv {
        repo: restrict_to_repository(options),
    })
}

fn is_borg_program(arg: &str) -> bool {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    base == "borg" || base == "borg.exe"
}

/// The first `--restrict-to-repository` value (`--opt value` or `--opt=value`). borg
/// accepts the option several times; borgbox writes it once.
fn restrict_to_repository(options: &[String]) -> Option<&str> {
    let mut args = options.iter();
    while let Some(arg) = args.next() {
        if arg == RESTRICT_OPT {
            return args.next().map(String::as_str);
        }
        if let Some(value) = arg
            .strip_prefix(RESTRICT_OPT)
            .and_then(|tail| tail.strip_prefix('='))
        {
            return Some(value);
        }
    }
    None
}

/// The repo name when `path` lies directly under `root` (compared by components, so a
/// trailing slash or `//` still maps to the name), else `path` exactly as written.
fn repo_display_name(path: &str, root: &Path) -> String {
    if let Ok(relative) = Path::new(path).strip_prefix(root) {
        let mut components = relative.components();
        if let (Some(Component::Normal(name)), None) = (components.next(), components.next()) {
            return name.to_string_lossy().into_owned();
        }
    }
    path.to_owned()
}

/// First field of `SSH_CLIENT`, else of `SSH_CONNECTION`; `None` when neither has one.
fn ip_from_environ(environ: &HashMap<OsString, OsString>) -> Option<String> {
    SSH_VARS.iter().find_map(|var| {
        let value = environ.get(OsStr::new(var))?.to_str()?;
        value.split_whitespace().next().map(str::to_owned)
    })
}

/// Boot time plus the start-time ticks from /proc/<pid>/stat.
fn start_time(btime: u64, start_ticks: u64, ticks_per_second: u64) -> Option<OffsetDateTime> {
    if ticks_per_second == 0 {
        return None;
    }
    let nanos = i128::from(btime) * 1_000_000_000
        + i128::from(start_ticks) * 1_000_000_000 / i128::from(ticks_per_second);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// Lifetime CPU average in percent; 0 when nothing sensible can be divided (no ticks per
/// second, or no time elapsed as seen by a clock that may lag the kernel's).
fn cpu_percent(cpu_ticks: u64, ticks_per_second: u64, elapsed_seconds: f64) -> f64 {
    if ticks_per_second == 0 || elapsed_seconds.is_nan() || elapsed_seconds <= 0.0 {
        return 0.0;
    }
    let percent = cpu_ticks as f64 / ticks_per_second as f64 / elapsed_seconds * 100.0;
    if percent.is_finite() {
        percent
    } else {
        0.0
    }
}

/// API.md 4.2's formulas. A zero fragment size (some old file systems) falls back to the
/// block size, as POSIX allows.
fn usage_from_statvfs(
    blocks: u64,
    blocks_free: u64,
    blocks_available: u64,
    fragment_size: u64,
    block_size: u64,
) -> DiskUsage {
    let unit = if fragment_size == 0 {
        block_size
    } else {
        fragment_size
    };
    DiskUsage {
        total_bytes: blocks.saturating_mul(unit),
        used_bytes: blocks.saturating_sub(blocks_free).saturating_mul(unit),
        free_bytes: blocks_available.saturating_mul(unit),
    }
}

/// Parsed as f64 from the text: procfs's `LoadAverage` holds f32, which would turn 0.15
/// into 0.15000000596 on the wire.
fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text
        .split_whitespace()
        .map(|field| field.parse::<f64>().ok().filter(|v| v.is_finite()));
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Integer part of the first field, taken from the text so no float rounding is involved.
fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let whole = first.split('.').next()?;
    whole.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::os::unix::process::CommandExt;
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::time::{Duration, Instant};

    use nix::sys::signal::{kill, killpg, Signal};
    use nix::unistd::{getuid, Pid};
    use time::macros::datetime;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| (*a).to_owned()).collect()
    }

    fn repo_of(args: &[&str]) -> Option<Option<String>> {
        parse_serve_argv(&argv(args)).map(|s| s.repo.map(str::to_owned))
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<OsString, OsString> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    // ---- argv ----

    #[test]
    fn plain_borg_serve_with_separate_value() {
        assert_eq!(
            repo_of(&["borg", "serve", "--restrict-to-repository", "/srv/r/mac"]),
            Some(Some("/srv/r/mac".into()))
        );
    }

    #[test]
    fn equals_form_of_the_option() {
        assert_eq!(
            repo_of(&[
                "/usr/bin/borg",
                "serve",
                "--append-only",
                "--restrict-to-repository=/srv/r/mac"
            ]),
            Some(Some("/srv/r/mac".into()))
        );
    }

    #[test]
    fn python_running_the_borg_script_is_a_session() {
        // What /proc shows for Debian's /usr/bin/borg, a Python script.
        assert_eq!(
            repo_of(&[
                "/usr/bin/python3",
                "/usr/bin/borg",
                "serve",
                "--restrict-to-repository",
                "/r/a"
            ]),
            Some(Some("/r/a".into()))
        );
    }

    #[test]
    fn python_dash_m_borg_is_a_session() {
        assert_eq!(
            repo_of(&[
                "python3",
                "-m",
                "borg",
                "serve",
                "--restrict-to-repository=/r/a"
            ]),
            Some(Some("/r/a".into()))
        );
        // `-m` must be followed by exactly `borg`.
        assert_eq!(repo_of(&["python3", "-m", "borgx", "serve"]), None);
        assert_eq!(repo_of(&["python3", "-m"]), None);
    }

    #[test]
    fn borg_exe_is_a_session() {
        assert_eq!(repo_of(&["C:/borg/borg.exe", "serve"]), Some(None));
    }

    #[test]
    fn serve_before_borg_is_not_a_session() {
        assert_eq!(repo_of(&["serve", "borg"]), None);
        assert_eq!(repo_of(&["sh", "-c", "sleep 30", "serve", "borg"]), None);
    }

    #[test]
    fn shell_with_borg_serve_in_one_argument_is_not_a_session() {
        assert_eq!(
            repo_of(&[
                "sh",
                "-c",
                "/usr/bin/borg serve --restrict-to-repository /r/a"
            ]),
            None
        );
    }

    #[test]
    fn serve_must_match_exactly_and_borg_by_base_name() {
        assert_eq!(repo_of(&["borg", "serve2"]), None);
        assert_eq!(repo_of(&["borgbackup", "serve"]), None);
        assert_eq!(repo_of(&["/opt/borg/", "serve"]), None);
        assert_eq!(
            repo_of(&["/usr/bin/borg", "--umask", "077", "serve"]),
            Some(None)
        );
        assert_eq!(repo_of(&[]), None);
    }

    #[test]
    fn missing_option_or_value_gives_no_repo() {
        assert_eq!(repo_of(&["borg", "serve", "--append-only"]), Some(None));
        assert_eq!(
            repo_of(&["borg", "serve", "--restrict-to-repository"]),
            Some(None)
        );
        // A prefix of the option name is a different option.
        assert_eq!(
            repo_of(&["borg", "serve", "--restrict-to-repositoryX=/a"]),
            Some(None)
        );
        // --restrict-to-path is not the repo.
        assert_eq!(
            repo_of(&["borg", "serve", "--restrict-to-path", "/r"]),
            Some(None)
        );
    }

    #[test]
    fn option_before_serve_is_not_read() {
        assert_eq!(
            repo_of(&["borg", "--restrict-to-repository=/r/a", "serve"]),
            Some(None)
        );
    }

    #[test]
    fn first_of_repeated_options_wins() {
        assert_eq!(
            repo_of(&[
                "borg",
                "serve",
                "--restrict-to-repository=/r/a",
                "--restrict-to-repository",
                "/r/b"
            ]),
            Some(Some("/r/a".into()))
        );
    }

    #[test]
    fn cmdline_bytes_split_on_nul_keeping_empty_arguments() {
        assert_eq!(
            split_cmdline(b"borg\0serve\0--restrict-to-repository\0\0"),
            argv(&["borg", "serve", "--restrict-to-repository", ""])
        );
        assert_eq!(split_cmdline(b"a\0b"), argv(&["a", "b"]));
        assert_eq!(split_cmdline(b""), Vec::<String>::new());
        assert_eq!(split_cmdline(b"\xff\0"), argv(&["\u{fffd}"]));
    }

    // ---- repo names ----

    #[test]
    fn repo_directly_under_root_is_its_name() {
        let root = Path::new("/srv/borg/repos");
        assert_eq!(repo_display_name("/srv/borg/repos/mac", root), "mac");
        assert_eq!(repo_display_name("/srv/borg/repos/mac/", root), "mac");
        assert_eq!(repo_display_name("/srv/borg/repos//mac", root), "mac");
        assert_eq!(repo_display_name("/srv/borg/repos/./mac", root), "mac");
        assert_eq!(
            repo_display_name("/srv/borg/repos/mac", Path::new("/srv/borg/repos/")),
            "mac"
        );
    }

    #[test]
    fn other_paths_stay_as_written() {
        let root = Path::new("/srv/borg/repos");
        for path in [
            "/srv/borg/repos/a/b",
            "/srv/borg/repos",
            "/srv/borg/repos/",
            "/srv/borg/reposX/mac",
            "/srv/borg/repos/../repos/mac",
            "/elsewhere/mac/",
            "repos/mac",
            "",
        ] {
            assert_eq!(repo_display_name(path, root), path, "{path}");
        }
    }

    // ---- environ ----

    #[test]
    fn client_ip_prefers_ssh_client() {
        let vars = env(&[
            ("SSH_CLIENT", "203.0.113.7 50000 22"),
            ("SSH_CONNECTION", "198.51.100.1 50000 192.0.2.1 22"),
        ]);
        assert_eq!(ip_from_environ(&vars).as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn client_ip_falls_back_to_ssh_connection() {
        let vars = env(&[("SSH_CONNECTION", "198.51.100.1 50000 192.0.2.1 22")]);
        assert_eq!(ip_from_environ(&vars).as_deref(), Some("198.51.100.1"));
        let blank = env(&[
            ("SSH_CLIENT", "  "),
            ("SSH_CONNECTION", "198.51.100.1 1 2 3"),
        ]);
        assert_eq!(ip_from_environ(&blank).as_deref(), Some("198.51.100.1"));
    }

    #[test]
    fn client_ip_ipv6() {
        let vars = env(&[("SSH_CLIENT", "2001:db8::1 50000 22")]);
        assert_eq!(ip_from_environ(&vars).as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn client_ip_absent() {
        assert_eq!(ip_from_environ(&env(&[("HOME", "/root")])), None);
        assert_eq!(ip_from_environ(&env(&[("SSH_CLIENT", "")])), None);
    }

    // ---- time and CPU ----

    #[test]
    fn start_time_adds_ticks_to_boot_time() {
        assert_eq!(
            start_time(1_776_000_000, 250, 100),
            Some(datetime!(2026-04-12 13:20:02.5 UTC))
        );
        assert_eq!(start_time(1_776_000_000, 250, 0), None);
    }

    #[test]
    fn cpu_percent_is_lifetime_average() {
        // 300 ticks at 100/s = 3 s of CPU over 60 s.
        assert!((cpu_percent(300, 100, 60.0) - 5.0).abs() < 1e-9);
        assert_eq!(cpu_percent(300, 0, 60.0), 0.0);
        assert_eq!(cpu_percent(300, 100, 0.0), 0.0);
        assert_eq!(cpu_percent(300, 100, -5.0), 0.0);
        assert_eq!(cpu_percent(300, 100, f64::NAN), 0.0);
        assert_eq!(cpu_percent(0, 100, 10.0), 0.0);
    }

    // ---- statvfs and host files ----

    #[test]
    fn usage_follows_df() {
        assert_eq!(
            usage_from_statvfs(1000, 300, 250, 4096, 4096),
            DiskUsage {
                total_bytes: 4_096_000,
                used_bytes: 700 * 4096,
                free_bytes: 250 * 4096,
            }
        );
        assert_eq!(usage_from_statvfs(10, 2, 1, 0, 512).total_bytes, 5120);
        assert_eq!(
            usage_from_statvfs(u64::MAX, 0, 0, 4096, 4096).total_bytes,
            u64::MAX
        );
    }

    #[test]
    fn loadavg_text() {
        assert_eq!(
            parse_loadavg("0.15 1.02 12.50 2/345 6789\n"),
            Some([0.15, 1.02, 12.5])
        );
        assert_eq!(parse_loadavg("0.15 1.02"), None);
        assert_eq!(parse_loadavg("x 1 2"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn uptime_text() {
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Some(350_735));
        assert_eq!(parse_uptime("12 3"), Some(12));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("abc 1"), None);
    }

    // ---- real processes ----

    /// Kills the child, its children first, and reaps it, even when an assert failed.
    struct ChildGuard {
        child: Child,
        _stdin: Option<ChildStdin>,
    }

    impl ChildGuard {
        /// Spawned in its own process group, stdin a pipe held open so `borg serve` waits.
        fn spawn(mut command: Command) -> ChildGuard {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("spawn test child");
            let stdin = child.stdin.take();
            ChildGuard {
                child,
                _stdin: stdin,
            }
        }

        fn pid(&self) -> i32 {
            i32::try_from(self.child.id()).expect("pid fits i32")
        }
    }

    /// Pids whose parent is `ppid`, zombies included.
    fn children_of(ppid: i32) -> Vec<i32> {
        procfs::process::all_processes()
            .map(|all| {
                all.filter_map(Result::ok)
                    .filter(|p| p.stat().is_ok_and(|st| st.ppid == ppid))
                    .map(|p| p.pid())
                    .collect()
            })
            .unwrap_or_default()
    }

    impl Drop for ChildGuard {
        fn drop(&mut self) {
            let leader = self.pid();
            // A shell's children die first, while the shell is alive to reap them: killed
            // together, they would be orphans left to an init that may never reap.
            for pid in children_of(leader) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = poll(|| children_of(leader).is_empty().then_some(()));
            let _ = killpg(Pid::from_raw(leader), Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }

    #[allow(clippy::disallowed_methods)] // a real process's age needs the real clock
    fn wall_now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn uid() -> u32 {
        getuid().as_raw()
    }

    /// `borg serve` with a hermetic environment: no SSH variables unless added.
    fn borg_serve(repo: &Path, base_dir: &Path) -> Command {
        let mut command = Command::new("/usr/bin/borg");
        command
            .arg("serve")
            .arg("--restrict-to-repository")
            .arg(repo)
            .env("BORG_BASE_DIR", base_dir)
            .env_remove("SSH_CLIENT")
            .env_remove("SSH_CONNECTION");
        command
    }

    /// Polls `probe` until it gives a value; `None` after 10 s.
    #[allow(clippy::disallowed_methods)] // polling a real process tree, no runtime here
    fn poll<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(value) = probe() {
                return Some(value);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first listed session `found` accepts, waiting for it to appear.
    fn wait_for_session(root: &Path, found: impl Fn(&Session) -> bool) -> Session {
        let mut last = Vec::new();
        let session = poll(|| {
            last = sessions(uid(), root, wall_now());
            last.iter().find(|s| found(s)).cloned()
        });
        session.unwrap_or_else(|| panic!("session not listed after 10s; last: {last:?}"))
    }

    #[test]
    fn real_borg_serve_is_listed_with_its_own_ssh_client() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("mac");
        std::fs::create_dir(&repo).unwrap();
        let mut command = borg_serve(&repo, root.path());
        command.env("SSH_CLIENT", "203.0.113.7 50000 22");
        let child = ChildGuard::spawn(command);

        // spawn returns once exec has begun, but the new cmdline appears a moment later.
        let session = wait_for_session(root.path(), |s| s.pid == child.pid());
        let now = wall_now();
        let list = sessions(uid(), root.path(), now);
        assert_eq!(session.repo, "mac");
        assert_eq!(session.client_ip, "203.0.113.7");
        let started = session.started_at.expect("start time");
        // btime has whole-second resolution, hence the slack.
        assert!(
            started <= now + Duration::from_secs(2),
            "{started} vs {now}"
        );
        assert!(
            started >= now - Duration::from_secs(60),
            "{started} vs {now}"
        );
        assert!(session.cpu_percent.is_finite() && session.cpu_percent >= 0.0);
        assert!(session.rss_bytes > 0);
        assert!(list.windows(2).all(|w| w[0].pid < w[1].pid), "{list:?}");

        // Owned by another uid: not listed.
        let other = sessions(uid().wrapping_add(12345), root.path(), now);
        assert!(other.iter().all(|s| s.pid != child.pid()), "{other:?}");
    }

    #[test]
    fn client_ip_comes_from_an_ancestor_when_borg_lacks_it() {
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("anc");
        std::fs::create_dir(&repo).unwrap();
        // The shell holds SSH_CLIENT; its child borg is started without it. A subshell
        // execs borg, so no in-between process shows "borg serve" with the shell's
        // environment (`env -u … borg serve` did, until it exec'd). `exit` after the
        // subshell keeps the shell from exec'ing it in its own place.
        let mut command = Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(r#"(unset SSH_CLIENT SSH_CONNECTION; exec /usr/bin/borg serve --restrict-to-repository "$1"); exit $?"#)
            .arg("sh")
            .arg(&repo)
            .env("BORG_BASE_DIR", root.path())
            .env("SSH_CLIENT", "2001:db8::7 50001 22")
            .env_remove("SSH_CONNECTION");
        let shell = ChildGuard::spawn(command);

        let session = wait_for_session(root.path(), |s| s.repo == "anc");
        assert_ne!(session.pid, shell.pid());
        let borg = Process::new(session.pid).unwrap();
        assert_eq!(
            borg.stat().unwrap().ppid,
            shell.pid(),
            "borg is the shell's child"
        );
        let own = borg.environ().unwrap();
        assert!(
            own.keys()
                .all(|k| k != "SSH_CLIENT" && k != "SSH_CONNECTION"),
            "{own:?}"
        );
        assert_eq!(session.client_ip, "2001:db8::7");

        // The shell carries "borg serve" inside one argument: it is not a second session.
        let list = sessions(uid(), root.path(), wall_now());
        assert!(list.iter().all(|s| s.pid != shell.pid()), "{list:?}");
        assert_eq!(
            list.iter().filter(|s| s.repo == "anc").count(),
            1,
            "{list:?}"
        );
    }

    #[test]
    fn repo_outside_root_keeps_its_path() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let repo = format!("{}/deep/x/", elsewhere.path().display());
        let mut command = borg_serve(Path::new(&repo), root.path());
        command.env("SSH_CONNECTION", "198.51.100.4 40000 192.0.2.1 22");
        let child = ChildGuard::spawn(command);

        let session = wait_for_session(root.path(), |s| s.pid == child.pid());
        assert_eq!(session.repo, repo);
        assert_eq!(session.client_ip, "198.51.100.4");
    }

    #[test]
    fn process_that_is_not_borg_serve_is_not_listed() {
        let root = tempfile::tempdir().unwrap();
        // `serve` comes before `borg`; `; exit 0` keeps sh from exec'ing sleep.
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "sleep 30; exit 0", "serve", "borg"]);
        let child = ChildGuard::spawn(command);

        // Wait for sh's own cmdline, so the list below is taken after it could match.
        let process = Process::new(child.pid()).unwrap();
        let cmdline = poll(|| {
            let args = split_cmdline(&read_cmdline(&process).ok()?);
            (!args.is_empty()).then_some(args)
        })
        .expect("sh's cmdline within 10s");
        assert_eq!(
            cmdline,
            argv(&["/bin/sh", "-c", "sleep 30; exit 0", "serve", "borg"])
        );
        assert_eq!(process.uid().unwrap(), uid());

        let list = sessions(uid(), root.path(), wall_now());
        assert!(list.iter().all(|s| s.pid != child.pid()), "{list:?}");
    }

    #[test]
    fn disk_usage_of_a_tempdir() {
        let dir = tempfile::tempdir().unwrap();
        let usage = disk_usage(dir.path()).expect("statvfs");
        assert!(usage.total_bytes > 0);
        assert!(usage.total_bytes >= usage.used_bytes, "{usage:?}");
        assert!(usage.total_bytes >= usage.free_bytes, "{usage:?}");
        assert_eq!(disk_usage(&dir.path().join("missing")), None);
    }

    /// The kernel's 1, 5 and 15 minute averages from sysinfo(2): the same counters as
    /// /proc/loadavg, but as 16-bit fixed point through a system call, with no text to parse.
    fn kernel_load() -> [f64; 3] {
        let (one, five, fifteen) = nix::sys::sysinfo::sysinfo()
            .expect("sysinfo(2)")
            .load_average();
        [one, five, fifteen]
    }

    #[test]
    fn load_average_matches_the_kernels_sysinfo() {
        // The kernel updates the averages every 5 s: take ours between two sysinfo readings
        // that agree, so all three saw the same values. /proc/loadavg rounds to 0.01, hence
        // the tolerance. A wrong field, a swapped order or zeros from a failed parse fail
        // here whenever the host's averages differ by more than that (the fixture in
        // `loadavg_text` pins the order when they do not).
        for _ in 0..100 {
            let before = kernel_load();
            let ours = load_average();
            if kernel_load() != before {
                continue;
            }
            for (minutes, (ours_one, kernel)) in [1, 5, 15].iter().zip(ours.iter().zip(before)) {
                assert!(
                    (ours_one - kernel).abs() <= 0.01,
                    "{minutes} min: load_average() {ours:?}, sysinfo(2) {before:?}"
                );
            }
            return;
        }
        panic!("the kernel's load averages never held still across one read");
    }

    #[test]
    fn hostname_is_the_kernels() {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(hostname(), kernel.trim_end_matches('\n'));
        assert!(!hostname().is_empty());
    }

    #[test]
    fn host_uptime_is_positive() {
        let uptime = host_uptime_seconds();
        assert!(uptime > 0);
        assert!(uptime < 100 * 365 * 24 * 3600);
    }
}
