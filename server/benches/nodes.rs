//! Several hub nodes under an alert to every phone, in one run: a deployment of one `scaan serve`
//! node, then of two, each on a fresh PostgreSQL database, with N staff whose phones (MQTT,
//! persistent sessions, as the phone app connects) are spread evenly over the nodes, each phone
//! straight on its node's own MQTT endpoint (phone `i` on node `i mod k`; no load balancer: it
//! would add its own hop and CPU to what is measured). Every node runs as one of several
//! (`node_name` set), so the one-node row is the multi-node configuration with nobody to share
//! with, and the two-node row adds the other node and the node events between them. First, for
//! comparison, `alone`: one node without `node_name`, the single-node deployment on PostgreSQL.
//!
//! Per deployment:
//! - rounds (`SCAAN_BENCH_NODES_ROUNDS`, 5 by default), each an alert asking for a check-in,
//!   posted to node `round mod k` and answered by every phone the moment it arrives, so that the
//!   answers arrive while the alert is still going out: the officer's 201 (from the send), from
//!   the 201 to each phone having the alert (p50/p99, and the last phone; with two nodes, for
//!   the phones on the node that took the POST and on the other), the acknowledged check-ins per
//!   second (from the first check-in sent to the last `checkin_ack`), the ack p50/p99, how long
//!   after the last ack each node's officer stream shows the final counts, and each node's
//!   board (`GET /api/v1/alerts/{id}/headcount`), which must count every acknowledged check-in;
//! - `quiet`: an alert nobody answers, the fan-out alone;
//! - CPU time per recipient for each round (from the send to a second after the last ack, or the
//!   last receipt): each node's (`/proc/<pid>/stat`), their sum, the PostgreSQL server's (when it
//!   runs on this machine: every process of it, so whatever else uses it counts too: run it on a
//!   quiet machine) and the phones'; each node's resident memory before the phones connect, with
//!   them connected, after each round and at the end.
//!
//! Every phone must get each alert exactly once (a second copy fails the run).
//!
//! `SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test cargo bench -p scaan-server
//! --bench nodes`; `SCAAN_BENCH_NODES_PHONES` (10,000 by default) sets N,
//! `SCAAN_BENCH_NODES_DEPLOYMENTS` the deployments, in order (`alone,1,2` by default: `alone`, or
//! a number of nodes). Prints a table (medians over the rounds), then one JSON line.
//!
//! Here rather than in `tests/benches`: it runs the `scaan` binary, which Cargo builds only for
//! this crate's tests and benches. The phones run in one child process (this binary again), on
//! their own runtime, whatever the number of nodes, so that the phones' side costs the same in
//! every deployment; each process may hold 20,000 descriptors here, which 10,000 phones fit.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../../tests/benches/support/mod.rs"]
mod support;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::StreamExt as _;
use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use scaan_mobile_bridge::topics::{self, PhoneTopic};
use scaan_schemas::{NewUser, Role};
use scaan_server::storage::Store;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::measure::{percentile, process_cpu, raise_open_file_limit, resident_kib, round2};
use support::phones_process::{connect_mqtt, play_rounds, PhonesProcess};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// How long the phones may take to connect, and to play a round.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);
/// Names the phones' process's job file (the same binary, run again).
const JOB: &str = "SCAAN_BENCH_NODES_JOB";
/// Phones connecting at once.
const CONNECT_BATCH: usize = 250;
/// After a round, the work it leaves behind (receipts gathered for 100 ms, rows written after
/// the answer, the other nodes' events) is done within this, and counted in its CPU.
const SETTLE: Duration = Duration::from_secs(1);

/// One phone's login, and the node it is on.
#[derive(Clone, Serialize, Deserialize)]
struct Login {
    username: String,
    token: String,
    user_id: Uuid,
    /// The node's MQTT endpoint.
    broker: SocketAddr,
}

/// What the parent asks of the phones' process: each round, whether the phones answer.
#[derive(Serialize, Deserialize)]
struct Job {
    phones: Vec<Login>,
    answer: Vec<bool>,
}

