#!/usr/bin/env python3
"""The web console in a real headless Chromium against a real `borgbox serve --dev` with real
borg (API.md 16.4). Run through tests/console/run, which provides chromium, chromedriver
and selenium. Each test asserts zero browser console errors (but the failed requests it
provokes on purpose, each named) and zero CSP violations, and saves a screenshot of every
screen it visits under the output directory printed at the start.

    tests/console/run [--keep] [--only NAME ...] [--out DIR] [--update-docs]
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (  # noqa: E402
    ROOT, Browser, Failure, Receiver, Server, borg, build_borgbox, check, keygen, wait,
)

PASSPHRASE = "correct horse battery staple"
# Text that must stay text on every screen that shows it.
BIDI = "\u202e"
PAYLOADS = {
    "script": "<script>alert(1)<script>",
    "img": "<img src=x onerror=alert(1)>",
    "quotes": "\"dq\" 'sq' `bt`",
    "js-url": "javascript:alert(1)",
    "bidi": BIDI + "gpj.exe",
}
# How a payload reads on the page: hidden characters become visible markers.
SHOWN = {k: v.replace(BIDI, "U+202E") for k, v in PAYLOADS.items()}

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Context:
    """What the tests share: one server, one browser, one receiver, one temp tree."""

    def __init__(self, work, out, server, browser, receiver):
        self.work = Path(work)
        self.out = Path(out)
        self.server = server
        self.b = browser
        self.receiver = receiver
        self.expected = []  # (path, status or "refused") of failed requests a test provokes
        self.keys = {}

    def note(self, text):
        print("     " + text, flush=True)

    def expect_failed_request(self, path, status):
        """A request this test makes fail on purpose; Chrome logs it as a console error."""
        self.expected.append((self.server.base + path, status))

    def is_expected(self, message):
        for url, status in self.expected:
            if not message.startswith(url + " "):
                continue
            if status == "refused" and "net::ERR_CONNECTION_REFUSED" in message:
                return True
            if f"responded with a status of {status} " in message:
                return True
        return False

    def url(self, path="/"):
        return self.server.base + path

    def sign_in(self, token=None):
        b = self.b
        field = b.find("#signin input[name=token]")
        b.type(field, token or self.server.token)
        b.button("Sign in", "#signin").click()
        wait(lambda: b.find_all("#signin")[0].get_attribute("hidden") is not None, "sign-in closes")

    def open(self, path):
        """Client-side navigation, like following a link (no page load)."""
        self.b.js("history.pushState(null, '', arguments[0]); dispatchEvent(new PopStateEvent('popstate'))", path)


# -- the tests, in order: each builds on the state the previous ones left -------------------


@test
def sse_parser(c):
    """The stream parser, fed awkward chunk boundaries, in the browser it runs in."""
    b = c.b
    b.get(c.url("/"))
    b.find("#signin input")
    result = b.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const href = [...document.querySelectorAll('link[rel=modulepreload]')]
          .map(l => l.href).find(h => h.includes('/sse.'));
        import(href).then(({EventParser}) => {
          const events = [];
          const p = new EventParser(e => events.push(e));
          for (const chunk of ['\\ufeffevent: log\\r', '\\ndata: {"type":"log","li', 'ne":"a"}\\r', '\\n\\r',
                               '\\n: ping\\n\\ndata: x\\ndata:y\\n', '\\nevent: end\\rdata: {}\\r\\r', 'data: cut'])
            p.push(chunk);
          done(events);
        }).catch(e => done(String(e)));
        """
    )
    check(result == [
        {"event": "log", "data": '{"type":"log","line":"a"}'},
        {"event": "message", "data": "x\ny"},
        {"event": "end", "data": "{}"},
    ], f"parser events: {result}")


@test
def sign_in_out(c):
    """A wrong token says so; a pasted token with spaces and a newline is trimmed; sign out forgets it."""
    b = c.b
    b.get(c.url("/"))
    field = b.find("#signin input[name=token]")
    check(b.js("return document.activeElement === arguments[0]", field), "focus starts in the token field")
    check(not b.find_all("#insecure"), "no clear-text warning on the loopback interface")
    b.screenshot("signin")
    b.type(field, "not-the-token")
    b.button("Sign in", "#signin").click()
    c.expect_failed_request("/api/v1/info", 401)  # the wrong token
    b.wait_text("Wrong token", "#signin")
    check("missing or invalid bearer token" in b.text("#signin"), "the server's message is shown")
    check(not b.find_all("#top")[0].is_displayed(), "no navigation before signing in")
    b.screenshot("signin-wrong-token")
    # A paste with surrounding spaces and line breaks (a password field drops the breaks
    # itself; the console trims the rest), submitted with the keyboard.
    b.js("arguments[0].value = arguments[1]", field, "  \n" + c.server.token + " \r\n ")
    from selenium.webdriver.common.keys import Keys
    field.send_keys(Keys.ENTER)
    wait(lambda: b.find_all("#signin")[0].get_attribute("hidden") is not None, "sign-in closes")
    b.find("#repos, main .empty")
    check(b.js("return sessionStorage.getItem('borgbox.token')") == c.server.token, "token kept, trimmed, in sessionStorage")
    check(b.js("return localStorage.length") == 0, "nothing in localStorage")
    check(b.js("return document.cookie") == "", "no cookie")
    check(c.server.token not in b.js("return location.href"), "token not in the URL")
    check(b.js("return [...document.querySelectorAll('input')].every(i => i.value !== arguments[0])", c.server.token),
          "token not left in a field")
    b.button("Sign out").click()
    b.find("#signin input[name=token]")
    b.wait_text("signed out", "#signin")
    check(b.js("return sessionStorage.getItem('borgbox.token')") is None, "sign out forgets the token")
    check(b.js("return document.getElementById('main').children.length") == 0, "signed-out page holds no data")
    b.get(c.url("/"))
    b.find("#signin input[name=token]")
    c.sign_in()
    b.find("#repos, main .empty")


