// The console's shell: login and the kept session, the shared state, the live stream and the
// resync after every gap, the tabs, the clocks, and what the map shows; administrators get the
// accounts page instead.

import { call, login, session, useToken, Stream, ApiError } from "./api.js";
import { MapView, areaRings, bounds, circleRing, WHOLE_WORLD } from "./map.js";
import { alertsPanel, composerPanel, areaCentre, standing, STANDING_TEXT } from "./alerts.js";
import { sosPanel } from "./sos.js";
import { journeysPanel } from "./journeys.js";
import { reportsPanel, awaitsTriage } from "./reports.js";
import { advisoriesPanel } from "./advisories.js";
import { accountsPage } from "./accounts.js";
import { historyPanel } from "./history.js";
import { warningsPanel, isCurrent, severityOf, infoFor } from "./warnings.js";
import { drill } from "./guard.js";
import { placeSearch } from "./placesearch.js";
import { h, say, severityRank } from "./format.js";

const $ = (id) => document.getElementById(id);
const OFFICERS = ["watch_officer", "security_officer"];
const WALL_KEY = "scaan.wall";
/** The panel that shows the detail of each kind of selectable item. */
const PANELS = { alert: "alerts", sos: "sos", report: "reports" };

const state = {
  me: null,
  alerts: new Map(),
  headcounts: new Map(),
  // The selected alert's headcount board, as last fetched.
  board: null,
  sos: new Map(),
  // Journeys under way, and the open or acknowledged alarms of their missed check-ins.
  journeys: new Map(),
  journeyAlarms: new Map(),
  // null: the hub does not offer it (404); the panel says so.
  reports: new Map(),
  advisories: new Map(),
  // Trips waiting for clearance.
  trips: new Map(),
  // Outside warnings (current and past) and the feeds they come from; null: not offered.
  warnings: new Map(),
  feeds: new Map(),
  // Incident category code → label, from the hub's taxonomy.
  categories: null,
  staff: null,
  selected: null,
  link: "connecting",
  // Since when what the page shows may be out of date (the stream is down, or up but not yet
  // resynced): a time, or null while it is current.
  staleSince: null,
};

let stream = null;
let staffTimer = null;
let panels = null;
let map = null;
let admin = null;
const pending = new Set();
let frame = 0;
// The active alerts the wall's map was last framed on.
let framedOn = null;

/** What every panel is handed. */
const ctx = {
  state,
  call,
  get map() { return map; },
  /** Marks parts of the page for re-rendering on the next frame. */
  changed(...parts) {
    for (const p of parts) pending.add(p);
    if (!frame) frame = requestAnimationFrame(render);
  },
  /** Selects an item; `focus` puts the keyboard on its detail once drawn (after a send). */
  select(kind, id, { focusMap = true, focus = false } = {}) {
    const before = state.selected;
    state.selected = id ? { kind, id } : null;
    // Another item's detail, or the list, starts at its top, not at the scroll the last was left at.
    const panel = PANELS[id ? kind : before && before.kind];
    if (panel && (!before || !id || before.kind !== kind || before.id !== id)) $(`panel-${panel}`).scrollTop = 0;
    if (kind === "alert") showTab("alerts");
    if (kind === "sos") showTab("sos");
    if (kind === "report") showTab("reports");
    if (kind === "warning") showTab("warnings");
    if (focusMap && id) focusOn(kind, id);
    ctx.changed("alerts", "sos", "reports", "warnings", "map");
    // Runs after the render this frame already has queued.
    if (focus && kind === "alert") requestAnimationFrame(() => { if ($("alert-title")) $("alert-title").focus({ preventScroll: true }); });
  },
  showTab,
  toast,
  isActive(alert) {
    return alert.msg_type !== "cancel" && Date.parse(alert.expires_at) > Date.now();
  },
};

