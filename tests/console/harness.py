"""What the console tests and bench/console.py share: a real `borgbox serve --dev` on a free
port, a local webhook receiver, real borg and ssh-keygen, and a headless Debian Chromium
driven by selenium through Debian's chromedriver (never Selenium Manager, which would try
to download a driver), with console errors and CSP violations collected for every test.
"""

import base64
import contextlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BORGBOX_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BORGBOX_CHROMEDRIVER", "/usr/bin/chromedriver")

# Installed into every page before its own scripts (CDP), since the CSP lets no inline
# script run: records CSP violations, replaces alert() with a counter (an injected payload
# that ran would bump it), and timestamps job log lines and status changes as they reach
# the DOM, which is how a test proves the log arrived live.
PAGE_PROBE = r"""
window.__csp = [];
window.__pwned = 0;
window.__lines = [];
window.__statuses = [];
window.alert = function () { window.__pwned += 1; };
window.confirm = function () { window.__pwned += 1; return false; };
window.prompt = function () { window.__pwned += 1; return null; };
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample,
                     source: e.sourceFile + ':' + e.lineNumber});
}, true);
new MutationObserver(function (mutations) {
  var t = performance.now();
  var statusEl = document.getElementById('job-status');
  var status = statusEl ? (statusEl.dataset.status || '') : '';
  var cancel = document.getElementById('cancel-job');
  var cancelShown = !!(cancel && !cancel.hidden);
  for (var m of mutations) {
    if (m.type === 'attributes') {
      window.__statuses.push([t, m.target.dataset.status || '']);
      continue;
    }
    for (var n of m.addedNodes) {
      if (n.nodeType === 1 && n.classList.contains('line')) {
        window.__lines.push([t, n.textContent, status, cancelShown]);
      }
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
"""


