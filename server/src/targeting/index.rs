//! The index behind [`Targeting`](super::Targeting).
//!
//! Each fix is filed in a grid ([`FixGrid`]) with its time, so that a query settles it on the
//! spot. Duty stations and trip destinations are different: thousands of people share an
//! office or a city centre to the last digit. They are grouped by exact point into spots, kept
//! in a small R-tree; a spot's members are ordered by their last fix, so a query walks
//! only the members without a fresh one (the only people a duty station or trip can place),
//! and a new fix moves one member instead of searching a crowd of identical points.

use std::collections::{BTreeSet, HashMap, HashSet};

use rstar::{ParentNode, RTree, RTreeNode, RTreeObject, AABB};
use uuid::Uuid;

use super::area::{Overlap, TargetArea};
use super::grid::FixGrid;
use super::{micros, Moment, Point, StaffPlaces, TripLeg, NO_FIX};

#[derive(Default)]
pub(super) struct Index {
    fixes: FixGrid,
    spots: RTree<SpotEntry>,
    members: HashMap<SpotKey, Spot>,
    staff: HashMap<Uuid, StaffPlaces>,
}

/// Someone's last fix.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FixEntry {
    at: Point,
    user: Uuid,
    recorded_at: i64,
}

/// A point that is someone's duty station or trip destination.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SpotEntry {
    at: Point,
}

impl RTreeObject for SpotEntry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        AABB::from_point([self.at.lon, self.at.lat])
    }
}

/// Calls `visit` with every entry under `node` that may lie in the area, and whether it surely
/// does: whole subtrees inside the area are taken without a test per point.
pub(super) fn walk<T, V>(node: &ParentNode<T>, area: &TargetArea, surely: bool, visit: &mut V)
where
    T: RTreeObject<Envelope = AABB<[f64; 2]>>,
    V: FnMut(&T, bool),
{
    for child in node.children() {
        match child {
            RTreeNode::Leaf(entry) => visit(entry, surely),
            RTreeNode::Parent(inner) if surely => walk(inner, area, true, visit),
            RTreeNode::Parent(inner) => match area.overlap(&inner.envelope()) {
                Overlap::Inside => walk(inner, area, true, visit),
                Overlap::Partly => walk(inner, area, false, visit),
                Overlap::Outside => {}
            },
        }
    }
}

/// A spot's exact point, as bits.
type SpotKey = [u64; 2];

fn key(p: Point) -> SpotKey {
    [p.lon.to_bits(), p.lat.to_bits()]
}

/// -0.0 and 0.0 are one place, so they must make one spot.
fn normal(p: Point) -> Point {
    Point {
        lon: p.lon + 0.0,
        lat: p.lat + 0.0,
    }
}

/// Everyone whose duty station or trip destination is exactly this point.
#[derive(Default)]
struct Spot {
    members: BTreeSet<Member>,
}

/// One person's tie to a spot, ordered by their last fix first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Member {
    fix_at: i64,
    user: Uuid,
    role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// `away_from..away_until` spans all the person's trips: outside it none is under way;
    /// inside it, one surely is when the trips leave no gap between them.
    Duty {
        away_from: i64,
        away_until: i64,
        gapless: bool,
    },
    Trip {
        depart_at: i64,
        return_at: i64,
        /// Waiting for clearance: the duty station still counts too.
        keeps_home: bool,
    },
}

impl Member {
    /// Less than every member whose fix was recorded at `fix_at` or later.
    fn first_at(fix_at: i64) -> Member {
        Member {
            fix_at,
            user: Uuid::nil(),
            role: Role::Duty {
                away_from: i64::MIN,
                away_until: i64::MIN,
                gapless: false,
            },
        }
    }
}

/// What one person puts in the index.
#[derive(Default)]
struct Placements {
    fix: Option<FixEntry>,
    memberships: Vec<(Point, Member)>,
}

