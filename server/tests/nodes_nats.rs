//! Several `scaan` nodes on one PostgreSQL database with a clustered external broker: three
//! `nats-server`s clustered on loopback (routes, JetStream clustered, MQTT on each, its sessions
//! replicated on all three), each node on its own server of the cluster, and HAProxy in front of
//! the nodes' HTTP (logins and alerts go through it). Only the leading node holds the broker
//! link (`scaan-hub`, a persistent session). Phones (MQTT 3.1.1, persistent sessions, the
//! login's signed password) are spread over the three servers. Under a load of alerts (through
//! the load balancer, so by every node) and check-ins, the leading node is killed outright
//! (SIGKILL), and:
//! - every check-in the hub acknowledged (`checkin_ack`) is counted;
//! - check-ins the broker took while no node led (the test itself queues for the leader lock
//!   before the kill, so the lead is free only when it lets go) wait in the hub's session at
//!   the broker, and are processed (acknowledged, counted) after the takeover;
//! - every alert the hub answered 201, before and after the kill, reaches every targeted phone;
//! - no phone gets an alert twice, except a copy the killed node had sent and whose PUBACK from
//!   the broker it had not yet stored (MQTT QoS 1 keeps nothing of a PUBACKed message to
//!   recognise it by: the new leader sends again what the store holds unacknowledged), so
//!   every copy received twice is checked to be one of those;
//! - logouts through two other nodes at once both hold on every server of the cluster (the
//!   revocations pushed are the store's, by the leader alone: no node's push undoes another's).
//!
//! Needs `SCAAN_TEST_POSTGRES_URL`, `SCAAN_TEST_HAPROXY` and `SCAAN_TEST_NATS`; without them it
//! prints SKIPPED.

mod common;
#[allow(dead_code)]
#[path = "../../tests/common/databases.rs"]
mod databases;

use common::deployment::{add_user, alert_body, call, haproxy_program, login, node_dir, Haproxy, BENI};
use scaan_mobile_bridge::fixtures::nats::{NatsCluster, CLUSTER_SIZE};
use scaan_mobile_bridge::phone::{BrokerUrl, Phone, PhoneOptions};
use scaan_mobile_bridge::topics::PhoneTopic;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const NODES: usize = 3;
const PHONES: usize = 12;
/// Phones that check in right after the kill, while no node holds the link.
const LATE: usize = 4;
/// A check-in not acknowledged within this is published again (same `ref`).
const CHECKIN_AGAIN: Duration = Duration::from_secs(15);
/// Generous limits on what must happen (a loaded machine is slow, not lossy).
const WAIT: Duration = Duration::from_secs(45);

/// One `scaan serve` of the deployment.
struct Node {
    process: Option<common::Running>,
    http: String,
}

/// Node `i` on server `i` of the cluster.
fn start_node(dir: &Path, i: usize, database: &str, nats: &NatsCluster) -> Node {
    let (nats_url, keys, name) = (nats.nats_url(i), nats.keys_file(), format!("node{i}"));
    let settings = [
        ("SCAAN_DATABASE_URL", database),
        ("SCAAN_NODE_NAME", name.as_str()),
        ("SCAAN_NATS_URL", nats_url.as_str()),
        ("SCAAN_NATS_KEYS_FILE", keys.to_str().unwrap()),
    ];
    let (process, http) = common::serve_on(dir, "127.0.0.1:0", &["--mqtt-url", &nats.mqtt_url(i)], &settings);
    Node {
        process: Some(process),
        http,
    }
}

/// The hub's leader lock (`nodes::leadership`), which the test queues for.
const LEADER_LOCK: i64 = 0x5CAA_0014;

/// Advisory locks waited for on the test's database.
async fn waiting_for_locks(database: &str) -> i64 {
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(database).await.unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&mut db)
    .await
    .unwrap()
}

/// Held advisory locks on the test's database: 1 while a node leads.
async fn leaders(db: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(db)
    .await
    .unwrap()
}

/// Whether node `base`'s own broker link is up (`/healthz` 200 without `"link": "leader"`).
async fn holds_link(base: &str) -> bool {
    match call(base, "GET", "/healthz", None, None).await {
        Some((200, health)) => health["mqtt"]["link"].is_null(),
        _ => false,
    }
}

/// A person's phone on server `server` of the cluster, with the login answer's password.
async fn connect(nats: &NatsCluster, server: usize, login: &Value) -> anyhow::Result<Phone> {
    let url: BrokerUrl = nats.mqtt_url(server).parse().unwrap();
    let id: Uuid = login["user"]["id"].as_str().unwrap().parse().unwrap();
    let password = login["mqtt_password"]
        .as_str()
        .expect("an MQTT password in the login's answer");
    let options = PhoneOptions::persistent(url, login["user"]["username"].as_str().unwrap(), password, id);
    Phone::connect(options).await
}

