//! The durable outbox: every envelope for a staff member's inbox is stored (in batches) before
//! the link publishes it, and marked when the broker PUBACKs it. What a previous run stored and
//! never saw accepted is sent again at start; while the hub runs, the link itself resends what
//! a dropped connection lost, so nothing the broker acknowledged is sent twice. Replies to what a
//! phone sent (`checkin_ack`, `error`) skip the store: see [`InboxMessage::durable`].

use bytes::Bytes;
use chrono::Utc;
use scaan_mobile_bridge::{topics, Outbound};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::delivery::InboxMessage;
use crate::hub::Hub;
use crate::storage::OutboxEnvelope;

/// Envelopes stored per transaction at most (each may have thousands of recipients).
const ENVELOPES_PER_BATCH: usize = 256;
/// PUBACKs recorded per transaction at most.
const ACCEPTED_PER_BATCH: usize = 20_000;

/// Which stored row (envelope, person) each message on the link is.
#[derive(Default)]
pub(super) struct Tags {
    next: AtomicU64,
    rows: Mutex<HashMap<u64, (Uuid, Uuid)>>,
}

impl Tags {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Uuid, Uuid)>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stores what [`crate::delivery::Delivery`] queues for inboxes, then hands it to the link.
pub(super) async fn write(hub: Arc<Hub>, mut inbox: mpsc::UnboundedReceiver<InboxMessage>) {
    resend_unaccepted(&hub).await;
    loop {
        let first = tokio::select! {
            _ = hub.shutdown.cancelled() => break,
            message = inbox.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < ENVELOPES_PER_BATCH {
            match inbox.try_recv() {
                Ok(message) => batch.push(message),
                Err(_) => break,
            }
        }
        let (batch, replies): (Vec<_>, Vec<_>) = batch.into_iter().partition(|m| m.durable);
        for reply in replies {
            for user in reply.recipients {
                publish(&hub, user, reply.payload.clone(), None);
            }
        }
        if batch.is_empty() {
            continue;
        }
        let stored = store(&hub, batch).await;
        for (envelope, payload) in stored {
            for user in envelope.recipients {
                send(&hub, envelope.id, user, payload.clone());
            }
        }
    }
    // Stopping: what was queued but not yet stored is stored, and goes out at the next start.
    let mut rest = Vec::new();
    while let Ok(message) = inbox.try_recv() {
        rest.push(message);
    }
    if !rest.is_empty() {
        store(&hub, rest).await;
    }
}

/// Stores a batch, then tells whoever waits for it; returns each envelope with its bytes. When
/// the database fails the batch is still sent (a person warned without a receipt beats a person
/// not warned), and logged.
async fn store(hub: &Hub, batch: Vec<InboxMessage>) -> Vec<(OutboxEnvelope, Bytes)> {
    let mut envelopes = Vec::with_capacity(batch.len());
    let mut payloads = Vec::with_capacity(batch.len());
    let mut waiting = Vec::new();
    for m in batch {
        envelopes.push(OutboxEnvelope {
            id: Uuid::new_v4(),
            alert_id: m.alert_id,
            payload: String::from_utf8_lossy(&m.payload).into_owned(),
            recipients: m.recipients,
        });
        payloads.push(m.payload);
        waiting.extend(m.stored);
    }
    if let Err(e) = hub.store.queue_inbox(&envelopes, Utc::now()).await {
        tracing::error!(error = %e, envelopes = envelopes.len(), "could not store inbox messages; sending them unrecorded");
    }
    for stored in waiting {
        let _ = stored.send(());
    }
    envelopes.into_iter().zip(payloads).collect()
}

/// Sends a stored message; its PUBACK marks its row.
fn send(hub: &Hub, envelope: Uuid, user: Uuid, payload: Bytes) {
    publish(hub, user, payload, Some(envelope));
}

/// Hands a message to the link. A stored one (`envelope`) is tagged with its row first, so that
/// its PUBACK, however quick, finds the row; a reply has no row and is recorded nowhere.
fn publish(hub: &Hub, user: Uuid, payload: Bytes, envelope: Option<Uuid>) {
    let tags = &hub.mqtt.outbox;
    let tag = tags.next.fetch_add(1, Ordering::Relaxed);
    if let Some(envelope) = envelope {
        tags.rows().insert(tag, (envelope, user));
    }
    hub.mqtt.link.send(Outbound {
        tag,
        topic: topics::inbox(user),
        payload,
    });
}

/// At start: sends again every stored message the broker never acknowledged.
async fn resend_unaccepted(hub: &Hub) {
    match hub.store.unaccepted_inbox().await {
        Ok(rows) => {
            if !rows.is_empty() {
                tracing::info!(
                    messages = rows.len(),
                    "sending inbox messages the broker never acknowledged"
                );
            }
            for row in rows {
                send(hub, row.envelope_id, row.user_id, Bytes::from(row.payload));
            }
        }
        Err(e) => tracing::error!(error = %e, "could not read the MQTT outbox"),
    }
}

/// Records the broker's PUBACKs, many per transaction.
pub(super) async fn record_accepted(hub: Arc<Hub>, mut accepted: mpsc::UnboundedReceiver<u64>) {
    loop {
        let first = tokio::select! {
            _ = hub.shutdown.cancelled() => break,
            tag = accepted.recv() => match tag {
                Some(tag) => tag,
                None => return,
            },
        };
        let mut tags = vec![first];
        while tags.len() < ACCEPTED_PER_BATCH {
            match accepted.try_recv() {
                Ok(tag) => tags.push(tag),
                Err(_) => break,
            }
        }
        record(&hub, tags).await;
    }
    // Stopping: record the PUBACKs already in, so the next start does not send those again.
    let mut rest = Vec::new();
    while let Ok(tag) = accepted.try_recv() {
        rest.push(tag);
    }
    record(&hub, rest).await;
}

async fn record(hub: &Hub, tags: Vec<u64>) {
    let mut by_envelope: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    {
        let mut rows = hub.mqtt.outbox.rows();
        for tag in tags {
            if let Some((envelope, user)) = rows.remove(&tag) {
                by_envelope.entry(envelope).or_default().push(user);
            }
        }
    }
    if by_envelope.is_empty() {
        return;
    }
    let by_envelope: Vec<(Uuid, Vec<Uuid>)> = by_envelope.into_iter().collect();
    if let Err(e) = hub.store.mark_inbox_accepted(&by_envelope, Utc::now()).await {
        tracing::warn!(error = %e, "could not record PUBACKs; those messages will be sent again at the next start");
    }
}
