//! The gate: one client connection relayed to the internal rumqttd, with the CONNECT
//! authenticated and every SUBSCRIBE and PUBLISH checked against [`crate::topics`].

use std::{collections::HashMap, fmt, io, net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use anyhow::{bail, Context as _};
use bytes::{Bytes, BytesMut};
use rumqttd::protocol::{
    self as mqtt, v4::V4, v5::V5, ConnAck, Connect, ConnectReturnCode, Disconnect, DisconnectReasonCode, Login, Packet,
    Protocol as _, PubAck, PubAckReason, PubRec, PubRecReason, Publish, SubAck, SubscribeReasonCode,
};
use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::Mutex,
    time::timeout,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{broker::HUB_USERNAME, topics, Authenticator};

/// The largest packet either side may send; envelopes and reports are far smaller.
pub(crate) const MAX_PACKET: usize = 256 * 1024;
/// How long rumqttd may take to close a connection after a DISCONNECT. Closing our side first
/// makes rumqttd 0.20 count two disconnections, and the second can drop whichever new
/// connection has just been given the first one's slot.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);
/// The least a read asks the socket for.
const READ_SIZE: usize = 4096;
/// How long a new connection has to send its CONNECT and be authenticated.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// MQTT control packet types (the high nibble of the first byte).
const CONNECT: u8 = 1;
const CONNACK: u8 = 2;
const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;
const PUBREC: u8 = 5;
const PUBREL: u8 = 6;
const PUBCOMP: u8 = 7;
const SUBSCRIBE: u8 = 8;
const UNSUBSCRIBE: u8 = 10;
const PINGREQ: u8 = 12;
const DISCONNECT: u8 = 14;

/// What every connection through the gate shares.
pub(crate) struct Gate<A> {
    pub auth: Arc<A>,
    pub hub_password: Arc<str>,
    pub backend: Backend,
}

/// The internal rumqttd: where it listens and the only login it accepts.
pub(crate) struct Backend {
    pub v311: SocketAddr,
    pub v5: SocketAddr,
    pub username: String,
    pub password: String,
}

impl Backend {
    pub fn addr(&self, version: Version) -> SocketAddr {
        match version {
            Version::V311 => self.v311,
            Version::V5 => self.v5,
        }
    }

    fn login(&self) -> Login {
        Login {
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V311,
    V5,
}

impl Version {
    /// Decodes with rumqttd's own codec, so the gate sees what rumqttd will act on.
    /// Only for CONNECT, PUBLISH and SUBSCRIBE: rumqttd's 5 decoder panics on some other types.
    fn decode(self, frame: &Frame) -> Result<Packet, mqtt::Error> {
        let mut bytes = BytesMut::from(&frame.bytes[..]);
        match self {
            Version::V311 => V4.read_mut(&mut bytes, MAX_PACKET),
            Version::V5 => V5.read_mut(&mut bytes, MAX_PACKET),
        }
    }

    fn encode(self, packet: Packet) -> Result<Bytes, mqtt::Error> {
        let mut bytes = BytesMut::new();
        match self {
            Version::V311 => V4.write(packet, &mut bytes)?,
            Version::V5 => V5.write(packet, &mut bytes)?,
        };
        Ok(bytes.freeze())
    }
}

/// Who is on the other end of a connection, once authenticated.
#[derive(Debug, Clone, Copy)]
enum Principal {
    Hub,
    Staff(Uuid),
}

impl Principal {
    fn may_subscribe(self, filter: &str) -> bool {
        match self {
            Principal::Hub => topics::hub_may_subscribe(filter),
            Principal::Staff(user) => topics::may_subscribe(user, filter),
        }
    }

    fn may_publish(self, topic: &str) -> bool {
        match self {
            Principal::Hub => topics::hub_may_publish(topic),
            Principal::Staff(user) => topics::may_publish(user, topic),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Hub => f.write_str(HUB_USERNAME),
            Principal::Staff(user) => write!(f, "{user}"),
        }
    }
}

/// One whole MQTT packet, as received.
struct Frame {
    header: mqtt::v4::FixedHeader,
    bytes: Bytes,
}

impl Frame {
    fn packet_type(&self) -> u8 {
        self.header.byte1 >> 4
    }
}

/// Cuts a byte stream into whole packets (the fixed header is the same in 3.1.1 and 5).
struct Frames<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> Frames<R> {
    fn new(io: R) -> Self {
        Frames {
            io,
            buf: BytesMut::new(),
        }
    }

    /// The next packet; `None` when the peer closed the connection between packets.
    async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match mqtt::v4::check(self.buf.iter(), MAX_PACKET) {
                Ok(header) => {
                    let bytes = self.buf.split_to(header.frame_length()).freeze();
                    return Ok(Some(Frame { header, bytes }));
                }
                // Room for the rest of the packet, so a large one is not read 64 bytes at a time.
                Err(mqtt::Error::InsufficientBytes(missing)) => self.buf.reserve(missing.max(READ_SIZE)),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(io::ErrorKind::UnexpectedEof.into()),
                };
            }
        }
    }
}

