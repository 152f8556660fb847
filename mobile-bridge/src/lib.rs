//! Everything MQTT between the hub and the phones.
//!
//! This crate owns the embedded broker ([`EmbeddedBroker`]): who may connect (username + hub
//! token, asked of the hub through [`Authenticator`]) and which topics each connection may use
//! ([`topics`]: a person subscribes only to their own inbox and publishes only to their own
//! phone → hub topics). The same rules on an external Mosquitto are kept by [`dynsec`], which
//! provisions its dynamic-security plugin from the hub's logins. [`phone`] is the phone
//! simulator (`scaan phone`), and [`fixtures`] (feature `fixtures`) starts a real Mosquitto for
//! tests and benchmarks.
//!
//! # Why rumqttd behind a gate
//!
//! rumqttd 0.20 authenticates a CONNECT but has no per-topic authorisation. Rather than write a
//! broker, the embedded broker is rumqttd, on its own threads and on two internal loopback
//! ports (rumqttd serves MQTT 3.1.1 and 5 on separate listeners), fronted by a small MQTT-aware
//! gate on the phone-facing port. The gate
//! - authenticates the CONNECT itself (refusing with CONNACK "not authorised", as Mosquitto does)
//!   and checks its will topic;
//! - namespaces the client id by user, so nobody can take over another person's persistent
//!   session, and replaces the credentials by the gate's own secret, which is the only login
//!   the internal rumqttd accepts;
//! - checks every SUBSCRIBE (all its filters, or it is refused whole) and PUBLISH (including
//!   MQTT 5 topic aliases) and answers a refused one itself: a SUBACK failure (3.1.1 `0x80`,
//!   5 `0x87`); for a PUBLISH, MQTT 5 gets a PUBACK/PUBREC `0x87` (QoS 0 is dropped) and
//!   MQTT 3.1.1, which has no refusal code, is disconnected;
//! - forwards every other packet byte for byte, both ways.
//!
//! Sessions, QoS 1 retries and the offline queues of persistent sessions stay rumqttd's, which
//! is the part of a broker worth not rewriting. The gate parses with rumqttd's own codec, so it
//! sees exactly the topic rumqttd will act on. The hub connects through the same gate with
//! [`EmbeddedBroker::hub_credentials`], like any client, so an external broker (`--mqtt-url`)
//! is reached by the same code.
//!
//! The hub's side of that connection is [`link`]: one persistent rumqttc session that
//! publishes to inboxes, reads the phone → hub topics and reports which messages the broker
//! accepted.

mod broker;
mod broker_url;
pub mod dynsec;
#[cfg(feature = "fixtures")]
pub mod fixtures;
mod gate;
pub mod link;
pub mod phone;
pub mod topics;

pub use broker::EmbeddedBroker;
pub use broker_url::BrokerUrl;
pub use link::{HubLink, Inbound, LinkChannels, LinkOptions, LinkState, Outbound};

use std::future::Future;
use uuid::Uuid;

/// What the broker asks the hub: whose account a (username, password) pair opens.
pub trait Authenticator: Send + Sync + 'static {
    /// The account's id, or `None` to refuse the connection (unknown user, bad, expired or
    /// revoked token). Asked once per CONNECT: a connection already open is not re-checked.
    fn authenticate(&self, username: &str, password: &[u8]) -> impl Future<Output = Option<Uuid>> + Send;
}
