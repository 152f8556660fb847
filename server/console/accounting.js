// Time-to-account on the headcount board — when 50 %, 90 % and 100 % of the people had
// answered, how the answer times spread, by duty station and by channel — and an exercise's
// drill report (sent to, delivered, answered, how fast, exactly who never answered). The hub
// computes every figure; this only lays them out.

import { h, label, telLink } from "./format.js";

const CHANNEL_TEXT = { http: "App (HTTP)", websocket: "App (WebSocket)", mqtt: "App (MQTT)", sms: "SMS", proxy: "Officer (proxy)" };

/** Seconds as a person reads them: "45 s", "3 min 05 s", "1 h 02 min"; "—" when absent. */
export function duration(s) {
  if (s === undefined || s === null) return "—";
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/** A histogram bucket's name: "≤ 1 min", …, "later". */
function bucketName(b, previous) {
  if (b.up_to_s === undefined || b.up_to_s === null) return `> ${duration(previous)}`;
  return `≤ ${b.up_to_s < 3600 ? `${b.up_to_s / 60} min` : `${b.up_to_s / 3600} h`}`;
}

function thresholds(f) {
  const one = (share, key) => h("div", { class: f[key] === undefined ? "pending" : "met" },
    h("dt", {}, `${share} % accounted`), h("dd", { "data-tta": String(share) }, duration(f[key])));
  return h("dl", { class: "figures tta-figures" },
    one(50, "accounted_50_s"), one(90, "accounted_90_s"), one(100, "accounted_100_s"),
    h("div", {}, h("dt", {}, "Median answer"), h("dd", { "data-tta": "p50" }, duration(f.answer_p50_s))),
    h("div", {}, h("dt", {}, "90th pct answer"), h("dd", { "data-tta": "p90" }, duration(f.answer_p90_s))),
    h("div", {}, h("dt", {}, "Slowest"), h("dd", { "data-tta": "max" }, duration(f.answer_max_s))));
}

function histogram(f) {
  const most = Math.max(1, ...f.buckets.map((b) => b.count));
  let previous = null;
  return h("ol", { class: "histogram", "aria-label": "Answer times" }, f.buckets.map((b) => {
    const bar = h("span", { class: "hbar", "aria-hidden": "true" });
    // The width through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    bar.style.width = `${(100 * b.count) / most}%`;
    const name = bucketName(b, previous);
    previous = b.up_to_s;
    return h("li", { "data-bucket": b.up_to_s === undefined ? "later" : String(b.up_to_s) },
      h("span", { class: "hname" }, name), bar, h("span", { class: "hcount" }, b.count));
  }));
}

// The groups are lists, not tables: the board's own table (its people) stays the only one.
function groupList(caption, key, rows, name) {
  if (!rows.length) return null;
  const cells = (...texts) => texts.map((t, i) => h("span", { class: i === 0 ? "gname" : "gfigure" }, t));
  return h("div", { class: "tta-groups" },
    h("h4", {}, caption),
    h("ul", { "data-tta-groups": key },
      h("li", { class: "ghead", "aria-hidden": "true" }, ...cells(key === "channel" ? "Channel" : "Duty station", "Answered", "50 %", "90 %", "100 %")),
      rows.map((g) => h("li", { "data-group": name(g) },
        ...cells(name(g), `${g.accounted} of ${g.people}`, duration(g.accounted_50_s), duration(g.accounted_90_s), duration(g.accounted_100_s))))));
}

/** A duty station's name on the board: its country and coordinates, or "No duty station". */
export function stationName(g) {
  if (!g.duty_station) return "No duty station";
  const at = `${g.duty_station.lat.toFixed(3)}, ${g.duty_station.lon.toFixed(3)}`;
  return g.country ? `${g.country} (${at})` : at;
}

export function channelName(channel) {
  return channel ? CHANNEL_TEXT[channel] || label(channel) : "Not recorded";
}

/** The board's time-to-account section. */
export function timeToAccount(tta) {
  return h("section", { class: "tta", id: "time-to-account", "aria-label": "Time to account" },
    h("h3", {}, "Time to account ", h("span", { class: "muted" }, `${tta.accounted} of ${tta.people} answered`)),
    thresholds(tta),
    histogram(tta),
    groupList("By duty station", "duty_station", tta.by_duty_station, stationName),
    groupList("By channel", "channel", tta.by_channel, (g) => channelName(g.channel)));
}

/** An exercise's drill report. */
export function drillReport(report) {
  const figure = (key, text, n) => h("div", {}, h("dt", {}, text), h("dd", { "data-drill": key }, n));
  return h("section", { class: "drill-report", id: "drill-report", "aria-label": "Drill report" },
    h("p", { class: "drill-banner" }, "EXERCISE — drill report"),
    h("h3", {}, report.ended ? "Drill report (final)" : "Drill report (so far)"),
    h("dl", { class: "figures" },
      figure("sent_to", "Sent to", report.sent_to), figure("delivered", "Delivered", report.delivered),
      figure("answered", "Answered", report.answered), figure("safe", "Safe", report.safe),
      figure("need_help", "Need help", report.need_help), figure("never", "Never answered", report.never_answered.length)),
    h("p", {}, `Accounted for: 50 % in ${duration(report.time_to_account.accounted_50_s)}, 90 % in ${duration(report.time_to_account.accounted_90_s)}, everyone in ${duration(report.time_to_account.accounted_100_s)}.`,
      report.second_wave_at ? " The second wave went to the silent." : ""),
    report.never_answered.length
      ? h("div", {}, h("h4", {}, "Never answered"),
        h("ul", { class: "never-answered" }, report.never_answered.map((p) => h("li", { "data-never": p.username },
          h("strong", {}, p.name), h("span", { class: "muted" }, ` ${p.username}`),
          p.delivered ? null : h("span", { class: "status not_reached" }, " not reached"),
          p.phone ? h("span", { class: "call" }, " ", telLink(p.phone, p.name)) : null))))
      : h("p", { class: "empty" }, "Everyone answered."));
}

/** The period's summary (`GET /api/v1/headcounts/summary`): everyone pooled, then each
 *  headcount; `title` says whether it counts real alerts or drills. */
export function periodSummary(summary, title) {
  return h("section", { class: "tta period-summary", "data-summary": summary.status },
    h("h3", { class: "section-title" }, title, h("span", { class: "muted" }, ` ${summary.headcounts.length} ${summary.headcounts.length === 1 ? "headcount" : "headcounts"} · ${summary.accounted} of ${summary.people} answered`)),
    summary.headcounts.length ? [
      thresholds(summary),
      h("table", { class: "people" },
        h("thead", {}, h("tr", {}, h("th", {}, "Headcount"), h("th", {}, "Answered"), h("th", {}, "50 %"), h("th", {}, "90 %"), h("th", {}, "100 %"))),
        h("tbody", {}, summary.headcounts.map((c) => h("tr", { "data-summary-alert": c.alert_id },
          h("td", {}, c.headline), h("td", {}, `${c.accounted} of ${c.people}`),
          h("td", {}, duration(c.accounted_50_s)), h("td", {}, duration(c.accounted_90_s)), h("td", {}, duration(c.accounted_100_s)))))),
    ] : h("p", { class: "empty" }, "No headcount in this period."));
}
