// Alerts: the list of active alerts, one alert's detail with its headcount board (live counts,
// time-to-account, people in trouble first — SOS, need help — then the overdue and the silent,
// what each said, who was not reached at all; proxy check-in, CSV; an exercise's drill
// report), and the composer (draw or paste an area,
// fill in the CAP fields, preview the reach, review, then send, update, cancel). Exercises are
// marked as such wherever an alert shows.

import { h, say, timeEl, localTime, telLink, ago, label, severityRank, SEVERITIES, utcField, utcFieldText, parseUtcField } from "./format.js";
import { areaRings, bounds, circleRing } from "./map.js";
import { placeSearch } from "./placesearch.js";
import { confirmAction, afterUndoWindow, drill, place as placeSlot, settled } from "./guard.js";
import { timeToAccount, drillReport, duration, channelName } from "./accounting.js";

const CATEGORIES = ["security", "safety", "geo", "met", "rescue", "fire", "health", "env", "transport", "infra", "cbrne", "other"];
const URGENCIES = ["immediate", "expected", "future", "past", "unknown"];
const CERTAINTIES = ["observed", "likely", "possible", "unlikely", "unknown"];
const STATUSES = ["actual", "exercise", "test"];
const CHANNELS = [["phone", "Phone"], ["radio", "Radio"], ["in_person", "In person"], ["other", "Other"]];

/** A point to name an alert's local time by: its area's centre. */
export function areaCentre(area) {
  const [w, s, e, n] = bounds(areaRings(area));
  return { lon: (w + e) / 2, lat: (s + n) / 2 };
}

function when(iso, alert) {
  return timeEl(iso, alert.countries[0], areaCentre(alert.area), alert.time_zone);
}

function counts(c) {
  const total = Math.max(c.total, 1);
  // The width through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  const seg = (cls, n) => {
    const el = h("span", { class: `seg ${cls}` });
    el.style.width = `${(100 * n) / total}%`;
    return el;
  };
  return h("div", { class: "tally" },
    h("div", { class: "bar", "aria-hidden": "true" }, seg("safe", c.safe), seg("need_help", c.need_help),
      seg("overdue", c.overdue || 0), seg("no_response", c.no_response - (c.overdue || 0))),
    h("dl", { class: "figures" },
      h("div", {}, h("dt", {}, "Total"), h("dd", { "data-count": "total" }, c.total)),
      h("div", { class: "safe" }, h("dt", {}, "Safe"), h("dd", { "data-count": "safe" }, c.safe)),
      h("div", { class: "need_help" }, h("dt", {}, "Need help"), h("dd", { "data-count": "need_help" }, c.need_help)),
      h("div", { class: "no_response" }, h("dt", {}, "No response"), h("dd", { "data-count": "no_response" }, c.no_response)),
      h("div", { class: "not_reached", title: "Of those without an answer: no device of theirs has the alert" },
        h("dt", {}, "Not reached"), h("dd", { "data-count": "not_reached" }, c.not_reached || 0)),
      h("div", { class: "overdue" }, h("dt", {}, "Overdue"), h("dd", { "data-count": "overdue" }, c.overdue || 0))));
}

/** A card's headcount at a glance: each figure with its word, the people in trouble first. */
function miniTally(t) {
  const figure = (cls, n, word) => h("span", { class: `figure ${cls}`, "data-tally": cls }, h("b", {}, n), ` ${word}`);
  return h("span", { class: "mini-tally" },
    t.need_help ? figure("need_help", t.need_help, "need help") : null,
    t.overdue ? figure("overdue", t.overdue, "overdue") : null,
    figure("no_response", t.no_response, "no response"),
    figure("safe", t.safe, "safe"),
    figure("total", t.total, "in the area"),
    t.not_reached ? figure("not_reached", t.not_reached, "not reached") : null);
}

/** Where a person of a board stands, most urgent first: "sos", "need_help", "overdue",
 *  "not_reached" (no device has the alert), "no_response", "safe". The map marks them by it. */
export function standing(p) {
  if (p.sos_id) return "sos";
  if (p.status === "need_help") return "need_help";
  if (p.status === "safe") return "safe";
  if (p.overdue) return "overdue";
  return p.reached ? "no_response" : "not_reached";
}

/** Whether a person's case outlives a closed headcount: need help, or an SOS not resolved. */
export function followedUp(p) {
  return !!p.sos_id || p.status === "need_help";
}

export const STANDING_TEXT = { sos: "SOS", need_help: "need help", overdue: "overdue", not_reached: "not reached", no_response: "no response", safe: "safe" };