/// What one phone received, and its check-in.
#[derive(Default)]
struct PhoneLog {
    received: Vec<String>,
    /// When the broker first took the check-in (its PUBACK), and when the hub acknowledged it.
    published: Option<Instant>,
    acknowledged: Option<Instant>,
}

/// A phone: records every envelope, and checks in once told (published again, same `ref`,
/// until the hub acknowledges it).
async fn phone(
    mut phone: Phone,
    mut told: mpsc::UnboundedReceiver<Uuid>,
    log: Arc<Mutex<PhoneLog>>,
    stop: CancellationToken,
) {
    let reference = Uuid::new_v4().to_string();
    let mut checkin: Option<Vec<u8>> = None;
    let mut again_at = tokio::time::Instant::now();
    loop {
        let waiting = checkin.is_some() && log.lock().unwrap().acknowledged.is_none();
        tokio::select! {
            _ = stop.cancelled() => break,
            alert = told.recv() => {
                let Some(alert) = alert else { continue };
                let body = json!({"status": "safe", "alert_id": alert, "ref": reference});
                checkin = Some(serde_json::to_vec(&body).unwrap());
                again_at = tokio::time::Instant::now();
            }
            _ = tokio::time::sleep_until(again_at), if waiting => {
                phone
                    .publish(PhoneTopic::Checkin, checkin.clone().unwrap())
                    .await
                    .expect("the broker takes a check-in");
                log.lock().unwrap().published.get_or_insert_with(Instant::now);
                again_at = tokio::time::Instant::now() + CHECKIN_AGAIN;
            }
            received = phone.next_envelope() => match received {
                Ok(received) => {
                    let text = String::from_utf8(received.payload.to_vec()).unwrap();
                    let envelope: Value = serde_json::from_str(&text).unwrap();
                    let mut log = log.lock().unwrap();
                    if envelope["type"] == "checkin_ack" && envelope["ref"] == reference.as_str() {
                        log.acknowledged.get_or_insert_with(Instant::now);
                    }
                    log.received.push(text);
                }
                Err(e) => panic!("a phone's connection ended: {e:#}"),
            },
        }
    }
    for received in phone.disconnect().await {
        log.lock()
            .unwrap()
            .received
            .push(String::from_utf8(received.payload.to_vec()).unwrap());
    }
}

