//! The hub's connection to an external broker (`--mqtt-url`), for sites that run one: one
//! rumqttc session. (Without one, phones connect to the hub's own endpoint, `crate::endpoint`.)
//!
//! - The session is persistent (`clean_session = false`, a fixed client id), so what phones
//!   publish while the hub is away waits for it at the broker.
//! - Everything goes at QoS 1. Incoming messages are acknowledged by whoever handles them
//!   ([`Inbound::ack`]), so a check-in is PUBACKed only once it is stored.
//! - Every outgoing message carries a caller's tag, which comes back on
//!   [`LinkChannels::accepted`] when the broker PUBACKs it.
//! - When the connection drops, the link reconnects with backoff. It — not rumqttc — keeps what
//!   was not PUBACKed and sends it again once connected: rumqttc forgets its pending messages
//!   when the broker has lost the session, and resends them itself when it has not, so the
//!   link empties rumqttc's queues on every drop and owns the retries in both cases.
//! - Nothing here awaits a send from the task that polls the connection (that deadlocks
//!   rumqttc once its request queue is full): that task only uses non-blocking calls.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, Publish, QoS, SubscribeReasonCode};
use tokio::sync::{mpsc, watch, Notify};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Backoff between connection attempts: doubles from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// Requests queued inside rumqttc; beyond this the link keeps messages in its own backlog.
const REQUEST_QUEUE: usize = 1024;
/// Unacknowledged messages on the wire at once.
const INFLIGHT: u16 = 100;
/// The largest message either way (an alert with a detailed polygon is tens of kilobytes).
const MAX_PACKET: usize = 256 * 1024;
/// How long to wait before trying again when rumqttc's request queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

/// Where and how the hub connects.
#[derive(Clone)]
pub struct LinkOptions {
    pub host: String,
    pub port: u16,
    /// Fixed, so the broker keeps the hub's session across reconnections.
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    /// Topic filters the hub subscribes to (QoS 1).
    pub subscriptions: Vec<String>,
}

/// A message for a phone: `tag` comes back on [`LinkChannels::accepted`] once the broker has it.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub tag: u64,
    pub topic: String,
    pub payload: Bytes,
}

/// A message from a phone. The broker holds it (and sends it again after a reconnection) until
/// [`Inbound::ack`] is called.
pub struct Inbound {
    pub topic: String,
    pub payload: Bytes,
    publish: Publish,
    client: AsyncClient,
}

impl Inbound {
    /// PUBACKs the message: the broker may forget it.
    pub async fn ack(self) {
        if let Err(e) = self.client.ack(&self.publish).await {
            tracing::debug!(error = %e, "could not acknowledge an MQTT message; the broker will send it again");
        }
    }
}

/// Whether the link is connected, and if not, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connected,
    Down(String),
}

/// The sending end of the link and its state.
pub struct HubLink {
    outbound: mpsc::UnboundedSender<Outbound>,
    state: watch::Receiver<LinkState>,
}

/// What the link hands the hub: messages from phones, and tags of messages the broker accepted.
pub struct LinkChannels {
    pub inbound: mpsc::UnboundedReceiver<Inbound>,
    pub accepted: mpsc::UnboundedReceiver<u64>,
}

impl HubLink {
    /// Starts connecting (and keeps reconnecting) until `cancel` fires.
    pub fn start(options: LinkOptions, cancel: CancellationToken, tasks: &TaskTracker) -> (HubLink, LinkChannels) {
        let mut mqtt = MqttOptions::new(options.client_id.clone(), options.host.clone(), options.port);
        mqtt.set_clean_session(false)
            .set_manual_acks(true)
            .set_keep_alive(Duration::from_secs(20))
            .set_inflight(INFLIGHT)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some((user, password)) = &options.credentials {
            mqtt.set_credentials(user.clone(), password.clone());
        }
        let (client, eventloop) = AsyncClient::new(mqtt, REQUEST_QUEUE);
        let (outbound, outbound_rx) = mpsc::unbounded_channel();
        let (inbound_tx, inbound) = mpsc::unbounded_channel();
        let (accepted_tx, accepted) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(LinkState::Down("not connected yet".to_owned()));
        let shared = Arc::new(Shared::default());
        tasks.spawn(send(client.clone(), shared.clone(), outbound_rx, cancel.clone()));
        tasks.spawn(poll(Poller {
            eventloop,
            client,
            shared,
            subscriptions: options.subscriptions,
            inbound: inbound_tx,
            accepted: accepted_tx,
            state: state_tx,
            cancel,
        }));
        (HubLink { outbound, state }, LinkChannels { inbound, accepted })
    }

    /// Queues a message; it goes out when the link is up, and again after a drop until PUBACKed.
    pub fn send(&self, message: Outbound) {
        // Fails only once the link has stopped, when the hub is stopping.
        let _ = self.outbound.send(message);
    }

    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }
}

/// What the sending and the polling task share; held only briefly and never across an await.
#[derive(Default)]
struct Shared {
    tracker: Mutex<Tracker>,
    /// Wakes the sender: the link came up, or rumqttc's queue has room again.
    wake: Notify,
}

