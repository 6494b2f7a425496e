// One repository: how to connect a client, its facts, keys, append-only, quota, archives
// (after asking for the passphrase, used for that one request), break-lock, check / prune /
// compact, its jobs, schedules and alerts, and deletion confirmed by typing its name.

import * as api from "./api.js";
import { h, fill, field, checkbox, slot, act, confirm, askPassphrase, table, badge, section } from "./dom.js";
import { bytes, timeEl, ageEl } from "./format.js";
import { VALID_NAME } from "./view-overview.js";
import { clientSteps, keyInput, quotaInput, quotaField } from "./view-create.js";
import { jobsTable, FINAL } from "./view-jobs.js";
import { schedulesPanel } from "./view-schedules.js";
import { alertsPanel } from "./view-alerts.js";

const QUOTA_SOURCE = { borgbox: "set by borgbox", repository: "from the repository's config" };

function facts(repo) {
  const quota = repo.storage_quota_bytes ?? 0;
  const rows = [
    ["Path", h("span", { class: "mono" }, repo.path)],
    ["Initialized", repo.initialized ? "yes" : "no — run borg init on the client"],
    ["Size", bytes(repo.size_bytes)],
    ["Quota", quota ? `${bytes(repo.quota_used_bytes ?? 0)} used of ${bytes(quota)}${repo.quota_source ? " (" + (QUOTA_SOURCE[repo.quota_source] ?? repo.quota_source) + ")" : ""}` : "none"],
    ["Last write", repo.initialized ? ageEl(repo.last_write || repo.modified_at) : h("span", { class: "muted" }, "none yet")],
    ["Keys", String(repo.keys ?? "—")],
    ["Transaction", repo.transaction_id !== undefined ? `${repo.transaction_id} (${repo.segments ?? 0} segments)` : "—"],
  ];
  return h("dl", { class: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function badges(repo) {
  return h(
    "span",
    { class: "badges", id: "repo-badges" },
    repo.append_only ? badge("append-only", "info") : null,
    repo.registered === false ? badge("no key", "muted-badge") : null,
    repo.initialized ? null : badge("not initialized", "muted-badge"),
    repo.locked ? badge("locked", "warn") : null,
  );
}

function keysPanel(name, ctx, onChange) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const status = slot();

  async function load() {
    try {
      const keys = await api.get(api.path("repos", name, "keys"), { signal: ctx.signal });
      status.clear();
      draw(keys);
    } catch (error) {
      if (!ctx.signal.aborted) status.error(error);
    }
  }

  function draw(keys) {
    const rows = keys.map((k) => {
      const remove = h("button", { type: "button", class: "quiet danger-text" }, "Remove");
      remove.setAttribute("aria-label", "Remove key " + k.fingerprint);
      remove.addEventListener("click", async () => {
        const yes = await confirm({
          title: "Remove this key?",
          message: `${k.fingerprint}${k.comment ? " (" + k.comment + ")" : ""}: clients using it can no longer reach this repository. The repository itself is not touched.`,
          confirmLabel: "Remove key",
          danger: true,
        });
        if (!yes) return;
        if ((await act(remove, status, () => api.del(api.path("repos", name, "keys", k.fingerprint)))) !== undefined) {
          status.ok("Key removed.");
          load();
          onChange();
        }
      });
      const used = k.last_used_at ? h("span", {}, ageEl(k.last_used_at), k.last_used_from ? [" from ", h("span", { class: "mono" }, k.last_used_from)] : null) : h("span", { class: "muted" }, "unknown");
      return h(
        "tr",
        { "data-fingerprint": k.fingerprint },
        h("td", {}, h("span", { class: "mono fp" }, k.fingerprint)),
        h("td", { class: "comment" }, k.comment || h("span", { class: "muted" }, "—")),
        h("td", {}, k.algo ?? ""),
        h("td", {}, k.append_only ? badge("append-only", "info") : "no"),
        h("td", {}, timeEl(k.added_at, "unknown")),
        h("td", {}, used),
        h("td", {}, remove),
      );
    });
    fill(list, table(["Fingerprint", "Comment", "Type", "Append-only", "Added", "Last used", ""], rows, "No keys: no client can reach this repository."));
  }

  const key = keyInput();
  const comment = h("input", { type: "text", maxlength: "200", autocomplete: "off", spellcheck: "false" });
  const mode = h("select", {}, h("option", { value: "" }, "Same as the repository"), h("option", { value: "true" }, "Append-only"), h("option", { value: "false" }, "Full access"));
  const addSlot = slot();
  const add = h("button", { type: "submit", class: "primary" }, "Add key");
  const form = h(
    "form",
    { class: "subform", id: "add-key", "aria-label": "Add a key" },
    h("h3", {}, "Add a key"),
    field("Public key", key.text),
    field("…or read it from a file", key.file),
    key.note,
    field("Comment", comment, "Replaces the key's own comment, e.g. the client's name."),
    field("Access", mode),
    h("div", { class: "actions" }, add),
    addSlot,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { public_key: key.text.value.trim() };
    if (comment.value.trim()) body.comment = comment.value.trim();
    if (mode.value) body.append_only = mode.value === "true";
    const added = await act(add, addSlot, () => api.post(api.path("repos", name, "keys"), body));
    if (added) {
      addSlot.ok("Key added: " + added.fingerprint);
      form.reset();
      load();
      onChange();
    }
  });
  load();
  const panel = h("div", {}, status, list, form);
  panel.reload = load;
  return panel;
}

function archivesPanel(name) {
  const list = h("div", {});
  const status = slot();
  const button = h("button", { type: "button", id: "list-archives" }, "List archives…");
  button.addEventListener("click", async () => {
    const passphrase = await askPassphrase("List archives", "borg needs the repository's passphrase to read the archive list (not needed for an unencrypted repository).");
    if (passphrase === null) return;
    const headers = passphrase ? { "X-Borg-Passphrase": passphrase } : {};
    fill(list, h("p", { class: "muted" }, "Asking borg…"));
    const archives = await act(button, status, () => api.get(api.path("repos", name, "archives"), { headers }));
    if (!archives) {
      fill(list);
      return;
    }
    const rows = archives
      .slice()
      .reverse()
      .map((a) => [h("span", { class: "archive-name" }, a.name), timeEl(a.time), a.hostname ?? "", a.username ?? "", a.comment || h("span", { class: "muted" }, "—")]);
    fill(list, h("p", { class: "muted" }, `${archives.length} archive${archives.length === 1 ? "" : "s"}, newest first.`), table(["Name", "Time", "Host", "User", "Comment"], rows, "No archives yet."));
  });
  return h("div", {}, h("div", { class: "actions" }, button), status, list);
}

function passField() {
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false" });
  return { input, el: field("Passphrase", input, "Needed for an encrypted repository; used for this job only.") };
}

/** Reads and clears a passphrase input: the value lives only in this request's body. */
function takePass(p, body) {
  if (p.input.value !== "") body.passphrase = p.input.value;
  p.input.value = "";
  return body;
}

function maintenancePanel(name, ctx, onChange) {
  const out = slot();
  const start = async (button, kind, body) => {
    const started = await act(button, out, () => api.post(api.path("repos", name, kind), body));
    if (started) ctx.navigate("/jobs/" + encodeURIComponent(started.job_id));
  };

  const repair = checkbox("Repair (may delete damaged data; borg asks you to be sure)");
  const verify = checkbox("Verify data (reads and decrypts every chunk; slow)");
  const checkPass = passField();
  const checkBtn = h("button", { type: "submit", class: "primary" }, "Start check");
  const checkForm = h("form", { class: "subform", id: "check-form", "aria-label": "Check" }, h("h3", {}, "Check"), repair, verify, checkPass.el, h("div", { class: "actions" }, checkBtn));
  checkForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    if (repair.querySelector("input").checked) {
      const yes = await confirm({ title: "Repair the repository?", message: "borg check --repair can delete data it considers damaged. Have a copy first.", confirmLabel: "Start repair", danger: true });
      if (!yes) return;
      body.repair = true;
    }
    if (verify.querySelector("input").checked) body.verify_data = true;
    start(checkBtn, "check", takePass(checkPass, body));
  });

  const keep = ["daily", "weekly", "monthly", "yearly"].map((k) => [k, h("input", { type: "number", min: "0", step: "1", value: k === "daily" ? "7" : k === "weekly" ? "4" : k === "monthly" ? "6" : "0", class: "short" })]);
  const dry = checkbox("Dry run (only list what would be pruned)", { checked: true });
  const prunePass = passField();
  const pruneBtn = h("button", { type: "submit", class: "primary" }, "Start prune");
  const pruneForm = h(
    "form",
    { class: "subform", id: "prune-form", "aria-label": "Prune" },
    h("h3", {}, "Prune"),
    h("div", { class: "inline wrap" }, keep.map(([k, input]) => field("Keep " + k, input))),
    dry,
    prunePass.el,
    h("p", { class: "hint" }, "Prune never frees space by itself: run compact afterwards."),
    h("div", { class: "actions" }, pruneBtn),
  );
  pruneForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {};
    for (const [k, input] of keep) {
      const n = Number(input.value || 0);
      if (n) body["keep_" + k] = n;
    }
    if (dry.querySelector("input").checked) body.dry_run = true;
    start(pruneBtn, "prune", takePass(prunePass, body));
  });

  const compactPass = passField();
  const compactBtn = h("button", { type: "submit", class: "primary" }, "Start compact");
  const compactForm = h("form", { class: "subform", id: "compact-form", "aria-label": "Compact" }, h("h3", {}, "Compact"), h("p", { class: "hint" }, "Frees the space of deleted and pruned archives."), compactPass.el, h("div", { class: "actions" }, compactBtn));
  compactForm.addEventListener("submit", (event) => {
    event.preventDefault();
    start(compactBtn, "compact", takePass(compactPass, {}));
  });

  const breakBtn = h("button", { type: "button", id: "break-lock" }, "Break lock…");
  breakBtn.addEventListener("click", async () => {
    const yes = await confirm({ title: "Break the repository lock?", message: "Only when no borg process uses the repository any more (a crashed client left the lock behind).", confirmLabel: "Break lock", danger: true });
    if (!yes) return;
    if ((await act(breakBtn, out, () => api.post(api.path("repos", name, "break-lock")))) !== undefined) {
      out.ok("Lock broken.");
      onChange();
    }
  });

  return h("div", {}, out, h("div", { class: "grid3" }, checkForm, pruneForm, compactForm), h("div", { class: "actions left" }, breakBtn));
}

