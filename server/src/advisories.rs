//! Country advisories: one current advisory per country with its history. Officers of the
//! country (and watch officers) change it; each change is pushed to the staff located in the
//! country or travelling to it, and to its officers.
//!
//! Owns: the advisories and their history. Uses: [`Audit`] (each change is recorded), the
//! delivery fan-out and the country atlas (who is located where).

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use scaan_schemas::{is_country_code, risk_label, Advisory, Envelope, ErrorBody, Invalid, NewAdvisory, User};
use std::collections::BTreeSet;
use std::sync::Arc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{Actor, Audit};
use crate::auth::{Caller, Forbidden};
use crate::countries::CountryAtlas;
use crate::delivery::{Audience, Delivery};
use crate::error::{ApiError, ApiJson};
use crate::hub::Hub;
use crate::storage::{StaffRecord, Store, StoreError};

/// Advisories, and who they concern.
#[derive(Clone)]
pub struct Advisories {
    store: Store,
    atlas: &'static CountryAtlas,
    delivery: Arc<Delivery>,
    audit: Audit,
    /// How long a reported position places its owner (`position_freshness_s`).
    position_freshness: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    /// Not a country code.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0} has no advisory yet")]
    NoAdvisory(String),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AdvisoryError> for ApiError {
    fn from(e: AdvisoryError) -> Self {
        match e {
            AdvisoryError::Invalid(e) => e.into(),
            AdvisoryError::NoAdvisory(_) => ApiError::Missing {
                code: "no_advisory",
                message: e.to_string(),
            },
            AdvisoryError::Forbidden(e) => e.into(),
            AdvisoryError::Store(e) => e.into(),
        }
    }
}

impl FromRef<Arc<Hub>> for Advisories {
    fn from_ref(hub: &Arc<Hub>) -> Self {
        hub.advisories.clone()
    }
}

pub fn router() -> OpenApiRouter<Arc<Hub>> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_advisory, put_advisory))
        .routes(routes!(history))
}

/// A country code as given (in a path): any case, answered in upper case.
fn country_code(raw: &str) -> Result<String, Invalid> {
    let code = raw.to_ascii_uppercase();
    if is_country_code(&code) {
        Ok(code)
    } else {
        Err(Invalid::new(
            "country",
            format!("'{raw}' is not an ISO 3166-1 alpha-2 code such as CD"),
        ))
    }
}

/// The advisory that follows `previous` (if any) once `by` sets `new`.
fn next_advisory(
    previous: Option<&Advisory>,
    country: &str,
    new: NewAdvisory,
    by: &User,
    now: DateTime<Utc>,
) -> Advisory {
    Advisory {
        id: Uuid::new_v4(),
        country: country.to_owned(),
        risk_level: new.risk_level,
        risk_label: risk_label(new.risk_level).to_owned(),
        summary: new.summary,
        curfew: new.curfew,
        movement_restrictions: new.movement_restrictions,
        valid_until: new.valid_until,
        updated_at: now,
        updated_by: by.username.clone(),
        revision: previous.map_or(1, |p| p.revision + 1),
    }
}

/// The staff located in `country`: by their position when fresh (recorded since
/// `fresh_since`), else by their duty station, placed with `atlas`.
fn located_in<'a>(
    staff: &'a [StaffRecord],
    country: &'a str,
    fresh_since: DateTime<Utc>,
    atlas: &'a CountryAtlas,
) -> impl Iterator<Item = Uuid> + 'a {
    staff
        .iter()
        .filter(move |s| {
            let fresh = s.position.filter(|(_, at)| *at >= fresh_since).map(|(p, _)| p);
            fresh
                .or(s.duty_station)
                .is_some_and(|p| atlas.country_at(p.lon, p.lat) == Some(country))
        })
        .map(|s| s.id)
}

impl Advisories {
    pub fn new(
        store: Store,
        atlas: &'static CountryAtlas,
        delivery: Arc<Delivery>,
        audit: Audit,
        position_freshness: Duration,
    ) -> Advisories {
        Advisories {
            store,
            atlas,
            delivery,
            audit,
            position_freshness,
        }
    }

    pub async fn list(&self) -> Result<Vec<Advisory>, AdvisoryError> {
        Ok(self.store.advisories().await?)
    }

    /// A country's current advisory; [`AdvisoryError::NoAdvisory`] when it has none.
    pub async fn current(&self, country: &str) -> Result<Advisory, AdvisoryError> {
        let country = country_code(country)?;
        self.store
            .advisory(&country)
            .await?
            .ok_or(AdvisoryError::NoAdvisory(country))
    }

    pub async fn history(&self, country: &str) -> Result<Vec<Advisory>, AdvisoryError> {
        let country = country_code(country)?;
        Ok(self.store.advisory_history(&country).await?)
    }

    /// Sets a country's advisory and pushes it to the staff it concerns and its officers.
    pub async fn set(&self, caller: &Caller, country: &str, new: NewAdvisory) -> Result<Advisory, AdvisoryError> {
        let country = country_code(country)?;
        caller.may_act_for(&country)?;
        let countries = [country.clone()];
        let previous = self.store.advisory(&country).await?;
        let now = Utc::now();
        let advisory = next_advisory(previous.as_ref(), &country, new, &caller.user, now);
        self.store.put_advisory(&advisory).await?;
        let staff = self.staff_concerned_by(&country, now).await?;
        self.delivery
            .publish_durably(
                &Envelope::Advisory {
                    advisory: advisory.clone(),
                },
                Audience {
                    staff: &staff,
                    countries: &countries,
                },
            )
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
        self.audit
            .record(
                Actor::Account(&caller.user),
                "advisory.updated",
                advisory.id,
                &countries,
                detail,
            )
            .await;
        Ok(advisory)
    }

