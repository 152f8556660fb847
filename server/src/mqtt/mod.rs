//! The hub's MQTT side. By default phones connect to the hub itself
//! (`scaan_mobile_bridge::endpoint`): the durable outbox ([`outbox`]) is each person's session,
//! what phones publish goes to the same code as the stream's messages ([`inbound`]), and
//! [`phones`] answers what the endpoint asks (logins, what is owed, receipts). With `mqtt_url`
//! the hub is instead one client of an external broker, through `scaan_mobile_bridge::link`
//! ([`broker`]: of several nodes, the leader's), and may provision an external Mosquitto's
//! logins ([`provisioning`]) or sign an external NATS server's ([`nats`]). [`receipts`] serves
//! where each copy of an alert has got to.

mod broker;
mod inbound;
mod nats;
mod outbox;
mod phones;
mod provisioning;
pub mod receipts;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use scaan_mobile_bridge::endpoint::{self, Endpoint, Owed};
use scaan_mobile_bridge::topics;
use scaan_mobile_bridge::{LinkOptions, LinkState};
use scaan_schemas::{Envelope, User};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::config::Config;
use crate::delivery::InboxMessage;
use crate::hub::Hub;
use crate::storage::Store;
use nats::Nats;
use provisioning::Provisioning;

/// The hub's client id at an external broker: fixed, so its session (and what phones sent
/// while the hub was away) survives reconnections.
const HUB_CLIENT_ID: &str = "scaan-hub";

/// How phones reach the hub.
enum Transport {
    /// They connect to the hub's own endpoint.
    Endpoint(Endpoint),
    /// They connect to an external broker, of which the hub (its leading node) is one client.
    Link(broker::Session),
}

/// The phones' way in, and the tasks that need the whole hub.
pub struct Mqtt {
    transport: Transport,
    /// Handed to the tasks [`run`] starts.
    pending: Mutex<Option<Pending>>,
    /// Sent and delivered receipts from the endpoint, on their way to the store.
    receipts: phones::Receipts,
    /// Held (write) by the outbox while it stores a batch it has already sent, and (read) by
    /// whatever reads or marks outbox rows, which must wait until those rows are there.
    storing: tokio::sync::RwLock<()>,
    /// On the endpoint, who may be owed something: the people of the rows stored since the
    /// start, and those the store owed then. Anyone else is owed nothing, and their phone's
    /// connection asks the store nothing more than its login (half the set-up work). Added to
    /// under `storing`'s write lock, taken from under its read lock once the store owes nothing.
    owing: Mutex<HashSet<Uuid>>,
    /// Who manages the external broker's logins, when the hub does.
    logins: Option<BrokerLogins>,
}

/// How the hub gives phones their logins on an external broker.
enum BrokerLogins {
    /// It provisions Mosquitto's dynamic security with each token.
    Mosquitto(Provisioning),
    /// It signs a NATS server's credential for each token (boxed: its keys are large).
    Nats(Box<Nats>),
}

struct Pending {
    inbox: mpsc::UnboundedReceiver<InboxMessage>,
    receipts: mpsc::UnboundedReceiver<phones::Receipt>,
}

