//! What the watch team graphs: Prometheus metrics on a listener of their own (`metrics_listen`),
//! so that a scrape never competes with the console's port and the endpoint is never exposed
//! where the API is.
//!
//! prometheus-client is the Prometheus project's own Rust client: a registry with no global
//! state, cheap clonable handles (each domain records to the handles it is given), and the
//! OpenMetrics text format, with two small dependencies.
//!
//! Counters and histograms are recorded where things happen. Gauges of state (connections,
//! the outbox backlog) are read at scrape time from their owners, so they cannot drift.
//!
//! A drill never mixes with live figures: what concerns an alert (its deliveries, check-ins,
//! second waves, texts) carries the label `status`, the alert's CAP status (`actual`,
//! `exercise` or `test`); what concerns no alert (an SOS's or a journey's envelopes) is
//! `actual`.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use scaan_schemas::Status;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::hub::Hub;

type ChannelLabel = [(&'static str, &'static str); 1];
/// The CAP status of the alert a figure concerns (see the module).
pub type StatusLabel = [(&'static str, &'static str); 1];
/// A delivery's channel and status.
type DeliveryLabels = [(&'static str, &'static str); 2];

pub const MQTT: &str = "mqtt";
pub const WEBSOCKET: &str = "websocket";

/// The label of figures about an alert of this status.
pub fn status_label(status: Status) -> StatusLabel {
    [("status", status.as_str())]
}

/// Every metric the hub exports, and the registry that names them.
pub struct Metrics {
    registry: Registry,
    connections: Family<ChannelLabel, Gauge>,
    outbox_backlog: Gauge,
    texts_waiting: Gauge,
    /// Envelopes acknowledged by their recipient's device, by channel and status.
    delivered: Family<DeliveryLabels, Counter>,
    /// Envelopes an external broker acknowledged (its PUBACK, not yet the phone's).
    pub broker_accepted: Family<StatusLabel, Counter>,
    /// From an envelope leaving the fan-out to a phone's PUBACK, for live deliveries.
    delivery_latency: Family<DeliveryLabels, Histogram>,
    /// When each envelope left the fan-out, and its status.
    pub dispatched: DispatchTimes,
    /// From a check-in reaching the group-commit writer to its commit.
    pub checkin_commit: Family<StatusLabel, Histogram>,
    /// Second waves sent at a headcount's deadline.
    pub escalation_waves: Family<StatusLabel, Counter>,
    /// Logins refused for a wrong username or password.
    pub failed_logins: Counter,
    /// Logins refused because the client was over its limit.
    pub throttled_logins: Counter,
    /// Texts handed to the SMS gateway.
    pub texts_handed: Family<StatusLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scaan");
        let connections = Family::<ChannelLabel, Gauge>::default();
        registry.register(
            "connections",
            "Connected clients by channel (websocket: the app's and console's streams; mqtt: phones on the hub's endpoint)",
            connections.clone(),
        );
        let outbox_backlog = Gauge::default();
        registry.register(
            "outbox_backlog",
            "Inbox messages owed to phones: stored, not yet acknowledged by a device or the external broker (last 7 days)",
            outbox_backlog.clone(),
        );
        let delivered = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "envelopes_delivered",
            "Envelopes acknowledged by their recipient's device (mqtt: the phone's PUBACK; websocket: an alert's completed write to a recipient's stream)",
            delivered.clone(),
        );
        let broker_accepted = Family::<StatusLabel, Counter>::default();
        registry.register(
            "envelopes_broker_accepted",
            "Envelopes acknowledged by the external MQTT broker",
            broker_accepted.clone(),
        );
        let latency = Family::<DeliveryLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        registry.register(
            "delivery_latency_seconds",
            "From an envelope leaving the fan-out to its recipient's device acknowledging it",
            latency.clone(),
        );
        let checkin_commit =
            Family::<StatusLabel, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        registry.register(
            "checkin_commit_seconds",
            "From a check-in reaching the writer to its durable commit",
            checkin_commit.clone(),
        );
        let escalation_waves = Family::<StatusLabel, Counter>::default();
        registry.register(
            "escalation_waves",
            "Second waves sent to the silent at a headcount's deadline",
            escalation_waves.clone(),
        );
        let texts_handed = Family::<StatusLabel, Counter>::default();
        registry.register(
            "sms_texts_handed",
            "Texts (SMS fallback) handed to the SMS gateway",
            texts_handed.clone(),
        );
        let texts_waiting = Gauge::default();
        registry.register(
            "sms_texts_waiting",
            "Texts (SMS fallback) owed and not yet handed to the gateway: grows while it is down or the per-minute ceiling holds them",
            texts_waiting.clone(),
        );
        let logins = Family::<[(&'static str, &'static str); 1], Counter>::default();
        registry.register("failed_logins", "Refused logins, by reason", logins.clone());
        // The live series are there from the start, at zero (the guards are only read locks).
        let actual = status_label(Status::Actual);
        for channel in [MQTT, WEBSOCKET] {
            let _ = delivered.get_or_create(&[("channel", channel), actual[0]]);
        }
        let _ = latency.get_or_create(&[("channel", MQTT), actual[0]]);
        for family in [&broker_accepted, &escalation_waves, &texts_handed] {
            let _ = family.get_or_create(&actual);
        }
        let _ = checkin_commit.get_or_create(&actual);
        let failed_logins = logins.get_or_create(&[("reason", "wrong_credentials")]).clone();
        let throttled_logins = logins.get_or_create(&[("reason", "throttled")]).clone();
        Metrics {
            delivered,
            delivery_latency: latency,
            failed_logins,
            throttled_logins,
            registry,
            connections,
            outbox_backlog,
            texts_waiting,
            broker_accepted,
            dispatched: DispatchTimes::default(),
            checkin_commit,
            escalation_waves,
            texts_handed,
        }
    }
}

