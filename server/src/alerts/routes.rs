//! The alert endpoints of the contract, plus a preview of an alert's reach for the composer.

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use scaan_schemas::cap_import::{from_cap_xml, CapRejected, MAX_CAP_BYTES};
use scaan_schemas::{Alert, AlertCancel, AlertPatch, ErrorBody, Invalid, NewAlert};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AlertPreview, Alerts};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, PathId};
use crate::hub::Hub;
use crate::storage::{AlertState, Page};

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(send_alert, list_alerts))
        .routes(routes!(preview_alert))
        .routes(routes!(import_alert))
        .routes(routes!(get_alert))
        .routes(routes!(get_alert_cap))
        .routes(routes!(update_alert))
        .routes(routes!(cancel_alert))
}

/// Sends an alert to everyone its area reaches.
#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = [])), request_body = NewAlert,
    responses((status = 201, body = Alert), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn send_alert(
    State(alerts): State<Alerts>,
    caller: Caller,
    ApiJson(content): ApiJson<NewAlert>,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    Ok((StatusCode::CREATED, Json(alerts.send(&caller, content).await?)))
}

/// Works out an alert's reach without sending it (for the console's composer).
#[utoipa::path(post, path = "/api/v1/alerts/preview", tag = "alerts", security(("bearer" = [])), request_body = NewAlert,
    responses((status = 200, body = AlertPreview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview_alert(
    State(alerts): State<Alerts>,
    caller: Caller,
    ApiJson(content): ApiJson<NewAlert>,
) -> Result<Json<AlertPreview>, ApiError> {
    Ok(Json(alerts.preview(&caller, &content).await?))
}

/// Sends an alert read from an OASIS CAP 1.2 document (a national met service's, GDACS's,
/// another agency's). A DOCTYPE is refused, so no entity is ever expanded or fetched.
#[utoipa::path(post, path = "/api/v1/alerts/import", tag = "alerts", security(("bearer" = [])),
    request_body(content = String, content_type = "application/cap+xml"),
    responses((status = 201, body = Alert), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_alert(
    State(alerts): State<Alerts>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    caller.require_officer()?;
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge,
        other => ApiError::BadXml(other.body_text()),
    })?;
    if body.len() > MAX_CAP_BYTES {
        return Err(ApiError::TooLarge);
    }
    let cap = from_cap_xml(&body, Utc::now()).map_err(|e| match e {
        CapRejected::Syntax(message) => ApiError::BadXml(message),
        CapRejected::Invalid(invalid) => ApiError::Invalid(invalid),
    })?;
    scaan_schemas::Validate::validate(&cap.content, Utc::now())?;
    let alert = alerts
        .import(&caller, cap.content, &cap.identifier, &cap.sender)
        .await?;
    Ok((StatusCode::CREATED, Json(alert)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only unexpired, uncancelled alerts.
    #[serde(default)]
    active: bool,
    /// Only cancelled alerts (not with `active`).
    #[serde(default)]
    cancelled: bool,
    /// Only alerts sent before this time (the oldest of the page before).
    before: Option<DateTime<Utc>>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

impl ListParams {
    fn state(&self) -> Result<AlertState, Invalid> {
        Ok(match (self.active, self.cancelled) {
            (false, false) => AlertState::Any,
            (true, false) => AlertState::ActiveAt(Utc::now()),
            (false, true) => AlertState::Cancelled,
            (true, true) => return Err(Invalid::new("cancelled", "an alert is not both active and cancelled")),
        })
    }
}

/// Alerts the caller may see, newest first: officers those of their countries, staff those
/// sent to them.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [Alert]), (status = 401, body = ErrorBody)))]
async fn list_alerts(
    State(alerts): State<Alerts>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let page = Page::asked(params.before, params.limit);
    Ok(Json(alerts.list(&caller, params.state()?, page).await?))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Alert), (status = 404, body = ErrorBody)))]
async fn get_alert(State(alerts): State<Alerts>, caller: Caller, PathId(id): PathId) -> Result<Json<Alert>, ApiError> {
    Ok(Json(alerts.readable(&caller, id).await?))
}

/// The alert as an OASIS CAP 1.2 document (scope Restricted).
#[utoipa::path(get, path = "/api/v1/alerts/{id}/cap", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/cap+xml", body = String), (status = 404, body = ErrorBody)))]
async fn get_alert_cap(
    State(alerts): State<Alerts>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<impl IntoResponse, ApiError> {
    let xml = alerts.cap_xml(&caller, id).await?;
    Ok(([(header::CONTENT_TYPE, "application/cap+xml; charset=utf-8")], xml))
}

/// Changes an alert; its recipients get `alert_update`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/update", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AlertPatch,
    responses((status = 200, body = Alert), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_alert(
    State(alerts): State<Alerts>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(patch): ApiJson<AlertPatch>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(alerts.update(&caller, id, patch).await?))
}

/// Cancels an alert; its recipients get `alert_cancel`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AlertCancel,
    responses((status = 200, body = Alert), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn cancel_alert(
    State(alerts): State<Alerts>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<AlertCancel>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(alerts.cancel(&caller, id, body.reason).await?))
}
