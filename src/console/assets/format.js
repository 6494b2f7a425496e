// Numbers, sizes and times as people read them. Sizes are decimal (kB, MB, GB), as borg
// prints them; times are the browser's local time with the server's UTC value on hover.

import { h } from "./dom.js";

const UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];

export function bytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "—";
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** Seconds as "3 d 4 h", "5 h 10 min", "42 s". */
export function duration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "—";
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${hr} h`;
  if (hr > 0) return `${hr} h ${min} min`;
  if (min > 0) return `${min} min`;
  return `${s} s`;
}

/** A borgbox timestamp ("2026-04-13T14:32:08Z") as a Date, or null for "" or junk. */
export function parseTime(value) {
  if (typeof value !== "string" || value === "") return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t);
}

/** Seconds since a timestamp, or null. */
export function ageSeconds(value, now = Date.now()) {
  const t = parseTime(value);
  return t ? Math.max(0, (now - t.getTime()) / 1000) : null;
}

export function ago(value, now = Date.now()) {
  const age = ageSeconds(value, now);
  if (age === null) return "never";
  if (age < 60) return "just now";
  return duration(age) + " ago";
}

const LOCAL = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

export function localTime(value) {
  const t = parseTime(value);
  return t ? LOCAL.format(t) : "—";
}

/** A <time> in local time, the server's UTC value on hover; `empty` when unset. */
export function timeEl(value, empty = "—") {
  const t = parseTime(value);
  if (!t) return h("span", { class: "muted" }, empty);
  return h("time", { datetime: value, title: value + " (UTC, as the server sent it)" }, LOCAL.format(t));
}

/** A <time> showing the age ("3 h ago"), with the local and UTC times on hover. */
export function ageEl(value, now = Date.now()) {
  const t = parseTime(value);
  if (!t) return h("span", { class: "muted" }, "never");
  return h("time", { datetime: value, title: `${LOCAL.format(t)} — ${value} UTC` }, ago(value, now));
}

export const pad2 = (n) => String(n).padStart(2, "0");

export const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** "daily at 03:00", "weekly on Monday at 03:00", "monthly on day 5 at 03:00". */
export function cadence(s) {
  const at = `${pad2(s.hour)}:${pad2(s.minute)}`;
  if (s.cadence === "weekly") return `weekly on ${WEEKDAYS[s.weekday] ?? "day " + s.weekday} at ${at}`;
  if (s.cadence === "monthly") return `monthly on day ${s.day} at ${at}`;
  return `${s.cadence} at ${at}`;
}
