//! Everything MQTT between the hub and the phones.
//!
//! - [`endpoint`]: the hub's own MQTT endpoint (3.1.1 and 5). Phones connect to the hub
//!   itself, one socket each; their inbox is the hub's durable outbox, asked through
//!   [`endpoint::PhoneHub`].
//! - [`topics`]: the contract's topic names and who may use which (a person subscribes only to
//!   their own inbox and publishes only to their own phone → hub topics).
//! - [`link`]: the hub's connection to an external broker (`--mqtt-url`), for sites that run
//!   one; [`dynsec`] provisions an external Mosquitto's dynamic-security plugin with the same
//!   topic rules; [`nats`] signs the credentials of an external NATS server, which needs no
//!   provisioning per person.
//! - [`per_address`]: connections from one address, bounded (the endpoint's handshakes, the
//!   hub's HTTP connections).
//! - [`phone`]: the phone simulator (`scaan phone`); [`fixtures`] (feature `fixtures`) starts a
//!   real Mosquitto for tests and benchmarks.

mod broker_url;
pub mod dynsec;
pub mod endpoint;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod link;
pub mod nats;
pub mod per_address;
pub mod phone;
pub mod topics;

pub use broker_url::BrokerUrl;
pub use link::{HubLink, Inbound, LinkChannels, LinkOptions, LinkState, Outbound};
