// Schedules (API.md 11): list, create, edit, enable/disable, delete, for one repository or
// all. Hour and minute are the server's local time; next_run is shown in the browser's
// local time with the server's UTC value on hover.

import * as api from "./api.js";
import { h, field, checkbox, editDialog, badge, uid } from "./dom.js";
import { itemsPanel, itemsPage } from "./panel.js";
import { cadence, timeEl, WEEKDAYS } from "./format.js";

function select(options, value) {
  const el = h("select", {}, options.map(([v, label]) => h("option", { value: String(v) }, label)));
  if (value !== undefined) el.value = String(value);
  return el;
}

function number(min, max, value) {
  return h("input", { type: "number", min: String(min), max: String(max), step: "1", required: true, value: String(value), class: "short", inputmode: "numeric" });
}

/**
 * The fields of a schedule. read() gives the body as the GUI client sends it: weekday only
 * for weekly, day only for monthly (API.md 14).
 */
export function scheduleFields(initial = {}, repos = null) {
  const s = { kind: "check", cadence: "daily", hour: 3, minute: 0, weekday: 1, day: 1, enabled: true, ...initial };
  const repo = repos ? select(repos.map((r) => [r, r])) : null;
  const kind = select([["check", "check (repository only, no passphrase)"], ["compact", "compact"]], s.kind);
  const cad = select([["daily", "daily"], ["weekly", "weekly"], ["monthly", "monthly"]], s.cadence);
  const hour = number(0, 23, s.hour);
  const minute = number(0, 59, s.minute);
  const weekday = select(WEEKDAYS.map((d, i) => [i, d]), s.weekday || 1);
  const day = number(1, 28, s.day || 1);
  const enabled = checkbox("Enabled", { checked: s.enabled });
  const weekdayField = field("Weekday", weekday);
  const dayField = field("Day of the month", day, "1–28, so that short months never miss a run.");
  function sync() {
    weekdayField.hidden = cad.value !== "weekly";
    dayField.hidden = cad.value !== "monthly";
  }
  cad.addEventListener("change", sync);
  sync();
  const timeId = uid("t");
  hour.id = timeId;
  hour.setAttribute("aria-label", "Hour");
  minute.setAttribute("aria-label", "Minute");
  const parts = [
    repo ? field("Repository", repo) : null,
    field("Kind", kind),
    field("Cadence", cad),
    h("div", { class: "field" }, h("label", { for: timeId }, "Time (server's local time)"), h("div", { class: "inline" }, hour, h("span", {}, ":"), minute)),
    weekdayField,
    dayField,
  ];
  return {
    parts,
    enabled,
    repo,
    read({ withEnabled = true } = {}) {
      const body = { kind: kind.value, cadence: cad.value, hour: Number(hour.value), minute: Number(minute.value) };
      for (const [k, v] of Object.entries(body)) {
        if (typeof v === "number" && !Number.isInteger(v)) throw new Error(`${k} must be a whole number`);
      }
      if (cad.value === "weekly") body.weekday = Number(weekday.value);
      if (cad.value === "monthly") body.day = Number(day.value);
      if (withEnabled) body.enabled = enabled.querySelector("input").checked;
      return body;
    },
  };
}

function openEditor(schedule) {
  const fields = scheduleFields(schedule);
  return editDialog({
    title: "Edit schedule",
    parts: fields.parts,
    save: () => api.patch(api.path("schedules", schedule.id), fields.read({ withEnabled: false })), focus: "select, input",
  });
}

function lastRun(s) {
  if (!s.last_run) return h("span", { class: "muted" }, "never");
  const status = s.last_status ? badge(s.last_status, s.last_status === "error" ? "bad" : s.last_status === "done" ? "good" : "") : null;
  const job = s.last_job_id ? h("a", { href: "/jobs/" + encodeURIComponent(s.last_job_id) }, "job") : null;
  return h("span", {}, timeEl(s.last_run), " ", status, " ", job);
}

const SCHEDULES = {
  collection: "schedules",
  noun: "schedule",
  fields: (initial, repos) => scheduleFields(initial ?? {}, repos),
  label: (s) => `${s.kind}, ${cadence(s)} (server time)`,
  columns: ["Kind", "When (server time)", "Next run (your time)", "Last run"],
  cells: (s) => [
    h("td", {}, s.kind),
    h("td", {}, cadence(s)),
    h("td", {}, s.enabled ? timeEl(s.next_run) : h("span", { class: "muted" }, "paused")),
    h("td", {}, lastRun(s)),
  ],
  edit: openEditor,
  created: (s) => `Schedule added: ${s.kind}, ${cadence(s)}.`,
};

/** The schedules of one repo (repoName) or of all; returns the panel's element. */
export function schedulesPanel(repoName, ctx) {
  return itemsPanel(repoName, ctx, SCHEDULES);
}

export async function schedulesView(main, _params, ctx) {
  itemsPage(main, ctx, {
    title: "Schedules",
    hint: "Scheduled runs have no passphrase: check verifies the repository's segments only, compact frees space.",
    panel: schedulesPanel(null, ctx),
  });
}
