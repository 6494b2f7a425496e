// Stale-backup alerts (API.md 12): list, create, edit, enable/disable, delete and "send
// test", for one repository or all. The secret is write-only: the form can set, keep or
// clear it, never show it.

import * as api from "./api.js";
import { h, field, checkbox, act, editDialog, badge } from "./dom.js";
import { itemsPanel, itemsPage } from "./panel.js";
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

function sendTest(a, rowSlot) {
  const test = h("button", { type: "button", class: "quiet" }, "Send test");
  test.addEventListener("click", async () => {
    const answer = await act(test, rowSlot, () => api.post(api.path("alerts", a.id, "test")));
    if (answer) rowSlot.ok("Test delivered (status " + answer.status + ").");
  });
  return test;
}

const ALERTS = {
  collection: "alerts",
  noun: "alert",
  fields: alertFields,
  label: (a) => `alert after ${a.stale_after_hours} h`,
  columns: ["After", "Webhook", "Repeat", "State"],
  cells: (a) => [
    h("td", { class: "num" }, `${a.stale_after_hours} h`),
    h("td", {}, h("span", { class: "mono url" }, a.webhook_url), a.has_secret ? badge("signed", "info") : null),
    h("td", { class: "num" }, a.renotify_hours ? `${a.renotify_hours} h` : "no"),
    h("td", {}, state(a), a.last_check_at ? [" ", timeEl(a.last_check_at)] : null, a.last_error ? h("div", { class: "slot err" }, a.last_error) : null),
  ],
  actions: sendTest,
  edit: openEditor,
  created: (a) => `Alert added: after ${a.stale_after_hours} h without a backup.`,
};

/** The alerts of one repo (repoName) or of all; returns the panel's element. */
export function alertsPanel(repoName, ctx) {
  return itemsPanel(repoName, ctx, ALERTS);
}

export async function alertsView(main, _params, ctx) {
  itemsPage(main, ctx, {
    title: "Alerts",
    hint: "borgbox posts to the webhook when a repository has had no backup for longer than the threshold, and again when it recovers.",
    panel: alertsPanel(null, ctx),
  });
}
