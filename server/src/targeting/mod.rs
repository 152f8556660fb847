//! Targeting: which staff an alert reaches, by the contract's rule ("Who receives an alert").
//! A fresh position always wins; without one, a trip under way puts a person at its
//! destination; with neither, at the duty station. A trip under way that still waits for
//! security clearance puts them at both: the clearance is a permission, not a location, and
//! the traveller may have left or not.
//!
//! An alert's area is prepared once ([`TargetArea`]: geodesic circles in `area`, banded
//! polygons in `polygon`); every known place sits in the index (`index`: fixes in a grid of
//! cells, `grid`; duty stations and trip destinations in an R-tree of spots) behind one lock,
//! which queries share and updates hold for a few microseconds.

mod area;
mod grid;
mod index;
mod polygon;

pub use area::TargetArea;

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use index::Index;

/// Where the hub knows a staff member to be.
#[derive(Clone, Debug, Default)]
pub struct StaffPlaces {
    pub position: Option<Fix>,
    pub duty_station: Option<Point>,
    pub trips: Vec<TripLeg>,
}

/// A reported position and when the device took it.
#[derive(Clone, Copy, Debug)]
pub struct Fix {
    pub at: Point,
    pub recorded_at: DateTime<Utc>,
}

/// A trip: where to, and from when until when it is under way (`depart_at <= now < return_at`).
#[derive(Clone, Copy, Debug)]
pub struct TripLeg {
    pub destination: Point,
    pub depart_at: DateTime<Utc>,
    pub return_at: DateTime<Utc>,
    /// Waiting for clearance: under way, it places the traveller at the destination without
    /// taking them from their duty station.
    pub keeps_home: bool,
}

/// WGS84 degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub lon: f64,
    pub lat: f64,
}

impl Point {
    /// On the globe (and not NaN); no other point is indexed or reached.
    fn is_valid(self) -> bool {
        self.lon.abs() <= 180.0 && self.lat.abs() <= 90.0
    }
}

impl StaffPlaces {
    /// The contract's rule for one person, from scratch.
    fn is_reached(&self, area: &TargetArea, at: Moment) -> bool {
        if let Some(fix) = self.position.filter(|f| at.is_fresh(micros(f.recorded_at))) {
            return area.contains(fix.at);
        }
        let at_destination = self
            .trips
            .iter()
            .any(|t| at.is_during(t) && area.contains(t.destination));
        at_destination || (!self.is_away(at) && self.duty_station.is_some_and(|p| area.contains(p)))
    }

    /// Under way on a trip that takes the person from their duty station.
    fn is_away(&self, at: Moment) -> bool {
        self.trips.iter().any(|t| at.is_during(t) && !t.keeps_home)
    }
}

/// Times in the index are microseconds since the epoch; this one stands for "no fix".
const NO_FIX: i64 = i64::MIN;

/// The time of a query, and the oldest fix still fresh then.
#[derive(Clone, Copy)]
struct Moment {
    now: i64,
    fresh_since: i64,
}

impl Moment {
    fn new(now: DateTime<Utc>, freshness: Duration) -> Moment {
        let now = micros(now);
        let window = freshness.num_microseconds().unwrap_or(i64::MAX);
        Moment {
            now,
            // However long the window, having no fix is never fresh.
            fresh_since: now.saturating_sub(window).max(NO_FIX + 1),
        }
    }

    fn is_fresh(self, recorded_at: i64) -> bool {
        recorded_at >= self.fresh_since
    }

    fn is_within(self, from: i64, until: i64) -> bool {
        from <= self.now && self.now < until
    }