@test
def create_repo(c):
    """Create a repo with a generated key: the console shows the ssh URL and the exact borg init."""
    b = c.b
    public, path, fp = keygen(c.work, "laptop-key", "me@laptop")
    c.keys["laptop"] = (public, fp)
    b.nav("New repository")
    wait(lambda: c.b.path() == "/repos/new", "on /repos/new")
    form = b.find("#create-form")
    b.type(form.find_element("css selector", "input[name=name]"), "laptop")
    b.type(form.find_element("css selector", "textarea"), public)
    b.screenshot("create-repo")
    b.button("Create repository").click()
    b.wait_text("created")
    status, repo = c.server.api("GET", "/repos/laptop")
    check(status == 200 and repo["registered"], f"repo registered: {status} {repo}")
    values = b.js("return [...document.querySelectorAll('main .copyable input')].map(i => i.value)")
    check(f"borg init --encryption=repokey-blake2 {repo['ssh_url']}" in values, f"borg init command shown: {values}")
    check(repo["ssh_url"] in values, "ssh_url shown")
    b.screenshot("create-repo-done")
    # A rejected request shows the server's message, verbatim.
    b.button("Create another").click()
    form = b.find("#create-form")
    b.type(form.find_element("css selector", "input[name=name]"), "laptop")
    b.type(form.find_element("css selector", "textarea"), public)
    b.button("Create repository").click()
    c.expect_failed_request("/api/v1/repos", 409)  # a name taken
    status, body = c.server.api("POST", "/repos", {"name": "laptop", "pubkey": public})
    b.wait_text(body["error"], "#create-form")


@test
def backup_shows_up(c):
    """borg init + borg create on the client: size and last write appear without a reload."""
    b = c.b
    b.nav("Overview")
    row = b.find("#repos tr[data-name=laptop]")
    check("not initialized" in row.text, f"fresh repo reads as not initialized: {row.text}")
    b.js("window.__sameDocument = 'yes'")
    repo = str(c.server.repo_root / "laptop")
    borg(c.work, PASSPHRASE, "init", "--encryption=repokey-blake2", repo)
    data = c.work / "data"
    data.mkdir(exist_ok=True)
    (data / "notes.txt").write_text("hello borgbox\n" * 2000)
    borg(c.work, PASSPHRASE, "create", f"{repo}::first", str(data))
    status, facts = c.server.api("GET", "/repos/laptop")
    size = facts["size_bytes"]
    check(size > 0, "borg wrote something")

    def updated():
        text = b.find("#repos tr[data-name=laptop]").text
        return "just now" in text and "not initialized" not in text and " 0 B" not in text and text
    text = wait(updated, "size and last write in the overview", timeout=20)
    check(b.js("return window.__sameDocument") == "yes", "no page reload")
    check(b.js("return performance.getEntriesByType('navigation').length") == 1, "one navigation only")
    check(re.search(r"\d+(\.\d+)? kB", text), f"size in kB: {text}")
    # Sorting, with the mouse and with the keyboard.
    header = b.find("#repos th[data-key=size] button")
    header.click()
    check(b.find("#repos th[data-key=size]").get_attribute("aria-sort") == "ascending", "sorted ascending")
    from selenium.webdriver.common.keys import Keys
    header = b.find("#repos th[data-key=size] button")
    header.send_keys(Keys.ENTER)
    check(b.find("#repos th[data-key=size]").get_attribute("aria-sort") == "descending", "sorted descending")
    b.find("#repos th[data-key=name] button").click()
    text = b.text("main")
    for needle in ["Host", "Uptime", "Load", "Storage", "borg 1.", "process", "free"]:
        check(needle in text, f"overview shows {needle}")
    check(b.js("return document.querySelector('main meter') !== null"), "storage bar")
    check("encrypted (HTTPS)" in text and "certificate valid until" in text,
          "overview says the connection is encrypted and until when the certificate is valid")
    b.screenshot("overview")
    b.dark(True)
    time.sleep(0.2)
    b.screenshot("overview-dark")
    b.dark(False)


@test
def keyboard_only(c):
    """The skip link, a repo link, a dialog and its Escape, with the keyboard alone."""
    b = c.b
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    b.get(c.url("/"))  # a fresh page: sequential focus starts at the top
    b.find("#repos tr[data-name=laptop]")
    ActionChains(b.driver).send_keys(Keys.TAB).perform()
    check(b.js("return document.activeElement.className") == "skip",
          f"Tab reaches the skip link first, not {b.js('return document.activeElement.outerHTML.slice(0, 80)')}")
    ActionChains(b.driver).send_keys(Keys.ENTER).perform()
    check(b.js("return document.activeElement.id") == "main", "the skip link moves focus to the content")
    check(b.find_all("#repos tr[data-name=laptop]"), "the page was not redrawn")
    # Tab to the repo link and follow it with Enter.
    for _ in range(40):
        ActionChains(b.driver).send_keys(Keys.TAB).perform()
        if b.js("return document.activeElement.dataset.repo") == "laptop":
            break
    else:
        raise Failure("Tab never reached the laptop link")
    ActionChains(b.driver).send_keys(Keys.ENTER).perform()
    wait(lambda: b.path() == "/repos/laptop", "Enter follows the link")
    check(b.js("return document.activeElement.tagName") == "H1", "focus on the new page's heading")
    b.find("#delete-repo").send_keys(Keys.ENTER)
    b.find("dialog[open]")
    check(b.js("return document.activeElement.closest('dialog') !== null"), "focus inside the dialog")
    ActionChains(b.driver).send_keys(Keys.ESCAPE).perform()
    wait(lambda: not b.find_all("dialog"), "Escape closes the dialog")
    check(c.server.api("GET", "/repos/laptop")[0] == 200, "and deletes nothing")


