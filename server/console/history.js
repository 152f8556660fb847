// History: what has left the live queues stays reachable — resolved SOS calls and cancelled
// alerts, each with its trail (where the person was, what was done to it, by whom, when) read
// from the hub's audit — and how fast the last 30 days' headcounts accounted for people, real
// alerts and drills apart. The hub shows each officer only their countries, as everywhere else.

import { h, say, timeEl, label } from "./format.js";
import { drill } from "./guard.js";
import { areaCentre, keepValues } from "./alerts.js";
import { periodSummary } from "./accounting.js";

const LIMIT = 100;

export function historyPanel(ctx, root) {
  const { state } = ctx;
  // Which entry's trail is open, and the trails read so far (by subject id).
  let open = null;
  const trails = new Map();
  let data = null;
  const message = h("p", { class: "message", role: "alert" });

  // Each list is read a page at a time, newest first; "Show older" asks for the page before the
  // oldest shown. The hub scopes each page to the officer's countries before it counts it.
  const LISTS = {
    resolved: { path: "/api/v1/sos?status=resolved", time: (s) => s.raised_at },
    cancelled: { path: "/api/v1/alerts?cancelled=true", time: (a) => a.sent_at },
  };

  const page = (name, before) =>
    ctx.call("GET", `${LISTS[name].path}&limit=${LIMIT}${before ? `&before=${encodeURIComponent(before)}` : ""}`);

  async function reload() {
    try {
      const [resolved, cancelled, real, drills] = await Promise.all([page("resolved"), page("cancelled"),
        ctx.call("GET", "/api/v1/headcounts/summary"), ctx.call("GET", "/api/v1/headcounts/summary?status=exercise")]);
      data = { resolved, cancelled, real, drills, more: { resolved: resolved.length === LIMIT, cancelled: cancelled.length === LIMIT } };
      say(message, "");
    } catch (e) {
      say(message, `History: ${e.message}`);
    }
    render();
  }

  async function older(name) {
    const shown = data[name];
    try {
      const next = await page(name, LISTS[name].time(shown[shown.length - 1]));
      data[name] = shown.concat(next);
      data.more[name] = next.length === LIMIT;
    } catch (e) {
      say(message, `History: ${e.message}`);
    }
    render();
  }

  const olderButton = (name) => data.more[name]
    ? h("button", { type: "button", class: "ghost older", "data-older": name, onclick: () => older(name) }, "Show older")
    : null;

  async function toggle(id) {
    open = open === id ? null : id;
    if (open && !trails.has(id)) {
      try {
        trails.set(id, await ctx.call("GET", `/api/v1/audit?subject=${id}&limit=200`));
      } catch (e) {
        say(message, e.message);
      }
    }
    render();
  }

  function trail(id) {
    const entries = trails.get(id);
    if (!entries) return null;
    return h("ol", { class: "audit-trail", "aria-label": "Audit trail" },
      [...entries].reverse().map((e) => h("li", { "data-action": e.action },
        timeEl(e.at), h("strong", {}, ` ${label(e.action.replace(".", " "))}`), ` by ${e.actor}`,
        detailText(e.detail) ? h("span", { class: "muted" }, ` — ${detailText(e.detail)}`) : null)));
  }

  function sosCard(s) {
    const where = s.position || (s.trail.length ? s.trail[s.trail.length - 1] : null);
    const country = s.countries[0];
    return h("li", { class: "card history-card", "data-history-sos": s.id },
      h("div", { class: "card-head" }, h("span", { class: "pill resolved" }, "resolved"),
        h("strong", { class: "headline" }, s.name), h("span", { class: "muted" }, s.username)),
      s.note ? h("p", { class: "text" }, `“${s.note}”`) : null,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Raised"), h("dd", {}, timeEl(s.raised_at, country, where, s.time_zone))),
        s.acknowledged_by ? h("div", {}, h("dt", {}, "Acknowledged"), h("dd", {}, `by ${s.acknowledged_by} `, timeEl(s.acknowledged_at, country, where, s.time_zone))) : null,
        h("div", {}, h("dt", {}, "Resolved"), h("dd", {}, `by ${s.resolved_by} `, timeEl(s.resolved_at, country, where, s.time_zone))),
        h("div", {}, h("dt", {}, "What happened"), h("dd", { class: "resolution" }, s.resolution || "")),
        h("div", {}, h("dt", {}, "Where"), h("dd", {}, where ? `${where.lat.toFixed(4)}, ${where.lon.toFixed(4)}` : "no position",
          s.countries.length ? ` · ${s.countries.join(", ")}` : "", ` · trail of ${s.trail.length}`))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "ghost trail-toggle", "aria-expanded": String(open === s.id), onclick: () => toggle(s.id) },
          open === s.id ? "Hide trail" : "Trail and audit")),
      open === s.id ? [
        s.trail.length ? h("ol", { class: "position-trail", "aria-label": "Positions" },
          s.trail.map((p) => h("li", {}, timeEl(p.recorded_at, country, p), ` ${p.lat.toFixed(4)}, ${p.lon.toFixed(4)}`))) : null,
        trail(s.id),
      ] : null);
  }

  function alertCard(a) {
    const mark = drill(a);
    const centre = areaCentre(a.area);
    return h("li", { class: `card history-card sev-${a.severity}${mark ? " drill" : ""}`, "data-history-alert": a.id },
      h("div", { class: "card-head" }, mark ? h("span", { class: "pill drill" }, mark) : null,
        h("span", { class: "pill cancelled" }, "cancelled"), h("strong", { class: "headline" }, a.headline)),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Sent"), h("dd", {}, timeEl(a.sent_at, a.countries[0], centre, a.time_zone), ` by ${a.sender} to ${a.recipients}`)),
        h("div", {}, h("dt", {}, "Cancelled"), h("dd", {}, timeEl(a.updated_at, a.countries[0], centre, a.time_zone), a.cancel_reason ? ` — ${a.cancel_reason}` : "")),
        h("div", {}, h("dt", {}, "Countries"), h("dd", {}, a.countries.join(", ") || "none (at sea)"))),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "ghost open-alert", onclick: () => {
          state.alerts.set(a.id, state.alerts.get(a.id) || a);
          ctx.select("alert", a.id);
        } }, a.checkin_required ? "Open with its headcount" : "Open"),
        h("button", { type: "button", class: "ghost trail-toggle", "aria-expanded": String(open === a.id), onclick: () => toggle(a.id) },
          open === a.id ? "Hide trail" : "Audit trail")),
      open === a.id ? trail(a.id) : null);
  }

  function render() {
    keepValues(root, () => root.replaceChildren(
      h("h2", { class: "panel-title" }, "History"),
      message,
      ...(!data ? [h("p", { class: "empty" }, "Loading…")] : [
        periodSummary(data.real, "Time to account, last 30 days"),
        periodSummary(data.drills, "Drills, last 30 days"),
        h("h3", { class: "section-title" }, "Resolved SOS calls"),
        data.resolved.length ? h("ul", { class: "cards", id: "history-sos" }, data.resolved.map(sosCard))
          : h("p", { class: "empty" }, "No resolved SOS call."),
        olderButton("resolved"),
        h("h3", { class: "section-title" }, "Cancelled alerts"),
        data.cancelled.length ? h("ul", { class: "cards", id: "history-alerts" }, data.cancelled.map(alertCard))
          : h("p", { class: "empty" }, "No cancelled alert."),
        olderButton("cancelled"),
      ].filter(Boolean))));
  }

  return {
    /** Shown: read afresh (what was resolved or cancelled meanwhile is there). */
    shown() {
      trails.clear();
      reload();
    },
  };
}

/** The words of an audit entry's detail worth showing: a note, a reason, a status. */
function detailText(detail) {
  if (!detail || typeof detail !== "object") return "";
  return ["note", "reason", "status", "via", "headline"].filter((k) => detail[k]).map((k) => `${label(k)}: ${label(String(detail[k]))}`).join(" · ");
}
