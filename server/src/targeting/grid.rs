//! The positions layer of the index: everyone's last fix, filed in the cells of a fixed grid.
//!
//! A city-wide alert reaches tens of thousands of fixes. In an R-tree each is a node of its own
//! (64 bytes, most of them padding); here a cell keeps its fixes in three dense columns — who,
//! when, where — so a query reads long contiguous runs, and a cell lying wholly inside the area
//! is taken without reading its coordinates at all. An R-tree over the occupied cells finds the
//! cells an area touches, however large the area.

use std::collections::HashMap;

use rstar::{RTree, RTreeObject, AABB};
use uuid::Uuid;

use super::area::{Overlap, TargetArea};
use super::index::walk;
use super::{Moment, Point};

/// Cell side in degrees (about 5.5 km at the equator): a 25 km circle covers ~80 cells, most
/// of them wholly inside it. Measured against 0.01°, 0.02° and 0.1° with the targeting bench:
/// smaller cells cost more per cell than they save in point tests, larger ones the reverse.
const CELL_DEG: f64 = 0.05;
/// Cell bounds are widened by this much, so a point rounding onto a cell's edge is surely within
/// the bounds used to decide that the whole cell is inside an area.
const EDGE_SLACK_DEG: f64 = 1e-9;

type CellKey = (i32, i32);

fn cell_of(p: Point) -> CellKey {
    ((p.lon / CELL_DEG).floor() as i32, (p.lat / CELL_DEG).floor() as i32)
}

/// An occupied cell, as the R-tree knows it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CellEntry {
    key: CellKey,
}

impl RTreeObject for CellEntry {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        let (x, y) = (f64::from(self.key.0), f64::from(self.key.1));
        AABB::from_corners(
            [x * CELL_DEG - EDGE_SLACK_DEG, y * CELL_DEG - EDGE_SLACK_DEG],
            [
                (x + 1.0) * CELL_DEG + EDGE_SLACK_DEG,
                (y + 1.0) * CELL_DEG + EDGE_SLACK_DEG,
            ],
        )
    }
}

/// One cell's fixes, column by column; row `i` of each column is one person.
#[derive(Default)]
struct Cell {
    users: Vec<Uuid>,
    recorded_at: Vec<i64>,
    at: Vec<Point>,
}

#[derive(Default)]
pub(super) struct FixGrid {
    cells: HashMap<CellKey, Cell>,
    occupied: RTree<CellEntry>,
    /// Where each person's fix is filed: its cell and row.
    rows: HashMap<Uuid, (CellKey, usize)>,
}

impl FixGrid {
    /// Files every fix at once; each fix is `(user, point, recorded_at)`.
    pub(super) fn build(fixes: impl IntoIterator<Item = (Uuid, Point, i64)>) -> FixGrid {
        let mut grid = FixGrid::default();
        for (user, at, recorded_at) in fixes {
            grid.file(user, at, recorded_at);
        }
        grid.occupied = RTree::bulk_load(grid.cells.keys().map(|&key| CellEntry { key }).collect());
        grid
    }

    /// Files a person's fix, replacing the one held.
    pub(super) fn insert(&mut self, user: Uuid, at: Point, recorded_at: i64) {
        self.remove(user);
        if self.file(user, at, recorded_at) {
            self.occupied.insert(CellEntry { key: cell_of(at) });
        }
    }

    /// Files a fix; returns whether it opened a new cell.
    fn file(&mut self, user: Uuid, at: Point, recorded_at: i64) -> bool {
        let key = cell_of(at);
        let mut opened = false;
        let cell = self.cells.entry(key).or_insert_with(|| {
            opened = true;
            Cell::default()
        });
        self.rows.insert(user, (key, cell.users.len()));
        cell.users.push(user);
        cell.recorded_at.push(recorded_at);
        cell.at.push(at);
        opened
    }

    /// Takes a person's fix out, if one is filed.
    pub(super) fn remove(&mut self, user: Uuid) {
        let Some((key, row)) = self.rows.remove(&user) else {
            return;
        };
        let Some(cell) = self.cells.get_mut(&key) else {
            return;
        };
        cell.users.swap_remove(row);
        cell.recorded_at.swap_remove(row);
        cell.at.swap_remove(row);
        match cell.users.get(row) {
            // The last row moved into the gap.
            Some(moved) => {
                self.rows.insert(*moved, (key, row));
            }
            None if cell.users.is_empty() => {
                self.cells.remove(&key);
                self.occupied.remove(&CellEntry { key });
            }
            None => {}
        }
    }

