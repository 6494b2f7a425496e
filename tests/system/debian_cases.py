"""System cases for issue 18 (Debian 12 and 13 alike) and issue 17.8 (trusted key use):
run by cases.py with its helpers, on each release tests/system/run boots."""

import json
import os
import subprocess
import time

import cases as c
from cases import check, expect, note, wait_for
from jobs_cases import client_borg, initialized_repo, job_final

STATE = f"{c.HOME}/.local/state/borgbox"


def release():
    """(VERSION_ID, the release's borg --version, sshd's version line) of the container."""
    osr = dict(line.split("=", 1) for line in c.ct("cat", "/etc/os-release").stdout.splitlines()
               if "=" in line)
    borg = c.ct("borg", "--version").stdout.strip()
    sshd = c.ct("sshd", "-V", check_rc=False).stderr.strip().splitlines()[0]
    return osr.get("VERSION_ID", "").strip('"'), borg, sshd


def keys_used():
    with open(c.root_path(f"{STATE}/keys-used.json")) as f:
        return json.load(f)["keys"]


def case_key_use_ignores_forged_and_foreign_lines():
    """A local user's perfect copies of sshd's login line (a logger renamed sshd, systemd-cat
    -t sshd / sshd-session) do not count; a real login with a key borgbox does not manage
    is not recorded (keys-used.json keeps managed keys only); real logins still count."""
    version, _, sshd = release()
    name, key, url = c.make_repo()
    fingerprint = expect(200, "GET", f"/repos/{name}/keys")[0]["fingerprint"]
    c.borg(key, "init", "-e", "repokey-blake2", url)

    def used():
        k = expect(200, "GET", f"/repos/{name}/keys")[0]
        return k["last_used_at"] != "", k
    first = wait_for("the first real login in last_used_at", used, 30, interval=1)

    # Forgeries from another local account, in its own unit (as a login session would be).
    c.ct("useradd", "--create-home", "mallory", check_rc=False)
    message = (f"Accepted publickey for borg from 10.9.8.7 port 4242 ssh2: ED25519 "
               f"{fingerprint}")
    # Each logger stays alive a second after sending, so journald still finds its _COMM.
    forge = ("set -e; d=$(mktemp -d); cp /usr/bin/logger $d/sshd; cp /usr/bin/logger $d/sshd-session; "
             f"{{ echo '{message}'; sleep 1; }} | $d/sshd -t sshd; "
             f"{{ echo '{message}'; sleep 1; }} | $d/sshd-session -t sshd; "
             f"echo '{message}' | systemd-cat -t sshd; echo '{message}' | systemd-cat -t sshd-session")
    c.ct("systemd-run", "--quiet", "--wait", "--collect", "--uid=mallory", "--",
         "/bin/sh", "-c", forge)

    def arrived():  # journald takes syslog lines asynchronously
        lines = c.journal("MESSAGE=" + message)
        named = [e for e in lines if e.get("_COMM") in ("sshd", "sshd-session")]
        return len(lines) >= 4 and len(named) >= 2, lines
    lines = wait_for("the four forged lines in the journal", arrived, 10, interval=0.2)
    forged = [e for e in lines if e.get("_COMM") in ("sshd", "sshd-session")]

    # A real login by sshd with a key in authorized_keys that borgbox does not manage.
    foreign, foreign_pub = c.new_key(c.unique("foreign"))
    with open(c.root_path(f"{c.HOME}/.ssh/authorized_keys"), "a") as f:
        f.write(f'command="true",restrict {foreign_pub}\n')
    p = subprocess.run(["ssh", "-p", str(c.SSH_PORT), "-i", foreign, "-o", "IdentitiesOnly=yes",
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "borg@127.0.0.1", "true"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 0, f"login with the foreign key: {p.returncode} {p.stderr}")
    foreign_fp = subprocess.run(["ssh-keygen", "-lf", foreign + ".pub"], capture_output=True,
                                text=True, check=True).stdout.split()[1]

    # Then a real login with the managed key, a second later: once that one shows, every
    # line before it was read.
    time.sleep(1.1)
    c.borg(key, "list", url)

    def newer():
        k = expect(200, "GET", f"/repos/{name}/keys")[0]
        return k["last_used_at"] > first["last_used_at"], k
    k = wait_for("the second real login in last_used_at", newer, 30, interval=1)
    check(k["last_used_from"] == "127.0.0.1", f"a forged line counted: {k}")
    recorded = keys_used()
    check(foreign_fp not in recorded and fingerprint in recorded, f"keys-used.json: {recorded}")
    note(f"Debian {version}, {sshd}: {len(forged)} forged lines ignored, "
         f"foreign key {foreign_fp[:16]}… not recorded")


def case_generated_units_verify_on_this_systemd():
    """The timers borgbox generates (a schedule of each cadence, the alerts timer) and the
    user units they start pass `systemd-analyze verify --user` of this release's systemd,
    silently, as borg's user manager would load them."""
    version, _, _ = release()
    name, _, _ = c.make_repo()
    made = [expect(201, "POST", f"/repos/{name}/schedules", body) for body in (
        {"kind": "check", "cadence": "daily", "hour": 3, "minute": 7},
        {"kind": "check", "cadence": "weekly", "weekday": 0, "hour": 23, "minute": 59},
        {"kind": "compact", "cadence": "monthly", "day": 28, "hour": 0, "minute": 0})]
    alert = expect(201, "POST", f"/repos/{name}/alerts",
                   {"stale_after_hours": 24, "webhook_url": "http://127.0.0.1:9/hook"})
    try:
        uid = c.ct("id", "-u", "borg").stdout.strip()
        units = f"{c.HOME}/.config/systemd/user"
        timers = sorted(f for f in os.listdir(c.root_path(units)) if f.endswith(".timer"))
        check(len(timers) >= 4 and "borgbox-alerts.timer" in timers, f"timers: {timers}")
        files = [f"{units}/{t}" for t in timers] + [
            f"/usr/lib/systemd/user/{u}" for u in ("borgbox-schedule@.service",
                                                   "borgbox-alerts.service")]
        p = c.as_borg(f"cd {units} && HOME={c.HOME} XDG_RUNTIME_DIR=/run/user/{uid} "
                      f"systemd-analyze verify --user --man=no {' '.join(files)}", check_rc=False)
        said = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not said, f"systemd-analyze verify --user (rc={p.returncode}):\n{said}")
        sd = c.ct("systemctl", "--version").stdout.splitlines()[0]
        note(f"Debian {version}, {sd}: {len(timers)} generated timers and 2 user units verify clean")
    finally:
        for s in made:
            expect(204, "DELETE", f"/schedules/{s['id']}")
        expect(204, "DELETE", f"/alerts/{alert['id']}")


