// The map: Natural Earth country borders (TopoJSON served by the hub) drawn as SVG in Web
// Mercator, pan and zoom by pointer, wheel and keyboard, overlay layers (outside warnings under
// the alert areas, SOS calls and their trails, incident reports, staff), and drawing a circle or polygon for the composer,
// by pointer or by keyboard. A drag always pans, in drawing modes too: only clicks (or Space, at
// the cross in the middle of the map) place a circle's centre and edge or a polygon's corners.
//
// Under the SVG, a MapLibre canvas (basemap.js) draws the offline base map and follows the SVG's
// camera; the SVG's own country fills turn transparent once it has loaded, and remain the map
// until then and where WebGL is missing.
//
// Geometry lives in "world" units (the whole Mercator square is WORLD across); the view is a
// scale and an offset from world to screen. Areas and borders sit in a transformed group with
// non-scaling strokes; markers are placed in screen units so they keep their size when zooming.

import { BaseMap } from "./basemap.js";

const WORLD = 1000;
// The closest zoom: street level (the map library's zoom 15, 2.4 m a pixel at the equator),
// where the clustered staff and people come apart into single dots.
const MAX_SCALE = 16000;
const MAX_LAT = 85;
const EARTH_RADIUS_M = 6371008.8;
const SVG = "http://www.w3.org/2000/svg";
// Antarctica fills the bottom of a Mercator map and no alert is ever sent there.
const LEFT_OUT = new Set(["010"]);
export const WHOLE_WORLD = [-130, -45, 160, 65];

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, v);
  return el;
}

function project(lon, lat) {
  const phi = (Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)) * Math.PI) / 180;
  return [((lon + 180) / 360) * WORLD, ((1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2) * WORLD];
}

function unproject(x, y) {
  const lon = (x / WORLD) * 360 - 180;
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / WORLD))) * 180) / Math.PI;
  return [lon, lat];
}

/** Great-circle distance in metres. */
function distanceM([lon1, lat1], [lon2, lat2]) {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2
    + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lon2 - lon1) * r) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** A geodesic circle as a closed ring of [lon, lat]. */
export function circleRing([lon, lat], radiusM, steps = 72) {
  const r = Math.PI / 180;
  const delta = radiusM / EARTH_RADIUS_M;
  const phi1 = lat * r;
  const ring = [];
  for (let i = 0; i <= steps; i++) {
    const theta = (2 * Math.PI * i) / steps;
    const phi2 = Math.asin(Math.sin(phi1) * Math.cos(delta) + Math.cos(phi1) * Math.sin(delta) * Math.cos(theta));
    const lambda2 = lon * r + Math.atan2(Math.sin(theta) * Math.sin(delta) * Math.cos(phi1),
      Math.cos(delta) - Math.sin(phi1) * Math.sin(phi2));
    ring.push([lambda2 / r, phi2 / r]);
  }
  return ring;
}

/** The rings (outer and holes) of an alert area, in [lon, lat]. */
export function areaRings(area) {
  const g = area.geometry;
  if (g.type === "Point") return [circleRing(g.coordinates, area.radius_m || 0)];
  if (g.type === "Polygon") return g.coordinates;
  if (g.type === "MultiPolygon") return g.coordinates.flat();
  return [];
}

/** [west, south, east, north] of some rings. */
export function bounds(rings) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const ring of rings) for (const [lon, lat] of ring) {
    w = Math.min(w, lon); e = Math.max(e, lon); s = Math.min(s, lat); n = Math.max(n, lat);
  }
  return [w, s, e, n];
}

/** An SVG path of a ring; points closer than `minStep` world units to the last are dropped
 *  (the borders have far more detail than a world view shows). */
function ringPath(ring, minStep = 0, digits = 4) {
  let d = "";
  let last = null;
  for (const [lon, lat] of ring) {
    const [x, y] = project(lon, lat);
    if (last && Math.abs(x - last[0]) < minStep && Math.abs(y - last[1]) < minStep) continue;
    d += `${d ? "L" : "M"}${x.toFixed(digits)},${y.toFixed(digits)}`;
    last = [x, y];
  }
  return d + "Z";
}

