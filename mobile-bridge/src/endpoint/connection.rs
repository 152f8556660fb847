//! One phone's connection, from CONNECT to close: who it is, what it may use, what it is sent
//! and in which order its messages are acknowledged.
//!
//! - A person subscribes to their own inbox only and publishes to their own phone → hub topics
//!   only ([`crate::topics`]). A refused SUBSCRIBE filter gets a failure code; a refused PUBLISH
//!   gets PUBACK "not authorised" in MQTT 5 and closes the connection in 3.1.1, which has no
//!   refusal code.
//! - What is sent: first what the hub says the person is owed, then what arrives while
//!   connected, each envelope once per connection, at most [`Limits::inflight`] awaiting their
//!   PUBACK at once. A PUBACK tells the hub the envelope was delivered.
//! - What a phone publishes is handed to the hub as it arrives (several at once), and PUBACKed
//!   strictly in the order it arrived (MQTT-4.6.0-2), each once the hub has acted on it.
//! - Keep-alive 0 means none, as MQTT says. Otherwise a connection silent for 1.5 × its
//!   keep-alive is closed.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use bytes::BytesMut;
use futures_util::stream::{FuturesOrdered, StreamExt as _};
use rumqttc::v5::mqttbytes::v5::DisconnectReasonCode;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadHalf},
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    time::{timeout, Instant},
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    sessions::{Kick, Outgoing, Sessions},
    wire::{self, Answer, FromPhone, Hello, Outbound, Refusal, Version, WireError, RECEIVE_MAXIMUM},
    Limits, Owed, PhoneHub,
};
use crate::per_address::{PerAddress, Place};
use crate::topics;

/// What every connection shares.
pub(crate) struct Shared<H> {
    pub hub: Arc<H>,
    pub sessions: Arc<Sessions>,
    pub handshakes: Arc<PerAddress>,
    pub limits: Limits,
}

