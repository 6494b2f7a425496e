#!/usr/bin/env python3
"""Job latencies through the systemd backend, measured from outside the API.

Run against a borgbox whose jobs are transient units (e.g. in the nspawn harness):
  bench/system/jobs.py URL TOKEN REPO PASSPHRASE EXEC...
EXEC is the prefix that runs a command where borgbox runs (e.g.
`tests/system/boot-systemd.sh exec`). Prints numbers; asserts nothing.
With SLOW_REPO=<repo> (one whose `check --verify-data` takes seconds) it also measures
20 stream subscribers on one job (API_UNIT names the API's unit, default borgbox.service).

- POST check -> the job's unit is active: the journal's timestamp of systemd's
  "Started borgbox-job-<id>.service" minus the time the POST was sent.
- a line printed by borg -> an SSE client: the client's receive time minus the line's
  _SOURCE_REALTIME_TIMESTAMP (when exec-job handed it to journald), for LIVE lines only.
  The stream first replays the job's log tail, then sends new lines as they come; replayed
  lines waited for the subscriber, not for borgbox, so they are not latency. The server
  attaches the subscriber (and takes the tail to replay) before it sends the response
  headers, so a line whose source timestamp is later than the client's receipt of those
  headers cannot be in the replay: only those lines are counted. Lines produced in the
  moment between attaching and the headers' arrival are left out, never miscounted; the
  output names how many replayed or unattributable lines were skipped.
"""
import collections, http.client, json, statistics, subprocess, sys, time, urllib.parse

import os, threading

url, token, repo, passphrase, *EXEC = sys.argv[1:]
u = urllib.parse.urlparse(url)
H = {"Authorization": f"Bearer {token}"}

def request(method, path, body=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None, headers=H)
    return c, c.getresponse()

def journal(*match):
    out = subprocess.run(EXEC + ["journalctl", "-o", "json", "--no-pager", *match], capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]

start_ms, line_ms = [], []
not_live = 0
for run in range(int(os.environ.get("RUNS", "15"))):
    sent = time.time()
    c, r = request("POST", f"/repos/{repo}/check", {"passphrase": passphrase})
    job = json.loads(r.read())["job_id"]
    c, r = request("GET", f"/jobs/{job}/stream")
    # request() returns once the status line and headers are in: the subscriber is attached.
    attached = time.time()
    received = []
    event = None
    while True:
        raw = r.fp.readline()
        if not raw:
            break
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "log":
            received.append((time.time(), json.loads(line[6:])["line"]))
    time.sleep(0.5)
    entries = journal(f"BORGBOX_JOB_ID={job}")
    # The stream and the journal carry borg's lines in the same order: pair equal messages
    # first to first, so a repeated line is not timed against its first occurrence.
    by_message = collections.defaultdict(collections.deque)
    for e in entries:
        if e.get("TARGET") == "borg":
            by_message[e["MESSAGE"]].append(int(e["_SOURCE_REALTIME_TIMESTAMP"]) / 1e6)
    for t, msg in received:
        queue = by_message.get(msg)
        src = queue.popleft() if queue else None
        if src is not None and src > attached:
            line_ms.append((t - src) * 1000)
        else:
            not_live += 1
    started = [e for e in journal("--user-unit", f"borgbox-job-{job}.service") + journal(f"UNIT=borgbox-job-{job}.service") + journal(f"USER_UNIT=borgbox-job-{job}.service")
               if e.get("MESSAGE", "").startswith("Started borgbox-job-")]
    if started:
        start_ms.append((int(started[0]["__REALTIME_TIMESTAMP"]) / 1e6 - sent) * 1000)

def show(name, xs):
    if xs:
        xs = sorted(xs)
        print(f"{name}: p50 {statistics.median(xs):.1f} ms  p90 {xs[int(len(xs) * 0.9)]:.1f} ms  (n={len(xs)})")
    else:
        print(f"{name}: no samples")

show("POST check -> unit active", start_ms)
show("borg line -> SSE client, live lines only", line_ms)
print(f"  ({not_live} replayed or unmatched lines not counted)")

# 20 subscribers on one running job: the API process's RSS before and with them.
def rss_kib():
    unit = os.environ.get("API_UNIT", "borgbox.service")
    pid = subprocess.run(EXEC + ["systemctl", "show", "-P", "MainPID", unit], capture_output=True, text=True).stdout.strip()
    status = subprocess.run(EXEC + ["cat", f"/proc/{pid}/status"], capture_output=True, text=True).stdout
    return int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmRSS:")))

if os.environ.get("SLOW_REPO"):
    before = rss_kib()
    c, r = request("POST", f"/repos/{os.environ['SLOW_REPO']}/check", {"passphrase": passphrase, "verify_data": True})
    job = json.loads(r.read())["job_id"]
    streams = [request("GET", f"/jobs/{job}/stream") for _ in range(20)]
    time.sleep(2)
    during = rss_kib()
    for c, r in streams:
        threading.Thread(target=r.read, daemon=True).start()
    print(f"20 subscribers on one job: RSS {before / 1024:.1f} MiB before, {during / 1024:.1f} MiB with them (+{(during - before) / 1024:.2f} MiB)")
    request("DELETE", f"/jobs/{job}")