impl Mqtt {
    /// Binds the hub's MQTT endpoint, or connects to the external broker configured.
    pub async fn start(
        config: &Config,
        store: &Store,
        inbox: mpsc::UnboundedReceiver<InboxMessage>,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<Mqtt> {
        let mut logins = None;
        let transport = match config.mqtt_broker()? {
            Some(url) => {
                let credentials = match (config.mqtt_admin(), config.nats()?) {
                    (Some(admin), _) => {
                        let (provisioner, hub_login) = Provisioning::start(&url, admin, store, shutdown, tasks).await?;
                        logins = Some(BrokerLogins::Mosquitto(provisioner));
                        Some(hub_login)
                    }
                    (None, Some((nats_url, keys_file))) => {
                        let (nats, hub_login) = Nats::start(&nats_url, keys_file, config.token_ttl_s, store)?;
                        logins = Some(BrokerLogins::Nats(Box::new(nats)));
                        Some(hub_login)
                    }
                    (None, None) => url.credentials,
                };
                let options = LinkOptions {
                    host: url.host,
                    port: url.port,
                    client_id: HUB_CLIENT_ID.to_owned(),
                    credentials,
                    subscriptions: topics::hub_filters(),
                };
                Transport::Link(broker::Session::new(options))
            }
            None => {
                if !config.mqtt_listen.ip().is_loopback() {
                    tracing::warn!(
                        mqtt_listen = %config.mqtt_listen,
                        "plaintext MQTT beyond loopback (mqtt_plaintext_beyond_loopback): phones' tokens cross the network in the clear"
                    );
                }
                let tls = match config.mqtt_tls() {
                    Some((addr, cert, key)) => Some((addr, endpoint::tls_config(cert, key)?)),
                    None => None,
                };
                let listen = endpoint::Listen {
                    plain: config.mqtt_listen,
                    tls,
                };
                let endpoint = Endpoint::bind(listen, endpoint::Limits::default()).await?;
                Transport::Endpoint(endpoint)
            }
        };
        let owing = match transport {
            Transport::Endpoint(_) => store.owing(Utc::now() - phones::OWED_FOR).await?,
            Transport::Link(_) => HashSet::new(),
        };
        let (receipts, receipts_rx) = phones::Receipts::new();
        Ok(Mqtt {
            transport,
            pending: Mutex::new(Some(Pending {
                inbox,
                receipts: receipts_rx,
            })),
            receipts,
            storing: tokio::sync::RwLock::new(()),
            owing: Mutex::new(owing),
            logins,
        })
    }

    /// The hub's own MQTT endpoint (with port 0 resolved); `None` with an external broker.
    pub fn embedded_addr(&self) -> Option<SocketAddr> {
        match &self.transport {
            Transport::Endpoint(endpoint) => Some(endpoint.local_addr()),
            Transport::Link(_) => None,
        }
    }

    /// The hub's own MQTT-over-TLS listener, when configured.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        match &self.transport {
            Transport::Endpoint(endpoint) => endpoint.tls_addr(),
            Transport::Link(_) => None,
        }
    }

    /// Phones connected to the hub's own endpoint; `None` with an external broker.
    pub fn endpoint_connections(&self) -> Option<usize> {
        match &self.transport {
            Transport::Endpoint(endpoint) => Some(endpoint.sessions().connections()),
            Transport::Link(_) => None,
        }
    }

    /// Whether phones can reach the hub: always with its own endpoint, while connected with a
    /// broker between; `None` while another node holds the broker link (or this one is taking
    /// it).
    pub fn link_state(&self) -> Option<LinkState> {
        match &self.transport {
            Transport::Endpoint(_) => Some(LinkState::Connected),
            Transport::Link(session) => session.state(),
        }
    }

    fn owing(&self) -> std::sync::MutexGuard<'_, HashSet<Uuid>> {
        self.owing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a stored envelope to these people's phones.
    fn dispatch(&self, envelope: Uuid, payload: Bytes, recipients: &[Uuid]) {
        match &self.transport {
            Transport::Endpoint(endpoint) => {
                let owed = Owed {
                    id: envelope,
                    payload,
                    sent_before: false,
                };
                endpoint.sessions().deliver(&owed, recipients);
            }
            Transport::Link(session) => session.send(envelope, &payload, recipients),
        }
    }

    /// Envelopes another node stored in the outbox: sent to the phones connected here, as
    /// [`outbox`] sends its own (their people may be owed something from now on).
    pub(crate) async fn deliver_shared(&self, envelopes: Vec<crate::nodes::SharedEnvelope>) {
        let _storing = self.storing.write().await;
        self.owing()
            .extend(envelopes.iter().flat_map(|e| e.recipients.iter().copied()));
        for envelope in envelopes {
            if let Transport::Link(session) = &self.transport {
                if session.was_resent(envelope.id) {
                    continue;
                }
            }
            self.dispatch(envelope.id, Bytes::from(envelope.payload), &envelope.recipients);
        }
    }

    /// Answers what `user` sent from their phone (`checkin_ack`, `error`): straight to their
    /// connections, not through the outbox (worth nothing after a restart; the phone sends
    /// again when it gets no answer), so no fan-out's storage can hold it up.
    pub fn reply(&self, user: Uuid, envelope: &Envelope) {
        let payload = match serde_json::to_vec(envelope) {
            Ok(json) => Bytes::from(json),
            Err(e) => return tracing::error!(error = %e, "an envelope failed to serialize"),
        };
        match &self.transport {
            Transport::Endpoint(endpoint) => endpoint.sessions().reply(user, payload),
            Transport::Link(session) => session.reply(user, payload),
        }
    }

    /// A login: with a provisioned Mosquitto, `token` becomes `user`'s broker password (the
    /// hub's own endpoint asks the store instead, and needs nothing); with a NATS server, the
    /// password is another, returned here for the login's answer.
    pub async fn token_issued(&self, user: &User, token: &str, expires_at: DateTime<Utc>) -> Option<String> {
        match &self.logins {
            Some(BrokerLogins::Mosquitto(provisioning)) => {
                provisioning.token_issued(user, token, expires_at).await;
                None
            }
            Some(BrokerLogins::Nats(nats)) => Some(nats.password(user, token, expires_at)),
            None => None,
        }
    }

    /// Brings `user`'s MQTT access in line with their account, whose live tokens are `valid`:
    /// on the hub's endpoint, connections opened with another token are closed, and those
    /// admitted under other rights; with a provisioned Mosquitto, a broker login whose token is
    /// not valid goes; with a NATS server, the logins of the tokens revoked are revoked there.
    pub async fn enforce(&self, user: &User, valid: &HashSet<[u8; 32]>) {
        if let Transport::Endpoint(endpoint) = &self.transport {
            endpoint
                .sessions()
                .enforce(user.id, |key| valid.contains(key), phones::rights(user));
        }
        match &self.logins {
            Some(BrokerLogins::Mosquitto(provisioning)) => provisioning.enforce(user, valid).await,
            // Pushed by the link's holder alone, from the store, so no node's push undoes
            // another's (each node hears of every revocation: `NodeEvent::Enforce`).
            Some(BrokerLogins::Nats(nats)) => {
                if matches!(&self.transport, Transport::Link(session) if session.holds()) {
                    nats.enforce(user).await;
                }
            }
            None => {}
        }
    }

    /// Closes the endpoint and its connections, or the admin connection to an external
    /// Mosquitto.
    pub async fn stop(&self) {
        if let Some(BrokerLogins::Mosquitto(provisioning)) = &self.logins {
            provisioning.stop().await;
        }
        if let Transport::Endpoint(endpoint) = &self.transport {
            endpoint.shutdown().await;
        }
    }
}

