// The country advisories board and the trips waiting for clearance. The board lists every
// country's current advisory by risk level; officers of a country (watch officers: any) edit it
// in a form that PUTs a new version, and each row opens its history. A trip to a country at risk
// level 4 or 5 waits for an officer of the destination to approve or decline it, with a note:
// those trips head the panel, since the advisory is why they wait.

import { h, say, timeEl, label, utcField, utcFieldText, parseUtcField } from "./format.js";
import { keepValues } from "./alerts.js";

export const RISK_LABELS = ["", "Low", "Moderate", "Substantial", "High", "Extreme"];

const risk = (level, text) => h("span", { class: `risk risk-${level}` }, `${level} ${text || RISK_LABELS[level] || ""}`);

/** Whether the logged-in officer may act for `country` (watch officers: every country). */
export function actsFor(me, country) {
  return !!me && (me.role === "watch_officer" || me.countries.includes(country));
}

export function advisoriesPanel(ctx, root) {
  const { state } = ctx;
  /** country → its versions, newest first, for the rows whose history is open. */
  const histories = new Map();
  /** The advisory the form was filled from (null: a new country's first advisory). */
  let basis = null;

  const trips = h("section", { class: "clearances", "aria-label": "Trips waiting for clearance" });
  const board = h("div", { class: "advisory-board" });
  const message = h("p", { class: "message", role: "alert" });
  const field = (text, control) => h("label", {}, text, control);
  const country = h("input", { id: "a-country", maxlength: 2, placeholder: "CD", autocomplete: "off", class: "short" });
  const level = h("select", { id: "a-risk" }, [1, 2, 3, 4, 5].map((n) => h("option", { value: n }, `${n} ${RISK_LABELS[n]}`)));
  const summary = h("textarea", { id: "a-summary", rows: 3, maxlength: 10000 });
  const curfew = h("input", { id: "a-curfew", maxlength: 1000, placeholder: "22:00–05:00 in Goma" });
  const movement = h("textarea", { id: "a-movement", rows: 2, maxlength: 5000 });
  const validUntil = utcField({ id: "a-valid-until" });
  const save = h("button", { type: "submit", class: "primary", id: "a-save" }, "Publish advisory");
  const title = h("h3", { id: "a-title" }, "Advisory");
  const form = h("form", { class: "advisory-form", id: "advisory-form", novalidate: true, hidden: true },
    title,
    h("div", { class: "grid" },
      field("Country (ISO code)", country), field("Risk level", level),
      h("label", { class: "wide" }, "Summary", summary),
      h("label", { class: "wide" }, "Curfew", curfew),
      h("label", { class: "wide" }, "Movement restrictions", movement),
      field("Valid until (UTC, 24-hour)", validUntil)),
    message,
    h("div", { class: "actions" }, save, h("button", { type: "button", class: "ghost", onclick: () => close() }, "Close")));
  const newButton = h("button", { type: "button", class: "ghost small", id: "a-new", onclick: () => edit(null) }, "+ Country advisory");

  root.replaceChildren(trips, h("div", { class: "panel-head" }, h("h2", { class: "panel-title" }, "Country advisories"), newButton), form, board);

  /** The keyboard goes back where the form was opened from: the row's Edit, or "+ Country
   *  advisory". After the board's next render (queued before this), since rows are redrawn. */
  function close() {
    form.hidden = true;
    const from = basis && basis.country;
    requestAnimationFrame(() => {
      const edit = from && board.querySelector(`[data-advisory="${from}"] button.edit`);
      (edit || newButton).focus();
    });
  }

  function edit(advisory) {
    basis = advisory;
    form.hidden = false;
    say(message, "");
    title.textContent = advisory ? `Advisory for ${advisory.country} (revision ${advisory.revision})` : "New country advisory";
    country.value = advisory ? advisory.country : state.me.role === "security_officer" ? state.me.countries[0] || "" : "";
    country.readOnly = !!advisory;
    level.value = String(advisory ? advisory.risk_level : 2);
    summary.value = advisory ? advisory.summary : "";
    curfew.value = (advisory && advisory.curfew) || "";
    movement.value = (advisory && advisory.movement_restrictions) || "";
    validUntil.value = advisory && advisory.valid_until ? utcFieldText(advisory.valid_until) : "";
    (advisory ? summary : country).focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = country.value.trim().toUpperCase();
    if (!/^[A-Z]{2}$/.test(code)) {
      say(message, "Give the country's two-letter ISO code.");
      country.focus();
      return;
    }
    const body = { risk_level: Number(level.value), summary: summary.value.trim() };
    if (curfew.value.trim()) body.curfew = curfew.value.trim();
    if (movement.value.trim()) body.movement_restrictions = movement.value.trim();
    if (validUntil.value.trim()) {
      body.valid_until = basis && basis.valid_until && validUntil.value === utcFieldText(basis.valid_until)
        ? basis.valid_until : parseUtcField(validUntil.value);
      if (!body.valid_until) {
        say(message, "Write the end of validity as YYYY-MM-DD HH:MM, in UTC on a 24-hour clock.");
        validUntil.focus();
        return;
      }
    }
    save.disabled = true;
    try {
      const answer = await ctx.call("PUT", `/api/v1/advisories/${code}`, body);
      state.advisories.set(answer.country, answer);
      if (histories.has(answer.country)) await openHistory(answer.country);
      ctx.toast(`Advisory for ${answer.country} published: ${answer.risk_level} ${answer.risk_label}.`);
      ctx.changed("advisories");
      basis = answer;
      close();
      basis = null;
    } catch (e) {
      say(message, e.field ? `${label(e.field)}: ${e.message}` : e.message);
    } finally {
      save.disabled = false;
    }
  });

  async function openHistory(code) {
    try {
      histories.set(code, await ctx.call("GET", `/api/v1/advisories/${code}/history`));
    } catch (e) {
      ctx.toast(`History of ${code}: ${e.message}`, "error");
      histories.delete(code);
    }
    ctx.changed("advisories");
  }

  function toggleHistory(code) {
    if (histories.has(code)) {
      histories.delete(code);
      ctx.changed("advisories");
    } else {
      openHistory(code);
    }
  }

  function details(a) {
    return [a.summary,
      a.curfew ? h("div", { class: "muted" }, `Curfew: ${a.curfew}`) : null,
      a.movement_restrictions ? h("div", { class: "muted" }, `Movement: ${a.movement_restrictions}`) : null,
      a.valid_until ? h("div", { class: "muted" }, "Valid until ", timeEl(a.valid_until, a.country)) : null];
  }

  function rows(a) {
    const open = histories.get(a.country);
    const row = h("tr", { "data-advisory": a.country },
      h("td", {}, h("strong", {}, a.country)),
      h("td", {}, risk(a.risk_level, a.risk_label)),
      h("td", { class: "summary" }, details(a)),
      h("td", {}, timeEl(a.updated_at, a.country), h("div", { class: "muted" }, `${a.updated_by} · rev. ${a.revision}`),
        h("div", { class: "row-actions" },
          actsFor(state.me, a.country) ? h("button", { type: "button", class: "small edit", onclick: () => edit(a) }, "Edit") : null,
          h("button", { type: "button", class: "small ghost history", "aria-expanded": String(!!open), onclick: () => toggleHistory(a.country) }, "History"))));
    if (!open) return [row];
    return [row, h("tr", { class: "history", "data-history": a.country }, h("td", { colspan: 4 },
      h("ol", { class: "versions" }, open.map((v) => h("li", {},
        h("span", { class: "muted" }, `rev. ${v.revision} · `), risk(v.risk_level, v.risk_label), " ",
        timeEl(v.updated_at, v.country), h("span", { class: "muted" }, ` · ${v.updated_by}`),
        h("div", {}, details(v)))))))];
  }

  function clearanceCard(t) {
    const note = h("input", { "data-keep": `clearance-${t.id}`, placeholder: "Note (required)", "aria-label": `Clearance note on ${t.traveller}'s trip` });
    const said = h("p", { class: "message", role: "alert" });
    const advisory = state.advisories && state.advisories.get(t.destination.country);
    const decide = async (decision) => {
      if (!note.value.trim()) {
        say(said, "A note is required: say why, or on what conditions.");
        note.focus();
        return;
      }
      try {
        await ctx.call("POST", `/api/v1/trips/${t.id}/clearance`, { decision, note: note.value.trim() });
        state.trips.delete(t.id);
        ctx.toast(`${t.traveller}'s trip ${decision === "approve" ? "approved" : "declined"}.`);
        ctx.changed("advisories");
      } catch (e) {
        say(said, e.message);
      }
    };
    return h("li", { class: "card trip-card", "data-trip": t.id },
      h("div", { class: "card-head" }, h("strong", { class: "headline" }, t.traveller), " → ",
        h("strong", {}, `${t.destination.city ? `${t.destination.city}, ` : ""}${t.destination.country}`),
        advisory ? risk(advisory.risk_level, advisory.risk_label) : null),
      h("div", { class: "muted" }, timeEl(t.depart_at, t.destination.country), " – ", timeEl(t.return_at, t.destination.country)),
      h("div", { class: "actions" }, note,
        h("button", { type: "button", class: "ok approve", onclick: () => decide("approve") }, "Approve"),
        h("button", { type: "button", class: "danger decline", onclick: () => decide("decline") }, "Decline")),
      said);
  }

  return {
    render() {
      newButton.hidden = !state.advisories;
      keepValues(trips, () => {
        const waiting = [...(state.trips || new Map()).values()]
          .filter((t) => actsFor(state.me, t.destination.country))
          .sort((a, b) => Date.parse(a.depart_at) - Date.parse(b.depart_at));
        trips.replaceChildren(...(waiting.length
          ? [h("h2", { class: "panel-title" }, "Trips waiting for clearance"), h("ul", { class: "cards", id: "trip-list" }, waiting.map(clearanceCard))]
          : []));
      });
      if (!state.advisories) {
        board.replaceChildren(h("p", { class: "empty" }, "Country advisories are not available to this account."));
        return;
      }
      const current = basis && state.advisories.get(basis.country);
      if (!form.hidden && current && current.revision !== basis.revision) {
        say(message, `${current.updated_by} changed this advisory meanwhile (revision ${current.revision}); publishing replaces it.`, "info");
      }
      const list = [...state.advisories.values()].sort((a, b) => b.risk_level - a.risk_level || a.country.localeCompare(b.country));
      board.replaceChildren(list.length
        ? h("table", { class: "advisories" },
          h("thead", {}, h("tr", {}, h("th", {}, "Country"), h("th", {}, "Risk"), h("th", {}, "Summary"), h("th", {}, "Updated"))),
          h("tbody", {}, list.flatMap(rows)))
        : h("p", { class: "empty" }, "No advisories yet."));
    },
    /** Closes the form and the histories (at logout). */
    forget() {
      histories.clear();
      basis = null;
      form.hidden = true;
    },
    /** A live `advisory` envelope: an open history gains the new version. */
    advisoryChanged(advisory) {
      if (histories.has(advisory.country)) openHistory(advisory.country);
    },
  };
}
