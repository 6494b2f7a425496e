"""System cases for the job sandbox (issue 17.1), run by cases.py with the same container
and helpers: what a job's unit may do in borg's real user manager. The forbidden things
are tried by tests/system/sandbox_probe.py standing in for borg (BORGBOX_BORG); the same
probe run as plain borg outside any unit must succeed at each of them, so a refusal inside
the job is the sandbox's doing and not a broken probe."""

import json
import os
import shutil

import cases as c
from cases import check, ct, expect, note, wait_for
from jobs_cases import Held, initialized_repo, job_final, start, user_systemctl

PROBE = "/usr/local/lib/borgbox-test/sandbox-probe"
# What the job must be allowed; everything else the probe tries must be refused.
ALLOWED_IN_JOB = {"repo write", "borg base dir write", "tmp write"}
# Properties of the job unit that make the sandbox, compared across a manager Reload.
SANDBOX_PROPS = ("PrivateUsers", "ProtectSystem", "ProtectHome", "ReadWritePaths",
                 "TemporaryFileSystem", "BindPaths", "InaccessiblePaths", "PrivateTmp",
                 "PrivateNetwork", "RestrictAddressFamilies", "RestrictNamespaces",
                 "SystemCallFilter", "NoNewPrivileges", "MemoryMax", "TasksMax")


def uid():
    return ct("id", "-u", "borg").stdout.strip()


def probe_env():
    """The settings a job gets (Settings::child_env), as the packaged defaults give them."""
    return {"BORGBOX_STATE_DIR": f"{c.HOME}/.local/state/borgbox",
            "BORGBOX_REPO_ROOT": f"{c.HOME}/repos",
            "BORGBOX_AUTH_KEYS": f"{c.HOME}/.ssh/authorized_keys",
            "BORGBOX_SCHEDULES": f"{c.HOME}/schedules.json",
            "BORGBOX_SSH_PORT": str(c.SSH_PORT)}


def results(name):
    with open(c.root_path(f"{c.HOME}/repos/{name}/sandbox-probe.json")) as f:
        return json.load(f)


def install_probe():
    os.makedirs(c.root_path(os.path.dirname(PROBE)), exist_ok=True)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_probe.py"),
                c.root_path(PROBE))
    os.chmod(c.root_path(PROBE), 0o755)


def case_job_sandbox_refuses_what_a_hostile_borg_tries():
    """A job whose borg is the probe: writing authorized_keys, reading the token, TCP to
    127.0.0.1, the user and system buses, writing the state dir, home, the repo root,
    another repo or a user unit, a new user namespace all fail; writing its repo and
    borg's base dir succeed, its /tmp is its own, and its lines reach the journal. The same
    probe outside any unit succeeds at every one of them."""
    install_probe()
    name = initialized_repo(c.PASSPHRASE)
    c.make_repo()  # another repo, which the job must not reach
    as_borg_env = " ".join(f"{k}={v}" for k, v in probe_env().items())
    c.as_borg(f"mkdir -p {c.HOME}/.config/systemd/user {c.HOME}/.local/state/borgbox/borg")
    control = c.as_borg(f"cd / && env {as_borg_env} {PROBE} check --info {c.HOME}/repos/{name}")
    outside = results(name)["results"]
    refused = {k: v["detail"] for k, v in outside.items() if not v["ok"]}
    check(not refused, f"the probe outside a unit was refused, so it proves nothing: {refused}"
          f"\n{control.stdout}")
    os.remove(c.root_path(outside["tmp write"]["detail"]))
    os.remove(c.root_path(f"{c.HOME}/repos/{name}/sandbox-probe.json"))

    env_path = c.root_path("/etc/borgbox/borgbox.env")
    with open(env_path) as f:
        settings = f.read()
    try:
        with open(env_path, "a") as f:
            f.write(f"BORGBOX_BORG={PROBE}\n")
        ct("systemctl", "stop", c.SERVICE)
        job_id = start(name, "check", {"passphrase": c.PASSPHRASE})
        j = job_final(job_id)
    finally:
        with open(env_path, "w") as f:
            f.write(settings)
        ct("systemctl", "stop", c.SERVICE)
    check(j["status"] == "done", f"probe job: {j}")
    record = results(name)
    inside = record["results"]
    for what, r in sorted(inside.items()):
        note(f"{what:24} {'allowed' if r['ok'] else 'refused'}: {r['detail']}")
    wrong = {k: v for k, v in inside.items() if v["ok"] != (k in ALLOWED_IN_JOB)}
    check(not wrong, f"the sandbox let through or refused the wrong things: {wrong}")
    check(set(inside) == set(outside), f"probe results differ: {set(inside) ^ set(outside)}")
    check(record["status"].get("NoNewPrivs") == "1" and record["status"].get("Seccomp") == "2",
          f"/proc/self/status in the job: {record['status']}")
    check(record["status"].get("CapEff", "").strip("0") == "", f"capabilities: {record['status']}")
    # The job's /tmp was its own: the file it wrote is not in the machine's /tmp.
    check(not os.path.exists(c.root_path(inside["tmp write"]["detail"])),
          "the job's /tmp file is visible outside the job")
    check(any("sandbox probe: token read: refused" in line for line in j["log_tail"]),
          f"the probe's lines did not reach the journal: {j['log_tail']}")
    check(os.path.getsize(c.root_path(f"{c.HOME}/.ssh/authorized_keys")) > 0,
          "authorized_keys is empty")


