//! Messages from phones: each phone → hub topic is routed, by the topic's owner (checked
//! against the connection by the endpoint or the broker, never taken from the payload), to the
//! same code the WebSocket uses. A bad payload, or one the hub could not act on, is answered
//! with an `error` envelope on that person's inbox and changes nothing. A message is PUBACKed
//! only after it has been acted on (a check-in once durably stored), and PUBACKs keep the order
//! of the messages (MQTT-4.6.0-2), however long each takes.

use chrono::Utc;
use futures_util::stream::{FuturesOrdered, StreamExt as _};
use scaan_mobile_bridge::topics::{self, PhoneTopic};
use scaan_mobile_bridge::Inbound;
use scaan_schemas::{AppAck, Channel, Envelope, NewReport, Rejected, User};
use std::sync::Arc;
use tokio::sync::mpsc;

use crate::delivery::stream::{error, handle_client_message, report_refused};
use crate::hub::Hub;

/// Phone messages from a broker handled at once; check-ins among them share group commits.
const CONCURRENT: usize = 256;

/// On a link: handles what the broker passes on, several at once, and acknowledges each in
/// the order it came.
pub(super) async fn route(hub: Arc<Hub>, mut inbound: mpsc::UnboundedReceiver<Inbound>) {
    let mut in_order = FuturesOrdered::new();
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            Some(done) = in_order.next(), if !in_order.is_empty() => match done {
                Ok(message) => Inbound::ack(message).await,
                // A panic in a handler: not acknowledged, so the broker sends it again later.
                Err(e) => tracing::error!(error = %e, "an MQTT message's handler failed"),
            },
            message = inbound.recv(), if in_order.len() < CONCURRENT => {
                let Some(message) = message else { return };
                let task_hub = hub.clone();
                in_order.push_back(hub.tasks.spawn(async move {
                    // The hub subscribes only to phone → hub topics, whose owner the broker checked.
                    if let Some((owner, kind)) = topics::parse_phone_topic(&message.topic) {
                        match task_hub.store.user(owner).await {
                            Ok(Some(user)) => handle(&task_hub, &user, kind, &message.payload).await,
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, %owner, "cannot handle an MQTT message: database unreachable");
                                task_hub.mqtt.reply(owner, &unavailable());
                            }
                        }
                    }
                    message
                }));
            }
        }
    }
}

/// Acts on one message `user` published on their `kind` topic, answering on their inbox.
pub(super) async fn handle(hub: &Hub, user: &User, kind: PhoneTopic, payload: &[u8]) {
    let reply = match kind {
        PhoneTopic::Checkin | PhoneTopic::Location | PhoneTopic::Sos | PhoneTopic::JourneyCheckin => {
            match as_client_message(kind, payload) {
                Ok(json) => handle_client_message(hub, user, &json, Channel::Mqtt).await,
                Err(reply) => Some(*reply),
            }
        }
        PhoneTopic::Ack => acknowledge(hub, user, payload).await,
        PhoneTopic::Report => submit_report(hub, user, payload).await,
    };
    if let Some(reply) = reply {
        hub.mqtt.reply(user.id, &reply);
    }
}

/// The topic says what the WebSocket says in `type`: the payload becomes that client message,
/// so both channels are decoded and validated by the same code.
fn as_client_message(kind: PhoneTopic, payload: &[u8]) -> Result<Vec<u8>, Box<Envelope>> {
    let mut object = match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(object)) => object,
        Ok(_) => {
            return Err(Box::new(error(
                "invalid_field",
                "the payload must be a JSON object",
                None,
            )))
        }
        Err(e) => {
            let message = format!("the payload is not valid JSON: {e}");
            return Err(Box::new(error("malformed_json", &message, None)));
        }
    };
    if object.contains_key("type") {
        let reference = object.get("ref").and_then(|r| r.as_str()).map(str::to_owned);
        return Err(Box::new(error(
            "invalid_field",
            "type: unknown field (the topic says what the message is)",
            reference,
        )));
    }
    object.insert("type".to_owned(), kind.as_str().into());
    serde_json::to_vec(&object).map_err(|e| Box::new(error("invalid_field", &e.to_string(), None)))
}

/// `…/report`: an incident report, as `POST /api/v1/reports`; the `report` envelope that
/// reaches the reporter's inbox is the answer.
async fn submit_report(hub: &Hub, user: &User, payload: &[u8]) -> Option<Envelope> {
    let new = match scaan_schemas::parse::<NewReport>(payload) {
        Ok(new) => new,
        Err(Rejected::Syntax(e)) => return Some(error("malformed_json", &e, None)),
        Err(Rejected::Invalid(e)) => return Some(error("invalid_field", &e.to_string(), None)),
    };
    match hub.reports.submit(user, new).await {
        Ok(_) => None,
        Err(e) => Some(report_refused(e, None)),
    }
}

/// `…/ack`: the app showed an alert to its person.
async fn acknowledge(hub: &Hub, user: &User, payload: &[u8]) -> Option<Envelope> {
    let ack = match scaan_schemas::parse::<AppAck>(payload) {
        Ok(ack) => ack,
        Err(Rejected::Syntax(e)) => return Some(error("malformed_json", &e, None)),
        Err(Rejected::Invalid(e)) => return Some(error("invalid_field", &e.to_string(), None)),
    };
    match hub.store.is_recipient(ack.alert_id, user.id).await {
        Ok(true) => {}
        Ok(false) => return Some(error("not_found", "alert_id: no such alert was sent to you", None)),
        Err(e) => return Some(unrecorded(e)),
    }
    match hub
        .store
        .acknowledge_alert(ack.alert_id, user.id, "mqtt", Utc::now())
        .await
    {
        Ok(()) => None,
        Err(e) => Some(unrecorded(e)),
    }
}

fn unrecorded(e: crate::storage::StoreError) -> Envelope {
    tracing::warn!(error = %e, "could not record an alert acknowledgement");
    unavailable()
}

fn unavailable() -> Envelope {
    error(
        "unavailable",
        "the hub could not record that; send it again shortly",
        None,
    )
}
