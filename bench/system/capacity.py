#!/usr/bin/env python3
"""Schedules' timers and key use through the systemd backend, measured from outside.

Run against the packaged borgbox in the nspawn harness (`tests/system/run shell`):
  bench/system/capacity.py URL TOKEN REPO EXEC...
REPO is an existing repo; EXEC the prefix that runs a command in the container (e.g.
`tests/system/boot-systemd.sh exec`). Prints numbers; asserts nothing.

- POST /repos/REPO/schedules -> its timer loaded and active: the journal's timestamp of
  borg's user manager's "Started borgbox-schedule@<id>.timer" minus the time the POST was
  sent (the API answers only after reconcile, so the answer's latency is shown too).
- GET /repos/REPO/keys with 100,000 sshd login lines in the journal: the first call (a
  full read of sshd's entries), then warm calls (at most one incremental read every 2 s),
  and calls that each do an incremental read (2.1 s apart).
"""
import http.client, json, statistics, subprocess, sys, time, urllib.parse

url, token, repo, *EXEC = sys.argv[1:]
u = urllib.parse.urlparse(url)
H = {"Authorization": f"Bearer {token}"}


def request(method, path, body=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    started = time.time()
    c.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse()
    payload = r.read()
    c.close()
    return started, time.time() - started, r.status, json.loads(payload) if payload else None


def run(*argv):
    return subprocess.run(EXEC + list(argv), capture_output=True, text=True).stdout


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round((len(xs) - 1) * p))]


def ms(x):
    return f"{x * 1000:.1f} ms"


uid = run("id", "-u", "borg").strip()
loaded, answered = [], []
for i in range(20):
    sent, took, status, s = request("POST", f"/repos/{repo}/schedules",
                                    {"kind": "check", "cadence": "daily", "hour": (i % 23) + 1, "minute": 7})
    assert status == 201, (status, s)
    answered.append(took)
    timer = f"borgbox-schedule@{s['id']}.timer"
    for _ in range(100):
        entries = [json.loads(l) for l in run("journalctl", "-o", "json", "--no-pager", f"_UID={uid}",
                                              f"UNIT={timer}", "+", f"USER_UNIT={timer}").splitlines() if l]
        started = [e for e in entries if e.get("MESSAGE", "").startswith("Started ")]
        if started:
            loaded.append(int(started[0]["__REALTIME_TIMESTAMP"]) / 1e6 - sent)
            break
        time.sleep(0.05)
    request("DELETE", f"/schedules/{s['id']}")
print(f"POST schedule -> timer loaded and active ({len(loaded)} runs): "
      f"p50 {ms(statistics.median(loaded))}, p90 {ms(pct(loaded, 0.9))}; "
      f"the answer itself p50 {ms(statistics.median(answered))}")

# 100,000 login lines from a process whose name is sshd (journald sets _COMM itself).
fp = request("GET", f"/repos/{repo}/keys")[3][0]["fingerprint"]
run("sh", "-c", "mkdir -p /etc/systemd/journald.conf.d && printf '[Journal]\\nRateLimitBurst=0\\n' "
    "> /etc/systemd/journald.conf.d/bench.conf && systemctl restart systemd-journald && cp /usr/bin/logger /tmp/sshd")
run("sh", "-c", f"yes 'Accepted publickey for borg from 192.0.2.7 port 50000 ssh2: ED25519 {fp}' "
    f"| head -n 100000 | /tmp/sshd -t sshd")
count = run("sh", "-c", "journalctl _COMM=sshd -o cat | wc -l").strip()
state = "/var/lib/borg/.local/state/borgbox/keys-used.json"
run("rm", "-f", state)
run("systemctl", "stop", "borgbox.service")
_, first, _, keys = request("GET", f"/repos/{repo}/keys")
k = [x for x in keys if x["fingerprint"] == fp][0]
warm = [request("GET", f"/repos/{repo}/keys")[1] for _ in range(200)]
incremental = []
for _ in range(10):
    time.sleep(2.1)
    incremental.append(request("GET", f"/repos/{repo}/keys")[1])
print(f"GET /repos/{repo}/keys with {count} sshd lines in the journal: first call {ms(first)} "
      f"(last_used_at {k['last_used_at']} from {k['last_used_from']}); "
      f"then p50 {ms(statistics.median(warm))}, p90 {ms(pct(warm, 0.9))} (200 calls); "
      f"each with an incremental read: p50 {ms(statistics.median(incremental))}")
