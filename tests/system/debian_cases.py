"""System cases for issue 18 (Debian 12 and 13 alike) and issue 17.8 (trusted key use):
run by cases.py with its helpers, on each release tests/system/run boots."""

import json
import subprocess
import time

import cases as c
from cases import check, expect, note, wait_for

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
    forge = ("set -e; d=$(mktemp -d); cp /usr/bin/logger $d/sshd; cp /usr/bin/logger $d/sshd-session; "
             f"$d/sshd -t sshd '{message}'; $d/sshd-session -t sshd '{message}'; "
             f"echo '{message}' | systemd-cat -t sshd; echo '{message}' | systemd-cat -t sshd-session")
    c.ct("systemd-run", "--quiet", "--wait", "--collect", "--uid=mallory", "--",
         "/bin/sh", "-c", forge)
    forged = [e for e in c.journal("MESSAGE=" + message) if e.get("_COMM") in ("sshd", "sshd-session")]
    check(len(forged) >= 2, f"the forgeries did not reach the journal as sshd: {forged}")

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


DEBIAN_CASES = [
    ("debian: key use ignores forged sshd lines and keys borgbox does not manage",
     case_key_use_ignores_forged_and_foreign_lines),
]
