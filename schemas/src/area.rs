//! Alert areas: GeoJSON (RFC 7946, `[lon, lat]`) polygons and multipolygons, or a point with a
//! radius (CAP's `<circle>`), and the rules that make an area usable for targeting.

use chrono::{DateTime, Utc};
use geo::{GeodesicArea, Validation};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

use crate::error::check_text;
use crate::position::check_lat_lon;
use crate::{Invalid, Validate};

/// A circle larger than this is a country-wide alert and should be drawn as a polygon.
pub const MAX_RADIUS_M: f64 = 1_000_000.0;
/// Vertices across all rings of an area; a detailed district boundary needs a few thousand.
pub const MAX_VERTICES: usize = 20_000;
/// Larger than the largest country an alert is ever meant for; catches hemisphere-sized mistakes.
pub const MAX_AREA_KM2: f64 = 20_000_000.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Area {
    /// Where this is, in words (CAP `areaDesc`).
    pub description: String,
    pub geometry: Geometry,
    /// Required with a `Point` geometry (a circle), forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
}

/// A GeoJSON geometry. Only the three types an alert area can have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type")]
pub enum Geometry {
    Point { coordinates: LonLat },
    Polygon { coordinates: Vec<Vec<LonLat>> },
    MultiPolygon { coordinates: Vec<Vec<Vec<LonLat>>> },
}

/// A GeoJSON position: `[lon, lat]`, or `[lon, lat, altitude]` with the altitude ignored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LonLat(pub [f64; 2]);

impl LonLat {
    pub fn lon(self) -> f64 {
        self.0[0]
    }
    pub fn lat(self) -> f64 {
        self.0[1]
    }
}

impl<'de> Deserialize<'de> for LonLat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<f64>::deserialize(d)?;
        match v[..] {
            [lon, lat] | [lon, lat, _] => Ok(LonLat([lon, lat])),
            _ => Err(serde::de::Error::invalid_length(v.len(), &"a position [lon, lat]")),
        }
    }
}

impl utoipa::PartialSchema for LonLat {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::Number))
            .min_items(Some(2))
            .max_items(Some(3))
            .description(Some("A GeoJSON position: [longitude, latitude] in WGS84 degrees."))
            .build()
            .into()
    }
}

impl ToSchema for LonLat {}

impl Area {
    /// The area as a `geo` polygon set; `None` for a circle.
    pub fn polygons(&self) -> Option<geo::MultiPolygon> {
        match &self.geometry {
            Geometry::Point { .. } => None,
            Geometry::Polygon { coordinates } => Some(geo::MultiPolygon(vec![to_polygon(coordinates)])),
            Geometry::MultiPolygon { coordinates } => {
                Some(geo::MultiPolygon(coordinates.iter().map(|p| to_polygon(p)).collect()))
            }
        }
    }

    /// A point inside or at the centre of the area, for labels and local time.
    pub fn anchor(&self) -> LonLat {
        match &self.geometry {
            Geometry::Point { coordinates } => *coordinates,
            _ => {
                use geo::InteriorPoint;
                let p = self
                    .polygons()
                    .and_then(|m| m.interior_point())
                    .unwrap_or(geo::point!(x: 0.0, y: 0.0));
                LonLat([p.x(), p.y()])
            }
        }
    }
}

fn to_polygon(rings: &[Vec<LonLat>]) -> geo::Polygon {
    let ring = |r: &Vec<LonLat>| geo::LineString::from(r.iter().map(|c| (c.lon(), c.lat())).collect::<Vec<_>>());
    let mut rings = rings.iter().map(ring);
    let exterior = rings.next().unwrap_or_else(|| geo::LineString::new(vec![]));
    geo::Polygon::new(exterior, rings.collect())
}

impl Validate for Area {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("description", &self.description, 1_000, true)?;
        match (&self.geometry, self.radius_m) {
            (Geometry::Point { coordinates }, Some(r)) => {
                check_position(*coordinates).map_err(|e| e.within("geometry.coordinates"))?;
                if !(r.is_finite() && r > 0.0) {
                    return Err(Invalid::new("radius_m", "must be a positive number of metres"));
                }
                if r > MAX_RADIUS_M {
                    return Err(Invalid::new(
                        "radius_m",
                        format!("must be at most {MAX_RADIUS_M} m; draw a polygon for larger areas"),
                    ));
                }
                Ok(())
            }
            (Geometry::Point { .. }, None) => Err(Invalid::new(
                "radius_m",
                "is required with a Point geometry (the circle's radius in metres)",
            )),
            (_, Some(_)) => Err(Invalid::new("radius_m", "is only allowed with a Point geometry")),
            (Geometry::Polygon { coordinates }, None) => {
                check_rings(coordinates).map_err(|e| e.within("geometry.coordinates"))?;
                check_shape(self)
            }
            (Geometry::MultiPolygon { coordinates }, None) => {
                if coordinates.is_empty() {
                    return Err(Invalid::new("geometry.coordinates", "must hold at least one polygon"));
                }
                for (i, polygon) in coordinates.iter().enumerate() {
                    check_rings(polygon).map_err(|e| e.within(&format!("geometry.coordinates[{i}]")))?;
                }
                check_shape(self)
            }
        }
    }
}

fn check_position(c: LonLat) -> Result<(), Invalid> {
    check_lat_lon(c.lat(), c.lon()).map_err(|e| {
        let which = if e.field == "lat" { "[1]" } else { "[0]" };
        Invalid::new(which, e.message)
    })
}

