// Sign-in: the token is tried against GET /info before it is kept (in sessionStorage, for
// this tab only). Surrounding spaces and line breaks from a paste are trimmed.

import * as api from "./api.js";
import { h, field, slot, act } from "./dom.js";

const REASONS = {
  new: null,
  "signed-out": "You are signed out. The token was forgotten.",
  expired: "borgbox no longer accepts the token this tab was using (it may have been changed). Sign in again: the page you were on keeps what you typed.",
};

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

/** Plain http to anything but this machine. */
function insecure() {
  return location.protocol === "http:" && !LOOPBACK.test(location.hostname);
}

export function signInForm(reason, onSignedIn) {
  const input = h("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    class: "mono",
  });
  const result = slot();
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin-card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to borgbox"),
    REASONS[reason] ? h("p", { class: "slot info" }, REASONS[reason]) : null,
    insecure() ? h("p", { class: "slot err", id: "insecure" }, "This connection is not encrypted: the token would cross the network in clear text. Put borgbox behind a TLS reverse proxy (see the README) and use https.") : null,
    field(
      "API token",
      input,
      "On the server: sudo cat /etc/borgbox/token (in dev mode, the token file in the dev directory). It is kept in this tab only, until you sign out or close it.",
    ),
    h("div", { class: "actions" }, button),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = api.cleanToken(input.value);
    if (!token) {
      result.error(new Error("Paste the token first."));
      return;
    }
    const info = await act(button, result, async () => {
      try {
        return await api.get(api.path("info"), { auth: token });
      } catch (error) {
        if (error.status === 401) throw new Error("Wrong token. The server said: " + error.message);
        throw error;
      }
    });
    if (!info) return;
    input.value = "";
    api.setToken(token);
    onSignedIn(info);
  });
  return form;
}