/** Makes a ring that jumps across the antimeridian continuous; returns it and, if it spills
 *  past ±180°, its copy on the other side of the map. */
function unwrapped(ring) {
  const out = [];
  let shift = 0;
  let spills = 0;
  for (let i = 0; i < ring.length; i++) {
    if (i > 0) {
      const jump = ring[i][0] - ring[i - 1][0];
      if (jump > 180) shift -= 360;
      else if (jump < -180) shift += 360;
    }
    const lon = ring[i][0] + shift;
    if (lon < -180) spills = 360;
    if (lon > 180) spills = -360;
    out.push([lon, ring[i][1]]);
  }
  return spills ? [out, out.map(([lon, lat]) => [lon + spills, lat])] : [out];
}

/** Decodes a TopoJSON topology's `countries` object into [{id, name, d}] SVG paths. */
function decodeCountries(topology) {
  const [sx, sy] = topology.transform.scale;
  const [tx, ty] = topology.transform.translate;
  const arcs = topology.arcs.map((arc) => {
    let x = 0, y = 0;
    return arc.map(([dx, dy]) => {
      x += dx;
      y += dy;
      return [x * sx + tx, y * sy + ty];
    });
  });
  const ring = (indexes) => {
    const points = [];
    for (const i of indexes) {
      const arc = i < 0 ? arcs[~i].slice().reverse() : arcs[i];
      points.push(...(points.length ? arc.slice(1) : arc));
    }
    return points;
  };
  const countries = [];
  for (const geometry of topology.objects.countries.geometries) {
    if (LEFT_OUT.has(geometry.id)) continue;
    const polygons = geometry.type === "Polygon" ? [geometry.arcs] : geometry.type === "MultiPolygon" ? geometry.arcs : [];
    const d = polygons.flatMap((polygon) => polygon.flatMap((r) => unwrapped(ring(r)).map((part) => ringPath(part, 0.02, 3)))).join("");
    const rings = polygons.flatMap((polygon) => polygon.map((r) => ring(r)));
    countries.push({ id: geometry.id, name: (geometry.properties || {}).name || "", d, bounds: bounds(rings) });
  }
  return countries;
}

/** The paths of some areas ({id, rings or path data d, severity, title, drill, selected}), each
 *  picked as `kind`. */
function areaPaths(areas, cls, kind) {
  const fragment = document.createDocumentFragment();
  for (const a of areas) {
    const path = svg("path", {
      d: a.d || a.rings.flatMap((r) => unwrapped(r)).map((r) => ringPath(r)).join(""),
      class: `${cls} sev-${a.severity}${a.drill ? " drill" : ""}${a.selected ? " selected" : ""}`,
      "fill-rule": "evenodd", "vector-effect": "non-scaling-stroke",
      "data-pick": kind, "data-id": a.id,
    });
    const title = svg("title");
    title.textContent = a.title || "";
    path.append(title);
    fragment.append(path);
  }
  return fragment;
}

export class MapView {
  constructor(host, { onPick = () => {}, onView = () => {} } = {}) {
    this.host = host;
    this.basemap = BaseMap.create(host);
    this.onPick = onPick;
    this.onView = onView;
    this.view = { k: 1, x: 0, y: 0 };
    this.markers = [];
    this.drawing = null;
    // [west, south, east, north] that "⌂" and the 0 key return to.
    this.home = WHOLE_WORLD;
    this.countryInfo = new Map();
    this.svg = svg("svg", { class: "map", tabindex: "0", role: "application",
      "aria-label": "Map. Arrow keys pan, plus and minus zoom, 0 goes home. While drawing, Space places a point at the cross." });
    const defs = svg("defs");
    const clip = svg("clipPath", { id: "world-clip" });
    clip.append(svg("rect", { x: 0, y: 0, width: WORLD, height: WORLD }));
    defs.append(clip);
    this.world = svg("g", { class: "world" });
    const clipped = svg("g", { "clip-path": "url(#world-clip)" });
    clipped.append(svg("rect", { class: "sea", x: 0, y: 0, width: WORLD, height: WORLD }));
    this.countries = svg("g", { class: "countries" });
    clipped.append(this.countries);
    // Outside warnings lie under the hub's own alerts: context, not what staff were sent.
    this.outside = svg("g", { class: "outside" });
    this.areas = svg("g", { class: "areas" });
    this.lines = svg("g", { class: "lines" });
    this.draft = svg("g", { class: "draft" });
    this.world.append(clipped, this.outside, this.areas, this.lines, this.draft);
    this.overlay = svg("g", { class: "overlay" });
    // Where Space places a point while drawing: the middle of the map.
    this.cross = svg("g", { class: "cross", "aria-hidden": "true" });
    this.cross.append(svg("path", { d: "M-14,0H-4M4,0H14M0,-14V-4M0,4V14" }), svg("circle", { r: 2 }));
    this.svg.append(defs, this.world, this.overlay, this.cross);
    host.append(this.svg);
    this.listen();
    new ResizeObserver(() => this.resized()).observe(host);
  }

