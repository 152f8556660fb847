//! The MQTT wire, 3.1.1 and 5: cutting a byte stream into packets, decoding what a phone sends
//! into [`FromPhone`], and encoding what the hub answers.
//!
//! # Why rumqttc's codec
//!
//! The hub terminates MQTT itself; the protocol library only has to own the packet formats.
//! rumqttc's `mqttbytes` (v4 and v5) reads and writes every packet type in both directions with
//! public fields, and the hub already depends on rumqttc for its link to an external broker and
//! for the phone simulator, so it adds nothing. The alternatives looked at: rumqttd's codec keeps
//! a PUBLISH's QoS and packet id private and panics (`unreachable!`) on a CONNACK or UNSUBACK
//! sent by a client; ntex-mqtt owns the whole server (its own runtime, services and I/O), which
//! would put a second async framework beside tokio for one listener. Sessions, in-flight
//! windows and who may do what are the hub's own ([`super::connection`]).
//!
//! Outgoing PUBLISHes are written here by hand: the topic is the connection's own, and the
//! payload is the envelope's shared bytes, written from where they are ([`Outbound`]), so
//! nothing is allocated or copied per message but the header.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::QoS as QoS4;

/// The largest packet either way; envelopes and reports are far smaller (an alert with a
/// detailed polygon is tens of kilobytes).
pub const MAX_PACKET: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

/// A CONNECT, whichever the version.
#[derive(Debug)]
pub struct Hello {
    pub version: Version,
    pub client_id: String,
    /// 3.1.1's clean session, 5's clean start.
    pub clean: bool,
    pub keep_alive: u16,
    pub login: Option<(String, String)>,
    pub will: Option<Will>,
    /// MQTT 5: how many unacknowledged QoS 1 messages the client takes at once.
    pub receive_maximum: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
}

