// Formatting shared by every panel: times in UTC and in the event's local time, severities,
// and small DOM helpers.
//
// The event's local time: the hub tells each event's country (from Natural Earth boundaries);
// zones.js maps a country to its IANA zone from the tz database, and in countries with several
// zones (DR Congo, Indonesia, Russia …) to the zone whose principal city lies nearest the event.
// Near a zone boundary inside such a country this can pick the neighbouring zone, so the zone
// is always named next to the time. Intl (built into the browser) does the conversion.

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

/** "09:15 GMT+1 Kinshasa" for an event in `country` near `point`, or "" when unknown. */
function local(iso, country, point) {
  const zone = zoneOf(country, point);
  const format = zone && zoneFormat(zone);
  if (!iso || !format) return "";
  const city = zone.split("/").pop().replaceAll("_", " ");
  return `${format.format(new Date(iso))} ${city}`;
}

/** A <time> element showing UTC and, beneath it, the event's local time. */
export function timeEl(iso, country, point) {
  const el = h("time", { datetime: iso || "", class: "when" }, utc(iso));
  const there = local(iso, country, point);
  if (there) el.append(h("span", { class: "local" }, there));
  return el;
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