    fn is_during(self, trip: &TripLeg) -> bool {
        self.is_within(micros(trip.depart_at), micros(trip.return_at))
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The live index of every staff member's places; shared by the hub.
pub struct Targeting {
    freshness: Duration,
    index: RwLock<Index>,
}

impl Targeting {
    pub fn new(freshness: Duration) -> Self {
        Targeting {
            freshness,
            index: RwLock::new(Index::default()),
        }
    }

    /// Replaces everything (start-up: built from the database), with a bulk load.
    pub fn load(&self, staff: impl IntoIterator<Item = (Uuid, StaffPlaces)>) {
        let index = Index::build(staff.into_iter().collect::<HashMap<_, _>>());
        // The old index is dropped after the lock is released.
        let _old = std::mem::replace(&mut *self.write(), index);
    }

    /// Records a position fix; an older fix than the one held is ignored (returns false), and
    /// so is a point off the globe.
    pub fn record_fix(&self, user: Uuid, fix: Fix) -> bool {
        if !fix.at.is_valid() {
            return false;
        }
        let mut index = self.write();
        let held = index.places(user).and_then(|p| p.position);
        if held.is_some_and(|held| held.recorded_at > fix.recorded_at) {
            return false;
        }
        index.change(user, |p| p.position = Some(fix));
        true
    }

    pub fn set_duty_station(&self, user: Uuid, station: Option<Point>) {
        self.write().change(user, |p| p.duty_station = station);
    }

    pub fn set_trips(&self, user: Uuid, trips: Vec<TripLeg>) {
        self.write().change(user, |p| p.trips = trips);
    }

    pub fn forget(&self, user: Uuid) {
        self.write().forget(user);
    }

    /// Everyone the area reaches at `now`, by the contract's rule. Order unspecified, no
    /// duplicates.
    pub fn recipients(&self, area: &TargetArea, now: DateTime<Utc>) -> Vec<Uuid> {
        let at = Moment::new(now, self.freshness);
        self.read().recipients(area, at)
    }

    /// Whether this one person is reached (for late arrivals).
    pub fn reaches(&self, user: Uuid, area: &TargetArea, now: DateTime<Utc>) -> bool {
        let at = Moment::new(now, self.freshness);
        self.read().places(user).is_some_and(|p| p.is_reached(area, at))
    }

    /// Staff known.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A writer that panicked left at worst one person's places out of step; targeting
    // everyone else is better than taking the hub down with it.
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Destination, Geodesic};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use scaan_schemas::{Area, Geometry, LonLat};
    use std::collections::HashSet;

    const NAIROBI: Point = Point { lon: 36.82, lat: -1.29 };
    const KAMPALA: Point = Point { lon: 32.58, lat: 0.35 };

    fn now() -> DateTime<Utc> {
        "2026-11-22T08:15:00Z".parse().expect("a time")
    }

    fn hours(h: i64) -> Duration {
        Duration::hours(h)
    }

    fn circle(centre: Point, radius_m: f64) -> TargetArea {
        TargetArea::new(&Area {
            description: "test".into(),
            geometry: Geometry::Point {
                coordinates: LonLat([centre.lon, centre.lat]),
            },
            radius_m: Some(radius_m),
        })
    }

    fn fix(at: Point, age: Duration) -> Fix {
        Fix {
            at,
            recorded_at: now() - age,
        }
    }

    fn trip(to: Point, departed: Duration, returns_in: Duration) -> TripLeg {
        TripLeg {
            destination: to,
            depart_at: now() - departed,
            return_at: now() + returns_in,
            keeps_home: false,
        }
    }

    fn targeting() -> Targeting {
        Targeting::new(hours(24))
    }

    fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
        ids.sort();
        ids
    }

    /// Checks `recipients` against `reaches` for one area, and the index against the places.
    fn assert_consistent(t: &Targeting, area: &TargetArea, at: DateTime<Utc>) -> Vec<Uuid> {
        let found = t.recipients(area, at);
        let unique: HashSet<Uuid> = found.iter().copied().collect();
        assert_eq!(unique.len(), found.len(), "duplicates in {found:?}");
        let known = {
            let index = t.read();
            index.assert_consistent();
            index.users()
        };
        let expected: HashSet<Uuid> = known.into_iter().filter(|u| t.reaches(*u, area, at)).collect();
        assert_eq!(unique, expected);
        found
    }

