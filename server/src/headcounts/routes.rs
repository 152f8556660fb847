//! `POST /api/v1/alerts/{id}/checkins`, `GET /api/v1/alerts/{id}/headcount` and its CSV form,
//! an exercise's `GET /api/v1/alerts/{id}/drill-report`, and `GET /api/v1/headcounts/summary`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use scaan_schemas::{Channel, Checkin, DrillReport, ErrorBody, Headcount, HeadcountSummary, NewCheckin, Status};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Headcounts;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery, PathId};
use crate::hub::Hub;
use crate::privacy::LocationPrivacy;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(check_in))
        .routes(routes!(headcount))
        .routes(routes!(headcount_csv))
        .routes(routes!(drill_report))
        .routes(routes!(summary))
}

/// How an exercise went: sent to, delivered, answered, how fast, and who never answered.
/// 409 `not_an_exercise` for any other alert.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/drill-report", tag = "headcounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = DrillReport), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn drill_report(
    State(headcounts): State<Headcounts>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<DrillReport>, ApiError> {
    Ok(Json(headcounts.drill_report(&caller, id).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SummaryParams {
    /// The period's start (default: 30 days before `to`).
    from: Option<DateTime<Utc>>,
    /// Its end, excluded (default: now).
    to: Option<DateTime<Utc>>,
    /// Which alerts: `actual` (default), `exercise` or `test`; never mixed.
    status: Option<Status>,
}

/// How fast the headcounts of a period accounted for their people: all pooled, and each.
#[utoipa::path(get, path = "/api/v1/headcounts/summary", tag = "headcounts", security(("bearer" = [])),
    params(SummaryParams),
    responses((status = 200, body = HeadcountSummary), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn summary(
    State(headcounts): State<Headcounts>,
    caller: Caller,
    ApiQuery(params): ApiQuery<SummaryParams>,
) -> Result<Json<HeadcountSummary>, ApiError> {
    let (from, to) = super::summary::period(params.from, params.to, Utc::now())?;
    let status = params.status.unwrap_or(Status::Actual);
    Ok(Json(headcounts.summary(&caller, from, to, status).await?))
}

/// Answers an alert's headcount ("I'm safe" / "I need help"); officers answer for someone with
/// `staff_id` and `via`. 201 only once the check-in is durably stored.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/checkins", tag = "headcounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), request_body = NewCheckin,
    responses((status = 201, body = Checkin), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn check_in(
    State(headcounts): State<Headcounts>,
    caller: Caller,
    PathId(id): PathId,
    ApiJson(new): ApiJson<NewCheckin>,
) -> Result<(StatusCode, Json<Checkin>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(headcounts.check_in(&caller.user, id, new, Channel::Http).await?),
    ))
}

/// Who has answered, who needs help, who is silent: people in trouble (SOS, need help) first.
#[utoipa::path(get, path = "/api/v1/alerts/{id}/headcount", tag = "headcounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses((status = 200, body = Headcount), (status = 404, body = ErrorBody)))]
async fn headcount(
    State(headcounts): State<Headcounts>,
    State(privacy): State<LocationPrivacy>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<Headcount>, ApiError> {
    let mut board = headcounts.board(&caller, id).await?;
    privacy.screen_board(&caller, &mut board).await?;
    Ok(Json(board))
}

/// The headcount as CSV, for the incident report: one row per person, with when their first
/// answer accounted for them (the time-to-account's raw figures).
#[utoipa::path(get, path = "/api/v1/alerts/{id}/headcount.csv", tag = "headcounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn headcount_csv(
    State(headcounts): State<Headcounts>,
    State(privacy): State<LocationPrivacy>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<impl IntoResponse, ApiError> {
    let mut board = headcounts.board(&caller, id).await?;
    privacy.screen_board(&caller, &mut board).await?;
    let mut csv =
        String::from("staff_id,username,name,status,overdue,updated_at,via,lat,lon,note,reached,sos_status,accounted_at,accounted_after_s,accounted_channel\r\n");
    for e in &board.staff {
        let fields = [
            e.staff_id.to_string(),
            e.username.clone(),
            e.name.clone(),
            e.status.as_str().to_owned(),
            e.overdue.to_string(),
            e.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            e.via.map(|v| v.as_str().to_owned()).unwrap_or_default(),
            e.position.map(|p| p.lat.to_string()).unwrap_or_default(),
            e.position.map(|p| p.lon.to_string()).unwrap_or_default(),
            e.note.clone().unwrap_or_default(),
            e.reached.to_string(),
            e.sos_status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            e.accounted_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            e.accounted_after_s.map(|s| format!("{s:.3}")).unwrap_or_default(),
            e.accounted_channel.map(|c| c.as_str().to_owned()).unwrap_or_default(),
        ];
        csv.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        csv.push_str("\r\n");
    }
    let disposition = format!("attachment; filename=\"headcount-{id}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    ))
}

/// RFC 4180 quoting, and a leading quote on text a spreadsheet would run as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) && value.parse::<f64>().is_err() {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("Doe, \"JJ\""), "\"Doe, \"\"JJ\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::csv_field("-1.29"), "-1.29");
    }
}
