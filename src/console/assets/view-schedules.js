// Schedules (API.md 11): list, create, edit, enable/disable, delete, for one repository or
// all. Hour and minute are the server's local time; next_run is shown in the browser's
// local time with the server's UTC value on hover.

import * as api from "./api.js";
import { h, fill, field, checkbox, slot, act, confirm, editDialog, table, badge, uid } from "./dom.js";
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

/** The schedules of one repo (repoName) or of all; returns the panel's element. */
export function schedulesPanel(repoName, ctx) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const status = slot();
  const createSlot = slot();
  const formBox = h("div", {});

  async function load() {
    try {
      const schedules = await api.get(repoName ? api.path("repos", repoName, "schedules") : api.path("schedules"), { signal: ctx.signal });
      status.clear();
      draw(schedules);
    } catch (error) {
      if (!ctx.signal.aborted) status.error(error);
    }
  }

  function draw(schedules) {
    const rows = schedules.map((s) => {
      const rowSlot = slot();
      const toggle = h("input", { type: "checkbox", checked: s.enabled, role: "switch", "aria-label": `Enabled: ${cadence(s)} ${s.kind}` });
      toggle.addEventListener("change", async () => {
        const wanted = toggle.checked;
        const ok = await act(toggle, rowSlot, () => api.patch(api.path("schedules", s.id), { enabled: wanted }));
        if (!ok) toggle.checked = !wanted;
        else load();
      });
      const edit = h("button", { type: "button", class: "quiet" }, "Edit");
      edit.addEventListener("click", async () => {
        if (await openEditor(s)) load();
      });
      const remove = h("button", { type: "button", class: "quiet danger-text" }, "Delete");
      remove.addEventListener("click", async () => {
        const yes = await confirm({ title: "Delete this schedule?", message: `${s.kind}, ${cadence(s)} (server time), repository ${s.repo}.`, confirmLabel: "Delete", danger: true });
        if (!yes) return;
        if ((await act(remove, rowSlot, () => api.del(api.path("schedules", s.id)))) !== undefined) load();
      });
      const cells = [
        repoName ? null : h("td", {}, h("a", { href: "/repos/" + encodeURIComponent(s.repo) }, s.repo)),
        h("td", {}, s.kind),
        h("td", {}, cadence(s)),
        h("td", {}, s.enabled ? timeEl(s.next_run) : h("span", { class: "muted" }, "paused")),
        h("td", {}, lastRun(s)),
        h("td", {}, h("label", { class: "switch" }, toggle, h("span", {}, s.enabled ? "on" : "off"))),
        h("td", { class: "row-actions" }, edit, remove, rowSlot),
      ];
      return h("tr", { "data-id": s.id }, cells);
    });
    const columns = [repoName ? null : "Repository", "Kind", "When (server time)", "Next run (your time)", "Last run", "Enabled", "Actions"].filter(Boolean);
    fill(list, table(columns, rows, "No schedules."));
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
    const fields = scheduleFields({}, repos);
    const submit = h("button", { type: "submit", class: "primary" }, "Add schedule");
    const form = h("form", { class: "subform", "aria-label": "New schedule" }, h("h3", {}, "New schedule"), fields.parts, fields.enabled, h("div", { class: "actions" }, submit), createSlot);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const target = repoName ?? fields.repo?.value;
      if (!target) {
        createSlot.error(new Error("Create a repository first."));
        return;
      }
      const created = await act(submit, createSlot, () => api.post(api.path("repos", target, "schedules"), fields.read()));
      if (created) {
        createSlot.ok(`Schedule added: ${created.kind}, ${cadence(created)}.`);
        load();
      }
    });
    fill(formBox, form);
  }

  const panel = h("div", { class: "schedules" }, status, list, formBox);
  load();
  showForm();
  panel.reload = load;
  return panel;
}

export async function schedulesView(main, _params, ctx) {
  ctx.title("Schedules");
  const panel = schedulesPanel(null, ctx);
  fill(
    main,
    h("h1", { tabindex: "-1" }, "Schedules"),
    h("p", { class: "hint" }, "Scheduled runs have no passphrase: check verifies the repository's segments only, compact frees space."),
    h("section", { class: "card", "aria-label": "Schedules" }, panel),
  );
  ctx.every(30000, panel.reload);
  ctx.onResume(panel.reload);
}
