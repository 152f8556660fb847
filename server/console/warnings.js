// Outside warnings: what the public CAP feeds the hub follows say (GDACS, Meteoalarm, national
// weather services …), as context for officers. None reached staff: "Promote to alert…" opens
// the composer filled from the warning, and the review shows whom it reaches before anything is
// sent. Each warning shows in the officer's language when it has one (the others a click
// away); one placed only by a description or geocodes says so. The feeds' health heads the
// panel — an outage shows with its error and the time of the next try — and watch officers
// follow and unfollow feeds here.

import { h, say, timeEl, ago, severityRank } from "./format.js";
import { keepValues } from "./alerts.js";

/** Whether a warning is current: not withdrawn, not expired. */
export function isCurrent(w) {
  return w.state === "active" && !(w.expires && Date.parse(w.expires) <= Date.now());
}

/** The info to show first: the one in the browser's language, else the first. */
export function infoFor(w, chosen) {
  const lang = (tag) => (tag || "").split("-")[0].toLowerCase();
  const wanted = lang(chosen || navigator.language);
  return w.infos.find((i) => i.language === chosen) || w.infos.find((i) => lang(i.language) === wanted) || w.infos[0] || null;
}

/** The warning's worst severity across its infos, for its colour. */
export function severityOf(w) {
  return w.infos.map((i) => i.severity).sort((a, b) => severityRank(a) - severityRank(b))[0] || "unknown";
}

/** A point of the info's first shape, for its local time ({lat, lon}); none without a shape. */
function anchor(info) {
  for (const a of info.areas) {
    if (a.circles.length) return { lon: a.circles[0].centre[0], lat: a.circles[0].centre[1] };
    if (a.polygons.length) return { lon: a.polygons[0][0][0], lat: a.polygons[0][0][1] };
  }
  return undefined;
}