  /** Centres a place at city zoom (about 30 km across). */
  goTo(lon, lat) {
    this.fit([lon - 0.15, lat - 0.15, lon + 0.15, lat + 0.15], 0);
  }

  /** Draws the countries of a TopoJSON base map; `codesUrl` names each shape's ISO code, so
   *  that countries can be shaded by code. */
  async loadBaseMap(url, codesUrl) {
    const fetchJson = async (u) => {
      const response = await fetch(u);
      if (!response.ok) throw new Error(`base map: HTTP ${response.status}`);
      return response.json();
    };
    const [topology, codes] = await Promise.all([fetchJson(url), fetchJson(codesUrl)]);
    const fragment = document.createDocumentFragment();
    for (const c of decodeCountries(topology)) {
      const iso = codes[c.id || c.name];
      if (iso) this.countryInfo.set(iso, { name: c.name, bounds: c.bounds });
      const path = svg("path", { d: c.d, "data-country": c.id, "data-iso": codes[c.id || c.name], "vector-effect": "non-scaling-stroke" });
      const title = svg("title");
      title.textContent = c.name;
      path.append(title);
      fragment.append(path);
    }
    this.countries.replaceChildren(fragment);
    this.shadeCountries(this.shades || new Map());
  }

  /** A country's name and [west, south, east, north], by ISO code, once the base map is in. */
  country(iso) {
    return this.countryInfo.get(iso) || null;
  }

  /** A country's outline (by ISO code) as path data, once the base map is in; "" before. */
  countryOutline(iso) {
    return [...this.countries.children].filter((p) => p.dataset.iso === iso).map((p) => p.getAttribute("d")).join("");
  }

  /** Frames the home view (the whole world unless `home` was narrowed). */
  showHome() {
    this.fit(this.home, 0);
  }

  /** Shades countries by level (ISO code → 1…5, as advisories' risk levels); others are plain. */
  shadeCountries(levels) {
    this.shades = levels;
    for (const path of this.countries.children) {
      const level = levels.get(path.dataset.iso);
      if (level) path.setAttribute("class", `risk-${level}`);
      else path.removeAttribute("class");
    }
  }

  size() {
    const r = this.host.getBoundingClientRect();
    return [r.width, r.height];
  }

  resized() {
    const [w, h] = this.size();
    if (this.basemap) this.basemap.resize();
    // A hidden host measures 0×0 (the console is hidden until login): fit once it has a size.
    if (w < 10 || h < 10) return;
    if (!this.sized) {
      this.sized = true;
      this.showHome();
      return;
    }
    const [pw, ph] = this.lastSize || [w, h];
    this.view.x += (w - pw) / 2;
    this.view.y += (h - ph) / 2;
    this.apply();
  }

  apply() {
    this.lastSize = this.size();
    const { k, x, y } = this.view;
    this.world.setAttribute("transform", `translate(${x} ${y}) scale(${k})`);
    const [w, h] = this.lastSize;
    this.cross.setAttribute("transform", `translate(${(w / 2).toFixed(1)} ${(h / 2).toFixed(1)})`);
    if (this.basemap) this.basemap.follow(this.view, this.lastSize);
    this.placeMarkers();
    this.onView(this.view);
  }

