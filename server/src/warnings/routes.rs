//! `/api/v1/warning-feeds` (the feeds followed, and their fetches) and `/api/v1/warnings` (the
//! outside warnings, and promoting one into an alert).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use scaan_schemas::{Alert, AlertPatch, ErrorBody, FeedFetch, NewWarningFeed, Warning, WarningFeed};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Warnings;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, OptionalJson, PathId};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(list_feeds, add_feed))
        .routes(routes!(remove_feed))
        .routes(routes!(feed_fetches))
        .routes(routes!(list_warnings))
        .routes(routes!(get_warning))
        .routes(routes!(promote_warning))
}

/// The feeds followed, with their state: failures in a row, the next poll, the last error.
#[utoipa::path(get, path = "/api/v1/warning-feeds", tag = "warnings", security(("bearer" = [])),
    responses((status = 200, body = [WarningFeed]), (status = 403, body = ErrorBody)))]
async fn list_feeds(State(warnings): State<Warnings>, caller: Caller) -> Result<Json<Vec<WarningFeed>>, ApiError> {
    Ok(Json(warnings.feeds(&caller).await?))
}

/// Follows a feed (watch officers): an Atom or RSS index of CAP messages, or a CAP document's
/// URL. It is polled at once, then every `interval_s`.
#[utoipa::path(post, path = "/api/v1/warning-feeds", tag = "warnings", security(("bearer" = [])),
    request_body = NewWarningFeed,
    responses((status = 201, body = WarningFeed), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn add_feed(
    State(warnings): State<Warnings>,
    caller: Caller,
    ApiJson(new): ApiJson<NewWarningFeed>,
) -> Result<(StatusCode, Json<WarningFeed>), ApiError> {
    Ok((StatusCode::CREATED, Json(warnings.add_feed(&caller, new).await?)))
}

/// Stops following a feed (watch officers); its warnings and fetches stay.
#[utoipa::path(delete, path = "/api/v1/warning-feeds/{id}", tag = "warnings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn remove_feed(
    State(warnings): State<Warnings>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    warnings.remove_feed(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct FetchParams {
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

/// A feed's fetches and their outcomes, newest first.
#[utoipa::path(get, path = "/api/v1/warning-feeds/{id}/fetches", tag = "warnings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path), FetchParams),
    responses((status = 200, body = [FeedFetch]), (status = 404, body = ErrorBody)))]
async fn feed_fetches(
    State(warnings): State<Warnings>,
    caller: Caller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<FetchParams>,
) -> Result<Json<Vec<FeedFetch>>, ApiError> {
    let limit = params.limit.unwrap_or(50).clamp(1, 500);
    Ok(Json(warnings.fetches(&caller, id, limit).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only current warnings: neither withdrawn nor expired.
    #[serde(default)]
    current: bool,
    /// At most this many (default 200, at most 1000).
    limit: Option<u32>,
}

/// Outside warnings, most recently changed first (a security officer: those of their
/// countries).
#[utoipa::path(get, path = "/api/v1/warnings", tag = "warnings", security(("bearer" = [])), params(ListParams),
    responses((status = 200, body = [Warning]), (status = 403, body = ErrorBody)))]
async fn list_warnings(
    State(warnings): State<Warnings>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<Warning>>, ApiError> {
    let limit = params.limit.unwrap_or(200).clamp(1, 1000);
    Ok(Json(warnings.list(&caller, params.current, limit).await?))
}

#[utoipa::path(get, path = "/api/v1/warnings/{id}", tag = "warnings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Warning), (status = 404, body = ErrorBody)))]
async fn get_warning(
    State(warnings): State<Warnings>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Warning>, ApiError> {
    Ok(Json(warnings.get(&caller, id).await?))
}

/// Sends an alert made from the warning, through the alert path (the caller's countries, the
/// staff its area reaches). Every alert field is optional: what is missing comes from the
/// warning (its English info when it has one, else its first; its area when one can be
/// targeted as it is: otherwise `area` is required).
#[utoipa::path(post, path = "/api/v1/warnings/{id}/promote", tag = "warnings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = AlertPatch,
    responses((status = 201, body = Alert), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn promote_warning(
    State(warnings): State<Warnings>,
    caller: Caller,
    PathId(id): PathId,
    OptionalJson(patch): OptionalJson<AlertPatch>,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(warnings.promote(&caller, id, patch.unwrap_or_default()).await?),
    ))
}
