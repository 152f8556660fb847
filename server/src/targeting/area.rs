//! Alert areas prepared for many point tests: the boxes to search the index with, and a fast
//! inclusion test. Circles are measured on the WGS84 ellipsoid; polygons in plain lon/lat, as
//! GeoJSON and CAP mean them.

use std::f64::consts::FRAC_PI_2;

use geo::{BoundingRect, Distance, Geodesic, Haversine};
use rstar::{Envelope, AABB};
use scaan_schemas::{Area, Geometry};

use super::polygon::BandedPolygons;
use super::Point;

/// The sphere that geo's haversine uses (the mean radius of GRS80).
const EARTH_RADIUS_M: f64 = Haversine.radius();

/// How far a distance on that sphere may stray from the geodesic one on the ellipsoid, as a
/// fraction: at most about 0.57% (north–south near the equator); rounded up for safety.
const SPHERE_ERROR: f64 = 0.007;

/// An alert area prepared for fast point tests (built once per alert).
pub struct TargetArea {
    /// Boxes in `[lon, lat]` that together hold the whole area: the index skips whatever lies
    /// outside them all.
    envelopes: Vec<AABB<[f64; 2]>>,
    shape: Shape,
}

enum Shape {
    Circle(Circle),
    Polygons(BandedPolygons),
    /// An area that holds no point: a zero or invalid radius, an empty polygon.
    Nothing,
}

impl TargetArea {
    pub fn new(area: &Area) -> TargetArea {
        match (&area.geometry, area.radius_m) {
            (Geometry::Point { coordinates }, Some(radius_m)) => {
                let centre = Point {
                    lon: coordinates.lon(),
                    lat: coordinates.lat(),
                };
                if centre.is_valid() && radius_m > 0.0 {
                    return TargetArea {
                        envelopes: circle_envelopes(centre, radius_m),
                        shape: Shape::Circle(Circle::new(centre, radius_m)),
                    };
                }
            }
            _ => {
                if let Some(shape) = area.polygons() {
                    if let Some(polygons) = BandedPolygons::new(&shape) {
                        return TargetArea {
                            envelopes: shape
                                .iter()
                                .filter_map(|p| p.bounding_rect())
                                .map(|r| AABB::from_corners(r.min().into(), r.max().into()))
                                .collect(),
                            shape: Shape::Polygons(polygons),
                        };
                    }
                }
            }
        }
        TargetArea {
            envelopes: Vec::new(),
            shape: Shape::Nothing,
        }
    }

    pub fn contains(&self, p: Point) -> bool {
        p.is_valid()
            && match &self.shape {
                Shape::Circle(circle) => circle.holds(p),
                Shape::Polygons(polygons) => polygons.contains(p.lon, p.lat),
                Shape::Nothing => false,
            }
    }

    /// How a box in `[lon, lat]` lies in the area. `Partly` whenever in doubt: it only means
    /// testing the box's points one by one.
    pub(super) fn overlap(&self, b: &AABB<[f64; 2]>) -> Overlap {
        if !self.envelopes.iter().any(|e| e.intersects(b)) {
            return Overlap::Outside;
        }
        let ([west, south], [east, north]) = (b.lower(), b.upper());
        match &self.shape {
            Shape::Circle(circle) => circle.overlap(west, south, east, north),
            Shape::Polygons(polygons) => polygons.overlap(west, south, east, north),
            Shape::Nothing => Overlap::Outside,
        }
    }
}

/// How a box lies in an area.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Overlap {
    Inside,
    Partly,
    Outside,
}

/// A circle by geodesic distance. Karney's algorithm is too slow for thousands of candidates,
/// so the sphere settles every point clearly inside or outside, and only the narrow ring where
/// the sphere and the ellipsoid could disagree gets the exact test.
struct Circle {
    centre: Point,
    sin_lat: f64,
    cos_lat: f64,
    radius_m: f64,
    /// Haversines of central angles on the sphere: below `surely_in` a point is inside
    /// whatever the ellipsoid says, above `surely_out` it is outside.
    surely_in: f64,
    surely_out: f64,
}

