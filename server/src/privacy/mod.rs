//! Location privacy by default (IOM's data-protection principles; UNDSS eTA keeps area-level
//! location only): officers see where a person is at area level (a cell of a grid
//! `position_area_deg` wide, whose centre is shown), unless an incident reaches the person — an
//! active alert, or an SOS call of theirs not resolved — and then every precise view is audited
//! and the person can read who looked, and when (`GET /api/v1/me/location-access`). Also the
//! retention sweep ([`retention`]) and one person's records exported or erased ([`erasure`]).
//!
//! Why a grid rather than named areas: the hub ships country boundaries only, no gazetteer of
//! cities or districts; a grid needs no data, treats every place alike (a lone village is not
//! singled out by a name), and its cell holds the position without pointing at it.
//!
//! Owns: the rule of who sees a precise position, and the views' audit. Uses: the audit trail.

pub mod erasure;
pub mod retention;

use axum::extract::{FromRef, State};
use axum::Json;
use chrono::Utc;
use scaan_schemas::{
    AuditEntry, ErrorBody, GroundKind, Headcount, LocationAccess, MsgType, Position, PreciseGround, Role, Sos,
    SosStatus,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Caller, Forbidden};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::storage::{Store, StoreError};

/// The audit action of a precise view.
pub const LOCATION_VIEWED: &str = "location.viewed";

/// Who may see a precise position, and the record of who did.
#[derive(Clone)]
pub struct LocationPrivacy {
    store: Store,
    /// The grid cell's width in degrees (`position_area_deg`).
    area_deg: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::Forbidden(e) => e.into(),
            PrivacyError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for LocationPrivacy {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.privacy.clone()
    }
}

/// A precise position an officer is shown: whose, on what ground, in which view.
#[derive(Debug, Clone)]
pub struct PreciseView {
    pub person: Uuid,
    pub ground: PreciseGround,
    pub countries: Vec<String>,
}

impl LocationPrivacy {
    pub fn new(store: Store, area_deg: f64) -> LocationPrivacy {
        LocationPrivacy { store, area_deg }
    }

    /// The position as shown outside an incident: its grid cell's centre.
    pub fn area_of(&self, position: Position) -> Position {
        area_of(position, self.area_deg)
    }

    /// For each person whose precise position `caller` may see now, the ground (with the
    /// countries of the incident). An officer sees on the grounds of incidents in their own
    /// countries; a person with several is shown on their SOS call first, else on one alert
    /// (the same one at every view: the highest id).
    pub async fn grounds(&self, caller: &Caller) -> Result<HashMap<Uuid, PreciseView>, PrivacyError> {
        caller.require_officer()?;
        let mut grounds: HashMap<Uuid, PreciseView> = HashMap::new();
        for record in self.store.precise_grounds(Utc::now()).await? {
            let Some(kind) = GroundKind::parse(&record.kind) else {
                tracing::error!(kind = record.kind, "a ground for a precise view of an unknown kind");
                continue;
            };
            if !caller.may_see(&record.countries) {
                continue;
            }
            let view = PreciseView {
                person: record.person,
                ground: PreciseGround { kind, id: record.id },
                countries: record.countries,
            };
            grounds
                .entry(record.person)
                .and_modify(|kept| {
                    if (view.ground.kind, view.ground.id) > (kept.ground.kind, kept.ground.id) {
                        *kept = view.clone();
                    }
                })
                .or_insert(view);
        }
        Ok(grounds)
    }

    /// Records that `caller` saw these precise positions in `view` (one audit entry each, one
    /// commit for all). The view has been built already, so a failure is logged, not returned.
    pub async fn record_views(&self, caller: &Caller, view: &str, seen: &[PreciseView]) {
        let at = Utc::now();
        let entries: Vec<AuditEntry> = seen
            .iter()
            .map(|v| AuditEntry {
                id: Uuid::new_v4(),
                at,
                actor: caller.user.username.clone(),
                action: LOCATION_VIEWED.to_owned(),
                subject: v.person,
                countries: v.countries.clone(),
                detail: json!({"ground": v.ground, "view": view}),
            })
            .collect();
        if let Err(e) = self.store.record_audits(&entries, Some(caller.user.id)).await {
            tracing::error!(error = %e, views = entries.len(), viewer = caller.user.username, "could not audit precise location views");
        }
    }

    /// An alert's headcount board as `caller` may see it: while the alert is active it reaches
    /// everyone on it, so their positions show precisely and each is an audited view; once it
    /// has expired or been cancelled, each position shows as its area.
    pub async fn screen_board(&self, caller: &Caller, board: &mut Headcount) -> Result<(), PrivacyError> {
        let alert = self.store.alert(board.alert_id).await?;
        let active = alert
            .as_ref()
            .is_some_and(|a| a.msg_type != MsgType::Cancel && a.content.expires_at > Utc::now());
        if !active {
            for entry in &mut board.staff {
                entry.position = entry.position.map(|p| self.area_of(p));
            }
            return Ok(());
        }
        let ground = PreciseGround {
            kind: GroundKind::Alert,
            id: board.alert_id,
        };
        let countries = alert.map(|a| a.countries).unwrap_or_default();
        let seen: Vec<PreciseView> = board
            .staff
            .iter()
            .filter(|e| e.position.is_some())
            .map(|e| PreciseView {
                person: e.staff_id,
                ground,
                countries: countries.clone(),
            })
            .collect();
        self.record_views(caller, "headcount", &seen).await;
        Ok(())
    }

