//! Live delivery to connected clients: who is connected, and handing each envelope to exactly
//! the connections that should see it. An envelope is serialized once and its bytes shared by
//! every recipient; a client that falls behind is told to resync instead of slowing the sender.
//! What is for staff also goes, with the same bytes, to their MQTT inboxes through the durable
//! outbox ([`crate::mqtt`]). An alert written to one of its recipients' streams is recorded as
//! delivered there ([`receipts`]). An envelope about a person may go to officers as a copy
//! screened for them ([`OfficersCopy`]); one that shows a precise position is audited as a view
//! once written ([`crate::privacy`]).

pub mod receipts;
pub mod stream;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use scaan_schemas::{Alert, Envelope, Role, Status, User};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::nodes::{NodeEvent, Nodes, OfficersShared, SharedStream};
use crate::privacy::PreciseView;

/// Envelopes queued per connection before the connection counts as lagging.
pub const QUEUE_DEPTH: usize = 256;

/// Who an envelope is for: these staff, plus the officers whose countries it concerns
/// (watch officers see everything).
pub struct Audience<'a> {
    pub staff: &'a [Uuid],
    pub countries: &'a [String],
}

/// What the officers outside an envelope's staff are handed: its bytes (a screened copy, or
/// the same), and the precise view each write of it shows.
#[derive(Clone, Copy)]
struct Officers<'a> {
    bytes: &'a Utf8Bytes,
    view: Option<&'a Arc<PreciseView>>,
}

#[derive(Default)]
pub struct Delivery {
    registry: RwLock<Registry>,
    next_id: AtomicU64,
    /// The MQTT outbox's queue; unbounded so that sending never waits on storage or the broker.
    inbox: Option<mpsc::UnboundedSender<InboxMessage>>,
    /// The streams' completed writes of alerts, on their way to the store.
    pub receipts: receipts::StreamReceipts,
    /// The other nodes, whose streams get what this node's get.
    nodes: Option<Arc<Nodes>>,
    /// The hub's shutdown. Each stream's `closed` is its child, so that a stream waits on one
    /// token, its own, for both (each wait on a token takes its lock).
    stopping: CancellationToken,
}

/// One envelope queued for one connection.
pub struct Outgoing {
    pub bytes: Utf8Bytes,
    /// The alert whose receipt the completed write records: set when the connection is one of
    /// the alert's recipients'.
    pub receipt: Option<Uuid>,
    /// The precise position the envelope shows an officer, audited once the write completes.
    pub view: Option<Arc<PreciseView>>,
}

/// What officers get of an envelope about a person: a copy screened for them, and the precise
/// view it still shows, if any.
pub struct OfficersCopy<'a> {
    pub envelope: &'a Envelope,
    pub view: Option<PreciseView>,
}

/// An envelope for some staff members' MQTT inboxes.
pub struct InboxMessage {
    /// The serialized envelope, the same bytes the WebSocket connections got.
    pub payload: Bytes,
    pub recipients: Vec<Uuid>,
    /// The alert an `alert`, `alert_update` or `alert_cancel` envelope carries (for receipts).
    pub alert_id: Option<Uuid>,
    /// Set when the envelope is that alert's revision to its whole audience: the outbox then
    /// writes no row per person for it (see `storage`'s `mqtt`).
    pub revision: Option<u32>,
    /// That alert's CAP status (`actual` for what concerns no alert), for the metrics.
    pub status: Status,
    /// Told once the outbox has stored it (see [`Published::stored`]).
    pub stored: oneshot::Sender<()>,
}

/// What [`Delivery::publish`] did: how many connections it was queued for, and the wait for
/// the staff's MQTT inbox messages to be stored.
pub struct Published {
    pub connections: usize,
    stored: Option<oneshot::Receiver<()>>,
    /// The wait for the other nodes' copy to be written (with several nodes).
    shared: Option<oneshot::Receiver<()>>,
}

impl Published {
    fn nothing() -> Published {
        Published {
            connections: 0,
            stored: None,
            shared: None,
        }
    }

    /// Returns once the MQTT outbox holds the envelope for every staff recipient (at once when
    /// it goes to no inbox), and the other nodes' streams have it to read. Whoever answers a
    /// request for an envelope awaits this first, so that what the hub acknowledged reaches
    /// the phones and streams even after a `kill -9`.
    pub async fn stored(self) {
        // An error means the writer stopped with the hub, after storing what it had.
        if let Some(stored) = self.stored {
            let _ = stored.await;
        }
        if let Some(shared) = self.shared {
            let _ = shared.await;
        }
    }
}

