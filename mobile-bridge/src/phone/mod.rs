//! The phone simulator: what the mobile app does, over HTTP (login) and MQTT (its inbox, and
//! check-ins, locations and SOS). [`Phone`] is the building block of the tests and the load
//! generator; [`Command`] is `scaan phone …`, the demo client.

mod cli;

pub use cli::Command;

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, SystemTime},
};

use anyhow::{bail, Context as _};
use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeReasonCode,
};
use scaan_schemas::{LocationUpdate, LoginRequest, LoginResponse, NewCheckin, NewSos};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::topics::{self, PhoneTopic};
pub use crate::BrokerUrl;

/// Longest wait for the broker's CONNACK, SUBACK or PUBACK.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before a lost connection is tried again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How long a check-in waits for the hub's `checkin_ack` before it is sent again (the rule for
/// app builders in `docs/contract-additions.md`).
pub const CHECKIN_ACK_WAIT: Duration = Duration::from_secs(10);
/// How many times a check-in is sent before giving up.
const CHECKIN_TRIES: usize = 3;

/// `POST /api/v1/auth/login` on the hub at `hub` (`http://HOST:PORT`).
pub async fn login(http: &reqwest::Client, hub: &str, username: &str, password: &str) -> anyhow::Result<LoginResponse> {
    let response = http
        .post(format!("{}/api/v1/auth/login", hub.trim_end_matches('/')))
        .json(&LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        })
        .send()
        .await
        .with_context(|| format!("cannot reach the hub at {hub}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no reason given");
        bail!("login refused ({status}): {message}");
    }
    response.json().await.context("the hub's login answer is unreadable")
}

/// How a phone reaches the broker.
#[derive(Debug, Clone)]
pub struct PhoneOptions {
    pub broker: BrokerUrl,
    pub username: String,
    /// The MQTT password: the login's token, or the login answer's `mqtt_password` when the
    /// broker takes another (a NATS server).
    pub token: String,
    pub user_id: Uuid,
    pub client_id: String,
    /// `false`: a persistent session, so that the broker keeps what arrives while away.
    pub clean_session: bool,
}

impl PhoneOptions {
    /// The app's connection: a persistent session under the person's own client id.
    pub fn persistent(broker: BrokerUrl, username: &str, token: &str, user_id: Uuid) -> PhoneOptions {
        PhoneOptions {
            broker,
            username: username.to_owned(),
            token: token.to_owned(),
            user_id,
            client_id: client_id(user_id),
            clean_session: false,
        }
    }
}

/// The client id of a person's phone. Mosquitto lets a connection take over any session whose
/// client id it names, whoever opened it, so the hub binds each person's broker login to this
/// id (`dynsec`): nobody else can open their session, and a person has one MQTT connection at a
/// time. (The hub's own endpoint keeps sessions apart by person whatever the id.)
pub fn client_id(user_id: Uuid) -> String {
    format!("scaan-phone-{}", user_id.simple())
}

/// An envelope from the inbox, and when it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub payload: Bytes,
    pub at: SystemTime,
}

/// What the connection's task reports.
enum Incoming {
    Envelope(Received),
    PubAck,
    SubAck(Vec<SubscribeReasonCode>),
    /// The broker refused the login (bad, expired or revoked token): no retry helps.
    Refused(String),
}

/// A connected phone: one MQTT connection whose event loop runs in its own task.
pub struct Phone {
    client: AsyncClient,
    user_id: Uuid,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    /// Envelopes that arrived while waiting for an acknowledgement.
    early: VecDeque<Received>,
    /// Whether to subscribe again should the broker lose the session.
    inbox_wanted: Arc<AtomicBool>,
    driver: tokio::task::JoinHandle<()>,
}