/// The next batch from a writer's queue: waits for one item, then takes whatever else is already
/// queued, `max` at most. `None` once the hub stops (what is still queued is then [`rest`]'s)
/// or the queue closes.
pub(crate) async fn next_batch<T>(
    queue: &mut mpsc::UnboundedReceiver<T>,
    max: usize,
    stop: &CancellationToken,
) -> Option<Vec<T>> {
    let first = tokio::select! {
        () = stop.cancelled() => return None,
        item = queue.recv() => item?,
    };
    let mut batch = vec![first];
    batch.extend(queued_batch(queue, max - 1).into_iter().flatten());
    Some(batch)
}

/// Like [`next_batch`], but once the first item is in, waits `linger` (or until the hub stops)
/// before taking what else is queued: for writers whose items come in thousands during a
/// fan-out, a few large transactions cost far less than many small ones.
pub(crate) async fn gathered_batch<T>(
    queue: &mut mpsc::UnboundedReceiver<T>,
    max: usize,
    linger: std::time::Duration,
    stop: &CancellationToken,
) -> Option<Vec<T>> {
    let mut batch = next_batch(queue, max, stop).await?;
    tokio::select! {
        () = stop.cancelled() => {}
        () = tokio::time::sleep(linger) => {}
    }
    batch.extend(queued_batch(queue, max - batch.len()).into_iter().flatten());
    Some(batch)
}

/// What is queued now, up to `max`, without waiting; `None` when nothing is.
pub(crate) fn queued_batch<T>(queue: &mut mpsc::UnboundedReceiver<T>, max: usize) -> Option<Vec<T>> {
    let mut batch = Vec::new();
    while batch.len() < max {
        match queue.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    (!batch.is_empty()).then_some(batch)
}

/// Whatever a stopped writer's queue still holds.
pub(crate) fn rest<T>(queue: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
    let mut rest = Vec::new();
    while let Ok(item) = queue.try_recv() {
        rest.push(item);
    }
    rest
}

/// Starts what needs the whole hub: the outbox writer, the receipt recorder, and either the
/// endpoint's accept loop (with what answers its questions to the store) or, on a link, the
/// hold of the link whenever this node leads ([`broker::hold`]).
pub fn run(hub: &Arc<Hub>) {
    let taken = hub.mqtt.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some(pending) = taken else {
        return;
    };
    hub.tasks.spawn(outbox::write(hub.clone(), pending.inbox));
    hub.tasks.spawn(phones::record(hub.clone(), pending.receipts));
    match &hub.mqtt.transport {
        Transport::Endpoint(endpoint) => endpoint.serve(phones::Phones::start(hub)),
        Transport::Link(_) => hub.leadership.lead(hub, |_| std::future::ready(Ok(())), broker::hold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_gathered_batch_takes_what_arrives_while_it_lingers_up_to_its_size() {
        let (queue, mut taken) = mpsc::unbounded_channel();
        queue.send(1).unwrap();
        // Come in after the first was taken, well within the linger.
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            for item in 2..=4 {
                queue.send(item).unwrap();
            }
        });
        let batch = gathered_batch(&mut taken, 3, Duration::from_millis(100), &CancellationToken::new()).await;
        late.await.unwrap();
        assert_eq!(
            batch,
            Some(vec![1, 2, 3]),
            "what came during the wait, up to the batch's size"
        );
        assert_eq!(rest(&mut taken), vec![4], "the rest stays queued");
    }

    #[tokio::test(start_paused = true)]
    async fn a_gathered_batch_waits_its_linger_unless_the_hub_stops() {
        let (queue, mut taken) = mpsc::unbounded_channel();
        let linger = Duration::from_millis(100);
        queue.send(1).unwrap();
        let started = Instant::now();
        assert_eq!(
            gathered_batch(&mut taken, 10, linger, &CancellationToken::new()).await,
            Some(vec![1])
        );
        assert_eq!(started.elapsed(), linger);

        let stop = CancellationToken::new();
        queue.send(2).unwrap();
        let started = Instant::now();
        let stopping = tokio::spawn({
            let stop = stop.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                stop.cancel();
            }
        });
        assert_eq!(gathered_batch(&mut taken, 10, linger, &stop).await, Some(vec![2]));
        stopping.await.unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(10),
            "a stopping hub does not wait"
        );
    }
}
