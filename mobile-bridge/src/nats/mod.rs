//! An external NATS server (2.9 or later, MQTT enabled, operator mode) as the phones' broker:
//! the hub holds the keys ([`keys`]), signs each login a bearer user JWT that is its MQTT
//! password ([`jwt`]), and revokes a login by pushing the account JWT with its revocations to
//! the server ([`system`]). A login costs one signature, whatever the number of people: the
//! broker keeps no per-person state beyond the revocation list.

pub mod jwt;
pub mod keys;
pub mod system;

pub use keys::{login_key, Keys};
pub use system::SystemConnection;
