//! Phones under an alert, as staff load the hub: how long until each of N connected phones has
//! the alert, and how its answers fare while the alert is still going out.
//!
//! Through the hub (a real hub on SQLite with N staff who all have a token, their phones logged
//! in with it), one row per channel at each N, in the same run:
//! - `hub-websocket`: N WebSocket streams; `hub-mqtt`: N MQTT phones on the hub's own endpoint;
//!   `hub-mosquitto-open` (with `SCAAN_TEST_MOSQUITTO`): the hub and the phones on a Mosquitto
//!   run with `deploy/mosquitto/mosquitto.conf`'s tuning.
//! - Two alerts, each answered by every phone the moment it arrives: `burst` (at once) and
//!   `spread` (after a random delay within one second). The first alert's receipts give the
//!   fan-out, with the burst of answers arriving meanwhile: from the officer sending
//!   `POST /api/v1/alerts` to each phone's receipt (`fanout_p99_from_answer_ms`: from its answer). Each answer: its `checkin_ack` count (must be N), ack p50/p99
//!   (from sending the check-in to its `checkin_ack`), and how long after the last ack an
//!   officer's stream shows the final counts.
//! - Set-up: phones connected and subscribed per second; and on the hub's own endpoint, the hub
//!   process's open files, heap bytes (a counting allocator) and resident memory per idle
//!   connected phone; the resident memory in the process's first hub row only (later rows grow
//!   into what the allocator kept from the earlier ones, and would show next to nothing).
//! - `quiet`: then [`QUIET_ROUNDS`] alerts, which no phone answers: the fan-out alone (p50/p99
//!   from the send, the officer's answer), and the hub's CPU time per recipient for it (from the
//!   send until a second after the last phone had it, receipts and the rows written after the
//!   answer included); the median of the alerts, and each one's CPU. The hub's CPU leaves out
//!   the bench's own thread, which drives the rounds; `process_cpu_us_per_recipient` keeps it.
//! - `reconnect` (`hub-mqtt`): then every phone loses its connection, an alert is sent while
//!   they are away, and they all come back at once, as after a hub's restart or a node's loss:
//!   from a phone's reconnecting to its having the alert (p50/p99, the hub's sessions and what
//!   they are owed), until the last has it, and the hub's CPU per phone for all of it; and the
//!   officer's answer to an alert for one person elsewhere, sent while they come back
//!   (`alert_answered_during_ms`: its storing waits for the reads of what phones are owed).
//!
//! The brokers' floor (with `SCAAN_TEST_MOSQUITTO`): `mosquitto-open`, N phones each subscribed
//! to its inbox and one QoS 1 publish to every inbox from one connection (Mosquitto's raw
//! per-topic fan-out), timed from the first publish, with the broker's CPU time per recipient
//! (until a second after the last phone had it; the median of [`QUIET_ROUNDS`] such fan-outs,
//! as the hub's) and resident memory per idle connection;
//! `mosquitto-open-alone`, the same with the phones paused (SIGSTOP) until the publisher has
//! every PUBACK (the broker's own time);
//! `mosquitto`, the floor on Mosquitto provisioned by the hub's dynamic-security provisioner
//! (up to 1,000 phones: provisioning is O(N²)).
//!
//! `cargo bench -p scaan-tests --bench phones`; `SCAAN_BENCH_PHONES_SIZES=1000,5000,10000` (the
//! default) sets N, `SCAAN_BENCH_PHONES_ROWS=hub-mqtt,...` runs only the named rows,
//! `SCAAN_BENCH_HISTORY=100` gives each hub row's store that many earlier alerts to the same
//! staff first (none by default; see `BenchHub::history`). Prints one JSON line last.
//!
//! The phones run in a child process (the same binary), on their own runtime, so the hub is not
//! measured on a runtime clogged by 10,000 clients; each row has its own child. Both raise their
//! open-file limit as far as allowed (`ulimit -Hn`); a row that cannot fit is reported skipped.

mod support;

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::{SinkExt as _, StreamExt as _};
use rand::Rng as _;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use scaan_mobile_bridge::{
    dynsec::{Grant, Provisioner},
    fixtures::{self, Access, Mosquitto},
    phone::BrokerUrl,
    topics::{self, PhoneTopic},
};
use scaan_schemas::{Position, Role};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::measure::{percentile, process_cpu, raise_open_file_limit, resident_kib, round2};
use support::phones_process::{connect_mqtt, phone_mqtt, play_rounds, PhonesProcess};
use support::{stream, BenchHub, Socket};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// How long the phones may take to connect, and to receive everything.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);
/// Names the phones' process's job file (the same binary, run again).
const JOB: &str = "SCAAN_BENCH_PHONES_JOB";
/// Phones connecting at once.
const CONNECT_BATCH: usize = 250;
/// Mosquitto's dynamic-security plugin rewrites its whole file after every command, so
/// provisioning N people one by one costs O(N²): larger runs measure Mosquitto without
/// access control.
const PROVISIONED_MAX: usize = 1_000;
/// What each phone gets on the floor: about the size of a real alert envelope.
const ENVELOPE_PADDING: usize = 900;
/// `spread`: each phone answers within this long of receiving the alert.
const SPREAD: Duration = Duration::from_secs(1);
/// Before and after the fan-out alone: the earlier rounds' work ends, and then the work the
/// fan-out leaves behind (receipts gathered for 100 ms, rows written after the answer).
const QUIET_SETTLE: Duration = Duration::from_secs(1);
/// Quiet alerts per row, and fan-outs of Mosquitto's raw floor: one takes under half a second
/// of CPU at 10,000, too short to tell changes of a fifth apart on this shared machine.
const QUIET_ROUNDS: usize = 3;
/// `reconnect`: when the phones go away, once the round before it has been measured (its
/// settle).
const AWAY_AFTER: Duration = Duration::from_secs(3);
/// `reconnect`: how long the phones stay away, in which the hub closes their connections and
/// the alert they will be owed is sent (it must be stored before the first comes back, which
/// the bench checks).
const BACK_AFTER: Duration = Duration::from_secs(3);
/// How long after the phones start coming back an alert is sent in the middle of them (they
/// take ~2.5 s at 10,000).
const STORM_AFTER: Duration = Duration::from_millis(500);

