"""System cases for maintenance jobs with the systemd backend (issue 4), run by cases.py
with the same container and helpers. A job is held at a known point by stopping its
real borg process with SIGSTOP (and resumed with SIGCONT), so no case depends on how
fast borg is."""

import os
import socket
import subprocess
import time

import cases as c
import job_suite
from cases import Fail, check, ct, expect, note, wait_for

FINAL = ("done", "error", "cancelled")


def client_borg(key, passphrase, *args):
    """A real borg client on the host, over ssh into the container, with `passphrase`."""
    env = dict(os.environ, BORG_PASSPHRASE=passphrase,
               BORG_RSH=f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                        "-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
               BORG_BASE_DIR=os.path.join(c.WORK, "jobs-base"),
               BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")
    p = subprocess.run(["borg", *args], capture_output=True, text=True, env=env, timeout=120)
    if p.returncode != 0:
        raise Fail(f"borg {' '.join(args)} -> rc={p.returncode}\n{p.stdout}{p.stderr}")


def initialized_repo(passphrase):
    """A repo made through the API and filled by a real client: its name."""
    name, key, url = c.make_repo()
    client_borg(key, passphrase, "init", "-e", "repokey-blake2", url)
    client_borg(key, passphrase, "create", f"{url}::a1", c.sample_file())
    client_borg(key, passphrase, "create", f"{url}::a2", c.sample_file())
    return name


def Held(name, kind):
    """The job's borg on repo `name`, stopped with SIGSTOP until resume()."""
    return job_suite.Held(f"{c.HOME}/repos/{name}", kind)


def start(name, kind, body):
    job = expect(202, "POST", f"/repos/{name}/{kind}", body)
    return job["job_id"]


def job_final(job_id, timeout=120):
    def probe():
        j = expect(200, "GET", f"/jobs/{job_id}")
        return j["status"] in FINAL, j
    return wait_for(f"job {job_id} final", probe, timeout, interval=0.3)


def user_systemctl(*args, check_rc=True):
    return ct("systemctl", "--user", "-M", "borg@", *args, check_rc=check_rc)


def unit_state(job_id):
    return user_systemctl("is-active", f"borgbox-job-{job_id}.service", check_rc=False).stdout.strip()


def case_job_outlives_idle_api():
    """A job started through the API completes after the API has idled out, and the next
    activation reports its status and log."""
    name = initialized_repo(c.PASSPHRASE)
    job_id = start(name, "check", {"passphrase": c.PASSPHRASE})
    held = Held(name, "check")
    try:
        c.wait_service_gone(c.IDLE_TIMEOUT + c.DRAIN + 10)
        check(unit_state(job_id) == "active", f"job unit after the API left: {unit_state(job_id)}")
    finally:
        held.resume()
    wait_for("job unit gone", lambda: (lambda s: (s != "active", s))(unit_state(job_id)), 60, 0.2)
    check(c.service_state()[0]["ActiveState"] == "inactive", "the API came back by itself")
    j = job_final(job_id)
    check(j["status"] == "done" and j["exit_code"] == 0, f"job: {j}")
    check(any("Starting repository check" in line for line in j["log_tail"]), f"log_tail: {j['log_tail']}")
    jobs = expect(200, "GET", "/jobs")
    check(any(x["id"] == job_id and x["status"] == "done" for x in jobs), "not in GET /jobs")


def case_killed_job_is_error():
    """`systemctl --user -M borg@ kill` of a job unit ends the job as error."""
    name = initialized_repo(c.PASSPHRASE)
    job_id = start(name, "check", {"passphrase": c.PASSPHRASE})
    held = Held(name, "check")
    try:
        user_systemctl("kill", f"borgbox-job-{job_id}.service")
    finally:
        held.resume()
    j = job_final(job_id)
    check(j["status"] == "error" and j["exit_code"] != 0, f"job: {j}")
    note(f"killed job: exit_code {j['exit_code']}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_second_process_is_refused():
    """One job per repo holds across borgbox processes: a second API process (as a timer's
    oneshot would be) is refused while a job runs, with the running job named."""
    name = initialized_repo(c.PASSPHRASE)
    port = free_port()
    ct("systemd-run", "--unit=borgbox-second", "--uid=borg", "--gid=borg",
       "-p", "Environment=BORGBOX_TOKEN=second-token-0123456789abcdef0123456789",
       "-p", f"Environment=BORGBOX_ADDR=127.0.0.1:{port}", "/usr/bin/borgbox", "serve")
    try:
        job_id = start(name, "check", {"passphrase": c.PASSPHRASE})
        held = Held(name, "check")
        try:
            def second():
                import http.client
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                try:
                    conn.request("POST", f"/api/v1/repos/{name}/compact", body="{}",
                                 headers={"Authorization": "Bearer second-token-0123456789abcdef0123456789"})
                    r = conn.getresponse()
                    return True, (r.status, r.read().decode())
                except OSError as e:
                    return False, str(e)
                finally:
                    conn.close()
            status, body = wait_for("second API answers", second, 20, 0.2)
            check(status == 409 and job_id in body, f"second process: {status} {body}")
        finally:
            held.resume()
        check(job_final(job_id)["status"] == "done", "first job")
    finally:
        ct("systemctl", "stop", "borgbox-second", check_rc=False)


def files_containing(top, needle, skip_bigger=64 << 20):
    found = []
    for d, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            try:
                if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) > skip_bigger:
                    continue
                with open(p, "rb") as fh:
                    if needle in fh.read():
                        found.append(p)
            except OSError:
                pass
    return found


def secret_places(secret, job_id):
    """Everywhere DESIGN.md says a passphrase must never be."""
    needle = secret.encode()
    places = []
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == me:
            continue
        for what in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    if needle in f.read():
                        places.append(f"/proc/{pid}/{what}")
            except OSError:
                pass
    if secret in user_systemctl("show", f"borgbox-job-{job_id}.service", check_rc=False).stdout:
        places.append("systemctl --user show of the job unit")
    if needle in subprocess.run(["nsenter", "-t", c.LEADER, "-a", "journalctl", "--no-pager", "-o", "export"],
                                capture_output=True).stdout:
        places.append("the journal")
    for top in ("/var/lib/borg", "/etc", "/run", "/tmp", "/var/tmp", "/var/log", "/root", "/home"):
        places += files_containing(c.root_path(top), needle)
    return places


def case_passphrase_reaches_borg_only():
    """A unique passphrase is nowhere but in borg: not in argv, any environment, the job
    unit's properties, the journal or the disk, while the job runs and after."""
    secret = f"only-borg-{os.getpid()}-{time.time_ns()}"
    name = initialized_repo(secret)
    job_id = start(name, "check", {"passphrase": secret})
    held = Held(name, "check")
    try:
        places = secret_places(secret, job_id)
        check(not places, f"passphrase found while the job runs: {places}")
    finally:
        held.resume()
    j = job_final(job_id)
    check(j["status"] == "done", f"job with the passphrase: {j}")
    places = secret_places(secret, job_id)
    check(not places, f"passphrase found after the job: {places}")


JOB_CASES = [
    ("jobs: a job completes after the API idled out; the next activation reports it",
     case_job_outlives_idle_api),
    ("jobs: systemctl --user kill of a job ends it as error", case_killed_job_is_error),
    ("jobs: one job per repo across borgbox processes", case_second_process_is_refused),
    ("jobs: the passphrase reaches borg and nothing else", case_passphrase_reaches_borg_only),
]
