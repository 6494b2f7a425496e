// Stale-backup alerts (API.md 12): list, create, edit, enable/disable, delete and "send
// test", for one repository or all. The secret is write-only: the form can set, keep or
// clear it, never show it.

import * as api from "./api.js";
import { h, fill, field, checkbox, slot, act, confirm, editDialog, table, badge, uid } from "./dom.js";
import { timeEl } from "./format.js";

function alertFields(initial = null, repos = null) {
  const a = { stale_after_hours: 26, webhook_url: "", renotify_hours: 0, enabled: true, has_secret: false, ...(initial || {}) };
  const repo = repos ? h("select", {}, repos.map((r) => h("option", { value: r }, r))) : null;
  const stale = h("input", { type: "number", min: "1", max: "8760", step: "1", required: true, value: String(a.stale_after_hours), class: "short" });
  const url = h("input", { type: "url", required: true, value: a.webhook_url, class: "wide mono", placeholder: "https://hooks.example.net/borgbox", spellcheck: "false" });
  const renotify = h("input", { type: "number", min: "0", max: "8760", step: "1", value: String(a.renotify_hours), class: "short" });
  const secret = h("input", { type: "password", autocomplete: "new-password", spellcheck: "false", class: "mono" });
  const clear = initial?.has_secret ? checkbox("Remove the secret (stop signing)") : null;
  const enabled = checkbox("Enabled", { checked: a.enabled });
  const secretHint = initial ? (initial.has_secret ? "Signed today. Leave empty to keep the current secret." : "Not signed today. Set one to sign deliveries.") : "Optional: deliveries are signed with HMAC-SHA256 when set.";
  const parts = [
    repo ? field("Repository", repo) : null,
    field("Alert after (hours without a backup)", stale),
    field("Webhook URL", url),
    field("Repeat every (hours, 0 = only on changes)", renotify),
    field("Signing secret", secret, secretHint),
    clear,
  ];
  return {
    parts,
    enabled,
    repo,
    read({ withEnabled = true } = {}) {
      const body = {
        stale_after_hours: Number(stale.value),
        webhook_url: url.value.trim(),
        renotify_hours: Number(renotify.value || 0),
      };
      if (!Number.isInteger(body.stale_after_hours) || !Number.isInteger(body.renotify_hours)) throw new Error("Hours must be whole numbers.");
      if (clear?.querySelector("input").checked) body.secret = "";
      else if (secret.value !== "") body.secret = secret.value;
      if (withEnabled) body.enabled = enabled.querySelector("input").checked;
      secret.value = "";
      return body;
    },
  };
}

function openEditor(alert) {
  const fields = alertFields(alert);
  return editDialog({
    title: "Edit alert",
    parts: fields.parts,
    save: () => api.patch(api.path("alerts", alert.id), fields.read({ withEnabled: false })),
  });
}

function state(a) {
  if (a.last_state === "stale") return badge("stale", "bad");
  if (a.last_state === "ok") return badge("ok", "good");
  return h("span", { class: "muted" }, "not checked yet");
}

export function alertsPanel(repoName, ctx) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const status = slot();
  const createSlot = slot();
  const formBox = h("div", {});

  async function load() {
    try {
      const alerts = await api.get(repoName ? api.path("repos", repoName, "alerts") : api.path("alerts"), { signal: ctx.signal });
      status.clear();
      draw(alerts);
    } catch (error) {
      if (!ctx.signal.aborted) status.error(error);
    }
  }

  function draw(alerts) {
    const rows = alerts.map((a) => {
      const rowSlot = slot();
      const toggle = h("input", { type: "checkbox", checked: a.enabled, role: "switch", "aria-label": `Enabled: alert after ${a.stale_after_hours} h` });
      toggle.addEventListener("change", async () => {
        const wanted = toggle.checked;
        const ok = await act(toggle, rowSlot, () => api.patch(api.path("alerts", a.id), { enabled: wanted }));
        if (!ok) toggle.checked = !wanted;
        else load();
      });
      const test = h("button", { type: "button", class: "quiet" }, "Send test");
      test.addEventListener("click", async () => {
        const answer = await act(test, rowSlot, () => api.post(api.path("alerts", a.id, "test")));
        if (answer) rowSlot.ok("Test delivered (status " + answer.status + ").");
      });
      const edit = h("button", { type: "button", class: "quiet" }, "Edit");
      edit.addEventListener("click", async () => {
        if (await openEditor(a)) load();
      });
      const remove = h("button", { type: "button", class: "quiet danger-text" }, "Delete");
      remove.addEventListener("click", async () => {
        const yes = await confirm({ title: "Delete this alert?", message: `Alert after ${a.stale_after_hours} h for repository ${a.repo}.`, confirmLabel: "Delete", danger: true });
        if (!yes) return;
        if ((await act(remove, rowSlot, () => api.del(api.path("alerts", a.id)))) !== undefined) load();
      });
      return h(
        "tr",
        { "data-id": a.id },
        repoName ? null : h("td", {}, h("a", { href: "/repos/" + encodeURIComponent(a.repo) }, a.repo)),
        h("td", { class: "num" }, `${a.stale_after_hours} h`),
        h("td", {}, h("span", { class: "mono url" }, a.webhook_url), a.has_secret ? badge("signed", "info") : null),
        h("td", { class: "num" }, a.renotify_hours ? `${a.renotify_hours} h` : "no"),
        h("td", {}, state(a), a.last_check_at ? [" ", timeEl(a.last_check_at)] : null, a.last_error ? h("div", { class: "slot err" }, a.last_error) : null),
        h("td", {}, h("label", { class: "switch" }, toggle, h("span", {}, a.enabled ? "on" : "off"))),
        h("td", { class: "row-actions" }, test, edit, remove, rowSlot),
      );
    });
    const columns = [repoName ? null : "Repository", "After", "Webhook", "Repeat", "State", "Enabled", "Actions"].filter(Boolean);
    fill(list, table(columns, rows, "No alerts."));
  }

  async function showForm() {
    let repos = null;
    if (!repoName) {
      try {
        repos = (await api.get(api.path("repos"), { signal: ctx.signal })).map((r) => r.name).filter((n) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(n));
      } catch (error) {
        createSlot.error(error);
        return;
      }
    }
    const fields = alertFields(null, repos);
    const submit = h("button", { type: "submit", class: "primary" }, "Add alert");
    const form = h("form", { class: "subform", "aria-label": "New alert", id: uid("alert-form") }, h("h3", {}, "New alert"), fields.parts, fields.enabled, h("div", { class: "actions" }, submit), createSlot);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const target = repoName ?? fields.repo?.value;
      if (!target) {
        createSlot.error(new Error("Create a repository first."));
        return;
      }
      const created = await act(submit, createSlot, () => api.post(api.path("repos", target, "alerts"), fields.read()));
      if (created) {
        createSlot.ok(`Alert added: after ${created.stale_after_hours} h without a backup.`);
        load();
      }
    });
    fill(formBox, form);
  }

  const panel = h("div", { class: "alerts" }, status, list, formBox);
  load();
  showForm();
  panel.reload = load;
  return panel;
}

export async function alertsView(main, _params, ctx) {
  ctx.title("Alerts");
  const panel = alertsPanel(null, ctx);
  fill(
    main,
    h("h1", { tabindex: "-1" }, "Alerts"),
    h("p", { class: "hint" }, "borgbox posts to the webhook when a repository has had no backup for longer than the threshold, and again when it recovers."),
    h("section", { class: "card", "aria-label": "Alerts" }, panel),
  );
  ctx.every(30000, panel.reload);
  ctx.onResume(panel.reload);
}