/// What a phone may send once connected; anything else ends the connection.
#[derive(Debug)]
pub enum FromPhone {
    Publish {
        topic: String,
        qos: u8,
        pkid: u16,
        payload: Bytes,
        /// MQTT 5 topic alias; the hub allows none (it advertises no maximum).
        alias: Option<u16>,
    },
    PubAck {
        pkid: u16,
    },
    Subscribe {
        pkid: u16,
        /// Each filter with the QoS asked for.
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pkid: u16,
        filters: Vec<String>,
    },
    PingReq,
    Disconnect,
    /// A packet a phone must not send here: a second CONNECT, one only a broker sends, or the
    /// QoS 2 handshake (the hub offers QoS 1 at most).
    NotAllowed(&'static str),
}

/// Why a packet could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the packet is larger than {MAX_PACKET} bytes")]
    TooLarge,
    #[error("the first packet is not a CONNECT")]
    NotConnect,
    #[error("unsupported protocol level {0}")]
    UnsupportedVersion(u8),
    #[error("malformed packet: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `Ok(None)`: more bytes are needed (at least this many are missing, where known).
pub type Decoded<T> = Result<Option<T>, WireError>;

const CONNECT: u8 = 1;

/// Reads the CONNECT at the start of `buf`; `Ok(None)` until it is whole. A protocol level
/// other than 4 (3.1.1) or 5 is [`WireError::UnsupportedVersion`], to be answered with a 3.1.1
/// CONNACK "unacceptable protocol version" as both versions say.
pub fn read_connect(buf: &mut BytesMut) -> Decoded<Hello> {
    let header = match rumqttc::mqttbytes::check(buf.iter(), MAX_PACKET) {
        Ok(header) => header,
        Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => return Ok(None),
        Err(rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(_)) => return Err(WireError::TooLarge),
        Err(e) => return Err(WireError::Malformed(e.to_string())),
    };
    if buf[0] >> 4 != CONNECT {
        return Err(WireError::NotConnect);
    }
    // The fixed header: the type byte, then the remaining length's bytes (high bit: more follow).
    let fixed_header_len = 1 + buf[1..].iter().take_while(|b| **b & 0x80 != 0).count() + 1;
    let level = protocol_level(&buf[..header.frame_length()], fixed_header_len);
    match level {
        Some(4) => match v4::Packet::read(buf, MAX_PACKET) {
            Ok(v4::Packet::Connect(c)) => Ok(Some(Hello {
                version: Version::V311,
                client_id: c.client_id,
                clean: c.clean_session,
                keep_alive: c.keep_alive,
                login: c.login.map(|l| (l.username, l.password)),
                will: c.last_will.map(|w| Will {
                    topic: w.topic,
                    payload: w.message,
                }),
                receive_maximum: None,
            })),
            Ok(_) => Err(WireError::NotConnect),
            Err(e) => Err(WireError::Malformed(e.to_string())),
        },
        Some(5) => match v5::Packet::read(buf, Some(MAX_PACKET as u32)) {
            Ok(v5::Packet::Connect(c, will, login)) => Ok(Some(Hello {
                version: Version::V5,
                client_id: c.client_id,
                clean: c.clean_start,
                keep_alive: c.keep_alive,
                login: login.map(|l| (l.username, l.password)),
                will: match will {
                    Some(w) => Some(Will {
                        topic: String::from_utf8(w.topic.to_vec())
                            .map_err(|_| WireError::Malformed("the will topic is not UTF-8".into()))?,
                        payload: w.message,
                    }),
                    None => None,
                },
                receive_maximum: c.properties.and_then(|p| p.receive_maximum),
            })),
            Ok(_) => Err(WireError::NotConnect),
            Err(e) => Err(WireError::Malformed(e.to_string())),
        },
        Some(level) => Err(WireError::UnsupportedVersion(level)),
        None => Err(WireError::Malformed("CONNECT without a protocol level".into())),
    }
}

/// The protocol level byte of a CONNECT: after the protocol name, a length-prefixed string.
fn protocol_level(frame: &[u8], fixed_header_len: usize) -> Option<u8> {
    let variable = frame.get(fixed_header_len..)?;
    let name_len = u16::from_be_bytes([*variable.first()?, *variable.get(1)?]);
    variable.get(2 + usize::from(name_len)).copied()
}

/// Reads the next packet after the CONNECT; `Ok(None)` until one is whole.
pub fn read(version: Version, buf: &mut BytesMut) -> Decoded<FromPhone> {
    match version {
        Version::V311 => read_v4(buf),
        Version::V5 => read_v5(buf),
    }
}

fn read_v4(buf: &mut BytesMut) -> Decoded<FromPhone> {
    use rumqttc::mqttbytes::Error;
    let packet = match v4::Packet::read(buf, MAX_PACKET) {
        Ok(packet) => packet,
        Err(Error::InsufficientBytes(_)) => return Ok(None),
        Err(Error::PayloadSizeLimitExceeded(_)) => return Err(WireError::TooLarge),
        Err(e) => return Err(WireError::Malformed(e.to_string())),
    };
    Ok(Some(match packet {
        v4::Packet::Publish(p) => FromPhone::Publish {
            topic: p.topic,
            qos: p.qos as u8,
            pkid: p.pkid,
            payload: p.payload,
            alias: None,
        },
        v4::Packet::PubAck(a) => FromPhone::PubAck { pkid: a.pkid },
        v4::Packet::Subscribe(s) => FromPhone::Subscribe {
            pkid: s.pkid,
            filters: s.filters.into_iter().map(|f| (f.path, f.qos as u8)).collect(),
        },
        v4::Packet::Unsubscribe(u) => FromPhone::Unsubscribe {
            pkid: u.pkid,
            filters: u.topics,
        },
        v4::Packet::PingReq => FromPhone::PingReq,
        v4::Packet::Disconnect => FromPhone::Disconnect,
        v4::Packet::Connect(_) => FromPhone::NotAllowed("a second CONNECT"),
        v4::Packet::PubRec(_) | v4::Packet::PubRel(_) | v4::Packet::PubComp(_) => {
            FromPhone::NotAllowed("QoS 2 (the hub offers QoS 1 at most)")
        }
        v4::Packet::ConnAck(_) | v4::Packet::SubAck(_) | v4::Packet::UnsubAck(_) | v4::Packet::PingResp => {
            FromPhone::NotAllowed("a packet only a broker sends")
        }
    }))
}

fn read_v5(buf: &mut BytesMut) -> Decoded<FromPhone> {
    use rumqttc::v5::mqttbytes::Error;
    let packet = match v5::Packet::read(buf, Some(MAX_PACKET as u32)) {
        Ok(packet) => packet,
        Err(Error::InsufficientBytes(_)) => return Ok(None),
        Err(Error::PayloadSizeLimitExceeded { .. }) => return Err(WireError::TooLarge),
        Err(e) => return Err(WireError::Malformed(e.to_string())),
    };
    Ok(Some(match packet {
        v5::Packet::Publish(p) => FromPhone::Publish {
            topic: String::from_utf8(p.topic.to_vec())
                .map_err(|_| WireError::Malformed("the topic is not UTF-8".into()))?,
            qos: p.qos as u8,
            pkid: p.pkid,
            payload: p.payload,
            alias: p.properties.and_then(|p| p.topic_alias),
        },
        v5::Packet::PubAck(a) => FromPhone::PubAck { pkid: a.pkid },
        v5::Packet::Subscribe(s) => FromPhone::Subscribe {
            pkid: s.pkid,
            filters: s.filters.into_iter().map(|f| (f.path, f.qos as u8)).collect(),
        },
        v5::Packet::Unsubscribe(u) => FromPhone::Unsubscribe {
            pkid: u.pkid,
            filters: u.filters,
        },
        v5::Packet::PingReq(_) => FromPhone::PingReq,
        v5::Packet::Disconnect(_) => FromPhone::Disconnect,
        v5::Packet::Connect(..) => FromPhone::NotAllowed("a second CONNECT"),
        v5::Packet::Auth(_) => FromPhone::NotAllowed("AUTH (the hub takes the token as the password)"),
        v5::Packet::PubRec(_) | v5::Packet::PubRel(_) | v5::Packet::PubComp(_) => {
            FromPhone::NotAllowed("QoS 2 (the hub offers QoS 1 at most)")
        }
        v5::Packet::ConnAck(_) | v5::Packet::SubAck(_) | v5::Packet::UnsubAck(_) | v5::Packet::PingResp(_) => {
            FromPhone::NotAllowed("a packet only a broker sends")
        }
    }))
}

/// Why a CONNECT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnsupportedVersion,
    BadClientId,
    NotAuthorized,
    ServerBusy,
}

