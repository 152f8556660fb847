//! The durable outbox: every envelope for a staff member's inbox is stored (in batches), and the
//! officer's answer waits for that, so that what the hub answered for reaches the phones even
//! after a `kill -9`. What the officer waits for is the envelope, with its recipients as one
//! list unless it is an alert's revision to its whole audience (whose recipients are the
//! alert's, stored with it; what reaches each of them is kept per alert and person: see
//! [`crate::storage`]'s `mqtt`). A list's row per person is written right after the answer
//! (and, after a `kill -9`, when the store is next opened). The phones wait only for the
//! store: a batch is sent once it is stored, and [`super::Mqtt::storing`] holds back whatever
//! reads or marks the rows (what a connecting phone is owed, receipts) until they are there.
//!
//! On the hub's own endpoint, that stored state *is* the person's session: an envelope is owed
//! until one of their devices PUBACKs it, and [`super::phones`] hands whatever is owed to each
//! connection that starts. On a link to an external broker, a copy is marked when the broker
//! PUBACKs it; what a previous run (or a previous leader) stored and never saw accepted is sent
//! again when the link is taken ([`super::broker`]), and while the hub holds it the link itself
//! resends what a dropped connection lost.

use bytes::Bytes;
use chrono::Utc;
use scaan_schemas::Status;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::delivery::InboxMessage;
use crate::hub::Hub;
use crate::nodes::{NodeEvent, SharedEnvelope};
use crate::storage::{InboxStep, OutboxEnvelope};

/// Envelopes stored per transaction at most (each may have thousands of recipients).
const ENVELOPES_PER_BATCH: usize = 256;
/// PUBACKs recorded per transaction at most.
const ACCEPTED_PER_BATCH: usize = 20_000;

/// On a link: which stored row (envelope, person) each message is, by the tag it carries.
#[derive(Default)]
pub(super) struct Tags {
    next: AtomicU64,
    rows: Mutex<HashMap<u64, (Uuid, Uuid)>>,
}

impl Tags {
    fn rows(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Uuid, Uuid)>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A tag for a stored row, recorded before the message is handed to the link so that its
    /// PUBACK, however quick, finds the row.
    pub(super) fn tag(&self, envelope: Uuid, user: Uuid) -> u64 {
        let tag = self.untagged();
        self.rows().insert(tag, (envelope, user));
        tag
    }

