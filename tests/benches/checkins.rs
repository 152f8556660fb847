//! A headcount under load: 10,000 staff targeted by an alert answer, half over the WebSocket
//! stream and half over MQTT (with `SCAAN_TEST_MOSQUITTO` set: the hub then uses that Mosquitto
//! as its external broker; without it, everyone answers over the stream and the run says so).
//! An MQTT phone's acknowledgement is the `checkin_ack` envelope on its inbox, which the hub
//! sends once the check-in is stored. Two rounds, each on its own alert:
//! - `spread`: everyone answers within one second (evenly spread), as the issue describes;
//!   reports acknowledgement latency and how long after the last acknowledgement an officer's
//!   stream shows the final counts;
//! - `burst`: everyone answers in the same instant; reports durable check-ins per second, the
//!   hub's throughput when the queue never empties.
//!
//! Both rounds include the 10,000 client streams, which share the machine's two cores with the
//! hub. Last, the storage alone: the same 10,000 check-ins handed straight to the group-commit
//! writer (`store_checkins_per_s`), what the database path can take when no client competes.
//!
//! `SCAAN_TEST_MOSQUITTO=1 cargo bench -p scaan-tests --bench checkins` — SQLite (`synchronous=FULL`); with
//! `SCAAN_BENCH_POSTGRES_URL` set (a server URL whose user may create databases), PostgreSQL
//! too. `SCAAN_BENCH_STAFF` changes the number of staff. Prints one JSON line last.

mod support;

use futures_util::{SinkExt, StreamExt};
use scaan_mobile_bridge::fixtures::{Access, Mosquitto};
use scaan_mobile_bridge::phone::{BrokerUrl, Phone, PhoneOptions};
use scaan_mobile_bridge::topics::PhoneTopic;
use scaan_schemas::{Channel, Checkin, CheckinStatus, Role, Status, Via};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

use support::Socket;

