//! Trips: staff register where they travel and when; the answer carries the destination's
//! advisory and active alerts. While a trip is under way its traveller is targeted at the
//! destination, not at home (the contract's rule, applied in `targeting`). A trip to a country
//! at risk level 4 or 5 waits for an officer's security clearance, as UN TRIP does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{
    Alert, Area, Clearance, ClearanceDecision, Envelope, ErrorBody, Geometry, Invalid, LonLat, NewTrip, Role, Trip,
    TripPlan, TripStatus, User,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::delivery::Audience;
use crate::error::{ApiError, ApiJson, ApiQuery, PathId};
use crate::hub::Hub;
use crate::storage::{AlertScope, TripScope};
use crate::targeting::{Point, TripLeg};

/// A destination this close to its stated country counts as in it: a coastal city's point may
/// fall just offshore, a border town's just across the 1:50m line.
const BORDER_TOLERANCE_M: f64 = 25_000.0;

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
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(new): ApiJson<NewTrip>,
) -> Result<(StatusCode, Json<TripPlan>), ApiError> {
    Ok((StatusCode::CREATED, Json(hub.plan_trip(&caller.user, new).await?)))
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
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Trip>>, ApiError> {
    let scope = match caller.role() {
        Role::Staff => TripScope::Traveller(caller.user.id),
        Role::SecurityOfficer => TripScope::CountriesOrTraveller(caller.user.countries.clone(), caller.user.id),
        Role::WatchOfficer => TripScope::All,
        Role::Admin => return Err(ApiError::forbidden("administrators manage accounts, not trips")),
    };
    let limit = params.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(hub.store.trips(&scope, params.status, limit).await?))
}

#[utoipa::path(get, path = "/api/v1/trips/{id}", tag = "trips", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Trip), (status = 404, body = ErrorBody)))]
async fn get_trip(State(hub): State<Arc<Hub>>, caller: Caller, PathId(id): PathId) -> Result<Json<Trip>, ApiError> {
    Ok(Json(hub.visible_trip(&caller, id).await?))
}

/// Cancels a trip (its traveller, or an officer of the destination).
#[utoipa::path(post, path = "/api/v1/trips/{id}/cancel", tag = "trips", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Trip), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel(State(hub): State<Arc<Hub>>, caller: Caller, PathId(id): PathId) -> Result<Json<Trip>, ApiError> {
    Ok(Json(hub.cancel_trip(&caller, id).await?))
}

