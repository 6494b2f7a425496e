"""System cases for HTTPS on the API port (issue 19) under a real systemd: the pair the
postinst made (modes, `borgbox tls show`), a socket-activated request over TLS pinned by
public key, `systemctl reload` taking a new pair, and the first answer after an idle exit
over TLS next to plain HTTP. Reinstall keeping the pair and purge removing it are checked
by case_package_lifecycle (cases.py). Run by cases.py with its helpers."""

import statistics
import subprocess
import time

import cases as c
from cases import check, note, wait_for

TLS_DIR = "/etc/borgbox/tls"


def pin():
    """The public key pin `borgbox tls show` prints, run inside the container."""
    out = c.ct("borgbox", "tls", "show").stdout
    lines = out.splitlines()
    i = lines.index("SHA-256 of the public key (base64):")
    return lines[i + 1].strip(), out


def curl(path, pinned, plain=False, timeout=20):
    """curl on the host against the container's socket: (exit code, body, seconds)."""
    scheme = "http" if plain else "https"
    args = ["curl", "-sS", "--max-time", str(timeout), "-H", f"Authorization: Bearer {c.token()}"]
    if not plain:
        args += ["--insecure", "--pinnedpubkey", f"sha256//{pinned}"]
    started = time.monotonic()
    p = subprocess.run(args + [f"{scheme}://127.0.0.1:{c.API_PORT}/api/v1{path}"],
                       capture_output=True, text=True, timeout=timeout + 5)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - started


def case_pair_made_at_install():
    """postinst made an ECDSA pair: directory 0750 root:borg, key 0640 root:borg, certificate
    0644; `borgbox tls show` prints its names, expiry and pins."""
    modes = c.ct("stat", "-c", "%n %a %U:%G", TLS_DIR, f"{TLS_DIR}/cert.pem",
                 f"{TLS_DIR}/key.pem").stdout.split("\n")
    check(modes[:3] == [f"{TLS_DIR} 750 root:borg", f"{TLS_DIR}/cert.pem 644 root:root",
                        f"{TLS_DIR}/key.pem 640 root:borg"], f"modes: {modes}")
    key = c.ct("openssl", "pkey", "-in", f"{TLS_DIR}/key.pem", "-noout", "-text",
               check_rc=False)
    if key.returncode == 0:
        check("prime256v1" in key.stdout or "P-256" in key.stdout, key.stdout[:300])
    spki, shown = pin()
    check("localhost" in shown and "days left" in shown, shown)
    check(len(spki) == 44, shown)
    note(f"pair made at install; public key sha256//{spki}")


def case_socket_activated_request_over_tls():
    """After an idle exit, a request over TLS pinned by public key starts the service and is
    answered; /info says tls enabled with the same pin."""
    spki, _ = pin()
    c.wait_service_gone(c.IDLE_TIMEOUT + c.DRAIN + 5)
    rc, out, took = curl("/info", spki)
    check(rc == 0, f"curl over TLS: rc={rc} {out}")
    check(f'"pubkey_sha256":"{spki}"' in out and '"enabled":true' in out, out)
    rc, out, _ = curl("/info", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    check(rc != 0, f"a wrong pin was accepted: {out}")
    note(f"first answer over TLS through the socket: {took * 1000:.0f} ms (curl, incl. start)")


def case_reload_takes_a_new_pair():
    """`systemctl reload borgbox` (SIGHUP) makes the running service serve a new pair."""
    old, _ = pin()
    rc, out, _ = curl("/health", old)
    check(rc == 0, out)
    c.ct("borgbox", "tls", "init", "--force")
    c.ct("chgrp", "borg", f"{TLS_DIR}/key.pem")
    c.ct("chmod", "0640", f"{TLS_DIR}/key.pem")
    new, _ = pin()
    check(new != old, "tls init --force made the same key")
    since = c.ct("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    # The service must be running for a reload: a request just before it (idle exit 3 s).
    rc, out, _ = curl("/health", old)
    c.ct("systemctl", "reload", c.SERVICE)
    rc, out, _ = curl("/health", new)
    check(rc == 0, f"the new pair is not served: {out}")
    msgs = [e.get("MESSAGE", "") for e in c.journal("-u", c.SERVICE, "--since", since)]
    check(any("SIGHUP: serving TLS certificate" in m for m in msgs), f"journal: {msgs[-10:]}")
    note("systemctl reload: the running service serves the new pair")


def case_first_answer_after_idle_exit_tls_and_plain():
    """Numbers only (the issue's system-tier figure): first answer after an idle exit, TLS
    and plain HTTP alternately, median of 3 each; each followed by the same request to the
    running service, so that curl's own start (OpenSSL's set-up for TLS) can be taken out."""
    spki, _ = pin()
    cold = {"tls": [], "plain": []}
    warm = {"tls": [], "plain": []}
    for _ in range(3):
        for kind in ("tls", "plain"):
            c.wait_service_gone(c.IDLE_TIMEOUT + c.DRAIN + 5)
            rc, out, took = curl("/info", spki, plain=(kind == "plain"))
            check(rc == 0, f"{kind}: {out}")
            cold[kind].append(took * 1000)
            rc, out, took = curl("/info", spki, plain=(kind == "plain"))
            check(rc == 0, f"{kind}: {out}")
            warm[kind].append(took * 1000)
    med = {k: (statistics.median(cold[k]), statistics.median(warm[k])) for k in cold}
    extra = {k: med[k][0] - med[k][1] for k in med}
    note(f"first answer after idle exit, curl on the host, median of 3: TLS {med['tls'][0]:.0f} ms "
         f"(a running service: {med['tls'][1]:.0f} ms), plain {med['plain'][0]:.0f} ms "
         f"({med['plain'][1]:.0f} ms); activation adds TLS {extra['tls']:.0f} ms, plain "
         f"{extra['plain']:.0f} ms, difference {extra['tls'] - extra['plain']:+.0f} ms")


TLS_CASES = [
    ("tls: the pair made at install, its modes, borgbox tls show", case_pair_made_at_install),
    ("tls: a socket-activated request over TLS, pinned by public key",
     case_socket_activated_request_over_tls),
    ("tls: systemctl reload serves a new pair", case_reload_takes_a_new_pair),
    ("tls: first answer after an idle exit, TLS and plain (numbers)",
     case_first_answer_after_idle_exit_tls_and_plain),
]