@test
def repo_page(c):
    """ssh_url and copy, append-only toggle, quota, archives after the passphrase."""
    b = c.b
    b.nav("Overview")
    b.find("#repos a[data-repo=laptop]").click()
    wait(lambda: b.path() == "/repos/laptop", "on the repo page")
    b.find("#append-only")
    status, repo = c.server.api("GET", "/repos/laptop")
    values = b.js("return [...document.querySelectorAll('main .copyable input')].map(i => i.value)")
    check(repo["ssh_url"] in values, "ssh_url shown")
    check(f"borg init --encryption=repokey-blake2 {repo['ssh_url']}" in values, "borg init shown")
    b.driver.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": c.server.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    b.find("main .copyable button").click()
    wait(lambda: "Copied" in b.find("main .copyable .copy-status").text, "copy confirmed")
    copied = b.driver.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0](String(e)))")
    check(copied == f"borg init --encryption=repokey-blake2 {repo['ssh_url']}", f"clipboard has the command: {copied!r}")

    # Append-only on, then off again.
    b.find("#append-only").click()
    wait(lambda: "append-only" in b.find("#repo-badges", visible=False).text, "append-only badge")
    check(c.server.api("GET", "/repos/laptop")[1]["append_only"] is True, "append-only on the server")
    b.screenshot("repo-append-only")
    b.find("#append-only").click()
    wait(lambda: "append-only" not in b.find("#repo-badges", visible=False).text, "badge gone")
    check(c.server.api("GET", "/repos/laptop")[1]["append_only"] is False, "append-only off on the server")

    # Quota: accepted, then one the server refuses, with its message.
    form = b.find("#quota-form")
    b.type(form.find_element("css selector", "input"), "2")
    form.find_element("css selector", "button").click()
    b.wait_text("Quota set to 2.00 GB")
    check(c.server.api("GET", "/repos/laptop")[1]["storage_quota_bytes"] == 2_000_000_000, "quota on the server")
    b.type(form.find_element("css selector", "input"), "0.001")
    form.find_element("css selector", "button").click()
    c.expect_failed_request("/api/v1/repos/laptop", 400)  # a quota under 10 MB
    status, err = c.server.api("PATCH", "/repos/laptop", {"storage_quota_bytes": 1_000_000})
    b.wait_text(err["error"])
    b.type(form.find_element("css selector", "input"), "0")
    form.find_element("css selector", "button").click()
    b.wait_text("No quota.")

    # Archives, after asking for the passphrase; it is not kept anywhere.
    b.find("#list-archives").click()
    dialog = b.find("dialog[open]")
    b.type(dialog.find_element("css selector", "input[type=password]"), PASSPHRASE)
    dialog.find_element("css selector", "button[type=submit]").click()
    b.wait_text("1 archive")
    check("first" in b.text("main"), "archive listed")
    check(not b.find_all("dialog"), "passphrase dialog gone")
    check(PASSPHRASE not in b.js("return JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.cookie"),
          "passphrase not stored")
    check(b.js("return [...document.querySelectorAll('input')].every(i => i.value !== arguments[0])", PASSPHRASE),
          "passphrase not left in a field")
    b.screenshot("repo")


@test
def second_key(c):
    """Add a second key (from a file, with a comment, append-only) and remove it after confirming."""
    b = c.b
    public, path, fp = keygen(c.work, "desktop-key", "desktop")
    c.open("/repos/laptop")
    form = b.find("#add-key")
    form.find_element("css selector", "input[type=file]").send_keys(str(path))
    wait(lambda: form.find_element("css selector", "textarea").get_property("value") == public, "key read from the file")
    inputs = form.find_elements("css selector", "input[type=text]")
    b.type(inputs[0], "desktop-in-the-office")
    from selenium.webdriver.support.ui import Select
    Select(form.find_element("css selector", "select")).select_by_visible_text("Append-only")
    b.button("Add key", "#add-key").click()
    row = b.find(f'tr[data-fingerprint="{fp}"]')
    check("desktop-in-the-office" in row.text and "append-only" in row.text, f"second key row: {row.text}")
    keys = c.server.api("GET", "/repos/laptop/keys")[1]
    check(len(keys) == 2 and keys[1]["append_only"] and keys[1]["comment"] == "desktop-in-the-office", f"keys: {keys}")
    b.screenshot("repo-two-keys")
    # Cancel first: nothing happens.
    row.find_element("css selector", "button").click()
    b.find("dialog[open]")
    b.button("Cancel", "dialog").click()
    time.sleep(0.2)
    check(len(c.server.api("GET", "/repos/laptop/keys")[1]) == 2, "cancel keeps the key")
    row = b.find(f'tr[data-fingerprint="{fp}"]')
    row.find_element("css selector", "button").click()
    dialog = b.find("dialog[open]")
    check(fp in dialog.text, "the confirmation names the key")
    b.button("Remove key", "dialog").click()
    wait(lambda: not b.find_all(f'tr[data-fingerprint="{fp}"]'), "key row gone")
    keys = c.server.api("GET", "/repos/laptop/keys")[1]
    check([k["fingerprint"] for k in keys] == [c.keys["laptop"][1]], f"only the first key left: {keys}")