def case_borg_exit_codes_mean_the_same_on_this_borg():
    """With this release's borg (1.2.4 or 1.4.0): a check that finds a damaged segment exits
    1 (a warning) and the job is done with exit_code 1; a wrong passphrase exits 2 and the
    job is an error with exit_code 2 (borg 1.4's modern codes would say 52: borgbox pins
    BORG_EXIT_CODES=legacy, src/borg/mod.rs)."""
    _, borg, _ = release()
    name = initialized_repo(c.PASSPHRASE)
    job = expect(202, "POST", f"/repos/{name}/check", {"passphrase": "not-the-passphrase"})
    j = job_final(job["job_id"])
    check(j["status"] == "error" and j["exit_code"] == 2, f"wrong passphrase: {j}")
    data = c.root_path(f"{c.HOME}/repos/{name}/data")
    segments = [os.path.join(d, f) for d, _, fs in os.walk(data) for f in fs]
    biggest = max(segments, key=os.path.getsize)
    with open(biggest, "r+b") as f:
        f.seek(100)
        f.write(b"X" * 16)
    job = expect(202, "POST", f"/repos/{name}/check", {"passphrase": c.PASSPHRASE})
    j = job_final(job["job_id"])
    check(j["status"] == "done" and j["exit_code"] == 1,
          f"check of a damaged segment: {j} {j.get('log_tail', [])[-5:]}")
    note(f"{borg}: damaged segment -> done/1, wrong passphrase -> error/2")


def case_repo_life_on_this_borg():
    """This release's borg writes what borgbox reads: after a client's backups the last
    write and transaction id; a compact and a prune job do not move the last write (the
    own-write record matches borg's transaction numbering); prune leaves the archive
    kept; a stale lock is reported and broken; a later client backup moves the last write."""
    _, borg, _ = release()
    name = initialized_repo(c.PASSPHRASE)
    repo = expect(200, "GET", f"/repos/{name}")
    check(repo["last_write"] and repo["transaction_id"] > 0 and repo["locked"] is False, f"{repo}")
    before = repo["last_write"]
    time.sleep(1.1)
    for kind, body in (("compact", {}), ("prune", {"keep_daily": 1, "passphrase": c.PASSPHRASE})):
        j = job_final(expect(202, "POST", f"/repos/{name}/{kind}", body)["job_id"])
        check(j["status"] == "done" and j["exit_code"] == 0, f"{kind}: {j}")
    after = expect(200, "GET", f"/repos/{name}")
    check(after["last_write"] == before and after["transaction_id"] > repo["transaction_id"],
          f"own jobs moved the last write: {before} -> {after}")
    archives = expect(200, "GET", f"/repos/{name}/archives", headers={"X-Borg-Passphrase": c.PASSPHRASE})
    check([a["name"] for a in archives] == ["a2"], f"after prune --keep-daily 1: {archives}")
    c.as_borg(f"cd {c.HOME}/repos/{name} && mkdir lock.exclusive && "
              ": > lock.exclusive/otherhost@12345.99999-0 && echo '{}' > lock.roster")
    check(expect(200, "GET", f"/repos/{name}")["locked"] is True, "stale lock not reported")
    expect(204, "POST", f"/repos/{name}/break-lock", {})
    check(expect(200, "GET", f"/repos/{name}")["locked"] is False, "lock not broken")
    key = os.path.join(c.WORK, name)
    url = f"ssh://borg@127.0.0.1:{c.SSH_PORT}{c.HOME}/repos/{name}"
    client_borg(key, c.PASSPHRASE, "create", f"{url}::a3", c.sample_file())
    later = expect(200, "GET", f"/repos/{name}")["last_write"]
    check(later > before, f"a client backup did not move the last write: {before} -> {later}")
    note(f"{borg}: last write {before} kept through compact and prune, {later} after a backup; "
         "stale lock broken")


DEBIAN_CASES = [
    ("debian: key use ignores forged sshd lines and keys borgbox does not manage",
     case_key_use_ignores_forged_and_foreign_lines),
    ("debian: generated timers and user units pass this systemd's verify",
     case_generated_units_verify_on_this_systemd),
    ("debian: last write, compact, prune, archives and break-lock with this release's borg",
     case_repo_life_on_this_borg),
    ("debian: borg's exit codes mean the same on this release's borg",
     case_borg_exit_codes_mean_the_same_on_this_borg),
]