/// The least a read asks the socket for, and what an idle connection's buffer holds: a phone
/// sends PUBACKs of 4 bytes and check-ins of a few hundred; a larger packet grows it.
const READ_SIZE: usize = 1024;
/// A read buffer grown past this by a large packet is given back once empty.
const KEEP_BUFFER: usize = 64 * 1024;
/// Envelopes waiting to be sent on one connection beyond the in-flight window; the rest stay
/// queued in [`Sessions`] (and, past that, owed in the store).
const PENDING: usize = 1024;
/// Envelope ids remembered per connection, so none is sent twice on it.
const REMEMBERED: usize = 4096;
/// How long a refused login waits for its answer, holding its address's place meanwhile.
const REFUSAL_DELAY: Duration = Duration::from_secs(1);
/// How long the goodbye (an MQTT 5 DISCONNECT) may take to write.
const GOODBYE_WRITE: Duration = Duration::from_secs(1);

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Serves one connection, plain TCP or TLS, until either side ends it.
/// `place` is held until the CONNACK is written.
pub(crate) async fn serve<H: PhoneHub, S: AsyncRead + AsyncWrite + Send + Unpin>(
    stream: S,
    place: Place,
    shared: &Shared<H>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = Reader {
        io: rd,
        buf: BytesMut::new(),
    };
    let hello = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        hello = timeout(shared.limits.connect_timeout, reader.connect()) => match hello {
            Err(_) => anyhow::bail!("no CONNECT in time"),
            Ok(Ok(Some(hello))) => hello,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(WireError::UnsupportedVersion(level))) => {
                refuse(&mut wr, Version::V311, Refusal::UnsupportedVersion).await?;
                anyhow::bail!("MQTT protocol level {level} refused");
            }
            Ok(Err(e)) => return Err(e.into()),
        },
    };
    let version = hello.version;
    let admitted = match admit(shared, &hello).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            tracing::info!(client_id = hello.client_id, ?refusal, "MQTT connection refused");
            // Slow to say no, holding the address's place meanwhile (`Limits::handshakes_per_address`).
            tokio::time::sleep(REFUSAL_DELAY).await;
            return refuse(&mut wr, version, refusal).await;
        }
    };
    let (user, person) = (admitted.user, Arc::new(admitted.person));
    let mut registration = shared
        .sessions
        .register(user, &admitted.client_id, admitted.key, admitted.rights, cancel)
        .await;
    let persistent = !hello.clean;
    let mut conn = Connection {
        version,
        user,
        inbox: topics::inbox(user),
        out: Outbound::default(),
        subscribed: persistent,
        wants_owed: persistent,
        loaded: false,
        pending: VecDeque::new(),
        inflight: HashMap::new(),
        window: shared
            .limits
            .inflight
            .min(usize::from(hello.receive_maximum.unwrap_or(u16::MAX)))
            .max(1),
        next_pkid: 0,
        seen: Remembered::default(),
        just_sent: Vec::new(),
    };
    Answer::ConnAck {
        session_present: persistent,
        assigned_client_id: admitted.assigned.then(|| admitted.client_id.clone()),
    }
    .encode(version, conn.out.packets());
    drop(place);

    let keep_alive = (hello.keep_alive > 0).then(|| Duration::from_millis(u64::from(hello.keep_alive) * 1500));
    let mut deadline = keep_alive.map(|k| Instant::now() + k);
    let mut acks: FuturesOrdered<Boxed<Option<Answer>>> = FuturesOrdered::new();
    let mut loading: Option<Boxed<Vec<Owed>>> = None;
    // Waited on across the loop, not made again on each turn (each new wait registers itself
    // with the token or the timer). The keep-alive timer is moved on only when it fires early.
    let end = {
        let kicked = registration.kick.kicked();
        let expired = tokio::time::sleep_until(admitted.expires.unwrap_or_else(Instant::now));
        let silent = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now));
        tokio::pin!(kicked, expired, silent);
        loop {
            if conn.wants_owed && !conn.loaded && loading.is_none() {
                let hub = shared.hub.clone();
                loading = Some(Box::pin(async move { hub.owed(user).await }));
            }
            // Whatever else is already queued goes out in the same write (a check-in's PUBACK with
            // its `checkin_ack`, envelopes that came together): one write per wake-up, not per packet.
            while conn.pending.len() < PENDING {
                match registration.queue.try_recv() {
                    Ok(outgoing) => conn.push(outgoing),
                    Err(_) => break,
                }
            }
            conn.fill_window();
            if !conn.out.is_empty() {
                match timeout(shared.limits.write_timeout, wr.write_all_buf(&mut conn.out)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break End::Lost(e.to_string()),
                    Err(_) => break End::Lost("the phone did not read for too long".to_owned()),
                }
                if !conn.just_sent.is_empty() {
                    shared.hub.sent(user, std::mem::take(&mut conn.just_sent));
                }
            }
            tokio::select! {
                kick = &mut kicked => break kick.map_or(End::Shutdown, End::Kicked),
                // The login's token expired: the connection goes with it, as a revoked one does.
                () = &mut expired, if admitted.expires.is_some() => break End::Kicked(Kick::Revoked),
                Some(answer) = acks.next(), if !acks.is_empty() => {
                    // Still working through what the phone sent: it counts as heard from.
                    deadline = keep_alive.map(|k| Instant::now() + k);
                    if let Some(answer) = answer {
                        conn.answer(answer);
                    }
                }
                owed = maybe(&mut loading) => {
                    loading = None;
                    conn.take_owed(owed);
                }
                Some(outgoing) = registration.queue.recv(), if conn.pending.len() < PENDING => conn.push(outgoing),
                packet = reader.next(version), if acks.len() < usize::from(RECEIVE_MAXIMUM) => {
                    deadline = keep_alive.map(|k| Instant::now() + k);
                    match packet {
                        Ok(Some(packet)) => match conn.on_packet(packet, shared, &person, &mut acks) {
                            Flow::Continue => {}
                            Flow::Goodbye => break End::Goodbye,
                            Flow::Close(reason, why) => break End::Refused(reason, why),
                        },
                        Ok(None) => break End::Lost("closed by the phone".to_owned()),
                        Err(WireError::TooLarge) => break End::Refused(DisconnectReasonCode::PacketTooLarge, "packet too large".to_owned()),
                        Err(e) => break End::Refused(DisconnectReasonCode::MalformedPacket, e.to_string()),
                    }
                }
                // Not while reading is held back (the hub still acting on 64 of its messages): the
                // phone's pings are then unread, not missing.
                () = &mut silent, if deadline.is_some() && acks.len() < usize::from(RECEIVE_MAXIMUM) => match deadline {
                    // Heard from since the timer was set.
                    Some(later) if later > Instant::now() => silent.as_mut().reset(later),
                    _ => break End::Refused(DisconnectReasonCode::KeepAliveTimeout, "keep-alive timed out".to_owned()),
                },
            }
        }
    };
    drop(registration);

    if let Some(reason) = end.disconnect_reason() {
        let mut goodbye = BytesMut::new();
        Answer::Disconnect(reason).encode(version, &mut goodbye);
        let _ = timeout(GOODBYE_WRITE, wr.write_all(&goodbye)).await;
    }
    let _ = timeout(GOODBYE_WRITE, wr.shutdown()).await;
    // MQTT publishes the will of a connection that ended without saying goodbye.
    if let (Some(will), End::Lost(_) | End::Refused(..) | End::Kicked(_)) = (&hello.will, &end) {
        if let Some((_, kind)) = topics::parse_phone_topic(&will.topic) {
            shared.hub.received(&person, kind, will.payload.clone()).await;
        }
    }
    match end {
        End::Lost(why) | End::Refused(_, why) => anyhow::bail!(why),
        _ => Ok(()),
    }
}

