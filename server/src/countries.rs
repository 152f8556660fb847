//! Which country a point or an alert area lies in, from Natural Earth's 1:50m admin-0
//! boundaries shipped in `data/countries-50m.json` (see `data/README.md`).
//!
//! The hub uses this to hold a security officer to the countries on its account and to tag
//! alerts with the countries they reach. Countries are ISO 3166-1 alpha-2 codes, plus `XK` for
//! Kosovo. Natural Earth draws a few places without an ISO id; they are mapped as follows:
//! Kosovo → `XK`; Somaliland → `SO` and N. Cyprus → `CY` (the internationally recognised
//! state); Siachen Glacier → `IN` (the side that administers it: Natural Earth draws the rest of
//! Kashmir along the line of control too); Australia's Indian Ocean Territories → `CC` or `CX`,
//! island by island. Every feature gets a code. Overseas parts that Natural Earth keeps inside
//! their state (French Guiana, Réunion, Svalbard, Bonaire, …) answer with that state's code.
//!
//! The data is drawn for d3's spherical geometry, while this module tests shapes on a flat
//! lon/lat plane: rings that cross the antimeridian (Russia, Fiji) are made continuous and kept
//! twice, 360° apart, and Antarctica's coast, which runs once round the globe, is closed along
//! the South Pole. Alert circles get the same treatment.

use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::PI;
use std::sync::OnceLock;

use geo::{
    coord, BoundingRect, Coord, Destination, Geodesic, Intersects, LineString, MonotoneChainPolygon, Point, Polygon,
    Rect, Translate,
};
use scaan_schemas::{Area, Geometry, LonLat};
use serde::Deserialize;

static TOPOJSON: &[u8] = include_bytes!("../data/countries-50m.json");

/// The embedded TopoJSON, byte for byte, for clients that draw their own base map.
pub fn topojson() -> &'static [u8] {
    TOPOJSON
}

/// The alpha-2 code of each feature of the embedded TopoJSON, as a JSON object keyed by the
/// feature's id (its name when it has none), for clients that draw the TopoJSON and colour
/// countries by code. The one feature that spans two codes (Australia's Indian Ocean
/// Territories) is left out.
pub fn feature_codes_json() -> &'static [u8] {
    static JSON: OnceLock<Vec<u8>> = OnceLock::new();
    JSON.get_or_init(|| {
        let codes: BTreeMap<String, &str> = embedded_topology()
            .objects
            .countries
            .geometries
            .into_iter()
            .filter_map(|feature| {
                let code = match feature.id.as_deref() {
                    Some(id) => numeric_alpha2(id)?,
                    None => unnumbered_alpha2(&feature.properties.name)?,
                };
                Some((feature.id.unwrap_or(feature.properties.name), code))
            })
            .collect();
        serde_json::to_vec(&codes).expect("a map of strings serialises")
    })
}

/// Country boundaries, decoded once from the shipped TopoJSON.
pub struct CountryAtlas {
    /// One entry per polygon rather than per country, so that a query skips by bounding box
    /// the far-flung islands of a country as cheaply as other countries.
    parts: Vec<Part>,
}

struct Part {
    code: &'static str,
    bbox: Rect,
    shape: Polygon,
}

/// Vertices of the polygon standing in for an alert circle.
const CIRCLE_VERTICES: u32 = 64;