/// One phone's login.
#[derive(Clone, Serialize, Deserialize)]
struct Login {
    username: String,
    token: String,
    user_id: Uuid,
}

/// How the phones reach the hub.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
enum Channel {
    Mqtt,
    WebSocket,
}

/// How a phone answers an alert; or, for `reconnect`, how it leaves and comes back.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug)]
enum Answer {
    /// It does not (the floor: a broker, no hub).
    Not,
    Burst,
    Spread,
    /// After [`AWAY_AFTER`], it loses its connection (MQTT: its socket closes, no DISCONNECT).
    Away,
    /// After [`BACK_AFTER`], it reconnects to its persistent session and waits for what it is
    /// owed.
    Back,
}

/// What the parent asks of the phones' process.
#[derive(Serialize, Deserialize)]
struct Job {
    channel: Channel,
    /// The MQTT broker (hub endpoint or Mosquitto), or the hub's `http://` base for streams.
    address: String,
    phones: Vec<Login>,
    /// One round per alert, in order.
    rounds: Vec<Answer>,
}

/// One phone's round: when the alert came, and (answering) how long its ack took.
#[derive(Serialize, Deserialize)]
struct Receipt {
    alert_at_ns: u128,
    envelope: Value,
    ack_ms: Option<f64>,
    acked_at_ns: Option<u128>,
    /// When a phone coming back began to reconnect.
    back_at_ns: Option<u128>,
}

fn main() {
    let open_files = raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(job) = std::env::var(JOB) {
        let job: Job = serde_json::from_str(&std::fs::read_to_string(job).unwrap()).unwrap();
        runtime.block_on(phones(job));
        return;
    }
    let sizes: Vec<usize> = std::env::var("SCAAN_BENCH_PHONES_SIZES")
        .unwrap_or_else(|_| "1000,5000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("SCAAN_BENCH_PHONES_SIZES: numbers"))
        .collect();
    let rows = std::env::var("SCAAN_BENCH_PHONES_ROWS").ok();
    let wanted = |row: &str| {
        rows.as_deref()
            .is_none_or(|list| list.split(',').any(|b| b.trim() == row))
    };
    let mosquitto = std::env::var_os(fixtures::ENV).is_some();
    if !mosquitto {
        eprintln!("Mosquitto skipped: set {}=1", fixtures::ENV);
    }
    // This shared VM's figures vary by tens of per cent from one run to the next: the targets
    // are judged on the median of several runs (each run every size and row in turn).
    let runs: usize = std::env::var("SCAAN_BENCH_PHONES_RUNS")
        .map_or(1, |r| r.trim().parse().expect("SCAAN_BENCH_PHONES_RUNS: a number"));
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for run in 0..runs {
            let from = results.len();
            for &n in &sizes {
                // One socket per phone in the hub's process, and the database's and HTTP's few.
                if n + 1_000 > open_files as usize {
                    eprintln!("{n} phones need ~{n} open files; the limit is {open_files}");
                    results.push(
                        json!({"row": "hub", "phones": n, "skipped": "open-file limit", "open_files": open_files}),
                    );
                    continue;
                }
                for (row, channel, broker) in [
                    ("hub-websocket", Channel::WebSocket, HubBroker::Own),
                    ("hub-mqtt", Channel::Mqtt, HubBroker::Own),
                    ("hub-mosquitto-open", Channel::Mqtt, HubBroker::MosquittoOpen),
                ] {
                    if wanted(row) && (broker == HubBroker::Own || mosquitto) {
                        results.push(through_hub(row, n, channel, broker).await);
                    }
                }
                if mosquitto {
                    if wanted("mosquitto-open") {
                        results.push(mosquitto_open(n, Phones::Reading).await);
                    }
                    if wanted("mosquitto-open-alone") {
                        results.push(mosquitto_open(n, Phones::Paused).await);
                    }
                    if n <= PROVISIONED_MAX && wanted("mosquitto") {
                        results.push(mosquitto_provisioned(n).await);
                    }
                }
            }
            for result in &mut results[from..] {
                result["run"] = json!(run);
            }
            compare(&mut results[from..]);
        }
        results
    });
    let summary = summarize(&results);
    for row in &summary {
        eprintln!("{row}");
    }
    println!(
        "{}",
        json!({"bench": "phones", "runs": runs, "results": results, "summary": summary})
    );
}

