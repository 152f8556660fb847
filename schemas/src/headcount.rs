//! Check-ins and headcounts: "I'm safe" / "I need help" answers to an alert, and the count of
//! who has answered what.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::delivery::ReceiptStatus;
use crate::error::check_text;
use crate::{Invalid, Position, SosStatus, Validate};

/// What a person answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckinStatus {
    Safe,
    NeedHelp,
}

/// A person's standing in a headcount: their latest answer, or none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonStatus {
    Safe,
    NeedHelp,
    NoResponse,
}

impl PersonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonStatus::Safe => "safe",
            PersonStatus::NeedHelp => "need_help",
            PersonStatus::NoResponse => "no_response",
        }
    }

    pub fn parse(value: &str) -> Option<PersonStatus> {
        [PersonStatus::Safe, PersonStatus::NeedHelp, PersonStatus::NoResponse]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

impl From<CheckinStatus> for PersonStatus {
    fn from(s: CheckinStatus) -> Self {
        match s {
            CheckinStatus::Safe => PersonStatus::Safe,
            CheckinStatus::NeedHelp => PersonStatus::NeedHelp,
        }
    }
}

/// How a check-in reached the hub: `app` when people answer themselves, `sms` when they answer
/// by text (recorded by the hub only); the others when an officer records it for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    App,
    Sms,
    Phone,
    Radio,
    InPerson,
    Other,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::App => "app",
            Via::Sms => "sms",
            Via::Phone => "phone",
            Via::Radio => "radio",
            Via::InPerson => "in_person",
            Via::Other => "other",
        }
    }

    pub fn parse(value: &str) -> Option<Via> {
        [Via::App, Via::Sms, Via::Phone, Via::Radio, Via::InPerson, Via::Other]
            .into_iter()
            .find(|v| v.as_str() == value)
    }
}

/// The body of `POST /api/v1/alerts/{id}/checkins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewCheckin {
    pub status: CheckinStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Officers only: whom they check in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<Uuid>,
    /// Officers only: how they heard (`phone`, `radio`, `in_person`, `other`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
}

impl Validate for NewCheckin {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        if let Some(p) = &self.position {
            p.validate(now).map_err(|e| e.within("position"))?;
        }
        check_text("note", self.note.as_deref().unwrap_or(""), 2_000, false)?;
        match (self.staff_id, self.via) {
            (_, Some(Via::Sms)) => Err(Invalid::new("via", "'sms' is recorded by the hub for answers by text")),
            (Some(_), None) => Err(Invalid::new(
                "via",
                "is required when checking someone in: phone, radio, in_person or other",
            )),
            (None, Some(via)) if via != Via::App => Err(Invalid::new(
                "staff_id",
                "is required with \"via\": whom are you checking in?",
            )),
            (Some(_), Some(Via::App)) => Err(Invalid::new("via", "'app' is for people answering themselves")),
            _ => Ok(()),
        }
    }
}

/// A stored check-in, as answered to its sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Checkin {
    pub id: Uuid,
    pub alert_id: Uuid,
    pub staff_id: Uuid,
    pub status: CheckinStatus,
    pub via: Via,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who recorded it: the person themselves, or the officer.
    pub recorded_by: Uuid,
    pub recorded_at: DateTime<Utc>,
}

/// The counts of a headcount, as pushed to officers' streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeadcountCounts {
    pub total: u32,
    pub safe: u32,
    pub need_help: u32,
    pub no_response: u32,
    /// Of `no_response`: those past the deadline and its grace period.
    pub overdue: u32,
    /// Of `no_response`: those none of whose devices has the alert yet (no MQTT PUBACK, no
    /// completed WebSocket write, no app acknowledgement): not reached, rather than silent.
    #[serde(default)]
    pub not_reached: u32,
}

/// `GET /api/v1/alerts/{id}/headcount`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Headcount {
    pub alert_id: Uuid,
    #[serde(flatten)]
    pub counts: HeadcountCounts,
    /// When people should have answered by.
    pub deadline: DateTime<Utc>,
    /// People in trouble first: an unresolved SOS, then need help, then overdue, then the
    /// others without an answer, then the safe; within each, those not reached first.
    pub staff: Vec<HeadcountEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeadcountEntry {
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    pub status: PersonStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The note of their latest answer ("cannot leave the compound").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub overdue: bool,
    /// Whether one of their devices has the alert: an MQTT PUBACK from a device, a completed
    /// WebSocket write, the app's acknowledgement, or a text the network reported delivered.
    /// False with no answer: not reached.
    pub reached: bool,
    /// How far the latest text of the SMS fallback to them has got (as in the alert's
    /// `deliveries`); absent when none was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<ReceiptStatus>,
    /// Their SOS call not yet resolved, if any, and where it stands (`open`, `acknowledged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sos_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sos_status: Option<SosStatus>,
    /// The number to call them on (E.164), when their account has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}
