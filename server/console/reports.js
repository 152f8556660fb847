// The incident-report triage queue: reports waiting for an officer (new, or confirmed but not
// yet an alert), each confirmed or dismissed with a note, merged into another report of the
// queue, or promoted to an alert: the composer opens filled from the report (a 5 km circle
// around it), the officer adds what people should do, and the review shows whom it reaches
// before anything is sent. Restricted reports reach only officers granted sensitive access,
// and are marked as such.

import { h, say, timeEl, ago, label } from "./format.js";
import { keepValues } from "./alerts.js";

/** Whether a report still needs an officer: new, or confirmed without an alert yet. */
export function awaitsTriage(report) {
  return report.status === "new" || (report.status === "confirmed" && !report.alert_id);
}

export function reportsPanel(ctx, root) {
  const { state } = ctx;

  const categoryLabel = (code) => (state.categories && state.categories.get(code)) || label(code);

  async function act(report, path, body, message, done) {
    try {
      const answer = await ctx.call("POST", `/api/v1/reports/${report.id}/${path}`, body);
      if (awaitsTriage(answer)) {
        state.reports.set(answer.id, answer);
      } else {
        state.reports.delete(answer.id);
      }
      ctx.toast(done(answer));
      ctx.changed("reports");
    } catch (e) {
      say(message, e.message);
    }
  }

  function card(r, others) {
    const message = h("p", { class: "message", role: "alert" });
    const note = h("input", { "data-keep": `triage-${r.id}`, class: "triage-note", placeholder: "Triage note (optional)",
      "aria-label": `Triage note on the report by ${r.reporter}` });
    const into = h("select", { "data-keep": `merge-${r.id}`, class: "merge-into", "aria-label": "Merge into" },
      h("option", { value: "" }, "Merge into…"),
      others.map((o) => h("option", { value: o.id }, `${categoryLabel(o.category)} · ${o.reporter} · ${ago(o.reported_at)}`)));
    const selected = state.selected && state.selected.kind === "report" && state.selected.id === r.id;
    const withNote = (status) => ({ status, ...(note.value.trim() ? { note: note.value.trim() } : {}) });
    const merge = () => {
      if (!into.value) {
        say(message, "Choose the report this one repeats.");
        return;
      }
      act(r, "merge", { into: into.value }, message, () => "Report merged.");
    };
    return h("li", { class: `card report-card${selected ? " selected" : ""}${r.restricted ? " restricted" : ""}`, "data-report": r.id },
      h("div", { class: "card-head" }, h("span", { class: "pill report" }, categoryLabel(r.category)),
        h("strong", { class: "headline" }, r.reporter),
        r.status === "confirmed" ? h("span", { class: "pill confirmed" }, "confirmed") : null,
        r.restricted ? h("span", { class: "pill restricted", title: "Seen only by officers granted sensitive access" }, "restricted") : null),
      h("p", { class: "text" }, r.description),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Reported"), h("dd", {}, timeEl(r.reported_at, r.country, r.position, r.time_zone), h("span", { class: "ago" }, ago(r.reported_at)))),
        r.occurred_at ? h("div", {}, h("dt", {}, "Occurred"), h("dd", {}, timeEl(r.occurred_at, r.country, r.position, r.time_zone))) : null,
        h("div", {}, h("dt", {}, "Where"), h("dd", {}, `${r.position.lat.toFixed(4)}, ${r.position.lon.toFixed(4)} · ${r.country || "at sea"}`)),
        r.people_affected ? h("div", {}, h("dt", {}, "People"), h("dd", {}, r.people_affected)) : null,
        r.action_taken ? h("div", {}, h("dt", {}, "Action taken"), h("dd", {}, r.action_taken)) : null,
        r.help_needed ? h("div", {}, h("dt", {}, "Help needed"), h("dd", {}, r.help_needed)) : null,
        r.triage_note ? h("div", {}, h("dt", {}, "Note"), h("dd", {}, r.triage_note, h("span", { class: "muted" }, ` · ${r.triaged_by || ""}`))) : null),
      h("div", { class: "actions" }, note,
        r.status === "new"
          ? h("button", { type: "button", class: "primary confirm", onclick: () => act(r, "triage", withNote("confirmed"), message, () => "Report confirmed.") }, "Confirm")
          : null,
        h("button", { type: "button", class: "ghost dismiss", onclick: () => act(r, "triage", withNote("dismissed"), message, () => "Report dismissed.") }, "Dismiss"),
        h("button", { type: "button", class: "warn promote", title: "Write an alert from this report; you review whom it reaches before it is sent",
          onclick: () => ctx.composer.promote(r, categoryLabel(r.category)) },
        "Promote to alert…"),
        h("button", { type: "button", class: "ghost locate", onclick: () => ctx.select("report", r.id) }, "Map")),
      others.length ? h("div", { class: "actions" }, into, h("button", { type: "button", class: "ghost merge", onclick: merge }, "Merge")) : null,
      message);
  }

  return {
    render() {
      keepValues(root, () => {
        if (!state.reports) {
          root.replaceChildren(h("h2", { class: "panel-title" }, "Incident reports"),
            h("p", { class: "empty" }, "Incident reports are not available to this account."));
          return;
        }
        const reports = [...state.reports.values()].sort((a, b) => Date.parse(b.reported_at) - Date.parse(a.reported_at));
        root.replaceChildren(h("h2", { class: "panel-title" }, "Incident reports to triage"),
          reports.length
            ? h("ul", { class: "cards", id: "report-list" }, reports.map((r) => card(r, reports.filter((o) => o.id !== r.id))))
            : h("p", { class: "empty" }, "No reports waiting."));
      });
    },
  };
}