/// Per row and size, the median over the runs of each figure a target is stated in, and the
/// comparisons of the hub's MQTT p99 made on those medians.
fn summarize(results: &[Value]) -> Vec<Value> {
    let mut figures: std::collections::BTreeMap<(u64, String), HashMap<&str, Vec<f64>>> = Default::default();
    for r in results {
        let (Some(row), Some(n)) = (r["row"].as_str(), r["phones"].as_u64()) else {
            continue;
        };
        let entry = figures.entry((n, row.to_owned())).or_default();
        for (name, value) in [
            ("p99_ms", r["fanout_p99_ms"].as_f64().or(r["p99_ms"].as_f64())),
            ("setup_phones_per_s", r["setup_phones_per_s"].as_f64()),
            ("hub_cpu_us_per_phone", r["round_hub_cpu_us_per_phone"].as_f64()),
            ("phones_cpu_us_per_phone", r["round_phones_cpu_us_per_phone"].as_f64()),
            ("quiet_p99_ms", r["quiet"]["p99_ms"].as_f64()),
            ("quiet_alert_answered_ms", r["quiet"]["alert_answered_ms"].as_f64()),
            (
                "quiet_cpu_us_per_recipient",
                r["quiet"]["hub_cpu_us_per_recipient"]
                    .as_f64()
                    .or(r["broker_cpu_us_per_recipient"].as_f64()),
            ),
            (
                "quiet_process_cpu_us_per_recipient",
                r["quiet"]["process_cpu_us_per_recipient"].as_f64(),
            ),
            (
                "heap_kib_per_idle_connection",
                r["hub_heap_kib_per_idle_phone"].as_f64(),
            ),
            (
                "rss_kib_per_idle_connection",
                r["hub_rss_kib_per_idle_phone"]
                    .as_f64()
                    .or(r["broker_rss_kib_per_idle_phone"].as_f64()),
            ),
        ] {
            if let Some(value) = value {
                entry.entry(name).or_default().push(value);
            }
        }
    }
    let median = middle;
    let p99 = |n: u64, row: &str| {
        figures
            .get(&(n, row.to_owned()))
            .and_then(|f| f.get("p99_ms"))
            .map(|v| median(v))
    };
    figures
        .iter()
        .map(|((n, row), values)| {
            let mut summary = json!({"row": row, "phones": n});
            for (name, values) in values {
                summary[format!("{name}_median")] = json!(round(median(values)));
                summary[format!("{name}_runs")] = json!(values);
            }
            if row == "hub-mqtt" {
                for (other, key) in [
                    ("hub-websocket", "p99_vs_websocket"),
                    ("mosquitto-open", "p99_vs_mosquitto_raw"),
                ] {
                    if let (Some(mqtt), Some(other)) = (p99(*n, row), p99(*n, other)) {
                        summary[key] = json!(round2(mqtt / other));
                    }
                }
            }
            summary
        })
        .collect()
}

/// Which broker the hub runs with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HubBroker {
    /// None: phones connect to the hub's own endpoint.
    Own,
    /// Mosquitto without access control, through `mqtt_url`.
    MosquittoOpen,
}

