// Overview: the server (host, uptime, load, storage, borg version, backend) and every
// repository, sortable, refreshed in place every few seconds. GET /repos does not promise
// the detailed fields (last write, locked), so they come from GET /repos/{name}, fetched
// only when a repo's modified_at changed or its copy is older than DETAIL_TTL.

import * as api from "./api.js";
import { h, fill, slot, badge, uid } from "./dom.js";
import { bytes, duration, ageEl, ageSeconds, timeEl } from "./format.js";

const REFRESH_MS = 5000;
const DETAIL_TTL_MS = 30000;
const DETAIL_PARALLEL = 4;
const AMBER_S = 26 * 3600;
const RED_S = 72 * 3600;
export const VALID_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

const details = new Map(); // name → { modified_at, at, repo }
let sort = { key: "name", dir: 1 };

const COLUMNS = [
  ["name", "Name"],
  ["size", "Size"],
  ["quota", "Quota use"],
  ["write", "Last write"],
  ["append", "Append-only"],
  ["sessions", "Live sessions"],
  ["locked", "Locked"],
];

function lastWrite(repo) {
  const d = details.get(repo.name)?.repo;
  if (!repo.initialized) return null;
  return d?.last_write || repo.last_write || repo.modified_at || null;
}

function locked(repo) {
  const d = details.get(repo.name)?.repo;
  return d ? d.locked : repo.locked;
}

function sortValue(repo, key, sessions) {
  switch (key) {
    case "size":
      return repo.size_bytes ?? 0;
    case "quota":
      return repo.storage_quota_bytes > 0 ? (repo.quota_used_bytes ?? 0) / repo.storage_quota_bytes : -1;
    case "write": {
      const age = ageSeconds(lastWrite(repo));
      return age === null ? Infinity : age;
    }
    case "append":
      return repo.append_only ? 1 : 0;
    case "sessions":
      return sessions.get(repo.name) ?? 0;
    case "locked":
      return locked(repo) ? 1 : 0;
    default:
      return repo.name;
  }
}

function compare(a, b) {
  if (typeof a === "string") return a < b ? -1 : a > b ? 1 : 0;
  return a - b;
}

function serverFacts(info, stats) {
  const s = stats.storage;
  const meter = h("meter", {
    min: "0",
    max: String(s.total_bytes || 1),
    value: String(s.used_bytes),
    low: String(s.total_bytes * 0.8),
    high: String(s.total_bytes * 0.9),
    optimum: "0",
    id: uid("m"),
  });
  const used = s.total_bytes ? Math.round((s.used_bytes / s.total_bytes) * 100) : 0;
  return h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Host"),
    h("dd", {}, stats.hostname),
    h("dt", {}, "Uptime"),
    h("dd", {}, duration(stats.uptime_seconds)),
    h("dt", {}, "Load"),
    h("dd", {}, (stats.load || []).map((n) => Number(n).toFixed(2)).join("  ")),
    h("dt", {}, "Storage"),
    h(
      "dd",
      { class: "storage" },
      meter,
      h("span", {}, `${bytes(s.used_bytes)} used (${used} %) · ${bytes(s.free_bytes)} free · ${bytes(s.total_bytes)} total`),
      h("small", { class: "muted mono" }, s.path),
    ),
    h("dt", {}, "borg"),
    h("dd", {}, info.borg_version || "not found"),
    h("dt", {}, "Backend"),
    h("dd", {}, info.backend || "—"),
    h("dt", {}, "borgbox"),
    h("dd", {}, info.version, info.uptime_sec !== undefined ? h("small", { class: "muted" }, ` · API up ${duration(info.uptime_sec)}`) : null),
    h("dt", {}, "Connection"),
    h("dd", { class: "connection" }, ...connectionFacts(info.tls || { enabled: false })),
  );
}

