//! Location privacy by default (IOM's data-protection principles; UNDSS eTA keeps area-level
//! location only): officers see where a person is at area level (a cell of a grid
//! `position_area_deg` wide, whose centre is shown), unless an incident reaches the person — an
//! active alert, an SOS call of theirs not resolved, or the alarm of a journey check-in of theirs
//! missed and not resolved — and then every precise view is audited and the person can read who
//! looked, and when (`GET /api/v1/me/location-access`). Also the retention sweep ([`retention`])
//! and one person's records exported or erased ([`erasure`]).
//!
//! A view is a list or board read (one audit entry per person shown, at each read), or an SOS
//! or alarm envelope written to an officer's stream: the first written of each incident to each
//! officer is the view, the later ones follow that incident live (one entry per officer and
//! incident for each run of the hub: a restart may add one, never miss one).
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
    AlarmStatus, AuditEntry, ErrorBody, GroundKind, Headcount, Journey, JourneyAlarm, LocationAccess, MsgType,
    Position, PreciseGround, Role, Sos, SosStatus, User,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
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
    /// (officer, incident) for each incident whose envelope was written to one of the officer's
    /// streams since it was raised: the later envelopes are no new view.
    streamed: Arc<Mutex<HashSet<(Uuid, Uuid)>>>,
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PreciseView {
    pub person: Uuid,
    pub ground: PreciseGround,
    pub countries: Vec<String>,
}

impl LocationPrivacy {
    pub fn new(store: Store, area_deg: f64) -> LocationPrivacy {
        LocationPrivacy {
            store,
            area_deg,
            streamed: Arc::default(),
        }
    }

    /// The position as shown outside an incident: its grid cell's centre.
    pub fn area_of(&self, position: Position) -> Position {
        area_of(position, self.area_deg)
    }

    /// For each person whose precise position `caller` may see now, the ground (with the
    /// countries of the incident). An officer sees on the grounds of incidents in their own
    /// countries; a person with several is shown on their SOS call first, else on their journey
    /// alarm, else on one alert (the same one at every view: the highest id).
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
    pub async fn record_views(&self, viewer: &User, view: &str, seen: &[PreciseView]) {
        if seen.is_empty() {
            return;
        }
        let at = Utc::now();
        let entries: Vec<AuditEntry> = seen
            .iter()
            .map(|v| AuditEntry {
                id: Uuid::new_v4(),
                at,
                actor: viewer.username.clone(),
                action: LOCATION_VIEWED.to_owned(),
                subject: v.person,
                countries: v.countries.clone(),
                detail: json!({"ground": v.ground, "view": view}),
            })
            .collect();
        if let Err(e) = self.store.record_audits(&entries, Some(viewer.id)).await {
            tracing::error!(error = %e, views = entries.len(), viewer = viewer.username, "could not audit precise location views");
        }
    }

    /// Records that an envelope showing `view` was written to one of `viewer`'s streams: the
    /// first of its incident is a view (see the module).
    pub async fn record_streamed(&self, viewer: &User, view: &PreciseView) {
        let first = self
            .streamed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((viewer.id, view.ground.id));
        if first {
            self.record_views(viewer, "stream", std::slice::from_ref(view)).await;
        }
    }

