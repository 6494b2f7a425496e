#!/usr/bin/env python3
"""Schedules' timers and key use through the systemd backend, measured from outside.

Run against the packaged borgbox in the nspawn harness (`tests/system/run shell`):
  bench/system/capacity.py URL TOKEN REPO EXEC...
REPO is an existing repo; EXEC the prefix that runs a command in the container (e.g.
`tests/system/boot-systemd.sh exec`). Prints numbers; asserts nothing.

- POST /repos/REPO/schedules -> its timer loaded and active: the journal's timestamp of
  borg's user manager's "Started borgbox-schedule@<id>.timer" minus the time the POST was
  sent (the API answers only after reconcile, so the answer's latency is shown too).
- GET /repos/REPO/keys with 1,000,000 of sshd's lines in the journal (BENCH_SSHD_LINES),
  99 % failed logins: the first call, the time until the background first read of sshd's
  log shows the key's last login, serve's peak RSS and the service cgroup's memory.peak
  (issue 17.2: at most 64 MiB), then warm calls (at most one incremental read every 2 s)
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
for i in range(0 if __import__("os").environ.get("BENCH_ONLY_KEYS") else 20):
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
if loaded:
    print(f"POST schedule -> timer loaded and active ({len(loaded)} runs): "
        f"p50 {ms(statistics.median(loaded))}, p90 {ms(pct(loaded, 0.9))}; "
        f"the answer itself p50 {ms(statistics.median(answered))}")

# sshd's log on an internet-facing host (issue 17.2): LINES lines in ssh.service as root
# with _COMM=sshd (a logger named sshd moved into ssh.service's cgroup, which only root can
# do: what borgbox trusts, API.md 16.3), 99 % failed logins, 1 % logins with REPO's key.
LINES = int(__import__("os").environ.get("BENCH_SSHD_LINES", "1000000"))
fp = request("GET", f"/repos/{repo}/keys")[3][0]["fingerprint"]
gen = f"""import sys
w = sys.stdout.write
for i in range({LINES}):
    if i % 100 == 99:
        w("Accepted publickey for borg from 192.0.2.%d port 50000 ssh2: ED25519 {fp}\\n" % (i % 250 + 1))
    else:
        w("Failed password for invalid user admin%d from 203.0.113.%d port %d ssh2\\n" % (i, i % 250 + 1, 1024 + i % 60000))
"""
subprocess.run(EXEC + ["sh", "-c", "cp /usr/bin/logger /tmp/sshd && cat > /tmp/gen.py"], input=gen,
               text=True, check=True)
t = time.time()
have = int(run("sh", "-c", "journalctl _UID=0 _SYSTEMD_UNIT=ssh.service _COMM=sshd -o cat | wc -l").strip() or 0)
if have < LINES:  # a second run in the same container reuses the lines
    run("sh", "-c", "echo $$ > /sys/fs/cgroup/system.slice/ssh.service/cgroup.procs && "
        "python3 /tmp/gen.py | /tmp/sshd -t sshd")
count = 0
for _ in range(600):  # journald may still be writing what logger sent
    count = int(run("sh", "-c", "journalctl _UID=0 _SYSTEMD_UNIT=ssh.service _COMM=sshd -o cat "
                    "| wc -l").strip() or 0)
    if count >= LINES:
        break
    time.sleep(1)
print(f"{count} lines of sshd in ssh.service in the journal ({time.time() - t:.0f} s to write)")
state = "/var/lib/borg/.local/state/borgbox/keys-used.json"
run("rm", "-f", state)
run("systemctl", "stop", "borgbox.service")
_, first, _, keys = request("GET", f"/repos/{repo}/keys")
k = [x for x in keys if x["fingerprint"] == fp][0]
print(f"first GET /repos/{repo}/keys: {ms(first)} (last_used_at {k['last_used_at'] or '-'}; "
      "the first read of sshd's log runs in the background)")
t = time.time()
while True:
    k = [x for x in request("GET", f"/repos/{repo}/keys")[3] if x["fingerprint"] == fp][0]
    if k["last_used_at"]:
        break
    time.sleep(0.2)
read_s = time.time() - t
pid = run("systemctl", "show", "-P", "MainPID", "borgbox.service").strip()
status = dict(l.split(":", 1) for l in run("cat", f"/proc/{pid}/status").splitlines() if ":" in l)
cg = run("systemctl", "show", "-P", "ControlGroup", "borgbox.service").strip()
peak = run("cat", f"/sys/fs/cgroup{cg}/memory.peak").strip()
print(f"first read of {count} lines: last_used_at {k['last_used_at']} from {k['last_used_from']} "
      f"after {read_s:.1f} s; serve's peak RSS (VmHWM) {status['VmHWM'].strip()}")
print("borgbox.service cgroup memory.peak (serve + journalctl): " +
      (f"{int(peak) / 2**20:.1f} MiB" if peak.isdigit() else
       "not available (no memory controller in this container's cgroup tree)"))
# What the reader before issue 17.2 held in memory at once: all of journalctl's output
# (then a lossy copy of it, then every entry parsed).
out_bytes = run("sh", "-c", "journalctl --no-pager --quiet --output=json --output-fields=MESSAGE "
                "_COMM=sshd | wc -c").strip()
print(f"for comparison: journalctl's JSON for those lines is {int(out_bytes) / 2**20:.0f} MiB, which "
      "the former reader buffered whole (then copied and parsed into entries)")
used = run("cat", state)
print(f"keys-used.json: {len(json.loads(used)['keys'])} keys, {len(used)} bytes")
warm = [request("GET", f"/repos/{repo}/keys")[1] for _ in range(200)]
incremental = []
for _ in range(10):
    time.sleep(2.1)
    incremental.append(request("GET", f"/repos/{repo}/keys")[1])
print(f"then GET /repos/{repo}/keys p50 {ms(statistics.median(warm))}, p90 {ms(pct(warm, 0.9))} "
      f"(200 calls); each with an incremental read: p50 {ms(statistics.median(incremental))}")
