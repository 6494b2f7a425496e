#!/usr/bin/python3
"""A stand-in for borg (BORGBOX_BORG) that tries, from inside a job, everything a borg
compromised by a hostile repository would try, and records what happened as JSON in
`<repo>/sandbox-probe.json` (the repo is the last argument, as for every job). It always
exits 0: the test reads the record, not the exit code. tests/system/sandbox_cases.py runs
it as a job (every attempt but the repo write must fail) and, as a control, as plain borg
outside any unit (every attempt must succeed, so a failure in the job means something).

Paths come from the environment a job gets (Settings::child_env); only the stdlib."""

import ctypes
import json
import os
import pwd
import socket
import sys


def attempt(what):
    try:
        detail = what()
        return {"ok": True, "detail": detail or ""}
    except Exception as e:  # every failure is a result, never a crash
        return {"ok": False, "detail": f"{type(e).__name__}: {e}"}


def append(path):
    def go():
        with open(path, "a") as f:
            f.write("")
        return path
    return go


def create_and_remove(path):
    def go():
        with open(path, "x") as f:
            f.write("sandbox probe\n")
        os.unlink(path)
        return path
    return go


def read(path):
    def go():
        with open(path, "rb") as f:
            return f"{len(f.read())} bytes"
    return go


def tcp(host, port):
    def go():
        with socket.create_connection((host, port), timeout=3):
            return f"connected to {host}:{port}"
    return go


def unix(path):
    def go():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(3)
            s.connect(path)
        finally:
            s.close()
        return f"connected to {path}"
    return go


def syscall_unshare():
    # unshare(CLONE_NEWUSER): refused by RestrictNamespaces= (a seccomp rule).
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return "new user namespace"


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "prune", "compact"):
        # Not a job (serve asking `borg --version`, listing archives): the real borg.
        os.execv("/usr/bin/borg", ["borg", *sys.argv[1:]])
    repo = sys.argv[-1]
    env = os.environ
    state = env["BORGBOX_STATE_DIR"]
    root = env["BORGBOX_REPO_ROOT"]
    uid = os.getuid()
    home = pwd.getpwuid(uid).pw_dir
    siblings = sorted(d for d in os.listdir(root) if os.path.join(root, d) != repo)

    def other_repo():
        if not siblings:
            raise RuntimeError("no other repo to try")
        return create_and_remove(os.path.join(root, siblings[0], "sandbox-probe.tmp"))()
    results = {
        "repo write": attempt(create_and_remove(os.path.join(repo, "sandbox-probe.tmp"))),
        "borg base dir write": attempt(
            create_and_remove(os.path.join(state, "borg", "sandbox-probe.tmp"))),
        "authorized_keys append": attempt(append(env["BORGBOX_AUTH_KEYS"])),
        "token read": attempt(read("/etc/borgbox/token")),
        "settings read": attempt(read("/etc/borgbox/borgbox.env")),
        "tcp 127.0.0.1 sshd": attempt(tcp("127.0.0.1", int(env["BORGBOX_SSH_PORT"]))),
        "user bus connect": attempt(unix(f"/run/user/{uid}/bus")),
        "system bus connect": attempt(unix("/run/dbus/system_bus_socket")),
        "state dir write": attempt(create_and_remove(os.path.join(state, "sandbox-probe.tmp"))),
        "schedules dir write": attempt(create_and_remove(
            os.path.join(os.path.dirname(env["BORGBOX_SCHEDULES"]), "sandbox-probe.tmp"))),
        "user unit dir write": attempt(create_and_remove(
            os.path.join(home, ".config", "systemd", "user", "sandbox-probe.service"))),
        "repo root write": attempt(create_and_remove(os.path.join(root, "sandbox-probe.tmp"))),
        "other repo write": attempt(other_repo),
        "new user namespace": attempt(syscall_unshare),
        # Kept by the probe in /tmp; the test looks for it outside the job afterwards.
        "tmp write": attempt(lambda: open(f"/tmp/sandbox-probe-{os.getpid()}", "w").close()
                             or f"/tmp/sandbox-probe-{os.getpid()}"),
    }
    with open("/proc/self/status") as f:
        status = {k: v.strip() for k, v in (line.split(":", 1) for line in f) if k in (
            "NoNewPrivs", "Seccomp", "CapEff")}
    record = {"argv": sys.argv[1:], "pid": os.getpid(), "status": status, "results": results}
    for what, r in results.items():
        print(f"sandbox probe: {what}: {'ALLOWED' if r['ok'] else 'refused'} ({r['detail']})")
    with open(os.path.join(repo, "sandbox-probe.json"), "w") as f:
        json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