    /// A tag for a message with no row (a reply): its PUBACK is recorded nowhere.
    pub(super) fn untagged(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

/// Sends and stores, batch by batch, what [`crate::delivery::Delivery`] queues for inboxes.
pub(super) async fn write(hub: Arc<Hub>, mut inbox: mpsc::UnboundedReceiver<InboxMessage>) {
    while let Some(batch) = super::next_batch(&mut inbox, ENVELOPES_PER_BATCH, &hub.shutdown).await {
        let storing = hub.mqtt.storing.write().await;
        let mut alerts = store_and_send(&hub, batch).await;
        // What was queued meanwhile is stored first (its senders wait for that); the rows
        // after, for all of it at once.
        while let Some(batch) = super::queued_batch(&mut inbox, ENVELOPES_PER_BATCH) {
            alerts.extend(store_and_send(&hub, batch).await);
        }
        expand(&hub, alerts).await;
        drop(storing);
    }
    // Stopping: what was queued but not yet stored is stored, and is owed at the next start.
    let rest = super::rest(&mut inbox);
    if !rest.is_empty() {
        store_only(&hub, rest).await;
    }
}

/// Sends a batch while storing it, then tells whoever waits for it to be stored; returns the
/// alerts it carries. The caller holds `storing` until the batch's rows are written.
async fn store_and_send(hub: &Hub, batch: Vec<InboxMessage>) -> BTreeSet<Uuid> {
    let (envelopes, payloads, waiting, statuses) = prepare(batch);
    owe(hub, &envelopes);
    // Stored first (the recipients as one list: a few ms), and its senders told, before the
    // sessions are woken: their wake-ups would otherwise queue ahead of the sender's answer.
    store(hub, &envelopes).await;
    // The other nodes' phones: shared before the senders are told, like the store.
    hub.nodes
        .shared(|| NodeEvent::Inbox {
            envelopes: envelopes
                .iter()
                .map(|e| SharedEnvelope {
                    id: e.id,
                    payload: e.payload.clone(),
                    recipients: e.recipients.clone(),
                })
                .collect(),
        })
        .await;
    for stored in waiting {
        let _ = stored.send(());
    }
    for ((envelope, payload), status) in envelopes.iter().zip(payloads).zip(statuses) {
        hub.metrics.dispatched.dispatched(envelope.id, status);
        hub.mqtt.dispatch(envelope.id, payload, &envelope.recipients);
    }
    envelopes.iter().filter_map(|e| e.alert_id).collect()
}

/// Writes the rows of what was stored: the outbox's (under `storing`, which the caller holds),
/// and the alerts' recipients, beside it.
async fn expand(hub: &Hub, alerts: BTreeSet<Uuid>) {
    for alert in alerts {
        let store = hub.store.clone();
        hub.tasks.spawn(async move {
            if let Err(e) = store.expand_audience(alert).await {
                // Its readers expand it first, and so does the next start.
                tracing::warn!(error = %e, %alert, "could not write an alert's recipient rows yet");
            }
        });
    }
    if let Err(e) = hub.store.expand_inbox().await {
        // Its readers expand it first, and so does the next start.
        tracing::warn!(error = %e, "could not write the outbox rows of a stored batch yet");
    }
}

/// Stores a batch (at stop: without sending it; it is owed at the next start).
async fn store_only(hub: &Hub, batch: Vec<InboxMessage>) {
    let (envelopes, _, waiting, _) = prepare(batch);
    owe(hub, &envelopes);
    store(hub, &envelopes).await;
    for stored in waiting {
        let _ = stored.send(());
    }
}

/// Their recipients may be owed something from now on (see [`super::Mqtt::owing`]).
fn owe(hub: &Hub, envelopes: &[OutboxEnvelope]) {
    let mut owing = hub.mqtt.owing();
    for envelope in envelopes {
        owing.extend(envelope.recipients.iter().copied());
    }
}

/// The envelopes to store, their payloads, who waits for them stored, and their statuses.
type Prepared = (
    Vec<OutboxEnvelope>,
    Vec<Bytes>,
    Vec<tokio::sync::oneshot::Sender<()>>,
    Vec<Status>,
);

/// Gives each envelope of a batch its id.
fn prepare(batch: Vec<InboxMessage>) -> Prepared {
    let mut envelopes = Vec::with_capacity(batch.len());
    let mut payloads = Vec::with_capacity(batch.len());
    let mut waiting = Vec::new();
    let mut statuses = Vec::with_capacity(batch.len());
    for m in batch {
        statuses.push(m.status);
        envelopes.push(OutboxEnvelope {
            id: Uuid::new_v4(),
            alert_id: m.alert_id,
            revision: m.revision,
            payload: String::from_utf8_lossy(&m.payload).into_owned(),
            recipients: m.recipients,
        });
        payloads.push(m.payload);
        waiting.push(m.stored);
    }
    (envelopes, payloads, waiting, statuses)
}

/// When the database fails, what was sent stays sent (a person warned without a receipt beats
/// a person not warned), and it is logged.
async fn store(hub: &Hub, envelopes: &[OutboxEnvelope]) {
    if let Err(e) = hub.store.queue_inbox(envelopes, Utc::now()).await {
        tracing::error!(error = %e, envelopes = envelopes.len(), "could not store inbox messages; they went out unrecorded");
    }
}

/// On a link: records the broker's PUBACKs, many per transaction.
pub(super) async fn record_accepted(hub: Arc<Hub>, mut accepted: mpsc::UnboundedReceiver<u64>) {
    while let Some(tags) = super::next_batch(&mut accepted, ACCEPTED_PER_BATCH, &hub.shutdown).await {
        record(&hub, tags).await;
    }
    // Stopping: record the PUBACKs already in, so the next start does not send those again.
    record(&hub, super::rest(&mut accepted)).await;
}

async fn record(hub: &Hub, tags: Vec<u64>) {
    let super::Transport::Link(session) = &hub.mqtt.transport else {
        return;
    };
    let mut by_envelope: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    {
        let mut rows = session.tags.rows();
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
    for (envelope, users) in &by_envelope {
        let status = hub.metrics.dispatched.of(*envelope).status;
        hub.metrics
            .broker_accepted
            .get_or_create(&crate::metrics::status_label(status))
            .inc_by(users.len() as u64);
    }
    let _stored = hub.mqtt.storing.read().await;
    if let Err(e) = hub
        .store
        .mark_inbox(InboxStep::BrokerAccepted, &by_envelope, Utc::now())
        .await
    {
        tracing::warn!(error = %e, "could not record PUBACKs; those messages will be sent again at the next start");
    }
}