function render() {
  frame = 0;
  const parts = new Set(pending);
  pending.clear();
  if (!panels) return;
  if (parts.has("alerts")) panels.alerts.render();
  if (parts.has("sos")) panels.sos.render();
  if (parts.has("journeys")) panels.journeys.render();
  if (parts.has("reports")) panels.reports.render();
  if (parts.has("warnings")) panels.warnings.render();
  if (parts.has("advisories")) {
    panels.advisories.render();
    map.shadeCountries(new Map([...(state.advisories || new Map()).values()].map((a) => [a.country, a.risk_level])));
  }
  if (parts.has("compose")) panels.composer.render();
  if (["map", "alerts", "sos", "reports", "staff", "warnings"].some((p) => parts.has(p))) drawMap();
  if (parts.has("alerts") && wallMode()) frameWall();
  // Live alerts only: an exercise never adds to the real figures (it is marked in the list).
  $("count-alerts").textContent = [...state.alerts.values()].filter((a) => ctx.isActive(a) && !drill(a)).length;
  $("count-sos").textContent = state.sos.size;
  $("count-sos").classList.toggle("hot", [...state.sos.values()].some((s) => s.status === "open"));
  $("count-journeys").textContent = [...state.journeys.values()].filter((j) => j.status === "active").length;
  $("count-journeys").classList.toggle("hot", [...state.journeyAlarms.values()].some((a) => a.status === "open"));
  $("count-reports").textContent = state.reports ? state.reports.size : "–";
  $("count-warnings").textContent = state.warnings ? [...state.warnings.values()].filter(isCurrent).length : "–";
  $("count-warnings").classList.toggle("outage", !!state.feeds && [...state.feeds.values()].some((f) => f.failures > 0));
  const waiting = state.trips ? state.trips.size : 0;
  $("count-trips").textContent = waiting;
  $("count-trips").hidden = !waiting;
}

function drawMap() {
  const selected = state.selected || {};
  const alerts = [...state.alerts.values()]
    .filter((a) => ctx.isActive(a) || (selected.kind === "alert" && selected.id === a.id))
    .sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
  map.setAreas(alerts.map((a) => ({
    id: a.id, rings: areaRings(a.area), severity: a.severity, title: drill(a) ? `${drill(a)}: ${a.headline}` : a.headline, drill: !!drill(a),
    selected: selected.kind === "alert" && selected.id === a.id,
  })));
  const markers = alerts.map((a) => {
    const centre = areaCentre(a.area);
    return { id: a.id, kind: "alert", lon: centre.lon, lat: centre.lat, cls: `sev-${a.severity}`, title: a.headline };
  });
  drawOutside(selected, markers);
  const lines = [];
  for (const s of state.sos.values()) {
    if (!s.position) continue;
    markers.push({ id: s.id, kind: "sos", lon: s.position.lon, lat: s.position.lat, cls: s.status,
      title: `SOS ${s.name} (${s.status})` });
    lines.push({ points: s.trail.map((p) => [p.lon, p.lat]), cls: "trail" });
  }
  for (const r of (state.reports || new Map()).values()) {
    const category = (state.categories && state.categories.get(r.category)) || r.category;
    markers.push({ id: r.id, kind: "report", lon: r.position.lon, lat: r.position.lat, title: `${category} (${r.reporter}): ${r.description}` });
  }
  // The selected alert's people, coloured by how they stand: where they answered from, else
  // where the hub places them.
  const marked = new Map();
  const board = selected.kind === "alert" && state.board && state.board.alert_id === selected.id ? state.board : null;
  for (const p of board ? board.staff : []) marked.set(p.staff_id, { person: p, mark: standing(p) });
  for (const p of state.staff || []) {
    const m = marked.get(p.staff_id);
    if (m) {
      m.at = m.person.position || p.position;
      continue;
    }
    markers.push({ id: p.staff_id, kind: "staff", lon: p.position.lon, lat: p.position.lat,
      cls: p.precision === "area" ? `${p.source} area` : p.source, title: `${p.name} (${placeText(p)})` });
  }
  for (const { person, mark, at = person.position } of marked.values()) {
    if (!at) continue;
    markers.push({ id: person.staff_id, kind: "person", lon: at.lon, lat: at.lat, cls: `hc-${mark}`, standing: mark,
      title: `${person.name}: ${STANDING_TEXT[mark]}${person.note ? ` — “${person.note}”` : ""}` });
  }
  $("legend-board").hidden = !board;
  map.setLines(lines);
  map.setMarkers(markers);
}

/** The incident a precise position is shown for, by its ground's kind. */
const GROUND_TEXT = { alert: "alert", sos: "SOS", journey_alarm: "missed journey check-in" };

