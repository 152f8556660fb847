//! Alerts: CAP 1.2's `<info>` fields in JSON, as officers post them and as the hub stores and
//! delivers them.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::check_text;
use crate::{Area, Invalid, Validate};

/// An expiry further out than this is almost certainly a typo in the year.
pub const MAX_LIFETIME: Duration = Duration::days(366);
/// How long an alert lasts when nobody says: one day, wherever it comes from (the API without
/// `expires_at`, a CAP message without `<expires>`, a promoted report). An officer in a hurry
/// is not held up, and an alert nobody thought to end does not stay active for long.
pub const DEFAULT_LIFETIME: Duration = Duration::hours(24);

fn one_day_from_now() -> DateTime<Utc> {
    Utc::now() + DEFAULT_LIFETIME
}
/// Bounds of a headcount's check-in deadline: one minute to one week.
pub const CHECKIN_DEADLINE_S: std::ops::RangeInclusive<u32> = 60..=7 * 24 * 3600;

/// Declares a CAP code list: serialized in lower case on the wire, in CAP's own spelling in XML.
macro_rules! cap_code_list {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal / $cap:literal),+ $(,)? }) => {
        $(#[$doc])*
        // `rename_all` is for the OpenAPI document: utoipa cannot read a `rename` whose value
        // comes from a macro argument. Every wire name is its variant in lower case, and the
        // variant's own `rename` is what serde uses.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// The value as the CAP 1.2 schema spells it.
            pub fn cap(self) -> &'static str {
                match self { $(Self::$variant => $cap),+ }
            }

            /// Parses CAP's spelling.
            pub fn from_cap(value: &str) -> Option<Self> {
                match value { $($cap => Some(Self::$variant),)+ _ => None }
            }

            /// The value as the wire (JSON) spells it.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }
    };
}

cap_code_list!(
    /// CAP `<category>`.
    Category {
        Geo => "geo" / "Geo", Met => "met" / "Met", Safety => "safety" / "Safety",
        Security => "security" / "Security", Rescue => "rescue" / "Rescue", Fire => "fire" / "Fire",
        Health => "health" / "Health", Env => "env" / "Env", Transport => "transport" / "Transport",
        Infra => "infra" / "Infra", Cbrne => "cbrne" / "CBRNE", Other => "other" / "Other",
    }
);
cap_code_list!(
    /// CAP `<urgency>`.
    Urgency {
        Immediate => "immediate" / "Immediate", Expected => "expected" / "Expected",
        Future => "future" / "Future", Past => "past" / "Past", Unknown => "unknown" / "Unknown",
    }
);
cap_code_list!(
    /// CAP `<severity>`.
    Severity {
        Extreme => "extreme" / "Extreme", Severe => "severe" / "Severe", Moderate => "moderate" / "Moderate",
        Minor => "minor" / "Minor", Unknown => "unknown" / "Unknown",
    }
);
cap_code_list!(
    /// CAP `<certainty>`.
    Certainty {
        Observed => "observed" / "Observed", Likely => "likely" / "Likely", Possible => "possible" / "Possible",
        Unlikely => "unlikely" / "Unlikely", Unknown => "unknown" / "Unknown",
    }
);
cap_code_list!(
    /// CAP `<status>`, limited to what officers may send; `exercise` and `test` reach people too.
    Status { Actual => "actual" / "Actual", Exercise => "exercise" / "Exercise", Test => "test" / "Test" }
);
cap_code_list!(
    /// CAP `<msgType>`: what the latest revision of an alert did.
    MsgType { Alert => "alert" / "Alert", Update => "update" / "Update", Cancel => "cancel" / "Cancel" }
);

// Not derivable here: the variants are declared by `cap_code_list!`.
#[allow(clippy::derivable_impls)]
impl Default for Status {
    fn default() -> Self {
        Status::Actual
    }
}

/// The body of `POST /api/v1/alerts`: what an officer says, where, and what staff must do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewAlert {
    pub headline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    pub event: String,
    pub category: Category,
    pub urgency: Urgency,
    pub severity: Severity,
    pub certainty: Certainty,
    #[serde(default)]
    pub status: Status,
    pub area: Area,
    /// When it ends; a day from sending when not given ([`DEFAULT_LIFETIME`]).
    #[serde(default = "one_day_from_now")]
    pub expires_at: DateTime<Utc>,
    /// Opens a headcount of everyone the alert reaches.
    #[serde(default)]
    pub checkin_required: bool,
    /// Seconds after sending by which everyone should have checked in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkin_deadline_s: Option<u32>,
}