/// When a person is away: from the first departure to the last return, and whether the
/// trips leave no gap in between.
fn away(trips: &[TripLeg]) -> (i64, i64, bool) {
    let mut windows: Vec<(i64, i64)> = trips
        .iter()
        .filter(|t| !t.keeps_home)
        .map(|t| (micros(t.depart_at), micros(t.return_at)))
        .filter(|(depart, back)| depart < back)
        .collect();
    windows.sort_unstable();
    let from = windows.first().map_or(i64::MAX, |w| w.0);
    let mut until = i64::MIN;
    let mut gapless = true;
    for (depart, back) in windows {
        gapless &= until == i64::MIN || depart <= until;
        until = until.max(back);
    }
    (from, until, gapless)
}

fn placements(user: Uuid, places: &StaffPlaces) -> Placements {
    let fix_at = places.position.map_or(NO_FIX, |f| micros(f.recorded_at));
    let fix = places.position.filter(|f| f.at.is_valid()).map(|f| FixEntry {
        at: f.at,
        user,
        recorded_at: fix_at,
    });
    let (away_from, away_until, gapless) = away(&places.trips);
    let member = |role| Member { fix_at, user, role };
    let duty = places.duty_station.map(|p| {
        let role = Role::Duty {
            away_from,
            away_until,
            gapless,
        };
        (p, member(role))
    });
    let trips = places.trips.iter().map(|t| {
        let role = Role::Trip {
            depart_at: micros(t.depart_at),
            return_at: micros(t.return_at),
            keeps_home: t.keeps_home,
        };
        (t.destination, member(role))
    });
    Placements {
        fix,
        // A place off the globe is in no area, so it needs no spot.
        memberships: duty
            .into_iter()
            .chain(trips)
            .filter(|(p, _)| p.is_valid())
            .map(|(p, m)| (normal(p), m))
            .collect(),
    }
}