/// Who was admitted, under which client id.
struct Admitted<P> {
    user: Uuid,
    person: P,
    key: [u8; 32],
    rights: u64,
    /// When the login expires, as a moment of this process's clock.
    expires: Option<Instant>,
    client_id: String,
    /// The hub chose the client id (the client sent none).
    assigned: bool,
}

async fn admit<H: PhoneHub>(shared: &Shared<H>, hello: &Hello) -> Result<Admitted<H::Person>, Refusal> {
    if shared.sessions.connections() >= shared.limits.max_connections {
        return Err(Refusal::ServerBusy);
    }
    // Refusals say "not authorised" whatever the reason, as Mosquitto does.
    let (username, password) = hello.login.as_ref().ok_or(Refusal::NotAuthorized)?;
    let login = shared
        .hub
        .authenticate(username, password)
        .await
        .ok_or(Refusal::NotAuthorized)?;
    let (user, person, key, rights, expires_at) = (login.user, login.person, login.key, login.rights, login.expires_at);
    if let Some(will) = &hello.will {
        if !topics::may_publish(user, &will.topic) {
            return Err(Refusal::NotAuthorized);
        }
    }
    if !hello.client_id.is_empty() {
        return Ok(Admitted {
            user,
            person,
            key,
            rights,
            expires: expires_at.map(instant_of),
            client_id: hello.client_id.clone(),
            assigned: false,
        });
    }
    // 3.1.1: a client without an id must ask for a clean session (MQTT-3.1.3-8).
    if hello.version == Version::V311 && !hello.clean {
        return Err(Refusal::BadClientId);
    }
    Ok(Admitted {
        user,
        person,
        key,
        rights,
        expires: expires_at.map(instant_of),
        client_id: format!("scaan-{}", Uuid::new_v4().simple()),
        assigned: true,
    })
}

/// A wall-clock moment as one of tokio's (at once if already past).
fn instant_of(at: std::time::SystemTime) -> Instant {
    Instant::now() + at.duration_since(std::time::SystemTime::now()).unwrap_or_default()
}