    #[test]
    fn a_fresh_fix_wins_over_trip_and_duty_station() {
        let t = targeting();
        let user = Uuid::new_v4();
        t.set_duty_station(user, Some(NAIROBI));
        t.set_trips(user, vec![trip(NAIROBI, hours(2), hours(48))]);
        t.record_fix(user, fix(KAMPALA, hours(1)));
        assert_eq!(t.recipients(&circle(KAMPALA, 10_000.0), now()), vec![user]);
        assert!(t.recipients(&circle(NAIROBI, 10_000.0), now()).is_empty());
        assert!(t.reaches(user, &circle(KAMPALA, 10_000.0), now()));
        assert!(!t.reaches(user, &circle(NAIROBI, 10_000.0), now()));
    }

    #[test]
    fn a_stale_fix_falls_back_to_the_trip_then_the_duty_station() {
        let t = targeting();
        let user = Uuid::new_v4();
        let goma = Point { lon: 29.22, lat: -1.68 };
        t.set_duty_station(user, Some(NAIROBI));
        t.record_fix(user, fix(goma, hours(25)));
        t.set_trips(user, vec![trip(KAMPALA, hours(2), hours(48))]);
        assert!(t.recipients(&circle(goma, 10_000.0), now()).is_empty());
        assert_eq!(t.recipients(&circle(KAMPALA, 10_000.0), now()), vec![user]);
        assert!(t.recipients(&circle(NAIROBI, 10_000.0), now()).is_empty());
        t.set_trips(user, vec![]);
        assert_eq!(t.recipients(&circle(NAIROBI, 10_000.0), now()), vec![user]);
        // Exactly as old as the window is still fresh.
        t.record_fix(user, fix(goma, hours(24)));
        assert_eq!(t.recipients(&circle(goma, 10_000.0), now()), vec![user]);
        assert!(t.recipients(&circle(NAIROBI, 10_000.0), now()).is_empty());
    }

    #[test]
    fn only_a_trip_under_way_counts() {
        let t = targeting();
        let user = Uuid::new_v4();
        t.set_duty_station(user, Some(NAIROBI));
        let cases = [
            (trip(KAMPALA, -hours(1), hours(48)), false),        // not started
            (trip(KAMPALA, hours(48), -hours(1)), false),        // over
            (trip(KAMPALA, hours(48), Duration::zero()), false), // returned just now
            (trip(KAMPALA, Duration::zero(), hours(1)), true),   // departed just now
        ];
        for (leg, under_way) in cases {
            t.set_trips(user, vec![leg]);
            let at_destination = !t.recipients(&circle(KAMPALA, 10_000.0), now()).is_empty();
            let at_home = !t.recipients(&circle(NAIROBI, 10_000.0), now()).is_empty();
            assert_eq!((at_destination, at_home), (under_way, !under_way), "{leg:?}");
        }
    }

    #[test]
    fn a_traveller_is_not_reached_at_home() {
        let t = targeting();
        let user = Uuid::new_v4();
        t.set_duty_station(user, Some(NAIROBI));
        // The destination is off the globe, so only the trip's dates matter.
        let nowhere = Point { lon: 200.0, lat: 0.0 };
        t.set_trips(
            user,
            vec![
                trip(KAMPALA, hours(100), hours(-90)),
                trip(nowhere, hours(1), hours(1)),
                trip(KAMPALA, hours(-10), hours(20)),
            ],
        );
        assert!(t.recipients(&circle(NAIROBI, 50_000.0), now()).is_empty());
        assert!(t.recipients(&circle(KAMPALA, 50_000.0), now()).is_empty());
        assert!(!t.reaches(user, &circle(NAIROBI, 50_000.0), now()));
        // Between the trips the duty station counts again.
        let between = now() + hours(5);
        assert_eq!(t.recipients(&circle(NAIROBI, 50_000.0), between), vec![user]);
    }

