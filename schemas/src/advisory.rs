//! Country travel advisories: one current advisory per country, with its risk level and the
//! rules staff must follow there.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::check_text;
use crate::{Invalid, Validate};

/// Levels from 1 (lowest) to 5; a trip to a country at [`CLEARANCE_LEVEL`] or above needs an
/// officer's security clearance.
pub const RISK_LABELS: [&str; 5] = ["Low", "Moderate", "Substantial", "High", "Extreme"];
pub const CLEARANCE_LEVEL: u8 = 4;
/// An advisory valid for longer than this is almost certainly a typo in the year.
pub const MAX_VALIDITY: Duration = Duration::days(2 * 366);

/// The label of a risk level (1..=5).
pub fn risk_label(level: u8) -> &'static str {
    RISK_LABELS
        .get(usize::from(level.clamp(1, 5)) - 1)
        .copied()
        .unwrap_or("Unknown")
}

/// The body of `PUT /api/v1/advisories/{country}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewAdvisory {
    /// 1 (Low), 2 (Moderate), 3 (Substantial), 4 (High), 5 (Extreme).
    pub risk_level: u8,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curfew: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_restrictions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
}

impl Validate for NewAdvisory {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        if !(1..=5).contains(&self.risk_level) {
            return Err(Invalid::new(
                "risk_level",
                "must be a level from 1 (Low) to 5 (Extreme)",
            ));
        }
        check_text("summary", &self.summary, 10_000, true)?;
        check_text("curfew", self.curfew.as_deref().unwrap_or(""), 1_000, false)?;
        check_text(
            "movement_restrictions",
            self.movement_restrictions.as_deref().unwrap_or(""),
            5_000,
            false,
        )?;
        if let Some(until) = self.valid_until {
            if until <= now {
                return Err(Invalid::new("valid_until", "lies in the past"));
            }
            if until > now + MAX_VALIDITY {
                return Err(Invalid::new(
                    "valid_until",
                    "lies more than two years ahead; check the year",
                ));
            }
        }
        Ok(())
    }
}

/// A country's advisory as stored and served; its history holds every earlier version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Advisory {
    /// This version's id (each change of a country's advisory is a new version).
    pub id: Uuid,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub risk_level: u8,
    pub risk_label: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curfew: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub movement_restrictions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The username of the officer who set this version.
    pub updated_by: String,
    /// 1 for the country's first advisory, one more for each change.
    pub revision: u32,
}

impl Advisory {
    /// Whether a trip there needs an officer's security clearance.
    pub fn needs_clearance(&self) -> bool {
        self.risk_level >= CLEARANCE_LEVEL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_labelled_and_bounded() {
        assert_eq!(
            (risk_label(1), risk_label(4), risk_label(5)),
            ("Low", "High", "Extreme")
        );
        let now = Utc::now();
        let advisory = |level: u8| NewAdvisory {
            risk_level: level,
            summary: "s".into(),
            curfew: None,
            movement_restrictions: None,
            valid_until: None,
        };
        assert!(advisory(3).validate(now).is_ok());
        assert_eq!(advisory(0).validate(now).unwrap_err().field, "risk_level");
        assert_eq!(advisory(6).validate(now).unwrap_err().field, "risk_level");
        let stale = NewAdvisory {
            valid_until: Some(now - Duration::days(1)),
            ..advisory(2)
        };
        assert_eq!(stale.validate(now).unwrap_err().field, "valid_until");
    }
}