@test
def check_job_live(c):
    """A check from the console: its log lines arrive live, then the final status."""
    b = c.b
    c.open("/repos/laptop")
    form = b.find("#check-form")
    b.type(form.find_element("css selector", "input[type=password]"), PASSPHRASE)
    b.js("window.__lines.length = 0; window.__statuses.length = 0")
    b.button("Start check", "#check-form").click()
    wait(lambda: re.fullmatch(r"/jobs/j_[0-9a-f]{12}", b.path()), "on the job page")
    job_id = b.path().rsplit("/", 1)[1]
    wait(lambda: b.find("#job-status").get_attribute("data-status") == "done", "job done", timeout=60)
    check("exit code 0" in b.text("#job-status"), f"exit code shown: {b.text('#job-status')}")
    lines = b.js("return window.__lines")
    texts = [l[1] for l in lines]
    check("Starting repository check" in texts, f"log lines: {texts}")
    check(any("terminating with success status, rc 0" in t for t in texts), "last line")
    live = [l for l in lines if l[2] in ("running", "queued")]
    check(live, f"some lines arrived before the final status: {lines}")
    check(any(l[3] for l in live), "cancel was offered while the job ran")
    times = sorted({round(l[0]) for l in lines})
    check(len(times) >= 2, f"lines arrived over time, not in one batch: {times}")
    final = [t for t, status in b.js("return window.__statuses") if status == "done"]
    c.note(f"{len(lines)} lines in {len(times)} batches over {times[-1] - times[0]} ms, "
           f"{len(live)} of them while running; final status {round(final[0] - times[0]) if final else '?'} ms after the first line")
    check(not b.find("#cancel-job", visible=False).is_displayed(), "no cancel once finished")
    job = c.server.api("GET", f"/jobs/{job_id}")[1]
    check(job["status"] == "done" and job["exit_code"] == 0, f"job on the server: {job}")
    b.screenshot("job")
    b.nav("Jobs")
    row = b.find(f'tr[data-id="{job_id}"]')
    check("done" in row.text and "check" in row.text, f"jobs list row: {row.text}")
    b.screenshot("jobs")


@test
def maintenance_forms(c):
    """Prune (dry run, with its keep rules) and compact from their forms, and break-lock."""
    b = c.b
    c.open("/repos/laptop")
    form = b.find("#prune-form")
    numbers = form.find_elements("css selector", "input[type=number]")
    for el, value in zip(numbers, ["1", "0", "0", "0"]):
        b.type(el, value)
    b.type(form.find_element("css selector", "input[type=password]"), PASSPHRASE)
    b.button("Start prune", "#prune-form").click()
    wait(lambda: re.fullmatch(r"/jobs/j_[0-9a-f]{12}", b.path()), "on the prune job's page")
    job_id = b.path().rsplit("/", 1)[1]
    wait(lambda: b.find("#job-status").get_attribute("data-status") == "done", "prune done", timeout=60)
    check("Keeping archive" in b.text("#job-log"), f"prune's list: {b.text('#job-log')}")
    job = c.server.api("GET", f"/jobs/{job_id}")[1]
    check(job["kind"] == "prune" and job["dry_run"], f"a dry-run prune: {job}")
    check("dry run" in b.text("main"), "shown as a dry run")
    b.screenshot("job-prune")
    c.open("/repos/laptop")
    form = b.find("#compact-form")
    b.button("Start compact", "#compact-form").click()
    wait(lambda: re.fullmatch(r"/jobs/j_[0-9a-f]{12}", b.path()) and b.path() != f"/jobs/{job_id}", "on the compact job's page")
    wait(lambda: b.find("#job-status").get_attribute("data-status") == "done", "compact done", timeout=60)
    check(c.server.api("GET", b.path().replace("/jobs/", "/jobs/", 1))[1]["kind"] == "compact", "a compact job")
    # A second job while one runs is refused by the server; the form says why. Here: a
    # prune without any keep rule, refused with the server's 400.
    c.open("/repos/laptop")
    form = b.find("#prune-form")
    for el in form.find_elements("css selector", "input[type=number]"):
        b.type(el, "0")
    b.button("Start prune", "#prune-form").click()
    c.expect_failed_request("/api/v1/repos/laptop/prune", 400)  # no keep rule
    status, err = c.server.api("POST", "/repos/laptop/prune", {})
    check(status == 400, "the server refuses it")
    b.wait_text(err["error"])
    b.find("#break-lock").click()
    b.button("Break lock", "dialog").click()
    b.wait_text("Lock broken.")