    #[test]
    fn a_trip_waiting_for_clearance_reaches_the_traveller_at_both_places_once() {
        let t = targeting();
        let user = Uuid::new_v4();
        t.set_duty_station(user, Some(NAIROBI));
        let waiting = TripLeg {
            keeps_home: true,
            ..trip(KAMPALA, hours(1), hours(48))
        };
        t.set_trips(user, vec![waiting]);
        assert_eq!(assert_consistent(&t, &circle(KAMPALA, 5_000.0), now()), [user]);
        assert_eq!(assert_consistent(&t, &circle(NAIROBI, 5_000.0), now()), [user]);
        // An area over both places reaches them once.
        let both = circle(
            Point {
                lon: (NAIROBI.lon + KAMPALA.lon) / 2.0,
                lat: (NAIROBI.lat + KAMPALA.lat) / 2.0,
            },
            400_000.0,
        );
        assert_eq!(assert_consistent(&t, &both, now()), [user]);
        // Not yet under way: home only.
        let later = TripLeg {
            keeps_home: true,
            ..trip(KAMPALA, -hours(1), hours(48))
        };
        t.set_trips(user, vec![later]);
        assert!(assert_consistent(&t, &circle(KAMPALA, 5_000.0), now()).is_empty());
    }

    #[test]
    fn two_trips_at_once_reach_a_person_once() {
        let t = targeting();
        let user = Uuid::new_v4();
        let near = |m| {
            let p = Geodesic.destination(geo::Point::new(KAMPALA.lon, KAMPALA.lat), 0.0, m);
            Point { lon: p.x(), lat: p.y() }
        };
        t.set_trips(
            user,
            vec![
                trip(near(1_000.0), hours(1), hours(1)),
                trip(near(2_000.0), hours(2), hours(2)),
            ],
        );
        assert_eq!(t.recipients(&circle(KAMPALA, 10_000.0), now()), vec![user]);
    }

    #[test]
    fn moving_and_forgetting_leave_nothing_behind() {
        let t = targeting();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        t.record_fix(a, fix(NAIROBI, hours(1)));
        t.record_fix(b, fix(NAIROBI, hours(1)));
        t.set_duty_station(a, Some(NAIROBI));
        let here = circle(NAIROBI, 10_000.0);
        assert_eq!(sorted(assert_consistent(&t, &here, now())), sorted(vec![a, b]));
        assert!(t.record_fix(a, fix(KAMPALA, Duration::minutes(5))));
        assert_eq!(assert_consistent(&t, &here, now()), vec![b]);
        // An older fix does not move anyone back.
        assert!(!t.record_fix(a, fix(NAIROBI, hours(2))));
        assert_eq!(assert_consistent(&t, &here, now()), vec![b]);
        t.set_duty_station(a, Some(KAMPALA));
        t.forget(b);
        assert!(assert_consistent(&t, &here, now()).is_empty());
        assert_eq!(t.len(), 1);
        t.read().assert_consistent();
        t.forget(a);
        assert!(t.is_empty());
        assert!(t.read().is_bare());
    }

    #[test]
    fn load_replaces_everything() {
        let t = targeting();
        let old = Uuid::new_v4();
        t.record_fix(old, fix(NAIROBI, hours(1)));
        let new = Uuid::new_v4();
        let places = StaffPlaces {
            duty_station: Some(NAIROBI),
            ..StaffPlaces::default()
        };
        t.load([(new, places)]);
        assert_eq!(t.recipients(&circle(NAIROBI, 10_000.0), now()), vec![new]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_circle_across_the_antimeridian_finds_people_on_both_sides() {
        let t = targeting();
        let centre = Point { lon: 179.9, lat: -17.0 };
        let (east, west, far) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        t.record_fix(
            east,
            fix(
                Point {
                    lon: -179.95,
                    lat: -17.05,
                },
                hours(1),
            ),
        );
        t.record_fix(
            west,
            fix(
                Point {
                    lon: 179.8,
                    lat: -16.95,
                },
                hours(1),
            ),
        );
        t.record_fix(
            far,
            fix(
                Point {
                    lon: -179.5,
                    lat: -17.0,
                },
                hours(1),
            ),
        );
        let found = assert_consistent(&t, &circle(centre, 30_000.0), now());
        assert_eq!(sorted(found), sorted(vec![east, west]));
    }

    #[test]
    fn a_fix_off_the_globe_is_refused() {
        let t = targeting();
        let user = Uuid::new_v4();
        for at in [
            Point { lon: 200.0, lat: 0.0 },
            Point {
                lon: 0.0,
                lat: f64::NAN,
            },
        ] {
            assert!(!t.record_fix(user, fix(at, hours(1))));
        }
        assert!(t.is_empty());
    }

    #[test]
    fn readers_and_writers_share_one_index() {
        let t = targeting();
        let here = circle(NAIROBI, 20_000.0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for i in 0..500 {
                        t.record_fix(Uuid::new_v4(), fix(NAIROBI, Duration::seconds(i)));
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..50 {
                    assert!(t.recipients(&here, now()).len() <= 1_000);
                }
            });
        });
        assert_eq!(t.recipients(&here, now()).len(), 1_000);
        t.read().assert_consistent();
    }

