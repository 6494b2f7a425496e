// Building the page with DOM APIs only. Text from the server goes in as text nodes, never
// as markup, and invisible or reordering characters (controls, Unicode direction
// overrides) are shown as visible "U+202E" markers so a name cannot disguise itself.

// C0 and C1 controls, the bidi embeddings, overrides and isolates, and the zero-width
// marks and joiners that can hide or reorder text.
const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

function marker(c) {
  return "U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
}

/** A string with every hidden character replaced by its visible marker (for attributes). */
export function plain(value) {
  return String(value ?? "").replace(HIDDEN, (c) => "⟨" + marker(c) + "⟩");
}

/** Text nodes for a string, hidden characters as marked spans. */
export function shown(value) {
  const text = String(value ?? "");
  const fragment = document.createDocumentFragment();
  let last = 0;
  for (const match of text.matchAll(HIDDEN)) {
    if (match.index > last) fragment.append(text.slice(last, match.index));
    const span = document.createElement("span");
    span.className = "ctl";
    span.title = "hidden character " + marker(match[0]);
    span.textContent = marker(match[0]);
    fragment.append(span);
    last = match.index + match[0].length;
  }
  if (last < text.length) fragment.append(text.slice(last));
  return fragment;
}

const BOOLEAN = new Set(["disabled", "checked", "hidden", "required", "readOnly", "selected", "open", "multiple"]);

/**
 * h("button", {class: "x", onclick: f}, "Save") → an element. Strings become text (through
 * `shown`), arrays are flattened, null and false are skipped. Props that are functions
 * named on* become listeners; `value`, `checked` and the like are set as properties.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "value") {
      el.value = value;
    } else if (BOOLEAN.has(key)) {
      el[key] = Boolean(value);
    } else if (key === "href") {
      // Only our own routes: never a URL that came from data.
      if (!String(value).startsWith("/")) throw new Error("refusing a non-local link");
      el.setAttribute("href", value);
    } else if (key === "title") {
      el.title = plain(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(shown(child));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
export function uid(prefix = "f") {
  ids += 1;
  return `${prefix}${ids}`;
}

/** A labelled form field; `input` gets an id if it has none. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid();
  const parts = [h("label", { for: input.id }, label), input];
  if (hint) {
    const hintEl = h("small", { id: input.id + "-hint", class: "hint" }, hint);
    input.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

export function checkbox(label, props = {}) {
  const input = h("input", { type: "checkbox", ...props });
  if (!input.id) input.id = uid();
  return h("div", { class: "field check" }, input, h("label", { for: input.id }, label));
}

/** A place for one action's outcome; show(error) puts the server's message in it. */
export function slot() {
  const el = h("p", { class: "slot", role: "status", "aria-live": "polite", hidden: true });
  el.ok = (message) => {
    el.className = "slot ok";
    fill(el, message);
    el.hidden = false;
  };
  el.error = (error) => {
    el.className = "slot err";
    fill(el, error?.message ?? String(error));
    el.hidden = false;
  };
  el.clear = () => {
    el.hidden = true;
    el.replaceChildren();
  };
  return el;
}

/**
 * Runs an action from a control: disables it meanwhile and reports a failure in `where`
 * (a slot), or as a page notice. Returns the action's value, or undefined on failure.
 */