async fn refuse(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    version: Version,
    refusal: Refusal,
) -> anyhow::Result<()> {
    let mut out = BytesMut::new();
    Answer::Refused(refusal).encode(version, &mut out);
    timeout(GOODBYE_WRITE, wr.write_all(&out)).await??;
    Ok(())
}

/// How a connection ended.
enum End {
    /// The phone sent DISCONNECT.
    Goodbye,
    Shutdown,
    Kicked(Kick),
    /// The hub closed it over what the phone did (MQTT 5 is told why).
    Refused(DisconnectReasonCode, String),
    /// The network or the phone went away.
    Lost(String),
}

impl End {
    fn disconnect_reason(&self) -> Option<DisconnectReasonCode> {
        match self {
            End::Goodbye | End::Lost(_) => None,
            End::Shutdown => Some(DisconnectReasonCode::ServerShuttingDown),
            End::Kicked(Kick::TakenOver) => Some(DisconnectReasonCode::SessionTakenOver),
            End::Kicked(Kick::TooSlow) => Some(DisconnectReasonCode::QuotaExceeded),
            End::Kicked(Kick::Revoked) => Some(DisconnectReasonCode::NotAuthorized),
            End::Kicked(Kick::RightsChanged) => Some(DisconnectReasonCode::AdministrativeAction),
            End::Refused(reason, _) => Some(*reason),
        }
    }
}

enum Flow {
    Continue,
    Goodbye,
    Close(DisconnectReasonCode, String),
}

struct Connection {
    version: Version,
    user: Uuid,
    /// `scaan/v1/staff/{user}/inbox`, written into every PUBLISH.
    inbox: String,
    /// Packets to write, gathered so that a burst goes out in one write.
    out: Outbound,
    /// Subscribed to the inbox: envelopes flow.
    subscribed: bool,
    /// The owed envelopes are to be loaded (once per connection).
    wants_owed: bool,
    loaded: bool,
    pending: VecDeque<Outgoing>,
    /// By packet id: the envelope awaiting its PUBACK (`None` for a reply).
    inflight: HashMap<u16, Option<Uuid>>,
    window: usize,
    next_pkid: u16,
    seen: Remembered,
    /// Owed envelopes written for the first time since the last report to the hub.
    just_sent: Vec<Uuid>,
}

impl Connection {
    fn on_packet<H: PhoneHub>(
        &mut self,
        packet: FromPhone,
        shared: &Shared<H>,
        person: &Arc<H::Person>,
        acks: &mut FuturesOrdered<Boxed<Option<Answer>>>,
    ) -> Flow {
        match packet {
            FromPhone::Publish {
                topic,
                qos,
                pkid,
                payload,
                alias,
            } => {
                if alias.is_some() {
                    return Flow::Close(DisconnectReasonCode::TopicAliasInvalid, "topic alias".to_owned());
                }
                if qos > 1 {
                    return Flow::Close(DisconnectReasonCode::QoSNotSupported, "QoS 2 PUBLISH".to_owned());
                }
                let own = topics::parse_phone_topic(&topic).filter(|(owner, _)| *owner == self.user);
                let Some((_, kind)) = own else {
                    tracing::warn!(user = %self.user, topic, "MQTT publish refused");
                    return match (self.version, qos) {
                        (Version::V311, _) => {
                            Flow::Close(DisconnectReasonCode::NotAuthorized, "publish refused".to_owned())
                        }
                        (Version::V5, 0) => Flow::Continue,
                        (Version::V5, _) => {
                            let refused = Answer::PubAck {
                                pkid,
                                authorized: false,
                            };
                            acks.push_back(Box::pin(std::future::ready(Some(refused))));
                            Flow::Continue
                        }
                    };
                };
                let (hub, person) = (shared.hub.clone(), person.clone());
                acks.push_back(Box::pin(async move {
                    hub.received(&person, kind, payload).await;
                    (qos == 1).then_some(Answer::PubAck { pkid, authorized: true })
                }));
            }
            FromPhone::PubAck { pkid } => {
                if let Some(Some(envelope)) = self.inflight.remove(&pkid) {
                    shared.hub.delivered(self.user, envelope);
                }
            }
            FromPhone::Subscribe { pkid, filters } => {
                let granted = filters
                    .iter()
                    .map(|(filter, qos)| topics::may_subscribe(self.user, filter).then_some((*qos).min(1)))
                    .collect::<Vec<_>>();
                if granted.iter().all(Option::is_none) {
                    let filters: Vec<&str> = filters.iter().map(|(f, _)| f.as_str()).collect();
                    tracing::warn!(user = %self.user, ?filters, "MQTT subscription refused");
                }
                // The SUBACK goes out in order with the acknowledgements of earlier PUBLISHes,
                // and the inbox flows once it has (see `answer`).
                acks.push_back(Box::pin(std::future::ready(Some(Answer::SubAck { pkid, granted }))));
            }
            FromPhone::Unsubscribe { pkid, filters } => {
                if filters.contains(&self.inbox) {
                    self.subscribed = false;
                }
                let count = filters.len();
                acks.push_back(Box::pin(std::future::ready(Some(Answer::UnsubAck { pkid, count }))));
            }
            FromPhone::PingReq => Answer::PingResp.encode(self.version, self.out.packets()),
            FromPhone::Disconnect => return Flow::Goodbye,
            FromPhone::NotAllowed(what) => return Flow::Close(DisconnectReasonCode::ProtocolError, what.to_owned()),
        }
        Flow::Continue
    }