/// Ring-by-ring rules that do not need the whole shape: size, closure, ranges, antimeridian.
fn check_rings(rings: &[Vec<LonLat>]) -> Result<(), Invalid> {
    if rings.is_empty() {
        return Err(Invalid::new("", "a polygon needs an outer ring"));
    }
    for (r, ring) in rings.iter().enumerate() {
        let at = |i: usize| format!("[{r}][{i}]");
        if ring.len() < 4 {
            return Err(Invalid::new(
                format!("[{r}]"),
                "a ring needs at least 4 positions, the last equal to the first",
            ));
        }
        for (i, c) in ring.iter().enumerate() {
            check_position(*c).map_err(|e| e.within(&at(i)))?;
        }
        if ring.first() != ring.last() {
            return Err(Invalid::new(
                format!("[{r}]"),
                "the ring is open: its last position must equal its first",
            ));
        }
        for (i, pair) in ring.windows(2).enumerate() {
            if (pair[1].lon() - pair[0].lon()).abs() > 180.0 {
                return Err(Invalid::new(
                    at(i + 1),
                    "the ring crosses the antimeridian; split it into a MultiPolygon (RFC 7946 §3.1.9)",
                ));
            }
        }
    }
    Ok(())
}

/// Whole-shape rules: vertex budget, no self-intersection or overlap, a sane size.
fn check_shape(area: &Area) -> Result<(), Invalid> {
    let field = "geometry.coordinates";
    let vertices: usize = match &area.geometry {
        Geometry::Polygon { coordinates } => coordinates.iter().map(Vec::len).sum(),
        Geometry::MultiPolygon { coordinates } => coordinates.iter().flatten().map(Vec::len).sum(),
        Geometry::Point { .. } => 1,
    };
    if vertices > MAX_VERTICES {
        return Err(Invalid::new(
            field,
            format!("has {vertices} vertices; at most {MAX_VERTICES} are allowed"),
        ));
    }
    let Some(shape) = area.polygons() else {
        return Ok(());
    };
    let problems = shape.validation_errors();
    if !problems.is_empty() {
        let why = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
        return Err(Invalid::new(field, format!("is not a valid polygon: {why}")));
    }
    let km2 = shape.geodesic_area_unsigned() / 1e6;
    if km2 > MAX_AREA_KM2 {
        return Err(Invalid::new(
            field,
            format!("covers {km2:.0} km²; at most {MAX_AREA_KM2:.0} km² is allowed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(geometry: serde_json::Value, radius: Option<f64>) -> Result<(), Invalid> {
        let a = Area {
            description: "x".into(),
            geometry: serde_json::from_value(geometry).unwrap(),
            radius_m: radius,
        };
        a.validate(Utc::now())
    }

    #[test]
    fn circles_need_a_positive_radius_and_a_real_centre() {
        let p = serde_json::json!({"type": "Point", "coordinates": [29.47, 0.49]});
        assert!(area(p.clone(), Some(5000.0)).is_ok());
        assert_eq!(area(p.clone(), Some(0.0)).unwrap_err().field, "radius_m");
        assert_eq!(area(p.clone(), Some(-1.0)).unwrap_err().field, "radius_m");
        assert_eq!(area(p, None).unwrap_err().field, "radius_m");
        let off = serde_json::json!({"type": "Point", "coordinates": [29.47, 91.0]});
        assert_eq!(area(off, Some(10.0)).unwrap_err().field, "geometry.coordinates[1]");
    }

    #[test]
    fn polygons_must_be_closed_simple_and_in_range() {
        let ok = serde_json::json!({"type": "Polygon", "coordinates": [[[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 0.0]]]});
        assert!(area(ok, None).is_ok());
        let open = serde_json::json!({"type": "Polygon", "coordinates": [[[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 1.0]]]});
        assert!(area(open, None).unwrap_err().message.contains("open"));
        let bowtie = serde_json::json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]});
        assert!(area(bowtie, None).unwrap_err().message.contains("not a valid polygon"));
        let far =
            serde_json::json!({"type": "Polygon", "coordinates": [[[0.0, 0.0], [181.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]});
        assert_eq!(area(far, None).unwrap_err().field, "geometry.coordinates[0][1][0]");
        let circle_radius = serde_json::json!({"type": "Polygon", "coordinates": [[[29.0, 0.0], [30.0, 0.0], [30.0, 1.0], [29.0, 0.0]]]});
        assert_eq!(area(circle_radius, Some(3.0)).unwrap_err().field, "radius_m");
    }

    #[test]
    fn oversized_areas_are_refused() {
        let huge = serde_json::json!({"type": "Polygon", "coordinates": [[[-90.0, -60.0], [0.0, -60.0], [90.0, -60.0], [90.0, 60.0], [0.0, 60.0], [-90.0, 60.0], [-90.0, -60.0]]]});
        assert!(area(huge, None).unwrap_err().message.contains("km²"));
    }

    #[test]
    fn positions_accept_an_altitude_and_refuse_one_number() {
        let p: LonLat = serde_json::from_str("[1.0, 2.0, 300.0]").unwrap();
        assert_eq!(p, LonLat([1.0, 2.0]));
        assert!(serde_json::from_str::<LonLat>("[1.0]").is_err());
    }
}
