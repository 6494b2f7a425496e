"""schemathesis hooks for tests/api-fuzz/run (loaded through SCHEMATHESIS_HOOKS).

1. Valid, fresh ed25519 public keys some of the time, where a body takes one: a key drawn
   from the schema's "string" is never valid, so without this no repo would ever be created
   and the stateful phase would have nothing to chain.
2. The check `rejected_request_changes_nothing`: a request answered 4xx must leave borgbox's
   tree as it found it ("nothing changed on disk by a rejected request"). Before each call and right after it, the hooks take a snapshot of what a
   request may change, and the check compares the two for every 4xx. What borgbox changes
   on its own meanwhile is left out: the monitor and the schedule ticker write the
   `last_*` and `next_run` fields and start scheduled jobs, running jobs write their
   records, logs and repositories, and reads fill caches (state/cache, borg's base dir, the
   journal cursor). A repo's lock file may appear for a repo that exists (its first
   locked operation makes it), never for one that does not.
3. `use_after_free` says nothing about DELETE /jobs/{id}: it cancels a job and keeps it
   (API.md 9.5: 202 with the Job, which stays listed as `cancelled`), so the job is still
   there afterwards by contract. Its other findings stand.
4. The seeded borg repository `laptop` (the name the document's examples use) is put back
   whenever a request deleted it or left its name to a repo without one, so that check,
   prune, compact, archives and break-lock reach real borg for the whole run, not only
   until the fuzzer first deletes it. So after a DELETE /repos/laptop that this put back,
   `laptop` is there again by the harness's hand (an unregistered repository on disk, whose
   keys are `[]`), and `use_after_free` is told so; the delete itself was checked (204) and
   deletes of every other name stay under `use_after_free`.
5. positive_data_acceptance excuses only the 400s the document names because no schema
   can say them: a key blob that does not decode, an import of a non-repository, a
   schedule PATCH judged with the stored cadence. Whole-number floats (12.0, which JSON
   Schema counts as an integer and API.md 2.4 refuses) are sent as integers.
"""

import base64
import hashlib
import json
import os
import pathlib
import subprocess

import schemathesis

TREE = pathlib.Path(os.environ["BORGBOX_FUZZ_TREE"])
REPOS = TREE / "repos"
STATE = TREE / "state"

# --- 1. keys ---------------------------------------------------------------------------

# The blob of an ed25519 key: string "ssh-ed25519", then the 32-byte public key.
ED25519 = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"
KEY_FIELDS = {
    ("POST", "/repos"): "pubkey",
    ("POST", "/repos/import"): "pubkey",
    ("POST", "/repos/{name}/keys"): "public_key",
}


def key_line(raw: bytes) -> str:
    return "ssh-ed25519 " + base64.b64encode(ED25519 + raw).decode() + " fuzz"


KEYS_SENT = [0]


def fresh_key(case):
    """Every other request that carries a key gets a valid, fresh one (deterministic bytes,
    so a seed still makes the same run). Done in before_call, in place: schemathesis then
    judges the case by what is sent (a generated invalid key replaced by a valid one makes
    a valid case), which a body strategy's replacement would not tell it."""
    operation = case.operation
    field = KEY_FIELDS.get((operation.method.upper(), operation.path))
    if field is None or not isinstance(case.body, dict) or not isinstance(case.body.get(field), str):
        return
    KEYS_SENT[0] += 1
    if KEYS_SENT[0] % 2:
        case.body[field] = key_line(hashlib.sha256(b"key %d" % KEYS_SENT[0]).digest())


# --- 2. nothing changes on disk for a rejected request ----------------------------------

CONFIG = {
    "schedules.json": ("id", "repo", "kind", "cadence", "hour", "minute", "weekday", "day", "enabled", "created_at"),
    "alerts.json": ("id", "repo", "stale_after_hours", "webhook_url", "enabled", "renotify_hours", "secret", "created_at"),
}