class Failure(AssertionError):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def wait(predicate, what, timeout=15.0, interval=0.05):
    """Polls until predicate() is truthy; fails with the last value seen."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = predicate()
        except Exception as e:  # noqa: BLE001 - a stale element is "not yet"
            last = f"{type(e).__name__}: {e}"
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise Failure(f"{what}: not after {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_borgbox():
    """The debug binary (cargo test has normally built it already)."""
    binary = os.environ.get("BORGBOX_BIN")
    if binary:
        return Path(binary)
    subprocess.run(["cargo", "build", "--locked", "--quiet"], cwd=ROOT, check=True)
    return ROOT / "target" / "debug" / "borgbox"


class Server:
    """`borgbox serve --dev` in its own directory on 127.0.0.1:<port>; restartable (same
    port, same tree) to play an idle exit or a token change. Spoken to over HTTPS with the
    certificate serve --dev made: this client trusts that certificate, the browser its
    public key (`spki`, for --ignore-certificate-errors-spki-list)."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.dir = Path(workdir) / "dev"
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.plain_base = f"http://127.0.0.1:{self.port}"
        self.process = None
        self.token = None
        self.spki = None
        self.tls = None
        self.log = open(Path(workdir) / "serve.log", "ab")

    def start(self, token=None):
        args = [str(self.binary), "serve", "--dev", "--dev-dir", str(self.dir),
                "--addr", f"127.0.0.1:{self.port}", "--ssh-host", "backup.test", "--ssh-user", "borg"]
        if token:
            args += ["--token", token]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BORGBOX_")}
        self.process = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=env)
        wait(lambda: (self.dir / "tls" / "cert.pem").exists(), "serve --dev making its certificate",
             timeout=20)
        cert = self.dir / "tls" / "cert.pem"
        self.tls = ssl.create_default_context(cafile=str(cert))
        shown = subprocess.run([str(self.binary), "tls", "show", "--cert", str(cert)],
                               capture_output=True, text=True, check=True).stdout.splitlines()
        self.spki = shown[shown.index("SHA-256 of the public key (base64):") + 1].strip()
        wait(self._healthy, "borgbox serve --dev answering /api/v1/health over https", timeout=20)
        self.token = token or (self.dir / "token").read_text().strip()

    def _healthy(self):
        if self.process.poll() is not None:
            raise Failure(f"borgbox exited with {self.process.returncode}; see serve.log")
        try:
            with urllib.request.urlopen(self.base + "/api/v1/health", timeout=1, context=self.tls) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def repo_root(self):
        return self.dir / "repos"

    def api(self, method, path, body=None, headers=None, token=None):
        """A call to the API outside the browser: (status, decoded JSON or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + (token or self.token))
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.tls) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, (json.loads(raw) if raw else None)


class Receiver:
    """A local webhook endpoint: /hook answers 200, /fail 404; keeps every delivery."""

    def __init__(self):
        self.deliveries = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                outer.deliveries.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(404 if self.path.startswith("/fail") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def keygen(directory, name, comment):
    """A fresh ed25519 key from the real ssh-keygen: (public line, path, fingerprint)."""
    path = Path(directory) / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    public = path.with_suffix(".pub").read_text().strip()
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path.with_suffix(".pub"))],
                         check=True, capture_output=True, text=True).stdout
    return public, path.with_suffix(".pub"), out.split()[1]


def borg(workdir, passphrase, *args):
    """Real borg on a local path, as a client would run it over SSH."""
    env = dict(os.environ, BORG_PASSPHRASE=passphrase, BORG_BASE_DIR=str(Path(workdir) / "client-borg"))
    out = subprocess.run(["borg", *args], env=env, capture_output=True, text=True)
    check(out.returncode == 0, f"borg {' '.join(args)} failed: {out.stderr}")
    return out.stdout


class Browser:
    """Headless Chromium through selenium and Debian's chromedriver."""

    def __init__(self, workdir, outdir, spki=None):
        # Never let selenium reach for the network to find a driver or a browser.
        os.environ["SE_OFFLINE"] = "true"
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.outdir = Path(outdir)
        self.outdir.mkdir(parents=True, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US",
                     f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        if spki:
            # serve --dev's self-signed certificate, trusted by its public key only.
            options.add_argument(f"--ignore-certificate-errors-spki-list={spki}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_output=str(Path(workdir) / "chromedriver.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_script_timeout(30)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PAGE_PROBE})
        self.shots = 0
        self.csp_seen = []

    def close(self):
        with contextlib.suppress(Exception):
            self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # -- observation -------------------------------------------------------------------

    def logs(self):
        return self.driver.get_log("browser")

    def csp(self):
        found = self.driver.execute_script("return window.__csp || []")
        self.driver.execute_script("if (window.__csp) window.__csp.length = 0")
        self.csp_seen.extend(found)
        return found

    def screenshot(self, name, full=True):
        """A PNG of the page (the whole scrollable page when full) into the output dir."""
        self.shots += 1
        path = self.outdir / f"{self.shots:02d}-{name}.png"
        params = {"format": "png"}
        if full:
            metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1})
        data = self.driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def dark(self, on):
        features = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
        self.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})

    # -- interaction -------------------------------------------------------------------

    def get(self, url):
        self.csp()  # keep what the page saw before it goes
        self.driver.get(url)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css, timeout=10, visible=True):
        from selenium.webdriver.common.by import By

        def found():
            for el in self.driver.find_elements(By.CSS_SELECTOR, css):
                if not visible or el.is_displayed():
                    return el
            return None
        return wait(found, f"element {css}", timeout=timeout)

    def find_all(self, css):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def button(self, text, within="body", timeout=10):
        """A visible, enabled button (or link styled as one) whose text is exactly `text`."""
        from selenium.webdriver.common.by import By

        def found():
            for el in self.driver.find_elements(By.CSS_SELECTOR, f"{within} button, {within} a.button"):
                if el.text.strip() == text and el.is_displayed() and el.is_enabled():
                    return el
            return None
        return wait(found, f"button {text!r} in {within}", timeout=timeout)

    def text(self, css="body"):
        return self.find(css).text

    def wait_text(self, needle, css="main", timeout=15):
        return wait(lambda: needle in self.text(css), f"{needle!r} in {css}", timeout=timeout)

    def type(self, el, text, clear=True):
        if clear:
            el.clear()
        el.send_keys(text)

    def nav(self, label):
        from selenium.webdriver.common.by import By
        for a in self.driver.find_elements(By.CSS_SELECTOR, "header nav a"):
            if a.text.strip() == label:
                a.click()
                return
        raise Failure(f"no nav link {label}")

    def path(self):
        return self.js("return location.pathname")
