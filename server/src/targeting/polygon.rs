//! Point-in-polygon for alert areas with many vertices, in planar lon/lat.
//!
//! Plain ray casting costs a look at every edge for every point. Here the area's latitude range
//! is cut into horizontal bands, and each band into spans along the longitude axis: a span is a
//! run of edges whose stretches inside the band overlap, and between spans lie gaps no edge
//! enters, each wholly inside or wholly outside. A point in a gap is answered from the gap; a
//! point in a span casts its ray west only across that span's edges. Even–odd over every ring of
//! every polygon, which is sound because a valid area's rings never cross.

use std::ops::Range;

use geo::MultiPolygon;

use super::area::Overlap;

pub(super) struct BandedPolygons {
    south: f64,
    north: f64,
    bands_per_degree: f64,
    band_count: usize,
    /// For each band, its spans (west to east) in `spans`.
    bands: Vec<Range<usize>>,
    spans: Vec<Span>,
    /// Each span's edges, contiguous and west to east: where each starts within the band, and
    /// its index into `edges`.
    span_edges: Vec<(f64, u32)>,
    edges: Vec<Edge>,
}

struct Span {
    west: f64,
    east: f64,
    /// Whether the gap just west of the span is inside the area.
    inside_west: bool,
    edges: Range<usize>,
}

/// A non-horizontal edge, from its southern end.
#[derive(Clone, Copy)]
struct Edge {
    south: f64,
    north: f64,
    lon_at_south: f64,
    lon_per_lat: f64,
}

impl Edge {
    fn new(a: geo::Coord, b: geo::Coord) -> Option<Edge> {
        let (s, n) = if a.y < b.y { (a, b) } else { (b, a) };
        (s.y < n.y).then(|| Edge {
            south: s.y,
            north: n.y,
            lon_at_south: s.x,
            lon_per_lat: (n.x - s.x) / (n.y - s.y),
        })
    }

    fn lon_at(&self, lat: f64) -> f64 {
        self.lon_at_south + (lat - self.south) * self.lon_per_lat
    }

    /// Whether the edge crosses the parallel at `lat`, counting its southern end but not its
    /// northern one, so that a ray through a vertex counts it once.
    fn spans_lat(&self, lat: f64) -> bool {
        self.south <= lat && lat < self.north
    }
}

/// Bands are sized so that the index holds about this many edge copies per edge.
const COPIES_PER_EDGE: f64 = 4.0;
const MAX_BANDS: usize = 4096;

impl BandedPolygons {
    /// `None` when the shape encloses nothing (no edge that is not horizontal).
    pub(super) fn new(shape: &MultiPolygon) -> Option<BandedPolygons> {
        let edges: Vec<Edge> = shape
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
            .flat_map(|ring| ring.lines())
            .filter_map(|line| Edge::new(line.start, line.end))
            .filter(|e| e.south.is_finite() && e.north.is_finite() && e.lon_per_lat.is_finite())
            .collect();
        let south = edges.iter().map(|e| e.south).fold(f64::INFINITY, f64::min);
        let north = edges.iter().map(|e| e.north).fold(f64::NEG_INFINITY, f64::max);
        if edges.is_empty() || south >= north {
            return None;
        }
        // Thin bands keep spans short, but an edge is copied into every band it crosses: aim
        // for a fixed number of copies whatever the shape (a spiky star crosses many bands).
        let height = north - south;
        let extent: f64 = edges.iter().map(|e| e.north - e.south).sum();
        let wanted = COPIES_PER_EDGE * edges.len() as f64 * height / extent;
        let band_count = (wanted as usize).clamp(1, MAX_BANDS);
        let mut index = BandedPolygons {
            south,
            north,
            bands_per_degree: band_count as f64 / height,
            band_count,
            bands: Vec::with_capacity(band_count),
            spans: Vec::new(),
            span_edges: Vec::new(),
            edges,
        };

        // Which edges reach each band, widened by a hair so that rounding in `band_of` never
        // puts a point in a band that misses an edge it should see. (An area has far fewer
        // than 2³² edges: validation allows 20,000 vertices.)
        let band_height = height / band_count as f64;
        let pad = band_height * 1e-6;
        let mut reaching: Vec<Vec<u32>> = vec![Vec::new(); band_count];
        for (i, e) in index.edges.iter().enumerate() {
            let bands = index.band_of(e.south - pad)..=index.band_of(e.north + pad);
            for band in &mut reaching[bands] {
                band.push(i as u32);
            }
        }

        index.span_edges.reserve_exact(reaching.iter().map(Vec::len).sum());
        let mut stretches = Vec::new();
        for (band, reaching) in reaching.iter().enumerate() {
            let low = south + band as f64 * band_height - pad;
            let high = south + (band + 1) as f64 * band_height + pad;
            // Each edge's longitude range while inside the band.
            stretches.clear();
            stretches.extend(reaching.iter().map(|&i| {
                let e = &index.edges[i as usize];
                let (a, b) = (e.lon_at(e.south.max(low)), e.lon_at(e.north.min(high)));
                (a.min(b) - pad, a.max(b) + pad, i)
            }));
            stretches.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let first_span = index.spans.len();
            let mid = south + (band as f64 + 0.5) * band_height;
            let mut inside = false;
            let mut queue = stretches.iter().peekable();
            while let Some(&(west, mut east, edge)) = queue.next() {
                let first_edge = index.span_edges.len();
                index.span_edges.push((west, edge));
                while let Some(&&(next_west, next_east, next)) = queue.peek() {
                    if next_west > east {
                        break;
                    }
                    east = east.max(next_east);
                    index.span_edges.push((next_west, next));
                    queue.next();
                }
                let span = Span {
                    west,
                    east,
                    inside_west: inside,
                    edges: first_edge..index.span_edges.len(),
                };
                // Gaps hold no edge, so the status east of the span holds for the whole band;
                // read it where the band's middle crosses the span.
                let crossings = index.edges_of(&span).filter(|e| e.spans_lat(mid)).count();
                inside ^= crossings % 2 == 1;
                index.spans.push(span);
            }
            index.bands.push(first_span..index.spans.len());
        }
        Some(index)
    }

