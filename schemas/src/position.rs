//! Positions on the WGS84 ellipsoid, as the app reports them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Invalid, Validate};

/// How far in the future a device clock may claim a fix was taken.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// `{"lat": -1.29, "lon": 36.82, "accuracy_m"?: 12}` in WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Position {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

impl Position {
    pub fn new(lat: f64, lon: f64) -> Self {
        Self {
            lat,
            lon,
            accuracy_m: None,
        }
    }
}

impl Validate for Position {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_lat_lon(self.lat, self.lon)?;
        if let Some(acc) = self.accuracy_m {
            if !(acc.is_finite() && acc >= 0.0) {
                return Err(Invalid::new("accuracy_m", "must be a non-negative number of metres"));
            }
        }
        Ok(())
    }
}

/// The body of `POST /api/v1/me/location` and of the `location` message on WebSocket and MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LocationUpdate {
    pub lat: f64,
    pub lon: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// When the fix was taken; the hub's clock when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_at: Option<DateTime<Utc>>,
}

impl LocationUpdate {
    pub fn position(&self) -> Position {
        Position {
            lat: self.lat,
            lon: self.lon,
            accuracy_m: self.accuracy_m,
        }
    }
}

impl Validate for LocationUpdate {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        self.position().validate(now)?;
        match self.recorded_at {
            Some(at) if at > now + MAX_CLOCK_SKEW => Err(Invalid::new(
                "recorded_at",
                "lies in the future; check the device clock",
            )),
            _ => Ok(()),
        }
    }
}

/// Latitude in [-90, 90] and longitude in [-180, 180], both finite.
pub fn check_lat_lon(lat: f64, lon: f64) -> Result<(), Invalid> {
    if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
        return Err(Invalid::new("lat", "must be a latitude between -90 and 90 degrees"));
    }
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        return Err(Invalid::new("lon", "must be a longitude between -180 and 180 degrees"));
    }
    Ok(())
}