/// The whole path: a hub with N staff whose phones are connected on `channel`, two alerts to
/// all of them, each answered by every phone as it arrives.
async fn through_hub(row: &str, n: usize, channel: Channel, broker: HubBroker) -> Value {
    let mosquitto = match broker {
        HubBroker::Own => None,
        HubBroker::MosquittoOpen => Some(
            Mosquitto::from_env_with(Access::Open)
                .await
                .expect("SCAAN_TEST_MOSQUITTO"),
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("bench.db").display());
    let bench = BenchHub::start(database, mosquitto.as_ref().map(Mosquitto::url)).await;
    let officer = bench.account("watch".into(), Role::WatchOfficer, 0).await;
    let logins: Vec<Login> = bench
        .staff(n)
        .await
        .into_iter()
        .map(|a| Login {
            username: a.username,
            token: a.token,
            user_id: a.id,
        })
        .collect();
    let people: Vec<Uuid> = logins.iter().map(|l| l.user_id).collect();
    let history = bench.history(&people, 0).await;
    let address = match (channel, &mosquitto) {
        (Channel::WebSocket, _) => bench.base.clone(),
        (Channel::Mqtt, Some(broker)) => broker.url(),
        (Channel::Mqtt, None) => format!("mqtt://{}", bench.hub.mqtt.embedded_addr().expect("the hub's endpoint")),
    };
    let before = (open_files(), HEAP.live(), resident_kib(std::process::id()));
    let rounds = vec![Answer::Burst, Answer::Spread];
    let mut all_rounds = rounds.clone();
    all_rounds.extend([Answer::Not; QUIET_ROUNDS]);
    // Streams are owed nothing (a client back refetches over HTTP); Mosquitto keeps the
    // sessions of the phones on it.
    let reconnects = channel == Channel::Mqtt && broker == HubBroker::Own;
    if reconnects {
        all_rounds.extend([Answer::Away, Answer::Back]);
    }
    let mut phones = start_phones(channel, &address, &logins, all_rounds).await;
    // Let the connections settle (their first reads and answers done) before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected = (open_files(), HEAP.live(), resident_kib(std::process::id()));
    let mut result = json!({
        "row": row,
        "phones": n,
        "setup_phones_per_s": (n as f64 / phones.connect_s).round(),
        "history_alerts": history.len(),
    });
    if broker == HubBroker::Own {
        result["hub_open_files_per_phone"] = json!(round2((connected.0 - before.0) as f64 / n as f64));
        result["hub_heap_kib_per_idle_phone"] =
            json!(round2(connected.1.saturating_sub(before.1) as f64 / 1024.0 / n as f64));
        if !RSS_TAKEN.swap(true, std::sync::atomic::Ordering::Relaxed) {
            result["hub_rss_kib_per_idle_phone"] =
                json!(round2(connected.2.saturating_sub(before.2) as f64 / n as f64));
        }
    }
    let mut watch = stream(&bench.base, &officer.token).await;
    let http = reqwest::Client::new();
    for (i, answer) in rounds.into_iter().enumerate() {
        let cpu_before = (own_cpu(), phones.cpu());
        let sent = SystemTime::now();
        let response = http
            .post(format!("{}/api/v1/alerts", bench.base))
            .bearer_auth(&officer.token)
            .json(&support::alert(&format!("Clashes ({answer:?})"), true))
            .send()
            .await
            .unwrap();
        let returned = SystemTime::now();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let alert: Value = response.json().await.unwrap();
        assert_eq!(alert["recipients"], n, "every bench account is targeted: {alert}");
        let alert_id = alert["id"].as_str().unwrap().to_owned();
        let final_counts = tokio::spawn(final_counts(watch, alert_id.clone(), n));
        let received: Vec<Receipt> = phones.round().await;
        let wrong = received
            .iter()
            .filter(|r| r.envelope["alert"]["id"] != alert_id.as_str())
            .count();
        assert_eq!(wrong, 0, "{wrong} phones got something else first");
        let (stream_back, final_at) = tokio::time::timeout(PHASE_TIMEOUT, final_counts)
            .await
            .expect("the final counts reach the officer")
            .unwrap();
        watch = stream_back;
        let key = match answer {
            Answer::Burst => "burst",
            _ => "spread",
        };
        if i == 0 {
            // From the officer's send: a stream has its copy before the answer (which waits for
            // the phones' outbox rows), so from the answer its times are negative.
            let fanout = latencies(sent, received.iter().map(|r| r.alert_at_ns));
            result["fanout_p50_ms"] = json!(round(percentile(&fanout, 0.50)));
            result["fanout_p99_ms"] = json!(round(percentile(&fanout, 0.99)));
            let answered = latencies(returned, received.iter().map(|r| r.alert_at_ns));
            result["fanout_p99_from_answer_ms"] = json!(round(percentile(&answered, 0.99)));
            result["alert_answered_ms"] = json!(round(
                returned.duration_since(sent).unwrap_or_default().as_secs_f64() * 1e3
            ));
            result["fanout_received"] = json!(fanout.len());
            // The whole round (the fan-out and every answer), per phone: which side of the two
            // shared cores the time went to.
            let cpu_us = |before: Duration, after: Duration| round2((after - before).as_secs_f64() * 1e6 / n as f64);
            result["round_hub_cpu_us_per_phone"] = json!(cpu_us(cpu_before.0, own_cpu()));
            result["round_phones_cpu_us_per_phone"] = json!(cpu_us(cpu_before.1, phones.cpu()));
        }
        let mut acks: Vec<f64> = received.iter().filter_map(|r| r.ack_ms).collect();
        acks.sort_by(f64::total_cmp);
        let last_ack = received.iter().filter_map(|r| r.acked_at_ns).max().unwrap_or(0);
        let final_ns = final_at.duration_since(UNIX_EPOCH).unwrap().as_nanos();
        result[key] = json!({
            "acks": acks.len(),
            "ack_p50_ms": round(percentile(&acks, 0.50)),
            "ack_p99_ms": round(percentile(&acks, 0.99)),
            "final_counts_after_last_ack_ms": round((final_ns as i128 - last_ack as i128) as f64 / 1e6),
        });
    }
    let mut quiet = Vec::new();
    for _ in 0..QUIET_ROUNDS {
        quiet.push(quiet_round(&bench, &officer, &mut phones, n).await);
    }
    result["quiet"] = median_round(&quiet);
    if reconnects {
        result["reconnect"] = reconnect_round(&bench, &officer, &mut phones, n).await;
    }
    // The server side closes first, so the connections' TIME_WAIT stays on its side: the
    // phones' ports are free for the next row (real phones do not share one address).
    bench.stop().await;
    drop(mosquitto);
    phones.finish().await;
    eprintln!("{result}");
    result
}

/// The fan-out alone: an alert without a headcount, which no phone answers.
async fn quiet_round(bench: &BenchHub, officer: &support::Account, phones: &mut PhonesProcess, n: usize) -> Value {
    // For a profiler attached to this process for the fan-out alone
    // (`scripts/profile-quiet-round.sh`): from this line (a settle early, the time a profiler
    // takes to attach) to the next.
    eprintln!("quiet round: begins");
    tokio::time::sleep(QUIET_SETTLE).await;
    let cpu_before = (own_cpu(), process_cpu_so_far());
    let sent = SystemTime::now();
    let (alert, returned) = alert_without_headcount(bench, officer, "Clashes (quiet)").await;
    let report = phones.round_report().await;
    tokio::time::sleep(QUIET_SETTLE).await;
    let (cpu, process_cpu) = (own_cpu() - cpu_before.0, process_cpu_so_far() - cpu_before.1);
    eprintln!("quiet round: ends");
    let received: Vec<Receipt> = serde_json::from_str(&report).unwrap();
    assert!(received.iter().all(|r| r.envelope["alert"]["id"] == alert["id"]));
    let fanout = latencies(sent, received.iter().map(|r| r.alert_at_ns));
    json!({
        "received": fanout.len(),
        "p50_ms": round(percentile(&fanout, 0.50)),
        "p99_ms": round(percentile(&fanout, 0.99)),
        "alert_answered_ms": round(returned.duration_since(sent).unwrap_or_default().as_secs_f64() * 1e3),
        "hub_cpu_us_per_recipient": round2(cpu.as_secs_f64() * 1e6 / n as f64),
        "process_cpu_us_per_recipient": round2(process_cpu.as_secs_f64() * 1e6 / n as f64),
    })
}

/// The officer sends an alert that asks for no answer: the alert, and when its 201 came.
async fn alert_without_headcount(bench: &BenchHub, officer: &support::Account, headline: &str) -> (Value, SystemTime) {
    send_alert(bench, officer, &support::alert(headline, false)).await
}

/// The officer sends `alert`: the alert stored, and when its 201 came.
async fn send_alert(bench: &BenchHub, officer: &support::Account, alert: &Value) -> (Value, SystemTime) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/alerts", bench.base))
        .bearer_auth(&officer.token)
        .json(alert)
        .send()
        .await
        .unwrap();
    let answered = SystemTime::now();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    (response.json().await.unwrap(), answered)
}

