//! `POST /api/v1/sos`, `GET /api/v1/sos`, `POST /api/v1/sos/{id}/ack` and `/resolve`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{ErrorBody, Invalid, NewSos, Sos, SosNote, SosStatus};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SosCalls;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, OptionalJson, PathId};
use crate::hub::Hub;
use crate::storage::Page;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(raise, list))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
}

/// "I'm not okay": reaches every officer concerned at once.
#[utoipa::path(post, path = "/api/v1/sos", tag = "sos", security(("bearer" = [])), request_body = NewSos,
    responses((status = 201, body = Sos), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn raise(
    State(sos): State<SosCalls>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSos>,
) -> Result<(StatusCode, Json<Sos>), ApiError> {
    Ok((StatusCode::CREATED, Json(sos.raise(&caller.user, new).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// `open`, `acknowledged` or `resolved`.
    status: Option<SosStatus>,
    /// Only calls raised before this time (the oldest of the page before).
    before: Option<DateTime<Utc>>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// SOS calls, newest first: officers those of their countries, staff their own.
#[utoipa::path(get, path = "/api/v1/sos", operation_id = "list_sos", tag = "sos", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [Sos])))]
async fn list(
    State(sos): State<SosCalls>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Sos>>, ApiError> {
    let page = Page::asked(params.before, params.limit);
    Ok(Json(sos.list(&caller, params.status, page).await?))
}

/// Someone is on it: stops the reminders.
#[utoipa::path(post, path = "/api/v1/sos/{id}/ack", tag = "sos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = SosNote,
    responses((status = 200, body = Sos), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn acknowledge(
    State(sos): State<SosCalls>,
    caller: Caller,
    PathId(id): PathId,
    // The note is optional, and so is the body that carries it.
    OptionalJson(body): OptionalJson<SosNote>,
) -> Result<Json<Sos>, ApiError> {
    Ok(Json(sos.acknowledge(&caller, id, body.and_then(|b| b.note)).await?))
}

/// Closes the SOS with what happened.
#[utoipa::path(post, path = "/api/v1/sos/{id}/resolve", tag = "sos", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = SosNote,
    responses((status = 200, body = Sos), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn resolve(
    State(sos): State<SosCalls>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<SosNote>,
) -> Result<Json<Sos>, ApiError> {
    let note = body
        .note
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Invalid::new("note", "say how it was resolved"))?;
    Ok(Json(sos.resolve(&caller, id, note).await?))
}
