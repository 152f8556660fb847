//! "I'm not okay": a staff member's call for help, followed until an officer resolves it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::check_text;
use crate::{Invalid, Position, Validate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SosStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl SosStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SosStatus::Open => "open",
            SosStatus::Acknowledged => "acknowledged",
            SosStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<SosStatus> {
        [SosStatus::Open, SosStatus::Acknowledged, SosStatus::Resolved]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// The body of `POST /api/v1/sos` (and of the stream's `sos` message).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewSos {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Validate for NewSos {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        if let Some(p) = &self.position {
            p.validate(now).map_err(|e| e.within("position"))?;
        }
        check_text("note", self.note.as_deref().unwrap_or(""), 2_000, false)
    }
}

/// An officer's note when acknowledging (optional) or resolving (required) an SOS.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SosNote {
    #[serde(default)]
    pub note: Option<String>,
}

impl Validate for SosNote {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("note", self.note.as_deref().unwrap_or(""), 2_000, false)
    }
}

/// Where the person was, as their phone reported it while the SOS was open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrailPoint {
    pub lat: f64,
    pub lon: f64,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sos {
    pub id: Uuid,
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    pub status: SosStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The countries whose officers follow it (from its position, else the person's places).
    pub countries: Vec<String>,
    /// The IANA time zone where it was raised (from its position, else the person's duty
    /// station), for the local time of its times; absent when neither is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub raised_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Later positions of the person, oldest first.
    #[serde(default)]
    pub trail: Vec<TrailPoint>,
    /// How many times it was announced to officers (1 when raised, +1 per reminder).
    pub announcements: u32,
    /// The number to call the person on (E.164), as their account had it when they last
    /// pressed SOS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}