/// One phone's round.
#[derive(Serialize, Deserialize)]
struct Receipt {
    alert: String,
    alert_at_ns: u128,
    /// Answering: when the check-in went, and when its `checkin_ack` came.
    checkin_sent_ns: Option<u128>,
    acked_at_ns: Option<u128>,
    /// Copies of an alert this phone already had, received while waiting for this round's.
    again: usize,
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
    let Ok(server) = std::env::var("SCAAN_BENCH_POSTGRES_URL") else {
        eprintln!("SKIPPED: several nodes need PostgreSQL: set SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
        return;
    };
    let phones: usize = std::env::var("SCAAN_BENCH_NODES_PHONES").map_or(10_000, |n| {
        n.trim().parse().expect("SCAAN_BENCH_NODES_PHONES: a number")
    });
    let rounds: usize = std::env::var("SCAAN_BENCH_NODES_ROUNDS")
        .map_or(5, |n| n.trim().parse().expect("SCAAN_BENCH_NODES_ROUNDS: a number"));
    let deployments: Vec<Deployment> = std::env::var("SCAAN_BENCH_NODES_DEPLOYMENTS")
        .unwrap_or_else(|_| "alone,1,2".into())
        .split(',')
        .map(|d| match d.trim() {
            "alone" => Deployment::Alone,
            k => Deployment::Nodes(
                k.parse()
                    .ok()
                    .filter(|&k: &usize| k > 0)
                    .expect("SCAAN_BENCH_NODES_DEPLOYMENTS: node counts (1 or more) or `alone`"),
            ),
        })
        .collect();
    // Each node process inherits this limit; the busiest holds every phone of a one-node row.
    assert!(
        phones + 1_000 <= open_files as usize,
        "{phones} phones need ~{phones} open files in one process; the limit is {open_files}"
    );
    let results: Vec<Value> = runtime.block_on(async {
        let mut results = Vec::new();
        for deployment in deployments {
            results.push(run(&server, deployment, phones, rounds).await);
        }
        results
    });
    let summary: Vec<Value> = results.iter().map(summarize).collect();
    table(&summary);
    println!(
        "{}",
        json!({"bench": "nodes", "phones": phones, "results": results, "summary": summary})
    );
}

#[derive(Clone, Copy)]
enum Deployment {
    /// One node without `node_name`: alone on its database, sharing nothing.
    Alone,
    /// `k` nodes, each one of several.
    Nodes(usize),
}

impl Deployment {
    fn nodes(self) -> usize {
        match self {
            Deployment::Alone => 1,
            Deployment::Nodes(k) => k,
        }
    }

    fn name(self) -> String {
        match self {
            Deployment::Alone => "alone".into(),
            Deployment::Nodes(k) => format!("{k} node{}", if k == 1 { "" } else { "s" }),
        }
    }
}

/// One `scaan serve`.
struct Node {
    process: common::Running,
    http: String,
    mqtt: SocketAddr,
}

impl Node {
    async fn start(dir: std::path::PathBuf, database: String, name: Option<String>) -> Node {
        let (process, http) = tokio::task::spawn_blocking(move || {
            let mut settings = vec![("SCAAN_DATABASE_URL", database.as_str())];
            if let Some(name) = &name {
                settings.push(("SCAAN_NODE_NAME", name));
            }
            common::serve_on(&dir, "127.0.0.1:0", &["--mqtt-listen", "127.0.0.1:0"], &settings)
        })
        .await
        .unwrap();
        let mqtt = common::deployment::mqtt_endpoint(&http).await;
        Node { process, http, mqtt }
    }