    /// SOS calls as `caller` may see them: an officer sees the position and trail of a call
    /// not resolved (an audited view); of a resolved one, the area of its position and no
    /// trail. The person sees their own calls whole.
    pub async fn screen_sos(&self, caller: &Caller, calls: &mut [Sos]) {
        if caller.role() == Role::Staff {
            return;
        }
        let mut seen = Vec::new();
        for call in calls.iter_mut() {
            if call.status == SosStatus::Resolved {
                call.position = call.position.map(|p| self.area_of(p));
                call.trail.clear();
            } else if call.position.is_some() || !call.trail.is_empty() {
                seen.push(PreciseView {
                    person: call.staff_id,
                    ground: PreciseGround {
                        kind: GroundKind::Sos,
                        id: call.id,
                    },
                    countries: call.countries.clone(),
                });
            }
        }
        self.record_views(caller, "sos", &seen).await;
    }

    /// Who saw the caller's precise position, and when, newest first (at most 1000).
    pub async fn accesses(&self, caller: &Caller) -> Result<Vec<LocationAccess>, PrivacyError> {
        let entries = self.store.audit_of(LOCATION_VIEWED, caller.user.id, 1000).await?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                Some(LocationAccess {
                    at: e.at,
                    viewer: e.actor,
                    ground: serde_json::from_value(e.detail.get("ground")?.clone()).ok()?,
                    view: e.detail.get("view")?.as_str()?.to_owned(),
                })
            })
            .collect())
    }
}

/// The centre of the cell of a grid `deg` wide that holds `position`, with the cell's
/// half-diagonal as its accuracy: the same for everyone in the cell.
pub fn area_of(position: Position, deg: f64) -> Position {
    let centre = |v: f64| ((v / deg).floor() + 0.5) * deg;
    let (lat, lon) = (centre(position.lat).clamp(-90.0, 90.0), centre(position.lon));
    let lon = if lon > 180.0 { lon - 360.0 } else { lon };
    // Metres per degree of latitude; a degree of longitude shrinks with the cosine.
    const METRES_PER_DEGREE: f64 = 111_320.0;
    let north = deg * METRES_PER_DEGREE;
    let east = north * lat.to_radians().cos();
    let round = |v: f64| (v * 1e6).round() / 1e6;
    Position {
        lat: round(lat),
        lon: round(lon),
        accuracy_m: Some((north.hypot(east) / 2.0).round()),
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(location_access))
        .merge(erasure::router())
}

/// Who saw the caller's precise position, when, and on what ground (an alert that reached
/// them, an SOS call of theirs), newest first.
#[utoipa::path(get, path = "/api/v1/me/location-access", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [LocationAccess]), (status = 401, body = ErrorBody)))]
async fn location_access(
    State(privacy): State<LocationPrivacy>,
    caller: Caller,
) -> Result<Json<Vec<LocationAccess>>, ApiError> {
    Ok(Json(privacy.accesses(&caller).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everyone_in_a_cell_is_shown_at_its_centre() {
        let beni = area_of(Position::new(0.4911, 29.4731), 0.1);
        let nearby = area_of(Position::new(0.4502, 29.4099), 0.1);
        assert_eq!(beni, nearby);
        assert_eq!((beni.lat, beni.lon), (0.45, 29.45));
        // About 7.9 km from centre to corner at the equator, for a 0.1° grid.
        assert!((7800.0..7900.0).contains(&beni.accuracy_m.unwrap()), "{beni:?}");
    }

    #[test]
    fn cells_below_zero_and_at_the_antimeridian_hold_their_positions() {
        let kinshasa = area_of(Position::new(-4.3217, 15.3126), 0.1);
        assert_eq!((kinshasa.lat, kinshasa.lon), (-4.35, 15.35));
        let fiji = area_of(Position::new(-16.5, 179.99), 0.1);
        assert_eq!(fiji.lon, 179.95);
        let west = area_of(Position::new(-16.5, -179.99), 0.1);
        assert_eq!(west.lon, -179.95);
    }

    #[test]
    fn the_shown_centre_is_never_the_position_itself_unless_it_is_the_centre() {
        let p = Position::new(0.4911, 29.4731);
        let shown = area_of(p, 0.1);
        assert!((shown.lat - p.lat).abs() <= 0.05 && (shown.lon - p.lon).abs() <= 0.05);
        assert_ne!((shown.lat, shown.lon), (p.lat, p.lon));
    }
}