impl CountryAtlas {
    /// The atlas compiled into the binary, decoded at first use.
    pub fn embedded() -> &'static CountryAtlas {
        static ATLAS: OnceLock<CountryAtlas> = OnceLock::new();
        ATLAS.get_or_init(|| CountryAtlas::decode(embedded_topology()))
    }

    /// ISO 3166-1 alpha-2 code of the country containing this point, if any (None at sea).
    /// A point exactly on a border gets one of the countries sharing it.
    pub fn country_at(&self, lon: f64, lat: f64) -> Option<&str> {
        let here = coord! { x: lon, y: lat };
        self.parts
            .iter()
            .find(|part| part.bbox.intersects(&here) && part.shape.intersects(&here))
            .map(|part| part.code)
    }

    /// Every country an alert area reaches (touches or contains), sorted, deduplicated.
    ///
    /// A circle reaches a country within `radius_m` of its centre, measured on the ellipsoid; one
    /// without a positive, finite radius or a real centre is taken as its centre. Polygons are
    /// taken as drawn.
    pub fn countries_reached(&self, area: &Area) -> Vec<String> {
        let shapes = match (&area.geometry, area.radius_m) {
            (Geometry::Point { coordinates }, Some(radius_m))
                if radius_m.is_finite() && radius_m > 0.0 && (-90.0..=90.0).contains(&coordinates.lat()) =>
            {
                circle(*coordinates, radius_m)
            }
            (Geometry::Point { coordinates }, _) => {
                return self
                    .country_at(coordinates.lon(), coordinates.lat())
                    .map(String::from)
                    .into_iter()
                    .collect();
            }
            _ => area.polygons().map(|m| m.0).unwrap_or_default(),
        };
        let mut reached = BTreeSet::new();
        for shape in &shapes {
            let Some(bbox) = shape.bounding_rect() else {
                continue;
            };
            // Monotone chains find crossing edges without testing every pair of edges: a
            // detailed alert polygon against a large country is otherwise a matter of seconds.
            let chains = MonotoneChainPolygon::from(shape);
            for part in &self.parts {
                if !reached.contains(part.code)
                    && part.bbox.intersects(&bbox)
                    && MonotoneChainPolygon::from(&part.shape).intersects(&chains)
                {
                    reached.insert(part.code);
                }
            }
        }
        reached.into_iter().map(String::from).collect()
    }

    fn decode(topology: Topology) -> CountryAtlas {
        let parts = coded_polygons(topology)
            .filter_map(|(code, polygon)| Some((code?, polygon)))
            .flat_map(|(code, polygon)| across_antimeridian(polygon).into_iter().map(move |shape| (code, shape)))
            .filter_map(|(code, shape)| {
                Some(Part {
                    code,
                    bbox: shape.bounding_rect()?,
                    shape,
                })
            })
            .collect();
        CountryAtlas { parts }
    }
}

fn embedded_topology() -> Topology {
    serde_json::from_slice(TOPOJSON).expect("the embedded countries-50m.json is valid TopoJSON")
}

/// Every polygon of the topology's countries on the flat plane, with its country code if it has
/// one.
fn coded_polygons(topology: Topology) -> impl Iterator<Item = (Option<&'static str>, Polygon)> {
    let [scale_x, scale_y] = topology.transform.scale;
    let [shift_x, shift_y] = topology.transform.translate;
    // Arcs are quantized and delta-encoded: each position is an offset from the previous one.
    let arcs: Vec<Vec<Coord>> = topology
        .arcs
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0, 0);
            arc.iter()
                .map(|&[dx, dy]| {
                    x += dx;
                    y += dy;
                    Coord {
                        x: f64::from(x) * scale_x + shift_x,
                        y: f64::from(y) * scale_y + shift_y,
                    }
                })
                .collect()
        })
        .collect();
    topology
        .objects
        .countries
        .geometries
        .into_iter()
        .flat_map(move |feature| {
            let id = feature.id.as_deref();
            let name = &feature.properties.name;
            feature
                .shape
                .polygons()
                .iter()
                .filter_map(|rings| {
                    let mut rings = rings.iter().filter_map(|ring| flat_ring(&arcs, ring));
                    Some(Polygon::new(rings.next()?, rings.collect()))
                })
                .map(|polygon| {
                    let code = polygon.bounding_rect().and_then(|bbox| alpha2(id, name, bbox));
                    (code, polygon)
                })
                .collect::<Vec<_>>()
        })
}

/// Joins arcs into one ring, `~i` (a negative index) being arc `i` walked backwards. `None` for
/// the hairline ring at 89.999° S through which d3 knows that Antarctica covers the pole: on the
/// flat plane it encloses nothing.
fn flat_ring(arcs: &[Vec<Coord>], indexes: &[i32]) -> Option<LineString> {
    let mut ring: Vec<Coord> = Vec::new();
    for &index in indexes {
        let arc = &arcs[usize::try_from(if index < 0 { !index } else { index }).expect("arc indexes fit in usize")];
        // Each arc starts where the previous one ended: keep that point once.
        let skip = usize::from(!ring.is_empty());
        if index < 0 {
            extend_unwrapped(&mut ring, arc.iter().rev().skip(skip).copied());
        } else {
            extend_unwrapped(&mut ring, arc.iter().skip(skip).copied());
        }
    }
    let ring = LineString::new(ring);
    if ring.bounding_rect()?.height() == 0.0 {
        return None;
    }
    Some(close_over_pole(ring.0).into())
}