#[derive(Default)]
struct Registry {
    connections: HashMap<u64, Connection>,
    by_user: HashMap<Uuid, Vec<u64>>,
    officers: HashSet<u64>,
}

impl Registry {
    /// Queues `bytes` for one connection without waiting; a full queue flags it as lagging.
    /// Returns whether it was queued.
    fn hand(&self, id: u64, bytes: &Utf8Bytes, receipt: Option<Uuid>, view: Option<&Arc<PreciseView>>) -> bool {
        let Some(connection) = self.connections.get(&id) else {
            return false;
        };
        let outgoing = Outgoing {
            bytes: bytes.clone(),
            receipt,
            view: view.cloned(),
        };
        match connection.queue.try_send(outgoing) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                connection.lagged.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Connection {
    user: Uuid,
    role: Role,
    countries: Vec<String>,
    token_hash: [u8; 32],
    queue: mpsc::Sender<Outgoing>,
    lagged: Arc<AtomicBool>,
    closed: CancellationToken,
    closing: Arc<OnceLock<Closing>>,
}

impl Connection {
    fn close(&self, why: Closing) {
        let _ = self.closing.set(why);
        self.closed.cancel();
    }
}

/// Why the hub closes a stream on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The hub is stopping: reconnect, to this node once it is back or to another.
    Stopping,
    /// Its token was revoked (logout, password change, account disabled): log in again.
    Revoked,
    /// The account's role or countries changed: the token still holds; reconnect to get the
    /// envelopes the new rights allow.
    RightsChanged,
}

impl Closing {
    /// The WebSocket close code and reason.
    pub fn frame(self) -> (u16, &'static str) {
        match self {
            Closing::Stopping => (1001, "the hub is restarting; reconnect shortly"),
            Closing::Revoked => (1008, "the token was revoked; log in again"),
            Closing::RightsChanged => (4001, "your account's rights changed; reconnect"),
        }
    }
}

/// One connection's end: envelopes to write, the lag flag, and a token cancelled when the
/// connection must close (and why, in `closing`).
pub struct Subscription {
    pub id: u64,
    pub envelopes: mpsc::Receiver<Outgoing>,
    pub lagged: Arc<AtomicBool>,
    pub closed: CancellationToken,
    closing: Arc<OnceLock<Closing>>,
}

impl Subscription {
    /// Why the hub closed it (once `closed` is cancelled): no reason given, the hub is stopping.
    pub fn closing(&self) -> Closing {
        self.closing.get().copied().unwrap_or(Closing::Stopping)
    }
}

impl Delivery {
    /// Delivery that also hands every staff member's envelopes to `inbox`, and every envelope
    /// to the other `nodes`' streams; its streams close when `stopping` is cancelled.
    pub fn with_inbox(
        inbox: mpsc::UnboundedSender<InboxMessage>,
        nodes: Arc<Nodes>,
        stopping: &CancellationToken,
    ) -> Delivery {
        Delivery {
            inbox: Some(inbox),
            nodes: Some(nodes),
            stopping: stopping.clone(),
            ..Delivery::default()
        }
    }

