#!/usr/bin/env python3
"""One behaviour suite for both job backends (DESIGN.md "Two backends behind one seam"):
the same cases run against the process backend (from `cargo test`, tests/integration/
behaviour.rs, through ProcessTarget below) and against the systemd backend in the booted
container (tests/system/cases.py, through its SystemdTarget). A case talks to the API
only through its target, and holds borg at a known point by stopping the real process
with SIGSTOP (found in the host's /proc, which also sees the container's processes).

Usage: job_suite.py process <path of the borgbox binary>   (the process backend, in a temp dir)
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

FINAL = ("done", "error", "cancelled")


class Fail(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Fail(message)


def wait_for(what, probe, timeout, interval=0.05):
    """Polls probe() until it returns (ok, state) with ok true; fails naming the last state."""
    deadline = time.monotonic() + timeout
    while True:
        ok, state = probe()
        if ok:
            return state
        if time.monotonic() > deadline:
            raise Fail(f"{what} not reached after {timeout}s; last: {state}")
        time.sleep(interval)


# ---------------------------------------------------------------- holding borg


def borg_pids(repo_path, kind):
    """Pids of borg processes running `kind` on `repo_path` (argv as borg sees it)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if kind.encode() in args and repo_path.encode() in args and any(
                a.endswith(b"borg") for a in args):
            found.append(int(pid))
    return found