// Whether this page's requests (and the token in them) travel encrypted, and until when
// the server's certificate is valid.
function connectionFacts(tls) {
  const encrypted = window.location.protocol === "https:";
  const state = encrypted
    ? badge("encrypted (HTTPS)", "good")
    : badge("not encrypted (HTTP)", tls.enabled ? "bad" : "warn");
  if (!tls.enabled) return [state, h("small", { class: "muted" }, " · HTTPS is off on this server")];
  const left = (Date.parse(tls.cert_not_after) - Date.now()) / 86400000;
  return [
    state,
    h("small", { class: "muted" }, " · certificate valid until "),
    timeEl(tls.cert_not_after),
    left < 30 ? badge(left < 0 ? "expired" : `expires in ${Math.max(0, Math.floor(left))} days`, "warn") : null,
  ];
}

function quotaCell(repo) {
  const quota = repo.storage_quota_bytes ?? 0;
  if (!quota) return h("span", { class: "muted" }, "no quota");
  const usedBytes = repo.quota_used_bytes ?? 0;
  const pct = Math.round((usedBytes / quota) * 100);
  return h(
    "span",
    { class: "quota", title: `${pct} % used` },
    h("meter", { min: "0", max: String(quota), value: String(Math.min(usedBytes, quota)), low: String(quota * 0.8), high: String(quota * 0.95), optimum: "0" }),
    ` ${bytes(usedBytes)} of ${bytes(quota)}`,
  );
}

function writeCell(repo, now) {
  if (!repo.initialized) return h("span", { class: "muted" }, "not initialized");
  const value = lastWrite(repo);
  const age = ageSeconds(value, now);
  const el = ageEl(value, now);
  if (age !== null && age > RED_S) {
    el.classList.add("age-bad");
    return h("span", {}, el, h("span", { class: "sr" }, " (more than 72 hours)"));
  }
  if (age !== null && age > AMBER_S) {
    el.classList.add("age-warn");
    return h("span", {}, el, h("span", { class: "sr" }, " (more than 26 hours)"));
  }
  return el;
}

function lockedCell(isLocked, valid) {
  if (isLocked === undefined) return h("span", { class: "muted" }, valid ? "…" : "—");
  return isLocked ? badge("locked", "warn") : h("span", { class: "muted" }, "no");
}

function row(repo, sessions, now) {
  const valid = VALID_NAME.test(repo.name);
  const name = h(
    "th",
    { scope: "row" },
    h("a", { href: "/repos/" + encodeURIComponent(repo.name), "data-repo": repo.name }, repo.name),
    !repo.registered ? badge("no key", "muted-badge") : null,
    !valid ? badge("invalid name", "warn") : null,
  );
  const count = sessions.get(repo.name) ?? 0;
  const isLocked = locked(repo);
  return h(
    "tr",
    { "data-name": repo.name },
    name,
    h("td", { class: "num" }, bytes(repo.size_bytes)),
    h("td", {}, quotaCell(repo)),
    h("td", {}, writeCell(repo, now)),
    h("td", {}, repo.append_only ? badge("append-only", "info") : h("span", { class: "muted" }, "no")),
    h("td", { class: "num" }, count ? badge(String(count), "live") : h("span", { class: "muted" }, "0")),
    h("td", {}, lockedCell(isLocked, valid)),
  );
}

async function fetchDetails(repos, signal) {
  const now = Date.now();
  const wanted = repos.filter((r) => {
    if (!VALID_NAME.test(r.name) || r.last_write !== undefined) return false;
    const d = details.get(r.name);
    return !d || d.modified_at !== r.modified_at || now - d.at > DETAIL_TTL_MS;
  });
  let changed = false;
  let failure = null;
  const queue = wanted.slice();
  async function worker() {
    while (queue.length && !signal.aborted && !failure) {
      const r = queue.shift();
      try {
        const repo = await api.get(api.path("repos", r.name), { signal });
        details.set(r.name, { modified_at: r.modified_at, at: Date.now(), repo });
        changed = true;
      } catch (error) {
        if (error.status === 404) details.delete(r.name); // deleted meanwhile
        else failure = error;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(DETAIL_PARALLEL, queue.length) }, worker));
  if (failure && !signal.aborted) throw failure;
  return changed;
}

