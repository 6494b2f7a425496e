"""System cases for capacity and key use (issue 10) under a real systemd and sshd: a key's
last login read from sshd's journal lines, and a quota enforced by the forced command
over ssh. Run by cases.py with its helpers."""

import calendar
import time

import cases as c
from cases import check, expect, note, wait_for


def case_key_use_comes_from_sshds_journal():
    """A real ssh login with a registered key shows in last_used_at / last_used_from and in
    borgbox_key_last_used_timestamp_seconds."""
    name, key, url = c.make_repo()
    keys = expect(200, "GET", f"/repos/{name}/keys")
    check(keys[0]["last_used_at"] == "" and keys[0]["last_used_from"] == "", f"{keys}")
    before = int(time.time()) - 1
    c.borg(key, "init", "-e", "repokey-blake2", url)

    def used():
        k = expect(200, "GET", f"/repos/{name}/keys")[0]
        return k["last_used_at"] != "", k
    k = wait_for("the login in last_used_at", used, 30, interval=1)
    at = calendar.timegm(time.strptime(k["last_used_at"], "%Y-%m-%dT%H:%M:%SZ"))
    check(before <= at <= time.time() + 1, f"last_used_at {k['last_used_at']}")
    check(k["last_used_from"] == "127.0.0.1", f"{k}")
    _, text, _ = c.api("GET", "/metrics")
    series = f'borgbox_key_last_used_timestamp_seconds{{repo="{name}",fingerprint="{k["fingerprint"]}"}} {at}'
    check(series in text, f"no {series!r} in the metrics")
    note(f"last used {k['last_used_at']} from {k['last_used_from']}, also in the metrics")


def case_quota_is_enforced_over_ssh():
    """A quota set through PATCH is what the forced command enforces for a real client."""
    name, key, url = c.make_repo()
    c.borg(key, "init", "-e", "repokey-blake2", url)
    repo = expect(200, "PATCH", f"/repos/{name}", {"storage_quota_bytes": 10_000_000})
    check(repo["storage_quota_bytes"] == 10_000_000 and repo["quota_source"] == "borgbox", f"{repo}")
    big = f"{c.WORK}/quota-big"
    with open(big, "wb") as f:
        f.write(__import__("os").urandom(12_000_000))
    over = c.borg(key, "create", f"{url}::big", big, check_rc=False)
    check(over.returncode != 0 and "storage quota" in over.stderr, f"{over.returncode} {over.stderr}")
    small = f"{c.WORK}/quota-small"
    with open(small, "wb") as f:
        f.write(__import__("os").urandom(1_000_000))
    c.borg(key, "create", f"{url}::small", small)
    used = expect(200, "GET", f"/repos/{name}")["quota_used_bytes"]
    check(1_000_000 <= used < 10_000_000, f"quota_used_bytes {used}")
    note(f"12 MB refused by a 10 MB quota over ssh; 1 MB fits ({used} bytes used)")


CAPACITY_CASES = [
    ("capacity: a key's last login from sshd's journal, in keys and metrics",
     case_key_use_comes_from_sshds_journal),
    ("capacity: a quota set through PATCH is enforced over ssh", case_quota_is_enforced_over_ssh),
]
