// The base map under the console's overlays: MapLibre GL JS (vendored in vendor/, see its
// README) drawing the hub's offline map — land, lakes and rivers, country borders, provinces
// and their names, towns named by population — and, when the hub is configured with one, an
// online tile layer above the offline fill (a tile that fails leaves the offline map showing
// through). Staff, and the selected headcount's people coloured by how they stand, are
// clustered here too: thousands of SVG markers would freeze the page.
//
// The map library draws only: the SVG of map.js lies on top and keeps panning, zooming,
// drawing and picking, and this canvas follows its camera. Where WebGL is missing the SVG's own
// country fills remain the map.

const BASE = "/console/vendor/basemap";
// The SVG's Mercator square is 1000 units across; MapLibre's is 512 px at zoom 0.
const WORLD = 1000;
// How long a pan rests before the map is redrawn where it stopped.
const SETTLE_MS = 120;

const COLORS = {
  sea: "#0a1520",
  land: "#223042",
  water: "#1b4f7a",
  border: "#6d7f95",
  province: "#53657a",
  provinceName: "#9fb0c4",
  town: "#e8eef5",
  halo: "#0b0f14",
  staff: "#7ee0ff",
  staffGroup: "#0e3a4acc",
};

// How a headcount's people stand (alerts.js' `standing`), worst first, and their colours (the
// same as the SVG's `.hc-*` marks in style.css, which draw them where WebGL is missing).
const STANDINGS = [
  ["sos", "#ff4d4f"],
  ["need_help", "#ff9f43"],
  ["overdue", "#c77dff"],
  ["no_response", "#aab4c3"],
  ["not_reached", "#aab4c3"],
  ["safe", "#3ddc84"],
];
// A cluster of people takes the colour of the worst-off person in it.
const CLUSTER_STANDING = ["case",
  ...STANDINGS.slice(0, -1).flatMap(([mark, color]) => [[">", ["get", mark], 0], color]),
  STANDINGS[STANDINGS.length - 1][1]];
const empty = () => ({ type: "FeatureCollection", features: [] });
const points = (items, properties) => ({
  type: "FeatureCollection",
  features: items.map((m) => ({ type: "Feature", properties: properties(m), geometry: { type: "Point", coordinates: [m.lon, m.lat] } })),
});

