// The list-and-form panel schedules and alerts share: one repository's items or all of
// them, a table with an enable switch, edit and delete on each row, and a form that
// creates one (with a repository picker when the panel shows all).

import * as api from "./api.js";
import { h, fill, slot, act, confirm, table } from "./dom.js";

const REPO_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * `kind` describes the items:
 * - collection, noun: "schedules", "schedule" (API paths, labels, the empty-table text);
 * - fields(initial, repos): { parts, enabled, repo, read() }, as scheduleFields and
 *   alertFields give them;
 * - label(item): a short phrase naming the item, for the switch and the delete question;
 * - columns, cells(item): the table's headers and a row's cells, without the repository,
 *   enable and action columns, which the panel adds;
 * - edit(item): opens the editor, resolves true when it saved;
 * - actions(item, rowSlot): extra row buttons before Edit (optional);
 * - created(item): the message after a create.
 */
export function itemsPanel(repoName, ctx, kind) {
  const list = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const status = slot();
  const createSlot = slot();
  const formBox = h("div", {});
  const noun = kind.noun;

  async function load() {
    try {
      const path = repoName ? api.path("repos", repoName, kind.collection) : api.path(kind.collection);
      const items = await api.get(path, { signal: ctx.signal });
      status.clear();
      draw(items);
    } catch (error) {
      if (!ctx.signal.aborted) status.error(error);
    }
  }

  function row(item) {
    const rowSlot = slot();
    const self = api.path(kind.collection, item.id);
    const toggle = h("input", { type: "checkbox", checked: item.enabled, role: "switch", "aria-label": `Enabled: ${kind.label(item)}` });
    toggle.addEventListener("change", async () => {
      const wanted = toggle.checked;
      const ok = await act(toggle, rowSlot, () => api.patch(self, { enabled: wanted }));
      if (!ok) toggle.checked = !wanted;
      else load();
    });
    const edit = h("button", { type: "button", class: "quiet" }, "Edit");
    edit.addEventListener("click", async () => {
      if (await kind.edit(item)) load();
    });
    const remove = h("button", { type: "button", class: "quiet danger-text" }, "Delete");
    remove.addEventListener("click", async () => {
      const yes = await confirm({ title: `Delete this ${noun}?`, message: `${kind.label(item)}, repository ${item.repo}.`, confirmLabel: "Delete", danger: true });
      if (!yes) return;
      if ((await act(remove, rowSlot, () => api.del(self))) !== undefined) load();
    });
    return h(
      "tr",
      { "data-id": item.id },
      repoName ? null : h("td", {}, h("a", { href: "/repos/" + encodeURIComponent(item.repo) }, item.repo)),
      kind.cells(item),
      h("td", {}, h("label", { class: "switch" }, toggle, h("span", {}, item.enabled ? "on" : "off"))),
      h("td", { class: "row-actions" }, kind.actions ? kind.actions(item, rowSlot) : null, edit, remove, rowSlot),
    );
  }

  function draw(items) {
    const columns = [repoName ? null : "Repository", ...kind.columns, "Enabled", "Actions"].filter(Boolean);
    fill(list, table(columns, items.map(row), `No ${kind.collection}.`));
  }

  async function showForm() {
    let repos = null;
    if (!repoName) {
      try {
        repos = (await api.get(api.path("repos"), { signal: ctx.signal })).map((r) => r.name).filter((n) => REPO_NAME.test(n));
      } catch (error) {
        createSlot.error(error);
        return;
      }
    }
    const fields = kind.fields(null, repos);
    const submit = h("button", { type: "submit", class: "primary" }, `Add ${noun}`);
    const form = h("form", { class: "subform", "aria-label": `New ${noun}` }, h("h3", {}, `New ${noun}`), fields.parts, fields.enabled, h("div", { class: "actions" }, submit), createSlot);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const target = repoName ?? fields.repo?.value;
      if (!target) {
        createSlot.error(new Error("Create a repository first."));
        return;
      }
      const created = await act(submit, createSlot, () => api.post(api.path("repos", target, kind.collection), fields.read()));
      if (created) {
        createSlot.ok(kind.created(created));
        load();
      }
    });
    fill(formBox, form);
  }

  const panel = h("div", { class: kind.collection }, status, list, formBox);
  load();
  showForm();
  panel.reload = load;
  return panel;
}

/** A page of all items: a heading, a hint and the panel, refreshed every 30 s. */
export function itemsPage(main, ctx, { title, hint, panel }) {
  ctx.title(title);
  fill(
    main,
    h("h1", { tabindex: "-1" }, title),
    h("p", { class: "hint" }, hint),
    h("section", { class: "card", "aria-label": title }, panel),
  );
  ctx.every(30000, panel.reload);
  ctx.onResume(panel.reload);
}
