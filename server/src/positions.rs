//! Where staff are: the last known position each phone reports (HTTP, the stream, MQTT),
//! which places its owner for targeting, follows an open SOS and joins open headcounts; and
//! the officers' map of where staff are.
//!
//! Owns: the last known positions. Uses: the targeting index (where staff are placed),
//! [`SosCalls`] (a new position joins the trail of its owner's open SOS), [`LateArrivals`] (a
//! new position inside an open headcount joins it), the country atlas (whose officers see
//! a position on their map) and [`LocationPrivacy`] (whether the map shows a position
//! precisely, or its area; each precise view audited).

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{ErrorBody, LocationUpdate, PlaceSource, Position, Precision, Role, StaffPosition, User};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::error::{ApiError, ApiJson};
use crate::headcounts::LateArrivals;
use crate::hub::Hub;
use crate::nodes::{NodeEvent, Nodes};
use crate::privacy::{LocationPrivacy, PrivacyError};
use crate::sos::SosCalls;
use crate::storage::{StaffRecord, Store, StoreError};
use crate::targeting::{Fix, Point, Targeting};

/// Positions, and placing staff by them.
#[derive(Clone)]
pub struct Positions {
    store: Store,
    atlas: &'static CountryAtlas,
    targeting: Arc<Targeting>,
    sos: SosCalls,
    late_arrivals: LateArrivals,
    privacy: LocationPrivacy,
    nodes: Arc<Nodes>,
    /// How long a reported position places its owner (`position_freshness_s`).
    freshness: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
}

impl From<PositionError> for ApiError {
    fn from(e: PositionError) -> Self {
        match e {
            PositionError::Forbidden(e) => e.into(),
            PositionError::Store(e) => e.into(),
            PositionError::Privacy(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Positions {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.positions.clone()
    }
}

impl Positions {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        targeting: Arc<Targeting>,
        sos: SosCalls,
        late_arrivals: LateArrivals,
        privacy: LocationPrivacy,
        nodes: Arc<Nodes>,
        freshness: Duration,
    ) -> Positions {
        Positions {
            store,
            atlas,
            targeting,
            sos,
            late_arrivals,
            privacy,
            nodes,
            freshness,
        }
    }

    /// Stores a fix durably, then places the person in the targeting index; a fix older than
    /// the one held is ignored.
    pub async fn record(&self, user: &User, update: LocationUpdate) -> Result<(), StoreError> {
        let recorded_at = update.recorded_at.unwrap_or_else(Utc::now);
        let stored = self
            .store
            .record_position(user.id, update.position(), recorded_at)
            .await?;
        if stored && user.role == Role::Staff {
            let at = Point {
                lon: update.lon,
                lat: update.lat,
            };
            self.targeting.record_fix(user.id, Fix { at, recorded_at });
            self.nodes.share(|| NodeEvent::Fix {
                user: user.id,
                lon: at.lon,
                lat: at.lat,
                recorded_at,
            });
            self.sos.follow(user, update.position(), recorded_at).await?;
            self.late_arrivals.join(user, at).await?;
        }
        Ok(())
    }

    /// Where staff are, for the officers' map: each person's fresh position, else their duty
    /// station. Watch officers see everyone; security officers those placed in their countries.
    /// A position is shown precisely only on a ground (an incident reaching the person in the
    /// officer's countries), and that view is audited; else it is shown at area level.
    pub async fn of_staff(&self, caller: &Caller) -> Result<Vec<StaffPosition>, PositionError> {
        caller.require_officer()?;
        let fresh_since = Utc::now() - self.freshness;
        let accounts: HashMap<_, _> = self.store.users().await?.into_iter().map(|u| (u.id, u)).collect();
        let grounds = self.privacy.grounds(caller).await?;
        let mut placed = Vec::new();
        let mut seen = Vec::new();
        for record in self.store.staff_records().await? {
            let Some((position, source, recorded_at)) = place_of(&record, fresh_since) else {
                continue;
            };
            let Some(user) = accounts.get(&record.id) else {
                continue;
            };
            let country = self.atlas.country_at(position.lon, position.lat).map(str::to_owned);
            if !caller.may_see(country.as_slice()) {
                continue;
            }
            let ground = grounds.get(&record.id);
            let (position, precision) = match (source, ground) {
                (PlaceSource::DutyStation, _) => (position, None),
                (PlaceSource::Position, Some(ground)) => {
                    seen.push(ground.clone());
                    (position, Some(Precision::Precise))
                }
                (PlaceSource::Position, None) => (self.privacy.area_of(position), Some(Precision::Area)),
            };
            placed.push(StaffPosition {
                staff_id: user.id,
                username: user.username.clone(),
                name: user.name.clone(),
                position,
                source,
                recorded_at,
                country,
                precision,
                ground: ground
                    .filter(|_| precision == Some(Precision::Precise))
                    .map(|g| g.ground),
            });
        }
        self.privacy.record_views(&caller.user, "staff_positions", &seen).await;
        Ok(placed)
    }
}

/// Where the map shows someone: a position reported since `fresh_since`, else their duty
/// station (the place alerts would reach them at), else nowhere.
fn place_of(
    record: &StaffRecord,
    fresh_since: DateTime<Utc>,
) -> Option<(Position, PlaceSource, Option<DateTime<Utc>>)> {
    match (record.position, record.duty_station) {
        (Some((p, at)), _) if at >= fresh_since => Some((p, PlaceSource::Position, Some(at))),
        (_, Some(p)) => Some((p, PlaceSource::DutyStation, None)),
        _ => None,
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(record_location))
        .routes(routes!(staff_positions))
}

/// Records the caller's position; a fix older than the one held is ignored.
#[utoipa::path(post, path = "/api/v1/me/location", tag = "accounts", security(("bearer" = [])),
    request_body = LocationUpdate,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_location(
    State(positions): State<Positions>,
    caller: Caller,
    ApiJson(update): ApiJson<LocationUpdate>,
) -> Result<StatusCode, ApiError> {
    positions.record(&caller.user, update).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where staff are, for the officers' map: each person's fresh position, else their duty
/// station (the place alerts would reach them at). Watch officers see everyone; security
/// officers those placed in their countries.
#[utoipa::path(get, path = "/api/v1/staff/positions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [StaffPosition]), (status = 403, body = ErrorBody)))]
async fn staff_positions(
    State(positions): State<Positions>,
    caller: Caller,
) -> Result<Json<Vec<StaffPosition>>, ApiError> {
    Ok(Json(positions.of_staff(&caller).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn the_map_shows_a_fresh_position_else_the_duty_station() {
        let now = Utc::now();
        let beni = Position::new(0.49, 29.47);
        let kampala = Position::new(0.35, 32.58);
        let record = |position| StaffRecord {
            id: Uuid::new_v4(),
            position,
            duty_station: Some(kampala),
        };
        let fresh = place_of(&record(Some((beni, now))), now - Duration::minutes(5)).unwrap();
        assert_eq!((fresh.0, fresh.1, fresh.2), (beni, PlaceSource::Position, Some(now)));
        let stale = place_of(
            &record(Some((beni, now - Duration::hours(1)))),
            now - Duration::minutes(5),
        )
        .unwrap();
        assert_eq!((stale.0, stale.1, stale.2), (kampala, PlaceSource::DutyStation, None));
        let nowhere = StaffRecord {
            duty_station: None,
            ..record(None)
        };
        assert!(place_of(&nowhere, now).is_none());
    }
}
