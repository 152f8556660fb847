//! The SCAAN hub as a library: [`App::build`] makes a hub from its configuration and
//! [`App::serve`] runs it on a listener until a shutdown token fires. The `scaan` binary only
//! parses the command line; the tests run this same code on `127.0.0.1:0`.

pub mod accounts;
pub mod advisories;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod config;
pub mod console;
pub mod countries;
pub mod delivery;
pub mod error;
pub mod headcounts;
pub mod http;
pub mod hub;
pub mod journeys;
pub mod lifecycle;
pub mod metrics;
pub mod mqtt;
pub mod nodes;
pub mod positions;
pub mod privacy;
pub mod reports;
pub mod sms;
pub mod sos;
pub mod storage;
pub mod targeting;
#[cfg(test)]
mod testing;
pub mod time_zones;
pub mod trips;
pub mod warnings;

pub use config::{Config, Overrides};
pub use http::App;
pub use hub::Hub;