impl Phone {
    /// Connects and waits for the broker's CONNACK: a refused login is this call's error.
    pub async fn connect(options: PhoneOptions) -> anyhow::Result<Phone> {
        let mut mqtt = MqttOptions::new(&options.client_id, &options.broker.host, options.broker.port);
        mqtt.set_credentials(&options.username, &options.token)
            .set_clean_session(options.clean_session)
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1024 * 1024, 1024 * 1024);
        let (client, mut events) = AsyncClient::new(mqtt, 16);
        let mut early = VecDeque::new();
        loop {
            let event = tokio::time::timeout(ANSWER_TIMEOUT, events.poll())
                .await
                .with_context(|| format!("{} did not answer in time", options.broker))?
                .map_err(|e| refusal(&options.broker, e))?;
            match event {
                Event::Incoming(Packet::ConnAck(_)) => break,
                // The CONNACK comes first; anything else is kept rather than lost.
                Event::Incoming(Packet::Publish(publish)) => early.push_back(Received {
                    payload: publish.payload,
                    at: SystemTime::now(),
                }),
                _ => {}
            }
        }
        let (tx, incoming) = mpsc::unbounded_channel();
        let inbox = topics::inbox(options.user_id);
        let inbox_wanted = Arc::new(AtomicBool::new(false));
        let driver = tokio::spawn(drive(
            events,
            client.clone(),
            (inbox, inbox_wanted.clone()),
            tx,
            options.broker.clone(),
        ));
        Ok(Phone {
            client,
            user_id: options.user_id,
            incoming,
            early,
            inbox_wanted,
            driver,
        })
    }

    /// Subscribes to the person's inbox at QoS 1; an error if the broker refuses.
    pub async fn subscribe_inbox(&mut self) -> anyhow::Result<()> {
        self.subscribe(&topics::inbox(self.user_id)).await?;
        self.inbox_wanted.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Subscribes to any filter (tests use it to show what is refused).
    pub async fn subscribe(&mut self, filter: &str) -> anyhow::Result<()> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        loop {
            match self.recv(Some(ANSWER_TIMEOUT)).await? {
                Incoming::SubAck(codes) if codes.iter().all(|c| matches!(c, SubscribeReasonCode::Success(_))) => {
                    return Ok(())
                }
                Incoming::SubAck(_) => bail!("the broker refused the subscription to {filter}"),
                Incoming::Envelope(received) => self.early.push_back(received),
                _ => {}
            }
        }
    }

    /// The next envelope from the inbox (or whatever the subscriptions bring); waits as long as
    /// it takes while the connection lasts.
    pub async fn next_envelope(&mut self) -> anyhow::Result<Received> {
        if let Some(received) = self.early.pop_front() {
            return Ok(received);
        }
        loop {
            if let Incoming::Envelope(received) = self.recv(None).await? {
                return Ok(received);
            }
        }
    }

    /// Publishes a check-in for `alert_id` and waits until the broker has it.
    pub async fn checkin(&mut self, alert_id: Uuid, checkin: &NewCheckin) -> anyhow::Result<()> {
        let mut body = serde_json::to_value(checkin)?;
        body["alert_id"] = serde_json::json!(alert_id);
        self.publish(PhoneTopic::Checkin, serde_json::to_vec(&body)?).await
    }

    /// Publishes a check-in and waits for the hub's `checkin_ack` of it (matched by `ref`),
    /// sending it again when none comes within [`CHECKIN_ACK_WAIT`] or the hub answers that it
    /// could not store it (`unavailable`, `timeout`). Returns the `checkin_ack`; envelopes that
    /// arrive meanwhile wait for [`Phone::next_envelope`]. Needs the inbox subscribed (a
    /// persistent session is, on the hub's own endpoint).
    pub async fn checkin_confirmed(&mut self, alert_id: Uuid, checkin: &NewCheckin) -> anyhow::Result<Value> {
        let reference = Uuid::new_v4().to_string();
        let mut body = serde_json::to_value(checkin)?;
        body["alert_id"] = serde_json::json!(alert_id);
        body["ref"] = serde_json::json!(reference);
        let payload = serde_json::to_vec(&body)?;
        for _ in 0..CHECKIN_TRIES {
            self.publish(PhoneTopic::Checkin, payload.clone()).await?;
            let deadline = tokio::time::Instant::now() + CHECKIN_ACK_WAIT;
            while let Ok(incoming) = tokio::time::timeout_at(deadline, self.recv(None)).await {
                let Incoming::Envelope(received) = incoming? else {
                    continue;
                };
                let envelope: Value = serde_json::from_slice(&received.payload).unwrap_or_default();
                if envelope["ref"] != reference.as_str() {
                    self.early.push_back(received);
                    continue;
                }
                match (envelope["type"].as_str(), envelope["code"].as_str()) {
                    (Some("checkin_ack"), _) => return Ok(envelope),
                    (Some("error"), Some("unavailable" | "timeout")) => break,
                    _ => bail!("the hub refused the check-in: {envelope}"),
                }
            }
        }
        bail!("the hub did not confirm the check-in after {CHECKIN_TRIES} tries")
    }

    pub async fn location(&mut self, location: &LocationUpdate) -> anyhow::Result<()> {
        self.publish(PhoneTopic::Location, serde_json::to_vec(location)?).await
    }

    pub async fn sos(&mut self, sos: &NewSos) -> anyhow::Result<()> {
        self.publish(PhoneTopic::Sos, serde_json::to_vec(sos)?).await
    }

    /// Publishes `payload` on one of the person's own phone → hub topics at QoS 1 and waits for
    /// the PUBACK. One message at a time, so the next PUBACK is this one's.
    pub async fn publish(&mut self, kind: PhoneTopic, payload: Vec<u8>) -> anyhow::Result<()> {
        self.publish_to(&topics::phone_topic(self.user_id, kind), payload).await
    }

    /// Publishes to any topic (tests use it to show what is refused).
    pub async fn publish_to(&mut self, topic: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
        loop {
            match self.recv(Some(ANSWER_TIMEOUT)).await? {
                Incoming::PubAck => return Ok(()),
                Incoming::Envelope(received) => self.early.push_back(received),
                _ => {}
            }
        }
    }

    /// Says goodbye (a persistent session stays with the broker) and returns the envelopes that
    /// arrived but were not asked for: the broker counts them as delivered.
    pub async fn disconnect(mut self) -> Vec<Received> {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(ANSWER_TIMEOUT, &mut self.driver).await;
        while let Ok(incoming) = self.incoming.try_recv() {
            if let Incoming::Envelope(received) = incoming {
                self.early.push_back(received);
            }
        }
        self.early.into()
    }

    /// Drops the connection without a DISCONNECT, as a phone losing coverage does.
    pub async fn vanish(self) {
        self.driver.abort();
        let _ = self.driver.await;
    }

    /// The next report of the connection's task; `None` waits as long as it takes.
    async fn recv(&mut self, within: Option<Duration>) -> anyhow::Result<Incoming> {
        let next = self.incoming.recv();
        let incoming = match within {
            Some(within) => tokio::time::timeout(within, next)
                .await
                .context("the broker did not answer in time")?,
            None => next.await,
        };
        match incoming.context("the connection to the broker has ended")? {
            Incoming::Refused(reason) => bail!(reason),
            other => Ok(other),
        }
    }
}