/// Every phone goes away, an alert is sent (stored as owed to them all), and they all come back
/// at once: how long each took from reconnecting to having the alert, until the last had it,
/// and the hub's CPU per phone for the alert and the reconnections.
async fn reconnect_round(bench: &BenchHub, officer: &support::Account, phones: &mut PhonesProcess, n: usize) -> Value {
    let _away: Vec<Receipt> = phones.round().await;
    // Someone no phone belongs to, far from the others: an alert for them alone is stored and
    // answered as any, and adds nothing to the phones' round.
    support::accounts::make_account(&bench.hub, "elsewhere".into(), Role::Staff, Some(goma())).await;
    // The hub closes the connections, which is not measured.
    tokio::time::sleep(QUIET_SETTLE).await;
    eprintln!("reconnect round: begins");
    let cpu_before = own_cpu();
    let (alert, stored) = alert_without_headcount(bench, officer, "Clashes (while away)").await;
    let during = async {
        tokio::time::sleep(BACK_AFTER + STORM_AFTER).await;
        let sent = Instant::now();
        let (answered, _) = send_alert(bench, officer, &alert_at_goma()).await;
        let took = sent.elapsed();
        assert_eq!(answered["recipients"], 1, "only the one elsewhere: {answered}");
        took
    };
    let (back, during): (Vec<Receipt>, Duration) = tokio::join!(phones.round(), during);
    tokio::time::sleep(QUIET_SETTLE).await;
    let cpu = own_cpu() - cpu_before;
    eprintln!("reconnect round: ends");
    assert!(back.iter().all(|r| r.envelope["alert"]["id"] == alert["id"]));
    let reconnecting: Vec<u128> = back.iter().filter_map(|r| r.back_at_ns).collect();
    let first_back = *reconnecting.iter().min().expect("phones came back");
    let stored_ns = stored.duration_since(UNIX_EPOCH).unwrap().as_nanos();
    assert!(
        stored_ns < first_back,
        "the alert was answered after a phone came back: it was not owed but sent live"
    );
    let mut waits: Vec<f64> = back
        .iter()
        .filter_map(|r| Some((r.alert_at_ns - r.back_at_ns?) as f64 / 1e6))
        .collect();
    waits.sort_by(f64::total_cmp);
    let last = back.iter().map(|r| r.alert_at_ns).max().unwrap_or(first_back);
    json!({
        "received": waits.len(),
        "p50_ms": round(percentile(&waits, 0.50)),
        "p99_ms": round(percentile(&waits, 0.99)),
        "all_back_ms": round((last - first_back) as f64 / 1e6),
        "hub_cpu_us_per_phone": round2(cpu.as_secs_f64() * 1e6 / n as f64),
        "alert_answered_during_ms": round2(during.as_secs_f64() * 1e3),
    })
}

/// A duty station far from the bench's others (Goma, 150 km south of Beni).
fn goma() -> Position {
    Position::new(-1.68, 29.22)
}

/// An alert whose 5 km circle holds [`goma`] alone.
fn alert_at_goma() -> Value {
    let mut alert = support::alert("Clashes (Goma)", false);
    let at = goma();
    alert["area"] = json!({"description": "Goma", "geometry": {"type": "Point", "coordinates": [at.lon, at.lat]}, "radius_m": 5000});
    alert
}

/// The quiet rounds' median of each figure, and each round's CPU.
fn median_round(rounds: &[Value]) -> Value {
    let mut median = json!({"rounds": rounds.len()});
    for figure in [
        "received",
        "p50_ms",
        "p99_ms",
        "alert_answered_ms",
        "hub_cpu_us_per_recipient",
        "process_cpu_us_per_recipient",
    ] {
        let values: Vec<f64> = rounds.iter().filter_map(|r| r[figure].as_f64()).collect();
        median[figure] = json!(middle(&values));
    }
    median["hub_cpu_us_per_recipient_rounds"] = json!(rounds
        .iter()
        .map(|r| r["hub_cpu_us_per_recipient"].clone())
        .collect::<Vec<_>>());
    median
}