function settingsPanel(repo, name, onChange) {
  const out = slot();
  const toggle = h("input", { type: "checkbox", role: "switch", id: "append-only", checked: repo.append_only });
  toggle.addEventListener("change", async () => {
    const wanted = toggle.checked;
    const updated = await act(toggle, out, () => api.patch(api.path("repos", name), { append_only: wanted }));
    if (!updated) {
      toggle.checked = !wanted;
      return;
    }
    out.ok(wanted ? "Append-only: clients can add archives but not delete them." : "Append-only is off: clients have full access.");
    onChange(updated);
  });
  const quota = quotaInput(repo.quota_source === "borgbox" ? repo.storage_quota_bytes : 0);
  const setQuota = h("button", { type: "submit" }, "Set quota");
  const quotaForm = h("form", { class: "inline-form", id: "quota-form" }, quotaField(quota, "Storage quota", "0 or empty removes the quota; at least 10 MB otherwise. Enforced for new SSH connections."), h("div", { class: "actions" }, setQuota));
  quotaForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const updated = await act(setQuota, out, async () => api.patch(api.path("repos", name), { storage_quota_bytes: quota.read() }));
    if (updated) {
      out.ok(updated.storage_quota_bytes ? `Quota set to ${bytes(updated.storage_quota_bytes)}.` : "No quota.");
      onChange(updated);
    }
  });
  return h(
    "div",
    {},
    h("div", { class: "field check" }, toggle, h("label", { for: "append-only" }, "Append-only for every key of this repository"), h("small", { class: "hint" }, "Applies to new SSH connections.")),
    quotaForm,
    out,
  );
}