impl Shared {
    fn tracker(&self) -> MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Tracker {
    up: bool,
    /// Waiting to be handed to rumqttc (new, or lost with a dropped connection), oldest first.
    backlog: VecDeque<Outbound>,
    /// Handed to rumqttc, not yet written (so without a packet id), in the order handed over.
    queued: VecDeque<Outbound>,
    /// Written, waiting for the PUBACK, by packet id.
    inflight: HashMap<u16, Outbound>,
}

impl Tracker {
    /// After a drop: everything not PUBACKed goes back to the front of the backlog, oldest first.
    fn requeue_unacknowledged(&mut self) {
        let mut lost: Vec<Outbound> = self.inflight.drain().map(|(_, m)| m).collect();
        lost.extend(self.queued.drain(..));
        lost.sort_by_key(|m| m.tag);
        for message in lost.into_iter().rev() {
            self.backlog.push_front(message);
        }
    }
}

/// Hands messages to rumqttc while the link is up, without ever blocking on its queue.
async fn send(
    client: AsyncClient,
    shared: Arc<Shared>,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
    cancel: CancellationToken,
) {
    loop {
        let queue_full = {
            let mut tracker = shared.tracker();
            while let Ok(message) = outbound.try_recv() {
                tracker.backlog.push_back(message);
            }
            let mut full = false;
            while tracker.up {
                let Some(message) = tracker.backlog.pop_front() else {
                    break;
                };
                // Under the lock, so a drop cannot slip between handing over and recording.
                match client.try_publish(
                    message.topic.as_str(),
                    QoS::AtLeastOnce,
                    false,
                    message.payload.to_vec(),
                ) {
                    Ok(()) => tracker.queued.push_back(message),
                    Err(_) => {
                        tracker.backlog.push_front(message);
                        full = true;
                        break;
                    }
                }
            }
            full
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            message = outbound.recv() => match message {
                Some(message) => shared.tracker().backlog.push_back(message),
                None => return,
            },
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(QUEUE_FULL_PAUSE), if queue_full => {}
        }
    }
}

struct Poller {
    eventloop: EventLoop,
    client: AsyncClient,
    shared: Arc<Shared>,
    subscriptions: Vec<String>,
    inbound: mpsc::UnboundedSender<Inbound>,
    accepted: mpsc::UnboundedSender<u64>,
    state: watch::Sender<LinkState>,
    cancel: CancellationToken,
}

/// Drives the connection: reconnects, subscribes, matches PUBACKs to tags, passes messages on.
async fn poll(mut p: Poller) {
    let mut retry = FIRST_RETRY;
    loop {
        let event = tokio::select! {
            () = p.cancel.cancelled() => break,
            event = p.eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                retry = FIRST_RETRY;
                if !connack.session_present {
                    let filters = p
                        .subscriptions
                        .iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                    if let Err(e) = p.client.try_subscribe_many(filters) {
                        tracing::error!(error = %e, "could not subscribe to the phone topics");
                    }
                }
                p.shared.tracker().up = true;
                p.shared.wake.notify_one();
                p.state.send_replace(LinkState::Connected);
                tracing::info!(session_present = connack.session_present, "MQTT link connected");
            }
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let mut tracker = p.shared.tracker();
                if !tracker.inflight.contains_key(&pkid) {
                    if let Some(message) = tracker.queued.pop_front() {
                        tracker.inflight.insert(pkid, message);
                    }
                }
            }
            Ok(Event::Incoming(Packet::PubAck(puback))) => {
                if let Some(message) = p.shared.tracker().inflight.remove(&puback.pkid) {
                    let _ = p.accepted.send(message.tag);
                }
                p.shared.wake.notify_one();
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let _ = p.inbound.send(Inbound {
                    topic: publish.topic.clone(),
                    payload: publish.payload.clone(),
                    publish,
                    client: p.client.clone(),
                });
            }
            Ok(Event::Incoming(Packet::SubAck(suback))) => {
                if suback.return_codes.contains(&SubscribeReasonCode::Failure) {
                    tracing::error!("the broker refused the hub's subscription to the phone topics");
                    p.state
                        .send_replace(LinkState::Down("the broker refused the hub's subscription".to_owned()));
                }
            }
            Ok(_) => {}
            Err(e) => {
                {
                    let mut tracker = p.shared.tracker();
                    tracker.up = false;
                    // Empty rumqttc's own queues: the tracker resends what they held.
                    p.eventloop.clean();
                    p.eventloop.pending.clear();
                    tracker.requeue_unacknowledged();
                }
                let reason = format!("the MQTT broker is unreachable: {e}");
                if p.state.send_replace(LinkState::Down(reason.clone())) == LinkState::Connected {
                    tracing::warn!(error = %e, "MQTT link lost; reconnecting");
                }
                tokio::select! {
                    () = p.cancel.cancelled() => break,
                    () = tokio::time::sleep(retry) => {}
                }
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
    }
    let _ = p.client.try_disconnect();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_puts_everything_unacknowledged_back_in_order() {
        let message = |tag| Outbound {
            tag,
            topic: "t".into(),
            payload: Bytes::new(),
        };
        let mut tracker = Tracker::default();
        tracker.inflight.insert(7, message(2));
        tracker.inflight.insert(3, message(1));
        tracker.queued.push_back(message(3));
        tracker.backlog.push_back(message(4));
        tracker.requeue_unacknowledged();
        let tags: Vec<u64> = tracker.backlog.iter().map(|m| m.tag).collect();
        assert_eq!(tags, [1, 2, 3, 4]);
        assert!(tracker.inflight.is_empty() && tracker.queued.is_empty());
    }
}