@test
def cancel_job(c):
    """Cancel a running job from its page: the stream ends with status cancelled."""
    b = c.b
    public, _, _ = keygen(c.work, "big-key", "big")
    check(c.server.api("POST", "/repos", {"name": "big", "pubkey": public})[0] == 201, "repo big created")
    repo = str(c.server.repo_root / "big")
    data = c.work / "big-data"
    data.mkdir()
    with open(data / "random", "wb") as f:
        f.write(os.urandom(64 * 1024 * 1024))  # incompressible: --verify-data takes seconds
    borg(c.work, PASSPHRASE, "init", "--encryption=repokey-blake2", repo)
    borg(c.work, PASSPHRASE, "create", f"{repo}::big", str(data))
    shutil.rmtree(data)
    c.open("/repos/big")
    form = b.find("#check-form")
    form.find_elements("css selector", "input[type=checkbox]")[1].click()  # verify data
    b.type(form.find_element("css selector", "input[type=password]"), PASSPHRASE)
    b.button("Start check", "#check-form").click()
    wait(lambda: re.fullmatch(r"/jobs/j_[0-9a-f]{12}", b.path()), "on the job page")
    job_id = b.path().rsplit("/", 1)[1]
    wait(lambda: "Starting repository check" in b.find("#job-log").text, "the job is running")
    b.find("#cancel-job").click()
    b.button("Cancel job", "dialog").click()
    wait(lambda: b.find("#job-status").get_attribute("data-status") == "cancelled", "status cancelled", timeout=60)
    check(not b.find("#cancel-job", visible=False).is_displayed(), "no cancel once finished")
    job = c.server.api("GET", f"/jobs/{job_id}")[1]
    check(job["status"] == "cancelled", f"cancelled on the server: {job}")
    c.note(f"cancelled with exit code {job['exit_code']}; last line: {job['log_tail'][-1]!r}")
    b.screenshot("job-cancelled")
    check(c.server.api("DELETE", "/repos/big")[0] == 204, "repo big deleted")


@test
def schedule(c):
    """Create, edit, disable, enable and delete a schedule; next run local, UTC on hover."""
    b = c.b
    c.open("/repos/laptop")
    b.find("#append-only")
    form = b.find("form[aria-label='New schedule']")
    from selenium.webdriver.support.ui import Select
    selects = form.find_elements("css selector", "select")
    Select(selects[0]).select_by_value("check")
    Select(selects[1]).select_by_value("weekly")
    Select(form.find_elements("css selector", "select")[2]).select_by_visible_text("Wednesday")
    numbers = form.find_elements("css selector", "input[type=number]")
    b.type(numbers[0], "4")
    b.type(numbers[1], "30")
    b.button("Add schedule").click()
    b.wait_text("weekly on Wednesday at 04:30")
    schedules = c.server.api("GET", "/repos/laptop/schedules")[1]
    check(len(schedules) == 1, f"one schedule: {schedules}")
    s = schedules[0]
    row = b.find(f'tr[data-id="{s["id"]}"]')
    t = row.find_element("css selector", "time")
    check(t.get_attribute("datetime") == s["next_run"], "next run's UTC value")
    check(s["next_run"] in t.get_attribute("title"), f"UTC on hover: {t.get_attribute('title')}")
    local = b.js("return new Intl.DateTimeFormat(undefined, {year:'numeric', month:'short', day:'numeric', hour:'2-digit', minute:'2-digit'}).format(new Date(arguments[0]))", s["next_run"])
    check(t.text == local, f"next run in local time: {t.text!r} vs {local!r}")
    # Edit in a dialog.
    row.find_element("css selector", "button").click()  # Edit
    dialog = b.find("dialog[open]")
    hour = dialog.find_elements("css selector", "input[type=number]")[0]
    b.type(hour, "5")
    b.screenshot("schedule-edit")
    b.button("Save", "dialog").click()
    b.wait_text("weekly on Wednesday at 05:30")
    check(c.server.api("GET", f"/schedules/{s['id']}")[1]["hour"] == 5, "hour changed on the server")
    # Disable, enable.
    b.find(f'tr[data-id="{s["id"]}"] input[role=switch]').click()
    wait(lambda: c.server.api("GET", f"/schedules/{s['id']}")[1]["enabled"] is False, "disabled on the server")
    wait(lambda: "paused" in b.find(f'tr[data-id="{s["id"]}"]').text, "row says paused")
    b.find(f'tr[data-id="{s["id"]}"] input[role=switch]').click()
    wait(lambda: c.server.api("GET", f"/schedules/{s['id']}")[1]["enabled"] is True, "enabled again")
    b.nav("Schedules")
    b.find(f'tr[data-id="{s["id"]}"]')
    b.screenshot("schedules")
    b.button("Delete", f'tr[data-id="{s["id"]}"]').click()
    b.button("Delete", "dialog").click()
    wait(lambda: not b.find_all(f'tr[data-id="{s["id"]}"]'), "schedule row gone")
    check(c.server.api("GET", "/schedules")[1] == [], "no schedule left")