/// Serves one client connection until either side closes it or the broker shuts down.
pub(crate) async fn serve<A: Authenticator>(
    client: TcpStream,
    gate: &Gate<A>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    let (client_rd, mut client_wr) = client.into_split();
    let mut from_client = Frames::new(client_rd);

    let admission = timeout(CONNECT_TIMEOUT, async {
        let connect = from_client.next().await?.context("closed before CONNECT")?;
        admit(gate, &connect).await
    });
    let session = tokio::select! {
        () = cancel.cancelled() => return Ok(()),
        admission = admission => admission.context("no CONNECT in time")??,
    };
    let session = match session {
        Admission::Refused(connack) => return Ok(client_wr.write_all(&connack).await?),
        Admission::Admitted(session) => session,
    };

    let broker = TcpStream::connect(gate.backend.addr(session.version)).await?;
    broker.set_nodelay(true)?;
    let (broker_rd, mut to_broker) = broker.into_split();
    let mut from_broker = Frames::new(broker_rd);
    to_broker.write_all(&session.connect).await?;
    // The client's packets, and the gate's PUBACKs of its own warm-up.
    let to_broker = Mutex::new(to_broker);

    // Both directions write whole packets to the client: rumqttd's, and the gate's refusals.
    let to_client = Mutex::new(client_wr);
    let mut checks = Checks {
        version: session.version,
        principal: session.principal,
        aliases: HashMap::new(),
    };
    let inbox = match session.principal {
        Principal::Staff(user) => Some(topics::inbox(user)),
        Principal::Hub => None,
    };
    // Ends with whether the client said goodbye (DISCONNECT).
    let upstream = async {
        while let Some(frame) = from_client.next().await? {
            match checks.check(&frame)? {
                Verdict::Forward => to_broker.lock().await.write_all(&frame.bytes).await?,
                Verdict::ForwardThen(next) => {
                    let mut to_broker = to_broker.lock().await;
                    to_broker.write_all(&frame.bytes).await?;
                    to_broker.write_all(&next).await?;
                }
                Verdict::Answer(reply) => to_client.lock().await.write_all(&reply).await?,
                Verdict::Drop => {}
                Verdict::Close => break,
            }
            if frame.packet_type() == DISCONNECT {
                return anyhow::Ok(true);
            }
        }
        anyhow::Ok(false)
    };
    let mut downstream = pin!(async {
        while let Some(frame) = from_broker.next().await? {
            if let Some(inbox) = inbox
                .as_deref()
                .filter(|inbox| is_warm_up(session.version, inbox, &frame))
            {
                // rumqttd delivers at the subscription's QoS and takes acknowledgements only in
                // order: the gate acknowledges its own before the phone can acknowledge the next.
                if let Some(puback) = warm_up_ack(session.version, inbox, &frame)? {
                    to_broker.lock().await.write_all(&puback).await?;
                }
                continue;
            }
            to_client.lock().await.write_all(&frame.bytes).await?;
        }
        anyhow::Ok(())
    });
    tokio::select! {
        () = cancel.cancelled() => Ok(()),
        ended = downstream.as_mut() => ended,
        said_goodbye = upstream => {
            if said_goodbye? {
                let _ = timeout(DISCONNECT_GRACE, downstream).await;
            }
            Ok(())
        }
    }
}