#[tokio::main]
async fn main() {
    // The staff's phones run in a child process: 10,000 streams are 20,000 sockets, more than
    // one process may open here.
    if let Ok(job) = std::env::var("SCAAN_BENCH_PHONES") {
        let job: Value = serde_json::from_str(&std::fs::read_to_string(job).unwrap()).unwrap();
        println!("{}", phones(job).await);
        return;
    }
    let staff: usize = std::env::var("SCAAN_BENCH_STAFF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // Mosquitto without access control: this measures the hub's check-in path, not logins.
    let broker = Mosquitto::from_env_with(Access::Open).await;
    let broker_url = broker.as_ref().map(Mosquitto::url);
    let mut results = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    results.push(
        run(
            "sqlite",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            staff,
            broker_url.clone(),
        )
        .await,
    );
    if let Ok(server) = std::env::var("SCAAN_BENCH_POSTGRES_URL") {
        let url = support::fresh_postgres(&server).await;
        results.push(run("postgres", url.clone(), staff, broker_url.clone()).await);
        support::drop_postgres(&server, &url).await;
    } else {
        eprintln!("PostgreSQL skipped: set SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
    }
    println!(
        "{}",
        json!({"bench": "checkins", "channels": if broker_url.is_some() { "websocket+mqtt" } else { "websocket" }, "results": results})
    );
}

async fn run(backend: &str, database_url: String, staff: usize, broker_url: Option<String>) -> Value {
    let bench = support::BenchHub::start(database_url, broker_url.clone()).await;
    let started = Instant::now();
    let officer = bench.account("watch".into(), Role::WatchOfficer, 0).await;
    let (ids, tokens): (Vec<uuid::Uuid>, Vec<String>) =
        bench.staff(staff).await.into_iter().map(|a| (a.id, a.token)).unzip();
    eprintln!(
        "{backend}: {staff} accounts in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut alerts = Vec::new();
    for round in ["spread", "burst"] {
        let alert: Value = reqwest::Client::new()
            .post(format!("{}/api/v1/alerts", bench.base))
            .bearer_auth(&officer.token)
            .json(&support::alert(&format!("Clashes ({round})"), true))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(alert["recipients"], staff, "every bench account is targeted: {alert}");
        alerts.push(alert["id"].as_str().unwrap().to_owned());
    }

    let job = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        job.path(),
        json!({"base": bench.base, "alerts": alerts, "officer": officer.token, "tokens": tokens, "ids": ids, "broker": broker_url})
            .to_string(),
    )
    .unwrap();
    let out = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env("SCAAN_BENCH_PHONES", job.path())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "the phones failed");
    let mut result: Value = serde_json::from_slice(&out.stdout).unwrap();
    result["backend"] = json!(backend);
    let alert_id: uuid::Uuid = alerts[1].parse().unwrap();
    result["store_checkins_per_s"] = json!(store_rate(&bench.hub, alert_id, officer.id, &ids).await.round());
    eprintln!("{result}");
    bench.stop().await;
    result
}

/// Everyone answers again, by an officer's hand, straight into the group-commit writer: the
/// durable check-ins per second of the storage path alone.
async fn store_rate(
    hub: &Arc<scaan_server::Hub>,
    alert_id: uuid::Uuid,
    officer: uuid::Uuid,
    staff: &[uuid::Uuid],
) -> f64 {
    let started = Instant::now();
    let writes = staff.iter().map(|&staff_id| {
        let writer = hub.checkins.clone();
        tokio::spawn(async move {
            let checkin = Checkin {
                id: uuid::Uuid::new_v4(),
                alert_id,
                staff_id,
                status: CheckinStatus::Safe,
                via: Via::Radio,
                position: None,
                note: None,
                recorded_by: officer,
                recorded_at: chrono::Utc::now(),
                channel: Channel::Proxy,
            };
            writer.write(checkin, Status::Actual).await.unwrap();
        })
    });
    for write in futures_util::future::join_all(writes).await {
        write.unwrap();
    }
    staff.len() as f64 / started.elapsed().as_secs_f64()
}

/// The phones' side: connect every phone (every other one over MQTT when there is a broker),
/// then answer one alert spread over a second and the other all at once.
async fn phones(job: Value) -> Value {
    let base = job["base"].as_str().unwrap().to_owned();
    let alerts: Vec<String> = serde_json::from_value(job["alerts"].clone()).unwrap();
    let officer = job["officer"].as_str().unwrap().to_owned();
    let tokens: Vec<String> = serde_json::from_value(job["tokens"].clone()).unwrap();
    let ids: Vec<uuid::Uuid> = serde_json::from_value(job["ids"].clone()).unwrap();
    let broker: Option<BrokerUrl> = job["broker"].as_str().map(|url| url.parse().unwrap());
    let staff = tokens.len();
    let started = Instant::now();
    let mut handsets = Vec::with_capacity(staff);
    for chunk in (0..staff).collect::<Vec<_>>().chunks(256) {
        let opened = chunk.iter().map(|&i| {
            let (base, token, id, broker) = (&base, &tokens[i], ids[i], broker.clone());
            async move {
                match broker {
                    Some(broker) if i % 2 == 1 => {
                        let options = PhoneOptions::persistent(broker, &format!("staff{i}"), token, id);
                        let mut phone = Phone::connect(options).await.expect("the phone connects");
                        phone.subscribe_inbox().await.expect("the phone subscribes");
                        Handset::Mqtt(Box::new(phone))
                    }
                    _ => Handset::Stream(Box::new(support::stream(base, token).await)),
                }
            }
        });
        handsets.extend(futures_util::future::join_all(opened).await);
    }
    let watch = support::stream(&base, &officer).await;
    let on_mqtt = handsets.iter().filter(|h| matches!(h, Handset::Mqtt(_))).count();
    eprintln!(
        "{staff} phones connected in {:.1} s ({on_mqtt} over MQTT)",
        started.elapsed().as_secs_f64()
    );

    let (handsets, watch, spread) = round(handsets, watch, &alerts[0], Duration::from_secs(1)).await;
    let (_, _, burst) = round(handsets, watch, &alerts[1], Duration::ZERO).await;
    json!({
        "staff": staff,
        "over_mqtt": on_mqtt,
        "durable_checkins_per_s": (staff as f64 / burst.span_s).round(),
        "burst_s": (burst.span_s * 1e3).round() / 1e3,
        "burst_ack_p50_ms": burst.all.0,
        "burst_ack_p99_ms": burst.all.1,
        "ack_p50_ms": spread.all.0,
        "ack_p99_ms": spread.all.1,
        "websocket_ack_p50_ms": spread.stream.0,
        "websocket_ack_p99_ms": spread.stream.1,
        "mqtt_ack_p50_ms": spread.mqtt.0,
        "mqtt_ack_p99_ms": spread.mqtt.1,
        "final_counts_after_last_ack_ms": spread.final_after_ms,
    })
}

/// One staff member's phone: on the stream, or on MQTT.
enum Handset {
    Stream(Box<Socket>),
    Mqtt(Box<Phone>),
}

impl Handset {
    /// Answers `alert_id` and waits for the hub's acknowledgement (sent once stored).
    async fn answer(&mut self, alert_id: &str, status: &str, i: usize) {
        match self {
            Handset::Stream(socket) => {
                let message = json!({"type": "checkin", "alert_id": alert_id, "status": status, "ref": i.to_string()});
                socket.send(Message::Text(message.to_string())).await.unwrap();
                while let Some(Ok(frame)) = socket.next().await {
                    if let Message::Text(text) = frame {
                        if is_ack(&serde_json::from_str(&text).unwrap(), alert_id) {
                            return;
                        }
                    }
                }
                panic!("stream closed before the acknowledgement");
            }
            Handset::Mqtt(phone) => {
                let body = json!({"alert_id": alert_id, "status": status, "ref": i.to_string()});
                phone
                    .publish(PhoneTopic::Checkin, body.to_string().into_bytes())
                    .await
                    .unwrap();
                loop {
                    let received = phone.next_envelope().await.expect("the inbox stays open");
                    if is_ack(&serde_json::from_slice(&received.payload).unwrap(), alert_id) {
                        return;
                    }
                }
            }
        }
    }
}

/// Whether `envelope` acknowledges the check-in for `alert_id`; a refusal ends the run.
fn is_ack(envelope: &Value, alert_id: &str) -> bool {
    match envelope["type"].as_str() {
        Some("checkin_ack") => envelope["alert_id"] == alert_id,
        Some("error") => panic!("check-in refused: {envelope}"),
        _ => false,
    }
}

/// p50 and p99 in milliseconds, to a tenth.
type Percentiles = (f64, f64);

struct Round {
    span_s: f64,
    all: Percentiles,
    stream: Percentiles,
    mqtt: Percentiles,
    final_after_ms: f64,
}

fn percentiles(mut latencies: Vec<f64>) -> Percentiles {
    if latencies.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    ((pct(0.50) * 10.0).round() / 10.0, (pct(0.99) * 10.0).round() / 10.0)
}

/// Every phone answers `alert_id`, phone `i` at `i / staff` of `over`; returns the phones for
/// the next round and the timings of this one.
async fn round(
    handsets: Vec<Handset>,
    mut watch: Socket,
    alert_id: &str,
    over: Duration,
) -> (Vec<Handset>, Socket, Round) {
    let staff = handsets.len();
    let go = Arc::new(Barrier::new(staff + 1));
    let mut clients = Vec::with_capacity(staff);
    for (i, mut handset) in handsets.into_iter().enumerate() {
        let (go, alert_id) = (go.clone(), alert_id.to_owned());
        clients.push(tokio::spawn(async move {
            go.wait().await;
            tokio::time::sleep(over.mul_f64(i as f64 / staff as f64)).await;
            let sent = Instant::now();
            let status = if i % 10 == 0 { "need_help" } else { "safe" };
            handset.answer(&alert_id, status, i).await;
            (handset, sent.elapsed(), Instant::now())
        }));
    }
    let wanted = alert_id.to_owned();
    let officer_view = tokio::spawn(async move {
        while let Some(Ok(frame)) = watch.next().await {
            if let Message::Text(text) = frame {
                let envelope: Value = serde_json::from_str(&text).unwrap();
                if envelope["type"] == "headcount"
                    && envelope["alert_id"] == wanted.as_str()
                    && envelope["no_response"] == 0
                {
                    return (watch, Instant::now(), envelope);
                }
            }
        }
        panic!("the officer's stream closed");
    });

    go.wait().await;
    let t0 = Instant::now();
    let (mut all, mut stream, mut mqtt) = (Vec::new(), Vec::new(), Vec::new());
    let mut handsets = Vec::with_capacity(staff);
    let mut last_ack = t0;
    for client in clients {
        let (handset, latency, acked_at) = client.await.unwrap();
        let ms = latency.as_secs_f64() * 1e3;
        all.push(ms);
        match handset {
            Handset::Stream(_) => stream.push(ms),
            Handset::Mqtt(_) => mqtt.push(ms),
        }
        handsets.push(handset);
        last_ack = last_ack.max(acked_at);
    }
    let (watch, final_at, final_counts) = tokio::time::timeout(Duration::from_secs(10), officer_view)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (final_counts["safe"].as_u64(), final_counts["need_help"].as_u64()),
        (
            Some((staff - staff.div_ceil(10)) as u64),
            Some(staff.div_ceil(10) as u64)
        )
    );
    let timings = Round {
        span_s: last_ack.duration_since(t0).as_secs_f64(),
        all: percentiles(all),
        stream: percentiles(stream),
        mqtt: percentiles(mqtt),
        final_after_ms: (final_at.saturating_duration_since(last_ack).as_secs_f64() * 1e4).round() / 10.0,
    };
    (handsets, watch, timings)
}