/** The style: the offline layers, and the staff over them. */
function style() {
  const sources = {
    land: { type: "geojson", data: `${BASE}/land.geojson`, maxzoom: 10, tolerance: 0.5 },
    water: { type: "geojson", data: `${BASE}/water.geojson`, maxzoom: 10, tolerance: 0.5 },
    borders: { type: "geojson", data: `${BASE}/borders.geojson`, maxzoom: 10 },
    towns: { type: "geojson", data: `${BASE}/towns.geojson`, maxzoom: 10 },
    provinces: { type: "geojson", data: `${BASE}/provinces.geojson`, maxzoom: 10 },
    // Staff positions, clustered with their count until street zoom.
    staff: { type: "geojson", data: empty(), cluster: true, clusterRadius: 45, clusterMaxZoom: 13 },
    // The selected headcount's people the same way; each cluster counts each standing.
    people: { type: "geojson", data: empty(), cluster: true, clusterRadius: 45, clusterMaxZoom: 13,
      clusterProperties: Object.fromEntries(STANDINGS.map(([mark]) =>
        [mark, ["+", ["case", ["==", ["get", "standing"], mark], 1, 0]]])) },
  };
  const layers = [
    { id: "sea", type: "background", paint: { "background-color": COLORS.sea } },
    { id: "land", type: "fill", source: "land", paint: { "fill-color": COLORS.land } },
    { id: "water", type: "fill", source: "water", paint: { "fill-color": COLORS.water } },
  ];
  const isPoint = ["==", ["geometry-type"], "Point"];
  layers.push(
    // Provinces from country zoom: their boundaries dashed under the country borders, their
    // names, the largest first, in small capitals under the towns'.
    { id: "provinces", type: "line", source: "provinces", minzoom: 3.5, filter: ["!", isPoint],
      paint: { "line-color": COLORS.province, "line-dasharray": [3, 2],
        "line-width": ["interpolate", ["linear"], ["zoom"], 4, 0.5, 9, 1.2] } },
    { id: "province-names", type: "symbol", source: "provinces", minzoom: 4.5,
      filter: ["all", isPoint, [">=", ["get", "km2"], ["step", ["zoom"], 30000, 6, 8000, 7, 0]]],
      layout: {
        "text-field": ["upcase", ["get", "name"]],
        "text-font": ["sans-serif"],
        "text-size": ["interpolate", ["linear"], ["zoom"], 5, 10, 9, 13],
        "text-letter-spacing": 0.1,
        "text-max-width": 7,
        "symbol-sort-key": ["-", 0, ["get", "km2"]],
      },
      paint: { "text-color": COLORS.provinceName, "text-halo-color": COLORS.halo, "text-halo-width": 1.2 } },
    { id: "borders", type: "line", source: "borders",
      paint: { "line-color": COLORS.border, "line-width": ["interpolate", ["linear"], ["zoom"], 2, 0.6, 8, 1.6] } },
    // Towns: the most populous first, smaller ones as the zoom allows room for them.
    { id: "towns", type: "symbol", source: "towns",
      filter: [">=", ["get", "population"], ["step", ["zoom"], 3000000, 3, 1000000, 4, 300000, 5, 100000, 6, 30000, 7, 10000, 8, 3000, 9, 0]],
      layout: {
        "text-field": ["get", "name"],
        "text-font": ["sans-serif"],
        "text-size": ["interpolate", ["linear"], ["get", "population"], 1000, 11, 100000, 13, 1000000, 15],
        "symbol-sort-key": ["-", 0, ["get", "population"]],
        "text-anchor": "top",
        "text-offset": [0, 0.3],
        "text-max-width": 8,
      },
      paint: { "text-color": COLORS.town, "text-halo-color": COLORS.halo, "text-halo-width": 1.5 } },
    { id: "town-dots", type: "circle", source: "towns",
      filter: [">=", ["get", "population"], ["step", ["zoom"], 3000000, 3, 1000000, 4, 300000, 5, 100000, 6, 30000, 7, 10000, 8, 3000, 9, 0]],
      paint: { "circle-radius": 2.5, "circle-color": COLORS.town, "circle-stroke-color": COLORS.halo, "circle-stroke-width": 1 } },
    { id: "staff-clusters", type: "circle", source: "staff", filter: ["has", "point_count"],
      paint: {
        "circle-color": COLORS.staffGroup, "circle-stroke-color": COLORS.staff, "circle-stroke-width": 1.5,
        "circle-radius": ["step", ["get", "point_count"], 10, 10, 13, 100, 17, 1000, 22],
      } },
    { id: "staff-counts", type: "symbol", source: "staff", filter: ["has", "point_count"],
      layout: { "text-field": ["get", "point_count_abbreviated"], "text-font": ["sans-serif"], "text-size": 12, "text-allow-overlap": true },
      paint: { "text-color": COLORS.town } },
    // A person shown at area level only (location privacy) is a hollow ring: somewhere in it.
    { id: "staff", type: "circle", source: "staff", filter: ["!", ["has", "point_count"]],
      paint: {
        "circle-radius": ["case", ["get", "area"], 7, 3.5], "circle-stroke-color": COLORS.staff,
        "circle-stroke-width": ["case", ["get", "area"], 1.5, 1],
        "circle-color": ["case", ["get", "area"], "rgba(0,0,0,0)",
          ["match", ["get", "source"], "duty_station", COLORS.staffGroup, COLORS.staff]],
      } },
    // The headcount's people over the staff: clusters with their count, ringed in the worst
    // standing among them; at street zoom one dot each (not reached: a hollow ring).
    { id: "people-clusters", type: "circle", source: "people", filter: ["has", "point_count"],
      paint: {
        "circle-color": COLORS.halo, "circle-stroke-color": CLUSTER_STANDING, "circle-stroke-width": 3,
        "circle-radius": ["step", ["get", "point_count"], 11, 10, 14, 100, 18, 1000, 23],
      } },
    { id: "people-counts", type: "symbol", source: "people", filter: ["has", "point_count"],
      layout: { "text-field": ["get", "point_count_abbreviated"], "text-font": ["sans-serif"], "text-size": 12, "text-allow-overlap": true },
      paint: { "text-color": COLORS.town } },
    { id: "people", type: "circle", source: "people", filter: ["!", ["has", "point_count"]],
      paint: {
        "circle-radius": 6,
        "circle-color": ["match", ["get", "standing"], "not_reached", COLORS.halo, ["match", ["get", "standing"], ...STANDINGS.flat(), COLORS.town]],
        "circle-stroke-color": ["match", ["get", "standing"], "not_reached", STANDINGS[4][1], COLORS.halo],
        "circle-stroke-width": ["match", ["get", "standing"], "not_reached", 2, 1],
      } },
  );
  return { version: 8, sources, layers };
}

