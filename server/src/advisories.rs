//! Country advisories: one current advisory per country with its history. Officers of the
//! country (and watch officers) change it; each change is pushed to the staff located in the
//! country or travelling to it, and to its officers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{is_country_code, risk_label, Advisory, Envelope, ErrorBody, Invalid, NewAdvisory};
use std::collections::BTreeSet;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::delivery::Audience;
use crate::error::{ApiError, ApiJson};
use crate::hub::Hub;

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_advisory, put_advisory))
        .routes(routes!(history))
}

/// A country code from the path: any case, answered in upper case; anything else is a 422.
fn country_code(raw: &str) -> Result<String, ApiError> {
    let code = raw.to_ascii_uppercase();
    if is_country_code(&code) {
        Ok(code)
    } else {
        Err(Invalid::new(
            "country",
            format!("'{raw}' is not an ISO 3166-1 alpha-2 code such as CD"),
        )
        .into())
    }
}

fn no_advisory(country: &str) -> ApiError {
    ApiError::Missing {
        code: "no_advisory",
        message: format!("{country} has no advisory yet"),
    }
}

/// Every country's current advisory.
#[utoipa::path(get, path = "/api/v1/advisories", operation_id = "list_advisories", tag = "advisories", security(("bearer" = [])),
    responses((status = 200, body = [Advisory]), (status = 401, body = ErrorBody)))]
async fn list(State(hub): State<Arc<Hub>>, _caller: Caller) -> Result<Json<Vec<Advisory>>, ApiError> {
    Ok(Json(hub.store.advisories().await?))
}

/// A country's current advisory; 404 `no_advisory` when it has none.
#[utoipa::path(get, path = "/api/v1/advisories/{country}", tag = "advisories", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    responses((status = 200, body = Advisory), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_advisory(
    State(hub): State<Arc<Hub>>,
    _caller: Caller,
    Path(country): Path<String>,
) -> Result<Json<Advisory>, ApiError> {
    let country = country_code(&country)?;
    let advisory = hub.store.advisory(&country).await?;
    advisory.map(Json).ok_or_else(|| no_advisory(&country))
}

/// Every version of a country's advisory, newest (the current one) first.
#[utoipa::path(get, path = "/api/v1/advisories/{country}/history", tag = "advisories", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    responses((status = 200, body = [Advisory]), (status = 422, body = ErrorBody)))]
async fn history(
    State(hub): State<Arc<Hub>>,
    _caller: Caller,
    Path(country): Path<String>,
) -> Result<Json<Vec<Advisory>>, ApiError> {
    let country = country_code(&country)?;
    Ok(Json(hub.store.advisory_history(&country).await?))
}

/// Sets a country's advisory (its security officers, watch officers): 201 for its first, 200
/// after. Staff located in or travelling to the country get the `advisory` envelope.
#[utoipa::path(put, path = "/api/v1/advisories/{country}", tag = "advisories", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")), request_body = NewAdvisory,
    responses((status = 200, body = Advisory), (status = 201, body = Advisory), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_advisory(
    State(hub): State<Arc<Hub>>,
    caller: Caller,
    Path(country): Path<String>,
    ApiJson(new): ApiJson<NewAdvisory>,
) -> Result<(StatusCode, Json<Advisory>), ApiError> {
    let country = country_code(&country)?;
    let advisory = hub.set_advisory(&caller, &country, new).await?;
    let status = if advisory.revision == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(advisory)))
}

impl Hub {
    pub async fn set_advisory(&self, caller: &Caller, country: &str, new: NewAdvisory) -> Result<Advisory, ApiError> {
        caller.may_act_for(country)?;
        let countries = [country.to_owned()];
        let previous = self.store.advisory(country).await?;
        let now = Utc::now();
        let advisory = Advisory {
            id: Uuid::new_v4(),
            country: country.to_owned(),
            risk_level: new.risk_level,
            risk_label: risk_label(new.risk_level).to_owned(),
            summary: new.summary,
            curfew: new.curfew,
            movement_restrictions: new.movement_restrictions,
            valid_until: new.valid_until,
            updated_at: now,
            updated_by: caller.user.username.clone(),
            revision: previous.as_ref().map_or(1, |p| p.revision + 1),
        };
        self.store.put_advisory(&advisory).await?;
        let staff = self.staff_concerned_by(country, now).await?;
        self.delivery
            .publish(
                &Envelope::Advisory {
                    advisory: advisory.clone(),
                },
                Audience {
                    staff: &staff,
                    countries: &countries,
                },
            )
            .stored()
            .await;
        tracing::info!(
            country,
            level = advisory.risk_level,
            staff = staff.len(),
            "advisory changed"
        );
        let detail = serde_json::json!({
            "revision": advisory.revision,
            "risk_level": advisory.risk_level,
            "previous_risk_level": previous.map(|p| p.risk_level),
        });
        self.audit(&caller.user, "advisory.updated", advisory.id, &countries, detail)
            .await;
        Ok(advisory)
    }

    /// Staff located in `country` — by their fresh position, else their duty station, placed
    /// with the shipped boundaries — and everyone with a trip there not yet over.
    pub async fn staff_concerned_by(&self, country: &str, now: DateTime<Utc>) -> Result<Vec<Uuid>, ApiError> {
        let fresh_since = now - Duration::seconds(self.config.position_freshness_s as i64);
        let mut staff: BTreeSet<Uuid> = self
            .store
            .staff_records()
            .await?
            .into_iter()
            .filter(|s| {
                let fresh = s.position.filter(|(_, at)| *at >= fresh_since).map(|(p, _)| p);
                fresh
                    .or(s.duty_station)
                    .is_some_and(|p| self.atlas.country_at(p.lon, p.lat) == Some(country))
            })
            .map(|s| s.id)
            .collect();
        staff.extend(self.store.travellers_to(country, now).await?);
        Ok(staff.into_iter().collect())
    }
}