@test
def alert(c):
    """Create an alert, send a test to a local receiver (and to one that answers 404), delete it."""
    b = c.b
    c.open("/repos/laptop")
    form = b.find("form[aria-label='New alert']")
    b.type(form.find_element("css selector", "input[type=url]"), c.receiver.url + "/hook")
    b.type(form.find_element("css selector", "input[type=password]"), "s3cret")
    b.button("Add alert").click()
    alerts = wait(lambda: c.server.api("GET", "/repos/laptop/alerts")[1], "alert on the server")
    a = alerts[0]
    check(a["has_secret"] and a["stale_after_hours"] == 26, f"alert: {a}")
    row = b.find(f'tr[data-id="{a["id"]}"]')
    check("signed" in row.text, "signed badge")
    b.button("Send test", f'tr[data-id="{a["id"]}"]').click()
    wait(lambda: "Test delivered" in b.find(f'tr[data-id="{a["id"]}"]').text, "test delivered")
    got = [d for d in c.receiver.deliveries if d["path"] == "/hook"]
    check(got and json.loads(got[-1]["body"])["event"] == "test", f"receiver got the test: {got}")
    check(any(k.lower() == "x-borgbox-signature" for k in got[-1]["headers"]), "signed delivery")
    # Point it at /fail: the server's 502 message, verbatim.
    b.button("Edit", f'tr[data-id="{a["id"]}"]').click()
    dialog = b.find("dialog[open]")
    b.type(dialog.find_element("css selector", "input[type=url]"), c.receiver.url + "/fail")
    b.button("Save", "dialog").click()
    wait(lambda: c.server.api("GET", f"/alerts/{a['id']}")[1]["webhook_url"].endswith("/fail"), "URL changed")
    check(c.server.api("GET", f"/alerts/{a['id']}")[1]["has_secret"], "edit kept the secret")
    b.find(f'tr[data-id="{a["id"]}"]')
    b.button("Send test", f'tr[data-id="{a["id"]}"]').click()
    c.expect_failed_request(f"/api/v1/alerts/{a['id']}/test", 502)  # the webhook answered 404
    wait(lambda: "webhook returned 404" in b.find(f'tr[data-id="{a["id"]}"]').text, "server's message")
    b.nav("Alerts")
    b.find(f'tr[data-id="{a["id"]}"]')
    b.screenshot("alerts")
    b.find(f'tr[data-id="{a["id"]}"] input[role=switch]').click()
    wait(lambda: c.server.api("GET", f"/alerts/{a['id']}")[1]["enabled"] is False, "disabled")
    b.button("Delete", f'tr[data-id="{a["id"]}"]').click()
    b.button("Delete", "dialog").click()
    wait(lambda: not b.find_all(f'tr[data-id="{a["id"]}"]'), "alert row gone")
    check(c.server.api("GET", "/alerts")[1] == [], "no alert left")


