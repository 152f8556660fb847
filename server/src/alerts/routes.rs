//! The alert endpoints of the contract, plus a preview of an alert's reach for the composer.

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use scaan_schemas::cap_import::{from_cap_xml, CapRejected, MAX_CAP_BYTES};
use scaan_schemas::{Alert, AlertCancel, AlertPatch, ErrorBody, Invalid, NewAlert, Role};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::Actor;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, PathId};
use crate::hub::Hub;
use crate::storage::{AlertScope, AlertState, Page};

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
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(content): ApiJson<NewAlert>,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    Ok((StatusCode::CREATED, Json(hub.send_alert(&caller, content).await?)))
}

/// How many people an alert would reach, and in which countries, without sending it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AlertPreview {
    pub recipients: u32,
    pub countries: Vec<String>,
    /// Some of the people it reaches (at most [`PREVIEW_NAMES`], alphabetical), so the officer
    /// sees whom the send is about before sending.
    pub names: Vec<String>,
}

/// How many names a preview carries.
const PREVIEW_NAMES: usize = 8;

/// Works out an alert's reach without sending it (for the console's composer).
#[utoipa::path(post, path = "/api/v1/alerts/preview", tag = "alerts", security(("bearer" = [])), request_body = NewAlert,
    responses((status = 200, body = AlertPreview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview_alert(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiJson(content): ApiJson<NewAlert>,
) -> Result<Json<AlertPreview>, ApiError> {
    caller.require_officer()?;
    let reach = hub.reach(&content).await;
    caller.may_act_in(&reach.countries)?;
    let mut names = Vec::with_capacity(PREVIEW_NAMES);
    for id in reach.staff.iter().take(PREVIEW_NAMES) {
        if let Some(user) = hub.store.user(*id).await? {
            names.push(user.name);
        }
    }
    names.sort();
    Ok(Json(AlertPreview {
        recipients: reach.staff.len() as u32,
        countries: reach.countries,
        names,
    }))
}

/// Sends an alert read from an OASIS CAP 1.2 document (a national met service's, GDACS's,
/// another agency's). A DOCTYPE is refused, so no entity is ever expanded or fetched.
#[utoipa::path(post, path = "/api/v1/alerts/import", tag = "alerts", security(("bearer" = [])),
    request_body(content = String, content_type = "application/cap+xml"),
    responses((status = 201, body = Alert), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn import_alert(
    State(hub): State<Arc<Hub>>,
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
    let alert = hub.send_alert(&caller, cap.content).await?;
    let detail = serde_json::json!({"identifier": cap.identifier, "sender": cap.sender});
    hub.audit
        .record(
            Actor::Account(&caller.user),
            "alert.imported",
            alert.id,
            &alert.countries,
            detail,
        )
        .await;
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

/// Alerts the caller may see, newest first: officers those of their countries, staff those
/// sent to them.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [Alert]), (status = 401, body = ErrorBody)))]
async fn list_alerts(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    let scope = match caller.role() {
        Role::WatchOfficer => AlertScope::All,
        Role::SecurityOfficer => AlertScope::Countries(caller.user.countries.clone()),
        Role::Staff => AlertScope::Recipient(caller.user.id),
        Role::Admin => return Err(ApiError::forbidden("administrators manage accounts, not alerts")),
    };
    let state = match (params.active, params.cancelled) {
        (false, false) => AlertState::Any,
        (true, false) => AlertState::ActiveAt(Utc::now()),
        (false, true) => AlertState::Cancelled,
        (true, true) => return Err(Invalid::new("cancelled", "an alert is not both active and cancelled").into()),
    };
    let page = Page::asked(params.before, params.limit);
    Ok(Json(hub.store.alerts(&scope, state, page).await?))
}

async fn readable_alert(hub: &Hub, caller: &Caller, id: uuid::Uuid) -> Result<Alert, ApiError> {
    match hub.store.alert(id).await? {
        Some(alert) if hub.may_read(caller, &alert).await? => Ok(alert),
        _ => Err(ApiError::NotFound("alert")),
    }
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Alert), (status = 404, body = ErrorBody)))]
async fn get_alert(State(hub): State<Arc<Hub>>, caller: Caller, PathId(id): PathId) -> Result<Json<Alert>, ApiError> {
    Ok(Json(readable_alert(&hub, &caller, id).await?))
}

/// The alert as an OASIS CAP 1.2 document (scope Restricted).
#[utoipa::path(get, path = "/api/v1/alerts/{id}/cap", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "application/cap+xml", body = String), (status = 404, body = ErrorBody)))]
async fn get_alert_cap(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<impl IntoResponse, ApiError> {
    let alert = readable_alert(&hub, &caller, id).await?;
    let xml = scaan_schemas::cap::to_cap_xml(&alert, &hub.config.cap_sender);
    Ok(([(header::CONTENT_TYPE, "application/cap+xml; charset=utf-8")], xml))
}

/// Changes an alert; its recipients get `alert_update`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/update", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AlertPatch,
    responses((status = 200, body = Alert), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_alert(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(patch): ApiJson<AlertPatch>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(hub.update_alert(&caller, id, patch).await?))
}

/// Cancels an alert; its recipients get `alert_cancel`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/cancel", tag = "alerts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AlertCancel,
    responses((status = 200, body = Alert), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn cancel_alert(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<AlertCancel>,
) -> Result<Json<Alert>, ApiError> {
    Ok(Json(hub.cancel_alert(&caller, id, body.reason).await?))
}