  toScreen(lon, lat) {
    const [wx, wy] = project(lon, lat);
    return [wx * this.view.k + this.view.x, wy * this.view.k + this.view.y];
  }

  toLonLat(sx, sy) {
    return unproject((sx - this.view.x) / this.view.k, (sy - this.view.y) / this.view.k);
  }

  zoomAt(factor, sx, sy) {
    const k = Math.max(0.5, Math.min(MAX_SCALE, this.view.k * factor));
    const f = k / this.view.k;
    this.view = { k, x: sx - (sx - this.view.x) * f, y: sy - (sy - this.view.y) * f };
    this.apply();
  }

  /** Pans by keys: while drawing, the shape follows the cross as it would the pointer. */
  pan(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this.apply();
    const d = this.drawing;
    if (!d) return;
    const [w, h] = this.size();
    const cross = this.toLonLat(w / 2, h / 2);
    if (d.mode === "circle" && d.center) {
      d.radius = distanceM(d.center, cross);
      this.renderDraft();
    }
    if (d.mode === "polygon") this.renderDraft(cross);
  }

  /** Shows [west, south, east, north] with some margin; `minSpanDeg` keeps a point from
   *  zooming in to street level. */
  fit([w, s, e, n], minSpanDeg = 2) {
    const pad = Math.max(minSpanDeg / 2, 0);
    const [x0, y0] = project(Math.min(w, (w + e) / 2 - pad), Math.max(n, (s + n) / 2 + pad));
    const [x1, y1] = project(Math.max(e, (w + e) / 2 + pad), Math.min(s, (s + n) / 2 - pad));
    const [width, height] = this.size();
    const k = Math.min(MAX_SCALE, 0.85 * Math.min(width / Math.max(x1 - x0, 1e-6), height / Math.max(y1 - y0, 1e-6)));
    this.view = { k, x: width / 2 - ((x0 + x1) / 2) * k, y: height / 2 - ((y0 + y1) / 2) * k };
    this.apply();
  }

  /** Replaces the alert areas: [{id, rings, severity, selected, kind}] with rings in [lon, lat]. */
  setAreas(areas) {
    this.areas.replaceChildren(areaPaths(areas, "area", "alert"));
  }

  /** Replaces the outside warnings' areas (same shape as `setAreas`'), drawn dashed under the
   *  alerts. */
  setOutside(areas) {
    this.outside.replaceChildren(areaPaths(areas, "outside-area", "warning"));
  }

  /** Replaces the lines (SOS trails): [{points: [[lon, lat]…], cls}]. */
  setLines(lines) {
    this.lines.replaceChildren(...lines.filter((l) => l.points.length > 1).map((l) => svg("path", {
      d: l.points.map(([lon, lat], i) => {
        const [x, y] = project(lon, lat);
        return `${i ? "L" : "M"}${x.toFixed(4)},${y.toFixed(4)}`;
      }).join(""),
      class: `line ${l.cls || ""}`, "vector-effect": "non-scaling-stroke",
    })));
  }

  /** Replaces the markers: [{id, kind, lon, lat, cls, title}]; `kind` is what a click picks.
   *  An alert has one too, at its area's centre, so that a town-sized area still shows when
   *  the whole world is in view. */
  setMarkers(markers) {
    // Staff, and a headcount's people, can be thousands: the map library clusters them,
    // where it draws.
    if (this.basemap) {
      this.basemap.setStaff(markers.filter((m) => m.kind === "staff"));
      this.basemap.setPeople(markers.filter((m) => m.kind === "person"));
      this.markers = markers.filter((m) => m.kind !== "staff" && m.kind !== "person");
    } else {
      this.markers = markers;
    }
    this.placeMarkers();
  }