export class BaseMap {
  /** A map library canvas inside `host` (under the SVG), or null where WebGL is missing. */
  static create(host) {
    const lib = globalThis.maplibregl;
    if (!lib) return null;
    const probe = document.createElement("canvas");
    if (!probe.getContext("webgl2") && !probe.getContext("webgl")) return null;
    return new BaseMap(host, lib);
  }

  constructor(host, lib) {
    lib.setWorkerUrl("/console/vendor/maplibre-gl-csp-worker.js");
    this.element = document.createElement("div");
    this.element.className = "basemap";
    this.element.setAttribute("aria-hidden", "true");
    host.prepend(this.element);
    // The browser tests read the rendered features through it.
    this.element.basemap = this;
    this.tileErrors = 0;
    this.map = new lib.Map({
      container: this.element,
      style: style(),
      interactive: false,
      attributionControl: false,
      minZoom: -2,
      maxZoom: 20,
      renderWorldCopies: true,
      fadeDuration: 0,
    });
    // A tile that cannot be fetched (the online source unreachable, say) is no error of the
    // page: the offline layers stay, and the count tells the officer's status line.
    this.map.on("error", (event) => {
      if (event.sourceId === "online" || event.tile) this.tileErrors++;
      else console.warn("base map:", event.error && event.error.message);
    });
    this.map.once("style.load", () => this.addOnlineTiles());
    // Until its data is in, the SVG's own countries stay the map (opaque over this canvas).
    this.map.once("load", () => host.classList.add("has-basemap"));
  }

  /** The hub's online tile source, if it has one, over the offline fill and under the
   *  borders, names and staff. */
  async addOnlineTiles() {
    const response = await fetch("/console/map.json").catch(() => null);
    const settings = response && response.ok ? await response.json() : {};
    if (!settings.tile_url) return;
    this.map.addSource("online", { type: "raster", tiles: [settings.tile_url], tileSize: 256, maxzoom: 19 });
    this.map.addLayer({ id: "online", type: "raster", source: "online" }, "borders");
  }

  /** Follows the SVG's camera: `view` maps world units to screen pixels as x·k + offset.
   *  A pan at the same zoom slides the drawn canvas (the compositor's work, no redraw) and
   *  redraws once the pan rests (or has slid a whole map's width away): on a software renderer
   *  a redraw per pointer move would freeze the pan. A zoom redraws at once. */
  follow(view, [width, height]) {
    if (width < 10 || height < 10) return;
    clearTimeout(this.settle);
    const drawn = this.drawn;
    if (drawn && drawn.k === view.k) {
      const dx = view.x - drawn.x, dy = view.y - drawn.y;
      if (Math.abs(dx) < width && Math.abs(dy) < height) {
        this.element.style.transform = `translate(${dx}px, ${dy}px)`;
        this.settle = setTimeout(() => this.redraw({ ...view }, [width, height]), SETTLE_MS);
        return;
      }
    }
    this.redraw(view, [width, height]);
  }

  redraw(view, [width, height]) {
    this.drawn = { k: view.k, x: view.x, y: view.y };
    const cx = (width / 2 - view.x) / view.k;
    const cy = (height / 2 - view.y) / view.k;
    const lon = (cx / WORLD) * 360 - 180;
    const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * cy) / WORLD))) * 180) / Math.PI;
    const zoom = Math.log2((WORLD * view.k) / 512);
    this.map.jumpTo({ center: [lon, lat], zoom });
    // Drawn now, so that the slid canvas comes back in the same frame as the new view.
    if (this.element.style.transform) {
      this.map.redraw();
      this.element.style.transform = "";
    }
  }

  /** Replaces the staff positions: [{id, lon, lat, cls}] with `cls` the position's source. */
  setStaff(staff) {
    const key = staff.map((m) => `${m.id}@${m.lon},${m.lat},${m.cls}`).join(";");
    if (key === this.staffKey) return;
    this.staffKey = key;
    this.map.getSource("staff").setData(points(staff, (m) =>
      ({ id: m.id, source: m.cls.split(" ")[0], area: m.cls.split(" ").includes("area"), title: m.title })));
  }

  /** Replaces the selected headcount's people: [{id, lon, lat, standing, title}]. */
  setPeople(people) {
    const key = people.map((m) => `${m.id}@${m.lon},${m.lat},${m.standing}`).join(";");
    if (key === this.peopleKey) return;
    this.peopleKey = key;
    this.map.getSource("people").setData(points(people, (m) => ({ id: m.id, standing: m.standing, title: m.title })));
  }

  resize() {
    this.map.resize();
  }
}
