//! `GET /api/v1/taxonomy/incidents`, `POST|GET /api/v1/reports`, `GET /api/v1/reports/{id}`,
//! its `triage`, `merge` and `promote`, and `PUT /api/v1/users/{id}/sensitive-access`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use chrono::Utc;
use scaan_schemas::{
    Alert, AlertPatch, ErrorBody, IncidentTaxonomy, Invalid, NewReport, Report, ReportMerge, ReportStatus,
    ReportTriage, Validate,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Reports;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, PathId};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(taxonomy))
        .routes(routes!(submit, list))
        .routes(routes!(get_report))
        .routes(routes!(triage))
        .routes(routes!(merge))
        .routes(routes!(promote))
        .routes(routes!(sensitive_access))
}

/// The incident categories reports use, versioned.
#[utoipa::path(get, path = "/api/v1/taxonomy/incidents", tag = "reports",
    responses((status = 200, body = IncidentTaxonomy)))]
async fn taxonomy() -> Json<IncidentTaxonomy> {
    Json(IncidentTaxonomy::current())
}

/// Reports an incident; the officers of its country see it at once.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", security(("bearer" = [])), request_body = NewReport,
    responses((status = 201, body = Report), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn submit(
    State(reports): State<Reports>,
    caller: Caller,
    ApiJson(new): ApiJson<NewReport>,
) -> Result<(StatusCode, Json<Report>), ApiError> {
    Ok((StatusCode::CREATED, Json(reports.submit(&caller.user, new).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// `new`, `confirmed`, `dismissed` or `merged`.
    status: Option<ReportStatus>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Reports, newest first: officers those of their countries (restricted ones only with
/// sensitive access), staff their own.
#[utoipa::path(get, path = "/api/v1/reports", operation_id = "list_reports", tag = "reports", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [Report]), (status = 403, body = ErrorBody)))]
async fn list(
    State(reports): State<Reports>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Report>>, ApiError> {
    Ok(Json(reports.list(&caller, params.status, params.limit).await?))
}

#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Report), (status = 404, body = ErrorBody)))]
async fn get_report(
    State(reports): State<Reports>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(reports.readable(&caller, id).await?))
}

/// Confirms or dismisses a report, with an optional note.
#[utoipa::path(post, path = "/api/v1/reports/{id}/triage", tag = "reports", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ReportTriage,
    responses((status = 200, body = Report), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn triage(
    State(reports): State<Reports>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ReportTriage>,
) -> Result<Json<Report>, ApiError> {
    let note = body.note.filter(|n| !n.trim().is_empty());
    Ok(Json(reports.triage(&caller, id, body.status, note).await?))
}

/// Marks a report as a duplicate of another (`into`).
#[utoipa::path(post, path = "/api/v1/reports/{id}/merge", tag = "reports", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = ReportMerge,
    responses((status = 200, body = Report), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn merge(
    State(reports): State<Reports>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<ReportMerge>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(reports.merge(&caller, id, body.into).await?))
}

/// Sends an alert made from the report. Every alert field is optional: what is missing comes
/// from the report (headline and event from its category, its description, a 5 km circle around
/// its position, 24 hours).
#[utoipa::path(post, path = "/api/v1/reports/{id}/promote", tag = "reports", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AlertPatch,
    responses((status = 201, body = Alert), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn promote(
    State(reports): State<Reports>,
    caller: Caller,
    PathId(id): PathId,
    body: Bytes,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    // Every field is optional, and so is the body.
    let patch = match body.iter().all(u8::is_ascii_whitespace) {
        true => AlertPatch::default(),
        false => scaan_schemas::decode::<AlertPatch>(&body, Utc::now())?,
    };
    Ok((StatusCode::CREATED, Json(reports.promote(&caller, id, patch).await?)))
}

/// Whether an account may read restricted reports (sexual violence).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SensitiveAccess {
    pub granted: bool,
}

impl Validate for SensitiveAccess {
    fn validate(&self, _now: chrono::DateTime<Utc>) -> Result<(), Invalid> {
        Ok(())
    }
}

/// Grants or withdraws an officer's access to restricted reports (admins only).
#[utoipa::path(put, path = "/api/v1/users/{id}/sensitive-access", tag = "accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = SensitiveAccess,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn sensitive_access(
    State(reports): State<Reports>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<SensitiveAccess>,
) -> Result<StatusCode, ApiError> {
    reports.set_sensitive_access(&caller, id, body.granted).await?;
    Ok(StatusCode::NO_CONTENT)
}