impl Index {
    pub(super) fn build(staff: HashMap<Uuid, StaffPlaces>) -> Index {
        let mut fixes = Vec::with_capacity(staff.len());
        let mut gathered: HashMap<SpotKey, Vec<Member>> = HashMap::new();
        for (user, places) in &staff {
            let placed = placements(*user, places);
            fixes.extend(placed.fix);
            for (at, member) in placed.memberships {
                gathered.entry(key(at)).or_default().push(member);
            }
        }
        // Collecting a whole set at once lays its nodes out in order, so that a query walks
        // memory in sequence rather than at random.
        let members: HashMap<SpotKey, Spot> = gathered
            .into_iter()
            .map(|(k, members)| {
                (
                    k,
                    Spot {
                        members: members.into_iter().collect(),
                    },
                )
            })
            .collect();
        let spots = members
            .keys()
            .map(|k| SpotEntry {
                at: Point {
                    lon: f64::from_bits(k[0]),
                    lat: f64::from_bits(k[1]),
                },
            })
            .collect();
        Index {
            fixes: FixGrid::build(fixes.into_iter().map(|f: FixEntry| (f.user, f.at, f.recorded_at))),
            spots: RTree::bulk_load(spots),
            members,
            staff,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.staff.len()
    }

    pub(super) fn places(&self, user: Uuid) -> Option<&StaffPlaces> {
        self.staff.get(&user)
    }

    /// Applies `edit` to a person's places and brings the index in line.
    pub(super) fn change(&mut self, user: Uuid, edit: impl FnOnce(&mut StaffPlaces)) {
        let places = self.staff.entry(user).or_default();
        let before = placements(user, places);
        edit(places);
        let after = placements(user, places);
        self.replace(before, after);
    }

    pub(super) fn forget(&mut self, user: Uuid) {
        if let Some(places) = self.staff.remove(&user) {
            self.replace(placements(user, &places), Placements::default());
        }
    }

    fn replace(&mut self, before: Placements, after: Placements) {
        if before.fix != after.fix {
            match (after.fix, before.fix) {
                (Some(new), _) => self.fixes.insert(new.user, new.at, new.recorded_at),
                (None, Some(old)) => self.fixes.remove(old.user),
                (None, None) => {}
            }
        }
        for (at, member) in &before.memberships {
            if !after.memberships.contains(&(*at, *member)) {
                self.leave(*at, member);
            }
        }
        for (at, member) in &after.memberships {
            if !before.memberships.contains(&(*at, *member)) {
                self.join(*at, *member);
            }
        }
    }

    fn join(&mut self, at: Point, member: Member) {
        let spot = self.members.entry(key(at)).or_insert_with(|| {
            self.spots.insert(SpotEntry { at });
            Spot::default()
        });
        spot.members.insert(member);
    }

    fn leave(&mut self, at: Point, member: &Member) {
        let k = key(at);
        if let Some(spot) = self.members.get_mut(&k) {
            spot.members.remove(member);
            if spot.members.is_empty() {
                self.members.remove(&k);
                self.spots.remove(&SpotEntry { at });
            }
        }
    }

    pub(super) fn recipients(&self, area: &TargetArea, at: Moment) -> Vec<Uuid> {
        let mut spots = Vec::new();
        walk(self.spots.root(), area, false, &mut |entry, surely| {
            if surely || area.contains(entry.at) {
                spots.extend(self.members.get(&key(entry.at)));
            }
        });
        let members = spots.iter().map(|s| s.members.len()).sum();
        let mut reached = self.fixes.reached(area, at, members);
        // Only someone on several trips at once, or waiting for clearance (placed at home too),
        // can turn up twice.
        let mut travellers = Vec::new();
        let mut home_too = false;
        for spot in spots {
            home_too |= self.placed_at(spot, at, &mut reached, &mut travellers);
        }
        travellers.sort_unstable();
        travellers.dedup();
        if home_too {
            let travelling: HashSet<Uuid> = travellers.iter().copied().collect();
            reached.retain(|u| !travelling.contains(u));
        }
        reached.append(&mut travellers);
        reached
    }

    /// The members a spot is the place of at `at`: among those without a fresh fix, the ones
    /// travelling there, and the ones at home there. Returns whether one of the travellers is
    /// waiting for clearance, and so may be at home as well.
    fn placed_at(&self, spot: &Spot, at: Moment, home: &mut Vec<Uuid>, away: &mut Vec<Uuid>) -> bool {
        let mut home_too = false;
        for m in spot.members.range(..Member::first_at(at.fresh_since)) {
            match m.role {
                Role::Trip {
                    depart_at,
                    return_at,
                    keeps_home,
                } => {
                    if at.is_within(depart_at, return_at) {
                        away.push(m.user);
                        home_too |= keeps_home;
                    }
                }
                Role::Duty {
                    away_from,
                    away_until,
                    gapless,
                } => {
                    let travelling = at.is_within(away_from, away_until)
                        && (gapless || self.staff.get(&m.user).is_some_and(|p| p.is_away(at)));
                    if !travelling {
                        home.push(m.user);
                    }
                }
            }
        }
        home_too
    }

    #[cfg(test)]
    pub(super) fn users(&self) -> Vec<Uuid> {
        self.staff.keys().copied().collect()
    }

    /// Whether nothing at all is left.
    #[cfg(test)]
    pub(super) fn is_bare(&self) -> bool {
        self.staff.is_empty() && self.members.is_empty() && self.fixes.len() == 0 && self.spots.size() == 0
    }

    /// Panics unless the R-trees and the spots hold exactly what the staff's places call for.
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        let rebuilt = Index::build(self.staff.clone());
        self.fixes.assert_consistent();
        let mut fixes = self.fixes.fixes();
        let mut expected = rebuilt.fixes.fixes();
        fixes.sort_by_key(|f| f.0);
        expected.sort_by_key(|f| f.0);
        assert_eq!(fixes, expected);
        assert_eq!(self.spots.size(), rebuilt.spots.size());
        assert_eq!(self.members.len(), rebuilt.members.len());
        for (k, spot) in &rebuilt.members {
            let members = self.members.get(k).map(|s| &s.members);
            assert_eq!(members, Some(&spot.members));
        }
        for spot in rebuilt.spots.iter() {
            assert!(self.spots.contains(spot), "{spot:?} is missing");
        }
    }
}
