//! Which IANA time zone a point or an alert area lies in, from the timezone-boundary-builder
//! polygons that tzf-rs embeds (simplified, ~4 MB), so that an event's local time is that of
//! the place itself: Beni keeps Lubumbashi's time while the same country's Kinshasa keeps its
//! own, whichever principal city is nearer. The boundaries are timezone-boundary-builder's,
//! drawn from OpenStreetMap: data © OpenStreetMap contributors under the ODbL 1.0 (the
//! `tzf-dist` crate, `MIT AND ODbL-1.0`).
//!
//! The finder queries the embedded data in place (tzf-rs's `EmbeddedFinder`): a lookup costs
//! microseconds and the hub looks up once per event, when it is raised or its area moves, so
//! the larger expanded finder would buy nothing.

use std::sync::OnceLock;

use scaan_schemas::{Area, Geometry};
use tzf_rs::EmbeddedFinder;

/// The embedded time-zone boundaries, opened at first use.
fn finder() -> &'static EmbeddedFinder {
    static FINDER: OnceLock<EmbeddedFinder> = OnceLock::new();
    FINDER.get_or_init(EmbeddedFinder::new)
}

/// The IANA zone at a point, or `None` where the boundaries name none.
pub fn zone_at(lon: f64, lat: f64) -> Option<String> {
    let zone = finder().get_tz_name(lon, lat);
    (!zone.is_empty()).then(|| zone.to_owned())
}

/// The IANA zone of an alert area: that of its centre (a circle's centre, else the middle of
/// the area's bounding box, as the console centres its map on it). An area across a zone
/// boundary has the zone of its middle.
pub fn zone_of(area: &Area) -> Option<String> {
    let (lon, lat) = match &area.geometry {
        Geometry::Point { coordinates } => (coordinates.lon(), coordinates.lat()),
        Geometry::Polygon { coordinates } => middle(coordinates.iter().flatten())?,
        Geometry::MultiPolygon { coordinates } => middle(coordinates.iter().flatten().flatten())?,
    };
    zone_at(lon, lat)
}

/// The middle of the bounding box of some positions.
fn middle<'a>(positions: impl Iterator<Item = &'a scaan_schemas::LonLat>) -> Option<(f64, f64)> {
    let mut bounds: Option<[f64; 4]> = None;
    for p in positions {
        let [w, s, e, n] = bounds.get_or_insert([p.lon(), p.lat(), p.lon(), p.lat()]);
        *w = w.min(p.lon());
        *s = s.min(p.lat());
        *e = e.max(p.lon());
        *n = n.max(p.lat());
    }
    bounds.map(|[w, s, e, n]| ((w + e) / 2.0, (s + n) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::LonLat;

    #[test]
    fn a_place_has_the_zone_of_its_own_ground_not_of_its_countrys_capital() {
        assert_eq!(
            zone_at(29.4734, 0.4911).as_deref(),
            Some("Africa/Lubumbashi"),
            "Beni, east DR Congo"
        );
        assert_eq!(
            zone_at(15.3136, -4.3317).as_deref(),
            Some("Africa/Kinshasa"),
            "Kinshasa"
        );
        assert_eq!(zone_at(69.1723, 34.5281).as_deref(), Some("Asia/Kabul"), "Kabul");
        assert_eq!(zone_at(29.2228, -1.6792).as_deref(), Some("Africa/Lubumbashi"), "Goma");
    }

    #[test]
    fn an_area_has_the_zone_of_its_middle() {
        let circle = Area {
            description: "Beni".into(),
            geometry: Geometry::Point {
                coordinates: LonLat([29.4734, 0.4911]),
            },
            radius_m: Some(5_000.0),
        };
        assert_eq!(zone_of(&circle).as_deref(), Some("Africa/Lubumbashi"));
        // A square round Kinshasa.
        let ring = [[15.2, -4.4], [15.4, -4.4], [15.4, -4.2], [15.2, -4.2], [15.2, -4.4]];
        let square = Area {
            description: "Kinshasa".into(),
            geometry: Geometry::Polygon {
                coordinates: vec![ring.iter().map(|p| LonLat(*p)).collect()],
            },
            radius_m: None,
        };
        assert_eq!(zone_of(&square).as_deref(), Some("Africa/Kinshasa"));
        let two = Area {
            geometry: Geometry::MultiPolygon {
                coordinates: vec![vec![ring.iter().map(|p| LonLat(*p)).collect()]],
            },
            ..square
        };
        assert_eq!(zone_of(&two).as_deref(), Some("Africa/Kinshasa"));
    }
}