def case_prune_compact_check_of_a_real_repo_in_the_sandbox():
    """prune, compact and check --verify-data of a real repo succeed in the sandbox."""
    name = initialized_repo(c.PASSPHRASE)
    for kind, body in (("prune", {"keep_daily": 1}), ("compact", {}),
                       ("check", {"verify_data": True})):
        body = dict(body, passphrase=c.PASSPHRASE)
        j = job_final(start(name, kind, body))
        check(j["status"] == "done" and j["exit_code"] == 0, f"{kind}: {j}")
        note(f"{kind}: done, last line {j['log_tail'][-1:]}")


def exposure(unit, user=True):
    if user:
        out = c.as_borg(f"XDG_RUNTIME_DIR=/run/user/{uid()} systemd-analyze --user security "
                        f"--no-pager {unit}").stdout
    else:
        out = ct("systemd-analyze", "security", "--no-pager", unit).stdout
    last = [line for line in out.splitlines() if "Overall exposure level" in line][-1]
    return float(last.split(":")[1].split()[0]), last


def case_job_sandbox_survives_reload_and_exposure():
    """A running job unit keeps every sandbox property across a Reload of borg's manager
    (systemd 252 rewrites a transient unit from its file), and systemd-analyze security
    rates the job unit and both user units (numbers printed for the record)."""
    name = initialized_repo(c.PASSPHRASE)
    job_id = start(name, "check", {"passphrase": c.PASSPHRASE})
    unit = f"borgbox-job-{job_id}.service"
    held = Held(name, "check")
    try:
        def props():
            out = user_systemctl("show", "-p", ",".join(SANDBOX_PROPS), unit).stdout
            return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        before = props()
        check(before["PrivateUsers"] == "yes" and before["ProtectSystem"] == "strict"
              and before["PrivateNetwork"] == "yes" and f"/run/user/{uid()}"
              in before["InaccessiblePaths"] and name in before["BindPaths"], f"{before}")
        score, line = exposure(unit)
        note(f"systemd-analyze --user security {unit}: {line.strip()}")
        user_systemctl("daemon-reload")
        after = props()
        changed = {k: (before.get(k), after.get(k)) for k in SANDBOX_PROPS
                   if before.get(k) != after.get(k)}
        check(not changed, f"a Reload changed the job's sandbox: {changed}")
        check(score <= 2.0, line)
    finally:
        held.resume()
    j = job_final(job_id)
    check(j["status"] == "done", f"job: {j}")
    for user_unit in ("borgbox-alerts.service", "borgbox-schedule@sandbox.service"):
        score, line = exposure(user_unit)
        note(f"systemd-analyze --user security {user_unit}: {line.strip()}")
        check(score <= 3.0, line)
    score, line = exposure(c.SERVICE, user=False)
    note(f"systemd-analyze security {c.SERVICE}: {line.strip()}")


SANDBOX_CASES = [
    ("sandbox: a job cannot reach keys, token, network, bus or other files; its repo it can",
     case_job_sandbox_refuses_what_a_hostile_borg_tries),
    ("sandbox: prune, compact and check --verify-data of a real repo succeed",
     case_prune_compact_check_of_a_real_repo_in_the_sandbox),
    ("sandbox: the job unit keeps its sandbox across a Reload; exposure of every unit",
     case_job_sandbox_survives_reload_and_exposure),
]