    fn pid(&self) -> u32 {
        self.process.id()
    }
}

/// One deployment: its database and accounts, its nodes, the phones spread over them, the
/// rounds and the quiet alert.
async fn run(server: &str, deployment: Deployment, n: usize, rounds: usize) -> Value {
    let postmaster = postmaster(server).await;
    let k = deployment.nodes();
    let dir = tempfile::tempdir().unwrap();
    let database = support::fresh_postgres(server).await;
    let started = Instant::now();
    let (officer, staff) = accounts(&database, n).await;
    eprintln!(
        "{}: {n} accounts in {:.1} s",
        deployment.name(),
        started.elapsed().as_secs_f64()
    );
    let mut nodes = Vec::with_capacity(k);
    for i in 0..k {
        let data = dir.path().join(format!("node{i}"));
        std::fs::create_dir_all(&data).unwrap();
        let name = matches!(deployment, Deployment::Nodes(_)).then(|| format!("node{i}"));
        nodes.push(Node::start(data, database.clone(), name).await);
    }
    let rss_before: Vec<u64> = nodes.iter().map(|node| resident_kib(node.pid())).collect();
    let logins: Vec<Login> = staff
        .into_iter()
        .enumerate()
        .map(|(i, (username, token, user_id))| Login {
            username,
            token,
            user_id,
            broker: nodes[i % k].mqtt,
        })
        .collect();
    let mut answer = vec![true; rounds];
    answer.push(false);
    let mut phones = PhonesProcess::start(JOB, &Job { phones: logins, answer }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected: Vec<u64> = nodes.iter().map(|node| resident_kib(node.pid())).collect();
    // An officer's console on each node: when its stream shows each headcount's final counts.
    let finals: Arc<Mutex<HashMap<(String, usize), SystemTime>>> = Arc::default();
    let mut consoles = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let socket = support::stream(&node.http, &officer).await;
        consoles.push(tokio::spawn(watch_finals(socket, i, finals.clone())));
    }
    let mut result = json!({
        "deployment": deployment.name(),
        "nodes": k,
        "phones": n,
        "setup_phones_per_s": (n as f64 / phones.connect_s).round(),
        "node_rss_kib_before_phones": rss_before,
        "node_rss_kib_connected": rss_connected,
        "node_rss_kib_per_idle_phone": rss_before.iter().zip(&rss_connected).enumerate()
            .map(|(i, (before, after))| round2(after.saturating_sub(*before) as f64 / on_node(n, k, i) as f64))
            .collect::<Vec<_>>(),
    });
    let http = reqwest::Client::new();
    let mut played = Vec::new();
    let mut events_read = 0;
    for round in 0..=rounds {
        let quiet = round == rounds;
        let posted_to = round % k;
        let cpu_before: Vec<Duration> = nodes.iter().map(|node| process_cpu(node.pid())).collect();
        let phones_cpu_before = phones.cpu();
        let postgres_before = postmaster.map(postgres_cpu);
        let sent = SystemTime::now();
        let response = http
            .post(format!("{}/api/v1/alerts", nodes[posted_to].http))
            .bearer_auth(&officer)
            .json(&support::alert(&format!("Clashes ({round})"), !quiet))
            .send()
            .await
            .unwrap();
        let answered = SystemTime::now();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let alert: Value = response.json().await.unwrap();
        assert_eq!(alert["recipients"], n, "every bench account is targeted: {alert}");
        let alert_id = alert["id"].as_str().unwrap().to_owned();
        let receipts: Vec<Receipt> = phones.round().await;
        let wrong = receipts.iter().filter(|r| r.alert != alert_id).count();
        assert_eq!(wrong, 0, "{wrong} phones got another alert than round {round}'s");
        let again: usize = receipts.iter().map(|r| r.again).sum();
        assert_eq!(again, 0, "{again} copies of an alert a phone already had");
        let mut figures = json!({
            "round": if quiet { "quiet".to_owned() } else { round.to_string() },
            "posted_to": posted_to,
            "alert_answered_ms": round1(ms_between(sent, answered)),
        });
        let answered_ns = ns(answered);
        let from_answer = |filter: &dyn Fn(usize) -> bool| {
            let mut latencies: Vec<f64> = receipts
                .iter()
                .enumerate()
                .filter(|(i, _)| filter(i % k))
                .map(|(_, r)| (r.alert_at_ns as i128 - answered_ns as i128) as f64 / 1e6)
                .collect();
            latencies.sort_by(f64::total_cmp);
            latencies
        };
        let all = from_answer(&|_| true);
        figures["received"] = json!(all.len());
        figures["p50_ms"] = json!(round1(percentile(&all, 0.50)));
        figures["p99_ms"] = json!(round1(percentile(&all, 0.99)));
        figures["last_ms"] = json!(round1(percentile(&all, 1.0)));
        if k > 1 {
            let here = from_answer(&|node| node == posted_to);
            let elsewhere = from_answer(&|node| node != posted_to);
            figures["posting_node_p50_p99_ms"] =
                json!([round1(percentile(&here, 0.50)), round1(percentile(&here, 0.99))]);
            figures["other_nodes_p50_p99_ms"] = json!([
                round1(percentile(&elsewhere, 0.50)),
                round1(percentile(&elsewhere, 0.99))
            ]);
        }
        if !quiet {
            checkins(&mut figures, &receipts, &alert_id, &finals, k).await;
        }
        tokio::time::sleep(SETTLE).await;
        let cpu: Vec<f64> = nodes
            .iter()
            .zip(&cpu_before)
            .map(|(node, before)| (process_cpu(node.pid()) - *before).as_secs_f64() * 1e6 / n as f64)
            .collect();
        figures["node_cpu_us_per_recipient"] = json!(cpu.iter().copied().map(round2).collect::<Vec<_>>());
        figures["cpu_us_per_recipient"] = json!(round2(cpu.iter().sum()));
        if let (Some(pid), Some(before)) = (postmaster, postgres_before) {
            figures["postgres_cpu_us_per_recipient"] =
                json!(round2((postgres_cpu(pid) - before).as_secs_f64() * 1e6 / n as f64));
        }
        figures["phones_cpu_us_per_recipient"] = json!(round2(
            (phones.cpu() - phones_cpu_before).as_secs_f64() * 1e6 / n as f64
        ));
        if !quiet {
            // Each node's board counts every acknowledged check-in.
            let acks = figures["acks"].as_u64().unwrap();
            for node in &nodes {
                let board: Value = http
                    .get(format!("{}/api/v1/alerts/{alert_id}/headcount", node.http))
                    .bearer_auth(&officer)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(
                    (board["safe"].as_u64(), board["total"].as_u64()),
                    (Some(acks), Some(n as u64)),
                    "{} board: {board}",
                    node.http
                );
            }
            figures["boards_agree"] = json!(true);
        }
        figures["node_events"] = node_events(&database, &mut events_read).await;
        figures["node_rss_kib"] = json!(nodes.iter().map(|node| resident_kib(node.pid())).collect::<Vec<_>>());
        eprintln!("{}: {figures}", deployment.name());
        played.push(figures);
    }
    result["node_rss_kib_end"] = json!(nodes.iter().map(|node| resident_kib(node.pid())).collect::<Vec<_>>());
    result["rounds"] = json!(played);
    for console in consoles {
        console.abort();
    }
    // The nodes go first (killed), so the connections' TIME_WAIT stays on their side and the
    // next deployment's phones find their ports free.
    drop(nodes);
    phones.finish().await;
    support::drop_postgres(server, &database).await;
    result
}

/// The phones on node `i` of `k`.
fn on_node(n: usize, k: usize, i: usize) -> usize {
    n / k + usize::from(i < n % k)
}

/// A round's check-ins: how many were acknowledged, how fast, and when each node's officer saw
/// the final counts.
async fn checkins(
    figures: &mut Value,
    receipts: &[Receipt],
    alert_id: &str,
    finals: &Mutex<HashMap<(String, usize), SystemTime>>,
    k: usize,
) {
    let acked: Vec<(u128, u128)> = receipts
        .iter()
        .filter_map(|r| Some((r.checkin_sent_ns?, r.acked_at_ns?)))
        .collect();
    assert_eq!(acked.len(), receipts.len(), "every phone's check-in is acknowledged");
    let first_sent = acked.iter().map(|a| a.0).min().unwrap();
    let last_ack = acked.iter().map(|a| a.1).max().unwrap();
    let mut ack_ms: Vec<f64> = acked.iter().map(|(s, a)| (a - s) as f64 / 1e6).collect();
    ack_ms.sort_by(f64::total_cmp);
    figures["acks"] = json!(acked.len());
    figures["checkins_per_s"] = json!((acked.len() as f64 / ((last_ack - first_sent) as f64 / 1e9)).round());
    figures["ack_p50_ms"] = json!(round1(percentile(&ack_ms, 0.50)));
    figures["ack_p99_ms"] = json!(round1(percentile(&ack_ms, 0.99)));
    let waited = Instant::now();
    let seen = loop {
        let seen: Vec<Option<SystemTime>> = {
            let finals = finals.lock().unwrap();
            (0..k).map(|i| finals.get(&(alert_id.to_owned(), i)).copied()).collect()
        };
        if seen.iter().all(Option::is_some) {
            break seen;
        }
        assert!(
            waited.elapsed() < PHASE_TIMEOUT,
            "the final counts never reached every node's officer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    figures["node_final_counts_after_last_ack_ms"] = json!(seen
        .into_iter()
        .map(|at| round1((ns(at.unwrap()) as i128 - last_ack as i128) as f64 / 1e6))
        .collect::<Vec<_>>());
}

/// Records when an officer's stream on node `node` shows each headcount with nobody left to
/// answer.
async fn watch_finals(
    mut socket: support::Socket,
    node: usize,
    finals: Arc<Mutex<HashMap<(String, usize), SystemTime>>>,
) {
    while let Some(Ok(frame)) = socket.next().await {
        let Message::Text(text) = frame else { continue };
        let envelope: Value = serde_json::from_str(&text).unwrap();
        if envelope["type"] == "headcount" && envelope["no_response"] == 0 {
            let alert = envelope["alert_id"].as_str().unwrap().to_owned();
            finals
                .lock()
                .unwrap()
                .entry((alert, node))
                .or_insert_with(SystemTime::now);
        }
    }
}

/// A watch officer and `n` staff on the grid near Beni, straight into the store (which the
/// first connection migrates), each with a token: what `scaan user add` would make, without
/// hashing a password for each. Returns the officer's token and each staff member's login.
async fn accounts(database: &str, n: usize) -> (String, Vec<(String, String, Uuid)>) {
    let store = Store::connect(database).await.unwrap();
    let hash = scaan_server::auth::hash_password(support::accounts::PASSWORD.into())
        .await
        .unwrap();
    let make = |username: String, role: Role, i: usize| {
        let (store, hash) = (&store, &hash);
        async move {
            let new = NewUser {
                username,
                password: String::new(),
                role,
                name: None,
                countries: vec![],
                duty_station: Some(support::accounts::near_beni(i)),
                phones: Vec::new(),
            };
            let now = chrono::Utc::now();
            let user = store.create_user(&new, hash, now).await.unwrap();
            let token = scaan_server::auth::new_token();
            let hash = scaan_server::auth::token_hash(&token);
            store
                .insert_token(&hash, user.id, now, now + chrono::Duration::hours(2))
                .await
                .unwrap();
            (user.username, token, user.id)
        }
    };
    let officer = make("watch".into(), Role::WatchOfficer, 0).await.1;
    let mut staff = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
        let batch = chunk.iter().map(|&i| make(format!("staff{i}"), Role::Staff, i));
        staff.extend(futures_util::future::join_all(batch).await);
    }
    store.close().await;
    (officer, staff)
}

/// The node events written since `after` (moved on to the last), by kind: how many, their
/// bytes (JSON) and what they take in the table (compressed): what every other node reads.
async fn node_events(database: &str, after: &mut i64) -> Value {
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(database).await.unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT kind, count(*), sum(octet_length(body))::bigint, sum(pg_column_size(body))::bigint, max(id) \
         FROM node_events WHERE id > $1 GROUP BY kind ORDER BY kind",
    )
    .bind(*after)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut events = serde_json::Map::new();
    for (kind, count, bytes, stored, last) in rows {
        events.insert(kind, json!({"rows": count, "bytes": bytes, "stored_bytes": stored}));
        *after = (*after).max(last);
    }
    Value::Object(events)
}

