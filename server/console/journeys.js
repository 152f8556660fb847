// Journeys: the alarms of missed check-ins first (acknowledged and resolved with notes, each
// action bound to the alarm it was shown for), then every journey under way with its legs, the
// next check-in due and how that check-in stands. Lower than an SOS: no banner, no tone.

import { h, say, timeEl, telLink, ago } from "./format.js";
import { keepValues } from "./alerts.js";
import { place as placeSlot, settled } from "./guard.js";

const STAGE_TEXT = { upcoming: "on schedule", reminded: "reminded", overdue: "overdue: asked again", missed: "missed: alarm raised" };

export function journeysPanel(ctx, root) {
  const { state } = ctx;
  // Alarms with a request under way, so a second click sends nothing more.
  const busy = new Set();

  /** Acts on the alarm `id` only if it still stands as it did when the button was drawn. */
  async function act(id, shownStatus, action, note, message) {
    const alarm = state.journeyAlarms.get(id);
    if (!alarm || alarm.status !== shownStatus || busy.has(id)) return;
    busy.add(id);
    try {
      const body = note ? { note } : undefined;
      const updated = await ctx.call("POST", `/api/v1/journey-alarms/${id}/${action}`, body);
      if (updated.status === "resolved") state.journeyAlarms.delete(updated.id);
      else state.journeyAlarms.set(updated.id, updated);
      const field = root.querySelector(`[data-keep="alarm-note-${id}"]`);
      if (field) field.value = "";
      ctx.toast(action === "ack" ? `Alarm for ${alarm.name} acknowledged.` : `Alarm for ${alarm.name} resolved.`);
      ctx.changed("journeys");
    } catch (e) {
      say(message, e.message);
    } finally {
      busy.delete(id);
    }
  }

  /** A click on a slot that just started showing this alarm is not acted on. */
  function steady(slot, alarm, message, then) {
    return () => {
      if (!settled(slot, alarm.id)) {
        say(message, "The list just changed under the pointer: check whose alarm this is, then click again.");
        return;
      }
      then();
    };
  }

  function alarmCard(alarm, index) {
    const slot = `journey-alarm-${index}`;
    placeSlot(slot, alarm.id);
    const country = alarm.countries[0];
    const where = alarm.last_position || null;
    const message = h("p", { class: "message", role: "alert" });
    const note = h("input", { "data-keep": `alarm-note-${alarm.id}`, id: `alarm-note-${alarm.id}`,
      placeholder: alarm.status === "open" ? "Note (optional)" : "What happened (required to resolve)",
      "aria-label": `Note on the missed check-in of ${alarm.name}` });
    return h("li", { class: `card journey-alarm ${alarm.status}`, "data-alarm": alarm.id },
      h("div", { class: "card-head" },
        h("span", { class: `pill ${alarm.status}` }, alarm.status === "open" ? "missed check-in" : alarm.status),
        h("strong", { class: "headline" }, alarm.name), h("span", { class: "muted" }, alarm.username), telLink(alarm.phone, alarm.name)),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Heading to"), h("dd", {}, `${alarm.heading_to} · ${alarm.countries.join(", ")}`)),
        h("div", {}, h("dt", {}, "Was due"), h("dd", {}, timeEl(alarm.missed_due_at, country, where), h("span", { class: "ago" }, ago(alarm.missed_due_at)))),
        h("div", {}, h("dt", {}, "Last check-in"), h("dd", {}, alarm.last_checkin_at ? timeEl(alarm.last_checkin_at, country, where) : "none since the start",
          where ? ` · ${where.lat.toFixed(4)}, ${where.lon.toFixed(4)}` : "")),
        alarm.acknowledged_by ? h("div", {}, h("dt", {}, "Acknowledged"), h("dd", {}, `by ${alarm.acknowledged_by} `,
          timeEl(alarm.acknowledged_at, country, where), alarm.acknowledge_note ? ` — ${alarm.acknowledge_note}` : "")) : null),
      h("div", { class: "actions" },
        note,
        alarm.status === "open"
          ? h("button", { type: "button", class: "danger", "data-action": "ack",
            onclick: steady(slot, alarm, message, () => act(alarm.id, "open", "ack", note.value.trim(), message)) }, "Acknowledge")
          : h("button", { type: "button", class: "primary", "data-action": "resolve", onclick: steady(slot, alarm, message, () => {
            if (!note.value.trim()) {
              say(message, "Write what happened before resolving.");
              note.focus();
              return;
            }
            act(alarm.id, alarm.status, "resolve", note.value.trim(), message);
          }) }, "Resolve")),
      message);
  }

  function journeyCard(journey) {
    const country = journey.countries[0];
    const legs = journey.legs.map((leg, i) => h("li", { class: i === journey.current_leg ? "current" : leg.arrived_at ? "done" : "" },
      `${leg.to} (${leg.country}) by `, timeEl(leg.arrive_by, leg.country, null),
      leg.arrived_at ? [" — arrived ", timeEl(leg.arrived_at, leg.country, null)] : null));
    return h("li", { class: `card journey ${journey.stage}`, "data-journey": journey.id },
      h("div", { class: "card-head" },
        h("span", { class: `pill stage-${journey.stage}` }, STAGE_TEXT[journey.stage] || journey.stage),
        h("strong", { class: "headline" }, journey.name), h("span", { class: "muted" }, journey.username), telLink(journey.phone, journey.name)),
      journey.note ? h("p", { class: "text" }, journey.note) : null,
      h("ol", { class: "legs" }, legs),
      h("dl", { class: "facts" },
        journey.due_at ? h("div", {}, h("dt", {}, "Check-in due"), h("dd", {}, timeEl(journey.due_at, country, null),
          journey.checkin_every_s ? ` · every ${Math.round(journey.checkin_every_s / 60)} min` : "")) : null,
        h("div", {}, h("dt", {}, "Last check-in"), h("dd", {}, journey.last_checkin_at
          ? [timeEl(journey.last_checkin_at, country, journey.last_position), h("span", { class: "ago" }, ago(journey.last_checkin_at))]
          : "none yet")),
        journey.started_by !== journey.username ? h("div", {}, h("dt", {}, "Started by"), h("dd", {}, journey.started_by)) : null));
  }

  return {
    render() {
      const alarms = [...state.journeyAlarms.values()].sort((a, b) =>
        (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1) || Date.parse(a.raised_at) - Date.parse(b.raised_at));
      const journeys = [...state.journeys.values()].filter((j) => j.status === "active")
        .sort((a, b) => Date.parse(a.due_at || 0) - Date.parse(b.due_at || 0));
      keepValues(root, () => root.replaceChildren(
        h("h2", { class: "panel-title" }, "Missed check-ins"),
        alarms.length ? h("ul", { class: "cards", id: "journey-alarms" }, alarms.map(alarmCard)) : h("p", { class: "empty" }, "No missed check-in is open."),
        h("h2", { class: "panel-title" }, "Journeys under way"),
        journeys.length ? h("ul", { class: "cards", id: "journey-list" }, journeys.map(journeyCard)) : h("p", { class: "empty" }, "No journey is under way.")));
    },
  };
}
