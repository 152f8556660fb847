//! The one JSON envelope every channel carries (WebSocket frames, MQTT inbox payloads).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use uuid::Uuid;

use crate::{Advisory, Alert, CheckinStatus, HeadcountCounts, LocationUpdate, Position, Report, Sos, Trip};

/// Hub → client messages, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Envelope {
    Alert {
        alert: Alert,
        /// 2 when the alert is sent again to those who have not answered its headcount.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wave: Option<u32>,
    },
    AlertUpdate {
        alert: Alert,
    },
    AlertCancel {
        alert: Alert,
    },
    /// A headcount's counts changed (officers' streams).
    Headcount {
        alert_id: Uuid,
        #[serde(flatten)]
        counts: HeadcountCounts,
    },
    /// A new SOS (officers' streams and the person's own).
    Sos {
        sos: Sos,
    },
    /// An SOS changed: acknowledged, resolved, moved, or announced again.
    SosUpdate {
        sos: Sos,
    },
    /// An incident report, new or changed (officers' streams, and the reporter's own).
    Report {
        report: Report,
    },
    /// A country's advisory changed (staff located in or travelling to it, and its officers).
    Advisory {
        advisory: Advisory,
    },
    /// A trip was registered, cancelled, approved or declined (its traveller, and the officers
    /// of its destination).
    Trip {
        trip: Trip,
    },
    /// A check-in sent on this stream is durably stored.
    CheckinAck {
        alert_id: Uuid,
        status: CheckinStatus,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The answer to a bad client message; `ref` echoes the client's `ref` when it sent one.
    Error {
        code: String,
        message: String,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The hub dropped messages for this client (it fell behind): refetch state over HTTP.
    Resync {
        reason: String,
    },
}

/// Client → hub messages on the WebSocket, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Location {
        #[serde(flatten)]
        location: LocationUpdate,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// "I'm not okay", with the same fields as `POST /api/v1/sos`.
    Sos {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<Position>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The same fields as the HTTP check-in, answering for oneself.
    Checkin {
        alert_id: Uuid,
        status: CheckinStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<Position>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}