    /// Random people, places and times, checked against the rule one person at a time.
    #[test]
    fn recipients_follow_the_rule_for_everyone() {
        let mut rng = StdRng::seed_from_u64(5);
        let near = |rng: &mut StdRng, c: Point| Point {
            lon: c.lon + rng.gen_range(-0.3..0.3),
            lat: c.lat + rng.gen_range(-0.3..0.3),
        };
        let some_time = |rng: &mut StdRng| now() + Duration::minutes(rng.gen_range(-4_000..4_000));
        let somewhere = |rng: &mut StdRng| {
            let city = if rng.gen_bool(0.5) { NAIROBI } else { KAMPALA };
            near(rng, city)
        };
        let t = targeting();
        let mut staff = Vec::new();
        for _ in 0..3_000 {
            let c = if rng.gen_bool(0.5) { NAIROBI } else { KAMPALA };
            let mut places = StaffPlaces::default();
            if rng.gen_bool(0.8) {
                places.position = Some(Fix {
                    at: near(&mut rng, c),
                    recorded_at: some_time(&mut rng),
                });
            }
            if rng.gen_bool(0.8) {
                places.duty_station = Some(if rng.gen_bool(0.5) { c } else { near(&mut rng, c) });
            }
            for _ in 0..rng.gen_range(0..3) {
                let depart_at = some_time(&mut rng);
                places.trips.push(TripLeg {
                    destination: somewhere(&mut rng),
                    depart_at,
                    return_at: depart_at + Duration::minutes(rng.gen_range(0..3_000)),
                    keeps_home: rng.gen_bool(0.3),
                });
            }
            staff.push((Uuid::new_v4(), places));
        }
        t.load(staff.clone());
        // Then change a third of them one call at a time.
        for (user, _) in staff.iter().step_by(3) {
            match rng.gen_range(0..4) {
                0 => {
                    t.record_fix(
                        *user,
                        Fix {
                            at: near(&mut rng, NAIROBI),
                            recorded_at: some_time(&mut rng),
                        },
                    );
                }
                1 => t.set_duty_station(*user, Some(near(&mut rng, KAMPALA))),
                2 => t.set_trips(*user, vec![]),
                _ => t.forget(*user),
            }
        }
        let star = |c: Point| {
            let ring: Vec<LonLat> = (0..=200)
                .map(|i| {
                    let a = std::f64::consts::TAU * f64::from(i % 200) / 200.0;
                    let r = if i % 2 == 0 { 0.25 } else { 0.12 };
                    LonLat([c.lon + r * a.cos(), c.lat + r * a.sin()])
                })
                .collect();
            TargetArea::new(&Area {
                description: "star".into(),
                geometry: Geometry::Polygon {
                    coordinates: vec![ring],
                },
                radius_m: None,
            })
        };
        let mut total = 0;
        for _ in 0..20 {
            let at = some_time(&mut rng);
            let c = somewhere(&mut rng);
            total += assert_consistent(&t, &circle(c, rng.gen_range(1_000.0..30_000.0)), at).len();
            total += assert_consistent(&t, &star(c), at).len();
        }
        assert!(total > 1_000, "too few reached to tell: {total}");
    }
}
