// The console's one door to borgbox: every call goes through the public /api/v1 endpoints
// with the token the user typed, kept in this tab's sessionStorage only (API.md 16.4).
// A 401 hands control to the sign-in screen (onUnauthorized) without touching the page
// underneath, so whatever the user typed is still there after signing in again.

import { readEvents } from "./sse.js";

const KEY = "borgbox.token";
const BASE = "/api/v1";

let token = null;
try {
  token = sessionStorage.getItem(KEY);
} catch {
  token = null;
}
let unauthorizedHandler = () => {};

/** An answer other than 2xx, or no answer at all (status 0). `message` is the server's. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

export function hasToken() {
  return Boolean(token);
}

export function setToken(value) {
  token = value;
  try {
    sessionStorage.setItem(KEY, value);
  } catch {
    // Storage disabled: the token lives in memory until the tab closes.
  }
}

export function forgetToken() {
  token = null;
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Nothing stored.
  }
}

/** Called on every 401 of a signed-in session. */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

/** Surrounding whitespace and line breaks are never part of a token (a paste often adds them). */
export function cleanToken(value) {
  return value.replace(/^\s+|\s+$/g, "");
}

export function path(...segments) {
  return BASE + segments.map((s) => "/" + encodeURIComponent(s)).join("");
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function send(method, url, { body, headers = {}, signal, auth = token } = {}) {
  const init = { method, headers: { ...headers }, signal, cache: "no-store", credentials: "omit" };
  if (auth) init.headers.Authorization = "Bearer " + auth;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  // A socket-activated borgbox may have exited between two requests; the next connection
  // starts it again. A read is retried once; a change is not (it may have been applied).
  const attempts = method === "GET" ? 2 : 1;
  for (let i = 1; ; i++) {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (signal?.aborted) throw err;
      if (i >= attempts) {
        throw new ApiError(0, "borgbox is not reachable: " + (err?.message || String(err)));
      }
      await pause(400);
    }
  }
}

async function errorOf(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") message = body.error;
  } catch {
    // Not our JSON (a proxy's page): keep the status.
  }
  return new ApiError(response.status, message);
}

/**
 * One API call: the decoded JSON (null for 204), or an ApiError carrying the server's
 * message. `auth` overrides the stored token (sign-in tries a candidate first).
 */
export async function request(method, url, options = {}) {
  const response = await send(method, url, options);
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && options.auth === undefined) unauthorizedHandler(error);
    throw error;
  }
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (url, options) => request("GET", url, options);
export const post = (url, body, options = {}) => request("POST", url, { ...options, body });
export const patch = (url, body, options = {}) => request("PATCH", url, { ...options, body });
export const del = (url, options) => request("DELETE", url, options);

/**
 * Follows a job's event stream (API.md 10) with fetch, since an EventSource cannot send
 * the Authorization header. Calls onEvent with each decoded event object; resolves when the
 * server closes the stream.
 */
export async function stream(jobId, onEvent, signal) {
  const response = await send("GET", path("jobs", jobId, "stream"), {
    signal,
    headers: { Accept: "text/event-stream" },
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) unauthorizedHandler(error);
    throw error;
  }
  await readEvents(response.body, (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // Undecodable data is ignored, as the GUI client does (API.md 14).
    }
    if (data && typeof data.type === "string") onEvent(data);
  });
}
