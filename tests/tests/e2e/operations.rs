//! What an operations centre runs the hub with: liveness and readiness probes that tell a dead
//! hub from a missing broker, and Prometheus metrics, scraped over HTTP and read by the
//! Prometheus project's own OpenMetrics parser (`tests/scripts/parse_metrics.py`).

use crate::harness::{Backend, TestHub, PASSWORD};
use crate::mqtt::{inbox, send_alert, Phone};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);

on_both_backends!(
    metrics_move_with_deliveries_checkins_and_refused_logins,
    a_drill_is_counted_apart_from_the_live_metrics,
);

/// One sample of a scrape.
#[derive(Debug)]
pub(crate) struct Sample {
    name: String,
    labels: Value,
    value: f64,
}

/// Scrapes `/metrics` and parses it; a scrape that is not valid OpenMetrics fails the test.
pub(crate) async fn scrape(hub: &TestHub) -> Vec<Sample> {
    let address = hub.metrics.expect("metrics_listen is set");
    let response = reqwest::get(format!("http://{address}/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let mut parser = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/parse_metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    parser.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = parser.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n(pip install prometheus-client; scripts/test.sh does)\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let sample: Value = serde_json::from_str(line).unwrap();
            Sample {
                name: sample["name"].as_str().unwrap().to_owned(),
                labels: sample["labels"].clone(),
                value: sample["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample `name` whose labels include `labels`; 0 when absent.
pub(crate) fn value(samples: &[Sample], name: &str, labels: Value) -> f64 {
    let matches = |s: &&Sample| {
        s.name == name
            && labels
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| s.labels.get(k) == Some(v))
    };
    samples.iter().find(matches).map_or(0.0, |s| s.value)
}

async fn metrics_move_with_deliveries_checkins_and_refused_logins(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    // Bahati's phone is away: what the alert owes her is the outbox's backlog.
    hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    phone.subscribe(&inbox(amani.user.id)).await;
    let _console = hub.stream(&watch).await;
    let _app = hub.stream(&amani).await;

    let quiet = scrape(&hub).await;
    assert_eq!(
        value(&quiet, "scaan_envelopes_delivered_total", json!({"channel": "mqtt"})),
        0.0
    );
    assert_eq!(value(&quiet, "scaan_connections", json!({"channel": "mqtt"})), 1.0);
    assert_eq!(value(&quiet, "scaan_connections", json!({"channel": "websocket"})), 2.0);
    assert_eq!(value(&quiet, "scaan_outbox_backlog", json!({})), 0.0);

    assert!(hub.login("watch", "not the password").await.is_err());
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    phone.expect("alert").await;
    let (status, body) = hub
        .post(
            &format!("/api/v1/alerts/{}/checkins", alert["id"].as_str().unwrap()),
            &amani,
            json!({"status": "safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The phone's PUBACK and the stream's write are recorded as they come; the scrape follows
    // within moments.
    let delivered = |samples: &[Sample], channel: &str| {
        value(samples, "scaan_envelopes_delivered_total", json!({"channel": channel}))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let after = loop {
        let samples = scrape(&hub).await;
        // The receipt reaches the database a moment after the PUBACK is counted.
        let backlog = value(&samples, "scaan_outbox_backlog", json!({}));
        if delivered(&samples, "mqtt") >= 1.0 && delivered(&samples, "websocket") >= 1.0 && backlog <= 1.0 {
            break samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery counted: {samples:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mqtt = json!({"channel": "mqtt"});
    assert_eq!(delivered(&after, "mqtt"), 1.0);
    assert_eq!(
        delivered(&after, "websocket"),
        1.0,
        "the alert reached amani's stream once"
    );
    assert_eq!(value(&after, "scaan_delivery_latency_seconds_count", mqtt.clone()), 1.0);
    let latency = value(&after, "scaan_delivery_latency_seconds_sum", mqtt.clone());
    assert!(latency > 0.0 && latency < 5.0, "{latency}");
    assert_eq!(
        value(
            &after,
            "scaan_delivery_latency_seconds_bucket",
            json!({"channel": "mqtt", "le": "+Inf"})
        ),
        1.0
    );
    assert_eq!(value(&after, "scaan_checkin_commit_seconds_count", json!({})), 1.0);
    assert_eq!(
        value(
            &after,
            "scaan_failed_logins_total",
            json!({"reason": "wrong_credentials"})
        ),
        1.0
    );
    assert_eq!(
        value(&after, "scaan_outbox_backlog", json!({})),
        1.0,
        "bahati's copy is owed"
    );
    assert_eq!(value(&after, "scaan_escalation_waves_total", json!({})), 0.0);
    phone.disconnect().await;
    hub.stop().await;
}

/// Everything a drill moves — its deliveries to the phone and the app, their latency, the
/// check-in's commit, the second wave — is labelled `status="exercise"`, and the live
/// (`actual`) series stay where they were until a real alert moves them.
async fn a_drill_is_counted_apart_from_the_live_metrics(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| c.metrics_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    // Bahati never answers: the drill's second wave goes to her.
    hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    phone.subscribe(&inbox(amani.user.id)).await;
    let _app = hub.stream(&amani).await;

    let mut drill = crate::harness::circle_alert("Evacuation drill", BENI.0, BENI.1, 5000.0);
    drill["status"] = json!("exercise");
    let (status, drill) = hub.post("/api/v1/alerts", &watch, drill).await;
    assert_eq!(status, StatusCode::CREATED, "{drill}");
    assert_eq!(phone.expect("alert").await["alert"]["status"], "exercise");
    let (status, body) = hub
        .post(
            &format!("/api/v1/alerts/{}/checkins", drill["id"].as_str().unwrap()),
            &amani,
            json!({"status": "safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after_deadline = chrono::Utc::now() + chrono::Duration::seconds(1800 + 1);
    hub.app.headcounts.escalate_due(after_deadline).await.unwrap();

    let of = |status: &'static str| {
        move |samples: &[Sample], name: &str, labels: Value| {
            let mut labels = labels;
            labels["status"] = json!(status);
            value(samples, name, labels)
        }
    };
    let (exercise, actual) = (of("exercise"), of("actual"));
    let delivered = "scaan_envelopes_delivered_total";
    let (mqtt, websocket) = (json!({"channel": "mqtt"}), json!({"channel": "websocket"}));
    let counted = |samples: &[Sample], figure: &dyn Fn(&[Sample], &str, Value) -> f64| {
        (
            figure(samples, delivered, mqtt.clone()),
            figure(samples, delivered, websocket.clone()),
            figure(samples, "scaan_delivery_latency_seconds_count", mqtt.clone()),
            figure(samples, "scaan_checkin_commit_seconds_count", json!({})),
            figure(samples, "scaan_escalation_waves_total", json!({})),
        )
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let drilled = loop {
        let samples = scrape(&hub).await;
        if counted(&samples, &exercise) == (1.0, 1.0, 1.0, 1.0, 1.0) {
            break samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the drill is not counted as an exercise: {samples:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        counted(&drilled, &actual),
        (0.0, 0.0, 0.0, 0.0, 0.0),
        "the drill moved a live figure"
    );

    // A real alert moves the live series, and the drill's stay as they were.
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    assert_eq!(phone.expect("alert").await["alert"]["id"], alert["id"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let samples = scrape(&hub).await;
        let live = counted(&samples, &actual);
        if live.0 == 1.0 && live.1 == 1.0 {
            assert_eq!(counted(&samples, &exercise), (1.0, 1.0, 1.0, 1.0, 1.0));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the real alert is not counted live: {samples:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    phone.disconnect().await;
    hub.stop().await;
}

/// A liveness probe that restarted the hub whenever its broker was away would not bring the
/// broker back: `/livez` answers as long as the process serves, `/readyz` (and the contract's
/// `/healthz`) only while the database and the broker link are up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_holds_while_readiness_waits_for_the_broker() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = nobody.local_addr().unwrap();
    drop(nobody);
    let hub = TestHub::start_configured(Backend::Sqlite, |c| {
        c.mqtt_url = Some(format!("mqtt://hub:{PASSWORD}@{closed}"));
    })
    .await;
    let (live, _) = hub.call("GET", "/livez", None, None).await;
    assert_eq!(live, StatusCode::OK);
    for probe in ["/readyz", "/healthz"] {
        let (status, body) = hub.call("GET", probe, None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{probe}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
    }
    hub.stop().await;

    let hub = TestHub::start(Backend::Sqlite).await;
    for probe in ["/livez", "/readyz", "/healthz"] {
        assert_eq!(hub.call("GET", probe, None, None).await.0, StatusCode::OK, "{probe}");
    }
    hub.stop().await;
}

/// PostgreSQL's backups are its own tools' (`deploy/README.md`): a `pg_dump` of a serving hub's
/// database, restored with `pg_restore` into a new one, serves the same accounts and alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_dump_restored_with_pg_restore_serves() {
    let Some(backend) = Backend::postgres() else { return };
    let Backend::Postgres(server) = &backend else {
        unreachable!()
    };
    let hub = TestHub::start(backend.clone()).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let source = hub.config.database_url.clone().unwrap();
    let dump = tempfile::tempdir().unwrap();
    let file = dump.path().join("scaan.dump");
    let out = Command::new("pg_dump")
        .args(["-Fc", "-f", file.to_str().unwrap(), &source])
        .output()
        .expect("pg_dump runs (postgresql-client)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let restored = {
        use sqlx::Connection;
        let name = format!("scaan_restored_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    };
    let out = Command::new("pg_restore")
        .args(["--no-owner", "-d", &restored, file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    hub.stop().await;

    // The restored database is the new hub's; stopping it drops it.
    let hub = TestHub::start_configured(backend, |c| c.database_url = Some(restored)).await;
    let token = hub.login("watch", PASSWORD).await.expect("the account came back");
    let (status, body) = hub
        .call(
            "GET",
            &format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, &body["headline"]),
        (StatusCode::OK, &alert["headline"]),
        "{body}"
    );
    hub.stop().await;
}