    /// Writes an answer; a SUBACK granting the inbox starts the envelopes, after it.
    fn answer(&mut self, answer: Answer) {
        if let Answer::SubAck { granted, .. } = &answer {
            if granted.iter().any(Option::is_some) {
                self.subscribed = true;
                self.wants_owed = true;
            }
        }
        answer.encode(self.version, self.out.packets());
    }

    /// Queues an envelope or a reply, unless this connection has already had that envelope.
    fn push(&mut self, outgoing: Outgoing) {
        if let Outgoing::Owed(owed) = &outgoing {
            if !self.seen.insert(owed.id) {
                return;
            }
        }
        self.pending.push_back(outgoing);
    }

    /// What the person is owed goes before whatever arrived while it was being read.
    fn take_owed(&mut self, owed: Vec<Owed>) {
        self.loaded = true;
        let mut first: VecDeque<Outgoing> = owed
            .into_iter()
            .filter(|o| self.seen.insert(o.id))
            .map(Outgoing::Owed)
            .collect();
        first.append(&mut self.pending);
        self.pending = first;
    }

    /// Writes PUBLISHes while the window has room.
    fn fill_window(&mut self) {
        // While the owed are being read, what arrives live waits behind them.
        let loading = self.wants_owed && !self.loaded;
        while self.subscribed && !loading && self.inflight.len() < self.window {
            let Some(outgoing) = self.pending.pop_front() else {
                break;
            };
            let pkid = self.allocate_pkid();
            match outgoing {
                Outgoing::Owed(owed) => {
                    self.out
                        .publish(self.version, &self.inbox, pkid, owed.sent_before, &owed.payload);
                    self.inflight.insert(pkid, Some(owed.id));
                    if !owed.sent_before {
                        self.just_sent.push(owed.id);
                    }
                }
                Outgoing::Reply(payload) => {
                    self.out.publish(self.version, &self.inbox, pkid, false, &payload);
                    self.inflight.insert(pkid, None);
                }
            }
        }
    }

    /// The next packet id not in flight (1 to 65535; the window is far smaller).
    fn allocate_pkid(&mut self) -> u16 {
        loop {
            self.next_pkid = self.next_pkid.checked_add(1).unwrap_or(1);
            if !self.inflight.contains_key(&self.next_pkid) {
                return self.next_pkid;
            }
        }
    }
}

/// The last [`REMEMBERED`] envelope ids queued on a connection.
#[derive(Default)]
struct Remembered {
    order: VecDeque<Uuid>,
    ids: HashSet<Uuid>,
}