/// Approves or declines a trip waiting for security clearance (officers of the destination).
#[utoipa::path(post, path = "/api/v1/trips/{id}/clearance", tag = "trips", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = Clearance,
    responses((status = 200, body = Trip), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn clearance(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<Clearance>,
) -> Result<Json<Trip>, ApiError> {
    Ok(Json(hub.clear_trip(&caller, id, body).await?))
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

impl Hub {
    pub async fn plan_trip(&self, traveller: &User, new: NewTrip) -> Result<TripPlan, ApiError> {
        if traveller.role == Role::Admin {
            return Err(ApiError::forbidden("administrators manage accounts, not trips"));
        }
        self.check_destination(&new)?;
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
            status: if advisory.as_ref().is_some_and(|a| a.needs_clearance()) {
                TripStatus::PendingClearance
            } else {
                TripStatus::Planned
            },
            clearance_note: None,
            cleared_by: None,
            created_at: now,
        };
        self.store.insert_trip(&trip).await?;
        self.announce_trip(&trip);
        self.place_traveller(traveller, now).await?;
        let active_alerts: Vec<Alert> = self
            .store
            .alerts(&AlertScope::Countries(vec![country]), Some(now), 100)
            .await?;
        tracing::info!(trip = %trip.id, traveller = %trip.traveller, country = %trip.destination.country, status = trip.status.as_str(), "trip registered");
        Ok(TripPlan {
            trip,
            advisory,
            active_alerts,
        })
    }

    /// The destination point must lie in the stated country, by the shipped boundaries, or
    /// within [`BORDER_TOLERANCE_M`] of it.
    fn check_destination(&self, new: &NewTrip) -> Result<(), ApiError> {
        let d = &new.destination;
        let found = self.atlas.country_at(d.lon, d.lat);
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
        if self.atlas.countries_reached(&nearby).contains(&d.country) {
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
        )
        .into())
    }

    /// Puts a staff member's current and coming trips into the targeting index. A trip already
    /// under way also joins its traveller to the open headcounts at the destination.
    async fn place_traveller(&self, traveller: &User, now: DateTime<Utc>) -> Result<(), ApiError> {
        if traveller.role != Role::Staff {
            return Ok(());
        }
        let legs = legs(&self.store.unfinished_trips(Some(traveller.id), now).await?);
        self.targeting.set_trips(traveller.id, legs.clone());
        for leg in legs.iter().filter(|l| l.depart_at <= now && now < l.return_at) {
            self.join_open_headcounts(traveller, leg.destination).await?;
        }
        Ok(())
    }

    /// The trip, if the caller is its traveller or an officer who may see its destination.
    async fn visible_trip(&self, caller: &Caller, id: Uuid) -> Result<Trip, ApiError> {
        match self.store.trip(id).await? {
            Some(trip)
                if trip.traveller_id == caller.user.id
                    || caller.may_see(std::slice::from_ref(&trip.destination.country)) =>
            {
                Ok(trip)
            }
            _ => Err(ApiError::NotFound("trip")),
        }
    }

    pub async fn cancel_trip(&self, caller: &Caller, id: Uuid) -> Result<Trip, ApiError> {
        let mut trip = self.visible_trip(caller, id).await?;
        let own = trip.traveller_id == caller.user.id;
        if !own {
            caller.may_act_for(&trip.destination.country)?;
        }
        let previous = trip.status;
        if matches!(previous, TripStatus::Cancelled | TripStatus::Declined) {
            return Err(ApiError::Conflict {
                code: "trip_closed",
                message: format!("this trip is already {}", previous.as_str()),
            });
        }
        let now = Utc::now();
        if trip.return_at <= now {
            return Err(ApiError::Conflict {
                code: "trip_over",
                message: "this trip is over; there is nothing to cancel".into(),
            });
        }
        trip.status = TripStatus::Cancelled;
        self.store.update_trip(&trip, previous).await?;
        self.announce_trip(&trip);
        self.refresh_traveller(trip.traveller_id, now).await?;
        if !own {
            let detail = serde_json::json!({"traveller": trip.traveller});
            self.audit(
                &caller.user,
                "trip.cancelled",
                trip.id,
                std::slice::from_ref(&trip.destination.country),
                detail,
            )
            .await;
        }
        Ok(trip)
    }

    pub async fn clear_trip(&self, caller: &Caller, id: Uuid, clearance: Clearance) -> Result<Trip, ApiError> {
        caller.require_officer()?;
        let mut trip = self.visible_trip(caller, id).await?;
        caller.may_act_for(&trip.destination.country)?;
        if trip.status != TripStatus::PendingClearance {
            return Err(ApiError::Conflict {
                code: "trip_not_pending",
                message: format!("this trip is {}, not waiting for clearance", trip.status.as_str()),
            });
        }
        trip.status = match clearance.decision {
            ClearanceDecision::Approve => TripStatus::Approved,
            ClearanceDecision::Decline => TripStatus::Declined,
        };
        trip.clearance_note = Some(clearance.note.clone());
        trip.cleared_by = Some(caller.user.username.clone());
        self.store.update_trip(&trip, TripStatus::PendingClearance).await?;
        self.announce_trip(&trip);
        self.refresh_traveller(trip.traveller_id, Utc::now()).await?;
        let action = match clearance.decision {
            ClearanceDecision::Approve => "trip.approved",
            ClearanceDecision::Decline => "trip.declined",
        };
        let detail = serde_json::json!({"traveller": trip.traveller, "note": clearance.note});
        self.audit(
            &caller.user,
            action,
            trip.id,
            std::slice::from_ref(&trip.destination.country),
            detail,
        )
        .await;
        Ok(trip)
    }

    /// Tells the traveller and the destination's officers (who clear trips there).
    fn announce_trip(&self, trip: &Trip) {
        self.delivery.publish(
            &Envelope::Trip { trip: trip.clone() },
            Audience {
                staff: &[trip.traveller_id],
                countries: std::slice::from_ref(&trip.destination.country),
            },
        );
    }

    async fn refresh_traveller(&self, traveller: Uuid, now: DateTime<Utc>) -> Result<(), ApiError> {
        if let Some(user) = self.store.user(traveller).await? {
            self.place_traveller(&user, now).await?;
        }
        Ok(())
    }
}
