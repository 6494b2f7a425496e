// Create a repository (POST /repos): name, public key (pasted or read from a file),
// append-only and quota; then what to run on the client.

import * as api from "./api.js";
import { h, fill, field, checkbox, slot, act, copyable, section, uid } from "./dom.js";
import { VALID_NAME } from "./view-overview.js";

export const UNITS = [
  ["GB", 1e9],
  ["TB", 1e12],
  ["MB", 1e6],
];

/** A number + unit pair for a quota; read() gives bytes (0 = none) or throws. */
export function quotaInput(currentBytes = 0) {
  const number = h("input", { type: "number", min: "0", step: "any", inputmode: "decimal", class: "short" });
  const unit = h("select", {}, UNITS.map(([label, factor]) => h("option", { value: String(factor) }, label)));
  unit.setAttribute("aria-label", "Unit");
  if (currentBytes > 0) {
    const [, factor] = UNITS.find(([, f]) => currentBytes % f === 0 && currentBytes / f >= 1) ?? ["GB", 1e9];
    unit.value = String(factor);
    number.value = String(currentBytes / factor);
  }
  return {
    number,
    unit,
    read() {
      if (number.value.trim() === "") return 0;
      const n = Number(number.value);
      if (!Number.isFinite(n) || n < 0) throw new Error("The quota must be a positive number, or 0 for none.");
      return Math.round(n * Number(unit.value));
    },
  };
}

export function quotaField(quota, label, hint) {
  quota.number.id = uid("q");
  return h("div", { class: "field" }, h("label", { for: quota.number.id }, label), h("div", { class: "inline" }, quota.number, quota.unit), hint ? h("small", { class: "hint" }, hint) : null);
}

/** The exact command the client runs once (API.md 6.4). */
export function initCommand(sshUrl) {
  return `borg init --encryption=repokey-blake2 ${sshUrl}`;
}

export function clientSteps(repo) {
  return h(
    "div",
    { class: "client-steps" },
    h("p", {}, "On the client, with the private key that belongs to the public key registered here, initialise the repository once:"),
    copyable(initCommand(repo.ssh_url), "borg init command"),
    h("p", { class: "hint" }, 'If the key is not your default SSH key, first run: export BORG_RSH="ssh -i ~/.ssh/your-key". Then back up with borg create to ', h("span", { class: "mono" }, repo.ssh_url + "::{hostname}-{now}"), "."),
    h("p", {}, "Repository URL:"),
    copyable(repo.ssh_url, "SSH URL"),
  );
}

/** A textarea for a public key plus a file picker that fills it. */
export function keyInput() {
  const text = h("textarea", { rows: "3", spellcheck: "false", autocomplete: "off", class: "mono", placeholder: "ssh-ed25519 AAAA… user@laptop" });
  const file = h("input", { type: "file", accept: ".pub,text/plain" });
  const note = slot();
  file.addEventListener("change", async () => {
    const chosen = file.files?.[0];
    if (!chosen) return;
    try {
      if (chosen.size > 16384) throw new Error("That file is too large to be a public key.");
      text.value = (await chosen.text()).trim();
      note.ok("Read " + chosen.name);
    } catch (error) {
      note.error(error);
    }
  });
  return { text, file, note };
}

export async function createView(main, _params, ctx) {
  ctx.title("New repository");
  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off", spellcheck: "false", maxlength: "63", class: "mono" });
  const key = keyInput();
  const appendOnly = checkbox("Append-only (clients can add backups but not delete or prune them)", { name: "append_only" });
  const quota = quotaInput();
  const result = slot();
  const submit = h("button", { type: "submit", class: "primary" }, "Create repository");
  const form = h(
    "form",
    { class: "card", id: "create-form" },
    field("Name", name, "Lower-case letters, digits and hyphens, up to 63 characters, not starting with a hyphen."),
    field("Public key", key.text, "The client's OpenSSH public key line (for example ~/.ssh/id_ed25519.pub)."),
    field("…or read it from a file", key.file),
    key.note,
    appendOnly,
    quotaField(quota, "Storage quota", "Empty or 0: no quota. At least 10 MB."),
    h("div", { class: "actions" }, submit),
    result,
  );
  const done = h("div", {});
  fill(main, h("h1", { tabindex: "-1" }, "New repository"), form, done);

  name.addEventListener("input", () => {
    name.setCustomValidity(name.value === "" || VALID_NAME.test(name.value) ? "" : "Lower-case letters, digits and hyphens only, not starting with a hyphen.");
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const repo = await act(submit, result, async () => {
      const body = { name: name.value.trim(), pubkey: key.text.value.trim(), append_only: appendOnly.querySelector("input").checked };
      const bytes = quota.read();
      if (bytes > 0) body.storage_quota_bytes = bytes;
      return api.post(api.path("repos"), body);
    });
    if (!repo) return;
    form.hidden = true;
    fill(
      done,
      section(
        ["Repository ", h("span", { class: "mono" }, repo.name), " created"],
        clientSteps(repo),
        h(
          "div",
          { class: "actions" },
          h("a", { href: "/repos/" + encodeURIComponent(repo.name), class: "button primary", id: "open-repo" }, "Open the repository"),
          h("button", {
            type: "button",
            onclick: () => {
              form.reset();
              form.hidden = false;
              done.replaceChildren();
              name.focus();
            },
          }, "Create another"),
        ),
      ),
    );
    done.querySelector("h2")?.setAttribute("tabindex", "-1");
    done.querySelector("h2")?.focus();
  });
  name.focus();
}