/** What a staff marker stands for: outside an incident the hub shows a reported position only
 *  as its area (a grid cell, km across); inside one, precisely, on the ground it names. */
function placeText(p) {
  if (p.source !== "position") return "duty station";
  if (p.precision === "area") {
    const km = p.position.accuracy_m ? ` within ${Math.round(p.position.accuracy_m / 1000)} km` : "";
    return `area only${km}: no incident reaches them`;
  }
  return p.ground ? `reported position, shown for their ${GROUND_TEXT[p.ground.kind] || "alert"}` : "reported position";
}

/** The outside-warnings layer (when shown): current warnings' areas, dashed, under the alerts,
 *  each with a marker; a warning placed only by geocodes outlines its countries instead. */
function drawOutside(selected, markers) {
  const shown = $("layer-outside").checked && state.warnings
    ? [...state.warnings.values()].filter((w) => isCurrent(w) || (selected.kind === "warning" && selected.id === w.id)) : [];
  const areas = [];
  for (const w of shown) {
    const info = infoFor(w);
    const title = `Outside warning: ${info ? info.headline || info.event : w.identifier}`;
    const rings = warningRings(w);
    const area = { id: w.id, rings, severity: severityOf(w), title, selected: selected.kind === "warning" && selected.id === w.id };
    if (rings.length) {
      areas.push(area);
      const [west, south, east, north] = bounds(rings);
      markers.push({ id: w.id, kind: "warning", lon: (west + east) / 2, lat: (south + north) / 2, cls: `sev-${severityOf(w)}`, title });
    } else {
      const d = w.countries.map((c) => map.countryOutline(c)).join("");
      if (d) areas.push({ ...area, d });
    }
  }
  map.setOutside(areas);
}

/** Every polygon and circle of a warning's areas, in [lon, lat] rings. */
function warningRings(w) {
  return w.infos.slice(0, 1).flatMap((i) => i.areas).flatMap((a) => [
    ...a.polygons,
    ...a.circles.map((c) => circleRing(c.centre, c.radius_m)),
  ]);
}

/** The bounds of the countries a warning without a shape was placed in, once the map knows them. */
function countryBounds(w) {
  const known = w.countries.map((c) => map.country(c)).filter(Boolean);
  return known.length ? bounds(known.map(({ bounds: [w1, s, e, n] }) => [[w1, s], [e, n]])) : null;
}

// ---- where the map starts, and the wall screen ------------------------------------------------

function wallMode() {
  return document.documentElement.classList.contains("wall");
}

/** Wall mode (a URL's `?wall=1` or `?wall=0`, or the header's toggle; kept in localStorage):
 *  the active alerts' headcounts at a glance, the map on where the alerts are, larger text. */
function setWall(on) {
  localStorage.setItem(WALL_KEY, on ? "1" : "0");
  document.documentElement.classList.toggle("wall", on);
  $("wall-toggle").setAttribute("aria-pressed", String(on));
  framedOn = null;
  if (!map) return;
  if (on) frameWall();
  else map.showHome();
}

/** On the wall, the map frames the active alerts' areas whenever that set changes (an officer
 *  can still pan in between); with none, the officer's home. */
function frameWall() {
  const active = [...state.alerts.values()].filter(ctx.isActive);
  const key = active.map((a) => a.id).sort().join(",");
  if (!map || key === framedOn) return;
  framedOn = key;
  if (!active.length) {
    map.showHome();
    return;
  }
  // At least 3° across: a town-sized alert still shows the towns and lakes around it.
  map.fit(bounds(active.flatMap((a) => areaRings(a.area))), 3);
}

/** What the page is called and where its map starts: a security officer's countries (by their
 *  Natural Earth names once the base map is in), else the operations centre's whole world. */
function showRole(me) {
  const countries = me.role === "security_officer" ? me.countries : [];
  const known = countries.map((c) => map && map.country(c)).filter(Boolean);
  const title = countries.length
    ? countries.map((c) => (map && map.country(c) ? `${map.country(c).name} (${c})` : c)).join(", ")
    : "Operations centre";
  $("brand-role").textContent = title;
  document.title = `SCAAN · ${title}`;
  if (!map) return;
  const home = known.length ? bounds(known.map(({ bounds: [w, s, e, n] }) => [[w, s], [e, n]])) : WHOLE_WORLD;
  if (JSON.stringify(home) === JSON.stringify(map.home)) return;
  map.home = home;
  if (!(wallMode() && framedOn)) map.showHome();
}

