#!/usr/bin/env python3
"""Web console numbers (printed, never asserted; tests/console/run prints them too):

- size: every URL the overview loads (the page, its assets and the API answers it asks
  for), raw and gzip-compressed (level 6, what nginx and Caddy use for text with gzip on;
  borgbox itself sends no Content-Encoding, a TLS reverse proxy would). Target: ≤ 150 KB.
- paint: on 127.0.0.1 in headless Chromium, from navigation start (Navigation Timing) to
  first contentful paint and to the overview's first meaningful paint: the server facts
  and the repos table drawn from live data (the console marks `borgbox:overview-ready`
  when they are in the DOM and `borgbox:overview-painted` after the next frame), with the
  HTTP cache off (cold) and on (warm); median of N loads. Target: ≤ 300 ms.

    tests/console/run provides chromium, chromedriver and selenium; standalone:
    /var/tmp/borgbox-console-venv/bin/python bench/console.py [--runs N] [--repos N]
"""

import argparse
import gzip
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "console"))
from harness import Browser, Server, build_borgbox, keygen, wait  # noqa: E402


def load(browser, url):
    browser.get(url)
    wait(lambda: browser.js("return performance.getEntriesByName('borgbox:overview-painted').length"),
         "overview painted", timeout=20)
    return browser.js(
        """
        const nav = performance.getEntriesByType('navigation')[0];
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        const ready = performance.getEntriesByName('borgbox:overview-ready')[0];
        const painted = performance.getEntriesByName('borgbox:overview-painted')[0];
        return {fcp: fcp ? fcp.startTime : null, ready: ready.startTime, painted: painted.startTime,
                dcl: nav.domContentLoadedEventEnd,
                urls: [location.href, ...performance.getEntriesByType('resource').map(r => r.name)]};
        """
    )


def sizes(server, urls):
    rows = []
    seen = set()
    for url in urls:
        if url in seen:
            continue
        seen.add(url)
        request = urllib.request.Request(url)
        if "/api/" in url:
            request.add_header("Authorization", "Bearer " + server.token)
        with urllib.request.urlopen(request, context=server.tls) as r:
            body = r.read()
        rows.append((url.replace(server.base, ""), len(body), len(gzip.compress(body, compresslevel=6))))
    return rows


def run(binary, runs=5, repos=5):
    work = Path(tempfile.mkdtemp(prefix="borgbox-console-bench-", dir="/var/tmp"))
    server = Server(binary, work)
    browser = None
    try:
        server.start()
        for i in range(repos):
            public, _, _ = keygen(work, f"k{i}", f"client{i}")
            server.api("POST", "/repos", {"name": f"client-{i}", "pubkey": public})
        browser = Browser(work, work / "shots", spki=server.spki)
        browser.get(server.base + "/")
        browser.js("sessionStorage.setItem('borgbox.token', arguments[0])", server.token)
        results = {}
        for label, cache_off in (("cold", True), ("warm", False)):
            browser.driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": cache_off})
            load(browser, server.base + "/")  # settle
            samples = [load(browser, server.base + "/") for _ in range(runs)]
            results[label] = samples
        urls = results["cold"][0]["urls"]
        rows = sizes(server, urls)
    finally:
        if browser:
            browser.close()
        server.stop()

    print("\nconsole bench: what the overview loads (raw / gzip -6)")
    for path, raw, gz in rows:
        print(f"  {path:48} {raw / 1000:7.1f} kB {gz / 1000:7.1f} kB")
    assets = [r for r in rows if not r[0].startswith("/api/")]
    api = [r for r in rows if r[0].startswith("/api/")]
    total_raw = sum(r[1] for r in rows)
    total_gz = sum(r[2] for r in rows)
    print(f"  {'page + assets':48} {sum(r[1] for r in assets) / 1000:7.1f} kB {sum(r[2] for r in assets) / 1000:7.1f} kB")
    print(f"  {'API answers (' + str(repos) + ' repos)':48} {sum(r[1] for r in api) / 1000:7.1f} kB {sum(r[2] for r in api) / 1000:7.1f} kB")
    print(f"  {'total (target ≤ 150 KB compressed)':48} {total_raw / 1000:7.1f} kB {total_gz / 1000:7.1f} kB")
    print(f"console bench: paint on 127.0.0.1, median of {runs} loads (target ≤ 300 ms for the overview)")
    for label, samples in results.items():
        fcp = statistics.median(s["fcp"] for s in samples if s["fcp"] is not None)
        ready = statistics.median(s["ready"] for s in samples)
        painted = statistics.median(s["painted"] for s in samples)
        worst = max(s["painted"] for s in samples)
        print(f"  {label:5} first contentful paint {fcp:4.0f} ms · overview in the DOM {ready:4.0f} ms · "
              f"overview painted {painted:4.0f} ms (worst {worst:.0f} ms)")
    for child in sorted(work.rglob("*"), reverse=True):
        child.rmdir() if child.is_dir() else child.unlink()
    work.rmdir()
    return {"bytes_gzip": total_gz, "bytes_raw": total_raw, "results": results}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--repos", type=int, default=5)
    args = parser.parse_args()
    run(build_borgbox(), runs=args.runs, repos=args.repos)


if __name__ == "__main__":
    main()
