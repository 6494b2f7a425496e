// The console's entry point: client-side routing over the History API, the sign-in
// overlay, and the life cycle of views (each gets an AbortSignal and timers that stop when
// the user leaves, and pause while signed out or while the tab is hidden).

import * as api from "./api.js";
import { h, fill, notice, clearNotices } from "./dom.js";
import { signInForm } from "./view-signin.js";
import { overviewView } from "./view-overview.js";
import { repoView } from "./view-repo.js";
import { createView } from "./view-create.js";
import { jobsView, jobView } from "./view-jobs.js";
import { schedulesView } from "./view-schedules.js";
import { alertsView } from "./view-alerts.js";

const ROUTES = [
  [/^\/$/, overviewView, "/"],
  [/^\/repos\/new$/, createView, "/repos/new"],
  [/^\/repos\/([^/]+)$/, repoView, "/"],
  [/^\/jobs$/, jobsView, "/jobs"],
  [/^\/jobs\/([^/]+)$/, jobView, "/jobs"],
  [/^\/schedules$/, schedulesView, "/schedules"],
  [/^\/alerts$/, alertsView, "/alerts"],
];

const main = document.getElementById("main");
const top = document.getElementById("top");
const signinEl = document.getElementById("signin");

const SIGNED_OUT = "borgbox.signed-out";
let current = null; // { controller, timers, resumers }
let signedOut = false;
let rendered = false;

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function markNav(section) {
  for (const a of top.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}

function dispose() {
  if (!current) return;
  current.controller.abort();
  for (const t of current.timers) clearInterval(t);
  current = null;
}

function context() {
  const state = { controller: new AbortController(), timers: [], resumers: [] };
  current = state;
  return {
    signal: state.controller.signal,
    navigate,
    title(text) {
      document.title = text + " · borgbox";
    },
    /** Runs fn every ms while this view is shown, the user signed in and the tab visible. */
    every(ms, fn) {
      const t = setInterval(() => {
        if (signedOut || document.hidden || state.controller.signal.aborted) return;
        Promise.resolve(fn()).catch(() => {});
      }, ms);
      state.timers.push(t);
    },
    /** Runs fn after the user signs in again on top of this view. */
    onResume(fn) {
      state.resumers.push(fn);
    },
  };
}

let renderedPath = null;

async function render({ focus = false } = {}) {
  dispose();
  clearNotices();
  const path = location.pathname;
  renderedPath = path;
  const ctx = context();
  let view = null;
  let params = [];
  let section = "";
  for (const [pattern, fn, nav] of ROUTES) {
    const m = pattern.exec(path);
    if (m) {
      view = fn;
      params = m.slice(1).map(decode);
      section = nav;
      break;
    }
  }
  markNav(section);
  fill(main);
  rendered = true;
  if (!view) {
    ctx.title("Not found");
    fill(main, h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, "No page here. ", h("a", { href: "/" }, "Go to the overview.")));
    return;
  }
  try {
    await view(main, params, ctx);
  } catch (error) {
    if (ctx.signal.aborted) return;
    fill(main, h("h1", { tabindex: "-1" }, "Something went wrong"), h("p", { class: "slot err" }, error?.message ?? String(error)));
  }
  if (focus && !ctx.signal.aborted) main.querySelector("h1")?.focus();
}

export function navigate(to, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  render({ focus: true });
}

async function loadHost() {
  try {
    const stats = await api.get(api.path("system", "stats"));
    fill(document.getElementById("host"), stats.hostname);
  } catch {
    // The overview shows the error; the header just stays empty.
  }
}

function showSignIn(reason) {
  if (!signinEl.hidden) return;
  signedOut = true;
  top.hidden = true;
  main.hidden = true; // kept, not cleared: the user's typing survives re-signing in
  signinEl.hidden = false;
  fill(signinEl, signInForm(reason, onSignedIn));
  signinEl.querySelector("input")?.focus();
}

function onSignedIn() {
  signedOut = false;
  signinEl.hidden = true;
  signinEl.replaceChildren();
  top.hidden = false;
  main.hidden = false;
  loadHost();
  if (!rendered) {
    render({ focus: true });
    return;
  }
  notice("Signed in again. Anything you typed is still here; repeat the last action if it did not go through.", "info");
  for (const fn of current?.resumers ?? []) Promise.resolve(fn()).catch(() => {});
  main.querySelector("h1")?.focus();
}

/** Forgets the token, then reloads so that nothing read with it stays in memory. */
function signOut() {
  api.forgetToken();
  dispose();
  fill(main);
  try {
    sessionStorage.setItem(SIGNED_OUT, "1");
  } catch {
    // The sign-in screen just will not say why.
  }
  location.replace("/");
}

api.onUnauthorized(() => showSignIn("expired"));

document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest?.("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const href = a.getAttribute("href");
  if (!href.startsWith("/") || href.startsWith("//") || href.startsWith("/api/")) return;
  event.preventDefault();
  if (href !== location.pathname) navigate(href);
});

// A fragment link (the skip link) also fires popstate: only a new path is a new page.
window.addEventListener("popstate", () => {
  if (signedOut) {
    rendered = false; // drawn once the user has signed in
    return;
  }
  if (location.pathname !== renderedPath || !rendered) render({ focus: true });
});
document.getElementById("signout").addEventListener("click", signOut);

// Nothing fails silently: an error no view caught becomes a notice.
// (The browser still logs them: the tests fail on any console error.)
window.addEventListener("unhandledrejection", (event) => {
  notice(event.reason instanceof Error ? event.reason : String(event.reason));
});
window.addEventListener("error", (event) => {
  notice(event.message || "unexpected error");
});

let justSignedOut = false;
try {
  justSignedOut = sessionStorage.getItem(SIGNED_OUT) === "1";
  sessionStorage.removeItem(SIGNED_OUT);
} catch {
  justSignedOut = false;
}
if (api.hasToken()) {
  top.hidden = false;
  main.hidden = false;
  loadHost();
  render();
} else {
  showSignIn(justSignedOut ? "signed-out" : "new");
}