    /// Everyone whose fix is fresh at `at` and lies in `area`, in a list with room for `more`.
    /// The list is sized once, up front: a city-wide alert's is a megabyte, which growing by
    /// doubling would copy over and over.
    pub(super) fn reached(&self, area: &TargetArea, at: Moment, more: usize) -> Vec<Uuid> {
        let mut cells = Vec::new();
        walk(self.occupied.root(), area, false, &mut |entry: &CellEntry, surely| {
            let inside = surely
                || match area.overlap(&entry.envelope()) {
                    Overlap::Inside => true,
                    Overlap::Partly => false,
                    Overlap::Outside => return,
                };
            if let Some(cell) = self.cells.get(&entry.key) {
                cells.push((cell, inside));
            }
        });
        let mut reached = Vec::with_capacity(cells.iter().map(|(c, _)| c.users.len()).sum::<usize>() + more);
        for (cell, inside) in cells {
            let rows = cell.users.iter().zip(&cell.recorded_at);
            if inside {
                reached.extend(rows.filter(|(_, t)| at.is_fresh(**t)).map(|(u, _)| *u));
            } else {
                reached.extend(
                    rows.zip(&cell.at)
                        .filter(|((_, t), p)| at.is_fresh(**t) && area.contains(**p))
                        .map(|((u, _), _)| *u),
                );
            }
        }
        reached
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Every filed fix, as `(user, point, recorded_at)`.
    #[cfg(test)]
    pub(super) fn fixes(&self) -> Vec<(Uuid, Point, i64)> {
        self.cells
            .values()
            .flat_map(|c| {
                c.users
                    .iter()
                    .zip(&c.at)
                    .zip(&c.recorded_at)
                    .map(|((u, p), t)| (*u, *p, *t))
            })
            .collect()
    }

    /// Panics unless the cells, the rows and the R-tree agree.
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        assert_eq!(
            self.occupied.size(),
            self.cells.len(),
            "one R-tree entry per occupied cell"
        );
        let mut filed = 0;
        for (key, cell) in &self.cells {
            assert!(!cell.users.is_empty(), "no empty cell is kept");
            assert!(self.occupied.contains(&CellEntry { key: *key }));
            assert_eq!(cell.users.len(), cell.recorded_at.len());
            assert_eq!(cell.users.len(), cell.at.len());
            for (row, (user, p)) in cell.users.iter().zip(&cell.at).enumerate() {
                assert_eq!(self.rows.get(user), Some(&(*key, row)));
                assert_eq!(cell_of(*p), *key);
            }
            filed += cell.users.len();
        }
        assert_eq!(filed, self.rows.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstar::Envelope as _;

    #[test]
    fn rows_stay_in_step_through_moves_and_removals() {
        let mut grid = FixGrid::default();
        let people: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
        for (i, user) in people.iter().enumerate() {
            let at = Point {
                lon: 36.8 + (i % 5) as f64 * 0.01,
                lat: -1.29 + (i / 5) as f64 * 0.001,
            };
            grid.insert(*user, at, i as i64);
        }
        grid.assert_consistent();
        for user in people.iter().step_by(3) {
            grid.insert(*user, Point { lon: 29.47, lat: 0.49 }, 100);
        }
        for user in people.iter().skip(1).step_by(4) {
            grid.remove(*user);
        }
        grid.assert_consistent();
        for user in &people {
            grid.remove(*user);
        }
        grid.assert_consistent();
        assert_eq!(grid.len(), 0);
        assert_eq!(grid.occupied.size(), 0, "emptied cells leave the R-tree");
    }

    #[test]
    fn a_point_on_a_cell_edge_is_inside_its_cell_bounds() {
        for lon in [0.06, -0.06, 179.98, -180.0, 36.82] {
            let p = Point { lon, lat: lon / 2.0 };
            let bounds = CellEntry { key: cell_of(p) }.envelope();
            assert!(bounds.contains_point(&[p.lon, p.lat]), "{p:?} outside {bounds:?}");
        }
    }
}
