//! Trips: staff register where they travel and when, get the destination's advisory and active
//! alerts, and are covered by alerts there while the trip is under way.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::country::is_country_code;
use crate::error::check_text;
use crate::position::check_lat_lon;
use crate::{Advisory, Alert, Invalid, Validate};

/// A mission longer than this is a reassignment: change the duty station instead.
pub const MAX_TRIP: Duration = Duration::days(366);
/// How far ahead a trip may be registered.
pub const MAX_LEAD: Duration = Duration::days(2 * 366);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Destination {
    /// ISO 3166-1 alpha-2; the point must lie in it (the hub checks with its shipped boundaries).
    pub country: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    pub lat: f64,
    pub lon: f64,
}

/// The body of `POST /api/v1/trips`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewTrip {
    pub destination: Destination,
    pub depart_at: DateTime<Utc>,
    pub return_at: DateTime<Utc>,
}

impl Validate for NewTrip {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        let d = &self.destination;
        if !is_country_code(&d.country) {
            return Err(Invalid::new(
                "destination.country",
                format!("'{}' is not an ISO 3166-1 alpha-2 code such as CD", d.country),
            ));
        }
        check_text("destination.city", d.city.as_deref().unwrap_or(""), 200, false)?;
        check_lat_lon(d.lat, d.lon).map_err(|e| e.within("destination"))?;
        if self.return_at <= self.depart_at {
            return Err(Invalid::new("return_at", "must come after depart_at"));
        }
        if self.return_at - self.depart_at > MAX_TRIP {
            return Err(Invalid::new(
                "return_at",
                "the trip spans more than a year; register a shorter one or change the duty station",
            ));
        }
        if self.return_at <= now {
            return Err(Invalid::new("return_at", "lies in the past; the trip is already over"));
        }
        if self.depart_at > now + MAX_LEAD {
            return Err(Invalid::new(
                "depart_at",
                "lies more than two years ahead; check the year",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TripStatus {
    /// Registered; needs no clearance.
    Planned,
    /// To a country at risk level 4 or 5: waits for an officer's decision.
    PendingClearance,
    Approved,
    Declined,
    Cancelled,
}

impl TripStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TripStatus::Planned => "planned",
            TripStatus::PendingClearance => "pending_clearance",
            TripStatus::Approved => "approved",
            TripStatus::Declined => "declined",
            TripStatus::Cancelled => "cancelled",
        }
    }

    /// Whether a trip at this status places its traveller at the destination while under way
    /// (waiting for clearance, at home too).
    pub fn counts(self) -> bool {
        matches!(
            self,
            TripStatus::Planned | TripStatus::Approved | TripStatus::PendingClearance
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Trip {
    pub id: Uuid,
    pub traveller_id: Uuid,
    /// The traveller's username.
    pub traveller: String,
    pub destination: Destination,
    pub depart_at: DateTime<Utc>,
    pub return_at: DateTime<Utc>,
    pub status: TripStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clearance_note: Option<String>,
    /// The username of the officer who approved or declined it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The answer to `POST /api/v1/trips`: the trip, and what the traveller must know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TripPlan {
    pub trip: Trip,
    /// The destination country's advisory; null when it has none.
    pub advisory: Option<Advisory>,
    /// Alerts now active in the destination country.
    pub active_alerts: Vec<Alert>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClearanceDecision {
    Approve,
    Decline,
}

/// The body of `POST /api/v1/trips/{id}/clearance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Clearance {
    pub decision: ClearanceDecision,
    pub note: String,
}

impl Validate for Clearance {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("note", &self.note, 2_000, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trip(country: &str, lat: f64, depart_in: i64, days: i64) -> NewTrip {
        let now = Utc::now();
        NewTrip {
            destination: Destination {
                country: country.into(),
                city: None,
                lat,
                lon: 29.0,
            },
            depart_at: now + Duration::days(depart_in),
            return_at: now + Duration::days(depart_in + days),
        }
    }

    #[test]
    fn trips_are_checked() {
        let now = Utc::now();
        assert!(trip("CD", 0.5, 1, 7).validate(now).is_ok());
        let field = |t: NewTrip| t.validate(now).unwrap_err().field;
        assert_eq!(field(trip("ZZ", 0.5, 1, 7)), "destination.country");
        assert_eq!(field(trip("CD", 95.0, 1, 7)), "destination.lat");
        assert_eq!(field(trip("CD", 0.5, 1, -2)), "return_at");
        assert_eq!(field(trip("CD", 0.5, 1, 400)), "return_at");
        assert_eq!(field(trip("CD", 0.5, -10, 3)), "return_at");
        assert_eq!(field(trip("CD", 0.5, 800, 3)), "depart_at");
    }
}
