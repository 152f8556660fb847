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
    /// The way it reached the hub.
    pub channel: Channel,
}

/// The way a check-in reached the hub: the app's transports (`http`, `websocket`, `mqtt`), a
/// text (`sms`), or an officer recording it for someone (`proxy`, whatever `via` they heard it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Http,
    Websocket,
    Mqtt,
    Sms,
    Proxy,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Http => "http",
            Channel::Websocket => "websocket",
            Channel::Mqtt => "mqtt",
            Channel::Sms => "sms",
            Channel::Proxy => "proxy",
        }
    }

    pub fn parse(value: &str) -> Option<Channel> {
        [
            Channel::Http,
            Channel::Websocket,
            Channel::Mqtt,
            Channel::Sms,
            Channel::Proxy,
        ]
        .into_iter()
        .find(|c| c.as_str() == value)
    }
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
    /// How fast people were accounted for (answered, safe or needing help).
    pub time_to_account: TimeToAccount,
    /// People in trouble first: an unresolved SOS, then need help, then overdue, then the
    /// others without an answer, then the safe; within each, those not reached first.
    pub staff: Vec<HeadcountEntry>,
}

/// How fast a group of people was accounted for: a person is accounted for by their first
/// answer, safe or needing help. Times are seconds after the alert was sent (to the millisecond).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountingFigures {
    /// The people counted.
    pub people: u32,
    /// Of them, those who have answered.
    pub accounted: u32,
    /// When half of the people had answered; absent until they have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_50_s: Option<f64>,
    /// When 90 % of the people had answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_90_s: Option<f64>,
    /// When everyone had answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_100_s: Option<f64>,
    /// The answer times of those who answered: median, 90th percentile (nearest rank), slowest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_p50_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_p90_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_max_s: Option<f64>,
    /// How many answered within each bound (`up_to_s`; the last, without one, is the rest).
    pub buckets: Vec<AnswerBucket>,
}

/// One bar of the answer-time histogram: answers after the previous bound, up to this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnswerBucket {
    /// Inclusive upper bound in seconds; absent for the last bucket (everything slower).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to_s: Option<u32>,
    pub count: u32,
}

/// A headcount's time-to-account: everyone, and grouped by duty station and by channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimeToAccount {
    #[serde(flatten)]
    pub overall: AccountingFigures,
    /// Per duty station (people without one together, `duty_station` absent), most people first.
    pub by_duty_station: Vec<DutyStationFigures>,
    /// Per channel of the answer that accounted for each person (those who answered only).
    pub by_channel: Vec<ChannelFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DutyStationFigures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty_station: Option<Position>,
    /// The duty station's country (ISO 3166-1 alpha-2), by the hub's boundaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(flatten)]
    pub figures: AccountingFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelFigures {
    /// Absent for answers stored before the hub recorded channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(flatten)]
    pub figures: AccountingFigures,
}

/// `GET /api/v1/headcounts/summary`: how fast the headcounts of a period accounted for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeadcountSummary {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The alerts summarised: `actual` unless asked for `exercise` or `test` (never mixed).
    pub status: crate::Status,
    /// Every person of every headcount pooled, each timed from their own alert's sending.
    #[serde(flatten)]
    pub overall: AccountingFigures,
    /// Each headcount, newest first.
    pub headcounts: Vec<HeadcountFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeadcountFigures {
    pub alert_id: Uuid,
    pub headline: String,
    pub sent_at: DateTime<Utc>,
    pub countries: Vec<String>,
    #[serde(flatten)]
    pub figures: AccountingFigures,
}

/// `GET /api/v1/alerts/{id}/drill-report`: how an exercise went, end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DrillReport {
    pub alert_id: Uuid,
    pub headline: String,
    pub sent_at: DateTime<Utc>,
    /// Whether the exercise is over (cancelled or expired); the report is final then.
    pub ended: bool,
    /// The people the exercise was sent to.
    pub sent_to: u32,
    /// Of them, those one of whose devices has it (the board's `reached`).
    pub delivered: u32,
    /// Of them, those who answered (safe or needing help).
    pub answered: u32,
    pub safe: u32,
    pub need_help: u32,
    /// When the second wave went to the silent (absent if it has not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_wave_at: Option<DateTime<Utc>>,
    pub time_to_account: TimeToAccount,
    /// Exactly who never answered, by username.
    pub never_answered: Vec<Unanswered>,
}

/// A person who never answered an exercise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Unanswered {
    pub staff_id: Uuid,
    pub username: String,
    pub name: String,
    /// Whether one of their devices had it: silent, rather than not reached.
    pub delivered: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
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
    /// Their first answer, which accounted for them: when, how long after the alert was sent,
    /// and its channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_after_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounted_channel: Option<Channel>,
}