impl Circle {
    fn new(centre: Point, radius_m: f64) -> Circle {
        let (sin_lat, cos_lat) = centre.lat.to_radians().sin_cos();
        Circle {
            centre,
            sin_lat,
            cos_lat,
            radius_m,
            surely_in: haversine_of(radius_m / (1.0 + SPHERE_ERROR)),
            surely_out: haversine_of(radius_m / (1.0 - SPHERE_ERROR)),
        }
    }

    fn holds(&self, p: Point) -> bool {
        let h = self.haversine_to(p);
        if h < self.surely_in {
            true
        } else if h > self.surely_out {
            false
        } else {
            let centre = geo::Point::new(self.centre.lon, self.centre.lat);
            Geodesic.distance(centre, geo::Point::new(p.lon, p.lat)) <= self.radius_m
        }
    }

    /// The haversine of the central angle between the centre and `p`:
    /// hav(Δlat) + cos(lat₀)·cos(lat)·hav(Δlon), with cos(lat) derived from the centre's so
    /// that points near the centre need no call to libm.
    fn haversine_to(&self, p: Point) -> f64 {
        let mut d_lon = p.lon - self.centre.lon;
        if d_lon > 180.0 {
            d_lon -= 360.0;
        } else if d_lon < -180.0 {
            d_lon += 360.0;
        }
        let (sin_half_lat, cos_half_lat) = sin_cos((p.lat - self.centre.lat).to_radians() / 2.0);
        let (sin_half_lon, _) = sin_cos(d_lon.to_radians() / 2.0);
        // cos(lat₀ + Δ) with cos Δ = 1 − 2·sin²(Δ/2) and sin Δ = 2·sin(Δ/2)·cos(Δ/2).
        let cos_lat =
            self.cos_lat * (1.0 - 2.0 * sin_half_lat * sin_half_lat) - self.sin_lat * 2.0 * sin_half_lat * cos_half_lat;
        sin_half_lat * sin_half_lat + self.cos_lat * cos_lat * sin_half_lon * sin_half_lon
    }

    /// `Inside` when every corner of the box surely is: on the sphere the point of a
    /// lon/lat box farthest from the centre is a corner, as long as the box keeps well away
    /// from the centre's antimeridian.
    fn overlap(&self, west: f64, south: f64, east: f64, north: f64) -> Overlap {
        let far_lon = (west - self.centre.lon).abs().max((east - self.centre.lon).abs());
        let corners = [(west, south), (west, north), (east, south), (east, north)];
        let all_in = far_lon <= 90.0
            && corners
                .iter()
                .all(|&(lon, lat)| self.haversine_to(Point { lon, lat }) < self.surely_in);
        if all_in {
            Overlap::Inside
        } else {
            Overlap::Partly
        }
    }
}

/// The haversine of the central angle of an arc `metres` long (at most half way round).
fn haversine_of(metres: f64) -> f64 {
    let half_angle = (metres / EARTH_RADIUS_M / 2.0).min(FRAC_PI_2);
    half_angle.sin().powi(2)
}

/// Sine and cosine: by their Taylor series up to x¹¹ and x¹² near zero, where that is as exact
/// as libm (error below 1e-13) and several times cheaper; by libm elsewhere.
fn sin_cos(x: f64) -> (f64, f64) {
    if x.abs() > 0.5 {
        return x.sin_cos();
    }
    let x2 = x * x;
    let term = |k: f64| x2 * (1.0 / (k * (k + 1.0)));
    let sin = x * (1.0 - term(2.0) * (1.0 - term(4.0) * (1.0 - term(6.0) * (1.0 - term(8.0) * (1.0 - term(10.0))))));
    let cos = 1.0
        - term(1.0)
            * (1.0 - term(3.0) * (1.0 - term(5.0) * (1.0 - term(7.0) * (1.0 - term(9.0) * (1.0 - term(11.0))))));
    (sin, cos)
}