impl Validate for NewAlert {
    fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("headline", &self.headline, 160, true)?;
        check_text("event", &self.event, 200, true)?;
        check_text("description", self.description.as_deref().unwrap_or(""), 10_000, false)?;
        check_text("instruction", self.instruction.as_deref().unwrap_or(""), 5_000, false)?;
        self.area.validate(now).map_err(|e| e.within("area"))?;
        if self.expires_at <= now {
            return Err(Invalid::new(
                "expires_at",
                "lies in the past; an alert must expire in the future",
            ));
        }
        if self.expires_at > now + MAX_LIFETIME {
            return Err(Invalid::new(
                "expires_at",
                "lies more than a year ahead; check the year",
            ));
        }
        if let Some(deadline) = self.checkin_deadline_s {
            if !self.checkin_required {
                return Err(Invalid::new("checkin_deadline_s", "needs \"checkin_required\": true"));
            }
            if !CHECKIN_DEADLINE_S.contains(&deadline) {
                return Err(Invalid::new(
                    "checkin_deadline_s",
                    "must be between 60 seconds and 7 days",
                ));
            }
        }
        Ok(())
    }
}

/// The body of `POST /api/v1/alerts/{id}/update`: any of [`NewAlert`]'s fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertPatch {
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub event: Option<String>,
    pub category: Option<Category>,
    pub urgency: Option<Urgency>,
    pub severity: Option<Severity>,
    pub certainty: Option<Certainty>,
    pub status: Option<Status>,
    pub area: Option<Area>,
    pub expires_at: Option<DateTime<Utc>>,
    pub checkin_required: Option<bool>,
    pub checkin_deadline_s: Option<u32>,
}

impl AlertPatch {
    /// The alert as it reads with this patch applied; validate the result, not the patch.
    pub fn apply(self, base: &NewAlert) -> NewAlert {
        let base = base.clone();
        NewAlert {
            headline: self.headline.unwrap_or(base.headline),
            description: self.description.or(base.description),
            instruction: self.instruction.or(base.instruction),
            event: self.event.unwrap_or(base.event),
            category: self.category.unwrap_or(base.category),
            urgency: self.urgency.unwrap_or(base.urgency),
            severity: self.severity.unwrap_or(base.severity),
            certainty: self.certainty.unwrap_or(base.certainty),
            status: self.status.unwrap_or(base.status),
            area: self.area.unwrap_or(base.area),
            expires_at: self.expires_at.unwrap_or(base.expires_at),
            checkin_required: self.checkin_required.unwrap_or(base.checkin_required),
            checkin_deadline_s: self.checkin_deadline_s.or(base.checkin_deadline_s),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Validate for AlertPatch {
    /// A patch is checked as the alert it produces, by [`NewAlert`]'s rules.
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        Ok(())
    }
}

/// The body of `POST /api/v1/alerts/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertCancel {
    pub reason: String,
}

impl Validate for AlertCancel {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("reason", &self.reason, 1_000, true)
    }
}

/// A stored alert: the officer's fields plus what the hub decided when it sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    pub id: Uuid,
    /// What the latest revision did: `alert` when first sent, then `update` or `cancel`.
    pub msg_type: MsgType,
    /// 1 when first sent, one more for each update or cancellation.
    pub revision: u32,
    pub sent_at: DateTime<Utc>,
    /// When the latest revision was sent.
    pub updated_at: DateTime<Utc>,
    /// The username of the officer who sent it.
    pub sender: String,
    /// How many staff it was sent to (all revisions together).
    pub recipients: u32,
    /// ISO 3166-1 alpha-2 codes of the countries the area reaches.
    pub countries: Vec<String>,
    /// The IANA time zone at the middle of the area (`Africa/Lubumbashi`), for the local time
    /// of its times; absent where the hub's boundaries name none (and on alerts sent before
    /// the hub told zones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(flatten)]
    pub content: NewAlert,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
}

impl Alert {
    /// Unexpired and not cancelled.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.msg_type != MsgType::Cancel && self.content.expires_at > now
    }
}