  placeMarkers() {
    const fragment = document.createDocumentFragment();
    const [width, height] = this.lastSize || this.size();
    // Staff first, then alerts, reports, the selected alert's people, SOS calls: the most
    // urgent is drawn last, on top.
    const order = { staff: 0, warning: 1, alert: 1, report: 2, person: 3, sos: 4 };
    const sorted = [...this.markers].sort((a, b) => (order[a.kind] ?? 1) - (order[b.kind] ?? 1));
    for (const m of sorted) {
      const [x, y] = this.toScreen(m.lon, m.lat);
      if (x < -20 || y < -20 || x > width + 20 || y > height + 20) continue;
      const g = svg("g", { class: `marker ${m.kind} ${m.cls || ""}`, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`,
        "data-pick": m.kind, "data-id": m.id });
      if (m.kind === "sos") {
        g.append(svg("circle", { class: "halo", r: 14 }), svg("circle", { r: 7 }));
      } else if (m.kind === "alert") {
        g.append(svg("circle", { r: 8 }));
      } else if (m.kind === "person") {
        g.append(svg("circle", { r: 6 }));
      } else if (m.kind === "warning") {
        g.append(svg("path", { d: "M0,-8L7,5H-7Z" }));
      } else if (m.kind === "report") {
        g.append(svg("rect", { x: -5, y: -5, width: 10, height: 10, transform: "rotate(45)" }));
      } else {
        g.append(svg("circle", { r: 3.5 }));
      }
      const title = svg("title");
      title.textContent = m.title || "";
      g.append(title);
      fragment.append(g);
    }
    this.overlay.replaceChildren(fragment);
  }

  /** Starts drawing a "circle" (click the centre, then the edge) or a "polygon" (click each
   *  corner; Enter, a double click or a click on the first corner closes it). Space places a
   *  point at the cross in the middle of the map, so arrows and Space draw either shape.
   *  `onDone` gets {type: "circle", center, radius_m} or {type: "polygon", ring}, or null when
   *  the officer gives up (Esc). */
  startDrawing(mode, onDone) {
    this.drawing = { mode, onDone, points: [], center: null, radius: 0 };
    this.svg.classList.add("drawing");
    this.renderDraft();
    this.svg.focus();
  }

  stopDrawing() {
    this.drawing = null;
    this.svg.classList.remove("drawing");
    this.draft.replaceChildren();
  }

  /** Shows a drawn (not yet sent) area. */
  showDraft(rings) {
    this.draft.replaceChildren(svg("path", {
      d: rings.flatMap((r) => unwrapped(r)).map((r) => ringPath(r)).join(""), class: "draft-area", "vector-effect": "non-scaling-stroke",
    }));
  }

  renderDraft(cursor) {
    const d = this.drawing;
    if (!d) return;
    const parts = [];
    if (d.mode === "circle" && d.center) {
      if (d.radius > 0) {
        parts.push(svg("path", { d: ringPath(circleRing(d.center, d.radius)), class: "draft-area",
          "vector-effect": "non-scaling-stroke" }));
      }
      const [x, y] = project(...d.center);
      parts.push(svg("circle", { cx: x, cy: y, r: 4 / this.view.k, class: "draft-vertex" }));
    }
    if (d.mode === "polygon" && d.points.length) {
      const pts = cursor ? [...d.points, cursor] : d.points;
      const path = pts.map(([lon, lat], i) => {
        const [x, y] = project(lon, lat);
        return `${i ? "L" : "M"}${x},${y}`;
      }).join("");
      parts.push(svg("path", { d: path, class: "draft-line", "vector-effect": "non-scaling-stroke" }));
      for (const [lon, lat] of d.points) {
        const [x, y] = project(lon, lat);
        parts.push(svg("circle", { cx: x, cy: y, r: 4 / this.view.k, class: "draft-vertex" }));
      }
    }
    this.draft.replaceChildren(...parts);
  }

  /** Places a point of the shape being drawn, at screen point (sx, sy). */
  place(sx, sy) {
    const d = this.drawing;
    const at = this.toLonLat(sx, sy);
    if (d.mode === "circle") {
      if (!d.center) {
        d.center = at;
        d.radius = 0;
        this.renderDraft();
        return;
      }
      const radius = distanceM(d.center, at);
      // A second click on the centre itself is no edge: keep waiting for one.
      if (radius < 1) return;
      const done = d.onDone;
      this.stopDrawing();
      done({ type: "circle", center: d.center, radius_m: Math.round(radius) });
      return;
    }
    const first = d.points[0];
    if (first && d.points.length >= 3) {
      const [fx, fy] = this.toScreen(first[0], first[1]);
      if (Math.hypot(fx - sx, fy - sy) < 8) {
        this.finishPolygon();
        return;
      }
    }
    d.points.push(at);
    this.renderDraft();
  }

  finishPolygon() {
    const d = this.drawing;
    if (!d || d.mode !== "polygon" || d.points.length < 3) return;
    // RFC 7946: an outer ring runs counterclockwise; the hub reads a clockwise one as the
    // rest of the globe. Corners are clicked in whatever order the officer likes.
    let twiceArea = 0;
    d.points.forEach(([x1, y1], i) => {
      const [x2, y2] = d.points[(i + 1) % d.points.length];
      twiceArea += x1 * y2 - x2 * y1;
    });
    const corners = twiceArea < 0 ? [...d.points].reverse() : d.points;
    const ring = [...corners, corners[0]];
    const done = d.onDone;
    this.stopDrawing();
    done({ type: "polygon", ring });
  }

  local(event) {
    const r = this.svg.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  }

  listen() {
    let press = null;
    this.svg.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      const [sx, sy] = this.local(event);
      press = { sx, sy, x: this.view.x, y: this.view.y, moved: false, target: event.target };
    });
    this.svg.addEventListener("pointermove", (event) => {
      const [sx, sy] = this.local(event);
      if (press && (press.moved || Math.hypot(sx - press.sx, sy - press.sy) > 4)) {
        if (!press.moved) this.svg.setPointerCapture(event.pointerId);
        press.moved = true;
        this.view.x = press.x + sx - press.sx;
        this.view.y = press.y + sy - press.sy;
        this.apply();
        return;
      }
      const d = this.drawing;
      if (!d || press) return;
      // The shape follows the pointer until the next click fixes it.
      if (d.mode === "circle" && d.center) {
        d.radius = distanceM(d.center, this.toLonLat(sx, sy));
        this.renderDraft();
      }
      if (d.mode === "polygon") this.renderDraft(this.toLonLat(sx, sy));
    });
    this.svg.addEventListener("pointerup", (event) => {
      const p = press;
      press = null;
      if (!p || p.moved) return;
      const [sx, sy] = this.local(event);
      if (this.drawing) {
        this.place(sx, sy);
        return;
      }
      const picked = p.target.closest && p.target.closest("[data-pick]");
      if (picked) this.onPick(picked.dataset.pick, picked.dataset.id);
    });
    this.svg.addEventListener("dblclick", (event) => {
      event.preventDefault();
      if (this.drawing && this.drawing.mode === "polygon") {
        // The double click's two clicks each added the same corner; keep one.
        this.drawing.points.pop();
        this.finishPolygon();
      } else {
        const [sx, sy] = this.local(event);
        this.zoomAt(2, sx, sy);
      }
    });
    this.svg.addEventListener("wheel", (event) => {
      event.preventDefault();
      const [sx, sy] = this.local(event);
      this.zoomAt(Math.exp(-event.deltaY * 0.002), sx, sy);
    }, { passive: false });
    this.svg.addEventListener("keydown", (event) => {
      const [w, h] = this.size();
      const step = 60;
      const keys = {
        ArrowLeft: () => this.pan(step, 0), ArrowRight: () => this.pan(-step, 0),
        ArrowUp: () => this.pan(0, step), ArrowDown: () => this.pan(0, -step),
        "+": () => this.zoomAt(1.5, w / 2, h / 2), "=": () => this.zoomAt(1.5, w / 2, h / 2),
        "-": () => this.zoomAt(1 / 1.5, w / 2, h / 2), 0: () => this.showHome(),
        " ": () => { if (this.drawing) this.place(w / 2, h / 2); },
        Enter: () => this.finishPolygon(),
        Backspace: () => { if (this.drawing) { this.drawing.points.pop(); this.renderDraft(); } },
        Escape: () => { if (this.drawing) { const done = this.drawing.onDone; this.stopDrawing(); done(null); } },
      };
      const action = keys[event.key];
      if (action) {
        event.preventDefault();
        action();
      }
    });
  }
}
