//! Incident reports: what staff saw (the SIIM immediate report), and what officers made of it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::check_text;
use crate::position::MAX_CLOCK_SKEW;
use crate::{IncidentCategory, Invalid, Position, Validate};

/// A report of something older than this belongs in an incident database, not a live feed.
pub const MAX_REPORT_AGE: Duration = Duration::days(366);

/// The body of `POST /api/v1/reports` and of the MQTT topic `scaan/v1/staff/{id}/report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewReport {
    /// A code from `GET /api/v1/taxonomy/incidents`.
    pub category: IncidentCategory,
    /// What happened.
    pub description: String,
    /// Where it happened.
    pub position: Position,
    /// When it happened; when reported if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    /// Who was affected (staff, partners, beneficiaries; how many).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_affected: Option<String>,
    /// What has been done so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_taken: Option<String>,
    /// What help is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_needed: Option<String>,
}

impl Validate for NewReport {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("description", &self.description, 5_000, true)?;
        self.position.validate(now).map_err(|e| e.within("position"))?;
        if let Some(at) = self.occurred_at {
            if at > now + MAX_CLOCK_SKEW {
                return Err(Invalid::new(
                    "occurred_at",
                    "lies in the future; check the device clock",
                ));
            }
            if at < now - MAX_REPORT_AGE {
                return Err(Invalid::new(
                    "occurred_at",
                    "lies more than a year back; check the year",
                ));
            }
        }
        for (field, value) in [
            ("people_affected", &self.people_affected),
            ("action_taken", &self.action_taken),
            ("help_needed", &self.help_needed),
        ] {
            check_text(field, value.as_deref().unwrap_or(""), 2_000, false)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    New,
    Confirmed,
    Dismissed,
    /// A duplicate, folded into the report named by `merged_into`.
    Merged,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportStatus::New => "new",
            ReportStatus::Confirmed => "confirmed",
            ReportStatus::Dismissed => "dismissed",
            ReportStatus::Merged => "merged",
        }
    }
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub id: Uuid,
    pub reporter_id: Uuid,
    /// The reporter's username.
    pub reporter: String,
    pub category: IncidentCategory,
    pub description: String,
    pub position: Position,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
    pub reported_at: DateTime<Utc>,
    /// The country the position lies in, from the hub's shipped boundaries; null at sea.
    pub country: Option<String>,
    /// The IANA time zone at the position, for the local time of its times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub status: ReportStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage_note: Option<String>,
    /// The username of the officer who triaged, merged or promoted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triaged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Uuid>,
    /// The alert it was promoted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<Uuid>,
    /// Visible only to officers with sensitive access (and the reporter).
    pub restricted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub people_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_taken: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_needed: Option<String>,
}

/// What triage can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriageDecision {
    Confirmed,
    Dismissed,
}

impl From<TriageDecision> for ReportStatus {
    fn from(d: TriageDecision) -> ReportStatus {
        match d {
            TriageDecision::Confirmed => ReportStatus::Confirmed,
            TriageDecision::Dismissed => ReportStatus::Dismissed,
        }
    }
}

/// The body of `POST /api/v1/reports/{id}/triage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportTriage {
    pub status: TriageDecision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Validate for ReportTriage {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("note", self.note.as_deref().unwrap_or(""), 2_000, false)
    }
}

/// The body of `POST /api/v1/reports/{id}/merge`: the report this one duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportMerge {
    pub into: Uuid,
}

impl Validate for ReportMerge {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;

    #[test]
    fn reports_are_checked() {
        let now = Utc::now();
        let ok =
            br#"{"category":"shooting","description":"Shots near the market","position":{"lat":0.49,"lon":29.47}}"#;
        assert!(decode::<NewReport>(ok, now).is_ok());
        let bad = |body: &str| match decode::<NewReport>(body.as_bytes(), now) {
            Err(crate::Rejected::Invalid(e)) => e.field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            bad(r#"{"category":"weather","description":"x","position":{"lat":0,"lon":0}}"#),
            "category"
        );
        assert_eq!(
            bad(r#"{"category":"crime","description":" ","position":{"lat":0,"lon":0}}"#),
            "description"
        );
        assert_eq!(
            bad(r#"{"category":"crime","description":"x","position":{"lat":91,"lon":0}}"#),
            "position.lat"
        );
        assert_eq!(
            bad(
                r#"{"category":"crime","description":"x","position":{"lat":0,"lon":0},"occurred_at":"2999-01-01T00:00:00Z"}"#
            ),
            "occurred_at"
        );
        let long = format!(
            r#"{{"category":"crime","description":"{}","position":{{"lat":0,"lon":0}}}}"#,
            "x".repeat(5_001)
        );
        assert_eq!(bad(&long), "description");
    }
}
