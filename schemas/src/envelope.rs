//! The one JSON envelope every channel carries (WebSocket frames, MQTT inbox payloads).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use uuid::Uuid;

use crate::{
    parse_value, Advisory, Alert, CheckinStatus, HeadcountCounts, Invalid, Journey, JourneyAlarm, JourneyCheckin,
    JourneyCheckinStatus, LocationUpdate, NewCheckin, NewSos, Position, Rejected, Report, Sos, Trip, Warning,
};

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
    /// A journey started, was checked in on, ended a leg, or ended (its person, and the officers
    /// of its countries).
    Journey {
        journey: Journey,
    },
    /// A journey's check-in is due soon, or — `overdue` — was due and not made (its person only).
    JourneyReminder {
        journey_id: Uuid,
        due_at: DateTime<Utc>,
        /// Where the leg under way is going.
        heading_to: String,
        overdue: bool,
    },
    /// A missed check-in's alarm, new or changed (the officers of the journey's countries).
    JourneyAlarm {
        alarm: JourneyAlarm,
    },
    /// An outside warning arrived from a followed feed, or was updated, withdrawn or promoted
    /// (officers' streams only: it reaches staff only as an alert an officer makes from it).
    Warning {
        warning: Warning,
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
    /// A journey's check-in, with the same fields as `POST /api/v1/journeys/{id}/checkin`.
    JourneyCheckin {
        journey_id: Uuid,
        status: JourneyCheckinStatus,
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

impl ClientMessage {
    /// Reads a client message by its `type` first, then the rest as that type's own body (a
    /// location update, an SOS, a check-in), so that a bad field is named: serde reads an
    /// internally tagged enum in one go and loses the path to the field.
    pub fn decode(bytes: &[u8]) -> Result<ClientMessage, Rejected> {
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| Rejected::Syntax(e.to_string()))?;
        let serde_json::Value::Object(mut fields) = json else {
            return Err(Invalid::new("", "a message is a JSON object with a \"type\"").into());
        };
        let reference = match fields.remove("ref") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(reference)) => Some(reference),
            Some(_) => return Err(Invalid::new("ref", "must be a string").into()),
        };
        let kind = match fields.remove("type") {
            Some(serde_json::Value::String(kind)) => kind,
            Some(_) => return Err(Invalid::new("type", "must be a string").into()),
            None => return Err(Invalid::new("type", "is required").into()),
        };
        match kind.as_str() {
            "location" => Ok(ClientMessage::Location {
                location: parse_value(&fields.into())?,
                reference,
            }),
            "sos" => {
                let NewSos { position, note } = parse_value(&fields.into())?;
                Ok(ClientMessage::Sos {
                    position,
                    note,
                    reference,
                })
            }
            "checkin" => {
                let alert_id = fields
                    .remove("alert_id")
                    .ok_or(Invalid::new("alert_id", "is required"))?;
                let alert_id =
                    parse_value(&alert_id).map_err(|_| Invalid::new("alert_id", "must be an alert's id (a UUID)"))?;
                // Answering for someone else is for officers, over HTTP.
                if let Some(field) = ["staff_id", "via"].into_iter().find(|f| fields.contains_key(*f)) {
                    return Err(Invalid::new(field, "is not a field of this message").into());
                }
                let NewCheckin {
                    status, position, note, ..
                } = parse_value(&fields.into())?;
                Ok(ClientMessage::Checkin {
                    alert_id,
                    status,
                    position,
                    note,
                    reference,
                })
            }
            "journey_checkin" => {
                let journey_id = fields
                    .remove("journey_id")
                    .ok_or(Invalid::new("journey_id", "is required"))?;
                let journey_id = parse_value(&journey_id)
                    .map_err(|_| Invalid::new("journey_id", "must be a journey's id (a UUID)"))?;
                let JourneyCheckin { status, position, note } = parse_value(&fields.into())?;
                Ok(ClientMessage::JourneyCheckin {
                    journey_id,
                    status,
                    position,
                    note,
                    reference,
                })
            }
            other => Err(Invalid::new(
                "type",
                format!("'{other}' is not a message type: location, sos, checkin or journey_checkin"),
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(json: &str) -> String {
        match ClientMessage::decode(json.as_bytes()) {
            Err(Rejected::Invalid(e)) => e.field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_field_of_a_message_is_named() {
        assert_eq!(
            field_of(r#"{"type":"checkin","alert_id":"nope","status":"safe"}"#),
            "alert_id"
        );
        assert_eq!(field_of(r#"{"type":"checkin","status":"safe"}"#), "alert_id");
        let alert = Uuid::new_v4();
        assert_eq!(
            field_of(&format!(r#"{{"type":"checkin","alert_id":"{alert}","status":"fine"}}"#)),
            "status"
        );
        assert_eq!(
            field_of(&format!(
                r#"{{"type":"checkin","alert_id":"{alert}","status":"safe","via":"radio"}}"#
            )),
            "via"
        );
        assert_eq!(field_of(r#"{"type":"location","lat":"x","lon":1}"#), "lat");
        assert_eq!(field_of(r#"{"type":"location","lat":1,"lon":1,"speed":3}"#), "speed");
        assert_eq!(field_of(r#"{"type":"sos","position":{"lat":1}}"#), "position.lon");
        assert_eq!(field_of(r#"{"type":"dance"}"#), "type");
        assert_eq!(field_of(r#"{"status":"safe"}"#), "type");
        assert!(matches!(ClientMessage::decode(b"{"), Err(Rejected::Syntax(_))));
    }

    #[test]
    fn a_good_message_reads_as_serde_reads_it() {
        let alert = Uuid::new_v4();
        for json in [
            format!(r#"{{"type":"checkin","alert_id":"{alert}","status":"need_help","note":"gunfire","ref":"7"}}"#),
            r#"{"type":"location","lat":-1.29,"lon":36.82,"accuracy_m":15}"#.to_owned(),
            r#"{"type":"sos","note":"help"}"#.to_owned(),
        ] {
            let expected: ClientMessage = serde_json::from_str(&json).unwrap();
            assert_eq!(ClientMessage::decode(json.as_bytes()).unwrap(), expected, "{json}");
        }
    }
}
