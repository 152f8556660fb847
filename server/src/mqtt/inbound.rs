//! Messages from phones: each phone → hub topic is routed, by the topic's owner (whom the
//! broker has checked against the connection, never the payload), to the same code the
//! WebSocket uses. A bad payload is answered with an `error` envelope on that person's inbox
//! and changes nothing. A message is PUBACKed only after it has been acted on, so a check-in
//! is acknowledged to the phone only once it is durably stored.

use chrono::Utc;
use scaan_mobile_bridge::topics::{self, PhoneTopic};
use scaan_mobile_bridge::Inbound;
use scaan_schemas::{AppAck, Envelope, NewReport, Rejected, User};
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};

use crate::delivery::stream::{error, handle_client_message};
use crate::hub::Hub;
use crate::reports;

/// Phone messages handled at once; check-ins among them share group commits.
const CONCURRENT: usize = 256;

pub(super) async fn route(hub: Arc<Hub>, mut inbound: mpsc::UnboundedReceiver<Inbound>) {
    let permits = Arc::new(Semaphore::new(CONCURRENT));
    loop {
        let message = tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            message = inbound.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let task_hub = hub.clone();
        hub.tasks.spawn(async move {
            handle(&task_hub, message).await;
            drop(permit);
        });
    }
}

async fn handle(hub: &Hub, message: Inbound) {
    // The hub subscribes only to phone → hub topics, whose owner the broker has checked.
    let Some((owner, kind)) = topics::parse_phone_topic(&message.topic) else {
        message.ack().await;
        return;
    };
    let user = match hub.store.user(owner).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            message.ack().await;
            return;
        }
        // Not acknowledged: the broker sends it again after the next reconnection.
        Err(e) => {
            tracing::warn!(error = %e, topic = %message.topic, "cannot handle an MQTT message: database unreachable");
            return;
        }
    };
    let reply = match kind {
        PhoneTopic::Checkin | PhoneTopic::Location | PhoneTopic::Sos => match as_client_message(kind, &message.payload)
        {
            Ok(json) => handle_client_message(hub, &user, &json).await,
            Err(reply) => Some(*reply),
        },
        PhoneTopic::Ack => acknowledge(hub, &user, &message.payload).await,
        PhoneTopic::Report => submit_report(hub, &user, &message.payload).await,
    };
    if let Some(reply) = reply {
        hub.delivery.to_inbox(&reply, user.id);
    }
    message.ack().await;
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
    match reports::submit(hub, user, new).await {
        Ok(_) => None,
        Err(e) => Some(error(
            e.body().error.code.as_str(),
            &e.body().error.message_with_field(),
            None,
        )),
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
    error(
        "unavailable",
        "the hub could not record that; send it again shortly",
        None,
    )
}
