// The incident-report triage queue and the country advisories board. Both come from
// capabilities a hub may not have yet: when their endpoints answer 404 the panel says so.

import { h, say, timeEl, ago, label } from "./format.js";
import { keepValues } from "./alerts.js";

const RISK_LABELS = ["", "Low", "Moderate", "Substantial", "High", "Extreme"];

function unavailable(what) {
  return h("p", { class: "empty" }, `${what} are not available on this hub.`);
}

export function reportsPanel(ctx, root) {
  const { state } = ctx;

  async function act(report, path, body, message, done) {
    try {
      const answer = await ctx.call("POST", `/api/v1/reports/${report.id}/${path}`, body);
      state.reports.delete(report.id);
      ctx.toast(done(answer));
      ctx.changed("reports");
      if (path === "promote" && answer && answer.id) {
        state.alerts.set(answer.id, answer);
        ctx.select("alert", answer.id);
      }
    } catch (e) {
      say(message, e.message);
    }
  }

  function card(r) {
    const message = h("p", { class: "message", role: "alert" });
    const note = h("input", { "data-keep": `triage-${r.id}`, placeholder: "Triage note (optional)", "aria-label": `Triage note on the report by ${r.reporter}` });
    const selected = state.selected && state.selected.kind === "report" && state.selected.id === r.id;
    const withNote = (status) => ({ status, ...(note.value.trim() ? { note: note.value.trim() } : {}) });
    return h("li", { class: `card report-card${selected ? " selected" : ""}`, "data-report": r.id },
      h("div", { class: "card-head" }, h("span", { class: "pill report" }, label(r.category)),
        h("strong", { class: "headline" }, r.reporter), r.restricted ? h("span", { class: "pill restricted" }, "restricted") : null),
      h("p", { class: "text" }, r.description),
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Reported"), h("dd", {}, timeEl(r.reported_at, r.country, r.position), h("span", { class: "ago" }, ago(r.reported_at)))),
        r.occurred_at ? h("div", {}, h("dt", {}, "Occurred"), h("dd", {}, timeEl(r.occurred_at, r.country, r.position))) : null,
        h("div", {}, h("dt", {}, "Where"), h("dd", {}, `${r.position.lat.toFixed(4)}, ${r.position.lon.toFixed(4)}${r.country ? ` · ${r.country}` : ""}`))),
      h("div", { class: "actions" }, note,
        h("button", { type: "button", class: "primary", onclick: () => act(r, "triage", withNote("confirmed"), message, () => "Report confirmed.") }, "Confirm"),
        h("button", { type: "button", class: "ghost", onclick: () => act(r, "triage", withNote("dismissed"), message, () => "Report dismissed.") }, "Dismiss"),
        h("button", { type: "button", class: "warn", onclick: () => act(r, "promote", {}, message, (a) => `Alert sent to ${a.recipients} people.`) }, "Promote to alert"),
        h("button", { type: "button", class: "ghost", onclick: () => ctx.select("report", r.id) }, "Map")),
      message);
  }

  return {
    render() {
      keepValues(root, () => {
        if (!state.reports) {
          root.replaceChildren(h("h2", { class: "panel-title" }, "Incident reports"), unavailable("Incident reports"));
          return;
        }
        const reports = [...state.reports.values()].sort((a, b) => Date.parse(b.reported_at) - Date.parse(a.reported_at));
        root.replaceChildren(h("h2", { class: "panel-title" }, "Incident reports to triage"),
          reports.length ? h("ul", { class: "cards" }, reports.map(card)) : h("p", { class: "empty" }, "No new reports."));
      });
    },
  };
}

export function advisoriesPanel(ctx, root) {
  const { state } = ctx;
  return {
    render() {
      if (!state.advisories) {
        root.replaceChildren(h("h2", { class: "panel-title" }, "Country advisories"), unavailable("Country advisories"));
        return;
      }
      const rows = [...state.advisories.values()].sort((a, b) => b.risk_level - a.risk_level || a.country.localeCompare(b.country));
      root.replaceChildren(h("h2", { class: "panel-title" }, "Country advisories"),
        rows.length ? h("table", { class: "advisories" },
          h("thead", {}, h("tr", {}, h("th", {}, "Country"), h("th", {}, "Risk"), h("th", {}, "Summary"), h("th", {}, "Updated"))),
          h("tbody", {}, rows.map((a) => h("tr", {},
            h("td", {}, h("strong", {}, a.country)),
            h("td", {}, h("span", { class: `risk risk-${a.risk_level}` }, `${a.risk_level} ${a.risk_label || RISK_LABELS[a.risk_level] || ""}`)),
            h("td", {}, a.summary,
              a.curfew ? h("div", { class: "muted" }, `Curfew: ${a.curfew}`) : null,
              a.movement_restrictions ? h("div", { class: "muted" }, `Movement: ${a.movement_restrictions}`) : null,
              a.valid_until ? h("div", { class: "muted" }, "Valid until ", timeEl(a.valid_until, a.country)) : null),
            h("td", {}, timeEl(a.updated_at, a.country), h("div", { class: "muted" }, a.updated_by))))))
          : h("p", { class: "empty" }, "No advisories yet."));
    },
  };
}