    /// The incident is resolved: its envelopes show no precise position any more, so who was
    /// streamed it need not be kept.
    pub fn incident_over(&self, incident: Uuid) {
        self.streamed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, seen)| *seen != incident);
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
        self.record_views(&caller.user, "headcount", &seen).await;
        Ok(())
    }

    /// SOS calls as `caller` may see them in `view`: an officer as [`Self::sos_for_officers`]
    /// shows them, each precise one an audited view; the person sees their own calls whole.
    pub async fn screen_sos(&self, caller: &Caller, view: &str, calls: &mut [Sos]) {
        if caller.role() == Role::Staff {
            return;
        }
        let seen: Vec<PreciseView> = calls.iter_mut().filter_map(|c| self.sos_for_officers(c)).collect();
        self.record_views(&caller.user, view, &seen).await;
    }

    /// An SOS call as officers are shown it: not resolved, whole, and the precise view it is
    /// when it holds a position or trail; resolved, the area of its position and no trail.
    pub fn sos_for_officers(&self, call: &mut Sos) -> Option<PreciseView> {
        call_for_officers(call, self.area_deg)
    }

    /// Journey alarms as officers are shown them in `view` ([`Self::alarm_for_officers`]), each
    /// precise one an audited view.
    pub async fn screen_alarms(&self, caller: &Caller, view: &str, alarms: &mut [JourneyAlarm]) {
        let seen: Vec<PreciseView> = alarms.iter_mut().filter_map(|a| self.alarm_for_officers(a)).collect();
        self.record_views(&caller.user, view, &seen).await;
    }

    /// A journey's missed-check-in alarm as officers are shown it: not resolved, with the last
    /// position precisely (the precise view it is); resolved, its area.
    pub fn alarm_for_officers(&self, alarm: &mut JourneyAlarm) -> Option<PreciseView> {
        alarm_for_officers(alarm, self.area_deg)
    }

    /// A journey as `viewer` is shown it: its person whole, anyone else with the last position
    /// at area level (an alarm, not the journey, is the ground for a precise one).
    pub fn journey_for(&self, viewer: &User, journey: &mut Journey) {
        if viewer.id != journey.staff_id {
            journey.last_position = journey.last_position.map(|p| self.area_of(p));
        }
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

/// See [`LocationPrivacy::sos_for_officers`]; `deg` the grid's width.
fn call_for_officers(call: &mut Sos, deg: f64) -> Option<PreciseView> {
    if call.status == SosStatus::Resolved {
        call.position = call.position.map(|p| area_of(p, deg));
        call.trail.clear();
        return None;
    }
    (call.position.is_some() || !call.trail.is_empty()).then(|| PreciseView {
        person: call.staff_id,
        ground: PreciseGround {
            kind: GroundKind::Sos,
            id: call.id,
        },
        countries: call.countries.clone(),
    })
}

/// See [`LocationPrivacy::alarm_for_officers`]; `deg` the grid's width.
fn alarm_for_officers(alarm: &mut JourneyAlarm, deg: f64) -> Option<PreciseView> {
    if alarm.status == AlarmStatus::Resolved {
        alarm.last_position = alarm.last_position.map(|p| area_of(p, deg));
        return None;
    }
    alarm.last_position.is_some().then(|| PreciseView {
        person: alarm.staff_id,
        ground: PreciseGround {
            kind: GroundKind::JourneyAlarm,
            id: alarm.id,
        },
        countries: alarm.countries.clone(),
    })
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
/// them, an SOS call of theirs, a journey alarm of theirs), newest first.
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

    fn call(status: SosStatus) -> Sos {
        serde_json::from_value(json!({
            "id": Uuid::new_v4(), "staff_id": Uuid::new_v4(), "username": "amani", "name": "Amani",
            "status": status, "countries": ["CD"], "raised_at": "2026-01-01T00:00:00Z",
            "position": {"lat": 0.4911, "lon": 29.4731},
            "trail": [{"lat": 0.4911, "lon": 29.4731, "recorded_at": "2026-01-01T00:01:00Z"}],
            "announcements": 1
        }))
        .expect("an SOS call")
    }

    #[test]
    fn officers_see_a_call_whole_while_open_a_view_and_its_area_once_resolved() {
        for status in [SosStatus::Open, SosStatus::Acknowledged] {
            let mut open = call(status);
            let whole = open.clone();
            let view = call_for_officers(&mut open, 0.1).expect("a precise view");
            assert_eq!(open, whole);
            assert_eq!(
                (view.person, view.ground.kind, view.ground.id),
                (whole.staff_id, GroundKind::Sos, whole.id)
            );
            assert_eq!(view.countries, ["CD"]);
        }
        let mut resolved = call(SosStatus::Resolved);
        assert!(call_for_officers(&mut resolved, 0.1).is_none());
        assert_eq!(resolved.position.map(|p| (p.lat, p.lon)), Some((0.45, 29.45)));
        assert!(resolved.trail.is_empty());
        let mut nowhere = call(SosStatus::Open);
        nowhere.position = None;
        nowhere.trail.clear();
        assert!(
            call_for_officers(&mut nowhere, 0.1).is_none(),
            "nothing precise to view"
        );
    }

    #[test]
    fn an_alarm_shows_its_last_position_while_not_resolved_and_its_area_after() {
        let mut alarm: JourneyAlarm = serde_json::from_value(json!({
            "id": Uuid::new_v4(), "journey_id": Uuid::new_v4(), "staff_id": Uuid::new_v4(),
            "username": "amani", "name": "Amani", "countries": ["CD"], "status": "acknowledged",
            "missed_due_at": "2026-01-01T00:00:00Z", "heading_to": "Goma",
            "raised_at": "2026-01-01T00:00:05Z", "last_position": {"lat": 0.4911, "lon": 29.4731}
        }))
        .expect("an alarm");
        let view = alarm_for_officers(&mut alarm.clone(), 0.1).expect("a precise view");
        assert_eq!((view.ground.kind, view.ground.id), (GroundKind::JourneyAlarm, alarm.id));
        alarm.status = AlarmStatus::Resolved;
        assert!(alarm_for_officers(&mut alarm, 0.1).is_none());
        assert_eq!(alarm.last_position.map(|p| (p.lat, p.lon)), Some((0.45, 29.45)));
    }

    #[test]
    fn the_shown_centre_is_never_the_position_itself_unless_it_is_the_centre() {
        let p = Position::new(0.4911, 29.4731);
        let shown = area_of(p, 0.1);
        assert!((shown.lat - p.lat).abs() <= 0.05 && (shown.lon - p.lon).abs() <= 0.05);
        assert_ne!((shown.lat, shown.lon), (p.lat, p.lon));
    }
}