    /// Staff located in `country` and everyone with a trip there not yet over.
    async fn staff_concerned_by(&self, country: &str, now: DateTime<Utc>) -> Result<Vec<Uuid>, AdvisoryError> {
        let records = self.store.staff_records().await?;
        let mut staff: BTreeSet<Uuid> =
            located_in(&records, country, now - self.position_freshness, self.atlas).collect();
        staff.extend(self.store.travellers_to(country, now).await?);
        Ok(staff.into_iter().collect())
    }
}

/// Every country's current advisory.
#[utoipa::path(get, path = "/api/v1/advisories", operation_id = "list_advisories", tag = "advisories", security(("bearer" = [])),
    responses((status = 200, body = [Advisory]), (status = 401, body = ErrorBody)))]
async fn list(State(advisories): State<Advisories>, _caller: Caller) -> Result<Json<Vec<Advisory>>, ApiError> {
    Ok(Json(advisories.list().await?))
}

/// A country's current advisory; 404 `no_advisory` when it has none.
#[utoipa::path(get, path = "/api/v1/advisories/{country}", tag = "advisories", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    responses((status = 200, body = Advisory), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_advisory(
    State(advisories): State<Advisories>,
    _caller: Caller,
    Path(country): Path<String>,
) -> Result<Json<Advisory>, ApiError> {
    Ok(Json(advisories.current(&country).await?))
}

/// Every version of a country's advisory, newest (the current one) first.
#[utoipa::path(get, path = "/api/v1/advisories/{country}/history", tag = "advisories", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")),
    responses((status = 200, body = [Advisory]), (status = 422, body = ErrorBody)))]
async fn history(
    State(advisories): State<Advisories>,
    _caller: Caller,
    Path(country): Path<String>,
) -> Result<Json<Vec<Advisory>>, ApiError> {
    Ok(Json(advisories.history(&country).await?))
}

/// Sets a country's advisory (its security officers, watch officers): 201 for its first, 200
/// after. Staff located in or travelling to the country get the `advisory` envelope.
#[utoipa::path(put, path = "/api/v1/advisories/{country}", tag = "advisories", security(("bearer" = [])),
    params(("country" = String, Path, description = "ISO 3166-1 alpha-2")), request_body = NewAdvisory,
    responses((status = 200, body = Advisory), (status = 201, body = Advisory), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_advisory(
    State(advisories): State<Advisories>,
    caller: Caller,
    Path(country): Path<String>,
    ApiJson(new): ApiJson<NewAdvisory>,
) -> Result<(StatusCode, Json<Advisory>), ApiError> {
    let advisory = advisories.set(&caller, &country, new).await?;
    let status = if advisory.revision == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(advisory)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::{Position, Role};

    fn officer() -> User {
        User {
            id: Uuid::new_v4(),
            username: "kasongo".into(),
            name: "Kasongo".into(),
            role: Role::SecurityOfficer,
            countries: vec!["CD".into()],
            duty_station: None,
            disabled: false,
            phones: Vec::new(),
        }
    }

    fn level(risk_level: u8) -> NewAdvisory {
        NewAdvisory {
            risk_level,
            summary: "Armed groups active".into(),
            curfew: None,
            movement_restrictions: None,
            valid_until: None,
        }
    }

    #[test]
    fn country_codes_are_taken_in_any_case_and_nothing_else() {
        assert_eq!(country_code("cd").unwrap(), "CD");
        assert_eq!(country_code("Ug").unwrap(), "UG");
        for bad in ["", "C", "COD", "XX", "c1"] {
            let e = country_code(bad).unwrap_err();
            assert_eq!(e.field, "country", "{bad}");
        }
    }

    #[test]
    fn each_change_is_the_next_revision_labelled_by_its_level() {
        let now = Utc::now();
        let first = next_advisory(None, "CD", level(4), &officer(), now);
        assert_eq!((first.revision, first.risk_label.as_str()), (1, risk_label(4)));
        assert_eq!(first.updated_by, "kasongo");
        let second = next_advisory(Some(&first), "CD", level(2), &officer(), now);
        assert_eq!((second.revision, second.risk_level), (2, 2));
        assert_ne!(second.id, first.id, "each version is kept apart in the history");
    }

    #[test]
    fn staff_are_located_by_a_fresh_position_else_their_duty_station() {
        let atlas = CountryAtlas::embedded();
        let now = Utc::now();
        let fresh_since = now - Duration::minutes(30);
        let beni = Position {
            lat: 0.49,
            lon: 29.47,
            accuracy_m: None,
        };
        let kampala = Position {
            lat: 0.35,
            lon: 32.58,
            accuracy_m: None,
        };
        let record = |duty_station, position| StaffRecord {
            id: Uuid::new_v4(),
            duty_station,
            position,
        };
        let staff = [
            record(Some(beni), None),
            record(Some(kampala), Some((beni, now - Duration::minutes(5)))),
            record(Some(beni), Some((kampala, now - Duration::minutes(5)))),
            record(Some(kampala), Some((beni, now - Duration::hours(2)))),
            record(None, None),
        ];
        let in_congo: Vec<Uuid> = located_in(&staff, "CD", fresh_since, atlas).collect();
        assert_eq!(in_congo, vec![staff[0].id, staff[1].id]);
        let in_uganda: Vec<Uuid> = located_in(&staff, "UG", fresh_since, atlas).collect();
        assert_eq!(in_uganda, vec![staff[2].id, staff[3].id]);
    }
}