export function alertsPanel(ctx, root) {
  const { state } = ctx;
  let board = null;
  let boardTimer = null;

  function card(alert) {
    const selected = state.selected && state.selected.id === alert.id;
    const tally = state.headcounts.get(alert.id);
    const mark = drill(alert);
    return h("li", {},
      h("button", { type: "button", class: `card alert-card sev-${alert.severity}${mark ? " drill" : ""}${selected ? " selected" : ""}`,
        "data-alert": alert.id, onclick: () => ctx.select("alert", alert.id) },
        h("span", { class: "card-head" },
          mark ? h("span", { class: "pill drill" }, mark) : null,
          h("span", { class: `pill sev-${alert.severity}` }, alert.severity),
          h("strong", { class: "headline" }, alert.headline)),
        h("span", { class: "meta" }, [alert.event, alert.countries.join(", ") || "no country",
          `${alert.recipients} reached`, alert.revision > 1 ? `rev ${alert.revision}` : null].filter(Boolean).join(" · ")),
        h("span", { class: "meta" }, when(alert.sent_at, alert), h("span", { class: "ago" }, ago(alert.sent_at))),
        tally ? miniTally(tally) : null));
  }

  function list() {
    const alerts = [...state.alerts.values()].filter(ctx.isActive)
      .sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || Date.parse(b.sent_at) - Date.parse(a.sent_at));
    return [
      h("h2", { class: "panel-title" }, "Active alerts"),
      alerts.length ? h("ul", { class: "cards", id: "alert-list" }, alerts.map(card))
        : h("p", { class: "empty" }, "No active alerts."),
    ];
  }

  function detail(alert) {
    const active = ctx.isActive(alert);
    const message = h("p", { class: "message", role: "alert" });
    // Kept per alert: a reason typed for one alert never shows up on another.
    const reason = h("input", { id: "cancel-reason", "data-keep": `cancel-reason-${alert.id}`, placeholder: "Reason for cancelling", "aria-label": "Reason for cancelling" });
    const cancel = async () => {
      if (!reason.value.trim()) {
        say(message, "Give a reason for cancelling.");
        reason.focus();
        return;
      }
      let trouble;
      try {
        trouble = await inTrouble(alert);
      } catch (e) {
        say(message, e.message);
        return;
      }
      const mark = drill(alert);
      const people = `${alert.recipients} ${alert.recipients === 1 ? "person" : "people"}`;
      const ok = await confirmAction({
        title: `Send cancel to ${people}?`,
        drill: mark,
        facts: [["Alert", alert.headline], ["Countries", alert.countries.join(", ") || "none (at sea)"], ["Reason", reason.value.trim()]],
        warnings: trouble.map((p) => `${p.name} ${p.sos_id ? "has an open SOS" : "still needs help"}: their case stays open as a follow-up after the cancel.`),
        confirm: `Send cancel to ${people}`,
        danger: true,
      });
      if (!ok || !ctx.isActive(state.alerts.get(alert.id) || alert)) return;
      try {
        const updated = await ctx.call("POST", `/api/v1/alerts/${alert.id}/cancel`, { reason: reason.value.trim() });
        state.alerts.set(updated.id, updated);
        ctx.toast(`${drill(updated) ? `${drill(updated)} alert` : "Alert"} cancelled; the cancel went to ${updated.recipients} ${updated.recipients === 1 ? "person" : "people"}.`);
        ctx.changed("alerts");
      } catch (e) {
        say(message, e.message);
      }
    };
    const cap = async () => {
      try {
        const response = await ctx.call("GET", `/api/v1/alerts/${alert.id}/cap`, undefined, { raw: true });
        download(await response.blob(), `alert-${alert.id}.cap.xml`);
      } catch (e) {
        say(message, e.message);
      }
    };
    return [
      h("button", { type: "button", class: "ghost back", onclick: () => ctx.select(null, null) }, "← All alerts"),
      h("article", { class: `detail sev-${alert.severity}${drill(alert) ? " drill" : ""}` },
        drill(alert) ? h("p", { class: "drill-banner" }, `${drill(alert)} — not a real alert`) : null,
        h("div", { class: "card-head" }, drill(alert) ? h("span", { class: "pill drill" }, drill(alert)) : null,
          h("span", { class: `pill sev-${alert.severity}` }, alert.severity),
          alert.msg_type === "cancel" ? h("span", { class: "pill cancelled" }, "cancelled") : null,
          !active && alert.msg_type !== "cancel" ? h("span", { class: "pill cancelled" }, "expired") : null,
          h("h2", { class: "headline", id: "alert-title", tabindex: "-1" }, alert.headline)),
        h("dl", { class: "facts" },
          fact("Event", `${alert.event} · ${alert.category} · ${alert.urgency} · ${alert.certainty}`),
          fact("Status", alert.status),
          fact("Area", alert.area.description),
          fact("Countries", alert.countries.join(", ") || "none (at sea)"),
          fact("Reached", `${alert.recipients} ${alert.recipients === 1 ? "person" : "people"}`),
          fact("Sent", when(alert.sent_at, alert), ` by ${alert.sender}`),
          alert.revision > 1 ? fact("Updated", when(alert.updated_at, alert), ` (revision ${alert.revision})`) : null,
          fact("Expires", when(alert.expires_at, alert)),
          alert.cancel_reason ? fact("Cancelled", alert.cancel_reason) : null),
        alert.description ? h("p", { class: "text" }, alert.description) : null,
        alert.instruction ? h("p", { class: "text instruction" }, alert.instruction) : null,
        h("div", { class: "actions" },
          active ? h("button", { type: "button", onclick: () => ctx.composer.edit(alert) }, "Update…") : null,
          h("button", { type: "button", class: "ghost", onclick: cap }, "CAP XML"),
          active ? h("span", { class: "inline-form" }, reason, h("button", { type: "button", class: "danger", id: "cancel-alert", onclick: cancel }, "Cancel alert")) : null),
        message),
      alert.checkin_required ? boardFor(alert) : h("p", { class: "empty" }, "This alert asks for no headcount."),
    ];
  }

  /** The people of an alert's headcount still in trouble: an open SOS, or need help. */
  async function inTrouble(alert) {
    if (!alert.checkin_required) return [];
    const data = await ctx.call("GET", `/api/v1/alerts/${alert.id}/headcount`);
    return data.staff.filter(followedUp);
  }

  function boardFor(alert) {
    if (board && board.alertId === alert.id) return board.el;
    board = { alertId: alert.id, el: h("section", { class: "board", id: "headcount", "aria-label": "Headcount" }, h("p", { class: "empty" }, "Loading headcount…")), data: null };
    loadBoard();
    return board.el;
  }

  async function loadBoard() {
    const current = board;
    if (!current) return;
    try {
      const data = await ctx.call("GET", `/api/v1/alerts/${current.alertId}/headcount`);
      if (board !== current) return;
      current.data = data;
      // An open drill report follows the board; should it fail, the last one stays.
      if (current.report) current.report = await ctx.call("GET", `/api/v1/alerts/${current.alertId}/drill-report`).catch(() => current.report);
      if (board !== current) return;
      state.headcounts.set(data.alert_id, data);
      // The map marks the selected alert's people in trouble and the silent.
      state.board = data;
      ctx.changed("map");
      drawBoard();
    } catch (e) {
      if (board === current) current.el.replaceChildren(h("p", { class: "message error" }, `Headcount: ${e.message}`));
    }
  }

  function drawBoard() {
    const { data, el } = board;
    const channel = el.querySelector("#proxy-via");
    const via = h("select", { id: "proxy-via", "aria-label": "Channel for proxy check-ins" },
      CHANNELS.map(([v, text]) => h("option", { value: v, selected: channel && channel.value === v }, text)));
    const message = h("p", { class: "message", role: "alert" });
    const alert = state.alerts.get(data.alert_id);
    const mark = drill(alert);
    const send = (person, status, channel) => ctx.call("POST", `/api/v1/alerts/${data.alert_id}/checkins`,
      { status, staff_id: person.staff_id, via: channel }, { keepalive: true });
    const proxy = async (person, status, button) => {
      const channel = via.value;
      button.disabled = true;
      try {
        if (status === "safe") {
          // Marking someone safe ends the search for them: asked by name, and undoable for a moment.
          const ok = await confirmAction({
            title: `Mark ${person.name} safe?`,
            drill: mark,
            facts: [["Alert", alert ? alert.headline : data.alert_id], ["Told by", label(channel)],
              person.note ? ["They said", `“${person.note}”`] : null],
            warnings: person.sos_id ? [`${person.name} has an open SOS: this does not resolve it.`] : [],
            confirm: `Mark ${person.name} safe`,
          });
          if (!ok) {
            button.disabled = false;
            return;
          }
          const sent = await afterUndoWindow(`Marking ${person.name} safe (via ${label(channel)})…`, () => send(person, status, channel));
          if (!sent) {
            button.disabled = false;
            return;
          }
        } else {
          await send(person, status, channel);
        }
        ctx.toast(`${person.name}: ${label(status)} (via ${label(channel)})`);
        await loadBoard();
      } catch (e) {
        button.disabled = false;
        say(message, e.message);
      }
    };
    /** A click on a row that just moved under the pointer (the board re-sorts) is not taken. */
    const steady = (slot, person, then) => (event) => {
      if (!settled(slot, person.staff_id)) {
        say(message, "The list just changed under the pointer: check the name, then click again.");
        return;
      }
      then(event.currentTarget);
    };
    const csv = async () => {
      try {
        const response = await ctx.call("GET", `/api/v1/alerts/${data.alert_id}/headcount.csv`, undefined, { raw: true });
        download(await response.blob(), `headcount-${data.alert_id}.csv`);
      } catch (e) {
        say(message, e.message);
      }
    };
    const report = async () => {
      const current = board;
      try {
        current.report = await ctx.call("GET", `/api/v1/alerts/${data.alert_id}/drill-report`);
        if (board === current) drawBoard();
      } catch (e) {
        say(message, e.message);
      }
    };
    // A closed headcount (cancelled or expired alert) stays open only for the people in trouble.
    const open = alert ? ctx.isActive(alert) : true;
    board.active = open;
    data.staff.forEach((p, index) => placeSlot(`board-${index}`, p.staff_id));
    const rows = data.staff.map((p, index) => h("tr", { class: `${p.status} ${standing(p)}${p.overdue ? " overdue" : ""}`, "data-staff": p.staff_id },
      h("td", {}, h("strong", {}, p.name), h("span", { class: "muted" }, ` ${p.username}`),
        // Whoever has not said they are safe may need a call.
        standing(p) !== "safe" && p.phone ? h("span", { class: "call" }, " ", telLink(p.phone, p.name)) : null,
        p.note ? h("q", { class: "note" }, p.note) : null),
      h("td", {}, h("span", { class: `status ${standing(p)}` }, STANDING_TEXT[standing(p)]),
        p.sos_id ? h("span", { class: "status-detail" }, `${label(p.sos_status)} · ${p.status === "no_response" ? (p.reached ? "no response" : "not reached") : label(p.status)}`) : null,
        // The SMS fallback's text to them, as far as it got.
        p.sms ? h("span", { class: "status-detail sms" }, `Texted · ${label(p.sms)}`) : null),
      h("td", {}, p.updated_at ? [alert ? when(p.updated_at, alert) : p.updated_at, p.via ? h("span", { class: "muted" }, ` via ${label(p.via)}`) : null] : "—",
        p.accounted_after_s !== undefined ? h("span", { class: "muted answered-after", "data-after": p.staff_id }, ` · first answer after ${duration(p.accounted_after_s)} (${channelName(p.accounted_channel)})`) : null),
      h("td", { class: "row-actions" }, p.status === "safe" || (!open && !followedUp(p)) ? null : [
        h("button", { type: "button", class: "small ok", "aria-label": `Check in ${p.name} as safe`, onclick: steady(`board-${index}`, p, (b) => proxy(p, "safe", b)) }, "Safe"),
        p.status === "need_help" ? null : h("button", { type: "button", class: "small warn", "aria-label": `Check in ${p.name} as needing help`, onclick: steady(`board-${index}`, p, (b) => proxy(p, "need_help", b)) }, "Help"),
      ])));
    const followUps = data.staff.filter(followedUp);
    el.replaceChildren(...[
      mark ? h("p", { class: "drill-banner" }, `${mark} headcount — not a real alert`) : null,
      !open ? h("p", { class: `follow-up${followUps.length ? " open" : ""}`, id: "follow-up" }, followUps.length
        ? `This alert is ${alert.msg_type === "cancel" ? "cancelled" : "expired"}, but ${followUps.length} ${followUps.length === 1 ? "case stays" : "cases stay"} open: ${followUps.map((p) => p.name).join(", ")}. Check them in when they are safe.`
        : `This alert is ${alert.msg_type === "cancel" ? "cancelled" : "expired"}; nobody was left in trouble.`) : null,
      h("div", { class: "board-head" }, h("h3", {}, "Headcount"),
        h("span", { class: "muted deadline" }, "deadline ", data.deadline && alert ? when(data.deadline, alert) : "—")),
      counts(data),
      data.time_to_account ? timeToAccount(data.time_to_account) : null,
      h("div", { class: "board-tools" }, h("label", {}, "Proxy check-in via ", via),
        h("button", { type: "button", class: "ghost", onclick: csv }, "Export CSV"),
        alert && alert.status === "exercise" ? h("button", { type: "button", class: "ghost", id: "show-drill-report", onclick: report }, board.report ? "Refresh drill report" : "Drill report") : null),
      board.report ? drillReport(board.report) : null,
      message,
      data.staff.length ? h("table", { class: "people" },
        h("thead", {}, h("tr", {}, h("th", {}, "Person"), h("th", {}, "Status"), h("th", {}, "Answered"), h("th", {}, h("span", { class: "sr" }, "Actions")))),
        h("tbody", {}, rows)) : h("p", { class: "empty" }, "Nobody was inside the area."),
    ].filter(Boolean));
  }

  return {
    render() {
      const selected = state.selected && state.selected.kind === "alert" && state.alerts.get(state.selected.id);
      if (!selected) {
        board = null;
        state.board = null;
      } else if (board && board.data && board.alertId === selected.id && board.active !== ctx.isActive(selected)) {
        // Cancelled or expired meanwhile: the board now shows only the cases still open.
        loadBoard();
      }
      keepValues(root, () => root.replaceChildren(...(selected ? detail(selected) : list())));
    },
    /** A `headcount` envelope: counts move at once, the list of people follows shortly. */
    headcountChanged(envelope) {
      if (board && board.alertId === envelope.alert_id && board.data) {
        for (const key of ["total", "safe", "need_help", "no_response", "not_reached", "overdue"]) {
          const dd = board.el.querySelector(`[data-count="${key}"]`);
          if (dd) dd.textContent = envelope[key];
        }
        clearTimeout(boardTimer);
        boardTimer = setTimeout(loadBoard, 300);
      } else {
        ctx.changed("alerts");
      }
    },
    reloadBoard() {
      if (board) loadBoard();
    },
  };
}