impl Remembered {
    /// Remembers `id`; false if it was already remembered.
    fn insert(&mut self, id: Uuid) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        true
    }
}

/// Resolves with the future's output once there is one; never while there is none.
async fn maybe<T>(future: &mut Option<Boxed<T>>) -> T {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Reads whole packets off the connection.
struct Reader<S> {
    io: ReadHalf<S>,
    buf: BytesMut,
}

impl<S: AsyncRead> Reader<S> {
    async fn connect(&mut self) -> Result<Option<Hello>, WireError> {
        loop {
            if let Some(hello) = wire::read_connect(&mut self.buf)? {
                return Ok(Some(hello));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next packet; `None` once the phone has closed the connection. Cancel-safe: what was
    /// read stays in the buffer.
    async fn next(&mut self, version: Version) -> Result<Option<FromPhone>, WireError> {
        loop {
            if let Some(packet) = wire::read(version, &mut self.buf)? {
                return Ok(Some(packet));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    async fn fill(&mut self) -> Result<bool, WireError> {
        if self.buf.is_empty() && self.buf.capacity() > KEEP_BUFFER {
            self.buf = BytesMut::new();
        }
        self.buf.reserve(READ_SIZE);
        Ok(self.io.read_buf(&mut self.buf).await? > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn owed(n: u128) -> Owed {
        Owed {
            id: Uuid::from_u128(n),
            payload: Bytes::from_static(b"{}"),
            sent_before: n.is_multiple_of(2),
        }
    }

    fn connection(window: usize) -> Connection {
        Connection {
            version: Version::V311,
            user: Uuid::from_u128(7),
            inbox: topics::inbox(Uuid::from_u128(7)),
            out: Outbound::default(),
            subscribed: true,
            wants_owed: true,
            loaded: false,
            pending: VecDeque::new(),
            inflight: HashMap::new(),
            window,
            next_pkid: 0,
            seen: Remembered::default(),
            just_sent: Vec::new(),
        }
    }

    fn queued(c: &Connection) -> Vec<u128> {
        c.pending
            .iter()
            .map(|o| match o {
                Outgoing::Owed(o) => o.id.as_u128(),
                Outgoing::Reply(_) => 0,
            })
            .collect()
    }

    #[test]
    fn what_is_owed_goes_first_and_nothing_goes_twice_on_a_connection() {
        let mut c = connection(2);
        c.push(Outgoing::Owed(owed(3)));
        c.fill_window();
        assert!(c.inflight.is_empty(), "nothing goes before what is owed is known");
        c.push(Outgoing::Reply(Bytes::from_static(b"{}")));
        c.take_owed(vec![owed(1), owed(2), owed(3)]);
        c.push(Outgoing::Owed(owed(2)));
        assert_eq!(queued(&c), [1, 2, 3, 0]);

        c.fill_window();
        assert_eq!(c.inflight.len(), 2);
        assert_eq!(queued(&c), [3, 0]);
        // Only 1 was never sent before (2 goes again with DUP).
        assert_eq!(c.just_sent, [Uuid::from_u128(1)]);
    }

    #[test]
    fn packet_ids_skip_those_in_flight_and_never_use_zero() {
        let mut c = connection(2);
        c.next_pkid = u16::MAX - 1;
        c.inflight.insert(1, None);
        assert_eq!(c.allocate_pkid(), u16::MAX);
        assert_eq!(c.allocate_pkid(), 2);
    }

    #[test]
    fn remembered_ids_are_bounded() {
        let mut r = Remembered::default();
        for n in 0..(REMEMBERED as u128 + 10) {
            assert!(r.insert(Uuid::from_u128(n)));
        }
        assert_eq!(r.ids.len(), REMEMBERED);
        assert!(r.insert(Uuid::from_u128(0)), "the oldest was forgotten");
        assert!(!r.insert(Uuid::from_u128(REMEMBERED as u128 + 9)));
    }
}