def catches_sigint(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            mask = next((line.split()[1] for line in f if line.startswith("SigCgt:")), "0")
    except OSError:
        return False
    return bool(int(mask, 16) & 0b10)


class Held:
    """A job's real borg, stopped with SIGSTOP until resume(). Only once borg catches
    SIGINT: before that, a default-action SIGINT kills even a stopped process."""

    def __init__(self, repo_path, kind):
        pids = wait_for(f"borg {kind} on {repo_path}",
                        lambda: (lambda p: (bool(p), p))(borg_pids(repo_path, kind)), 30, 0.01)
        self.pid = pids[0]
        wait_for(f"borg {self.pid} catching SIGINT", lambda: (catches_sigint(self.pid), None),
                 30, 0.01)
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        try:
            os.kill(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------- what a case needs


def expect(t, status, method, path, body=None, headers=None):
    got, payload = t.api(method, path, body, headers)
    check(got == status, f"{method} {path}: expected {status}, got {got}: {payload}")
    return payload


def start(t, name, kind, body):
    job = expect(t, 202, "POST", f"/repos/{name}/{kind}", body)
    check(job["status"] in ("queued", "running") and job["job_id"].startswith("j_"), f"{job}")
    return job["job_id"]


def final(t, job_id, timeout=120):
    def probe():
        j = expect(t, 200, "GET", f"/jobs/{job_id}")
        return j["status"] in FINAL, j
    return wait_for(f"job {job_id} final", probe, timeout, interval=0.1)


def read_stream(t, job_id, on_open=None, timeout=120):
    """(time, event, data) of a job stream read until the server closes it."""
    host, port, token = t.endpoint()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.request("GET", f"/api/v1/jobs/{job_id}/stream",
                 headers={"Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    check(r.status == 200 and r.getheader("Content-Type") == "text/event-stream",
          f"stream: {r.status} {r.getheader('Content-Type')}")
    if on_open:
        on_open()
    events, event = [], None
    while True:
        raw = r.readline()
        if not raw:
            break
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            events.append((time.monotonic(), event, json.loads(line[6:])))
    conn.close()
    return events


# ---------------------------------------------------------------- the cases


def case_every_kind_runs_real_borg_to_done(t):
    """check, prune (dry run and real) and compact run real borg and end done, exit 0,
    with borg's lines in log_tail."""
    name = t.initialized_repo()
    runs = [("check", {"passphrase": t.passphrase}, "repository check"),
            ("prune", {"passphrase": t.passphrase, "keep_daily": 1, "dry_run": True}, "Would prune"),
            ("prune", {"passphrase": t.passphrase, "keep_daily": 1}, "Pruning archive"),
            ("compact", {}, "compaction")]
    for kind, body, line in runs:
        j = final(t, start(t, name, kind, body))
        check(j["status"] == "done" and j["exit_code"] == 0, f"{kind}: {j}")
        check(j["kind"] == kind and j["dry_run"] == bool(body.get("dry_run")), f"{j}")
        check(any(line.lower() in x.lower() for x in j["log_tail"]),
              f"{kind}: no {line!r} in {j['log_tail']}")


def case_failures_are_errors_with_borgs_exit_code(t):
    """A wrong passphrase ends the job as error with borg's exit code; a repo that is not
    initialized or does not exist is refused before any job starts."""
    name = t.initialized_repo()
    j = final(t, start(t, name, "check", {"passphrase": "not the passphrase"}))
    check(j["status"] == "error" and j["exit_code"] == 2 and j["finished_at"], f"{j}")
    expect(t, 404, "POST", "/repos/nonexistent-repo/check", {})
    bare = t.registered_repo()
    got = expect(t, 409, "POST", f"/repos/{bare}/check", {})
    check(got == {"error": "repo is not initialized"}, f"{got}")


def case_one_job_per_repo_and_cancel(t):
    """A second job on a busy repo is 409 naming the running one; DELETE cancels it (SIGINT
    reaches borg, status cancelled), a second DELETE is 409, and the repo takes the next
    job."""
    name = t.initialized_repo()
    job_id = start(t, name, "check", {"passphrase": t.passphrase})
    held = Held(t.repo_path(name), "check")
    try:
        busy = expect(t, 409, "POST", f"/repos/{name}/compact", {})
        check(job_id in busy["error"], f"{busy}")
        j = expect(t, 202, "DELETE", f"/jobs/{job_id}")
        check(j["id"] == job_id and j["status"] in ("running", "cancelled"), f"{j}")
    finally:
        held.resume()
    j = final(t, job_id)
    check(j["status"] == "cancelled", f"{j}")
    check(any("cancel" in line for line in j["log_tail"]), f"{j['log_tail']}")
    expect(t, 409, "DELETE", f"/jobs/{job_id}")
    nxt = final(t, start(t, name, "compact", {}))
    check(nxt["status"] == "done", f"the next job: {nxt}")


def case_stream_replays_then_follows_then_ends_and_closes(t):
    """SSE: the lines so far, then each new line live, then status and end, then the
    server closes; what streamed is exactly log_tail."""
    name = t.initialized_repo()
    job_id = start(t, name, "check", {"passphrase": t.passphrase})
    held = Held(t.repo_path(name), "check")
    resumed = []

    def resume_later():
        time.sleep(0.5)
        resumed.append(time.monotonic())
        held.resume()

    try:
        events = read_stream(t, job_id, on_open=resume_later)
    finally:
        held.resume()
    kinds = [e for _, e, _ in events]
    check(kinds[-2:] == ["status", "end"] and all(k == "log" for k in kinds[:-2]), f"{kinds}")
    check(all(d["type"] == e for _, e, d in events), "event names and types differ")
    live = [d["line"] for at, e, d in events if e == "log" and at > resumed[0]]
    check(live, f"no line arrived after borg resumed: {events}")
    check(events[-1][2] == {"type": "end", "line": "", "status": "done", "exit_code": 0},
          f"end: {events[-1][2]}")
    lines = [d["line"] for _, e, d in events if e == "log"]
    check(lines == expect(t, 200, "GET", f"/jobs/{job_id}")["log_tail"],
          "the stream and log_tail differ")
    again = read_stream(t, job_id)
    check([e for _, e, _ in again][-2:] == ["status", "end"], "a finished job's stream")


def case_records_and_logs_survive_the_api_process(t):
    """A finished job's record and log are the same after the API process is replaced."""
    name = t.initialized_repo()
    j = final(t, start(t, name, "check", {"passphrase": t.passphrase}))
    t.restart_api()
    again = expect(t, 200, "GET", f"/jobs/{j['id']}")
    check(again == j, f"before {j}\nafter {again}")
    check(any(x["id"] == j["id"] for x in expect(t, 200, "GET", "/jobs")), "not listed")


# Each on its own repo, so they run side by side.
CASES = [
    ("every kind runs real borg to done", case_every_kind_runs_real_borg_to_done),
    ("failures are errors with borg's exit code", case_failures_are_errors_with_borgs_exit_code),
    ("one job per repo; cancel stops borg", case_one_job_per_repo_and_cancel),
    ("streams replay, follow live, end and close",
     case_stream_replays_then_follows_then_ends_and_closes),
]
# Replaces the API process: alone, after the others.
ALONE = [
    ("records and logs survive the API process", case_records_and_logs_survive_the_api_process),
]


def outcome(target, name, fn, prefix):
    started = time.monotonic()
    try:
        fn(target)
    except Exception as e:
        detail = str(e) if isinstance(e, Fail) else traceback.format_exc()
        return False, f"FAIL - {prefix}{name} ({time.monotonic() - started:.1f}s)\n       {detail}"
    return True, f"ok   - {prefix}{name} ({time.monotonic() - started:.1f}s)"


def run(target, prefix=""):
    """Runs the suite against `target`; prints a line per case; returns (passed, failed)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=len(CASES)) as pool:
        results = list(pool.map(lambda case: outcome(target, *case, prefix), CASES))
    results += [outcome(target, *case, prefix) for case in ALONE]
    for _, line in results:
        print(line, flush=True)
    passed = sum(ok for ok, _ in results)
    return passed, len(results) - passed


# ---------------------------------------------------------------- the process backend


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ProcessTarget:
    """`borgbox serve` with the process backend in a temp dir; repos made by local borg."""

    token = "behaviour-suite-token-0123456789abcdef01"
    passphrase = "behaviour suite passphrase"

    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="borgbox-behaviour-")
        self.port = free_port()
        self.seq = 0
        self.lock = threading.Lock()
        self.serve = None
        self.start_api()

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BORG", "BORGBOX"))}
        env.update({
            "BORGBOX_TOKEN": self.token,
            "BORGBOX_ADDR": f"127.0.0.1:{self.port}",
            "BORGBOX_BACKEND": "process",
            "BORGBOX_REPO_ROOT": os.path.join(self.dir, "repos"),
            "BORGBOX_AUTH_KEYS": os.path.join(self.dir, "ssh", "authorized_keys"),
            "BORGBOX_STATE_DIR": os.path.join(self.dir, "state"),
            "BORGBOX_SCHEDULES": os.path.join(self.dir, "schedules.json"),
            "BORGBOX_ALERTS": os.path.join(self.dir, "alerts.json"),
        })
        return env

    def start_api(self):
        self.serve = subprocess.Popen([self.binary, "serve"], env=self.env(),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("serve listening", lambda: (self._answers(), None), 20, 0.05)

    def _answers(self):
        try:
            return self.api("GET", "/health")[0] == 200
        except OSError:
            return False

    def restart_api(self):
        self.serve.send_signal(signal.SIGTERM)
        self.serve.wait(timeout=60)
        self.start_api()

    def close(self):
        if self.serve and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            self.serve.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def endpoint(self):
        return "127.0.0.1", self.port, self.token

    def api(self, method, path, body=None, headers=None):
        h = {"Authorization": f"Bearer {self.token}", "Connection": "close", **(headers or {})}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, "/api/v1" + path,
                         body=json.dumps(body) if body is not None else None, headers=h)
            r = conn.getresponse()
            raw = r.read().decode()
        finally:
            conn.close()
        return r.status, (json.loads(raw) if raw else None)

    def repo_path(self, name):
        return os.path.join(self.dir, "repos", name)

    def registered_repo(self):
        with self.lock:
            self.seq += 1
            name = f"b{os.getpid()}x{self.seq}"
        key = os.path.join(self.dir, f"key-{name}")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        with open(key + ".pub") as f:
            expect(self, 201, "POST", "/repos", {"name": name, "pubkey": f.read().strip()})
        return name

    def initialized_repo(self):
        name = self.registered_repo()
        env = dict(os.environ, BORG_PASSPHRASE=self.passphrase,
                   BORG_BASE_DIR=os.path.join(self.dir, "client", name))
        sample = os.path.join(self.dir, f"sample-{name}.txt")
        with open(sample, "w") as f:
            f.write("behaviour suite\n" * 1000)
        path = self.repo_path(name)
        for args in (["init", "-e", "repokey-blake2", path],
                     ["create", f"{path}::a1", sample], ["create", f"{path}::a2", sample]):
            subprocess.run(["borg", *args], env=env, check=True, capture_output=True)
        return name


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "process":
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    target = ProcessTarget(sys.argv[2])
    try:
        passed, failed = run(target, prefix="process backend: ")
    finally:
        target.close()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