    pub fn subscribe(&self, user: &User, token_hash: [u8; 32]) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, envelopes) = mpsc::channel(QUEUE_DEPTH);
        let lagged = Arc::new(AtomicBool::new(false));
        let closed = self.stopping.child_token();
        let closing = Arc::new(OnceLock::new());
        let connection = Connection {
            user: user.id,
            role: user.role,
            countries: user.countries.clone(),
            token_hash,
            queue,
            lagged: lagged.clone(),
            closed: closed.clone(),
            closing: closing.clone(),
        };
        let mut registry = self.registry.write().unwrap_or_else(|e| e.into_inner());
        if matches!(user.role, Role::WatchOfficer | Role::SecurityOfficer) {
            registry.officers.insert(id);
        }
        registry.by_user.entry(user.id).or_default().push(id);
        registry.connections.insert(id, connection);
        Subscription {
            id,
            envelopes,
            lagged,
            closed,
            closing,
        }
    }

    pub fn unsubscribe(&self, id: u64) {
        let mut registry = self.registry.write().unwrap_or_else(|e| e.into_inner());
        if let Some(connection) = registry.connections.remove(&id) {
            registry.officers.remove(&id);
            if let Some(ids) = registry.by_user.get_mut(&connection.user) {
                ids.retain(|c| *c != id);
                if ids.is_empty() {
                    registry.by_user.remove(&connection.user);
                }
            }
        }
    }

    /// Hands `envelope` to every connection of its audience, on every node, and to the
    /// staff's MQTT inboxes, without waiting on any of them.
    pub fn publish(&self, envelope: &Envelope, audience: Audience<'_>) -> Published {
        self.hand_out(envelope, None, audience)
    }

    /// [`Self::publish`] for whoever answers a request for the envelope: returns once the
    /// MQTT outbox holds it for every staff recipient and the other nodes have it to read, so
    /// that what the hub acknowledged reaches the phones and streams even after a `kill -9`.
    /// This node's streams are handed it only then, just before the answer: waking 10,000 of
    /// them first queued the answer behind their writes. (A stream that loses it to a restart
    /// resyncs over HTTP when it reconnects.)
    pub async fn publish_durably(&self, envelope: &Envelope, audience: Audience<'_>) {
        self.publish_stored(envelope, audience, None).await;
    }

    /// [`Self::publish_durably`] for an alert's revision (the alert itself, an update, its
    /// cancellation) to its whole audience, the people recorded as its recipients: where each
    /// one's copy has got to is kept per alert and person, written once something reached them.
    pub async fn publish_revision(&self, alert: &Alert, envelope: &Envelope, audience: Audience<'_>) {
        self.publish_stored(envelope, audience, Some(alert.revision)).await;
    }

    async fn publish_stored(&self, envelope: &Envelope, audience: Audience<'_>, revision: Option<u32>) {
        let Some(bytes) = serialize(envelope) else {
            return;
        };
        let alert = alert_of(envelope);
        let published = Published {
            connections: 0,
            stored: self.queue_for_inboxes(envelope, &bytes, audience.staff, revision),
            shared: self.share(&bytes, None, audience.staff, audience.countries, alert, false),
        };
        published.stored().await;
        let officers = Officers {
            bytes: &bytes,
            view: None,
        };
        self.hand_audience(&bytes, officers, audience, alert);
    }

    /// As [`Self::publish`], but the officers who are not in the audience's staff get
    /// `officers`' envelope instead, each write of it showing its precise view (if any).
    pub fn publish_screened(
        &self,
        envelope: &Envelope,
        officers: OfficersCopy<'_>,
        audience: Audience<'_>,
    ) -> Published {
        self.hand_out(envelope, Some(officers), audience)
    }

    fn hand_out(&self, envelope: &Envelope, officers: Option<OfficersCopy<'_>>, audience: Audience<'_>) -> Published {
        let Some(bytes) = serialize(envelope) else {
            return Published::nothing();
        };
        let (officer_bytes, view) = match officers {
            Some(copy) => match serialize(copy.envelope) {
                Some(screened) => (screened, copy.view.map(Arc::new)),
                None => return Published::nothing(),
            },
            None => (bytes.clone(), None),
        };
        let stored = self.queue_for_inboxes(envelope, &bytes, audience.staff, None);
        let alert = alert_of(envelope);
        let screened = (officer_bytes != bytes).then(|| OfficersShared {
            payload: officer_bytes.as_str().to_owned(),
            view: view.as_deref().cloned(),
        });
        let shared = self.share(&bytes, screened, audience.staff, audience.countries, alert, false);
        let officers = Officers {
            bytes: &officer_bytes,
            view: view.as_ref(),
        };
        Published {
            connections: self.hand_audience(&bytes, officers, audience, alert),
            stored,
            shared,
        }
    }

    /// Hands `envelope` to this node's connections of its audience only: for what every node
    /// works out for itself from the database (headcounts' counts), which a copy from another
    /// node, counted earlier, could arrive after and undo.
    pub fn publish_here(&self, envelope: &Envelope, audience: Audience<'_>) -> usize {
        match serialize(envelope) {
            Some(bytes) => {
                let officers = Officers {
                    bytes: &bytes,
                    view: None,
                };
                self.hand_audience(&bytes, officers, audience, alert_of(envelope))
            }
            None => 0,
        }
    }

    /// Hands `envelope` to these people only — their connections, on every node, and MQTT
    /// inboxes — whatever their role: for what only some officers may see (restricted
    /// incident reports).
    pub fn publish_to(&self, envelope: &Envelope, users: &[Uuid]) -> Published {
        let Some(bytes) = serialize(envelope) else {
            return Published::nothing();
        };
        let stored = self.queue_for_inboxes(envelope, &bytes, users, None);
        let shared = self.share(&bytes, None, users, &[], None, true);
        Published {
            connections: self.hand_users(&bytes, users),
            stored,
            shared,
        }
    }

    /// What another node handed its connections, for this node's.
    pub fn hand_shared(&self, event: SharedStream) {
        let bytes = Utf8Bytes::from(event.payload);
        if event.only {
            self.hand_users(&bytes, &event.staff);
            return;
        }
        let (officer_bytes, view) = match event.officers {
            Some(copy) => (Utf8Bytes::from(copy.payload), copy.view.map(Arc::new)),
            None => (bytes.clone(), None),
        };
        let officers = Officers {
            bytes: &officer_bytes,
            view: view.as_ref(),
        };
        let audience = Audience {
            staff: &event.staff,
            countries: &event.countries,
        };
        self.hand_audience(&bytes, officers, audience, event.alert);
    }

    fn share(
        &self,
        bytes: &Utf8Bytes,
        officers: Option<OfficersShared>,
        staff: &[Uuid],
        countries: &[String],
        alert: Option<Uuid>,
        only: bool,
    ) -> Option<oneshot::Receiver<()>> {
        self.nodes.as_ref()?.share(|| {
            NodeEvent::Stream(SharedStream {
                payload: bytes.as_str().to_owned(),
                officers,
                staff: staff.to_vec(),
                countries: countries.to_vec(),
                alert,
                only,
            })
        })
    }

    /// Queues `bytes` for this node's connections of the audience; returns how many.
    fn hand_audience(
        &self,
        bytes: &Utf8Bytes,
        officers_copy: Officers<'_>,
        audience: Audience<'_>,
        alert: Option<Uuid>,
    ) -> usize {
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        let staff = audience.staff.iter().filter_map(|u| registry.by_user.get(u)).flatten();
        let officers = registry.officers.iter().filter(|id| {
            registry.connections.get(id).is_some_and(|c| {
                c.role == Role::WatchOfficer || audience.countries.iter().any(|country| c.countries.contains(country))
            })
        });
        let mut queued = 0;
        // Sized at once: grown from nothing, it was rehashed a dozen times on the way to 10,000.
        let mut seen = HashSet::with_capacity(audience.staff.len());
        // The staff's connections first, with the receipt; an officer who is also a recipient
        // gets it once, as a recipient.
        for id in staff {
            if seen.insert(*id) && registry.hand(*id, bytes, alert, None) {
                queued += 1;
            }
        }
        for id in officers {
            if seen.insert(*id) && registry.hand(*id, officers_copy.bytes, None, officers_copy.view) {
                queued += 1;
            }
        }
        queued
    }

    /// Queues `bytes` for this node's connections of these people; returns how many.
    fn hand_users(&self, bytes: &Utf8Bytes, users: &[Uuid]) -> usize {
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        let ids: HashSet<u64> = users
            .iter()
            .filter_map(|u| registry.by_user.get(u))
            .flatten()
            .copied()
            .collect();
        ids.iter().filter(|id| registry.hand(**id, bytes, None, None)).count()
    }

    /// Queues the envelope for the staff's inboxes; returns the wait for it to be stored.
    fn queue_for_inboxes(
        &self,
        envelope: &Envelope,
        bytes: &Utf8Bytes,
        staff: &[Uuid],
        revision: Option<u32>,
    ) -> Option<oneshot::Receiver<()>> {
        let inbox = self.inbox.as_ref()?;
        if staff.is_empty() {
            return None;
        }
        let (stored, wait) = oneshot::channel();
        // Fails only once the outbox writer has stopped, when the hub is stopping.
        let _ = inbox.send(InboxMessage {
            payload: Bytes::from(bytes.clone()),
            recipients: staff.to_vec(),
            alert_id: alert_of(envelope),
            revision,
            status: status_of(envelope),
            stored,
        });
        Some(wait)
    }

    /// Brings `user`'s streams in line with their account: those opened with a token no longer
    /// in `valid` are closed as revoked, the others opened under another role or other
    /// countries as rights changed.
    pub fn enforce(&self, user: &User, valid: &HashSet<[u8; 32]>) {
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        let ids = registry.by_user.get(&user.id).into_iter().flatten();
        for connection in ids.filter_map(|id| registry.connections.get(id)) {
            if !valid.contains(&connection.token_hash) {
                connection.close(Closing::Revoked);
            } else if connection.role != user.role || connection.countries != user.countries {
                connection.close(Closing::RightsChanged);
            }
        }
    }

    pub fn connections(&self) -> usize {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .connections
            .len()
    }
}