/// One staff member's phone, its event loop polled by the task that plays its round (as
/// `tests/benches/phones.rs` drives them: no task or channel per phone).
struct Handset {
    client: AsyncClient,
    events: EventLoop,
    checkins: String,
    /// The alerts it has had.
    alerts: HashSet<String>,
}

impl Handset {
    async fn connect(login: &Login) -> Handset {
        let (host, port) = (login.broker.ip().to_string(), login.broker.port());
        let (client, events) = connect_mqtt(login.user_id, &login.username, &login.token, &host, port).await;
        Handset {
            client,
            events,
            checkins: topics::phone_topic(login.user_id, PhoneTopic::Checkin),
            alerts: HashSet::new(),
        }
    }

    /// The next envelope, parsed (rumqttc PUBACKs it), and when it came.
    async fn next(&mut self) -> (Value, u128) {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) =
                self.events.poll().await.expect("the phone stays connected")
            {
                let envelope = serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
                return (envelope, ns(SystemTime::now()));
            }
        }
    }

    /// Waits for a new alert, answers it at once if `answer`, and waits for the ack.
    async fn round(&mut self, answer: bool, i: usize) -> Receipt {
        let mut again = 0;
        let (alert, alert_at_ns) = loop {
            let (envelope, at) = self.next().await;
            if envelope["type"] == "alert" {
                let id = envelope["alert"]["id"].as_str().unwrap_or_default().to_owned();
                if self.alerts.insert(id.clone()) {
                    break (id, at);
                }
                again += 1;
            }
        };
        let mut receipt = Receipt {
            alert,
            alert_at_ns,
            checkin_sent_ns: None,
            acked_at_ns: None,
            again,
        };
        if !answer {
            return receipt;
        }
        let reference = i.to_string();
        let body = json!({"alert_id": receipt.alert, "status": "safe", "ref": reference});
        receipt.checkin_sent_ns = Some(ns(SystemTime::now()));
        // Queued; the event loop, polled for the answer, sends it.
        self.client
            .publish(self.checkins.as_str(), QoS::AtLeastOnce, false, body.to_string())
            .await
            .unwrap();
        loop {
            let (reply, at) = self.next().await;
            match reply["type"].as_str() {
                Some("checkin_ack") if reply["ref"] == reference.as_str() => {
                    receipt.acked_at_ns = Some(at);
                    return receipt;
                }
                Some("error") => panic!("check-in refused: {reply}"),
                Some("alert") => {
                    let id = reply["alert"]["id"].as_str().unwrap_or_default();
                    assert!(self.alerts.contains(id), "an alert came before its round");
                    receipt.again += 1;
                }
                _ => {}
            }
        }
    }
}