function focusOn(kind, id) {
  if (kind === "alert" && state.alerts.has(id)) map.fit(bounds(areaRings(state.alerts.get(id).area)), 0.3);
  const sos = kind === "sos" && state.sos.get(id);
  if (sos && sos.position) {
    const points = [sos.position, ...sos.trail].map((p) => [p.lon, p.lat]);
    map.fit(bounds([points]), 0.5);
  }
  const report = kind === "report" && state.reports && state.reports.get(id);
  if (report) map.fit(bounds([[[report.position.lon, report.position.lat]]]), 1);
  const warning = kind === "warning" && state.warnings && state.warnings.get(id);
  if (warning) {
    const rings = warningRings(warning);
    const framed = rings.length ? bounds(rings) : countryBounds(warning);
    if (framed) map.fit(framed, 0.5);
  }
}

// ---- tabs --------------------------------------------------------------------------------

const TABS = ["alerts", "sos", "journeys", "reports", "warnings", "advisories", "history", "compose"];

function showTab(name, { focus = false } = {}) {
  for (const t of TABS) {
    const tab = $(`tab-${t}`);
    const on = t === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    const wasHidden = $(`panel-${t}`).hidden;
    $(`panel-${t}`).hidden = !on;
    if (on && focus) tab.focus();
    if (on && wasHidden && t === "history" && panels) panels.history.shown();
    if (on && wasHidden && t === "warnings" && panels) refreshFeeds();
  }
}

function wireTabs() {
  for (const t of TABS) $(`tab-${t}`).addEventListener("click", () => showTab(t));
  document.querySelector(".tabs").addEventListener("keydown", (event) => {
    const i = TABS.findIndex((t) => $(`tab-${t}`).getAttribute("aria-selected") === "true");
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (step) {
      event.preventDefault();
      showTab(TABS[(i + step + TABS.length) % TABS.length], { focus: true });
    }
  });
}

// ---- live state ----------------------------------------------------------------------------

/** Envelopes that arrive while a snapshot is being fetched are replayed over it. */
let replay = null;

function apply(envelope) {
  if (replay) replay.push(envelope);
  switch (envelope.type) {
    case "alert":
    case "alert_update":
    case "alert_cancel": {
      const known = state.alerts.get(envelope.alert.id);
      if (!known || known.revision <= envelope.alert.revision) state.alerts.set(envelope.alert.id, envelope.alert);
      if (!known && !replay) loadTallies([envelope.alert], { keepLive: true });
      ctx.changed("alerts");
      if (envelope.type === "alert" && !known && !envelope.wave) toast(`New ${drill(envelope.alert) ? `${drill(envelope.alert)} ` : ""}alert: ${envelope.alert.headline}`);
      break;
    }
    case "headcount":
      state.headcounts.set(envelope.alert_id, envelope);
      panels.alerts.headcountChanged(envelope);
      break;
    case "sos":
    case "sos_update":
      if (envelope.sos.status === "resolved") state.sos.delete(envelope.sos.id);
      else state.sos.set(envelope.sos.id, envelope.sos);
      ctx.changed("sos");
      break;
    case "journey":
      if (envelope.journey.status === "active") state.journeys.set(envelope.journey.id, envelope.journey);
      else state.journeys.delete(envelope.journey.id);
      ctx.changed("journeys");
      break;
    case "journey_alarm":
      if (envelope.alarm.status === "resolved") state.journeyAlarms.delete(envelope.alarm.id);
      else {
        if (!state.journeyAlarms.has(envelope.alarm.id)) toast(`Missed check-in: ${envelope.alarm.name}, heading to ${envelope.alarm.heading_to}`, "error");
        state.journeyAlarms.set(envelope.alarm.id, envelope.alarm);
      }
      ctx.changed("journeys");
      break;
    case "report":
      if (!state.reports) break;
      if (awaitsTriage(envelope.report)) {
        if (!state.reports.has(envelope.report.id)) toast(`New incident report from ${envelope.report.reporter}`);
        state.reports.set(envelope.report.id, envelope.report);
      } else {
        state.reports.delete(envelope.report.id);
      }
      ctx.changed("reports");
      break;
    case "advisory": {
      if (!state.advisories) break;
      const known = state.advisories.get(envelope.advisory.country);
      if (!known || known.revision <= envelope.advisory.revision) state.advisories.set(envelope.advisory.country, envelope.advisory);
      panels.advisories.advisoryChanged(envelope.advisory);
      ctx.changed("advisories");
      break;
    }
    case "warning": {
      if (!state.warnings) break;
      const known = state.warnings.get(envelope.warning.id);
      if (!known) {
        const info = infoFor(envelope.warning);
        toast(`Outside warning: ${info ? info.headline || info.event : envelope.warning.identifier}`);
      }
      if (!known || known.revision <= envelope.warning.revision) state.warnings.set(envelope.warning.id, envelope.warning);
      ctx.changed("warnings");
      break;
    }
    case "trip":
      if (!state.trips) break;
      if (envelope.trip.status === "pending_clearance") state.trips.set(envelope.trip.id, envelope.trip);
      else state.trips.delete(envelope.trip.id);
      ctx.changed("advisories");
      break;
    default:
      break;
  }
}

