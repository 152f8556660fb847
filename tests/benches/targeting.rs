//! How fast the hub finds who an alert reaches: 100k and then 1M staff in East Africa, most of
//! them in a few dozen cities, the rest spread over the region; 1,000 alerts per size and area
//! kind, centred on cities. Each timing covers preparing the area and finding its recipients,
//! as the hub does for every alert.
//!
//! `cargo bench -p scaan-tests --bench targeting` — a table, then one JSON line with all figures.

use std::f64::consts::TAU;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scaan_schemas::{Area, Geometry, LonLat};
use scaan_server::targeting::{Fix, Point, StaffPlaces, TargetArea, Targeting, TripLeg};
use serde_json::json;
use uuid::Uuid;

const SEED: u64 = 20_261_122;
const SIZES: [usize; 2] = [100_000, 1_000_000];
const QUERIES: usize = 1_000;
const WARM_UP: usize = 50;
/// Queries per size and area kind whose result is checked against a person-by-person scan.
const CHECKED: usize = 2;
/// Share of the staff whose phones report between the load and the alerts.
const REPORTING: f64 = 0.1;
const KM_PER_DEGREE: f64 = 111.32;

/// Name, lon, lat, relative share of staff, spread of their positions (km).
const CITIES: &[(&str, f64, f64, f64, f64)] = &[
    ("Nairobi", 36.82, -1.29, 10.0, 9.0),
    ("Mombasa", 39.67, -4.04, 3.0, 6.0),
    ("Kisumu", 34.76, -0.09, 2.0, 5.0),
    ("Garissa", 39.65, -0.45, 1.5, 4.0),
    ("Dadaab", 40.31, 0.06, 2.0, 5.0),
    ("Kakuma", 34.86, 3.72, 2.0, 4.0),
    ("Lodwar", 35.60, 3.12, 1.0, 3.0),
    ("Kampala", 32.58, 0.35, 8.0, 8.0),
    ("Gulu", 32.30, 2.78, 2.0, 4.0),
    ("Arua", 30.91, 3.02, 1.5, 4.0),
    ("Kigali", 30.06, -1.94, 5.0, 6.0),
    ("Bujumbura", 29.36, -3.38, 3.0, 5.0),
    ("Goma", 29.22, -1.68, 5.0, 6.0),
    ("Bukavu", 28.86, -2.51, 3.0, 5.0),
    ("Beni", 29.47, 0.49, 2.5, 4.0),
    ("Bunia", 30.25, 1.56, 2.5, 4.0),
    ("Juba", 31.58, 4.86, 6.0, 7.0),
    ("Malakal", 31.66, 9.53, 1.5, 3.0),
    ("Bor", 31.56, 6.21, 1.0, 3.0),
    ("Addis Ababa", 38.75, 9.03, 9.0, 9.0),
    ("Gambela", 34.58, 8.25, 1.5, 3.0),
    ("Dire Dawa", 41.86, 9.59, 1.5, 4.0),
    ("Mekelle", 39.47, 13.50, 2.0, 4.0),
    ("Mogadishu", 45.32, 2.05, 6.0, 7.0),
    ("Baidoa", 43.65, 3.11, 2.0, 4.0),
    ("Kismayo", 42.55, -0.36, 1.5, 3.0),
    ("Hargeisa", 44.06, 9.56, 2.5, 5.0),
    ("Garowe", 48.48, 8.40, 1.0, 3.0),
    ("Dar es Salaam", 39.28, -6.79, 6.0, 9.0),
    ("Dodoma", 35.74, -6.16, 1.5, 4.0),
    ("Arusha", 36.68, -3.37, 2.5, 5.0),
    ("Mwanza", 32.90, -2.52, 2.0, 5.0),
    ("Kigoma", 29.63, -4.88, 1.5, 3.0),
    ("Djibouti", 43.15, 11.59, 2.0, 4.0),
];
/// The region the rest are spread over: west, south, east, north.
const REGION: [f64; 4] = [28.0, -12.0, 49.0, 15.0];
/// Share of staff in cities; the rest are in the field.
const IN_CITIES: f64 = 0.8;

struct City {
    centre: Point,
    spread_km: f64,
}

struct World {
    cities: Vec<City>,
    /// Running totals of the cities' shares, to draw a city by share.
    shares: Vec<f64>,
}

impl World {
    fn new() -> World {
        let mut total = 0.0;
        World {
            cities: CITIES
                .iter()
                .map(|&(_, lon, lat, _, spread_km)| City {
                    centre: Point { lon, lat },
                    spread_km,
                })
                .collect(),
            shares: CITIES
                .iter()
                .map(|c| {
                    total += c.3;
                    total
                })
                .collect(),
        }
    }

    fn city(&self, rng: &mut StdRng) -> &City {
        let total = self.shares.last().copied().unwrap_or(1.0);
        let draw = rng.gen_range(0.0..total);
        let i = self.shares.partition_point(|&s| s <= draw);
        &self.cities[i.min(self.cities.len() - 1)]
    }
}