/// The child's side: connect every phone, then play each round.
async fn phones(job: Job) {
    let started = Instant::now();
    let mut handsets = Vec::with_capacity(job.phones.len());
    for chunk in job.phones.chunks(CONNECT_BATCH) {
        handsets.extend(futures_util::future::join_all(chunk.iter().map(Handset::connect)).await);
    }
    let connect_s = started.elapsed().as_secs_f64();
    play_rounds(handsets, connect_s, job.answer, |handset, answer, i| async move {
        handset.lock().await.round(answer, i).await
    })
    .await;
}

/// Per deployment, the median over its answered rounds of each figure, and the quiet round's.
fn summarize(result: &Value) -> Value {
    let rounds = result["rounds"].as_array().unwrap();
    let (quiet, answered) = rounds.split_last().unwrap();
    let median = |key: &str| {
        let mut values: Vec<f64> = answered.iter().filter_map(|r| r[key].as_f64()).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().map_or(Value::Null, |v| json!(v))
    };
    let median_per_node = |key: &str| {
        let k = result["nodes"].as_u64().unwrap() as usize;
        (0..k)
            .map(|i| {
                let mut values: Vec<f64> = answered.iter().filter_map(|r| r[key][i].as_f64()).collect();
                values.sort_by(f64::total_cmp);
                values[values.len() / 2]
            })
            .collect::<Vec<_>>()
    };
    json!({
        "deployment": result["deployment"],
        "nodes": result["nodes"],
        "phones": result["phones"],
        "alert_answered_ms": median("alert_answered_ms"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "last_ms": median("last_ms"),
        "checkins_per_s": median("checkins_per_s"),
        "ack_p99_ms": median("ack_p99_ms"),
        "cpu_us_per_recipient": median("cpu_us_per_recipient"),
        "postgres_cpu_us_per_recipient": median("postgres_cpu_us_per_recipient"),
        "phones_cpu_us_per_recipient": median("phones_cpu_us_per_recipient"),
        "node_cpu_us_per_recipient": median_per_node("node_cpu_us_per_recipient"),
        "node_final_counts_after_last_ack_ms": median_per_node("node_final_counts_after_last_ack_ms"),
        "quiet": {
            "alert_answered_ms": quiet["alert_answered_ms"],
            "p50_ms": quiet["p50_ms"],
            "p99_ms": quiet["p99_ms"],
            "last_ms": quiet["last_ms"],
            "cpu_us_per_recipient": quiet["cpu_us_per_recipient"],
            "postgres_cpu_us_per_recipient": quiet["postgres_cpu_us_per_recipient"],
            "node_cpu_us_per_recipient": quiet["node_cpu_us_per_recipient"],
        },
        "node_rss_kib_connected": result["node_rss_kib_connected"],
        "node_rss_kib_per_idle_phone": result["node_rss_kib_per_idle_phone"],
        "node_rss_kib_end": result["node_rss_kib_end"],
        "setup_phones_per_s": result["setup_phones_per_s"],
    })
}

fn table(summary: &[Value]) {
    eprintln!(
        "| deployment | phones | 201 | p50 / p99 / last from the 201 | check-ins/s | ack p99 | CPU µs/recipient: nodes (each) / PostgreSQL / phones | quiet: p99 / last; CPU nodes (each) / PostgreSQL | RSS per node: connected → end | final counts after the last ack (each node) |"
    );
    eprintln!("|---|---|---|---|---|---|---|---|---|---|");
    for s in summary {
        let q = &s["quiet"];
        eprintln!(
            "| {} | {} | {} ms | {} / {} / {} ms | {} | {} ms | {} ({}) / {} / {} | {} / {} ms; {} ({}) / {} | {} → {} KiB | {} ms |",
            s["deployment"].as_str().unwrap(),
            s["phones"],
            s["alert_answered_ms"],
            s["p50_ms"],
            s["p99_ms"],
            s["last_ms"],
            s["checkins_per_s"],
            s["ack_p99_ms"],
            s["cpu_us_per_recipient"],
            s["node_cpu_us_per_recipient"],
            s["postgres_cpu_us_per_recipient"],
            s["phones_cpu_us_per_recipient"],
            q["p99_ms"],
            q["last_ms"],
            q["cpu_us_per_recipient"],
            q["node_cpu_us_per_recipient"],
            q["postgres_cpu_us_per_recipient"],
            s["node_rss_kib_connected"],
            s["node_rss_kib_end"],
            s["node_final_counts_after_last_ack_ms"],
        );
    }
}

fn ns(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).unwrap().as_nanos()
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64() * 1e3
}

