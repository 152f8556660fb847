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
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::hub::Hub;

type ChannelLabel = [(&'static str, &'static str); 1];

/// Every metric the hub exports, and the registry that names them.
pub struct Metrics {
    registry: Registry,
    connections: Family<ChannelLabel, Gauge>,
    outbox_backlog: Gauge,
    texts_waiting: Gauge,
    /// Envelopes a phone acknowledged (MQTT PUBACK).
    pub delivered_mqtt: Counter,
    /// Alerts whose write to a recipient's stream completed (first per alert and person).
    pub delivered_websocket: Counter,
    /// Envelopes an external broker acknowledged (its PUBACK, not yet the phone's).
    pub broker_accepted: Counter,
    /// From an envelope leaving the fan-out to a phone's PUBACK, for live deliveries.
    pub delivery_latency_mqtt: Histogram,
    /// When each envelope left the fan-out, for [`Self::delivery_latency_mqtt`].
    pub dispatched: DispatchTimes,
    /// From a check-in reaching the group-commit writer to its commit.
    pub checkin_commit: Histogram,
    /// Second waves sent at a headcount's deadline.
    pub escalation_waves: Counter,
    /// Logins refused for a wrong username or password.
    pub failed_logins: Counter,
    /// Logins refused because the client was over its limit.
    pub throttled_logins: Counter,
    /// Texts handed to the SMS gateway.
    pub texts_handed: Counter,
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
        let delivered = Family::<ChannelLabel, Counter>::default();
        registry.register(
            "envelopes_delivered",
            "Envelopes acknowledged by their recipient's device (mqtt: the phone's PUBACK; websocket: an alert's completed write to a recipient's stream)",
            delivered.clone(),
        );
        let broker_accepted = Counter::default();
        registry.register(
            "envelopes_broker_accepted",
            "Envelopes acknowledged by the external MQTT broker",
            broker_accepted.clone(),
        );
        let latency = Family::<ChannelLabel, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        registry.register(
            "delivery_latency_seconds",
            "From an envelope leaving the fan-out to its recipient's device acknowledging it",
            latency.clone(),
        );
        let checkin_commit = seconds_histogram();
        registry.register(
            "checkin_commit_seconds",
            "From a check-in reaching the writer to its durable commit",
            checkin_commit.clone(),
        );
        let escalation_waves = Counter::default();
        registry.register(
            "escalation_waves",
            "Second waves sent to the silent at a headcount's deadline",
            escalation_waves.clone(),
        );
        let texts_handed = Counter::default();
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
        let mqtt = [("channel", "mqtt")];
        let delivered_mqtt = delivered.get_or_create(&mqtt).clone();
        let delivered_websocket = delivered.get_or_create(&[("channel", "websocket")]).clone();
        let delivery_latency_mqtt = latency.get_or_create(&mqtt).clone();
        let failed_logins = logins.get_or_create(&[("reason", "wrong_credentials")]).clone();
        let throttled_logins = logins.get_or_create(&[("reason", "throttled")]).clone();
        Metrics {
            delivered_mqtt,
            delivered_websocket,
            delivery_latency_mqtt,
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

/// When each envelope left the fan-out, kept for a while so a phone's PUBACK can be timed.
/// One entry per envelope (not per recipient), dropped after [`DispatchTimes::KEPT`]: an
/// envelope delivered later (a phone that was away) is not a live delivery's latency.
#[derive(Default)]
pub struct DispatchTimes {
    times: Mutex<HashMap<Uuid, Instant>>,
}

impl DispatchTimes {
    const KEPT: Duration = Duration::from_secs(600);

    pub fn dispatched(&self, envelope: Uuid) {
        let now = Instant::now();
        let mut times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.retain(|_, at| now.duration_since(*at) < Self::KEPT);
        times.insert(envelope, now);
    }

    /// How long ago the envelope left the fan-out, if that is still known.
    pub fn since(&self, envelope: Uuid) -> Option<Duration> {
        let times = self.times.lock().unwrap_or_else(|e| e.into_inner());
        times.get(&envelope).map(Instant::elapsed)
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
    fn a_dispatch_time_is_found_by_its_envelope() {
        let times = DispatchTimes::default();
        let (sent, other) = (Uuid::new_v4(), Uuid::new_v4());
        times.dispatched(sent);
        assert!(times.since(sent).is_some_and(|d| d < Duration::from_secs(1)));
        assert!(times.since(other).is_none());
    }
}