function deletePanel(name, ctx) {
  const out = slot();
  const button = h("button", { type: "button", class: "danger", id: "delete-repo" }, "Delete repository…");
  button.addEventListener("click", async () => {
    const yes = await confirm({
      title: "Delete this repository?",
      message: "Every archive in it is deleted from the server, with its keys, schedules and alerts. This cannot be undone.",
      confirmLabel: "Delete forever",
      danger: true,
      typed: name,
    });
    if (!yes) return;
    if ((await act(button, out, () => api.del(api.path("repos", name)))) !== undefined) {
      ctx.navigate("/");
    }
  });
  return h("div", {}, h("p", {}, "Deletes the directory and everything in it, the repository's keys, schedules and alerts."), button, out);
}

export async function repoView(main, [name], ctx) {
  ctx.title(name);
  const heading = h("h1", { tabindex: "-1" }, h("span", { class: "mono", id: "repo-name" }, name));
  if (!VALID_NAME.test(name)) {
    fill(
      main,
      heading,
      h("p", { class: "slot err" }, "This directory's name is not a valid repository name (lower-case letters, digits and hyphens), so borgbox cannot manage it. Rename it on the server."),
      h("p", {}, h("a", { href: "/" }, "Back to the overview")),
    );
    return;
  }
  const status = slot();
  fill(main, heading, status, h("p", { class: "muted" }, "Loading…"));
  let repo;
  try {
    repo = await api.get(api.path("repos", name), { signal: ctx.signal });
  } catch (error) {
    if (ctx.signal.aborted) return;
    fill(main, heading, h("p", { class: "slot err" }, error.message), h("p", {}, h("a", { href: "/" }, "Back to the overview")));
    return;
  }

  const titleBadges = h("span", {}, badges(repo));
  const factsBox = h("div", {}, facts(repo));
  const jobsBox = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  let running = false;

  async function reloadRepo(updated) {
    try {
      repo = updated ?? (await api.get(api.path("repos", name), { signal: ctx.signal }));
      fill(titleBadges, badges(repo));
      fill(factsBox, facts(repo));
      if (updated) reloadRepo(); // PATCH answers before the size cache settles
    } catch (error) {
      if (!ctx.signal.aborted) status.error(error);
    }
  }

  async function reloadJobs() {
    try {
      const jobs = (await api.get(api.path("jobs"), { signal: ctx.signal })).filter((j) => j.repo === name);
      running = jobs.some((j) => !FINAL.has(j.status));
      fill(jobsBox, jobsTable(jobs.slice(0, 20), false));
    } catch (error) {
      if (!ctx.signal.aborted) fill(jobsBox, h("p", { class: "slot err" }, error.message));
    }
  }

  const keys = keysPanel(name, ctx, () => reloadRepo());
  const schedules = schedulesPanel(name, ctx);
  const alerts = alertsPanel(name, ctx);
  fill(
    main,
    h("div", { class: "title-row" }, heading, titleBadges),
    status,
    section("Connect a client", clientSteps(repo)),
    section("Repository", factsBox, settingsPanel(repo, name, (updated) => reloadRepo(updated))),
    section("Keys", keys),
    section("Archives", archivesPanel(name)),
    section("Maintenance", maintenancePanel(name, ctx, () => reloadRepo())),
    section("Jobs", jobsBox),
    section("Schedules", h("p", { class: "hint" }, "Times are the server's local time; scheduled runs have no passphrase."), schedules),
    section("Alerts", alerts),
    section("Delete", deletePanel(name, ctx)),
  );
  reloadJobs();
  let tick = 0;
  ctx.every(5000, () => {
    tick += 1;
    if (running || tick % 6 === 0) {
      reloadJobs();
      return reloadRepo();
    }
  });
  ctx.onResume(() => {
    reloadRepo();
    reloadJobs();
    keys.reload();
    schedules.reload();
    alerts.reload();
  });
}
