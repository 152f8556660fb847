//! End-to-end tests: the real hub on `127.0.0.1:0`, driven by real HTTP and WebSocket clients,
//! on both storage backends. One binary, so the hub's code is compiled once for all of them.

mod accounts;
mod advisories;
mod alerts;
mod answers;
mod bad_input;
mod browser;
mod cap_import;
mod console;
mod console_actions;
mod console_drills;
mod console_journeys;
mod console_map;
mod console_views;
mod drills;
mod external_broker;
mod follow_ups;
mod harness;
mod headcounts;
mod journeys;
#[path = "../../common/kannel.rs"]
mod kannel;
mod lifecycle;
mod mqtt;
mod nats_broker;
mod operations;
mod privacy;
mod reports;
mod sms;
mod sos;
mod stream;
mod time_to_account;
mod trips;
mod warnings;