/// Appends points, each moved by whole turns of longitude next to the one before, so that a ring
/// crossing the antimeridian does not jump across the plane.
fn extend_unwrapped(ring: &mut Vec<Coord>, points: impl IntoIterator<Item = Coord>) {
    for point in points {
        let turns = ring
            .last()
            .map_or(0.0, |previous| ((previous.x - point.x) / 360.0).round());
        ring.push(coord! { x: point.x + 360.0 * turns, y: point.y });
    }
}

/// A closed, unwrapped ring that ends a full turn from where it started runs round a pole and
/// encloses it: close it along that pole.
fn close_over_pole(mut ring: Vec<Coord>) -> Vec<Coord> {
    if let (Some(&first), Some(&last)) = (ring.first(), ring.last()) {
        if (last.x - first.x).abs() > 180.0 {
            let pole = 90f64.copysign(first.y);
            ring.extend([coord! { x: last.x, y: pole }, coord! { x: first.x, y: pole }]);
        }
    }
    ring
}

/// A polygon reaching past ±180° of longitude, and a copy a turn away that reaches into
/// [-180, 180] from the other side, so that both sides are found by plain lon/lat tests.
fn across_antimeridian(polygon: Polygon) -> Vec<Polygon> {
    let Some(bbox) = polygon.bounding_rect() else {
        return vec![polygon];
    };
    let mut copies = Vec::with_capacity(2);
    if bbox.max().x > 180.0 {
        copies.push(polygon.translate(-360.0, 0.0));
    }
    if bbox.min().x < -180.0 {
        copies.push(polygon.translate(360.0, 0.0));
    }
    copies.push(polygon);
    copies
}

/// The alpha-2 code of one polygon of a Natural Earth feature.
fn alpha2(id: Option<&str>, name: &str, bbox: Rect) -> Option<&'static str> {
    match id {
        Some(id) => numeric_alpha2(id),
        // One feature, two ISO countries 900 km apart: the Cocos (Keeling) Islands near 97° E
        // and Christmas Island near 106° E.
        None if name == "Indian Ocean Ter." => Some(if bbox.min().x < 100.0 { "CC" } else { "CX" }),
        None => unnumbered_alpha2(name),
    }
}

/// The alpha-2 code of a zero-padded ISO 3166-1 numeric code.
fn numeric_alpha2(id: &str) -> Option<&'static str> {
    let numeric: u16 = id.parse().ok()?;
    let at = ISO_NUMERIC.binary_search_by_key(&numeric, |&(n, _)| n).ok()?;
    Some(ISO_NUMERIC[at].1)
}

/// The code of a feature Natural Earth draws without an ISO numeric id, by its name.
fn unnumbered_alpha2(name: &str) -> Option<&'static str> {
    UNNUMBERED.iter().find(|&&(n, _)| n == name).map(|&(_, code)| code)
}

/// Features that Natural Earth draws without an ISO numeric id, by name (see the module comment).
const UNNUMBERED: &[(&str, &str)] = &[
    ("Kosovo", "XK"),
    ("N. Cyprus", "CY"),
    ("Siachen Glacier", "IN"),
    ("Somaliland", "SO"),
];

/// A circle as lon/lat polygons, by the same rules as the country boundaries.
fn circle(centre: LonLat, radius_m: f64) -> Vec<Polygon> {
    let centre = Point::new(centre.lon(), centre.lat());
    // Vertices on a slightly larger circle put the polygon's edges outside the true circle, so
    // that a country the circle reaches is never missed.
    let reach = radius_m / (PI / f64::from(CIRCLE_VERTICES)).cos();
    let vertex = |k: u32| {
        let bearing = 360.0 * f64::from(k % CIRCLE_VERTICES) / f64::from(CIRCLE_VERTICES);
        Geodesic.destination(centre, bearing, reach).0
    };
    let mut ring = Vec::new();
    extend_unwrapped(&mut ring, (0..=CIRCLE_VERTICES).map(vertex));
    across_antimeridian(Polygon::new(close_over_pole(ring).into(), vec![]))
}

/// The parts of a TopoJSON topology that this module reads.
#[derive(Deserialize)]
struct Topology {
    transform: Transform,
    arcs: Vec<Vec<[i32; 2]>>,
    objects: Objects,
}

#[derive(Deserialize)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Deserialize)]
struct Objects {
    countries: Collection,
}

#[derive(Deserialize)]
struct Collection {
    geometries: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    /// ISO 3166-1 numeric, zero-padded.
    id: Option<String>,
    properties: Properties,
    #[serde(flatten)]
    shape: Shape,
}