/// The PostgreSQL server's process (the postmaster) when it runs on this machine: its CPU time
/// is the database's share of the two cores.
async fn postmaster(server: &str) -> Option<u32> {
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(server).await.ok()?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut db)
        .await
        .ok()?;
    let status = std::fs::read_to_string(format!("/proc/{backend}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))?
        .trim()
        .parse()
        .ok()
}

/// The whole database server's CPU time so far: the postmaster's, its live children's (the
/// backends, the WAL writer, …), and that of its children already ended (`cutime`, `cstime`).
fn postgres_cpu(postmaster: u32) -> Duration {
    let fields = |pid: &str| -> Option<Vec<u64>> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command's name: state, ppid, …; utime, stime, cutime, cstime are the 12th
        // to 15th (state is the 1st).
        let after: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let number = |i: usize| after.get(i).and_then(|f| f.parse::<u64>().ok());
        Some(vec![number(1)?, number(11)?, number(12)?, number(13)?, number(14)?])
    };
    let mut ticks = fields(&postmaster.to_string()).map_or(0, |f| f[1] + f[2] + f[3] + f[4]);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if let Some(f) = fields(pid).filter(|f| f[0] == u64::from(postmaster)) {
            ticks += f[1] + f[2];
        }
    }
    // SAFETY: sysconf has no preconditions.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / per_s as f64)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