/// Polls the connection; reconnects after a loss (rumqttc does on the next poll), and
/// subscribes to the inbox again if the broker lost the session.
async fn drive(
    mut events: EventLoop,
    client: AsyncClient,
    (inbox, inbox_wanted): (String, Arc<AtomicBool>),
    tx: mpsc::UnboundedSender<Incoming>,
    broker: BrokerUrl,
) {
    let mut lost = false;
    loop {
        let incoming = match events.poll().await {
            Ok(Event::Incoming(Packet::Publish(publish))) => Incoming::Envelope(Received {
                payload: publish.payload,
                at: SystemTime::now(),
            }),
            Ok(Event::Incoming(Packet::PubAck(_))) => Incoming::PubAck,
            Ok(Event::Incoming(Packet::SubAck(suback))) => Incoming::SubAck(suback.return_codes),
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                if lost && !connack.session_present && inbox_wanted.load(Ordering::Relaxed) {
                    // Never awaited: this task polls the event loop the request needs.
                    let _ = client.try_subscribe(&inbox, QoS::AtLeastOnce);
                }
                lost = false;
                continue;
            }
            // rumqttc has flushed our DISCONNECT: the broker now closes, which is no loss to
            // reconnect after.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => continue,
            Err(ConnectionError::ConnectionRefused(code)) => {
                let _ = tx.send(Incoming::Refused(format!("{broker} refused the login: {code:?}")));
                return;
            }
            Err(ConnectionError::RequestsDone) => return,
            Err(e) => {
                if !lost {
                    tracing::warn!(error = %e, %broker, "lost the broker; reconnecting");
                }
                lost = true;
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if tx.send(incoming).is_err() {
            return;
        }
    }
}

fn refusal(broker: &BrokerUrl, e: ConnectionError) -> anyhow::Error {
    match e {
        ConnectionError::ConnectionRefused(code) => {
            anyhow::anyhow!("{broker} refused the login ({code:?}): is the token expired or revoked? log in again")
        }
        other => anyhow::anyhow!("cannot connect to {broker}: {other}"),
    }
}