/// Everything the hub sends but PUBLISH.
pub enum Answer {
    ConnAck {
        session_present: bool,
        /// MQTT 5: the id the hub gave a client that sent none.
        assigned_client_id: Option<String>,
    },
    Refused(Refusal),
    /// The QoS granted for each filter, or `None` where refused.
    SubAck {
        pkid: u16,
        granted: Vec<Option<u8>>,
    },
    UnsubAck {
        pkid: u16,
        count: usize,
    },
    /// `authorized: false` refuses a PUBLISH (MQTT 5 only; 3.1.1 can only disconnect).
    PubAck {
        pkid: u16,
        authorized: bool,
    },
    PingResp,
    /// MQTT 5 only: why the hub closes the connection.
    Disconnect(v5::DisconnectReasonCode),
}

/// What the hub tells MQTT 5 clients in its CONNACK: QoS 1 at most, no retained messages, no
/// wildcards, shared subscriptions or topic aliases, and how many QoS 1 messages it takes at once.
pub const RECEIVE_MAXIMUM: u16 = 64;

impl Answer {
    pub fn encode(self, version: Version, out: &mut BytesMut) {
        // Only a bug of ours could make these fail (e.g. a packet id of 0): log it and send nothing.
        let written = match version {
            Version::V311 => self.encode_v4(out),
            Version::V5 => self.encode_v5(out),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "could not encode an MQTT answer");
        }
    }

    fn encode_v4(self, out: &mut BytesMut) -> Result<(), String> {
        use v4::ConnectReturnCode as Code;
        let e = |e: rumqttc::mqttbytes::Error| e.to_string();
        match self {
            Answer::ConnAck { session_present, .. } => {
                v4::ConnAck::new(Code::Success, session_present).write(out).map_err(e)?;
            }
            Answer::Refused(refusal) => {
                let code = match refusal {
                    Refusal::UnsupportedVersion => Code::RefusedProtocolVersion,
                    Refusal::BadClientId => Code::BadClientId,
                    Refusal::NotAuthorized => Code::NotAuthorized,
                    Refusal::ServerBusy => Code::ServiceUnavailable,
                };
                v4::ConnAck::new(code, false).write(out).map_err(e)?;
            }
            Answer::SubAck { pkid, granted } => {
                let codes = granted
                    .into_iter()
                    .map(|g| match g {
                        Some(0) => v4::SubscribeReasonCode::Success(QoS4::AtMostOnce),
                        Some(_) => v4::SubscribeReasonCode::Success(QoS4::AtLeastOnce),
                        None => v4::SubscribeReasonCode::Failure,
                    })
                    .collect();
                v4::SubAck::new(pkid, codes).write(out).map_err(e)?;
            }
            Answer::UnsubAck { pkid, .. } => {
                v4::UnsubAck::new(pkid).write(out).map_err(e)?;
            }
            Answer::PubAck { pkid, .. } => {
                v4::PubAck::new(pkid).write(out).map_err(e)?;
            }
            Answer::PingResp => {
                v4::PingResp.write(out).map_err(e)?;
            }
            // 3.1.1 has no DISCONNECT from the server: the connection is just closed.
            Answer::Disconnect(_) => {}
        }
        Ok(())
    }

    fn encode_v5(self, out: &mut BytesMut) -> Result<(), String> {
        use v5::ConnectReturnCode as Code;
        let e = |e: rumqttc::v5::mqttbytes::Error| e.to_string();
        match self {
            Answer::ConnAck {
                session_present,
                assigned_client_id,
            } => {
                let properties = v5::ConnAckProperties {
                    session_expiry_interval: None,
                    receive_max: Some(RECEIVE_MAXIMUM),
                    max_qos: Some(1),
                    retain_available: Some(0),
                    max_packet_size: Some(MAX_PACKET as u32),
                    assigned_client_identifier: assigned_client_id,
                    topic_alias_max: None,
                    reason_string: None,
                    user_properties: Vec::new(),
                    wildcard_subscription_available: Some(0),
                    subscription_identifiers_available: Some(0),
                    shared_subscription_available: Some(0),
                    server_keep_alive: None,
                    response_information: None,
                    server_reference: None,
                    authentication_method: None,
                    authentication_data: None,
                };
                let connack = v5::ConnAck {
                    session_present,
                    code: Code::Success,
                    properties: Some(properties),
                };
                connack.write(out).map_err(e)?;
            }
            Answer::Refused(refusal) => {
                let code = match refusal {
                    Refusal::UnsupportedVersion => Code::UnsupportedProtocolVersion,
                    Refusal::BadClientId => Code::ClientIdentifierNotValid,
                    Refusal::NotAuthorized => Code::NotAuthorized,
                    Refusal::ServerBusy => Code::ServerBusy,
                };
                let connack = v5::ConnAck {
                    session_present: false,
                    code,
                    properties: None,
                };
                connack.write(out).map_err(e)?;
            }
            Answer::SubAck { pkid, granted } => {
                let return_codes = granted
                    .into_iter()
                    .map(|g| match g {
                        Some(0) => v5::SubscribeReasonCode::Success(QoS5::AtMostOnce),
                        Some(_) => v5::SubscribeReasonCode::Success(QoS5::AtLeastOnce),
                        None => v5::SubscribeReasonCode::NotAuthorized,
                    })
                    .collect();
                let suback = v5::SubAck {
                    pkid,
                    return_codes,
                    properties: None,
                };
                suback.write(out).map_err(e)?;
            }
            Answer::UnsubAck { pkid, count } => {
                let unsuback = v5::UnsubAck {
                    pkid,
                    reasons: vec![v5::UnsubAckReason::Success; count],
                    properties: None,
                };
                unsuback.write(out).map_err(e)?;
            }
            Answer::PubAck { pkid, authorized } => {
                let reason = match authorized {
                    true => v5::PubAckReason::Success,
                    false => v5::PubAckReason::NotAuthorized,
                };
                let puback = v5::PubAck {
                    pkid,
                    reason,
                    properties: None,
                };
                puback.write(out).map_err(e)?;
            }
            Answer::PingResp => {
                v5::PingResp::write(out).map_err(e)?;
            }
            Answer::Disconnect(reason) => {
                v5::Disconnect::new(reason).write(out).map_err(e)?;
            }
        }
        Ok(())
    }
}