#[derive(Deserialize)]
struct Properties {
    name: String,
}

/// Rings are lists of arc indexes.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum Shape {
    Polygon { arcs: Vec<Vec<i32>> },
    MultiPolygon { arcs: Vec<Vec<Vec<i32>>> },
}

impl Shape {
    fn polygons(&self) -> &[Vec<Vec<i32>>] {
        match self {
            Shape::Polygon { arcs } => std::slice::from_ref(arcs),
            Shape::MultiPolygon { arcs } => arcs,
        }
    }
}

/// ISO 3166-1 numeric → alpha-2, sorted by number. Generated from Debian's iso-codes 4.15.0
/// (`/usr/share/iso-codes/json/iso_3166-1.json`).
#[rustfmt::skip]
const ISO_NUMERIC: &[(u16, &str)] = &[
    (4, "AF"), (8, "AL"), (10, "AQ"), (12, "DZ"), (16, "AS"), (20, "AD"), (24, "AO"), (28, "AG"),
    (31, "AZ"), (32, "AR"), (36, "AU"), (40, "AT"), (44, "BS"), (48, "BH"), (50, "BD"), (51, "AM"),
    (52, "BB"), (56, "BE"), (60, "BM"), (64, "BT"), (68, "BO"), (70, "BA"), (72, "BW"), (74, "BV"),
    (76, "BR"), (84, "BZ"), (86, "IO"), (90, "SB"), (92, "VG"), (96, "BN"), (100, "BG"),
    (104, "MM"), (108, "BI"), (112, "BY"), (116, "KH"), (120, "CM"), (124, "CA"), (132, "CV"),
    (136, "KY"), (140, "CF"), (144, "LK"), (148, "TD"), (152, "CL"), (156, "CN"), (158, "TW"),
    (162, "CX"), (166, "CC"), (170, "CO"), (174, "KM"), (175, "YT"), (178, "CG"), (180, "CD"),
    (184, "CK"), (188, "CR"), (191, "HR"), (192, "CU"), (196, "CY"), (203, "CZ"), (204, "BJ"),
    (208, "DK"), (212, "DM"), (214, "DO"), (218, "EC"), (222, "SV"), (226, "GQ"), (231, "ET"),
    (232, "ER"), (233, "EE"), (234, "FO"), (238, "FK"), (239, "GS"), (242, "FJ"), (246, "FI"),
    (248, "AX"), (250, "FR"), (254, "GF"), (258, "PF"), (260, "TF"), (262, "DJ"), (266, "GA"),
    (268, "GE"), (270, "GM"), (275, "PS"), (276, "DE"), (288, "GH"), (292, "GI"), (296, "KI"),
    (300, "GR"), (304, "GL"), (308, "GD"), (312, "GP"), (316, "GU"), (320, "GT"), (324, "GN"),
    (328, "GY"), (332, "HT"), (334, "HM"), (336, "VA"), (340, "HN"), (344, "HK"), (348, "HU"),
    (352, "IS"), (356, "IN"), (360, "ID"), (364, "IR"), (368, "IQ"), (372, "IE"), (376, "IL"),
    (380, "IT"), (384, "CI"), (388, "JM"), (392, "JP"), (398, "KZ"), (400, "JO"), (404, "KE"),
    (408, "KP"), (410, "KR"), (414, "KW"), (417, "KG"), (418, "LA"), (422, "LB"), (426, "LS"),
    (428, "LV"), (430, "LR"), (434, "LY"), (438, "LI"), (440, "LT"), (442, "LU"), (446, "MO"),
    (450, "MG"), (454, "MW"), (458, "MY"), (462, "MV"), (466, "ML"), (470, "MT"), (474, "MQ"),
    (478, "MR"), (480, "MU"), (484, "MX"), (492, "MC"), (496, "MN"), (498, "MD"), (499, "ME"),
    (500, "MS"), (504, "MA"), (508, "MZ"), (512, "OM"), (516, "NA"), (520, "NR"), (524, "NP"),
    (528, "NL"), (531, "CW"), (533, "AW"), (534, "SX"), (535, "BQ"), (540, "NC"), (548, "VU"),
    (554, "NZ"), (558, "NI"), (562, "NE"), (566, "NG"), (570, "NU"), (574, "NF"), (578, "NO"),
    (580, "MP"), (581, "UM"), (583, "FM"), (584, "MH"), (585, "PW"), (586, "PK"), (591, "PA"),
    (598, "PG"), (600, "PY"), (604, "PE"), (608, "PH"), (612, "PN"), (616, "PL"), (620, "PT"),
    (624, "GW"), (626, "TL"), (630, "PR"), (634, "QA"), (638, "RE"), (642, "RO"), (643, "RU"),
    (646, "RW"), (652, "BL"), (654, "SH"), (659, "KN"), (660, "AI"), (662, "LC"), (663, "MF"),
    (666, "PM"), (670, "VC"), (674, "SM"), (678, "ST"), (682, "SA"), (686, "SN"), (688, "RS"),
    (690, "SC"), (694, "SL"), (702, "SG"), (703, "SK"), (704, "VN"), (705, "SI"), (706, "SO"),
    (710, "ZA"), (716, "ZW"), (724, "ES"), (728, "SS"), (729, "SD"), (732, "EH"), (740, "SR"),
    (744, "SJ"), (748, "SZ"), (752, "SE"), (756, "CH"), (760, "SY"), (762, "TJ"), (764, "TH"),
    (768, "TG"), (772, "TK"), (776, "TO"), (780, "TT"), (784, "AE"), (788, "TN"), (792, "TR"),
    (795, "TM"), (796, "TC"), (798, "TV"), (800, "UG"), (804, "UA"), (807, "MK"), (818, "EG"),
    (826, "GB"), (831, "GG"), (832, "JE"), (833, "IM"), (834, "TZ"), (840, "US"), (850, "VI"),
    (854, "BF"), (858, "UY"), (860, "UZ"), (862, "VE"), (876, "WF"), (882, "WS"), (887, "YE"),
    (894, "ZM"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn atlas() -> &'static CountryAtlas {
        CountryAtlas::embedded()
    }

    fn reached(geometry: serde_json::Value, radius_m: Option<f64>) -> Vec<String> {
        let area = Area {
            description: "test".into(),
            geometry: serde_json::from_value(geometry).expect("a test geometry"),
            radius_m,
        };
        atlas().countries_reached(&area)
    }

    fn circle_at(lon: f64, lat: f64, radius_m: f64) -> Vec<String> {
        reached(
            serde_json::json!({"type": "Point", "coordinates": [lon, lat]}),
            Some(radius_m),
        )
    }

    #[test]
    fn places_are_in_their_countries() {
        let places = [
            ("Beni", 29.47, 0.49, "CD"),
            ("Kampala", 32.58, 0.35, "UG"),
            ("Manila", 120.98, 14.60, "PH"),
            ("Kabul", 69.17, 34.53, "AF"),
            ("Port-au-Prince", -72.34, 18.54, "HT"),
            ("Pristina", 21.17, 42.67, "XK"),
            ("Hargeisa", 44.06, 9.56, "SO"),
            ("Kyrenia", 33.32, 35.33, "CY"),
            ("Siachen Glacier", 77.2, 35.4, "IN"),
            ("Christmas Island", 105.63, -10.49, "CX"),
        ];
        for (place, lon, lat, code) in places {
            assert_eq!(atlas().country_at(lon, lat), Some(code), "{place}");
        }
    }

    #[test]
    fn the_antimeridian_and_the_poles_are_where_they_should_be() {
        let places = [
            ("Chukotka, west of 180°", 175.0, 66.5, Some("RU")),
            ("Chukotka, east of 180°", -175.0, 66.0, Some("RU")),
            ("Wrangel Island, west of 180°", 179.5, 71.2, Some("RU")),
            ("Wrangel Island, east of 180°", -179.5, 71.3, Some("RU")),
            ("Vanua Levu, east of 180°", -179.9, -16.8, Some("FJ")),
            // The latitudes at which Russia's coast crosses 180°, elsewhere in the world.
            ("Akureyri", -18.1, 65.68, Some("IS")),
            ("Rovaniemi", 25.7, 66.5, Some("FI")),
            ("Inuvik", -133.7, 68.36, Some("CA")),
            ("Alaska", -155.0, 66.9, Some("US")),
            ("Greenland", -45.0, 67.0, Some("GL")),
            ("Vostok Station", 106.8, -78.46, Some("AQ")),
            ("South Pole", 0.0, -89.9995, Some("AQ")),
            ("North Pole", 0.0, 89.9995, None),
        ];
        for (place, lon, lat, code) in places {
            assert_eq!(atlas().country_at(lon, lat), code, "{place}");
        }
    }

    #[test]
    fn the_sea_and_nonsense_are_in_no_country() {
        assert_eq!(atlas().country_at(-30.0, 30.0), None);
        assert_eq!(atlas().country_at(f64::NAN, 0.0), None);
        assert_eq!(atlas().country_at(29.47, 91.0), None);
    }

    #[test]
    fn a_circle_on_a_border_reaches_both_sides() {
        assert_eq!(circle_at(29.72, 0.04, 30_000.0), ["CD", "UG"]);
    }

    #[test]
    fn a_circle_inside_a_country_reaches_only_it() {
        assert_eq!(circle_at(37.3, 0.0, 20_000.0), ["KE"]);
    }

    #[test]
    fn areas_outside_the_contract_get_an_answer_not_a_panic() {
        for (lon, lat, radius_m) in [
            (29.47, 95.0, 5_000.0),
            (400.0, 0.0, 5_000.0),
            (0.0, 0.0, 1e12),
            (0.0, 0.0, 1e300),
            (0.0, 0.0, f64::INFINITY),
        ] {
            circle_at(lon, lat, radius_m);
        }
        let empty = serde_json::json!({"type": "Polygon", "coordinates": []});
        assert_eq!(reached(empty, None), Vec::<String>::new());
        let open = serde_json::json!({"type": "MultiPolygon",
                                      "coordinates": [[[[29.0, 0.0], [30.0, 1.0]]]]});
        reached(open, None);
    }

    #[test]
    fn a_circle_without_a_radius_is_its_centre() {
        let beni = serde_json::json!({"type": "Point", "coordinates": [29.47, 0.49]});
        assert_eq!(reached(beni.clone(), None), ["CD"]);
        assert_eq!(reached(beni, Some(-5.0)), ["CD"]);
    }

    #[test]
    fn a_circle_across_the_antimeridian_reaches_the_far_side() {
        // Fiji's nearest land is 202 km away east of 180°; on the west side it is 365 km.
        assert_eq!(circle_at(179.95, -22.0, 250_000.0), ["FJ"]);
        assert_eq!(circle_at(179.95, -22.0, 150_000.0), Vec::<String>::new());
    }

    #[test]
    fn a_circle_around_a_pole_covers_it() {
        let polar = circle(LonLat([10.0, 89.0]), 400_000.0);
        assert!(polar.iter().any(|p| p.intersects(&coord! { x: -150.0, y: 89.99 })));
        assert_eq!(circle_at(10.0, 89.0, 400_000.0), Vec::<String>::new());
        assert_eq!(circle_at(0.0, -89.0, 500_000.0), ["AQ"]);
    }

    #[test]
    fn a_polygon_across_a_border_reaches_both_sides() {
        let rwanda_burundi = serde_json::json!({"type": "Polygon", "coordinates": [[
            [29.5, -3.2], [30.2, -3.2], [30.2, -1.8], [29.5, -1.8], [29.5, -3.2]
        ]]});
        assert_eq!(reached(rwanda_burundi, None), ["BI", "RW"]);
    }

    #[test]
    fn every_feature_has_a_country_code() {
        for (code, polygon) in coded_polygons(embedded_topology()) {
            let at = polygon.bounding_rect();
            let code = code.unwrap_or_else(|| panic!("no country for the polygon at {at:?}"));
            assert!(scaan_schemas::is_country_code(code), "{code} at {at:?}");
        }
        for code in ["CC", "CX", "XK"] {
            assert!(atlas().parts.iter().any(|p| p.code == code), "{code}");
        }
    }

    #[test]
    fn the_numeric_table_is_sorted() {
        assert!(ISO_NUMERIC.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn every_feature_but_one_has_its_code_for_the_console() {
        let codes: BTreeMap<String, String> =
            serde_json::from_slice(feature_codes_json()).expect("the codes are a JSON object");
        let uncoded: Vec<String> = embedded_topology()
            .objects
            .countries
            .geometries
            .into_iter()
            .map(|feature| feature.id.unwrap_or(feature.properties.name))
            .filter(|key| !codes.contains_key(key))
            .collect();
        assert_eq!(uncoded, ["Indian Ocean Ter."]);
        assert_eq!(codes["180"], "CD");
        assert_eq!(codes["800"], "UG");
        assert_eq!(codes["Kosovo"], "XK");
        assert_eq!(codes["Somaliland"], "SO");
    }
}