function fact(name, ...value) {
  return h("div", {}, h("dt", {}, name), h("dd", {}, ...value));
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// A panel rebuilt between the press and the release of a click loses that click (the button
// pressed is gone) or hands it to whatever now lies there: while a pointer is down, rebuilds
// wait until just after its click (for at most a second: a long drag does not freeze the page).
let pressed = false;
let pressedAt = 0;
const held = new Map();
document.addEventListener("pointerdown", () => {
  pressed = true;
  pressedAt = performance.now();
}, true);
for (const kind of ["pointerup", "pointercancel"]) {
  document.addEventListener(kind, () => setTimeout(() => {
    pressed = false;
    for (const [root, rebuild] of held) {
      held.delete(root);
      keepValues(root, rebuild);
    }
  }, 0), true);
}

/** Re-renders without losing what the officer was typing or reading: inputs marked `data-keep`
 *  keep their value, focus stays where it was, and so does the panel's scroll (replacing a
 *  panel's children drops it to the top). */
export function keepValues(root, rebuild) {
  if (pressed && performance.now() - pressedAt < 1000) {
    held.set(root, rebuild);
    return;
  }
  const kept = new Map([...root.querySelectorAll("[data-keep]")].map((el) => [el.dataset.keep, el.value]));
  const focused = document.activeElement && root.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused && (focused.dataset.keep || focused.id);
  const scroller = root.closest(".panel") || root;
  const scrolled = scroller.scrollTop;
  rebuild();
  scroller.scrollTop = scrolled;
  for (const [key, value] of kept) {
    const el = root.querySelector(`[data-keep="${key}"]`);
    if (el) el.value = value;
  }
  if (focusKey) {
    const el = root.querySelector(`[data-keep="${focusKey}"]`) || root.querySelector(`#${CSS.escape(focusKey)}`);
    // Without scrolling: the officer's scroll stays where they left it.
    if (el) el.focus({ preventScroll: true });
  }
}

// ---- composer ------------------------------------------------------------------------------

/** The composer's input for a field the hub names in a 422 (`area.geometry.coordinates[0]`). */
function inputFor(field) {
  if (field === "area.description") return "area-description";
  if (field === "area.radius_m") return "radius";
  const top = field.split(/[.[]/)[0];
  return { area: "geojson", expires_at: "expires", checkin_deadline_s: "deadline", checkin_required: "checkin" }[top] || top;
}

const FIELDS = ["headline", "event", "category", "urgency", "severity", "certainty", "status", "description", "instruction"];

/**
 * What the review of a send warns about: nobody reached, no country, an instruction missing,
 * and an area that looks like its longitude and latitude were swapped (it reaches nobody, but
 * swapped it would cover known staff positions). `staff` are the positions the map knows.
 */
export function reviewWarnings(content, reach, staff) {
  const warnings = [];
  if (reach.recipients === 0) warnings.push("It reaches nobody: no one is known to be inside this area now.");
  if (!reach.countries.length) warnings.push("The area lies in no country (at sea).");
  if (reach.recipients === 0 && staff && staff.length) {
    const swapped = swap(content.area.geometry);
    const radius = content.area.radius_m || 0;
    const [w, s, e, n] = bounds(swapped.type === "Point" ? [[swapped.coordinates]] : areaRings({ geometry: swapped }));
    const margin = radius / 111000;
    const inside = staff.filter((p) => p.position.lon >= w - margin && p.position.lon <= e + margin
      && p.position.lat >= s - margin && p.position.lat <= n + margin).length;
    if (inside) warnings.push(`Longitude and latitude look swapped (GeoJSON is [lon, lat]): swapped, the area would cover ${inside} known staff ${inside === 1 ? "position" : "positions"}.`);
  }
  if (!content.instruction) warnings.push("No instruction: people are told what happened, not what to do.");
  return warnings;
}

function swap(geometry) {
  const flip = (c) => (typeof c[0] === "number" ? [c[1], c[0]] : c.map(flip));
  return { type: geometry.type, coordinates: flip(geometry.coordinates) };
}

export function composerPanel(ctx, root) {
  let editing = null;
  // The report being promoted: the send goes through the report's promotion.
  let promoting = null;
  // The outside warning being promoted: the send goes through the warning's promotion.
  let fromWarning = null;
  let area = null;
  let previewTimer = null;
  let previewSeq = 0;

  const input = (id, attrs = {}) => h("input", { id: `c-${id}`, name: id, ...attrs });
  const select = (id, values, chosen) => h("select", { id: `c-${id}`, name: id },
    values.map((v) => h("option", { value: v, selected: v === chosen }, label(v))));
  const field = (text, control, wide) => h("label", { class: wide ? "wide" : "" }, text, control);

  const form = h("form", { class: "composer", id: "composer", novalidate: true });
  const title = h("h2", { class: "panel-title" });
  const areaText = h("textarea", { id: "c-geojson", rows: 3, spellcheck: "false",
    placeholder: 'Paste GeoJSON: a Polygon, a MultiPolygon, a Feature, or {"type":"Point","coordinates":[lon,lat]} with a radius below' });
  const radius = input("radius", { type: "number", min: "1", step: "1", placeholder: "metres" });
  // A circle from the keyboard: a centre typed as the phones and SOS cards give it, lat, lon.
  const centre = input("centre", { placeholder: "0.4911, 29.4731", autocomplete: "off", spellcheck: "false" });
  // Or a centre from the gazetteer: "centre on a place, radius 5 km".
  const place = input("place", { type: "search", placeholder: "Beni", autocomplete: "off", spellcheck: "false",
    "aria-controls": "c-place-results", "aria-autocomplete": "list" });
  const placeResults = h("ul", { id: "c-place-results", class: "place-results", role: "listbox", "aria-label": "Places found", hidden: true });
  const expiresThere = h("span", { class: "local", id: "c-expires-local" });
  const preview = h("p", { class: "preview", id: "c-preview", "aria-live": "polite" }, "Draw or paste an area to see whom it reaches.");
  const message = h("p", { class: "message", role: "alert" });
  // Not a submit button: Enter in a field never sends; the button opens the review.
  const send = h("button", { type: "button", class: "primary", id: "c-send", onclick: () => submit() }, "Review and send…");
  const stopEditing = h("button", { type: "button", class: "ghost", onclick: () => reset() }, "Stop editing");
  const hint = document.getElementById("draw-hint");

  form.append(
    title,
    h("div", { class: "grid" },
      field("Headline", input("headline", { required: true, maxlength: 200 }), true),
      field("Event", input("event", { required: true, placeholder: "Armed clash" })),
      field("Category", select("category", CATEGORIES, "security")),
      field("Urgency", select("urgency", URGENCIES, "immediate")),
      field("Severity", select("severity", SEVERITIES.filter((s) => s !== "unknown").concat("unknown"), "severe")),
      field("Certainty", select("certainty", CERTAINTIES, "observed")),
      field("Status", select("status", STATUSES, "actual")),
      field("Description", h("textarea", { id: "c-description", name: "description", rows: 2 }), true),
      field("Instruction", h("textarea", { id: "c-instruction", name: "instruction", rows: 2, placeholder: "Stay indoors, away from windows." }), true),
      h("label", {}, "Expires (UTC, 24-hour)", utcField({ id: "c-expires", name: "expires", required: true }), expiresThere),
      h("div", { class: "checkin" },
        h("label", { class: "inline" }, input("checkin", { type: "checkbox", checked: true }), " Headcount"),
        h("label", { class: "inline" }, "deadline ", input("deadline", { type: "number", min: "1", max: "10080", value: "30", class: "short" }), " min"))),
    h("fieldset", { class: "area-box" }, h("legend", {}, "Area"),
      h("div", { class: "draw-buttons" },
        h("button", { type: "button", id: "draw-circle", onclick: () => draw("circle") }, "◯ Draw circle"),
        h("button", { type: "button", id: "draw-polygon", onclick: () => draw("polygon") }, "⬠ Draw polygon")),
      field("Area name", input("area-description", { required: true, placeholder: "Beni, North Kivu" }), true),
      field("GeoJSON", areaText, true),
      field("Centre on a place", h("span", { class: "place-pick" }, place, placeResults)),
      field("Circle centre (lat, lon)", centre),
      field("Circle radius (m)", radius)),
    // Kept in view at the bottom of the panel: whom it reaches, and the button that sends it.
    h("div", { class: "composer-foot" }, preview, message, h("div", { class: "actions" }, send, stopEditing)));

  areaText.addEventListener("input", () => areaFromText({ frame: true }));
  // A new radius keeps the officer's zoom: they are looking at what it covers.
  radius.addEventListener("input", () => areaFromText({ frame: false }));
  centre.addEventListener("input", () => areaFromCentre());
  placeSearch(place, placeResults, (p) => {
    if (!radius.value) radius.value = 5000;
    if (!value("area-description")) setValue("area-description", `${p.name}, ${p.country}`);
    centre.value = `${p.lat}, ${p.lon}`;
    areaFromCentre();
  });
  form.addEventListener("input", (event) => { if (![areaText, radius, centre, place].includes(event.target)) schedulePreview(); });
  // Enter in a field never sends: only the Send button (through its review) does.
  form.addEventListener("submit", (event) => event.preventDefault());

  function value(id) {
    return form.querySelector(`#c-${id}`).value.trim();
  }

  function setValue(id, v) {
    form.querySelector(`#c-${id}`).value = v ?? "";
  }

  function draw(mode) {
    ctx.showTab("compose");
    hint.hidden = false;
    hint.textContent = mode === "circle"
      ? "Click the centre, then the edge. Dragging pans. Keys: arrows pan, Space places at the cross, Esc cancels."
      : "Click each corner; Enter, a double click or a click on the first corner closes the polygon. Dragging pans. Keys: arrows pan, Space places a corner at the cross, Backspace removes one, Esc cancels.";
    ctx.map.startDrawing(mode, (shape) => {
      hint.hidden = true;
      if (!shape) {
        form.querySelector(`#draw-${mode}`).focus();
        return;
      }
      const geometry = shape.type === "circle"
        ? { type: "Point", coordinates: shape.center.map((v) => Number(v.toFixed(5))) }
        : { type: "Polygon", coordinates: [shape.ring.map(([lon, lat]) => [Number(lon.toFixed(5)), Number(lat.toFixed(5))])] };
      setArea({ geometry, radius_m: shape.radius_m });
      // Next: name the area, or adjust the circle's radius.
      const next = !value("area-description") ? "area-description" : shape.type === "circle" ? "radius" : "headline";
      form.querySelector(`#c-${next}`).focus();
    });
  }

  function setArea(next) {
    area = next;
    areaText.value = next ? JSON.stringify(next.geometry) : "";
    radius.value = next && next.radius_m ? next.radius_m : "";
    centre.value = next && next.geometry.type === "Point" ? `${next.geometry.coordinates[1]}, ${next.geometry.coordinates[0]}` : "";
    showArea();
    schedulePreview();
  }

  function showArea() {
    if (!area) {
      ctx.map.showDraft([]);
      return;
    }
    const rings = area.geometry.type === "Point"
      ? (area.radius_m > 0 ? [circleRing(area.geometry.coordinates, area.radius_m)] : [])
      : areaRings(area);
    ctx.map.showDraft(rings);
  }

  /** A typed centre ("lat, lon") becomes the GeoJSON Point the radius goes with. */
  function areaFromCentre() {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(centre.value);
    const lat = m && Number(m[1]);
    const lon = m && Number(m[2]);
    if (!m || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      say(preview, centre.value.trim() ? "Type the centre as latitude, longitude: 0.4911, 29.4731." : "Draw or paste an area to see whom it reaches.",
        centre.value.trim() ? "error" : "info");
      return;
    }
    areaText.value = JSON.stringify({ type: "Point", coordinates: [lon, lat] });
    areaFromText({ frame: true });
  }

  /** Reads the pasted GeoJSON: a geometry, a Feature, or an alert area object; `frame` moves
   *  the map onto it. */
  function areaFromText({ frame }) {
    const text = areaText.value.trim();
    if (!text) {
      area = null;
      showArea();
      say(preview, "Draw or paste an area to see whom it reaches.", "info");
      return;
    }
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      say(preview, "That is not JSON yet.", "error");
      return;
    }
    const geometry = parsed.type === "Feature" ? parsed.geometry : parsed.geometry || parsed;
    if (!geometry || !["Point", "Polygon", "MultiPolygon"].includes(geometry.type) || !Array.isArray(geometry.coordinates)) {
      say(preview, "Paste a Point (with a radius), a Polygon or a MultiPolygon.", "error");
      return;
    }
    const r = Number(radius.value || parsed.radius_m || (parsed.properties && parsed.properties.radius_m) || 0);
    if (parsed.radius_m && !radius.value) radius.value = parsed.radius_m;
    area = { geometry, radius_m: geometry.type === "Point" ? r : undefined };
    try {
      showArea();
      const rings = area.geometry.type === "Point"
        ? [r > 0 ? circleRing(area.geometry.coordinates, r) : [area.geometry.coordinates]]
        : areaRings(area);
      const [w, s, e, n] = bounds(rings);
      if (frame && [w, s, e, n].every(Number.isFinite)) ctx.map.fit([w, s, e, n], 0.05);
    } catch {
      say(preview, "The coordinates are not [lon, lat] pairs.", "error");
      return;
    }
    schedulePreview();
  }

  function body() {
    const expires = value("expires");
    const content = {
      headline: value("headline"), event: value("event"),
      category: value("category"), urgency: value("urgency"), severity: value("severity"),
      certainty: value("certainty"), status: value("status"),
      description: value("description") || undefined, instruction: value("instruction") || undefined,
      area: area && { description: value("area-description"), geometry: area.geometry,
        ...(area.geometry.type === "Point" ? { radius_m: area.radius_m } : {}) },
      // The field shows minutes; an untouched expiry keeps its seconds, so it is not "changed".
      expires_at: editing && expires === utcFieldText(editing.expires_at) ? editing.expires_at : parseUtcField(expires) || "",
      checkin_required: form.querySelector("#c-checkin").checked,
    };
    if (content.checkin_required) content.checkin_deadline_s = Math.round(Number(value("deadline")) * 60);
    return content;
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    if (!area) return;
    previewTimer = setTimeout(runPreview, 250);
  }

  async function runPreview() {
    const seq = ++previewSeq;
    const content = body();
    // The preview is about the area; fill what the officer has not typed yet so that the
    // hub's checks of the other fields do not hide the reach.
    const draft = {
      ...content,
      headline: content.headline || "Preview", event: content.event || "Preview",
      area: { ...content.area, description: content.area.description || "Preview" },
      expires_at: Date.parse(content.expires_at) > Date.now() ? content.expires_at : new Date(Date.now() + 3600e3).toISOString(),
    };
    try {
      const reach = await ctx.call("POST", "/api/v1/alerts/preview", draft);
      if (seq !== previewSeq) return;
      expiresThere.textContent = content.expires_at ? localTime(content.expires_at, reach.countries[0], areaCentre(draft.area)) : "";
      // Reaching nobody, or no country, is never shown as fine.
      const fine = reach.recipients > 0 && reach.countries.length > 0;
      say(preview, `Reaches ${reach.recipients} ${reach.recipients === 1 ? "person" : "people"}${reach.countries.length ? ` in ${reach.countries.join(", ")}` : " (no country)"}.`, fine ? "ok" : "warn");
    } catch (e) {
      if (seq !== previewSeq) return;
      say(preview, e.message, "error");
    }
  }

  async function submit() {
    say(message, "");
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const content = body();
    if (!content.area) {
      say(message, "Draw or paste the area first.");
      return;
    }
    if (!content.expires_at) {
      say(message, "Write the expiry as YYYY-MM-DD HH:MM, in UTC on a 24-hour clock.");
      const expires = form.querySelector("#c-expires");
      expires.setAttribute("aria-invalid", "true");
      expires.focus();
      return;
    }
    if (promoting && !content.instruction) {
      say(message, "Say what people should do: an alert from a report needs an instruction.");
      form.querySelector("#c-instruction").focus();
      return;
    }
    let patch = null;
    if (editing) {
      patch = {};
      for (const [key, v] of Object.entries(content)) {
        if (JSON.stringify(v ?? null) !== JSON.stringify(editing[key] ?? null)) patch[key] = v;
      }
      if (!Object.keys(patch).length) {
        say(message, "Nothing changed.");
        return;
      }
    }
    send.disabled = true;
    try {
      if (!(await review(content, patch))) return;
      let alert;
      const mark = drill(content);
      const what = mark ? `${mark} alert` : "Alert";
      if (editing) {
        alert = await ctx.call("POST", `/api/v1/alerts/${editing.id}/update`, patch);
        ctx.toast(`${what} updated (revision ${alert.revision}).`);
      } else if (promoting) {
        alert = await ctx.call("POST", `/api/v1/reports/${promoting.id}/promote`, content);
        ctx.state.reports.delete(promoting.id);
        ctx.changed("reports");
        ctx.toast(`${what} from the report sent to ${alert.recipients} ${alert.recipients === 1 ? "person" : "people"}.`);
      } else if (fromWarning) {
        alert = await ctx.call("POST", `/api/v1/warnings/${fromWarning.id}/promote`, content);
        ctx.toast(`${what} from the outside warning sent to ${alert.recipients} ${alert.recipients === 1 ? "person" : "people"}.`);
      } else {
        alert = await ctx.call("POST", "/api/v1/alerts", content);
        ctx.toast(`${what} sent to ${alert.recipients} ${alert.recipients === 1 ? "person" : "people"}.`);
      }
      ctx.state.alerts.set(alert.id, alert);
      reset();
      ctx.select("alert", alert.id, { focus: true });
    } catch (e) {
      say(message, e.message);
      const el = e.field && form.querySelector(`#c-${inputFor(e.field)}`);
      if (el) {
        el.setAttribute("aria-invalid", "true");
        el.focus();
      }
    } finally {
      send.disabled = false;
    }
  }

  /** Shows whom the send reaches before anything goes out; true when the officer confirms. */
  async function review(content, patch) {
    const reach = await ctx.call("POST", "/api/v1/alerts/preview", content);
    const people = (n) => `${n} ${n === 1 ? "person" : "people"}`;
    const warnings = reviewWarnings(content, reach, ctx.state.staff);
    const reachText = editing
      ? `the ${people(editing.recipients)} already reached${patch.area ? `, and whoever of the ${people(reach.recipients)} now inside the new area was not` : ""}`
      : people(reach.recipients);
    return confirmAction({
      title: editing ? `Send the update to ${reachText}?` : `Send to ${people(reach.recipients)}?`,
      drill: drill(content),
      facts: [["Headline", content.headline], ["Reach", reachText], ["Countries", reach.countries.join(", ") || "none (at sea)"],
        ["Instruction", content.instruction || "none"], ["Severity", `${content.severity} · ${content.urgency}`],
        ["Headcount", content.checkin_required ? `yes, within ${Math.round(content.checkin_deadline_s / 60)} min` : "no"],
        promoting ? ["From the report of", promoting.reporter] : null,
        fromWarning ? ["From the outside warning of", fromWarning.source] : null],
      names: reach.names && reach.names.length
        ? [...reach.names, ...(reach.recipients > reach.names.length ? [`and ${reach.recipients - reach.names.length} more`] : [])] : null,
      warnings,
      confirm: editing ? "Send the update" : `Send to ${people(reach.recipients)}`,
      danger: warnings.length > 0,
    });
  }

  function reset() {
    editing = null;
    promoting = null;
    fromWarning = null;
    clearTimeout(previewTimer);
    previewSeq += 1;
    form.reset();
    setValue("expires", utcFieldText(new Date(Date.now() + 6 * 3600e3).toISOString()));
    expiresThere.textContent = "";
    setArea(null);
    say(message, "");
    say(preview, "Draw or paste an area to see whom it reaches.", "info");
    render();
  }

  function render() {
    title.textContent = editing ? `Update: ${editing.headline}` : promoting ? `Alert from the report of ${promoting.reporter}`
      : fromWarning ? `Alert from the outside warning of ${fromWarning.source}` : "New alert";
    send.textContent = editing ? "Review the update…" : "Review and send…";
    stopEditing.hidden = !editing && !promoting && !fromWarning;
    stopEditing.textContent = promoting || fromWarning ? "Discard" : "Stop editing";
    form.querySelector("#c-instruction").required = !!promoting;
    if (!root.contains(form)) root.replaceChildren(form);
  }

  reset();

  return {
    render,
    /** Opens the composer filled from a report: nothing is sent until the officer has added an
     *  instruction and confirmed the review. A restricted report's details stay out of it. */
    promote(report, categoryLabel) {
      reset();
      promoting = report;
      const label = report.restricted ? "Security incident" : categoryLabel;
      setValue("headline", `${label} reported`);
      setValue("event", label);
      setValue("description", report.restricted ? "" : report.description);
      setValue("severity", "severe");
      setValue("certainty", report.status === "confirmed" ? "observed" : "likely");
      setValue("area-description", `Within 5 km of the reported incident${report.country ? ` (${report.country})` : ""}`);
      form.querySelector("#c-checkin").checked = false;
      const centre = [report.position.lon, report.position.lat];
      setArea({ geometry: { type: "Point", coordinates: centre }, radius_m: 5000 });
      ctx.map.fit(bounds([circleRing(centre, 5000)]), 0.3);
      render();
      ctx.showTab("compose");
      form.querySelector("#c-instruction").focus();
    },
    /** Opens the composer filled from an outside warning, in the language shown (`info`):
     *  nothing is sent until the officer has confirmed the review. Its area comes along when
     *  it can be targeted as it is; otherwise (world-sized, or placed by name only) the
     *  officer draws the area. */
    promoteWarning(warning, info) {
      reset();
      fromWarning = { id: warning.id, source: info.sender_name || warning.sender };
      setValue("headline", (info.headline || info.event).slice(0, 200));
      setValue("event", info.event);
      setValue("description", [info.description, `Source: ${fromWarning.source}`].filter(Boolean).join("\n\n"));
      setValue("instruction", info.instruction);
      setValue("category", info.categories[0] || "other");
      for (const f of ["urgency", "severity", "certainty"]) setValue(f, info[f]);
      setValue("status", { Exercise: "exercise", Test: "test" }[warning.status] || "actual");
      if (warning.expires && Date.parse(warning.expires) > Date.now()) setValue("expires", utcFieldText(warning.expires));
      form.querySelector("#c-checkin").checked = false;
      setValue("area-description", info.areas.map((a) => a.description).join("; ").slice(0, 1000));
      if (warning.area) {
        setArea({ geometry: warning.area.geometry, radius_m: warning.area.radius_m });
        ctx.map.fit(bounds(areaRings(warning.area)), 0.3);
      }
      render();
      ctx.showTab("compose");
      if (!warning.area) say(message, warning.area_note || "This warning is placed by its description only: draw the area to target.", "warn");
      form.querySelector(warning.area ? "#c-instruction" : "#draw-polygon").focus();
    },
    /** Loads an alert into the composer to update it. */
    edit(alert) {
      editing = alert;
      for (const f of FIELDS) setValue(f, alert[f]);
      setValue("expires", utcFieldText(alert.expires_at));
      setValue("area-description", alert.area.description);
      form.querySelector("#c-checkin").checked = alert.checkin_required;
      setValue("deadline", alert.checkin_deadline_s ? Math.round(alert.checkin_deadline_s / 60) : 30);
      setArea({ geometry: alert.area.geometry, radius_m: alert.area.radius_m });
      render();
      ctx.showTab("compose");
      form.querySelector("#c-headline").focus();
    },
  };
}