/** The headcounts of alerts that ask for one, for the list's cards: each shows its counts from
 *  the start, not from the first check-in's envelope. A resync replays the envelopes that came
 *  meanwhile over them; otherwise (`keepLive`) an envelope that came first is kept. */
async function loadTallies(alerts, { keepLive = false } = {}) {
  await Promise.all(alerts.filter((a) => a.checkin_required && ctx.isActive(a)).map(async (a) => {
    const board = await optional(`/api/v1/alerts/${a.id}/headcount`).catch(() => null);
    if (!board || (keepLive && state.headcounts.has(a.id))) return;
    const counts = { ...board };
    delete counts.staff;
    state.headcounts.set(a.id, counts);
  }));
  ctx.changed("alerts");
}

/** null when the hub has no such endpoint (404) or the caller may not use it (403). */
async function optional(path) {
  try {
    return await call("GET", path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) return null;
    throw e;
  }
}

async function resync() {
  replay = [];
  try {
    const [me, alerts, open, acknowledged, fresh, confirmed, advisories, trips, staff, taxonomy, warnings, feeds,
      journeys, openAlarms, acknowledgedAlarms] = await Promise.all([
      // The account may have changed meanwhile (the hub closes the stream with 4001 when its
      // role or countries change): what the page offers follows it.
      call("GET", "/api/v1/me"),
      call("GET", "/api/v1/alerts?active=true&limit=500"),
      call("GET", "/api/v1/sos?status=open&limit=500"),
      call("GET", "/api/v1/sos?status=acknowledged&limit=500"),
      optional("/api/v1/reports?status=new&limit=500"),
      optional("/api/v1/reports?status=confirmed&limit=500"),
      optional("/api/v1/advisories"),
      optional("/api/v1/trips?status=pending_clearance&limit=500"),
      optional("/api/v1/staff/positions"),
      state.categories ? null : optional("/api/v1/taxonomy/incidents"),
      optional("/api/v1/warnings?limit=500"),
      optional("/api/v1/warning-feeds"),
      optional("/api/v1/journeys?active=true&limit=500"),
      optional("/api/v1/journey-alarms?status=open&limit=500"),
      optional("/api/v1/journey-alarms?status=acknowledged&limit=500"),
    ]);
    if (!OFFICERS.includes(me.role)) {
      replay = null;
      showLogin("Your account's role changed; this console is for officers.");
      return;
    }
    showWho(me);
    const selected = state.selected && state.selected.kind === "alert" && state.alerts.get(state.selected.id);
    state.alerts = new Map(alerts.map((a) => [a.id, a]));
    await loadTallies(alerts);
    if (selected && !state.alerts.has(selected.id)) {
      state.alerts.set(selected.id, await call("GET", `/api/v1/alerts/${selected.id}`).catch(() => selected));
    }
    state.sos = new Map([...open, ...acknowledged].map((s) => [s.id, s]));
    state.journeys = new Map((journeys || []).map((j) => [j.id, j]));
    state.journeyAlarms = new Map([...(openAlarms || []), ...(acknowledgedAlarms || [])].map((a) => [a.id, a]));
    state.reports = fresh && new Map([...fresh, ...(confirmed || []).filter(awaitsTriage)].map((r) => [r.id, r]));
    state.advisories = advisories && new Map(advisories.map((a) => [a.country, a]));
    state.trips = trips && new Map(trips.map((t) => [t.id, t]));
    state.warnings = warnings && new Map(warnings.map((w) => [w.id, w]));
    state.feeds = feeds && new Map(feeds.map((f) => [f.id, f]));
    if (taxonomy) state.categories = new Map(taxonomy.categories.map((c) => [c.code, c.label]));
    state.staff = staff;
    $("legend-staff").hidden = !staff;
    const missed = replay;
    replay = null;
    for (const envelope of missed) apply(envelope);
    panels.alerts.reloadBoard();
    ctx.changed("alerts", "sos", "journeys", "reports", "advisories", "staff", "warnings");
    if (state.link === "live") showStale(null);
  } catch (e) {
    replay = null;
    if (!(e instanceof ApiError && e.status === 401)) {
      toast(`Could not refresh from the hub: ${e.message}`, "error");
      // The stream is up but the snapshot failed: try again shortly.
      setTimeout(() => { if (stream) resync(); }, 3000);
    }
  }
}