/// The median (the upper one of an even count).
fn middle(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Waits on the officer's stream for the headcount of `alert` with nobody left to answer;
/// returns the stream and when that came.
async fn final_counts(mut watch: Socket, alert: String, n: usize) -> (Socket, SystemTime) {
    while let Some(Ok(frame)) = watch.next().await {
        if let Message::Text(text) = frame {
            let envelope: Value = serde_json::from_str(&text).unwrap();
            if envelope["type"] == "headcount" && envelope["alert_id"] == alert.as_str() && envelope["no_response"] == 0
            {
                assert_eq!(envelope["total"], n, "{envelope}");
                return (watch, SystemTime::now());
            }
        }
    }
    panic!("the officer's stream closed");
}

/// Adds the comparisons the targets are stated in: at each N, the hub's MQTT p99 against its
/// WebSocket p99, and against Mosquitto's raw per-topic p99.
fn compare(results: &mut [Value]) {
    let p99: HashMap<(String, u64), f64> = results
        .iter()
        .filter_map(|r| {
            let key = (r["row"].as_str()?.to_owned(), r["phones"].as_u64()?);
            Some((key, r["fanout_p99_ms"].as_f64().or(r["p99_ms"].as_f64())?))
        })
        .collect();
    for row in results.iter_mut().filter(|r| r["row"] == "hub-mqtt") {
        let Some(n) = row["phones"].as_u64() else { continue };
        let mqtt = p99.get(&("hub-mqtt".to_owned(), n)).copied();
        for (other, key) in [
            ("hub-websocket", "p99_vs_websocket"),
            ("mosquitto-open", "p99_vs_mosquitto_raw"),
        ] {
            if let (Some(mqtt), Some(other)) = (mqtt, p99.get(&(other.to_owned(), n))) {
                row[key] = json!(round2(mqtt / other));
            }
        }
    }
}

/// Mosquitto with dynamic security, every phone provisioned as the hub would.
async fn mosquitto_provisioned(n: usize) -> Value {
    let logins = logins(n);
    let broker = Mosquitto::from_env_with(Access::DynamicSecurity)
        .await
        .expect("SCAAN_TEST_MOSQUITTO");
    let (admin, admin_password) = broker.admin_credentials();
    let provisioner = Provisioner::connect("127.0.0.1", broker.addr().port(), &admin, &admin_password)
        .await
        .unwrap();
    let (user, password) = provisioner.provision_hub().await.unwrap();
    let started = Instant::now();
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let grants: Vec<(Grant, String)> = logins
        .iter()
        .map(|l| {
            let hash = *Uuid::new_v4().as_bytes();
            let mut token_hash = [0u8; 32];
            token_hash[..16].copy_from_slice(&hash);
            (Grant::new(&l.username, l.user_id, token_hash, expires), l.token.clone())
        })
        .collect();
    provisioner.grant_many(&grants).await.unwrap();
    eprintln!(
        "mosquitto: {n} phones provisioned in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (latencies, all_acked, handsets, _) =
        floor(&broker.url(), (&user, &password), &logins, Phones::Reading, None).await;
    provisioner.shutdown().await;
    drop(broker);
    handsets.finish().await;
    report("mosquitto", n, (latencies, all_acked))
}

/// Mosquitto without access control: the broker's raw fan-out.
async fn mosquitto_open(n: usize, phones: Phones) -> Value {
    let logins = logins(n);
    let broker = Mosquitto::from_env_with(Access::Open)
        .await
        .expect("SCAAN_TEST_MOSQUITTO");
    let pid = broker.pid().expect("Mosquitto runs");
    let before = resident_kib(pid);
    let (latencies, all_acked, handsets, broker_cpu) =
        floor(&broker.url(), ("bench-hub", ""), &logins, phones, Some((pid, before))).await;
    drop(broker);
    handsets.finish().await;
    let figures = (latencies, all_acked);
    match phones {
        Phones::Reading => {
            let mut result = report("mosquitto-open", n, figures);
            if let Some((cpu, rss_kib)) = broker_cpu {
                let per_recipient: Vec<f64> = cpu.iter().map(|c| round2(c.as_secs_f64() * 1e6 / n as f64)).collect();
                result["broker_cpu_us_per_recipient"] = json!(middle(&per_recipient));
                result["broker_cpu_us_per_recipient_rounds"] = json!(per_recipient);
                result["broker_rss_kib_per_idle_phone"] =
                    json!(round2(rss_kib.saturating_sub(before) as f64 / n as f64));
            }
            result
        }
        // The receipts waited for the pause: only the broker's own time means something.
        Phones::Paused => json!({"row": "mosquitto-open-alone", "phones": n,
            "received": figures.0.len(), "all_pubacks_ms": round(figures.1.as_secs_f64() * 1e3)}),
    }
}

/// Whether the phones read while the floor's publisher sends.
#[derive(Clone, Copy)]
enum Phones {
    Reading,
    /// Stopped (SIGSTOP) until the publisher has every PUBACK: the broker has the cores.
    Paused,
}

/// A floor's row: the receipts, and when the publisher had every PUBACK.
fn report(row: &str, phones: usize, (latencies, all_acked): (Vec<f64>, Duration)) -> Value {
    let result = json!({
        "row": row,
        "phones": phones,
        "received": latencies.len(),
        "p50_ms": round(percentile(&latencies, 0.50)),
        "p99_ms": round(percentile(&latencies, 0.99)),
        "max_ms": round(percentile(&latencies, 1.0)),
        "all_pubacks_ms": round(all_acked.as_secs_f64() * 1e3),
    });
    eprintln!("{result}");
    result
}

/// The raw fan-out: phones connect and subscribe (child process), then one QoS 1 publish to each
/// inbox. Returns each phone's latency from the first publish (ms), when the last PUBACK came,
/// the phones, to be finished once the broker is gone (see [`through_hub`]), and given the
/// broker's process id, its CPU time for each of [`QUIET_ROUNDS`] such fan-outs (the first
/// one's the latencies' too) and its resident memory (KiB) with every phone connected and idle.
async fn floor(
    url: &str,
    (user, password): (&str, &str),
    logins: &[Login],
    reading: Phones,
    broker: Option<(u32, u64)>,
) -> (Vec<f64>, Duration, PhonesProcess, Option<(Vec<Duration>, u64)>) {
    let rounds = match (reading, broker) {
        (Phones::Reading, Some(_)) => QUIET_ROUNDS,
        _ => 1,
    };
    let mut phones = start_phones(Channel::Mqtt, url, logins, vec![Answer::Not; rounds]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = broker.map(|(pid, _)| (pid, resident_kib(pid)));
    let mut cpu_before = idle.map_or(Duration::ZERO, |(pid, _)| process_cpu(pid));
    if let Phones::Paused = reading {
        phones.signal(libc::SIGSTOP);
    }
    let url: BrokerUrl = url.parse().unwrap();
    let mut options = MqttOptions::new(format!("bench-hub-{}", Uuid::new_v4().simple()), &url.host, url.port);
    options
        .set_credentials(user, password)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    let (client, mut events) = AsyncClient::new(options, 1024);
    let n = logins.len();
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel();
    // The event loop in its own task: never publish from the task that polls it.
    let driver = tokio::spawn(async move {
        let mut acks = 0;
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acks += 1;
                    // Every PUBACK of a round.
                    if acks % n == 0 {
                        let _ = acked_tx.send(Instant::now());
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("the publisher lost the broker: {e}"),
            }
        }
    });
    // Serialized once, as the hub does for an alert to many.
    let envelope =
        json!({"type": "alert", "alert": {"headline": "Bench", "description": "x".repeat(ENVELOPE_PADDING)}})
            .to_string()
            .into_bytes();
    let mut first = None;
    let mut cpu = Vec::new();
    for round in 0..rounds {
        if round > 0 {
            if let Some((pid, _)) = idle {
                // As the hub's quiet rounds: the round before has settled.
                tokio::time::sleep(QUIET_SETTLE).await;
                cpu_before = process_cpu(pid);
            }
        }
        let t0 = SystemTime::now();
        let started = Instant::now();
        for login in logins {
            client
                .publish(topics::inbox(login.user_id), QoS::AtLeastOnce, false, envelope.clone())
                .await
                .unwrap();
        }
        let all_acked = tokio::time::timeout(PHASE_TIMEOUT, acked.recv())
            .await
            .expect("every PUBACK in time")
            .expect("the publisher runs")
            .duration_since(started);
        if let Phones::Paused = reading {
            phones.signal(libc::SIGCONT);
        }
        let received: Vec<Receipt> = phones.round().await;
        if let Some((pid, _)) = idle {
            tokio::time::sleep(QUIET_SETTLE).await;
            cpu.push(process_cpu(pid) - cpu_before);
        }
        first.get_or_insert((latencies(t0, received.iter().map(|r| r.alert_at_ns)), all_acked));
    }
    driver.abort();
    let (latencies, all_acked) = first.expect("one round at least");
    (latencies, all_acked, phones, idle.map(|(_, rss_kib)| (cpu, rss_kib)))
}

/// Each time in ms after `t0`, sorted.
fn latencies(t0: SystemTime, at_ns: impl Iterator<Item = u128>) -> Vec<f64> {
    let t0 = t0.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128;
    let mut latencies: Vec<f64> = at_ns.map(|at| (at as i128 - t0) as f64 / 1e6).collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// The phones' process for `logins`, on `channel` at `address`, playing `rounds`.
async fn start_phones(channel: Channel, address: &str, logins: &[Login], rounds: Vec<Answer>) -> PhonesProcess {
    let job = Job {
        channel,
        address: address.to_owned(),
        phones: logins.to_vec(),
        rounds,
    };
    PhonesProcess::start(JOB, &job).await
}

/// One staff member's phone, on either channel. Each is read by the task that plays its round,
/// with nothing between: the stream's socket, or the MQTT client's event loop (polled here
/// rather than by a task of its own and a channel, as the phone app's `Phone` does, so that the
/// phones' process costs the shared cores about as much per phone on either channel).
enum Handset {
    Stream(Box<Socket>),
    Mqtt(Box<MqttHandset>),
    /// An MQTT phone without its connection, and where it connects.
    Away(Box<(Login, BrokerUrl)>),
}

struct MqttHandset {
    client: AsyncClient,
    events: EventLoop,
    /// The person's own check-in topic.
    checkins: String,
    login: Login,
    url: BrokerUrl,
}

impl Handset {
    async fn connect(channel: Channel, address: &str, login: &Login) -> Handset {
        match channel {
            Channel::WebSocket => Handset::Stream(Box::new(stream(address, &login.token).await)),
            Channel::Mqtt => {
                let url: BrokerUrl = address.parse().unwrap();
                let (client, events) =
                    connect_mqtt(login.user_id, &login.username, &login.token, &url.host, url.port).await;
                Handset::Mqtt(Box::new(MqttHandset {
                    client,
                    events,
                    checkins: topics::phone_topic(login.user_id, PhoneTopic::Checkin),
                    login: login.clone(),
                    url,
                }))
            }
        }
    }

    /// Closes the MQTT phone's socket, as a phone losing its network or its hub does.
    fn go_away(&mut self) {
        let Handset::Mqtt(phone) = self else {
            panic!("only an MQTT phone goes away");
        };
        *self = Handset::Away(Box::new((phone.login.clone(), phone.url.clone())));
    }

    /// Reconnects to the phone's persistent session, as the app does (trying again 100 ms
    /// after the hub refuses or drops it; the app waits a second), and waits for the alert it
    /// is owed.
    async fn come_back(&mut self) -> (Value, SystemTime) {
        let Handset::Away(away) = self else {
            panic!("only a phone away comes back");
        };
        let (login, url) = (away.0.clone(), away.1.clone());
        let (client, events) = phone_mqtt(login.user_id, &login.username, &login.token, &url.host, url.port).await;
        *self = Handset::Mqtt(Box::new(MqttHandset {
            client,
            events,
            checkins: topics::phone_topic(login.user_id, PhoneTopic::Checkin),
            login,
            url,
        }));
        let Handset::Mqtt(phone) = self else { unreachable!() };
        loop {
            match phone.events.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let envelope: Value = serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
                    if envelope["type"] == "alert" {
                        return (envelope, SystemTime::now());
                    }
                }
                Ok(_) => {}
                // rumqttc connects again at the next poll.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The next envelope, parsed, and when it arrived.
    async fn next(&mut self) -> (Value, SystemTime) {
        match self {
            Handset::Stream(socket) => loop {
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => return (serde_json::from_str(&text).unwrap(), SystemTime::now()),
                    Some(Ok(_)) => continue,
                    other => panic!("the stream ended: {other:?}"),
                }
            },
            Handset::Away(_) => panic!("a phone away receives nothing"),
            Handset::Mqtt(phone) => loop {
                // rumqttc PUBACKs each PUBLISH and sends what was published in later polls.
                match phone.events.poll().await.expect("the phone stays connected") {
                    Event::Incoming(Packet::Publish(publish)) => {
                        return (
                            serde_json::from_slice(&publish.payload).unwrap_or(Value::Null),
                            SystemTime::now(),
                        )
                    }
                    _ => continue,
                }
            },
        }
    }

    async fn send_checkin(&mut self, alert_id: &str, reference: &str) {
        match self {
            Handset::Stream(socket) => {
                let message = json!({"type": "checkin", "alert_id": alert_id, "status": "safe", "ref": reference});
                socket.send(Message::Text(message.to_string())).await.unwrap();
            }
            Handset::Away(_) => panic!("a phone away sends nothing"),
            Handset::Mqtt(phone) => {
                let body = json!({"alert_id": alert_id, "status": "safe", "ref": reference});
                // Queued; the event loop, polled for the answer, sends it.
                phone
                    .client
                    .publish(
                        phone.checkins.as_str(),
                        QoS::AtLeastOnce,
                        false,
                        body.to_string().into_bytes(),
                    )
                    .await
                    .unwrap();
            }
        }
    }

    /// Waits for the alert, answers as `answer` says, waits for the ack.
    async fn round(&mut self, answer: Answer, i: usize) -> Receipt {
        let ns = |at: SystemTime| at.duration_since(UNIX_EPOCH).unwrap().as_nanos();
        match answer {
            Answer::Away => {
                tokio::time::sleep(AWAY_AFTER).await;
                self.go_away();
                return Receipt {
                    alert_at_ns: 0,
                    envelope: Value::Null,
                    ack_ms: None,
                    acked_at_ns: None,
                    back_at_ns: None,
                };
            }
            Answer::Back => {
                tokio::time::sleep(BACK_AFTER).await;
                let back_at = SystemTime::now();
                let (envelope, alert_at) = self.come_back().await;
                return Receipt {
                    alert_at_ns: ns(alert_at),
                    envelope,
                    ack_ms: None,
                    acked_at_ns: None,
                    back_at_ns: Some(ns(back_at)),
                };
            }
            Answer::Not | Answer::Burst | Answer::Spread => {}
        }
        let (envelope, alert_at) = loop {
            let (envelope, at) = self.next().await;
            if envelope["type"] == "alert" {
                break (envelope, at);
            }
        };
        let alert_at_ns = ns(alert_at);
        if answer == Answer::Not {
            return Receipt {
                alert_at_ns,
                envelope,
                ack_ms: None,
                acked_at_ns: None,
                back_at_ns: None,
            };
        }
        if answer == Answer::Spread {
            let delay = rand::thread_rng().gen_range(Duration::ZERO..SPREAD);
            tokio::time::sleep(delay).await;
        }
        let alert_id = envelope["alert"]["id"].as_str().unwrap_or_default().to_owned();
        let reference = i.to_string();
        let sent = Instant::now();
        self.send_checkin(&alert_id, &reference).await;
        loop {
            let (reply, at) = self.next().await;
            match reply["type"].as_str() {
                Some("checkin_ack") if reply["ref"] == reference.as_str() => {
                    return Receipt {
                        alert_at_ns,
                        envelope,
                        ack_ms: Some(sent.elapsed().as_secs_f64() * 1e3),
                        acked_at_ns: Some(ns(at)),
                        back_at_ns: None,
                    }
                }
                Some("error") => panic!("check-in refused: {reply}"),
                _ => continue,
            }
        }
    }
}

/// The child's side: connect every phone, then play each round.
async fn phones(job: Job) {
    let started = Instant::now();
    let mut handsets = Vec::with_capacity(job.phones.len());
    for chunk in job.phones.chunks(CONNECT_BATCH) {
        let batch = chunk
            .iter()
            .map(|login| Handset::connect(job.channel, &job.address, login));
        handsets.extend(futures_util::future::join_all(batch).await);
    }
    let connect_s = started.elapsed().as_secs_f64();
    play_rounds(handsets, connect_s, job.rounds, |handset, answer, i| async move {
        handset.lock().await.round(answer, i).await
    })
    .await;
}

/// The hub's CPU time so far (user and system): this process's, but for the bench's own
/// thread, which drives the rounds (the officer's HTTP client, the phones' reports read from
/// their pipe) and is no part of the hub. The hub's tasks run on the runtime's workers and the
/// store's threads.
fn own_cpu() -> Duration {
    assert_eq!(
        std::thread::current().name(),
        Some("main"),
        "the rounds are driven from the main thread (`block_on`)"
    );
    process_cpu_so_far() - cpu_of(libc::RUSAGE_THREAD)
}

/// This whole process's CPU time so far, the bench's own thread included.
fn process_cpu_so_far() -> Duration {
    cpu_of(libc::RUSAGE_SELF)
}

fn cpu_of(who: libc::c_int) -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(who, &mut usage), 0);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// A hub row of this process has measured its resident memory: the next would measure little
/// but what the allocator kept from it.
static RSS_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// This process's open files.
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The system allocator, counting the bytes live on the heap: what a connected phone costs the
/// hub, which resident memory cannot tell (freed memory stays resident and is reused).
struct CountingHeap {
    live: std::sync::atomic::AtomicUsize,
}

impl CountingHeap {
    fn live(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[global_allocator]
static HEAP: CountingHeap = CountingHeap {
    live: std::sync::atomic::AtomicUsize::new(0),
};

// SAFETY: every call is passed to the system allocator unchanged; only a counter is kept.
unsafe impl std::alloc::GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        self.live.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        self.live.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        self.live.fetch_add(new_size, std::sync::atomic::Ordering::Relaxed);
        self.live.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

fn logins(n: usize) -> Vec<Login> {
    (0..n)
        .map(|i| Login {
            username: format!("phone{i}"),
            token: format!("token-{}", Uuid::new_v4().simple()),
            user_id: Uuid::new_v4(),
        })
        .collect()
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