/// Boxes holding a circle: one normally, two when it crosses the antimeridian, and a band
/// around the globe when it covers a pole.
fn circle_envelopes(centre: Point, radius_m: f64) -> Vec<AABB<[f64; 2]>> {
    // Anything within the radius on the ellipsoid is within this angle on the sphere.
    let angle = radius_m / (1.0 - SPHERE_ERROR) / EARTH_RADIUS_M;
    // A hair wider than exact, so that rounding never leaves an edge point out.
    let degrees = angle.to_degrees() + 1e-9;
    let south = centre.lat - degrees;
    let north = centre.lat + degrees;
    // The widest longitude of a spherical cap clear of the poles (the ratio reaches 1 when the
    // cap touches one).
    let ratio = angle.sin() / centre.lat.to_radians().cos();
    if south <= -90.0 || north >= 90.0 || ratio >= 1.0 {
        return vec![AABB::from_corners([-180.0, south.max(-90.0)], [180.0, north.min(90.0)])];
    }
    let half_width = ratio.asin().to_degrees() + 1e-9;
    let (west, east) = (centre.lon - half_width, centre.lon + half_width);
    if west < -180.0 {
        vec![
            AABB::from_corners([west + 360.0, south], [180.0, north]),
            AABB::from_corners([-180.0, south], [east, north]),
        ]
    } else if east > 180.0 {
        vec![
            AABB::from_corners([west, south], [180.0, north]),
            AABB::from_corners([-180.0, south], [east - 360.0, north]),
        ]
    } else {
        vec![AABB::from_corners([west, south], [east, north])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Destination;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rstar::Envelope;
    use scaan_schemas::LonLat;

    pub(crate) fn circle(lon: f64, lat: f64, radius_m: f64) -> TargetArea {
        TargetArea::new(&Area {
            description: "test circle".into(),
            geometry: Geometry::Point {
                coordinates: LonLat([lon, lat]),
            },
            radius_m: Some(radius_m),
        })
    }

    fn polygon(rings: &[&[(f64, f64)]]) -> Vec<Vec<LonLat>> {
        rings
            .iter()
            .map(|ring| ring.iter().map(|&(lon, lat)| LonLat([lon, lat])).collect())
            .collect()
    }

    fn area(geometry: Geometry) -> TargetArea {
        TargetArea::new(&Area {
            description: "test area".into(),
            geometry,
            radius_m: None,
        })
    }

    fn away(from: Point, bearing: f64, metres: f64) -> Point {
        let p = Geodesic.destination(geo::Point::new(from.lon, from.lat), bearing, metres);
        Point { lon: p.x(), lat: p.y() }
    }

    #[test]
    fn circles_are_measured_on_the_ellipsoid() {
        for (lon, lat) in [(29.47, 0.49), (36.82, -1.29), (10.0, 60.0), (-70.0, -54.8)] {
            let centre = Point { lon, lat };
            let area = circle(lon, lat, 5_000.0);
            for bearing in [0.0, 45.0, 90.0, 180.0, 270.0, 333.0] {
                assert!(area.contains(away(centre, bearing, 4_990.0)), "{lat} {bearing}");
                assert!(!area.contains(away(centre, bearing, 5_010.0)), "{lat} {bearing}");
                assert!(area.contains(away(centre, bearing, 100.0)));
                assert!(!area.contains(away(centre, bearing, 9_000.0)));
            }
            assert!(area.contains(centre));
        }
    }

    #[test]
    fn the_sphere_stays_within_its_stated_error_of_the_ellipsoid() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let a = Point {
                lon: rng.gen_range(-180.0..180.0),
                lat: rng.gen_range(-89.0..89.0),
            };
            let metres = rng.gen_range(1.0..1_500_000.0);
            let b = away(a, rng.gen_range(0.0..360.0), metres);
            let sphere = Haversine.distance(geo::Point::new(a.lon, a.lat), geo::Point::new(b.lon, b.lat));
            assert!((sphere / metres - 1.0).abs() < SPHERE_ERROR * 0.9, "{a:?} {b:?}");
        }
    }

    #[test]
    fn the_quick_haversine_agrees_with_geo() {
        let mut rng = StdRng::seed_from_u64(13);
        for _ in 0..100_000 {
            let centre = Point {
                lon: rng.gen_range(-180.0..180.0),
                lat: rng.gen_range(-90.0..90.0),
            };
            // Near the centre mostly, across the antimeridian and the poles sometimes.
            let spread = if rng.gen_bool(0.9) { 0.5 } else { 30.0 };
            let mut lon = centre.lon + rng.gen_range(-spread..spread);
            if lon.abs() > 180.0 {
                lon -= 360.0 * lon.signum();
            }
            let lat = (centre.lat + rng.gen_range(-spread..spread)).clamp(-90.0, 90.0);
            let angle = 2.0 * Circle::new(centre, 1.0).haversine_to(Point { lon, lat }).sqrt().asin();
            let expected =
                Haversine.distance(geo::Point::new(centre.lon, centre.lat), geo::Point::new(lon, lat)) / EARTH_RADIUS_M;
            assert!(
                (angle - expected).abs() <= 1e-9 * expected + 1e-13,
                "{centre:?} ({lon}, {lat}): {angle} {expected}"
            );
        }
    }

    #[test]
    fn a_circle_across_the_antimeridian_reaches_both_sides() {
        let centre = Point { lon: 179.9, lat: -17.0 };
        let area = circle(centre.lon, centre.lat, 30_000.0);
        let east_of_the_line = away(centre, 90.0, 25_000.0);
        assert!(east_of_the_line.lon < -179.0);
        assert!(area.contains(east_of_the_line));
        assert!(area.contains(away(centre, 270.0, 25_000.0)));
        assert!(!area.contains(away(centre, 90.0, 35_000.0)));
        assert_eq!(area.envelopes.len(), 2);
        for p in [east_of_the_line, away(centre, 270.0, 25_000.0)] {
            let held = area
                .envelopes
                .iter()
                .filter(|e| e.contains_point(&[p.lon, p.lat]))
                .count();
            assert_eq!(held, 1);
        }
    }

    #[test]
    fn a_circle_over_a_pole_spans_every_longitude() {
        let area = circle(20.0, 89.9, 50_000.0);
        assert_eq!(area.envelopes.len(), 1);
        let over = Point { lon: -160.0, lat: 89.8 };
        assert!(area.contains(over));
        assert!(area.envelopes[0].contains_point(&[over.lon, over.lat]));
    }

    #[test]
    fn circle_envelopes_hold_the_whole_circle() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..2_000 {
            let centre = Point {
                lon: rng.gen_range(-180.0..180.0),
                lat: rng.gen_range(-89.5..89.5),
            };
            let radius = rng.gen_range(10.0..1_000_000.0);
            let area = circle(centre.lon, centre.lat, radius);
            let edge = away(centre, rng.gen_range(0.0..360.0), radius * 0.999_999);
            assert!(area.contains(edge));
            assert!(
                area.envelopes.iter().any(|e| e.contains_point(&[edge.lon, edge.lat])),
                "{centre:?} {radius} {edge:?}"
            );
        }
    }

    #[test]
    fn boxes_called_inside_a_circle_are() {
        let mut rng = StdRng::seed_from_u64(17);
        let mut inside = 0;
        for _ in 0..2_000 {
            let centre = Point {
                lon: rng.gen_range(-180.0..180.0),
                lat: rng.gen_range(-89.0..89.0),
            };
            let radius = rng.gen_range(100.0..500_000.0);
            let area = circle(centre.lon, centre.lat, radius);
            let corner = away(centre, rng.gen_range(0.0..360.0), radius * rng.gen_range(0.0..1.2));
            let size = radius / 111_000.0 * rng.gen_range(0.0..1.0);
            let north = (corner.lat + size).min(90.0);
            let b = AABB::from_corners([corner.lon, corner.lat], [corner.lon + size, north]);
            if area.overlap(&b) != Overlap::Inside {
                continue;
            }
            inside += 1;
            for _ in 0..20 {
                let p = Point {
                    lon: rng.gen_range(b.lower()[0]..=b.upper()[0]),
                    lat: rng.gen_range(b.lower()[1]..=b.upper()[1]),
                };
                let metres = Geodesic.distance(geo::Point::new(centre.lon, centre.lat), geo::Point::new(p.lon, p.lat));
                assert!(metres <= radius, "{centre:?} {radius} {b:?}");
            }
        }
        assert!(inside > 200, "{inside}");
    }

    #[test]
    fn a_point_in_a_hole_is_outside() {
        let outer: &[(f64, f64)] = &[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0)];
        let hole: &[(f64, f64)] = &[(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0), (4.0, 4.0)];
        let area = area(Geometry::Polygon {
            coordinates: polygon(&[outer, hole]),
        });
        assert!(area.contains(Point { lon: 2.0, lat: 2.0 }));
        assert!(area.contains(Point { lon: 5.0, lat: 7.0 }));
        assert!(!area.contains(Point { lon: 5.0, lat: 5.0 }));
        assert!(!area.contains(Point { lon: 11.0, lat: 5.0 }));
        assert!(!area.contains(Point { lon: 5.0, lat: -1.0 }));
    }

    #[test]
    fn a_multipolygon_holds_each_part_and_nothing_between() {
        let west: &[(f64, f64)] = &[
            (177.0, -18.0),
            (180.0, -18.0),
            (180.0, -16.0),
            (177.0, -16.0),
            (177.0, -18.0),
        ];
        let east: &[(f64, f64)] = &[
            (-180.0, -18.0),
            (-178.0, -18.0),
            (-178.0, -16.0),
            (-180.0, -16.0),
            (-180.0, -18.0),
        ];
        let area = area(Geometry::MultiPolygon {
            coordinates: vec![polygon(&[west]), polygon(&[east])],
        });
        assert!(area.contains(Point { lon: 178.0, lat: -17.0 }));
        assert!(area.contains(Point {
            lon: -179.0,
            lat: -17.0
        }));
        assert!(!area.contains(Point { lon: 0.0, lat: -17.0 }));
        assert!(!area.contains(Point { lon: 178.0, lat: -15.0 }));
        // One box per part, not one spanning the globe.
        assert_eq!(area.envelopes.len(), 2);
        assert!(area.envelopes.iter().all(|e| e.upper()[0] - e.lower()[0] <= 3.0));
    }

    #[test]
    fn degenerate_areas_hold_nothing() {
        assert!(!circle(10.0, 10.0, 0.0).contains(Point { lon: 10.0, lat: 10.0 }));
        assert!(!circle(10.0, 10.0, f64::NAN).contains(Point { lon: 10.0, lat: 10.0 }));
        assert!(!circle(10.0, 95.0, 1000.0).contains(Point { lon: 10.0, lat: 90.0 }));
        let flat = area(Geometry::Polygon {
            coordinates: polygon(&[&[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (0.0, 0.0)]]),
        });
        assert!(!flat.contains(Point { lon: 1.0, lat: 0.0 }));
        assert!(flat.envelopes.is_empty());
        let nan = Point {
            lon: f64::NAN,
            lat: 0.0,
        };
        assert!(!circle(0.0, 0.0, 1000.0).contains(nan));
    }
}
