//! `POST /api/v1/alerts/{id}/checkins`, `GET /api/v1/alerts/{id}/headcount` and its CSV form.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use scaan_schemas::{Checkin, ErrorBody, Headcount, NewCheckin};
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Headcounts;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, PathId};
use crate::hub::Hub;
use crate::privacy::LocationPrivacy;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(check_in))
        .routes(routes!(headcount))
        .routes(routes!(headcount_csv))
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
        Json(headcounts.check_in(&caller.user, id, new).await?),
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

/// The headcount as CSV, for the incident report.
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
        String::from("staff_id,username,name,status,overdue,updated_at,via,lat,lon,note,reached,sos_status\r\n");
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