export async function overviewView(main, _params, ctx) {
  ctx.title("Overview");
  const status = slot();
  const server = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const updated = h("span", { class: "muted", id: "updated" });
  const refreshButton = h("button", { type: "button", class: "quiet" }, "Refresh now");
  const tbody = h("tbody", {});
  const headers = COLUMNS.map(([key, label]) => {
    const button = h("button", { type: "button", class: "sort", "data-sort": key }, label, h("span", { class: "arrow", "aria-hidden": "true" }));
    const th = h("th", { scope: "col", "data-key": key, class: key === "size" || key === "sessions" ? "num" : null }, button);
    button.addEventListener("click", () => {
      sort = sort.key === key ? { key, dir: -sort.dir } : { key, dir: 1 };
      draw();
    });
    return th;
  });
  const tableEl = h("table", { class: "repos", id: "repos" }, h("caption", { class: "sr" }, "Repositories; the column buttons sort"), h("thead", {}, h("tr", {}, headers)), tbody);
  const empty = h("p", { class: "empty", hidden: true }, "No repositories yet. ", h("a", { href: "/repos/new" }, "Create one."));
  fill(
    main,
    h("div", { class: "title-row" }, h("h1", { tabindex: "-1" }, "Overview"), h("div", { class: "tools" }, updated, refreshButton)),
    status,
    h("section", { class: "card", "aria-labelledby": "server-h" }, h("h2", { id: "server-h" }, "Server"), server),
    h(
      "section",
      { class: "card", "aria-labelledby": "repos-h" },
      h("div", { class: "title-row" }, h("h2", { id: "repos-h" }, "Repositories"), h("a", { href: "/repos/new", class: "button" }, "New repository")),
      h("div", { class: "table-wrap" }, tableEl),
      empty,
    ),
  );

  let repos = [];
  let sessions = new Map();

  function draw() {
    const now = Date.now();
    for (const th of headers) {
      const key = th.dataset.key;
      th.setAttribute("aria-sort", key === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : "none");
      th.querySelector(".arrow").textContent = key === sort.key ? (sort.dir > 0 ? " ▲" : " ▼") : "";
    }
    const sorted = repos.slice().sort((a, b) => sort.dir * compare(sortValue(a, sort.key, sessions), sortValue(b, sort.key, sessions)) || compare(a.name, b.name));
    // Keep keyboard focus on the same link across a refresh.
    const focused = tbody.contains(document.activeElement) ? document.activeElement.closest("tr")?.dataset.name : null;
    tbody.replaceChildren(...sorted.map((r) => row(r, sessions, now)));
    if (focused !== null && focused !== undefined) {
      for (const tr of tbody.rows) if (tr.dataset.name === focused) tr.querySelector("a")?.focus();
    }
    empty.hidden = repos.length > 0;
    tableEl.hidden = repos.length === 0;
  }

  let first = true;
  async function refresh() {
    try {
      const [info, stats, list, live] = await Promise.all([
        api.get(api.path("info"), { signal: ctx.signal }),
        api.get(api.path("system", "stats"), { signal: ctx.signal }),
        api.get(api.path("repos"), { signal: ctx.signal }),
        api.get(api.path("sessions"), { signal: ctx.signal }),
      ]);
      if (ctx.signal.aborted) return;
      status.clear();
      fill(server, serverFacts(info, stats));
      repos = list;
      sessions = new Map();
      for (const s of live) sessions.set(s.repo, (sessions.get(s.repo) ?? 0) + 1);
      const names = new Set(list.map((r) => r.name));
      for (const name of details.keys()) if (!names.has(name)) details.delete(name);
      draw();
      fill(updated, "Updated " + new Date().toLocaleTimeString());
      if (first) {
        first = false;
        performance.mark("borgbox:overview-ready");
        // The frame that shows it: the next animation frame, then a task after its paint.
        requestAnimationFrame(() => setTimeout(() => performance.mark("borgbox:overview-painted")));
      }
      if (await fetchDetails(list, ctx.signal)) {
        if (!ctx.signal.aborted) draw();
      }
    } catch (error) {
      if (ctx.signal.aborted) return;
      status.error(error);
    }
  }

  refreshButton.addEventListener("click", refresh);
  ctx.every(REFRESH_MS, refresh);
  ctx.onResume(refresh);
  await refresh();
}
