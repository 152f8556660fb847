//! Outside warnings: CAP messages from the public warning feeds the hub follows (GDACS, national
//! meteorological services, Meteoalarm, IPAWS, NWS …), shown to officers as context. They reach
//! no staff member until an officer promotes one into an alert.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::cap_message::{CapInfo, CapVersion};
use crate::error::check_text;
use crate::{Area, Invalid, Validate};

/// Where a warning stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningState {
    Active,
    /// Every `<info>` has expired: kept as history.
    Expired,
    /// Its sender cancelled it.
    Withdrawn,
}

/// One outside warning: the latest message of a thread (an Alert and the Updates that replaced
/// it, or the Cancel that withdrew it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    pub id: Uuid,
    /// The feed it came from.
    pub feed_id: Uuid,
    pub state: WarningState,
    /// 1 for the first message, +1 for each Update or Cancel applied to it.
    pub revision: u32,
    pub version: CapVersion,
    pub sender: String,
    /// The latest message's identifier and time of sending.
    pub identifier: String,
    pub sent: DateTime<Utc>,
    /// CAP status: Actual, Exercise, System, Test or Draft.
    pub status: String,
    /// The latest message's type: Alert, Update or Cancel.
    pub msg_type: String,
    /// An Update or Cancel whose reference the hub never saw: shown as it is.
    #[serde(default)]
    pub unmatched_reference: bool,
    /// One per language, as sent.
    pub infos: Vec<CapInfo>,
    /// From its polygons and circles (the shipped boundaries) and its ISO 3166 or national
    /// geocodes.
    pub countries: Vec<String>,
    /// Whether any area has a polygon or circle; otherwise only its description (and the
    /// countries of its geocodes) say where it is.
    pub placed: bool,
    /// Its shape, when it is one an alert could target as it is (not larger than the hub's
    /// area limits, a valid polygon); a promotion starts from it. Larger areas stay on the map as
    /// context: an officer draws the area to target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<Area>,
    /// Why `area` is missing although the warning is placed (world-sized, invalid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_note: Option<String>,
    /// The latest expiry of its infos; none when no info says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The staff alert an officer made from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
}

/// A followed feed: an Atom or RSS index of CAP messages, or one CAP document's URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WarningFeed {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    /// Seconds between polls while it answers.
    pub interval_s: u32,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
    /// Failed fetches in a row; each doubles the wait before the next (up to an hour).
    pub failures: u32,
    pub next_poll_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// What went wrong at the latest fetch, while it keeps failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The body of `POST /api/v1/warning-feeds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWarningFeed {
    pub name: String,
    /// `http://` or `https://`.
    pub url: String,
    /// Seconds between polls, 1 to 86,400; 300 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_s: Option<u32>,
}

/// Poll interval bounds; a second at least, so tests and local feeds can be quick.
pub const FEED_INTERVAL_S: std::ops::RangeInclusive<u32> = 1..=86_400;
pub const DEFAULT_FEED_INTERVAL_S: u32 = 300;

impl Validate for NewWarningFeed {
    fn validate(&self, _now: DateTime<Utc>) -> Result<(), Invalid> {
        check_text("name", &self.name, 200, true)?;
        check_text("url", &self.url, 2_000, true)?;
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Invalid::new("url", "must be an http:// or https:// URL"));
        }
        if let Some(s) = self.interval_s {
            if !FEED_INTERVAL_S.contains(&s) {
                return Err(Invalid::new("interval_s", "must be between 1 and 86400 seconds"));
            }
        }
        Ok(())
    }
}

/// One fetch of a feed and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FeedFetch {
    pub feed_id: Uuid,
    pub at: DateTime<Utc>,
    pub outcome: FetchOutcome,
    /// The HTTP status, when the server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Messages new to the hub (new warnings, updates and cancels applied).
    pub new_messages: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FetchOutcome {
    /// Fetched and read (some entries may have been refused: `detail` says).
    Fetched,
    /// 304: nothing changed since the last fetch.
    NotModified,
    /// No answer, an error status, or a document that is not a feed or CAP: retried later.
    Failed,
}
