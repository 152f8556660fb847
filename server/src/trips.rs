//! Trips: staff register where they travel and when; the answer carries the destination's
//! advisory and active alerts. While a trip is under way its traveller is targeted at the
//! destination, not at home (the contract's rule, applied in `targeting`). A trip to a country
//! at risk level 4 or 5 waits for an officer's security clearance, as UN TRIP does.
//!
//! Owns: the trips and their clearance. Uses: the targeting index (where travellers are
//! placed), [`LateArrivals`] (a trip under way joins its traveller to the open headcounts at
//! the destination), [`Audit`], the delivery fan-out and the country atlas (is the destination
//! in its country).

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{
    Advisory, Alert, Area, Clearance, ClearanceDecision, Destination, Envelope, ErrorBody, Geometry, Invalid, LonLat,
    NewTrip, Role, Trip, TripPlan, TripStatus, User,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery};
use crate::error::{ApiError, ApiJson, ApiQuery, PathId};
use crate::headcounts::LateArrivals;
use crate::hub::Hub;
use crate::nodes::{NodeEvent, Nodes};
use crate::storage::{AlertScope, AlertState, Page, Store, StoreError, TripScope};
use crate::targeting::{Point, Targeting, TripLeg};

/// A destination this close to its stated country counts as in it: a coastal city's point may
/// fall just offshore, a border town's just across the 1:50m line.
const BORDER_TOLERANCE_M: f64 = 25_000.0;

/// Trips, their clearance, and placing travellers for targeting.
#[derive(Clone)]
pub struct Trips {
    store: Store,
    atlas: &'static CountryAtlas,
    targeting: Arc<Targeting>,
    late_arrivals: LateArrivals,
    delivery: Arc<Delivery>,
    nodes: Arc<Nodes>,
    audit: Audit,
}