def assert_inert(c, where):
    """Nothing injected ran or became markup; hidden characters are shown, not applied."""
    b = c.b
    check(b.js("return window.__pwned") == 0, f"{where}: an injected script ran")
    check(not b.js("return document.querySelector('main img, main script, main iframe, main [onerror]')"),
          f"{where}: injected markup became elements")
    hrefs = b.js("return [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    check(all(h.startswith("/") or h.startswith("#") for h in hrefs), f"{where}: a link from data: {hrefs}")
    check(BIDI not in b.js("return document.body.textContent"), f"{where}: a direction override reached the page")


@test
def bad_input_is_text(c):
    """Repo names, key comments, archive names and job log lines with markup, quotes,
    javascript: and direction overrides are shown as text on every screen that shows them."""
    b = c.b
    root = c.server.repo_root
    for name in PAYLOADS.values():
        (root / name).mkdir()
    # Overview: every name as text.
    b.nav("Overview")
    for key, name in PAYLOADS.items():
        wait(lambda: b.js("return [...document.querySelectorAll('#repos tr[data-name]')].some(tr => tr.dataset.name === arguments[0])", name),
             f"overview row for {key}")
        shown = b.js("return [...document.querySelectorAll('#repos tbody th a')].map(a => a.textContent)")
        check(SHOWN[key] in shown, f"overview shows {key} as text: {shown}")
    assert_inert(c, "overview")
    b.screenshot("bad-input-overview")
    # The repo page of each (the API refuses such names: the console says why, without a request).
    for key, name in PAYLOADS.items():
        link = [a for a in b.find_all("#repos tbody th a") if a.get_attribute("data-repo") == name][0]
        link.click()
        wait(lambda: b.find("#repo-name").text == SHOWN[key], f"repo page title for {key}")
        check("not a valid repository name" in b.text("main"), "explains the name")
        assert_inert(c, f"repo page {key}")
        if key == "script":
            b.screenshot("bad-input-repo-page")
        b.driver.back()
        b.find("#repos tbody")
    # A key comment (the API strips quotes, backslashes and non-ASCII, keeps the rest).
    public, _, fp = keygen(c.work, "odd-key", "x")
    comment = "<script>alert(1)</script> <img src=x onerror=alert(1)> javascript:alert(1) \"q\" " + BIDI
    status, _ = c.server.api("POST", "/repos/laptop/keys", {"public_key": public, "comment": comment})
    check(status == 201, "odd key added")
    stored = [k for k in c.server.api("GET", "/repos/laptop/keys")[1] if k["fingerprint"] == fp][0]["comment"]
    # Archive names, made by real borg.
    repo = str(root / "laptop")
    for name in PAYLOADS.values():
        borg(c.work, PASSPHRASE, "create", f"{repo}::{name}", str(c.work / "data"))
    c.open("/repos/laptop")
    row = b.find(f'tr[data-fingerprint="{fp}"]')
    check(row.find_element("css selector", "td.comment").text == stored, f"comment as text: {row.text!r} vs {stored!r}")
    b.find("#list-archives").click()
    dialog = b.find("dialog[open]")
    b.type(dialog.find_element("css selector", "input[type=password]"), PASSPHRASE)
    dialog.find_element("css selector", "button[type=submit]").click()
    b.wait_text("6 archives")
    names = b.js("return [...document.querySelectorAll('main .archive-name')].map(e => e.textContent)")
    for key in PAYLOADS:
        check(SHOWN[key] in names, f"archive {key} as text: {names}")
    assert_inert(c, "archives")
    b.screenshot("bad-input-repo")
    # Job log lines: borg check names every archive it analyses.
    form = b.find("#check-form")
    b.type(form.find_element("css selector", "input[type=password]"), PASSPHRASE)
    b.button("Start check", "#check-form").click()
    wait(lambda: re.fullmatch(r"/jobs/j_[0-9a-f]{12}", b.path()), "on the job page")
    wait(lambda: b.find("#job-status").get_attribute("data-status") == "done", "job done", timeout=60)

    def log_has_all():
        log = b.find("#job-log").text
        return all(f"Analyzing archive {SHOWN[k]}" in log for k in PAYLOADS)
    wait(log_has_all, "every archive name in the live log")
    assert_inert(c, "live job log")
    b.screenshot("bad-input-job-live")
    # The same job opened afresh: the log from log_tail.
    b.get(b.driver.current_url)
    wait(lambda: b.find("#job-status").get_attribute("data-status") == "done", "finished job page")
    wait(log_has_all, "every archive name in the finished log")
    assert_inert(c, "finished job log")
    b.nav("Jobs")
    b.find("main table")
    assert_inert(c, "jobs list")
    # Webhook URLs: the API takes only RFC 3986 characters (no markup, double quotes or
    # direction overrides); what it takes that still looks hostile is shown as text.
    for bad in ("http://h/<script>alert(1)</script>", 'http://h/"q"', "http://h/" + BIDI + "x"):
        status, err = c.server.api("POST", "/repos/laptop/alerts", {"stale_after_hours": 26, "webhook_url": bad})
        check(status == 400, f"{bad!r} accepted: {status} {err}")
    ids = []
    urls = {"quote": "http://h/x'onmouseover='alert(1)'",
            "javascript": "http://h/javascript:alert(1)",
            "encoded": "http://h/%3Cscript%3Ealert(1)%3C/script%3E"}
    for key, url in urls.items():
        status, a = c.server.api("POST", "/repos/laptop/alerts", {"stale_after_hours": 26, "webhook_url": url})
        check(status == 201, f"alert with {key}: {a}")
        ids.append(a["id"])
    for screen in ("/alerts", "/repos/laptop"):
        c.open(screen)
        for key, id_ in zip(urls, ids):
            cell = b.find(f'tr[data-id="{id_}"] .url')
            check(cell.text == urls[key], f"webhook URL {key} as text on {screen}: {cell.text!r}")
        assert_inert(c, f"webhook URLs on {screen}")
    b.button("Edit", f'tr[data-id="{ids[0]}"]').click()
    dialog = b.find("dialog[open]")
    check(dialog.find_element("css selector", "input[type=url]").get_property("value") == urls["quote"],
          "the edit form holds the URL as a value")
    b.button("Cancel", "dialog").click()
    assert_inert(c, "alert edit form")
    b.screenshot("bad-input-alerts")
    for id_ in ids:
        c.server.api("DELETE", f"/alerts/{id_}")
    for name in PAYLOADS.values():
        (root / name).rmdir()
    c.server.api("DELETE", f"/repos/laptop/keys/{fp}")


@test
def interrupted_session_keeps_typing(c):
    """A server that went away between two requests, and one that answers 401 mid-session:
    the user gets back to work (after signing in again) with everything typed still there."""
    b = c.b
    public, _, _ = keygen(c.work, "draft-key", "draft")
    b.nav("New repository")
    form = b.find("#create-form")
    b.type(form.find_element("css selector", "input[name=name]"), "draft")
    b.type(form.find_element("css selector", "textarea"), public)
    # 1. The server is gone when the user submits (idled out, not socket-activated).
    c.server.stop()
    b.button("Create repository").click()
    c.expect_failed_request("/api/v1/repos", "refused")  # the server is down
    b.wait_text("borgbox is not reachable", "#create-form")
    check(form.find_element("css selector", "input[name=name]").get_property("value") == "draft", "name kept")
    check(form.find_element("css selector", "textarea").get_property("value") == public, "key kept")
    b.screenshot("server-gone")
    # 2. It comes back with another token: the next request is a 401 → sign-in, over the page.
    token = "console-test-token-" + "7" * 21
    c.server.start(token=token)
    b.button("Create repository").click()
    c.expect_failed_request("/api/v1/repos", 401)  # the token changed
    b.find("#signin input[name=token]")
    b.wait_text("no longer accepts", "#signin")
    b.screenshot("session-expired")
    check(not b.find_all("main")[0].is_displayed(), "page hidden behind sign-in")
    c.sign_in("  " + token + " ")
    form = b.find("#create-form")
    check(form.find_element("css selector", "input[name=name]").get_property("value") == "draft", "name kept after sign-in")
    check(form.find_element("css selector", "textarea").get_property("value") == public, "key kept after sign-in")
    check("Signed in again" in b.text("#notices"), "says what happened")
    # 3. An idle exit between two requests (the same server again, same token): no trace.
    c.server.stop()
    c.server.start(token=token)
    b.button("Create repository").click()
    b.wait_text("created")
    check(c.server.api("GET", "/repos/draft")[0] == 200, "draft repo created")
    c.server.api("DELETE", "/repos/draft")


@test
def delete_repo(c):
    """Delete a repo after typing its name."""
    b = c.b
    c.open("/repos/laptop")
    b.find("#delete-repo").click()
    dialog = b.find("dialog[open]")
    confirm = [x for x in dialog.find_elements("css selector", "button") if x.text == "Delete forever"][0]
    check(not confirm.is_enabled(), "disabled before typing")
    field = dialog.find_element("css selector", "input")
    b.type(field, "laptop2")
    check(not confirm.is_enabled(), "disabled for a wrong name")
    b.type(field, "laptop")
    check(confirm.is_enabled(), "enabled for the exact name")
    b.screenshot("delete-confirm")
    confirm.click()
    wait(lambda: b.path() == "/", "back on the overview")
    wait(lambda: not b.find_all("#repos tr[data-name=laptop]"), "row gone")
    check(not (c.server.repo_root / "laptop").exists(), "directory gone")
    check(c.server.api("GET", "/repos")[1] == [], "no repo left")
    b.screenshot("overview-empty")


def docs_screenshot(c):
    """README's picture: a few repos in the states the overview tells apart."""
    b = c.b
    root = c.server.repo_root
    data = c.work / "data"
    data.mkdir(exist_ok=True)
    (data / "notes.txt").write_text("hello borgbox\n" * 2000)
    for name, hours, append_only, quota in [("laptop", 2, True, 50_000_000_000), ("nas", 30, False, 0),
                                            ("old-mac", 80, False, 200_000_000_000), ("phone", None, False, 0)]:
        public, _, _ = keygen(c.work, f"docs-{name}", name)
        body = {"name": name, "pubkey": public, "append_only": append_only}
        if quota:
            body["storage_quota_bytes"] = quota
        c.server.api("POST", "/repos", body)
        if hours is None:
            continue
        borg(c.work, PASSPHRASE, "init", "--encryption=repokey-blake2", str(root / name))
        borg(c.work, PASSPHRASE, "create", f"{root / name}::one", str(data))
        when = time.time() - hours * 3600
        for f in root.joinpath(name).iterdir():
            if f.name.startswith(("hints.", "integrity.", "index.")):
                os.utime(f, (when, when))
    c.open("/")
    wait(lambda: b.find_all("#repos .age-warn") and b.find_all("#repos .age-bad"), "amber and red ages", timeout=40)
    time.sleep(0.5)
    b.driver.set_window_size(1280, 900)
    path = b.screenshot("docs-overview", full=False)
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copy(path, ROOT / "docs" / "console-overview.png")
    print(f"updated docs/console-overview.png from {path.name}")


# -- running ------------------------------------------------------------------------------


def browser_errors(c, entries):
    """Console entries that are errors, minus the failed requests the test provoked (Chrome
    logs every non-2xx fetch as "Failed to load resource", whatever the page does with it)."""
    bad = []
    for e in entries:
        if e.get("level") not in ("SEVERE", "ERROR"):
            continue
        message = e.get("message", "")
        if e.get("source") == "network" and c.is_expected(message):
            continue
        bad.append(message)
    return bad


def run_tests(c, only):
    results = []
    for fn in TESTS:
        if only and fn.__name__ not in only:
            continue
        c.expected = []
        c.b.logs()  # drop what came before
        started = time.monotonic()
        error = None
        try:
            fn(c)
        except Exception as e:  # noqa: BLE001 - reported below, and the run fails
            error = e if isinstance(e, Failure) else Failure("".join(traceback.format_exception(e)))
        try:
            csp = c.b.csp()
            errors = browser_errors(c, c.b.logs())
        except Exception as e:  # noqa: BLE001
            csp, errors = [], [f"could not read the browser's logs: {e}"]
        if error is None and errors:
            error = Failure(f"browser console errors: {errors}")
        if error is None and csp:
            error = Failure(f"CSP violations: {csp}")
        took = time.monotonic() - started
        results.append((fn.__name__, error, took))
        mark = "ok  " if error is None else "FAIL"
        print(f"{mark} {fn.__name__} ({took:.1f}s)", flush=True)
        if error is not None:
            print("     " + str(error).replace("\n", "\n     "), flush=True)
            try:
                c.b.screenshot(f"FAILED-{fn.__name__}")
            except Exception:  # noqa: BLE001
                pass
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="where screenshots go (default: a new temp dir)")
    parser.add_argument("--only", nargs="*", help="run only these tests")
    parser.add_argument("--keep", action="store_true", help="keep the temp tree")
    parser.add_argument("--update-docs", action="store_true", help="copy the overview screenshot to docs/")
    parser.add_argument("--no-bench", action="store_true", help="skip the size and paint numbers")
    args = parser.parse_args()

    started = time.monotonic()
    binary = build_borgbox()
    work = Path(tempfile.mkdtemp(prefix="borgbox-console-", dir="/var/tmp"))
    out = Path(args.out) if args.out else work / "screenshots"
    print(f"console tests: screenshots in {out}", flush=True)
    server = Server(binary, work)
    receiver = Receiver()
    browser = None
    try:
        server.start()
        browser = Browser(work, out, spki=server.spki)
        c = Context(work, out, server, browser, receiver)
        results = run_tests(c, args.only)
        if args.update_docs and not any(error for _, error, _ in results):
            docs_screenshot(c)
    finally:
        if browser:
            browser.close()
        server.stop()
        receiver.close()
    failed = [name for name, error, _ in results if error is not None]
    if not args.no_bench and not failed:
        sys.path.insert(0, str(ROOT / "bench"))
        import console as bench  # bench/console.py
        bench.run(binary, runs=5)
    print(f"\nconsole tests: {len(results) - len(failed)} passed, {len(failed)} failed "
          f"in {time.monotonic() - started:.0f}s; screenshots in {out}")
    if not args.keep and not failed and not args.out:
        # Keep the screenshots, drop the rest (repos, keys, profile).
        for child in work.iterdir():
            if child != out:
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink()
    if failed:
        print(f"FAILED: {' '.join(failed)}; everything kept in {work}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