export function warningsPanel(ctx, root) {
  const { state } = ctx;
  // Warning id → language chosen on its card.
  const shownIn = new Map();

  async function follow(form, message) {
    const data = new FormData(form);
    const body = { name: String(data.get("name")).trim(), url: String(data.get("url")).trim() };
    const interval = Number(data.get("interval"));
    if (interval) body.interval_s = Math.round(interval * 60);
    try {
      const feed = await ctx.call("POST", "/api/v1/warning-feeds", body);
      state.feeds.set(feed.id, feed);
      form.reset();
      ctx.toast(`Following ${feed.name}.`);
      ctx.changed("warnings");
    } catch (e) {
      say(message, e.message);
    }
  }

  async function unfollow(feed, message) {
    try {
      await ctx.call("DELETE", `/api/v1/warning-feeds/${feed.id}`);
      state.feeds.delete(feed.id);
      ctx.toast(`No longer following ${feed.name}; its warnings stay.`);
      ctx.changed("warnings");
    } catch (e) {
      say(message, e.message);
    }
  }

  function feedRow(feed) {
    const message = h("p", { class: "message", role: "alert" });
    const failing = feed.failures > 0;
    return h("li", { class: `feed${failing ? " failing" : ""}`, "data-feed": feed.id },
      h("strong", {}, feed.name), " ",
      failing
        ? h("span", { class: "feed-state failing" },
          `Failing (${feed.failures} in a row): ${feed.last_error || "no answer"} · next try `, timeEl(feed.next_poll_at))
        : h("span", { class: "feed-state ok" }, feed.last_success_at ? `OK · fetched ${ago(feed.last_success_at)}` : "waiting for the first fetch"),
      h("span", { class: "muted feed-url" }, ` ${feed.url}`),
      state.me && state.me.role === "watch_officer"
        ? h("button", { type: "button", class: "ghost small unfollow", onclick: () => unfollow(feed, message) }, "Stop following")
        : null,
      message);
  }

  function feeds() {
    if (!state.feeds) return null;
    const list = [...state.feeds.values()];
    const message = h("p", { class: "message", role: "alert" });
    const form = state.me && state.me.role === "watch_officer"
      ? h("form", { class: "follow", id: "follow-feed", onsubmit: (event) => { event.preventDefault(); follow(form, message); } },
        h("input", { name: "name", "data-keep": "feed-name", placeholder: "Name (GDACS)", required: true, "aria-label": "Feed name" }),
        h("input", { name: "url", "data-keep": "feed-url", placeholder: "https://… Atom, RSS or CAP", required: true, "aria-label": "Feed URL" }),
        h("input", { name: "interval", "data-keep": "feed-interval", type: "number", min: "1", placeholder: "every 5 min", class: "short", "aria-label": "Minutes between polls" }),
        h("button", { type: "submit", class: "ghost" }, "Follow"), message)
      : null;
    return h("details", { class: "feeds", open: list.some((f) => f.failures > 0) || !list.length },
      h("summary", {}, `Feeds followed: ${list.length}`, list.some((f) => f.failures > 0) ? h("span", { class: "pill failing" }, "outage") : null),
      list.length ? h("ul", { class: "feed-list" }, list.map(feedRow)) : h("p", { class: "empty" }, "No feed is followed."),
      form);
  }

  function card(w) {
    const info = infoFor(w, shownIn.get(w.id));
    if (!info) return null;
    const current = isCurrent(w);
    const selected = state.selected && state.selected.kind === "warning" && state.selected.id === w.id;
    const areas = info.areas.map((a) => a.description).join("; ") || "no area given";
    const stateText = { active: current ? null : "expired", expired: "expired", withdrawn: "withdrawn" }[w.state];
    const languages = w.infos.length > 1
      ? h("span", { class: "languages", role: "group", "aria-label": "Languages" }, w.infos.map((i) =>
        h("button", { type: "button", class: `ghost small lang${i === info ? " on" : ""}`, "aria-pressed": String(i === info),
          onclick: () => { shownIn.set(w.id, i.language); ctx.changed("warnings"); } }, i.language)))
      : null;
    return h("li", { class: `card warning-card sev-${severityOf(w)}${selected ? " selected" : ""}${current ? "" : " past"}`, "data-warning": w.id },
      h("div", { class: "card-head" },
        h("span", { class: `pill sev-${info.severity}` }, info.severity),
        w.status !== "Actual" ? h("span", { class: "pill drill" }, w.status) : null,
        stateText ? h("span", { class: `pill ${stateText}` }, stateText) : null,
        h("strong", { class: "headline" }, info.headline || info.event)),
      h("p", { class: "meta" }, [info.event, info.sender_name || w.sender, w.revision > 1 ? `rev ${w.revision}` : null,
        w.unmatched_reference ? `${w.msg_type} of a message never received` : null].filter(Boolean).join(" · ")),
      languages,
      info.description ? h("p", { class: "text" }, info.description) : null,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Where"), h("dd", { class: "where" }, areas,
          w.countries.length ? ` · ${w.countries.join(", ")}` : "",
          w.placed ? null : h("span", { class: "pill unplaced", title: "No polygon or circle: placed by its description and geocodes only" }, "not placed"))),
        w.area_note ? h("div", {}, h("dt", {}, "Target"), h("dd", { class: "area-note" }, w.area_note)) : null,
        h("div", {}, h("dt", {}, "Sent"), h("dd", {}, timeEl(w.sent, w.countries[0], anchor(info)), h("span", { class: "ago" }, ago(w.sent)))),
        w.expires ? h("div", {}, h("dt", {}, "Expires"), h("dd", {}, timeEl(w.expires, w.countries[0], anchor(info)))) : null,
        info.instruction ? h("div", {}, h("dt", {}, "Instruction"), h("dd", {}, info.instruction)) : null,
        w.alert_id ? h("div", {}, h("dt", {}, "Alert"), h("dd", {}, h("button", { type: "button", class: "ghost small open-alert",
          onclick: () => ctx.select("alert", w.alert_id) }, `sent by ${w.promoted_by}`))) : null),
      h("div", { class: "actions" },
        current && !w.alert_id
          ? h("button", { type: "button", class: "warn promote", title: "Write an alert from this warning; you review whom it reaches before it is sent",
            onclick: () => ctx.composer.promoteWarning(w, info) }, "Promote to alert…")
          : null,
        h("button", { type: "button", class: "ghost locate", onclick: () => ctx.select("warning", w.id) }, "Map"),
        info.web ? h("a", { href: info.web, target: "_blank", rel: "noopener noreferrer", class: "ghost small" }, "Source") : null));
  }

  return {
    render() {
      keepValues(root, () => {
        if (!state.warnings) {
          root.replaceChildren(h("h2", { class: "panel-title" }, "Outside warnings"),
            h("p", { class: "empty" }, "Outside warnings are not available to this account."));
          return;
        }
        const all = [...state.warnings.values()];
        const order = (a, b) => severityRank(severityOf(a)) - severityRank(severityOf(b)) || Date.parse(b.sent) - Date.parse(a.sent);
        const current = all.filter(isCurrent).sort(order);
        const past = all.filter((w) => !isCurrent(w)).sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at));
        root.replaceChildren(...[h("h2", { class: "panel-title" }, "Outside warnings"),
          h("p", { class: "muted note" }, "From the public feeds below. They reach no one until promoted to an alert."),
          feeds(),
          current.length ? h("ul", { class: "cards", id: "warning-list" }, current.map(card))
            : h("p", { class: "empty" }, "No current outside warning."),
          past.length ? h("details", { class: "past-warnings" }, h("summary", {}, `Withdrawn and expired: ${past.length}`),
            h("ul", { class: "cards", id: "past-warning-list" }, past.map(card))) : null].filter(Boolean));
      });
    },
  };
}
