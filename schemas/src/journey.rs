//! Journeys: a movement or a trip with expected check-ins ("every 2 h", "arrived at Goma by
//! 18:00"). The phone is reminded before each is due, asked again when it is missed, and the
//! officers of the journey's countries get an alarm when it stays missed.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::country::is_country_code;
use crate::error::check_text;
use crate::{Invalid, Position, Validate};

/// A journey is a day's movement or a trip's legs, not a posting: its last arrival lies at most
/// this far ahead.
pub const MAX_JOURNEY: Duration = Duration::days(31);
/// Most legs in one journey.
pub const MAX_LEGS: usize = 20;
/// Check-ins "every …" lie between these (in seconds): a minute and a day.
pub const CHECKIN_EVERY_S: std::ops::RangeInclusive<u32> = 60..=24 * 3600;

/// One leg of a new journey: where to, and by when the person says they will be there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewLeg {
    /// The place, e.g. "Goma"; from the trip's destination city when the journey names a trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// ISO 3166-1 alpha-2 of the place; from the trip's destination when the journey names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// "Arrived by": the check-in this leg ends with is due then.
    pub arrive_by: DateTime<Utc>,
}

/// The body of `POST /api/v1/journeys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewJourney {
    /// Whose journey, when an officer starts it for a staff member; one's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<Uuid>,
    /// The registered trip this journey is part of: its legs default to the trip's destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_id: Option<Uuid>,
    /// A check-in is also due this many seconds after the last one (60 to 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_every_s: Option<u32>,
    /// In order; each `arrive_by` after the one before.
    pub legs: Vec<NewLeg>,
    /// What the movement is, e.g. "road convoy Beni → Goma".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Validate for NewJourney {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        if self.legs.is_empty() || self.legs.len() > MAX_LEGS {
            return Err(Invalid::new("legs", format!("a journey has 1 to {MAX_LEGS} legs")));
        }
        if let Some(every) = self.checkin_every_s {
            if !CHECKIN_EVERY_S.contains(&every) {
                return Err(Invalid::new(
                    "checkin_every_s",
                    "must be between 60 (a minute) and 86400 (a day)",
                ));
            }
        }
        check_text("note", self.note.as_deref().unwrap_or(""), 500, false)?;
        let mut previous = now;
        for (i, leg) in self.legs.iter().enumerate() {
            let field = |name: &str| format!("legs[{i}].{name}");
            check_text(&field("to"), leg.to.as_deref().unwrap_or(""), 200, false)?;
            if let Some(country) = &leg.country {
                if !is_country_code(country) {
                    return Err(Invalid::new(
                        field("country"),
                        format!("'{country}' is not an ISO 3166-1 alpha-2 code such as CD"),
                    ));
                }
            }
            if leg.arrive_by <= previous {
                let after = if i == 0 { "now" } else { "the leg before's" };
                return Err(Invalid::new(field("arrive_by"), format!("must come after {after}")));
            }
            if leg.arrive_by > now + MAX_JOURNEY {
                return Err(Invalid::new(
                    field("arrive_by"),
                    "lies more than 31 days ahead; a journey is a movement, not a posting",
                ));
            }
            previous = leg.arrive_by;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JourneyLeg {
    pub to: String,
    pub country: String,
    pub arrive_by: DateTime<Utc>,
    /// When "arrived safely" ended this leg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JourneyStatus {
    /// Under way: check-ins are expected.
    Active,
    /// The last leg ended with "arrived safely".
    Arrived,
    /// Ended early by its person or an officer.
    Ended,
}

impl JourneyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JourneyStatus::Active => "active",
            JourneyStatus::Arrived => "arrived",
            JourneyStatus::Ended => "ended",
        }
    }
}