/// What a connection has yet to write: packets encoded in place, and each PUBLISH's payload
/// shared with every connection it goes to, not copied into each (written in one vectored write).
#[derive(Default)]
pub struct Outbound {
    /// Payloads, each behind its encoded header, and the packets encoded before them.
    chunks: VecDeque<Bytes>,
    chunks_len: usize,
    /// Packets encoded after the last payload.
    tail: BytesMut,
}

impl Outbound {
    /// Where a packet is encoded, after whatever is already queued.
    pub fn packets(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Appends a QoS 1 PUBLISH of `payload` to `topic`: fixed header, topic, packet id (MQTT 5:
    /// no properties) encoded here, then the payload itself.
    pub fn publish(&mut self, version: Version, topic: &str, pkid: u16, dup: bool, payload: &Bytes) {
        encode_publish_header(version, topic, pkid, dup, payload.len(), &mut self.tail);
        let header = self.tail.split().freeze();
        for chunk in [header, payload.clone()].into_iter().filter(|c| !c.is_empty()) {
            self.chunks_len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }
}

impl Buf for Outbound {
    fn remaining(&self) -> usize {
        self.chunks_len + self.tail.len()
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.front().map_or(&self.tail[..], |c| &c[..])
    }

    fn advance(&mut self, mut count: usize) {
        while count > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return self.tail.advance(count);
            };
            let taken = count.min(front.len());
            front.advance(taken);
            self.chunks_len -= taken;
            count -= taken;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let chunks = self.chunks.iter().map(|c| &c[..]).chain([&self.tail[..]]);
        let mut filled = 0;
        for (slot, chunk) in dst.iter_mut().zip(chunks.filter(|c| !c.is_empty())) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }
}

/// A QoS 1 PUBLISH up to its payload of `payload_len` bytes.
fn encode_publish_header(version: Version, topic: &str, pkid: u16, dup: bool, payload_len: usize, out: &mut BytesMut) {
    let properties = match version {
        Version::V311 => 0,
        Version::V5 => 1,
    };
    let remaining = 2 + topic.len() + 2 + properties + payload_len;
    out.reserve(1 + 4 + 2 + topic.len() + 2 + properties);
    out.put_u8(0b0011_0010 | (u8::from(dup) << 3));
    let mut len = remaining;
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if len == 0 {
            break;
        }
    }
    out.put_u16(topic.len() as u16);
    out.put_slice(topic.as_bytes());
    out.put_u16(pkid);
    if properties == 1 {
        out.put_u8(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handwritten_publish_reads_back_with_the_library_in_both_versions() {
        let payload = Bytes::from(vec![b'x'; 300]);
        let mut outbound = Outbound::default();
        Answer::PingResp.encode(Version::V311, outbound.packets());
        outbound.publish(Version::V311, "scaan/v1/staff/a/inbox", 7, true, &payload);
        Answer::PingResp.encode(Version::V311, outbound.packets());
        outbound.publish(Version::V5, "t", 65535, false, &payload);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(
            outbound.chunks_vectored(&mut slices),
            4,
            "each header with what came before it"
        );
        let shared = slices.iter().filter(|s| s.as_ptr() == payload.as_ptr()).count();
        assert_eq!(shared, 2, "each payload is written from the envelope's own bytes");
        let mut out = BytesMut::new();
        out.put(outbound);
        assert!(matches!(
            v4::Packet::read(&mut out, MAX_PACKET),
            Ok(v4::Packet::PingResp)
        ));
        let Ok(v4::Packet::Publish(p)) = v4::Packet::read(&mut out, MAX_PACKET) else {
            panic!("not a 3.1.1 PUBLISH");
        };
        assert_eq!(
            (p.topic.as_str(), p.pkid, p.dup, p.qos),
            ("scaan/v1/staff/a/inbox", 7, true, QoS4::AtLeastOnce)
        );
        assert_eq!(p.payload, payload);
        assert!(matches!(
            v4::Packet::read(&mut out, MAX_PACKET),
            Ok(v4::Packet::PingResp)
        ));

        let Ok(v5::Packet::Publish(p)) = v5::Packet::read(&mut out, None) else {
            panic!("not a 5 PUBLISH");
        };
        assert_eq!(
            (&p.topic[..], p.pkid, p.dup, p.qos),
            (&b"t"[..], 65535, false, QoS5::AtLeastOnce)
        );
        assert_eq!(p.payload, payload);
        assert!(out.is_empty());
    }

    #[test]
    fn a_connect_is_read_whole_and_its_version_told_apart() {
        let mut connect = v4::Connect::new("phone-1");
        connect.keep_alive = 0;
        connect.set_login("amani", "token");
        let mut buf = BytesMut::new();
        connect.write(&mut buf).unwrap();
        let whole = buf.clone();
        let mut half = BytesMut::from(&whole[..whole.len() / 2]);
        assert!(matches!(read_connect(&mut half), Ok(None)));
        let hello = read_connect(&mut buf).unwrap().unwrap();
        assert_eq!(hello.version, Version::V311);
        assert_eq!((hello.client_id.as_str(), hello.keep_alive), ("phone-1", 0));
        assert_eq!(hello.login, Some(("amani".into(), "token".into())));

        let mut v5_connect = BytesMut::new();
        v5::Connect {
            keep_alive: 30,
            client_id: "p".into(),
            clean_start: false,
            properties: None,
        }
        .write(&None, &None, &mut v5_connect)
        .unwrap();
        let hello = read_connect(&mut v5_connect).unwrap().unwrap();
        assert_eq!((hello.version, hello.clean), (Version::V5, false));

        // Level 3 (MQTT 3.1) is refused, as is anything but a CONNECT first.
        let mut old = BytesMut::from(&whole[..]);
        old[8] = 3;
        assert!(matches!(read_connect(&mut old), Err(WireError::UnsupportedVersion(3))));
        let mut ping = BytesMut::from(&[0xC0, 0][..]);
        assert!(matches!(read_connect(&mut ping), Err(WireError::NotConnect)));
    }

    #[test]
    fn an_oversized_packet_is_refused_before_its_body_arrives() {
        // A PUBLISH header announcing 1 MiB: refused on the length alone.
        let mut buf = BytesMut::from(&[0x32, 0x80, 0x80, 0x40][..]);
        assert!(matches!(read(Version::V311, &mut buf), Err(WireError::TooLarge)));
        let mut buf = BytesMut::from(&[0x32, 0x80, 0x80, 0x40][..]);
        assert!(matches!(read(Version::V5, &mut buf), Err(WireError::TooLarge)));
    }

    #[test]
    fn broker_only_packets_and_qos_2_are_not_allowed_from_a_phone() {
        let mut buf = BytesMut::new();
        v4::ConnAck::new(v4::ConnectReturnCode::Success, false)
            .write(&mut buf)
            .unwrap();
        assert!(matches!(
            read(Version::V311, &mut buf),
            Ok(Some(FromPhone::NotAllowed(_)))
        ));
        let mut buf = BytesMut::new();
        v5::UnsubAck {
            pkid: 1,
            reasons: vec![v5::UnsubAckReason::Success],
            properties: None,
        }
        .write(&mut buf)
        .unwrap();
        assert!(matches!(
            read(Version::V5, &mut buf),
            Ok(Some(FromPhone::NotAllowed(_)))
        ));
        let mut buf = BytesMut::from(&[0x62, 2, 0, 9][..]);
        assert!(matches!(
            read(Version::V311, &mut buf),
            Ok(Some(FromPhone::NotAllowed(_)))
        ));
    }
}