#[derive(Debug, thiserror::Error)]
pub enum TripError {
    /// The destination does not lie in its country.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such trip, or not one the caller may see.
    #[error("trip not found")]
    NotFound,
    #[error("this trip is already {}", .0.as_str())]
    Closed(TripStatus),
    #[error("this trip is over; there is nothing to cancel")]
    Over,
    #[error("this trip is {}, not waiting for clearance", .0.as_str())]
    NotPending(TripStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TripError> for ApiError {
    fn from(e: TripError) -> Self {
        let conflict = |code, e: TripError| ApiError::Conflict {
            code,
            message: e.to_string(),
        };
        match e {
            TripError::Invalid(e) => e.into(),
            TripError::Forbidden(e) => e.into(),
            TripError::NotFound => ApiError::NotFound("trip"),
            TripError::Closed(_) => conflict("trip_closed", e),
            TripError::Over => conflict("trip_over", e),
            TripError::NotPending(_) => conflict("trip_not_pending", e),
            TripError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Trips {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.trips.clone()
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_trip))
        .routes(routes!(cancel))
        .routes(routes!(clearance))
}

/// Registers a trip; answers with the destination's advisory and active alerts.
#[utoipa::path(post, path = "/api/v1/trips", tag = "trips", security(("bearer" = [])), request_body = NewTrip,
    responses((status = 201, body = TripPlan), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(trips): State<Trips>,
    caller: Caller,
    ApiJson(new): ApiJson<NewTrip>,
) -> Result<(StatusCode, Json<TripPlan>), ApiError> {
    Ok((StatusCode::CREATED, Json(trips.plan(&caller.user, new).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// `planned`, `pending_clearance`, `approved`, `declined` or `cancelled`.
    status: Option<TripStatus>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Trips, latest departure first: one's own; officers also those to their countries.
#[utoipa::path(get, path = "/api/v1/trips", operation_id = "list_trips", tag = "trips", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [Trip]), (status = 403, body = ErrorBody)))]
async fn list(
    State(trips): State<Trips>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Trip>>, ApiError> {
    Ok(Json(trips.list(&caller, params.status, params.limit).await?))
}

#[utoipa::path(get, path = "/api/v1/trips/{id}", tag = "trips", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Trip), (status = 404, body = ErrorBody)))]
async fn get_trip(State(trips): State<Trips>, caller: Caller, PathId(id): PathId) -> Result<Json<Trip>, ApiError> {
    Ok(Json(trips.visible(&caller, id).await?))
}

/// Cancels a trip (its traveller, or an officer of the destination).
#[utoipa::path(post, path = "/api/v1/trips/{id}/cancel", tag = "trips", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Trip), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(State(trips): State<Trips>, caller: Caller, PathId(id): PathId) -> Result<Json<Trip>, ApiError> {
    Ok(Json(trips.cancel(&caller, id).await?))
}

/// Approves or declines a trip waiting for security clearance (officers of the destination).
#[utoipa::path(post, path = "/api/v1/trips/{id}/clearance", tag = "trips", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = Clearance,
    responses((status = 200, body = Trip), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn clearance(
    State(trips): State<Trips>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<Clearance>,
) -> Result<Json<Trip>, ApiError> {
    Ok(Json(trips.clear(&caller, id, body).await?))
}

/// The legs that place a traveller while under way: trips neither declined nor cancelled. One
/// waiting for clearance places them at both ends (they may have left or not).
pub fn legs(trips: &[Trip]) -> Vec<TripLeg> {
    trips
        .iter()
        .filter(|t| t.status.counts())
        .map(|t| TripLeg {
            destination: Point {
                lon: t.destination.lon,
                lat: t.destination.lat,
            },
            depart_at: t.depart_at,
            return_at: t.return_at,
            keeps_home: t.status == TripStatus::PendingClearance,
        })
        .collect()
}

/// Every unfinished trip's legs by traveller, to build the targeting index at start.
pub fn legs_by_traveller(trips: Vec<Trip>) -> HashMap<Uuid, Vec<TripLeg>> {
    let mut by_traveller: HashMap<Uuid, Vec<Trip>> = HashMap::new();
    for trip in trips {
        by_traveller.entry(trip.traveller_id).or_default().push(trip);
    }
    by_traveller
        .into_iter()
        .map(|(traveller, trips)| (traveller, legs(&trips)))
        .collect()
}

fn no_trips_for_administrators() -> Forbidden {
    Forbidden::new("administrators manage accounts, not trips")
}

/// Which trips a caller lists: their own; officers also those to their countries.
fn scope_of(caller: &Caller) -> Result<TripScope, Forbidden> {
    match caller.role() {
        Role::Staff => Ok(TripScope::Traveller(caller.user.id)),
        Role::SecurityOfficer => Ok(TripScope::CountriesOrTraveller(
            caller.user.countries.clone(),
            caller.user.id,
        )),
        Role::WatchOfficer => Ok(TripScope::All),
        Role::Admin => Err(no_trips_for_administrators()),
    }
}

/// A trip to a country whose advisory calls for it waits for security clearance.
fn initial_status(advisory: Option<&Advisory>) -> TripStatus {
    if advisory.is_some_and(|a| a.needs_clearance()) {
        TripStatus::PendingClearance
    } else {
        TripStatus::Planned
    }
}

/// The destination point must lie in the stated country, by the shipped boundaries, or
/// within [`BORDER_TOLERANCE_M`] of it.
fn check_destination(atlas: &CountryAtlas, d: &Destination) -> Result<(), Invalid> {
    let found = atlas.country_at(d.lon, d.lat);
    if found == Some(d.country.as_str()) {
        return Ok(());
    }
    let nearby = Area {
        description: "destination".into(),
        geometry: Geometry::Point {
            coordinates: LonLat([d.lon, d.lat]),
        },
        radius_m: Some(BORDER_TOLERANCE_M),
    };
    if atlas.countries_reached(&nearby).contains(&d.country) {
        return Ok(());
    }
    let place = match found {
        Some(other) => format!("lies in {other}"),
        None => "lies at sea".to_owned(),
    };
    Err(Invalid::new(
        "destination",
        format!(
            "({}, {}) {place}, more than {} km from {}; check the coordinates or the country",
            d.lat,
            d.lon,
            BORDER_TOLERANCE_M / 1000.0,
            d.country
        ),
    ))
}

/// A trip may be cancelled until it is over, unless already cancelled or declined.
fn may_cancel(trip: &Trip, now: DateTime<Utc>) -> Result<(), TripError> {
    if matches!(trip.status, TripStatus::Cancelled | TripStatus::Declined) {
        return Err(TripError::Closed(trip.status));
    }
    if trip.return_at <= now {
        return Err(TripError::Over);
    }
    Ok(())
}

/// An officer's decision on a trip waiting for clearance; the audit action it is.
fn decide(trip: &mut Trip, clearance: Clearance, officer: &User) -> Result<&'static str, TripError> {
    if trip.status != TripStatus::PendingClearance {
        return Err(TripError::NotPending(trip.status));
    }
    let (status, action) = match clearance.decision {
        ClearanceDecision::Approve => (TripStatus::Approved, "trip.approved"),
        ClearanceDecision::Decline => (TripStatus::Declined, "trip.declined"),
    };
    trip.status = status;
    trip.clearance_note = Some(clearance.note);
    trip.cleared_by = Some(officer.username.clone());
    Ok(action)
}

impl Trips {
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        targeting: Arc<Targeting>,
        late_arrivals: LateArrivals,
        delivery: Arc<Delivery>,
        nodes: Arc<Nodes>,
        audit: Audit,
    ) -> Trips {
        Trips {
            store,
            atlas,
            targeting,
            late_arrivals,
            delivery,
            nodes,
            audit,
        }
    }

    pub async fn plan(&self, traveller: &User, new: NewTrip) -> Result<TripPlan, TripError> {
        if traveller.role == Role::Admin {
            return Err(no_trips_for_administrators().into());
        }
        check_destination(self.atlas, &new.destination)?;
        let country = new.destination.country.clone();
        let advisory = self.store.advisory(&country).await?;
        let now = Utc::now();
        let trip = Trip {
            id: Uuid::new_v4(),
            traveller_id: traveller.id,
            traveller: traveller.username.clone(),
            destination: new.destination,
            depart_at: new.depart_at,
            return_at: new.return_at,
            status: initial_status(advisory.as_ref()),
            clearance_note: None,
            cleared_by: None,
            created_at: now,
        };
        self.store.insert_trip(&trip).await?;
        self.announce(&trip);
        self.place_traveller(traveller, now).await?;
        let active_alerts: Vec<Alert> = self
            .store
            .alerts(
                &AlertScope::Countries(vec![country]),
                AlertState::ActiveAt(now),
                Page::first(100),
            )
            .await?;
        tracing::info!(trip = %trip.id, traveller = %trip.traveller, country = %trip.destination.country, status = trip.status.as_str(), "trip registered");
        Ok(TripPlan {
            trip,
            advisory,
            active_alerts,
        })
    }

    /// Trips, latest departure first: at most `limit` (default 100, at most 1000).
    pub async fn list(
        &self,
        caller: &Caller,
        status: Option<TripStatus>,
        limit: Option<u32>,
    ) -> Result<Vec<Trip>, TripError> {
        let scope = scope_of(caller)?;
        let limit = limit.unwrap_or(100).clamp(1, 1000);
        Ok(self.store.trips(&scope, status, limit).await?)
    }

    /// The trip, if the caller is its traveller or an officer who may see its destination.
    pub async fn visible(&self, caller: &Caller, id: Uuid) -> Result<Trip, TripError> {
        match self.store.trip(id).await? {
            Some(trip)
                if trip.traveller_id == caller.user.id
                    || caller.may_see(std::slice::from_ref(&trip.destination.country)) =>
            {
                Ok(trip)
            }
            _ => Err(TripError::NotFound),
        }
    }

    /// Cancels a trip: its traveller, or an officer of the destination (audited).
    pub async fn cancel(&self, caller: &Caller, id: Uuid) -> Result<Trip, TripError> {
        let mut trip = self.visible(caller, id).await?;
        let own = trip.traveller_id == caller.user.id;
        if !own {
            caller.may_act_for(&trip.destination.country)?;
        }
        let now = Utc::now();
        may_cancel(&trip, now)?;
        let previous = trip.status;
        trip.status = TripStatus::Cancelled;
        self.store.update_trip(&trip, previous).await?;
        self.announce(&trip);
        self.refresh_traveller(trip.traveller_id, now).await?;
        if !own {
            let detail = serde_json::json!({"traveller": trip.traveller});
            self.audit
                .record(
                    Actor::Account(&caller.user),
                    "trip.cancelled",
                    trip.id,
                    std::slice::from_ref(&trip.destination.country),
                    detail,
                )
                .await;
        }
        Ok(trip)
    }

    /// Approves or declines a trip waiting for security clearance (officers of the destination).
    pub async fn clear(&self, caller: &Caller, id: Uuid, clearance: Clearance) -> Result<Trip, TripError> {
        caller.require_officer()?;
        let mut trip = self.visible(caller, id).await?;
        caller.may_act_for(&trip.destination.country)?;
        let note = clearance.note.clone();
        let action = decide(&mut trip, clearance, &caller.user)?;
        self.store.update_trip(&trip, TripStatus::PendingClearance).await?;
        self.announce(&trip);
        self.refresh_traveller(trip.traveller_id, Utc::now()).await?;
        let detail = serde_json::json!({"traveller": trip.traveller, "note": note});
        self.audit
            .record(
                Actor::Account(&caller.user),
                action,
                trip.id,
                std::slice::from_ref(&trip.destination.country),
                detail,
            )
            .await;
        Ok(trip)
    }

    /// Another node changed a staff member's trips: they are placed again from the database
    /// (their late arrivals were that node's to find).
    pub async fn place_again(&self, traveller: Uuid) -> Result<(), StoreError> {
        let legs = legs(&self.store.unfinished_trips(Some(traveller), Utc::now()).await?);
        self.targeting.set_trips(traveller, legs);
        Ok(())
    }

    /// Puts a staff member's current and coming trips into the targeting index. A trip already
    /// under way also joins its traveller to the open headcounts at the destination.
    async fn place_traveller(&self, traveller: &User, now: DateTime<Utc>) -> Result<(), StoreError> {
        if traveller.role != Role::Staff {
            return Ok(());
        }
        let legs = legs(&self.store.unfinished_trips(Some(traveller.id), now).await?);
        self.targeting.set_trips(traveller.id, legs.clone());
        self.nodes.share(|| NodeEvent::Trips { user: traveller.id });
        for leg in legs.iter().filter(|l| l.depart_at <= now && now < l.return_at) {
            self.late_arrivals.join(traveller, leg.destination).await?;
        }
        Ok(())
    }

    /// Tells the traveller and the destination's officers (who clear trips there).
    fn announce(&self, trip: &Trip) {
        self.delivery.publish(
            &Envelope::Trip { trip: trip.clone() },
            Audience {
                staff: &[trip.traveller_id],
                countries: std::slice::from_ref(&trip.destination.country),
            },
        );
    }

    async fn refresh_traveller(&self, traveller: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(user) = self.store.user(traveller).await? {
            self.place_traveller(&user, now).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn user(role: Role) -> User {
        User {
            id: Uuid::new_v4(),
            username: "amani".into(),
            name: "Amani".into(),
            role,
            countries: vec!["CD".into()],
            duty_station: None,
            disabled: false,
            phones: Vec::new(),
        }
    }

    fn destination(country: &str, lat: f64, lon: f64) -> Destination {
        Destination {
            country: country.into(),
            city: None,
            lat,
            lon,
        }
    }

    fn trip(status: TripStatus, depart_in_h: i64, return_in_h: i64) -> Trip {
        let now = Utc::now();
        Trip {
            id: Uuid::new_v4(),
            traveller_id: Uuid::new_v4(),
            traveller: "amani".into(),
            destination: destination("CD", 0.49, 29.47),
            depart_at: now + Duration::hours(depart_in_h),
            return_at: now + Duration::hours(return_in_h),
            status,
            clearance_note: None,
            cleared_by: None,
            created_at: now,
        }
    }

    fn advisory(risk_level: u8) -> Advisory {
        Advisory {
            id: Uuid::new_v4(),
            country: "CD".into(),
            risk_level,
            risk_label: String::new(),
            summary: String::new(),
            curfew: None,
            movement_restrictions: None,
            valid_until: None,
            updated_at: Utc::now(),
            updated_by: "kasongo".into(),
            revision: 1,
        }
    }

    #[test]
    fn a_trip_waits_for_clearance_only_where_the_advisory_says_so() {
        assert_eq!(initial_status(None), TripStatus::Planned);
        assert_eq!(initial_status(Some(&advisory(3))), TripStatus::Planned);
        assert_eq!(initial_status(Some(&advisory(4))), TripStatus::PendingClearance);
        assert_eq!(initial_status(Some(&advisory(5))), TripStatus::PendingClearance);
    }

    #[test]
    fn a_destination_lies_in_its_country_or_close_to_its_border() {
        let atlas = CountryAtlas::embedded();
        assert!(
            check_destination(atlas, &destination("CD", 0.49, 29.47)).is_ok(),
            "Beni"
        );
        // Goma's point, just across the line from Gisenyi (Rwanda).
        assert!(check_destination(atlas, &destination("RW", -1.68, 29.22)).is_ok());
        let e = check_destination(atlas, &destination("UG", 0.49, 29.47)).unwrap_err();
        assert_eq!(e.field, "destination");
        assert!(e.message.contains("lies in CD"), "{}", e.message);
        let e = check_destination(atlas, &destination("KE", -10.0, 60.0)).unwrap_err();
        assert!(e.message.contains("lies at sea"), "{}", e.message);
    }

    #[test]
    fn a_trip_is_cancelled_once_and_only_before_it_is_over() {
        let now = Utc::now();
        assert!(may_cancel(&trip(TripStatus::Planned, 1, 48), now).is_ok());
        assert!(
            may_cancel(&trip(TripStatus::Approved, -1, 48), now).is_ok(),
            "under way"
        );
        assert!(matches!(
            may_cancel(&trip(TripStatus::Cancelled, 1, 48), now),
            Err(TripError::Closed(TripStatus::Cancelled))
        ));
        assert!(matches!(
            may_cancel(&trip(TripStatus::Declined, 1, 48), now),
            Err(TripError::Closed(TripStatus::Declined))
        ));
        assert!(matches!(
            may_cancel(&trip(TripStatus::Planned, -48, -1), now),
            Err(TripError::Over)
        ));
    }

    #[test]
    fn clearance_decides_a_pending_trip_once() {
        let officer = user(Role::SecurityOfficer);
        let mut pending = trip(TripStatus::PendingClearance, 24, 48);
        let approve = Clearance {
            decision: ClearanceDecision::Approve,
            note: "escort arranged".into(),
        };
        assert_eq!(
            decide(&mut pending, approve.clone(), &officer).unwrap(),
            "trip.approved"
        );
        assert_eq!(pending.status, TripStatus::Approved);
        assert_eq!(pending.cleared_by.as_deref(), Some("amani"));
        assert_eq!(pending.clearance_note.as_deref(), Some("escort arranged"));
        assert!(matches!(
            decide(&mut pending, approve, &officer),
            Err(TripError::NotPending(TripStatus::Approved))
        ));
        let mut declined = trip(TripStatus::PendingClearance, 24, 48);
        let decline = Clearance {
            decision: ClearanceDecision::Decline,
            note: "too risky".into(),
        };
        assert_eq!(decide(&mut declined, decline, &officer).unwrap(), "trip.declined");
        assert_eq!(declined.status, TripStatus::Declined);
    }

    #[test]
    fn travellers_are_placed_by_their_live_trips_and_at_home_too_while_pending() {
        let trips = [
            trip(TripStatus::Planned, 1, 48),
            trip(TripStatus::PendingClearance, 1, 48),
            trip(TripStatus::Cancelled, 1, 48),
            trip(TripStatus::Declined, 1, 48),
        ];
        let keeps_home: Vec<bool> = legs(&trips).iter().map(|l| l.keeps_home).collect();
        assert_eq!(keeps_home, vec![false, true]);
    }

    #[test]
    fn administrators_have_no_trips() {
        let caller = |role| Caller {
            user: user(role),
            token_hash: [0; 32],
            expires_at: Utc::now(),
        };
        assert!(scope_of(&caller(Role::Admin)).is_err());
        assert!(matches!(scope_of(&caller(Role::Staff)), Ok(TripScope::Traveller(_))));
        assert!(matches!(scope_of(&caller(Role::WatchOfficer)), Ok(TripScope::All)));
    }
}