/// Where the next expected check-in stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DueStage {
    /// Not yet reminded.
    Upcoming,
    /// The phone was reminded it is due soon.
    Reminded,
    /// Due and not made: the phone was asked again.
    Overdue,
    /// Still not made after the grace: the officers have an alarm.
    Missed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Journey {
    pub id: Uuid,
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub status: JourneyStatus,
    /// The countries whose officers follow it: those of its legs.
    pub countries: Vec<String>,
    pub legs: Vec<JourneyLeg>,
    /// The index of the leg under way (equal to the number of legs once arrived).
    pub current_leg: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_every_s: Option<u32>,
    /// When the next check-in is expected; none once the journey is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    pub stage: DueStage,
    pub started_at: DateTime<Utc>,
    /// The username of whoever started it (the person, or an officer for them).
    pub started_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkin_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_note: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<String>,
    /// The number to call the person on (E.164), as their account had it at the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// What a journey check-in says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JourneyCheckinStatus {
    /// All well, on the way: the next "every …" check-in counts from now.
    Ok,
    /// "Arrived safely": ends the leg under way (the journey, after its last).
    Arrived,
}

/// The body of `POST /api/v1/journeys/{id}/checkin` (and of the stream's and MQTT's
/// `journey_checkin`, which add `journey_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JourneyCheckin {
    pub status: JourneyCheckinStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Validate for JourneyCheckin {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        if let Some(p) = &self.position {
            p.validate(now).map_err(|e| e.within("position"))?;
        }
        check_text("note", self.note.as_deref().unwrap_or(""), 2_000, false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlarmStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlarmStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmStatus::Open => "open",
            AlarmStatus::Acknowledged => "acknowledged",
            AlarmStatus::Resolved => "resolved",
        }
    }
}

/// A missed check-in, raised to the officers of the journey's countries: like an SOS, but
/// lower — acknowledged and resolved with notes, never sounding the SOS alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JourneyAlarm {
    pub id: Uuid,
    pub journey_id: Uuid,
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    pub countries: Vec<String>,
    pub status: AlarmStatus,
    /// The check-in that was missed was due then.
    pub missed_due_at: DateTime<Utc>,
    /// Where the leg under way was going.
    pub heading_to: String,
    pub raised_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checkin_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journey(legs: Vec<NewLeg>) -> NewJourney {
        NewJourney {
            staff_id: None,
            trip_id: None,
            checkin_every_s: None,
            legs,
            note: None,
        }
    }

    fn leg(arrive_by: DateTime<Utc>) -> NewLeg {
        NewLeg {
            to: Some("Goma".into()),
            country: Some("CD".into()),
            arrive_by,
        }
    }

    fn field(new: &NewJourney, now: DateTime<Utc>) -> String {
        new.validate(now).unwrap_err().field
    }

    #[test]
    fn legs_arrive_in_order_and_within_a_month() {
        let now = Utc::now();
        assert!(journey(vec![leg(now + Duration::hours(2))]).validate(now).is_ok());
        assert_eq!(field(&journey(vec![]), now), "legs");
        assert_eq!(field(&journey(vec![leg(now)]), now), "legs[0].arrive_by");
        let backwards = journey(vec![leg(now + Duration::hours(3)), leg(now + Duration::hours(2))]);
        assert_eq!(field(&backwards, now), "legs[1].arrive_by");
        assert_eq!(
            field(&journey(vec![leg(now + Duration::days(32))]), now),
            "legs[0].arrive_by"
        );
        let mut bad_country = journey(vec![leg(now + Duration::hours(1))]);
        bad_country.legs[0].country = Some("Congo".into());
        assert_eq!(field(&bad_country, now), "legs[0].country");
    }

    #[test]
    fn checkins_every_lie_between_a_minute_and_a_day() {
        let now = Utc::now();
        let mut new = journey(vec![leg(now + Duration::hours(2))]);
        for (every, ok) in [(59, false), (60, true), (7200, true), (86_401, false)] {
            new.checkin_every_s = Some(every);
            assert_eq!(new.validate(now).is_ok(), ok, "{every}");
        }
    }
}
