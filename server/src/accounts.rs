//! Accounts: creating them (admins, and `scaan user add`), the caller's own account, the
//! caller's last known position, which feeds targeting, and where staff are for the officers' map.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use scaan_schemas::{ErrorBody, LocationUpdate, NewUser, PlaceSource, Role, StaffPosition, User};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{hash_password, Caller};
use crate::error::{ApiError, ApiJson};
use crate::hub::Hub;
use crate::storage::Store;
use crate::targeting::{Fix, Point};

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(record_location))
        .routes(routes!(create_user, list_users))
        .routes(routes!(staff_positions))
}

/// Creates an account; the one way both the API and the command line do it.
pub async fn create_account(store: &Store, new: &NewUser) -> Result<User, ApiError> {
    use scaan_schemas::Validate;
    new.validate(Utc::now())?;
    let hash = hash_password(new.password.clone()).await?;
    Ok(store.create_user(new, &hash, Utc::now()).await?)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
async fn me(caller: Caller) -> Json<User> {
    Json(caller.user)
}

/// Records the caller's position; a fix older than the one held is ignored.
#[utoipa::path(post, path = "/api/v1/me/location", tag = "accounts", security(("bearer" = [])),
    request_body = LocationUpdate,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn record_location(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(update): ApiJson<LocationUpdate>,
) -> Result<StatusCode, ApiError> {
    hub.record_location(&caller.user, update).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl Hub {
    /// Stores a fix durably, then places the person in the targeting index.
    pub async fn record_location(&self, user: &User, update: LocationUpdate) -> Result<(), ApiError> {
        let recorded_at = update.recorded_at.unwrap_or_else(Utc::now);
        let stored = self
            .store
            .record_position(user.id, update.position(), recorded_at)
            .await?;
        if stored && user.role == Role::Staff {
            self.targeting.record_fix(
                user.id,
                Fix {
                    at: Point {
                        lon: update.lon,
                        lat: update.lat,
                    },
                    recorded_at,
                },
            );
            self.sos.follow(user, update.position(), recorded_at).await?;
            self.late_arrivals
                .join(
                    user,
                    Point {
                        lon: update.lon,
                        lat: update.lat,
                    },
                )
                .await?;
        }
        Ok(())
    }
}

/// Creates an account (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])), request_body = NewUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create_user(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    caller.require(&[Role::Admin])?;
    let user = create_account(&hub.store, &new).await?;
    hub.place_staff(&user);
    tracing::info!(admin = %caller.user.username, username = %user.username, role = user.role.as_str(), "account created");
    Ok((StatusCode::CREATED, Json(user)))
}

/// Every account (admins and watch officers).
#[utoipa::path(get, path = "/api/v1/users", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [User]), (status = 403, body = ErrorBody)))]
async fn list_users(State(hub): State<Arc<Hub>>, caller: Caller) -> Result<Json<Vec<User>>, ApiError> {
    caller.require(&[Role::Admin, Role::WatchOfficer])?;
    Ok(Json(hub.store.users().await?))
}

/// Where staff are, for the officers' map: each person's fresh position, else their duty
/// station (the place alerts would reach them at). Watch officers see everyone; security
/// officers those placed in their countries.
#[utoipa::path(get, path = "/api/v1/staff/positions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [StaffPosition]), (status = 403, body = ErrorBody)))]
async fn staff_positions(State(hub): State<Arc<Hub>>, caller: Caller) -> Result<Json<Vec<StaffPosition>>, ApiError> {
    caller.require_officer()?;
    let fresh_since = Utc::now() - chrono::Duration::seconds(hub.config.position_freshness_s as i64);
    let accounts: std::collections::HashMap<_, _> = hub.store.users().await?.into_iter().map(|u| (u.id, u)).collect();
    let mut placed = Vec::new();
    for record in hub.store.staff_records().await? {
        let (position, source, recorded_at) = match (record.position, record.duty_station) {
            (Some((p, at)), _) if at >= fresh_since => (p, PlaceSource::Position, Some(at)),
            (_, Some(p)) => (p, PlaceSource::DutyStation, None),
            _ => continue,
        };
        let Some(user) = accounts.get(&record.id) else {
            continue;
        };
        let country = hub.atlas.country_at(position.lon, position.lat).map(str::to_owned);
        if !caller.may_see(country.as_slice()) {
            continue;
        }
        placed.push(StaffPosition {
            staff_id: user.id,
            username: user.username.clone(),
            name: user.name.clone(),
            position,
            source,
            recorded_at,
            country,
        });
    }
    Ok(Json(placed))
}