/// Waits (up to [`WAIT`]) until `done`.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`until`], for a look that awaits.
async fn until_async<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT;
    while !done().await {
        assert!(Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leading_node_killed_under_load_on_a_nats_cluster_loses_nothing() {
    use sqlx::Connection as _;
    let Some(databases::Backend::Postgres(server)) = databases::Backend::postgres() else {
        return;
    };
    let Some(haproxy) = haproxy_program() else {
        return;
    };
    let Some(nats) = NatsCluster::from_env().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = databases::Backend::Postgres(server).fresh_database(dir.path()).await;
    let node_dir = |i: usize| node_dir(dir.path(), i);
    let duty = format!("{},{}", BENI.0, BENI.1);
    add_user(
        &node_dir(0),
        &database,
        &["--username", "watch", "--role", "watch_officer"],
    );
    for i in 0..PHONES {
        let name = format!("staff{i}");
        add_user(
            &node_dir(0),
            &database,
            &["--username", &name, "--role", "staff", "--duty-station", &duty],
        );
    }
    for i in 0..2 {
        add_user(
            &node_dir(0),
            &database,
            &["--username", &format!("leaver{i}"), "--role", "staff"],
        );
    }

    // The first node leads (started alone, waited for until its link is up): it is killed.
    let mut db = sqlx::PgConnection::connect(&database).await.unwrap();
    let mut nodes = vec![start_node(&node_dir(0), 0, &database, &nats)];
    let first = nodes[0].http.clone();
    until_async("the first node's taking the lead and the link", || holds_link(&first)).await;
    assert_eq!(leaders(&mut db).await, 1);
    for i in 1..NODES {
        nodes.push(start_node(&node_dir(i), i, &database, &nats));
    }
    // The others are ready without the link, and say who holds it.
    for node in &nodes[1..] {
        let (status, health) = call(&node.http, "GET", "/healthz", None, None).await.unwrap();
        assert_eq!(status, 200, "{health}");
        assert_eq!(health["mqtt"]["link"], "leader", "{health}");
    }

    // The officer and the phones' logins go through the load balancer, as the app's do.
    let http: Vec<String> = nodes.iter().map(|n| n.http.clone()).collect();
    let lb = Haproxy::start(&haproxy, dir.path(), &http, &[]).await;
    let watch = login(&lb.http, "watch").await;
    let watch_token = watch["token"].as_str().unwrap().to_owned();
    let stop = CancellationToken::new();
    let mut phones = Vec::new();
    let mut phone_tasks = Vec::new();
    for i in 0..PHONES {
        let answer = login(&lb.http, &format!("staff{i}")).await;
        let id: Uuid = answer["user"]["id"].as_str().unwrap().parse().unwrap();
        let mut connected = connect(&nats, i % CLUSTER_SIZE, &answer)
            .await
            .unwrap_or_else(|e| panic!("phone {i} connects to NATS: {e:#}\n{}", nats.log(i % CLUSTER_SIZE)));
        connected.subscribe_inbox().await.unwrap();
        let (tell, told) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(PhoneLog::default()));
        phone_tasks.push(tokio::spawn(phone(connected, told, log.clone(), stop.clone())));
        phones.push((tell, log, id));
    }

    let (status, headcount) = call(
        &lb.http,
        "POST",
        "/api/v1/alerts",
        Some(&watch_token),
        Some(alert_body("Headcount", Some(600))),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{headcount}");
    let headcount_id: Uuid = headcount["id"].as_str().unwrap().parse().unwrap();

    // Alerts every 250 ms through the load balancer, each recorded with when answered.
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop_sending = CancellationToken::new();
    let sender = {
        let (sent, stop, base, token) = (sent.clone(), stop_sending.clone(), lb.http.clone(), watch_token.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let answer = call(
                    &base,
                    "POST",
                    "/api/v1/alerts",
                    Some(&token),
                    Some(alert_body(&format!("Alert {n}"), None)),
                )
                .await;
                if let Some((201, alert)) = answer {
                    let id = alert["id"].as_str().unwrap().to_owned();
                    sent.lock().unwrap().push((id, Instant::now()));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };

    // Check-ins before the kill, then the kill, then check-ins at once (no node holds the link
    // until one takes the lead and connects), then the rest after the takeover.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early = PHONES - LATE - 2;
    for (tell, _, _) in &phones[..early] {
        tell.send(headcount_id).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The test queues for the lead itself: PostgreSQL grants a freed advisory lock to the
    // session waiting for it, so after the kill no node leads, nor holds the link, until the
    // test lets go (a takeover as slow as the test needs, whenever the nodes campaign).
    let mut holder = sqlx::PgConnection::connect(&database).await.unwrap();
    let queued = tokio::spawn(async move {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .execute(&mut holder)
            .await
            .unwrap();
        holder
    });
    until_async("the test's queueing for the lead", || async {
        waiting_for_locks(&database).await == 1
    })
    .await;
    let killed_at = Instant::now();
    let killed_at_utc = chrono::Utc::now();
    nodes[0].process.take(); // SIGKILL
    let mut holder = queued.await.unwrap();
    for (tell, _, _) in &phones[early..early + LATE] {
        tell.send(headcount_id).unwrap();
    }
    until("the broker's taking the check-ins sent with no node leading", || {
        phones[early..early + LATE]
            .iter()
            .all(|(_, log, _)| log.lock().unwrap().published.is_some())
    })
    .await;
    for node in &nodes[1..] {
        assert!(!holds_link(&node.http).await, "a node holds the link while none leads");
    }
    let released_at = Instant::now();
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LEADER_LOCK)
        .execute(&mut holder)
        .await
        .unwrap();
    until_async("a surviving node's taking the link", || async {
        for node in &nodes[1..] {
            if holds_link(&node.http).await {
                return true;
            }
        }
        false
    })
    .await;
    let took_over = released_at.elapsed();
    for (tell, _, _) in &phones[early + LATE..] {
        tell.send(headcount_id).unwrap();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop_sending.cancel();
    sender.await.unwrap();
    assert_eq!(leaders(&mut db).await, 1, "one surviving node leads");

    // What is on its way arrives.
    let sent = sent.lock().unwrap().clone();
    let arrived = |log: &PhoneLog| {
        log.acknowledged.is_some()
            && sent
                .iter()
                .all(|(id, _)| log.received.iter().any(|text| text.contains(id.as_str())))
    };
    until("every check-in's answer and every alert's reaching every phone", || {
        phones.iter().all(|(_, log, _)| arrived(&log.lock().unwrap()))
    })
    .await;
    stop.cancel();
    for task in phone_tasks {
        task.await.unwrap();
    }
    let before = sent.iter().filter(|(_, answered)| *answered < killed_at).count();
    assert!(
        before >= 5 && sent.len() - before >= 5,
        "alerts before ({before}) and after the kill"
    );

    // Every acknowledged check-in is counted; those the broker took while no node held the link
    // were processed after the takeover.
    let acknowledged = phones
        .iter()
        .filter(|(_, log, _)| log.lock().unwrap().acknowledged.is_some())
        .count();
    assert_eq!(
        acknowledged, PHONES,
        "every phone's check-in was acknowledged in the end"
    );
    for (i, (_, log, _)) in phones.iter().enumerate().skip(early).take(LATE) {
        let log = log.lock().unwrap();
        assert!(
            log.published.is_some_and(|at| at < released_at) && log.acknowledged.is_some_and(|at| at > released_at),
            "phone {i}'s check-in: taken by the broker with no node leading, answered after the takeover"
        );
    }
    let (_, board) = call(
        &nodes[1].http,
        "GET",
        &format!("/api/v1/alerts/{headcount_id}/headcount"),
        Some(&watch_token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(board["safe"], acknowledged, "{board}");

    // No alert twice, but for copies the killed node had sent without storing the broker's
    // PUBACK: copies stored before the kill and not acknowledged before it. Each alert here has
    // one revision, so its row of deliveries' first acceptance is that revision's.
    let unsure: Vec<(String, Uuid)> = sqlx::query_as(
        "SELECT e.payload, r.user_id FROM mqtt_envelopes e JOIN alert_recipients r ON r.alert_id = e.alert_id \
         LEFT JOIN alert_deliveries d ON d.alert_id = r.alert_id AND d.user_id = r.user_id \
         WHERE e.revision IS NOT NULL AND e.created_at < $1 \
         AND (d.broker_accepted_at IS NULL OR d.broker_accepted_at >= $1)",
    )
    .bind(killed_at_utc)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let unsure: HashSet<(String, Uuid)> = unsure.into_iter().collect();
    let mut twice = 0;
    for (i, (_, log, user)) in phones.iter().enumerate() {
        let log = log.lock().unwrap();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for text in &log.received {
            let envelope: Value = serde_json::from_str(text).unwrap();
            if envelope["type"] != "alert" {
                continue;
            }
            let times = seen.entry(text.as_str()).or_default();
            *times += 1;
            if *times > 1 {
                assert!(
                    unsure.contains(&(text.clone(), *user)),
                    "phone {i} got an alert twice that the broker had acknowledged before the kill: {text}"
                );
                twice += 1;
            }
        }
        assert!(seen.values().all(|n| *n <= 2), "phone {i} got an alert three times");
    }

    // Logouts through two nodes at once: both hold on every server of the cluster.
    let mut leavers = Vec::new();
    for i in 0..2 {
        let answer = login(&nodes[1 + i].http, &format!("leaver{i}")).await;
        let mut connected = connect(&nats, 1 + i, &answer).await.expect("a leaver connects");
        connected.subscribe_inbox().await.unwrap();
        leavers.push((answer, connected));
    }
    let logouts = leavers.iter().enumerate().map(|(i, (answer, _))| {
        let (base, token) = (nodes[1 + i].http.clone(), answer["token"].as_str().unwrap().to_owned());
        async move { call(&base, "POST", "/api/v1/auth/logout", Some(&token), None).await }
    });
    for answered in futures_util::future::join_all(logouts).await {
        assert_eq!(answered.map(|(status, _)| status), Some(204));
    }
    for (answer, mut connected) in leavers {
        let ended = tokio::time::timeout(WAIT, connected.next_envelope())
            .await
            .expect("a logged-out phone is cut off in time");
        assert!(ended.is_err(), "a logged-out phone is cut off, not sent something");
        // Each server has the pushed account once the cluster has passed it on.
        for server in 0..CLUSTER_SIZE {
            let deadline = Instant::now() + WAIT;
            while let Ok(opened) = connect(&nats, server, &answer).await {
                opened.disconnect().await;
                assert!(
                    Instant::now() < deadline,
                    "a logged-out password still opens NATS server {server}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    eprintln!(
        "{} alerts ({before} before the kill), {acknowledged} check-ins ({LATE} while no node led, the link taken {took_over:?} after the lead was free), {twice} alerts received twice (sent again after the kill, unacknowledged by the broker before it)",
        sent.len()
    );
}