def read(path: pathlib.Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def config(name: str):
    raw = read(TREE / name)
    items = json.loads(raw) if raw.strip() else []
    return sorted(json.dumps({k: item.get(k) for k in CONFIG[name]}, sort_keys=True) for item in items)


def jobs():
    """Client jobs (not started by a schedule), and the repos a job may be writing to."""
    client, busy = set(), set()
    directory = STATE / "jobs"
    for path in directory.glob("j_*.json") if directory.is_dir() else ():
        if path.name.endswith(".tail.json"):
            continue
        try:
            record = json.loads(path.read_bytes())
        except (FileNotFoundError, ValueError):
            continue  # removed by retention, or being replaced
        if not record.get("schedule"):
            client.add(record["id"])
        if record.get("status") in ("queued", "running"):
            busy.add(record["repo"])
    return client, busy


def repo_files(name: str):
    out = []
    top = REPOS / name
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for file in sorted(files):
            path = pathlib.Path(root) / file
            relative = str(path.relative_to(top))
            if relative.startswith("lock."):
                continue  # borg's own lock, taken by every borg that reads
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            out.append((relative, stat.st_size, stat.st_mtime_ns))
    return out


def snapshot():
    names = sorted(p.name for p in REPOS.iterdir()) if REPOS.is_dir() else []
    client_jobs, busy = jobs()
    locks = STATE / "locks"
    return {
        "repos": names,
        "repo files": {n: repo_files(n) for n in names if not n.startswith(".")},
        "busy": busy,
        "authorized_keys": read(TREE / "ssh" / "authorized_keys"),
        "keys-added.json": read(STATE / "keys-added.json"),
        "schedules": config("schedules.json"),
        "alerts": config("alerts.json"),
        "client jobs": client_jobs,
        "lock files": sorted(p.name for p in locks.iterdir()) if locks.is_dir() else [],
    }


def differences(before, after):
    found = []
    for key in ("repos", "authorized_keys", "keys-added.json", "schedules", "alerts"):
        if before[key] != after[key]:
            found.append(key)
    new_jobs = after["client jobs"] - before["client jobs"]
    if new_jobs:
        found.append(f"new jobs {sorted(new_jobs)}")
    busy = before["busy"] | after["busy"]
    for name, files in after["repo files"].items():
        if name not in busy and name in before["repo files"] and before["repo files"][name] != files:
            found.append(f"the files of repo {name}")
    existing = {f"repo-{name}.lock" for name in after["repos"]}
    new_locks = set(after["lock files"]) - set(before["lock files"]) - existing
    if new_locks:
        found.append(f"lock files of repos that do not exist: {sorted(new_locks)}")
    return found


BEFORE = {}
CHANGES = {}


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.body, dict):
        whole_numbers_as_integers(case.body)
        fresh_key(case)
    BEFORE[case.id] = snapshot()


def whole_numbers_as_integers(value):
    """JSON Schema's "integer" takes 12.0, which API.md 2.4 refuses and no schema can rule
    out; the fuzzer's 12.0 is sent as 12 (still a valid or invalid case exactly as before:
    a fraction stays a fraction), within the 64-bit range the server reads integers in. In
    place, so schemathesis sees what is sent."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(items):
        if isinstance(item, float) and item.is_integer() and -(2**63) <= item < 2**64:
            value[key] = int(item)
        else:
            whole_numbers_as_integers(item)


@schemathesis.hook
def after_call(context, case, response):
    before = BEFORE.pop(case.id, None)
    if before is not None and 400 <= response.status_code < 500:
        CHANGES[case.id] = differences(before, snapshot())
    if reseed() and case.method.upper() == "DELETE" and 200 <= response.status_code < 300:
        PUT_BACK.add(case.id)


# --- 3. DELETE /jobs/{id} is a cancel ---------------------------------------------------


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code == "ST202":
        return not beyond_the_schema(case, response)
    free = getattr(failure, "free", None)
    if failure.code != "ST301" or not isinstance(free, str):
        return True
    return not (free.startswith("DELETE /jobs/") or getattr(failure, "deleted_case_id", None) in PUT_BACK)


# --- 5. what no schema can say ----------------------------------------------------------

# The 400s that the document names in its operations' descriptions because JSON Schema
# cannot say them: a key line of the right shape whose blob is not a key of its type
# (API.md 7.1 rules 5, 6), an import of a directory that holds no borg repository, and a
# schedule's weekday or day judged with its stored cadence.
# positive_data_acceptance excuses these exact answers and nothing else.
BLOB = {
    "invalid public key: invalid base64",
    "invalid public key: key type does not match blob",
    "invalid public key: malformed key data",
    "invalid public key: RSA keys must be at least 2048 bits",
    "invalid public key: RSA keys must be at most 16384 bits",
}
NOT_A_REPOSITORY = "directory is not a borg repository (no config file)"


def beyond_the_schema(case, response) -> bool:
    if response.status_code != 400:
        return False
    try:
        message = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    operation = (case.method.upper(), case.operation.path)
    if operation in KEY_FIELDS and message in BLOB:
        return True
    if operation == ("PATCH", "/schedules/{id}") and message in MERGED:
        return True
    return operation == ("POST", "/repos/import") and message == NOT_A_REPOSITORY


# A PATCH of a schedule is judged merged with the stored one (API.md 11.2): its weekday
# and day count only when the merged cadence is weekly or monthly.
MERGED = {
    "weekday must be an integer from 0 to 6",
    "day must be an integer from 1 to 28",
}


# --- 4. a borg repository to work on ----------------------------------------------------

SEED = REPOS / "laptop"
SEED_DATA = pathlib.Path(os.environ["BORGBOX_FUZZ_SEED_DATA"])
# The ids of the cases (each a DELETE /repos/laptop) whose repo the harness put back.
PUT_BACK = set()


def reseed() -> bool:
    """Makes `laptop` a borg repository with one archive again, when it is gone or empty
    (recreated by the API), and says whether it had to; borg's environment comes from
    tests/api-fuzz/run."""
    if (SEED / "config").exists() or (SEED.is_dir() and any(SEED.iterdir())):
        return False
    for args in (
        ["borg", "init", "--encryption=none", str(SEED)],
        ["borg", "create", f"{SEED}::first", SEED_DATA.name],
    ):
        subprocess.run(args, cwd=SEED_DATA.parent, check=True, capture_output=True)
    return True


@schemathesis.check
def rejected_request_changes_nothing(ctx, response, case):
    changed = CHANGES.get(case.id)
    if changed:
        raise AssertionError(
            f"{case.method} {case.formatted_path} was refused with {response.status_code} "
            f"but changed: {', '.join(changed)}"
        )