/** The feeds' health changes without an envelope (a fetch that fails brings nothing): it is
 *  read again every minute and whenever the panel is opened. */
async function refreshFeeds() {
  const feeds = await optional("/api/v1/warning-feeds").catch(() => null);
  if (!feeds) return;
  state.feeds = new Map(feeds.map((f) => [f.id, f]));
  ctx.changed("warnings");
}

async function refreshStaff() {
  state.staff = await optional("/api/v1/staff/positions").catch(() => state.staff);
  $("legend-staff").hidden = !state.staff;
  ctx.changed("staff");
}

function setLink(value) {
  state.link = value;
  const el = $("link");
  // How many times the stream came up: tests (and a curious officer) can see it reconnected.
  if (value === "live") el.dataset.connections = Number(el.dataset.connections || 0) + 1;
  el.className = `link ${value}`;
  el.textContent = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" }[value] || value;
  // Down: everything on the page is as of the last word from the hub, until a resync.
  if (value === "reconnecting" && !state.staleSince) showStale(stream.lastHeard || Date.now());
}

/** Dims the page and says since when it is out of date (`since`: a time), or lifts it (null). */
function showStale(since) {
  state.staleSince = since;
  document.body.classList.toggle("stale", !!since);
  const el = $("stale");
  el.hidden = !since;
  if (!since) {
    el.replaceChildren();
    return;
  }
  const asOf = new Date(since).toLocaleTimeString("en-GB", { timeZone: "UTC", hour: "2-digit", minute: "2-digit", hour12: false });
  el.replaceChildren(h("strong", {}, `Not live — as of ${asOf} UTC.`),
    " The hub cannot be reached: what this page shows may be out of date. Reconnecting…");
}

// ---- session -------------------------------------------------------------------------------

function showLogin(message) {
  if (stream) stream.close();
  stream = null;
  showStale(null);
  clearInterval(staffTimer);
  if (panels) {
    panels.sos.silence();
    panels.advisories.forget();
  }
  // The next officer on this screen may see less (other countries, no restricted reports):
  // nothing of this session stays on the page.
  Object.assign(state, { me: null, alerts: new Map(), headcounts: new Map(), board: null, sos: new Map(), reports: new Map(),
    journeys: new Map(), journeyAlarms: new Map(),
    advisories: new Map(), trips: new Map(), warnings: new Map(), feeds: new Map(), staff: null, selected: null });
  ctx.changed("alerts", "sos", "journeys", "reports", "advisories", "staff", "warnings");
  session.clear();
  useToken(null);
  $("console").hidden = true;
  $("login").hidden = false;
  say($("login-message"), message || "");
  $("login-username").focus();
}