export async function act(control, where, action) {
  if (control) control.disabled = true;
  where?.clear?.();
  try {
    return await action();
  } catch (error) {
    if (where?.error) where.error(error);
    else notice(error);
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

/** A page-wide message that stays until dismissed (errors) or for a while (info). */
export function notice(what, kind = "err") {
  const area = document.getElementById("notices");
  const message = what instanceof Error ? what.message : String(what);
  const close = h("button", { type: "button", class: "quiet", "aria-label": "Dismiss" }, "×");
  const item = h("div", { class: "notice " + kind }, h("span", {}, message), close);
  close.addEventListener("click", () => item.remove());
  area.append(item);
  if (kind !== "err") setTimeout(() => item.remove(), 8000);
  return item;
}

export function clearNotices() {
  document.getElementById("notices").replaceChildren();
}

/**
 * A modal dialog: resolves true when confirmed. With `typed`, the confirm button stays
 * disabled until that exact text is typed. Escape or Cancel resolves false.
 */
export function confirm({ title, message, confirmLabel = "OK", danger = false, typed = null }) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary" }, confirmLabel);
    const cancel = h("button", { type: "button" }, "Cancel");
    const body = [h("h2", {}, title), message ? h("p", {}, message) : null];
    let input = null;
    if (typed !== null) {
      input = h("input", { type: "text", autocomplete: "off", spellcheck: "false", class: "mono" });
      body.push(field(["Type ", h("strong", { class: "mono" }, typed), " to confirm"], input));
      ok.disabled = true;
      input.addEventListener("input", () => {
        ok.disabled = input.value !== typed;
      });
    }
    const form = h("form", { class: "dialog-form" }, body, h("div", { class: "actions" }, cancel, ok));
    const dialog = h("dialog", { "aria-label": plain(title) }, form);
    let answer = false;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (ok.disabled) return;
      answer = true;
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    (input || (danger ? cancel : ok)).focus();
  });
}

/**
 * A modal form for editing one object: `save` is called with nothing and sends the change;
 * its answer (the updated object) resolves the promise, or null when cancelled.
 */
export function editDialog({ title, parts, save, focus = "input" }) {
  return new Promise((resolve) => {
    const result = slot();
    const saveButton = h("button", { type: "submit", class: "primary" }, "Save");
    const cancel = h("button", { type: "button" }, "Cancel");
    const form = h("form", { class: "dialog-form" }, h("h2", {}, title), parts, result, h("div", { class: "actions" }, cancel, saveButton));
    const dialog = h("dialog", { "aria-label": title }, form);
    let saved = null;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const updated = await act(saveButton, result, save);
      if (updated) {
        saved = updated;
        dialog.close();
      }
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(saved);
    });
    document.body.append(dialog);
    dialog.showModal();
    form.querySelector(focus)?.focus();
  });
}

/** Asks for a repository passphrase; resolves the string, or null. Nothing is kept. */
export function askPassphrase(title, note) {
  return new Promise((resolve) => {
    const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false" });
    const ok = h("button", { type: "submit", class: "primary" }, "Continue");
    const cancel = h("button", { type: "button" }, "Cancel");
    const form = h(
      "form",
      { class: "dialog-form" },
      h("h2", {}, title),
      note ? h("p", {}, note) : null,
      field("Passphrase", input, "Used for this one request, then forgotten."),
      h("div", { class: "actions" }, cancel, ok),
    );
    const dialog = h("dialog", { "aria-label": plain(title) }, form);
    let answer = null;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      answer = input.value;
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      input.value = "";
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/** A read-only one-liner with a Copy button (clipboard API, else a selection copy). */
export function copyable(text, label) {
  const input = h("input", { type: "text", readOnly: true, value: text, class: "mono", spellcheck: "false" });
  input.setAttribute("aria-label", label);
  const status = h("span", { class: "copy-status", role: "status", "aria-live": "polite" });
  const button = h("button", { type: "button" }, "Copy");
  button.setAttribute("aria-label", "Copy " + label);
  button.addEventListener("click", async () => {
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch {
      done = false;
    }
    if (!done) {
      input.focus();
      input.select();
      try {
        done = document.execCommand("copy");
      } catch {
        done = false;
      }
    }
    fill(status, done ? "Copied" : "Select the text and copy it by hand");
  });
  input.addEventListener("focus", () => input.select());
  return h("div", { class: "copyable" }, input, button, status);
}

/** A table; `columns` are header labels, `rows` arrays of cells (strings or nodes). */
export function table(columns, rows, empty = "None yet.") {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((row) => (row instanceof Node ? row : h("tr", {}, row.map((cell) => h("td", {}, cell)))))),
    ),
  );
}

export function badge(text, kind = "") {
  return h("span", { class: "badge " + kind }, text);
}

export function section(title, ...children) {
  const id = uid("s");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), children);
}