enum Admission {
    /// The CONNACK to send before closing.
    Refused(Bytes),
    Admitted(Session),
}

struct Session {
    version: Version,
    principal: Principal,
    /// The CONNECT to send to rumqttd: the gate's login, the client id namespaced by principal.
    connect: Bytes,
}

async fn admit<A: Authenticator>(gate: &Gate<A>, frame: &Frame) -> anyhow::Result<Admission> {
    if frame.packet_type() != CONNECT {
        bail!("the first packet is not a CONNECT");
    }
    let version = match protocol_level(frame) {
        Some(4) => Version::V311,
        Some(5) => Version::V5,
        _ => return refuse(Version::V311, ConnectReturnCode::RefusedProtocolVersion),
    };
    let Packet::Connect(connect, properties, will, will_properties, login) = version.decode(frame)? else {
        bail!("malformed CONNECT");
    };
    // Refusals say "not authorised" whatever the reason, as Mosquitto does.
    let Some(principal) = authenticate(gate, login).await else {
        tracing::info!(client_id = connect.client_id, "MQTT login refused");
        return refuse(version, ConnectReturnCode::NotAuthorized);
    };
    if let Some(will) = &will {
        let topic = std::str::from_utf8(&will.topic).context("will topic is not UTF-8")?;
        if !principal.may_publish(topic) {
            tracing::warn!(%principal, topic, "MQTT will refused");
            return refuse(version, ConnectReturnCode::NotAuthorized);
        }
    }
    // rumqttd would drop such a client without a word.
    if connect.client_id.contains(['+', '$', '#', '/']) {
        return refuse(version, ConnectReturnCode::ClientIdentifierNotValid);
    }
    // An empty id stays empty: rumqttd then assigns one and refuses a persistent session.
    let client_id = match connect.client_id.is_empty() {
        true => String::new(),
        false => format!("{principal}.{}", connect.client_id),
    };
    let connect = Connect { client_id, ..connect };
    let connect = version.encode(Packet::Connect(
        connect,
        properties,
        will,
        will_properties,
        Some(gate.backend.login()),
    ))?;
    Ok(Admission::Admitted(Session {
        version,
        principal,
        connect,
    }))
}

async fn authenticate<A: Authenticator>(gate: &Gate<A>, login: Option<Login>) -> Option<Principal> {
    let login = login?;
    if login.username == HUB_USERNAME {
        return constant_time_eq(login.password.as_bytes(), gate.hub_password.as_bytes()).then_some(Principal::Hub);
    }
    gate.auth
        .authenticate(&login.username, login.password.as_bytes())
        .await
        .map(Principal::Staff)
}

fn refuse(version: Version, code: ConnectReturnCode) -> anyhow::Result<Admission> {
    let connack = Packet::ConnAck(
        ConnAck {
            session_present: false,
            code,
        },
        None,
    );
    Ok(Admission::Refused(version.encode(connack)?))
}

