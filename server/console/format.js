// Formatting shared by every panel: times in UTC and in the event's local time, severities,
// and small DOM helpers.
//
// The event's local time: the hub tells the IANA zone of alerts, SOS calls and reports
// (`time_zone`, from the time-zone boundaries at the event's place), and the console uses it.
// Events without one (advisories, trips, warnings, a draft, alerts sent before the hub told
// zones) fall back to the country the hub tells: zones.js maps a country to its IANA zone from
// the tz database, and in countries with several zones (DR Congo, Indonesia, Russia …) to the
// zone whose principal city lies nearest the event, which near a zone boundary can pick the
// neighbouring zone. The zone is always named next to the time. Intl (built into the browser)
// does the conversion.

import { ZONES } from "./zones.js";

export const SEVERITIES = ["extreme", "severe", "moderate", "minor", "unknown"];

export function severityRank(severity) {
  const i = SEVERITIES.indexOf(severity);
  return i < 0 ? SEVERITIES.length : i;
}

/** The IANA zone of an event in `country` near `point` ({lat, lon}), or null. */
function zoneOf(country, point) {
  const entry = country && ZONES[country];
  if (!entry) return null;
  if (typeof entry === "string") return entry;
  if (!point) return entry[0][0];
  let best = entry[0];
  let bestDistance = Infinity;
  for (const candidate of entry) {
    const d = (candidate[1] - point.lat) ** 2 + ((candidate[2] - point.lon) * Math.cos((point.lat * Math.PI) / 180)) ** 2;
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best[0];
}

const utcFormat = new Intl.DateTimeFormat("en-GB", {
  timeZone: "UTC", day: "2-digit", month: "short", hour: "2-digit", minute: "2-digit", hour12: false,
});
const zoneFormats = new Map();

function zoneFormat(zone) {
  if (!zoneFormats.has(zone)) {
    try {
      zoneFormats.set(zone, new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short",
      }));
    } catch {
      zoneFormats.set(zone, null);
    }
  }
  return zoneFormats.get(zone);
}

/** "29 Nov 08:15 UTC" */
function utc(iso) {
  if (!iso) return "";
  return `${utcFormat.format(new Date(iso))} UTC`;
}

/** "09:15 GMT+1 Kinshasa" in one zone. */
function inZone(date, zone) {
  const format = zoneFormat(zone);
  return format ? `${format.format(date)} ${zone.split("/").pop().replaceAll("_", " ")}` : "";
}

/** "09:15 GMT+1 Kinshasa" for an event in `zone` (the one the hub served), else in `country`
 *  near `point`, or "" when unknown. A country-wide event (an advisory) in a country of several zones has no one local time: each
 *  distinct clock of the country is shown ("09:15 GMT+1 Kinshasa · 10:15 GMT+2 Lubumbashi"),
 *  the first three, as a curfew may be anywhere in it. */
export function localTime(iso, country, point, zone) {
  if (!iso) return "";
  const date = new Date(iso);
  if (zone) return inZone(date, zone);
  const entry = country && ZONES[country];
  if (entry && typeof entry !== "string" && !point) {
    const clocks = new Map();
    for (const [zone] of entry) {
      const format = zoneFormat(zone);
      const clock = format && format.format(date);
      if (clock && !clocks.has(clock)) clocks.set(clock, inZone(date, zone));
    }
    const shown = [...clocks.values()];
    return shown.slice(0, 3).join(" · ") + (shown.length > 3 ? ` · ${shown.length - 3} more zones` : "");
  }
  const nearest = zoneOf(country, point);
  return nearest ? inZone(date, nearest) : "";
}

/** A <time> element showing UTC and, beneath it, the event's local time (see localTime). */
export function timeEl(iso, country, point, zone) {
  const el = h("time", { datetime: iso || "", class: "when" }, utc(iso));
  const there = localTime(iso, country, point, zone);
  if (there) el.append(h("span", { class: "local" }, there));
  return el;
}

/** The text of a 24-hour UTC time field for an instant: "2026-12-06 14:58". Browsers' own
 *  date-time pickers follow the machine's locale (12-hour "02:58 PM" in many), beside the
 *  console's 24-hour clocks: the console's time fields are plain text in one format. */
export function utcFieldText(iso) {
  return iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") : "";
}

/** Reads a UTC time field ("YYYY-MM-DD HH:MM", 24-hour) into an ISO instant; null when the
 *  text is no such time (a 13th month, 24:00, 31 February). */
export function parseUtcField(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const [y, mo, d, hh, mm] = m.slice(1).map(Number);
  if (hh > 23 || mm > 59) return null;
  const date = new Date(Date.UTC(y, mo - 1, d, hh, mm));
  return date.getUTCMonth() === mo - 1 && date.getUTCDate() === d ? date.toISOString() : null;
}

/** A 24-hour UTC time field (read it with parseUtcField). */
export function utcField(attrs) {
  return h("input", { ...attrs, placeholder: "YYYY-MM-DD HH:MM", autocomplete: "off", spellcheck: "false",
    pattern: "\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}", title: "UTC, 24-hour: YYYY-MM-DD HH:MM" });
}

/** A link that calls `phone` (E.164, as the hub keeps it) on a device that can, or nothing. */
export function telLink(phone, name) {
  return phone ? h("a", { class: "tel", href: `tel:${phone}`, "aria-label": `Call ${name} on ${phone}` }, `☎ ${phone}`) : null;
}

/** "3 min ago" */
export function ago(iso, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** hyperscript: h("div", {class: "x", onclick: f}, child, "text", …) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function label(text) {
  return text.replaceAll("_", " ");
}

/** Shows a message (kind: error, ok, warn or info) in an element, or clears it. */
export function say(el, message, kind = "error") {
  el.textContent = message || "";
  el.classList.remove("error", "ok", "info", "warn");
  if (message) el.classList.add(kind);
}