async function start(saved) {
  useToken(saved.token, () => showLogin("Your session ended; log in again."));
  let me;
  try {
    me = await call("GET", "/api/v1/me");
  } catch (e) {
    showLogin(e instanceof ApiError && e.status === 401 ? "Your session ended; log in again." : `The hub did not answer: ${e.message}`);
    return;
  }
  if (!OFFICERS.includes(me.role) && me.role !== "admin") {
    showLogin("This console is for watch officers, security officers and administrators.");
    return;
  }
  showWho(me);
  $("login").hidden = true;
  $("console").hidden = false;
  // Administrators manage accounts, and see no alerts: the accounts page, no map, no stream.
  const isAdmin = me.role === "admin";
  $("admin").hidden = !isAdmin;
  $("officers").hidden = isAdmin;
  $("link").hidden = isAdmin;
  if (isAdmin) {
    if (!admin) admin = accountsPage(ctx, $("admin"));
    admin.reload();
    return;
  }
  if (!map) {
    map = new MapView($("map"), { onPick: (kind, id) => { if (kind !== "staff" && kind !== "person") ctx.select(kind, id); } });
    map.loadBaseMap("/console/countries.topojson", "/console/country-codes.json")
      .then(() => { if (state.me) showRole(state.me); }, (e) => toast(`Base map: ${e.message}`, "error"));
    $("zoom-in").addEventListener("click", () => { const [w, hh] = map.size(); map.zoomAt(1.5, w / 2, hh / 2); });
    $("zoom-out").addEventListener("click", () => { const [w, hh] = map.size(); map.zoomAt(1 / 1.5, w / 2, hh / 2); });
    $("zoom-world").addEventListener("click", () => map.showHome());
    $("place-search").addEventListener("submit", (event) => event.preventDefault());
    placeSearch($("place-query"), $("place-results"), (place) => map.goTo(place.lon, place.lat));
    panels = {
      alerts: alertsPanel(ctx, $("panel-alerts")),
      composer: composerPanel(ctx, $("panel-compose")),
      sos: sosPanel(ctx, $("panel-sos"), $("sos-banner"), $("sound")),
      journeys: journeysPanel(ctx, $("panel-journeys")),
      reports: reportsPanel(ctx, $("panel-reports")),
      warnings: warningsPanel(ctx, $("panel-warnings")),
      advisories: advisoriesPanel(ctx, $("panel-advisories")),
      history: historyPanel(ctx, $("panel-history")),
    };
    ctx.composer = panels.composer;
    wireTabs();
    $("layer-outside").addEventListener("change", () => ctx.changed("map"));
  }
  stream = new Stream({ onEnvelope: apply, onState: setLink, onGap: resync });
  stream.open();
  staffTimer = setInterval(() => { refreshStaff(); refreshFeeds(); }, 60000);
  ctx.changed("alerts", "sos", "journeys", "reports", "advisories", "compose", "warnings");
}

function showWho(me) {
  state.me = me;
  showRole(me);
  $("who").textContent = `${me.name} · ${me.role.replace("_", " ")}${me.countries.length ? ` · ${me.countries.join(", ")}` : ""}`;
}

function toast(message, kind = "info") {
  const el = $("toast");
  el.replaceChildren(h("div", { class: `toast-item ${kind}` }, message));
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.replaceChildren(), 6000);
}

function tickClocks() {
  const now = new Date();
  const hm = (zone) => now.toLocaleTimeString("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  $("clock-utc").textContent = hm("UTC");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $("clock-local").textContent = hm(zone);
  $("clock-zone").textContent = zone;
}

function boot() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || $("login-form").querySelector("button");
    button.disabled = true;
    say($("login-message"), "");
    try {
      const answer = await login($("login-username").value.trim(), $("login-password").value);
      $("login-password").value = "";
      await start(answer);
    } catch (e) {
      say($("login-message"), e.status === 401 ? "Wrong username or password." : e.message);
    } finally {
      button.disabled = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    await call("POST", "/api/v1/auth/logout").catch(() => null);
    showLogin("Logged out.");
  });
  // The browser knows before the socket does that the network came back.
  window.addEventListener("online", () => { if (stream && state.link !== "live") stream.retry(); });
  const asked = new URLSearchParams(location.search).get("wall");
  setWall(asked !== null ? asked !== "0" : localStorage.getItem(WALL_KEY) === "1");
  $("wall-toggle").addEventListener("click", () => setWall(!wallMode()));
  tickClocks();
  setInterval(tickClocks, 1000);
  // Relative times ("3 min ago") and expiries move on by themselves.
  setInterval(() => ctx.changed("alerts", "sos", "journeys", "reports", "warnings"), 30000);
  const saved = session.load();
  if (saved) start(saved);
  else showLogin();
}

boot();