/// A point `spread_km` (one standard deviation) around `centre`.
fn around(rng: &mut StdRng, centre: Point, spread_km: f64) -> Point {
    // Box–Muller: two independent normal draws.
    let r = (-2.0 * (1.0 - rng.gen::<f64>()).ln()).sqrt() * spread_km;
    let a = rng.gen_range(0.0..TAU);
    offset(centre, r * a.cos(), r * a.sin())
}

fn offset(centre: Point, east_km: f64, north_km: f64) -> Point {
    Point {
        lon: centre.lon + east_km / (KM_PER_DEGREE * centre.lat.to_radians().cos()),
        lat: centre.lat + north_km / KM_PER_DEGREE,
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_335_300, 0).unwrap_or_default()
}

/// One person: an office in a city, a position near it or out in the field, mostly fresh; a
/// few on a trip to another city.
fn person(world: &World, rng: &mut StdRng) -> StaffPlaces {
    let home = world.city(rng);
    let mut whereabouts = if rng.gen_bool(IN_CITIES) {
        around(rng, home.centre, home.spread_km)
    } else {
        Point {
            lon: rng.gen_range(REGION[0]..REGION[2]),
            lat: rng.gen_range(REGION[1]..REGION[3]),
        }
    };
    let mut trips = Vec::new();
    let kind = rng.gen_range(0.0..1.0);
    if kind < 0.05 {
        let away = world.city(rng);
        trips.push(TripLeg {
            destination: away.centre,
            depart_at: now() - Duration::hours(rng.gen_range(1..120)),
            return_at: now() + Duration::hours(rng.gen_range(1..120)),
            keeps_home: false,
        });
        whereabouts = around(rng, away.centre, away.spread_km);
    } else if kind < 0.10 {
        let departs = now() + Duration::hours(rng.gen_range(-2_000..2_000));
        trips.push(TripLeg {
            destination: world.city(rng).centre,
            depart_at: departs,
            return_at: departs + Duration::hours(rng.gen_range(24..200)),
            keeps_home: false,
        });
    }
    let age = match rng.gen_range(0.0..1.0) {
        x if x < 0.85 => Some(Duration::seconds(rng.gen_range(0..12 * 3600))),
        x if x < 0.95 => Some(Duration::hours(rng.gen_range(25..24 * 30))),
        _ => None,
    };
    StaffPlaces {
        position: age.map(|age| Fix {
            at: whereabouts,
            recorded_at: now() - age,
        }),
        duty_station: Some(home.centre),
        trips,
    }
}

fn circle(centre: Point, radius_m: f64) -> Area {
    Area {
        description: "benchmark circle".into(),
        geometry: Geometry::Point {
            coordinates: LonLat([centre.lon, centre.lat]),
        },
        radius_m: Some(radius_m),
    }
}

/// An irregular 1,000-vertex star about 60 km across.
fn star(rng: &mut StdRng, centre: Point) -> Area {
    const VERTICES: usize = 1_000;
    let mut ring: Vec<LonLat> = (0..VERTICES)
        .map(|i| {
            let a = TAU * i as f64 / VERTICES as f64;
            let r = if i % 2 == 0 {
                rng.gen_range(24.0..30.0)
            } else {
                rng.gen_range(15.0..22.0)
            };
            let p = offset(centre, r * a.cos(), r * a.sin());
            LonLat([p.lon, p.lat])
        })
        .collect();
    ring.push(ring[0]);
    Area {
        description: "benchmark star".into(),
        geometry: Geometry::Polygon {
            coordinates: vec![ring],
        },
        radius_m: None,
    }
}

struct Row {
    staff: usize,
    area: &'static str,
    p50_us: f64,
    p95_us: f64,
    p99_us: f64,
    prepare_p50_us: f64,
    avg_recipients: f64,
    max_recipients: usize,
}

struct Upkeep {
    staff: usize,
    load_ms: f64,
    record_fix_us: f64,
}

fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn measure(
    targeting: &Targeting,
    staff: &[Uuid],
    size: usize,
    name: &'static str,
    mut next_area: impl FnMut() -> Area,
) -> Row {
    for _ in 0..WARM_UP {
        targeting.recipients(&TargetArea::new(&next_area()), now());
    }
    for _ in 0..CHECKED {
        let area = TargetArea::new(&next_area());
        let found = targeting.recipients(&area, now()).len();
        let expected = staff.iter().filter(|u| targeting.reaches(**u, &area, now())).count();
        assert_eq!(found, expected, "{name} at {size}: the index and the rule disagree");
    }
    let areas: Vec<Area> = (0..QUERIES).map(|_| next_area()).collect();
    let mut total = Vec::with_capacity(QUERIES);
    let mut prepare = Vec::with_capacity(QUERIES);
    let mut recipients = Vec::with_capacity(QUERIES);
    for area in &areas {
        let start = Instant::now();
        let prepared = TargetArea::new(area);
        let ready = Instant::now();
        recipients.push(targeting.recipients(&prepared, now()).len());
        let done = Instant::now();
        total.push((done - start).as_secs_f64() * 1e6);
        prepare.push((ready - start).as_secs_f64() * 1e6);
    }
    total.sort_by(f64::total_cmp);
    prepare.sort_by(f64::total_cmp);
    Row {
        staff: size,
        area: name,
        p50_us: percentile(&total, 0.5),
        p95_us: percentile(&total, 0.95),
        p99_us: percentile(&total, 0.99),
        prepare_p50_us: percentile(&prepare, 0.5),
        avg_recipients: recipients.iter().sum::<usize>() as f64 / QUERIES as f64,
        max_recipients: recipients.iter().copied().max().unwrap_or(0),
    }
}

fn main() {
    let world = World::new();
    let mut rows = Vec::new();
    let mut upkeep = Vec::new();
    for size in SIZES {
        let mut rng = StdRng::seed_from_u64(SEED);
        let people: Vec<(Uuid, StaffPlaces)> = (0..size)
            .map(|_| {
                let id = uuid::Builder::from_random_bytes(rng.gen()).into_uuid();
                (id, person(&world, &mut rng))
            })
            .collect();
        let staff: Vec<Uuid> = people.iter().map(|(id, _)| *id).collect();
        let whereabouts: Vec<Point> = people
            .iter()
            .map(|(_, p)| p.position.map(|f| f.at).or(p.duty_station))
            .map(|p| p.unwrap_or(world.cities[0].centre))
            .collect();
        let targeting = Targeting::new(Duration::hours(24));
        let start = Instant::now();
        targeting.load(people);
        let load_ms = start.elapsed().as_secs_f64() * 1e3;

        // Phones reporting before the alerts, each a few hundred metres from where it was, over
        // the last minutes; the index then holds entries inserted one by one, not just bulk.
        let reports = (size as f64 * REPORTING) as usize;
        let fixes: Vec<(Uuid, Fix)> = (0..reports)
            .map(|i| {
                let who = rng.gen_range(0..staff.len());
                let fix = Fix {
                    at: around(&mut rng, whereabouts[who], 0.3),
                    recorded_at: now() - Duration::milliseconds((reports - i) as i64),
                };
                (staff[who], fix)
            })
            .collect();
        let start = Instant::now();
        for (user, fix) in fixes {
            targeting.record_fix(user, fix);
        }
        let record_fix_us = start.elapsed().as_secs_f64() * 1e6 / reports as f64;

        let mut alerts = StdRng::seed_from_u64(SEED + 1);
        rows.push(measure(&targeting, &staff, size, "circle_25km", || {
            let city = world.city(&mut alerts).centre;
            let centre = around(&mut alerts, city, 5.0);
            circle(centre, 25_000.0)
        }));
        rows.push(measure(&targeting, &staff, size, "polygon_1000v", || {
            let city = world.city(&mut alerts).centre;
            let centre = around(&mut alerts, city, 5.0);
            star(&mut alerts, centre)
        }));
        upkeep.push(Upkeep {
            staff: size,
            load_ms,
            record_fix_us,
        });
    }

    println!(
        "{:>9}  {:<14} {:>8} {:>8} {:>8} {:>11} {:>15} {:>15}",
        "staff", "area", "p50 µs", "p95 µs", "p99 µs", "prepare µs", "avg recipients", "max recipients"
    );
    for r in &rows {
        println!(
            "{:>9}  {:<14} {:>8.0} {:>8.0} {:>8.0} {:>11.0} {:>15.0} {:>15}",
            r.staff, r.area, r.p50_us, r.p95_us, r.p99_us, r.prepare_p50_us, r.avg_recipients, r.max_recipients
        );
    }
    for u in &upkeep {
        println!(
            "{:>9}  load {:.0} ms, record_fix {:.1} µs each",
            u.staff, u.load_ms, u.record_fix_us
        );
    }
    let results: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "staff": r.staff, "area": r.area, "p50_us": tenths(r.p50_us),
                "p95_us": tenths(r.p95_us), "p99_us": tenths(r.p99_us),
                "prepare_p50_us": tenths(r.prepare_p50_us),
                "avg_recipients": tenths(r.avg_recipients), "max_recipients": r.max_recipients,
            })
        })
        .collect();
    let upkeep: Vec<_> = upkeep
        .iter()
        .map(|u| {
            json!({"staff": u.staff, "load_ms": tenths(u.load_ms),
                   "record_fix_us": tenths(u.record_fix_us)})
        })
        .collect();
    let summary = json!({"bench": "targeting", "queries": QUERIES, "results": results, "upkeep": upkeep});
    println!("{summary}");
}
