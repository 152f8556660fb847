//! `POST/GET /api/v1/journeys`, `GET /api/v1/journeys/{id}`, `POST …/{id}/checkin` and
//! `…/{id}/end`; `GET /api/v1/journey-alarms`, `POST …/{id}/ack` and `…/{id}/resolve`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{AlarmStatus, ErrorBody, Invalid, Journey, JourneyAlarm, JourneyCheckin, NewJourney, SosNote};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Journeys;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, OptionalJson, PathId};
use crate::hub::Hub;
use crate::storage::Page;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(get_journey))
        .routes(routes!(check_in))
        .routes(routes!(end))
        .routes(routes!(alarms))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
}

/// Starts a journey with expected check-ins: one's own, or (officers) a staff member's.
#[utoipa::path(post, path = "/api/v1/journeys", operation_id = "start_journey", tag = "journeys", security(("bearer" = [])), request_body = NewJourney,
    responses((status = 201, body = Journey), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start(
    State(journeys): State<Journeys>,
    caller: Caller,
    ApiJson(new): ApiJson<NewJourney>,
) -> Result<(StatusCode, Json<Journey>), ApiError> {
    Ok((StatusCode::CREATED, Json(journeys.start(&caller, new).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only journeys under way.
    active: Option<bool>,
    /// Only journeys started before this time (the oldest of the page before).
    before: Option<DateTime<Utc>>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Journeys, latest started first: one's own; officers also those of their countries.
#[utoipa::path(get, path = "/api/v1/journeys", operation_id = "list_journeys", tag = "journeys", security(("bearer" = [])),
    params(ListParams), responses((status = 200, body = [Journey]), (status = 403, body = ErrorBody)))]
async fn list(
    State(journeys): State<Journeys>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Journey>>, ApiError> {
    let page = Page::asked(params.before, params.limit);
    Ok(Json(
        journeys.list(&caller, params.active.unwrap_or(false), page).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/journeys/{id}", operation_id = "get_journey", tag = "journeys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Journey), (status = 404, body = ErrorBody)))]
async fn get_journey(
    State(journeys): State<Journeys>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Journey>, ApiError> {
    Ok(Json(journeys.visible(&caller, id).await?))
}

/// "All well" (the next check-in counts from now) or "arrived safely" (ends the leg).
#[utoipa::path(post, path = "/api/v1/journeys/{id}/checkin", operation_id = "check_in_journey", tag = "journeys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = JourneyCheckin,
    responses((status = 200, body = Journey), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn check_in(
    State(journeys): State<Journeys>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(checkin): ApiJson<JourneyCheckin>,
) -> Result<Json<Journey>, ApiError> {
    Ok(Json(journeys.check_in(&caller.user, id, checkin).await?))
}

/// Ends a journey early: no more check-ins are expected.
#[utoipa::path(post, path = "/api/v1/journeys/{id}/end", operation_id = "end_journey", tag = "journeys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Journey), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn end(State(journeys): State<Journeys>, caller: Caller, PathId(id): PathId) -> Result<Json<Journey>, ApiError> {
    Ok(Json(journeys.end(&caller.user, id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AlarmParams {
    /// `open`, `acknowledged` or `resolved`.
    status: Option<AlarmStatus>,
    /// Only alarms raised before this time (the oldest of the page before).
    before: Option<DateTime<Utc>>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Missed-check-in alarms, newest first (officers: those of their countries).
#[utoipa::path(get, path = "/api/v1/journey-alarms", operation_id = "list_journey_alarms", tag = "journeys", security(("bearer" = [])), params(AlarmParams),
    responses((status = 200, body = [JourneyAlarm]), (status = 403, body = ErrorBody)))]
async fn alarms(
    State(journeys): State<Journeys>,
    caller: Caller,
    ApiQuery(params): ApiQuery<AlarmParams>,
) -> Result<Json<Vec<JourneyAlarm>>, ApiError> {
    let page = Page::asked(params.before, params.limit);
    Ok(Json(journeys.alarms(&caller, params.status, page).await?))
}

/// Someone is on it.
#[utoipa::path(post, path = "/api/v1/journey-alarms/{id}/ack", operation_id = "acknowledge_journey_alarm", tag = "journeys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = SosNote,
    responses((status = 200, body = JourneyAlarm), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn acknowledge(
    State(journeys): State<Journeys>,
    caller: Caller,
    PathId(id): PathId,
    // The note is optional, and so is the body that carries it.
    OptionalJson(body): OptionalJson<SosNote>,
) -> Result<Json<JourneyAlarm>, ApiError> {
    Ok(Json(
        journeys.acknowledge(&caller, id, body.and_then(|b| b.note)).await?,
    ))
}

/// Closes the alarm with what happened.
#[utoipa::path(post, path = "/api/v1/journey-alarms/{id}/resolve", operation_id = "resolve_journey_alarm", tag = "journeys", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = SosNote,
    responses((status = 200, body = JourneyAlarm), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn resolve(
    State(journeys): State<Journeys>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<SosNote>,
) -> Result<Json<JourneyAlarm>, ApiError> {
    let note = body
        .note
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Invalid::new("note", "say how it was resolved"))?;
    Ok(Json(journeys.resolve(&caller, id, note).await?))
}