    fn edges_of<'a>(&'a self, span: &Span) -> impl Iterator<Item = &'a Edge> + 'a {
        self.span_edges[span.edges.clone()]
            .iter()
            .map(|&(_, i)| &self.edges[i as usize])
    }

    fn band_of(&self, lat: f64) -> usize {
        let band = ((lat - self.south) * self.bands_per_degree).max(0.0) as usize;
        band.min(self.band_count - 1)
    }

    /// `Inside` or `Outside` when, in every band the box reaches, it lies within one gap, and
    /// all those gaps are inside or all outside.
    pub(super) fn overlap(&self, west: f64, south: f64, east: f64, north: f64) -> Overlap {
        if north < self.south || south >= self.north {
            return Overlap::Outside;
        }
        if south < self.south || north >= self.north {
            return Overlap::Partly;
        }
        let mut all_inside = None;
        for band in self.band_of(south)..=self.band_of(north) {
            let spans = &self.spans[self.bands[band].clone()];
            let i = spans.partition_point(|s| s.east < west);
            let inside = match spans.get(i) {
                None => false,
                Some(span) if east < span.west => span.inside_west,
                Some(_) => return Overlap::Partly,
            };
            if all_inside.is_some_and(|all| all != inside) {
                return Overlap::Partly;
            }
            all_inside = Some(inside);
        }
        if all_inside == Some(true) {
            Overlap::Inside
        } else {
            Overlap::Outside
        }
    }

    pub(super) fn contains(&self, lon: f64, lat: f64) -> bool {
        if !(self.south <= lat && lat < self.north) {
            return false;
        }
        let spans = &self.spans[self.bands[self.band_of(lat)].clone()];
        let i = spans.partition_point(|s| s.east < lon);
        let Some(span) = spans.get(i) else {
            return false;
        };
        if lon < span.west {
            return span.inside_west;
        }
        // Edges that start east of the point cannot cross its ray west.
        let crossings = self.span_edges[span.edges.clone()]
            .iter()
            .take_while(|&&(west, _)| west < lon)
            .map(|&(_, i)| &self.edges[i as usize])
            .filter(|e| e.spans_lat(lat) && e.lon_at(lat) < lon)
            .count();
        span.inside_west ^ (crossings % 2 == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, LineString, Polygon};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::f64::consts::TAU;

    /// A star-shaped ring around `(lon, lat)`: a vertex at a random angle in each of
    /// `vertices` equal sectors, at a radius drawn from `radii`. Simple whatever the draws,
    /// because the angles only increase.
    fn star(rng: &mut StdRng, lon: f64, lat: f64, vertices: usize, radii: Range<f64>) -> LineString {
        let sector = TAU / vertices as f64;
        LineString::from(
            (0..vertices)
                .map(|i| {
                    let a = (i as f64 + rng.gen_range(0.0..1.0)) * sector;
                    let r = rng.gen_range(radii.clone());
                    (lon + r * a.cos(), lat + r * a.sin())
                })
                .collect::<Vec<_>>(),
        )
    }

    fn assert_agrees_with_geo(shape: &MultiPolygon, rng: &mut StdRng, samples: usize) {
        let index = BandedPolygons::new(shape).expect("a shape with area");
        let bounds = geo::BoundingRect::bounding_rect(shape).expect("bounds");
        let (min, max) = (bounds.min(), bounds.max());
        let mut inside = 0;
        for _ in 0..samples {
            let lon = rng.gen_range(min.x - 0.1..max.x + 0.1);
            let lat = rng.gen_range(min.y - 0.1..max.y + 0.1);
            let expected = shape.contains(&geo::Point::new(lon, lat));
            assert_eq!(index.contains(lon, lat), expected, "({lon}, {lat})");
            inside += usize::from(expected);
        }
        assert!(inside > samples / 20, "the sample hardly touched the shape");
    }

    #[test]
    fn agrees_with_geo_on_a_spiky_star() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..5 {
            let ring = star(&mut rng, 36.8, -1.3, 1_000, 0.1..0.3);
            let shape = MultiPolygon(vec![Polygon::new(ring, vec![])]);
            assert_agrees_with_geo(&shape, &mut rng, 5_000);
        }
    }

    #[test]
    fn agrees_with_geo_on_holes_and_several_polygons() {
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..5 {
            let vertices = rng.gen_range(30..300);
            let outer = star(&mut rng, 30.0, 0.0, vertices, 1.0..2.0);
            let hole = star(&mut rng, 30.0, 0.0, vertices, 0.2..0.9);
            let other = star(&mut rng, 34.0, 1.0, 40, 0.5..1.5);
            let shape = MultiPolygon(vec![Polygon::new(outer, vec![hole]), Polygon::new(other, vec![])]);
            assert_agrees_with_geo(&shape, &mut rng, 5_000);
        }
    }

    #[test]
    fn agrees_with_geo_on_few_vertices() {
        let mut rng = StdRng::seed_from_u64(3);
        for vertices in [3, 4, 5, 8] {
            let ring = star(&mut rng, -70.0, 45.0, vertices, 0.5..3.0);
            let shape = MultiPolygon(vec![Polygon::new(ring, vec![])]);
            assert_agrees_with_geo(&shape, &mut rng, 2_000);
        }
    }

    #[test]
    fn boxes_called_inside_or_outside_are() {
        let mut rng = StdRng::seed_from_u64(4);
        let ring = star(&mut rng, 36.8, -1.3, 1_000, 0.1..0.3);
        let shape = MultiPolygon(vec![Polygon::new(ring, vec![])]);
        let index = BandedPolygons::new(&shape).expect("a star");
        let mut decided = [0, 0];
        for _ in 0..5_000 {
            let (west, south) = (rng.gen_range(36.4..37.2), rng.gen_range(-1.7..-0.9));
            let size = rng.gen_range(0.0..0.05);
            let (east, north) = (west + size, south + size);
            let inside = match index.overlap(west, south, east, north) {
                Overlap::Partly => continue,
                Overlap::Inside => true,
                Overlap::Outside => false,
            };
            decided[usize::from(inside)] += 1;
            for _ in 0..20 {
                let lon = rng.gen_range(west..=east);
                let lat = rng.gen_range(south..=north);
                assert_eq!(shape.contains(&geo::Point::new(lon, lat)), inside);
            }
        }
        assert!(decided[0] > 500 && decided[1] > 100, "{decided:?}");
    }

    #[test]
    fn the_edges_of_the_bounds_are_outside() {
        let square = MultiPolygon(vec![Polygon::new(
            LineString::from(vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]),
            vec![],
        )]);
        let index = BandedPolygons::new(&square).expect("a square");
        assert!(index.contains(0.5, 0.5));
        assert!(!index.contains(0.5, 1.0));
        assert!(!index.contains(0.5, -1e-12));
        assert!(!index.contains(1.5, 0.5));
        assert!(!index.contains(-0.5, 0.5));
        assert!(!index.contains(f64::NAN, 0.5));
        assert!(!index.contains(0.5, f64::NAN));
    }
}