/// 1 ms to about 65 s, doubling.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    /// Envelopes of this status acknowledged on `channel` ([`MQTT`] or [`WEBSOCKET`]).
    pub fn delivered(&self, channel: &'static str, status: Status) -> Counter {
        self.delivered
            .get_or_create(&[("channel", channel), ("status", status.as_str())])
            .clone()
    }

    /// From an envelope of this status leaving the fan-out to its acknowledgement on `channel`.
    pub fn delivery_latency(&self, channel: &'static str, status: Status) -> Histogram {
        self.delivery_latency
            .get_or_create(&[("channel", channel), ("status", status.as_str())])
            .clone()
    }

    /// The OpenMetrics text of every metric, with the gauges of state read now.
    pub async fn render(&self, hub: &Hub) -> String {
        self.connections
            .get_or_create(&[("channel", "websocket")])
            .set(hub.delivery.connections() as i64);
        if let Some(phones) = hub.mqtt.endpoint_connections() {
            self.connections
                .get_or_create(&[("channel", "mqtt")])
                .set(phones as i64);
        }
        match hub
            .store
            .outbox_backlog(chrono::Utc::now() - chrono::Duration::days(7))
            .await
        {
            Ok(backlog) => {
                self.outbox_backlog.set(backlog);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count the outbox backlog"),
        }
        match hub.store.texts_waiting().await {
            Ok(waiting) => {
                self.texts_waiting.set(waiting as i64);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count the texts waiting"),
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// When each envelope left the fan-out and the status of the alert it concerns, kept for a
/// while so a phone's PUBACK can be timed and counted apart. One entry per envelope (not per
/// recipient), dropped after [`DispatchTimes::KEPT`]; only within [`DispatchTimes::LIVE`] is
/// its time a delivery's latency (later, a phone that was away took it). An envelope no longer
/// known (acknowledged a day later, or across a restart) counts as `actual`: the hub cannot
/// tell, and an undercount of live deliveries would hide a fault.
#[derive(Default)]
pub struct DispatchTimes {
    times: Mutex<HashMap<Uuid, (Instant, Status)>>,
}

/// What is known of an envelope's dispatch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dispatch {
    /// When it left the fan-out, if in the last day.
    pub at: Option<Instant>,
    pub status: Status,
}

impl Dispatch {
    /// From leaving the fan-out to `delivered`, if that is recent enough to be a delivery's
    /// latency (not a phone back after a long time away).
    pub fn latency(&self, delivered: Instant) -> Option<Duration> {
        let latency = delivered.saturating_duration_since(self.at?);
        (latency < DispatchTimes::LIVE).then_some(latency)
    }
}

impl DispatchTimes {
    const KEPT: Duration = Duration::from_secs(24 * 3600);
    const LIVE: Duration = Duration::from_secs(600);

    pub fn dispatched(&self, envelope: Uuid, status: Status) {
        let now = Instant::now();
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.retain(|_, (at, _)| now.duration_since(*at) < Self::KEPT);
        times.insert(envelope, (now, status));
    }

    /// What is known of the envelope's dispatch.
    pub fn of(&self, envelope: Uuid) -> Dispatch {
        let times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        match times.get(&envelope) {
            Some((at, status)) => Dispatch {
                at: Some(*at),
                status: *status,
            },
            None => Dispatch {
                at: None,
                status: Status::Actual,
            },
        }
    }
}

/// Binds the metrics listener, when one is configured (port 0 resolved by the caller's
/// `local_addr`).
pub async fn bind(listen: Option<SocketAddr>) -> anyhow::Result<Option<TcpListener>> {
    let Some(listen) = listen else { return Ok(None) };
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen} for metrics (metrics_listen): {e}"))?;
    Ok(Some(listener))
}

/// Serves `GET /metrics` until the hub stops.
pub async fn serve(hub: Arc<Hub>, listener: TcpListener) {
    let router = Router::new().route("/metrics", get(scrape)).with_state(hub.clone());
    let stop = hub.shutdown.clone();
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
    {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}

async fn scrape(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        hub.metrics.render(&hub).await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dispatch_is_found_by_its_envelope_with_its_status_and_a_late_delivery_has_no_latency() {
        let times = DispatchTimes::default();
        let (sent, drill, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        times.dispatched(sent, Status::Actual);
        times.dispatched(drill, Status::Exercise);
        let of = times.of(sent);
        let now = Instant::now();
        assert!(of.latency(now).is_some_and(|d| d < Duration::from_secs(1)));
        assert_eq!(
            of.latency(now + DispatchTimes::LIVE),
            None,
            "a phone back after long away"
        );
        assert_eq!(of.status, Status::Actual);
        assert_eq!(times.of(drill).status, Status::Exercise);
        assert_eq!(
            times.of(other),
            Dispatch {
                at: None,
                status: Status::Actual
            }
        );
        assert_eq!(times.of(other).latency(now), None);
    }
}