/// The protocol level byte of a CONNECT: after the protocol name, a length-prefixed string.
fn protocol_level(frame: &Frame) -> Option<u8> {
    let variable_header = frame.bytes.get(frame.header.fixed_header_len..)?;
    let name_len = u16::from_be_bytes([*variable_header.first()?, *variable_header.get(1)?]);
    variable_header.get(2 + usize::from(name_len)).copied()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

enum Verdict {
    Forward,
    /// Forwarded, then these bytes too.
    ForwardThen(Bytes),
    /// Not forwarded; this reply goes back to the client.
    Answer(Bytes),
    /// Not forwarded, nothing to say (a refused QoS 0 PUBLISH in MQTT 5).
    Drop,
    Close,
}

/// The per-connection checks on what a client sends after its CONNECT.
struct Checks {
    version: Version,
    principal: Principal,
    /// MQTT 5 topic aliases of forwarded PUBLISHes, mirroring rumqttd's.
    aliases: HashMap<u16, String>,
}

impl Checks {
    fn check(&mut self, frame: &Frame) -> anyhow::Result<Verdict> {
        match frame.packet_type() {
            PUBLISH => self.publish(frame),
            SUBSCRIBE => self.subscribe(frame),
            PUBACK | PUBREC | PUBREL | PUBCOMP | UNSUBSCRIBE | PINGREQ | DISCONNECT => Ok(Verdict::Forward),
            // A second CONNECT, or a packet only a broker sends.
            other => bail!("packet type {other} is not allowed from a client"),
        }
    }

    fn subscribe(&self, frame: &Frame) -> anyhow::Result<Verdict> {
        let Packet::Subscribe(subscribe, _) = self.version.decode(frame)? else {
            bail!("malformed SUBSCRIBE");
        };
        if subscribe
            .filters
            .iter()
            .all(|filter| self.principal.may_subscribe(&filter.path))
        {
            // At QoS 2 the gate would have to play rumqttd's four-packet exchange: no warm-up.
            let exactly_once = subscribe.filters.iter().any(|f| f.qos == mqtt::QoS::ExactlyOnce);
            return Ok(match self.principal {
                Principal::Staff(user) if !exactly_once => {
                    Verdict::ForwardThen(warm_up(self.version, &topics::inbox(user))?)
                }
                _ => Verdict::Forward,
            });
        }
        // All or nothing: a phone subscribes to one filter, and a partial forward would need
        // the gate to merge two SUBACKs.
        let filters: Vec<&str> = subscribe.filters.iter().map(|filter| filter.path.as_str()).collect();
        tracing::warn!(principal = %self.principal, ?filters, "MQTT subscription refused");
        let code = match self.version {
            Version::V311 => SubscribeReasonCode::Failure,
            Version::V5 => SubscribeReasonCode::NotAuthorized,
        };
        let suback = SubAck {
            pkid: subscribe.pkid,
            return_codes: vec![code; subscribe.filters.len()],
        };
        Ok(Verdict::Answer(self.version.encode(Packet::SubAck(suback, None))?))
    }

    fn publish(&mut self, frame: &Frame) -> anyhow::Result<Verdict> {
        let Packet::Publish(publish, properties) = self.version.decode(frame)? else {
            bail!("malformed PUBLISH");
        };
        let alias = properties.and_then(|properties| properties.topic_alias);
        let topic = match (publish.topic.is_empty(), alias) {
            (false, _) => std::str::from_utf8(&publish.topic)
                .context("topic is not UTF-8")?
                .to_owned(),
            (true, Some(alias)) => self.aliases.get(&alias).cloned().context("unknown topic alias")?,
            (true, None) => bail!("PUBLISH without a topic"),
        };
        if self.principal.may_publish(&topic) {
            if let Some(alias) = alias {
                self.aliases.insert(alias, topic);
            }
            return Ok(Verdict::Forward);
        }
        tracing::warn!(principal = %self.principal, topic, "MQTT publish refused");
        let qos = (frame.header.byte1 >> 1) & 0b11;
        let reply = match (self.version, qos) {
            // 3.1.1 has no way to refuse a PUBLISH but closing the connection.
            (Version::V311, _) => return Ok(Verdict::Close),
            (Version::V5, 0) => return Ok(Verdict::Drop),
            (Version::V5, 1) => {
                let pkid = publish_pkid(frame, publish.topic.len())?;
                Packet::PubAck(
                    PubAck {
                        pkid,
                        reason: PubAckReason::NotAuthorized,
                    },
                    None,
                )
            }
            (Version::V5, _) => {
                let pkid = publish_pkid(frame, publish.topic.len())?;
                Packet::PubRec(
                    PubRec {
                        pkid,
                        reason: PubRecReason::NotAuthorized,
                    },
                    None,
                )
            }
        };
        Ok(Verdict::Answer(self.version.encode(reply)?))
    }
}

/// rumqttd 0.20 finds who subscribes to a topic it has never routed by matching the topic
/// against every filter it holds (`DataLog::matches`), then caches the answer: the first alert
/// to N phones cost N × N matches on the router's one thread (6 s at 6,000 phones). So when a
/// person subscribes to their inbox (the only filter a person may have), the gate routes one
/// empty QoS 0 PUBLISH to it through the phone's own connection, paying that match at
/// subscription time, and [`is_warm_up`] drops the echo on its way to the phone.
fn warm_up(version: Version, inbox: &str) -> anyhow::Result<Bytes> {
    let publish = Publish::new(Bytes::from(inbox.to_owned()), Bytes::new(), false);
    Ok(version.encode(Packet::Publish(publish, None))?)
}

/// Whether rumqttd is sending the phone the gate's own [`warm_up`] back (or, after a
/// reconnection, a stored copy of it): an empty PUBLISH to the inbox, which the hub never sends.
fn is_warm_up(version: Version, inbox: &str, frame: &Frame) -> bool {
    // Topic length, topic, at most a packet id and MQTT 5's empty properties: anything larger
    // carries a payload, and is not decoded here.
    let largest = frame.header.fixed_header_len + 2 + inbox.len() + 2 + 1;
    frame.packet_type() == PUBLISH
        && frame.bytes.len() <= largest
        && matches!(version.decode(frame), Ok(Packet::Publish(publish, _))
            if publish.payload.is_empty() && publish.topic == inbox.as_bytes())
}

/// The PUBACK rumqttd waits for when it delivered the warm-up at QoS 1; `None` at QoS 0.
fn warm_up_ack(version: Version, inbox: &str, frame: &Frame) -> anyhow::Result<Option<Bytes>> {
    if (frame.header.byte1 >> 1) & 0b11 == 0 {
        return Ok(None);
    }
    let puback = PubAck {
        pkid: publish_pkid(frame, inbox.len())?,
        reason: PubAckReason::Success,
    };
    Ok(Some(version.encode(Packet::PubAck(puback, None))?))
}

/// A QoS 1/2 PUBLISH's packet id, which follows the topic (rumqttd keeps its own private).
fn publish_pkid(frame: &Frame, topic_len: usize) -> anyhow::Result<u16> {
    let at = frame.header.fixed_header_len + 2 + topic_len;
    let id = frame.bytes.get(at..at + 2).context("PUBLISH without a packet id")?;
    Ok(u16::from_be_bytes([id[0], id[1]]))
}

/// Logs in to rumqttd on the `version` port and out again: proof that it listens and takes
/// the gate's login.
pub(crate) async fn probe(backend: &Backend, version: Version) -> anyhow::Result<()> {
    let mut broker = TcpStream::connect(backend.addr(version)).await?;
    let connect = Connect {
        keep_alive: 10,
        client_id: String::new(),
        clean_session: true,
    };
    broker
        .write_all(&version.encode(Packet::Connect(connect, None, None, None, Some(backend.login())))?)
        .await?;
    let connack = timeout(Duration::from_secs(1), Frames::new(&mut broker).next())
        .await??
        .context("closed before CONNACK")?;
    // A CONNACK's second byte after the fixed header is its return (3.1.1) or reason (5) code.
    let code = connack.bytes.get(connack.header.fixed_header_len + 1).copied();
    if connack.packet_type() != CONNACK || code != Some(0) {
        bail!("login refused");
    }
    let disconnect = Disconnect {
        reason_code: DisconnectReasonCode::NormalDisconnection,
    };
    broker
        .write_all(&version.encode(Packet::Disconnect(disconnect, None))?)
        .await?;
    // Let rumqttd close first (see DISCONNECT_GRACE).
    timeout(DISCONNECT_GRACE, broker.read_to_end(&mut Vec::new())).await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rumqttd::protocol::{Publish, PublishProperties};

    use super::*;
    use crate::topics::{phone_topic, PhoneTopic};

    const ME: Uuid = Uuid::from_u128(1);
    const OTHER: Uuid = Uuid::from_u128(2);

    fn frame(bytes: Bytes) -> Frame {
        let header = mqtt::v4::check(bytes.iter(), MAX_PACKET).unwrap();
        Frame { header, bytes }
    }

    /// A QoS 0 MQTT 5 PUBLISH, with a topic alias if given.
    fn publish(topic: &str, alias: Option<u16>) -> Frame {
        let properties = alias.map(|alias| PublishProperties {
            topic_alias: Some(alias),
            ..Default::default()
        });
        let publish = Publish::new(topic.as_bytes().to_vec(), b"x".to_vec(), false);
        frame(Version::V5.encode(Packet::Publish(publish, properties)).unwrap())
    }

    fn checks() -> Checks {
        Checks {
            version: Version::V5,
            principal: Principal::Staff(ME),
            aliases: HashMap::new(),
        }
    }

    #[test]
    fn only_the_gates_own_warm_up_is_kept_from_the_phone() {
        let inbox = topics::inbox(ME);
        for version in [Version::V311, Version::V5] {
            let echo = frame(warm_up(version, &inbox).unwrap());
            assert!(is_warm_up(version, &inbox, &echo), "{version:?}");
            let envelope = Publish::new(inbox.as_bytes().to_vec(), b"{}".to_vec(), false);
            let envelope = frame(version.encode(Packet::Publish(envelope, None)).unwrap());
            assert!(!is_warm_up(version, &inbox, &envelope), "{version:?}");
            let elsewhere = frame(warm_up(version, &topics::inbox(OTHER)).unwrap());
            assert!(!is_warm_up(version, &inbox, &elsewhere), "{version:?}");
        }
        // rumqttd delivers it at the subscription's QoS 1: the gate answers its PUBACK itself.
        let mut echo = BytesMut::from(&[0x32, (2 + inbox.len() + 2) as u8, 0, inbox.len() as u8][..]);
        echo.extend_from_slice(inbox.as_bytes());
        echo.extend_from_slice(&[0, 7]);
        let echo = frame(echo.freeze());
        assert!(is_warm_up(Version::V311, &inbox, &echo));
        let puback = warm_up_ack(Version::V311, &inbox, &echo).unwrap().expect("a PUBACK");
        assert_eq!(&puback[..], [0x40, 2, 0, 7]);
        let echo = frame(warm_up(Version::V311, &inbox).unwrap());
        assert!(warm_up_ack(Version::V311, &inbox, &echo).unwrap().is_none());
        let subscribe = mqtt::Subscribe {
            pkid: 1,
            filters: vec![mqtt::Filter {
                path: inbox,
                qos: mqtt::QoS::AtLeastOnce,
                nolocal: false,
                preserve_retain: false,
                retain_forward_rule: mqtt::RetainForwardRule::OnEverySubscribe,
            }],
        };
        let subscribe = frame(Version::V5.encode(Packet::Subscribe(subscribe, None)).unwrap());
        assert!(matches!(checks().check(&subscribe), Ok(Verdict::ForwardThen(_))));
    }

    #[test]
    fn a_topic_alias_is_checked_as_the_topic_it_stands_for() {
        let mut checks = checks();
        let own = phone_topic(ME, PhoneTopic::Location);
        assert!(matches!(checks.check(&publish(&own, Some(1))), Ok(Verdict::Forward)));
        assert!(matches!(checks.check(&publish("", Some(1))), Ok(Verdict::Forward)));

        let forged = phone_topic(OTHER, PhoneTopic::Location);
        assert!(matches!(checks.check(&publish(&forged, Some(2))), Ok(Verdict::Drop)));
        // The refused alias was never set at the broker, so using it ends the connection.
        assert!(checks.check(&publish("", Some(2))).is_err());
        // Nor can a known alias be re-pointed at someone else's topic.
        assert!(matches!(checks.check(&publish(&forged, Some(1))), Ok(Verdict::Drop)));
        assert!(matches!(checks.check(&publish("", Some(1))), Ok(Verdict::Forward)));
        assert_eq!(checks.aliases[&1], own);
    }

    #[test]
    fn packets_only_a_broker_sends_end_the_connection() {
        let connack = Packet::ConnAck(
            ConnAck {
                session_present: false,
                code: ConnectReturnCode::Success,
            },
            None,
        );
        let connack = frame(Version::V5.encode(connack).unwrap());
        assert!(checks().check(&connack).is_err());
    }
}