/// The alert an `alert`, `alert_update` or `alert_cancel` envelope carries (for receipts).
fn alert_of(envelope: &Envelope) -> Option<Uuid> {
    match envelope {
        Envelope::Alert { alert, .. } | Envelope::AlertUpdate { alert } | Envelope::AlertCancel { alert } => {
            Some(alert.id)
        }
        _ => None,
    }
}

/// The CAP status of the alert an envelope carries; `actual` for what concerns no alert.
fn status_of(envelope: &Envelope) -> Status {
    match envelope {
        Envelope::Alert { alert, .. } | Envelope::AlertUpdate { alert } | Envelope::AlertCancel { alert } => {
            alert.content.status
        }
        _ => Status::Actual,
    }
}

fn serialize(envelope: &Envelope) -> Option<Utf8Bytes> {
    match serde_json::to_string(envelope) {
        Ok(json) => Some(Utf8Bytes::from(json)),
        Err(e) => {
            tracing::error!(error = %e, "an envelope failed to serialize");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scaan_schemas::Envelope;

    fn person(role: Role, countries: &[&str]) -> User {
        User {
            id: Uuid::new_v4(),
            username: "u".into(),
            name: "U".into(),
            role,
            countries: countries.iter().map(|c| c.to_string()).collect(),
            duty_station: None,
            disabled: false,
            phones: Vec::new(),
        }
    }

    fn envelope(n: usize) -> Envelope {
        Envelope::Resync { reason: n.to_string() }
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_flagged_and_holds_up_nobody() {
        let delivery = Delivery::default();
        let (slow, fast) = (person(Role::Staff, &[]), person(Role::Staff, &[]));
        let slow_sub = delivery.subscribe(&slow, [0; 32]);
        let mut fast_sub = delivery.subscribe(&fast, [1; 32]);
        let staff = [slow.id, fast.id];
        let total = QUEUE_DEPTH + 50;
        let reader = tokio::spawn(async move {
            let mut got = 0;
            while got < total {
                fast_sub.envelopes.recv().await.expect("open");
                got += 1;
            }
            got
        });
        for n in 0..total {
            delivery.publish(
                &envelope(n),
                Audience {
                    staff: &staff,
                    countries: &[],
                },
            );
            tokio::task::yield_now().await;
        }
        assert_eq!(reader.await.unwrap(), total, "the reading client got everything");
        assert!(
            slow_sub.lagged.load(Ordering::Acquire),
            "the stalled client is told to resync"
        );
        assert_eq!(slow_sub.envelopes.len(), QUEUE_DEPTH, "and its queue stays bounded");
    }

    #[test]
    fn officers_get_what_concerns_their_countries_and_staff_only_their_own() {
        let delivery = Delivery::default();
        let watch = person(Role::WatchOfficer, &[]);
        let kivu = person(Role::SecurityOfficer, &["CD"]);
        let kampala = person(Role::SecurityOfficer, &["UG"]);
        let (amani, bahati) = (person(Role::Staff, &[]), person(Role::Staff, &[]));
        let mut subs: Vec<Subscription> = [&watch, &kivu, &kampala, &amani, &bahati]
            .iter()
            .map(|u| delivery.subscribe(u, [0; 32]))
            .collect();
        let queued = delivery.publish(
            &envelope(0),
            Audience {
                staff: &[amani.id],
                countries: &["CD".into()],
            },
        );
        assert_eq!(queued.connections, 3);
        let got: Vec<bool> = subs.iter_mut().map(|s| s.envelopes.try_recv().is_ok()).collect();
        assert_eq!(got, [true, true, false, true, false]);
        delivery.unsubscribe(subs[3].id);
        assert_eq!(
            delivery
                .publish(
                    &envelope(1),
                    Audience {
                        staff: &[amani.id],
                        countries: &[]
                    }
                )
                .connections,
            1
        );
        assert_eq!(delivery.connections(), 4);
    }

    #[test]
    fn an_alert_carries_its_receipt_to_its_recipients_connections_only() {
        let delivery = Delivery::default();
        let watch = person(Role::WatchOfficer, &[]);
        let amani = person(Role::Staff, &[]);
        let (mut watch_sub, mut amani_sub) = (delivery.subscribe(&watch, [0; 32]), delivery.subscribe(&amani, [1; 32]));
        let alert: scaan_schemas::Alert = serde_json::from_value(serde_json::json!({
            "id": Uuid::new_v4(), "msg_type": "alert", "revision": 1, "sent_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "sender": "watch", "recipients": 1, "countries": [],
            "headline": "h", "event": "e", "category": "security", "urgency": "immediate", "severity": "severe",
            "certainty": "observed", "expires_at": "2026-01-02T00:00:00Z",
            "area": {"description": "a", "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 1000}
        }))
        .expect("an alert");
        let audience = Audience {
            staff: &[amani.id],
            countries: &[],
        };
        delivery.publish(
            &Envelope::Alert {
                alert: alert.clone(),
                wave: None,
            },
            audience,
        );
        assert_eq!(amani_sub.envelopes.try_recv().unwrap().receipt, Some(alert.id));
        assert_eq!(
            watch_sub.envelopes.try_recv().unwrap().receipt,
            None,
            "an officer watching is no recipient"
        );
        delivery.publish(
            &envelope(1),
            Audience {
                staff: &[amani.id],
                countries: &[],
            },
        );
        assert_eq!(
            amani_sub.envelopes.try_recv().unwrap().receipt,
            None,
            "only alerts have receipts"
        );
    }

    #[test]
    fn officers_get_the_screened_copy_marked_with_its_view_and_the_person_the_whole() {
        let delivery = Delivery::default();
        let kivu = person(Role::SecurityOfficer, &["CD"]);
        let amani = person(Role::Staff, &[]);
        let (mut kivu_sub, mut amani_sub) = (delivery.subscribe(&kivu, [0; 32]), delivery.subscribe(&amani, [1; 32]));
        let view = PreciseView {
            person: amani.id,
            ground: scaan_schemas::PreciseGround {
                kind: scaan_schemas::GroundKind::Sos,
                id: Uuid::new_v4(),
            },
            countries: vec!["CD".into()],
        };
        let published = delivery.publish_screened(
            &envelope(1),
            OfficersCopy {
                envelope: &envelope(2),
                view: Some(view.clone()),
            },
            Audience {
                staff: &[amani.id],
                countries: &["CD".into()],
            },
        );
        assert_eq!(published.connections, 2);
        let own = amani_sub.envelopes.try_recv().unwrap();
        assert!(own.bytes.as_str().contains("\"1\""), "{}", own.bytes.as_str());
        assert!(own.view.is_none(), "the person's own view is no officer's");
        let shown = kivu_sub.envelopes.try_recv().unwrap();
        assert!(shown.bytes.as_str().contains("\"2\""), "{}", shown.bytes.as_str());
        assert_eq!(shown.view.map(|v| v.ground), Some(view.ground));
    }

    #[test]
    fn another_nodes_screened_envelope_reaches_officers_screened_with_its_view() {
        let delivery = Delivery::default();
        let kivu = person(Role::SecurityOfficer, &["CD"]);
        let amani = person(Role::Staff, &[]);
        let (mut kivu_sub, mut amani_sub) = (delivery.subscribe(&kivu, [0; 32]), delivery.subscribe(&amani, [1; 32]));
        let ground = scaan_schemas::PreciseGround {
            kind: scaan_schemas::GroundKind::Sos,
            id: Uuid::new_v4(),
        };
        let event = NodeEvent::Stream(SharedStream {
            payload: serde_json::to_string(&envelope(1)).unwrap(),
            officers: Some(OfficersShared {
                payload: serde_json::to_string(&envelope(2)).unwrap(),
                view: Some(PreciseView {
                    person: amani.id,
                    ground,
                    countries: vec!["CD".into()],
                }),
            }),
            staff: vec![amani.id],
            countries: vec!["CD".into()],
            alert: None,
            only: false,
        });
        // As the other node reads it from the events table.
        let read: NodeEvent = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        let NodeEvent::Stream(shared) = read else {
            panic!("{read:?}");
        };
        delivery.hand_shared(shared);
        let own = amani_sub.envelopes.try_recv().unwrap();
        assert!(own.bytes.as_str().contains("\"1\"") && own.view.is_none());
        let shown = kivu_sub.envelopes.try_recv().unwrap();
        assert!(shown.bytes.as_str().contains("\"2\""), "{}", shown.bytes.as_str());
        assert_eq!(shown.view.map(|v| v.ground), Some(ground));
    }

    #[test]
    fn enforcing_an_account_closes_its_revoked_and_outdated_streams_only() {
        let delivery = Delivery::default();
        let kivu = person(Role::SecurityOfficer, &["CD"]);
        let other = person(Role::SecurityOfficer, &["CD"]);
        let (kept, revoked) = ([1; 32], [2; 32]);
        let on_kept = delivery.subscribe(&kivu, kept);
        let on_revoked = delivery.subscribe(&kivu, revoked);
        let others = delivery.subscribe(&other, revoked);
        delivery.enforce(&kivu, &HashSet::from([kept]));
        assert!(on_revoked.closed.is_cancelled());
        assert_eq!(on_revoked.closing(), Closing::Revoked);
        assert!(!on_kept.closed.is_cancelled(), "same rights, token still valid");
        assert!(!others.closed.is_cancelled(), "someone else's stream");

        let moved = User {
            countries: vec!["UG".into()],
            ..kivu.clone()
        };
        delivery.enforce(&moved, &HashSet::from([kept]));
        assert!(on_kept.closed.is_cancelled());
        assert_eq!(on_kept.closing(), Closing::RightsChanged);
    }

    #[tokio::test]
    async fn an_envelope_answered_for_reaches_the_streams_once_the_inboxes_hold_it() {
        let (inbox, mut queued) = mpsc::unbounded_channel();
        let delivery = Arc::new(Delivery::with_inbox(
            inbox,
            Arc::new(Nodes::single()),
            &CancellationToken::new(),
        ));
        let (amani, watch) = (person(Role::Staff, &[]), person(Role::WatchOfficer, &[]));
        let mut streams = [delivery.subscribe(&amani, [0; 32]), delivery.subscribe(&watch, [1; 32])];
        let publishing = tokio::spawn({
            let delivery = delivery.clone();
            async move {
                let audience = Audience {
                    staff: &[amani.id],
                    countries: &[],
                };
                delivery.publish_durably(&envelope(1), audience).await;
            }
        });
        let message = queued.recv().await.expect("queued for the inbox");
        tokio::task::yield_now().await;
        assert!(!publishing.is_finished(), "the sender waits for the store");
        for stream in &mut streams {
            assert!(
                stream.envelopes.try_recv().is_err(),
                "no stream has it before the store"
            );
        }
        message.stored.send(()).unwrap();
        publishing.await.unwrap();
        for stream in &mut streams {
            assert!(stream.envelopes.try_recv().is_ok(), "every stream has it once stored");
        }
    }

    #[test]
    fn staff_envelopes_also_go_to_their_inboxes_with_the_same_bytes() {
        let (inbox, mut queued) = mpsc::unbounded_channel();
        let delivery = Delivery::with_inbox(inbox, Arc::new(Nodes::single()), &CancellationToken::new());
        let amani = person(Role::Staff, &[]);
        let mut stream = delivery.subscribe(&amani, [0; 32]);
        delivery.publish(
            &envelope(7),
            Audience {
                staff: &[amani.id],
                countries: &["CD".into()],
            },
        );
        let message = queued.try_recv().expect("queued for the inbox");
        assert_eq!(message.recipients, [amani.id]);
        assert_eq!(message.alert_id, None);
        let sent = stream.envelopes.try_recv().unwrap();
        assert_eq!(
            message.payload,
            sent.bytes.as_bytes(),
            "the stream and the inbox share one serialization"
        );

        // Envelopes for officers only (counts, others' SOS) stay off the inboxes.
        delivery.publish(
            &envelope(8),
            Audience {
                staff: &[],
                countries: &["CD".into()],
            },
        );
        assert!(queued.try_recv().is_err());
    }
}
