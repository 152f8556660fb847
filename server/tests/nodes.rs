//! Several `scaan` nodes on one PostgreSQL database, behind HAProxy (HTTP and MQTT), with
//! phones (MQTT, persistent sessions) and consoles (WebSocket streams) spread over them by the
//! load balancer. Under a steady load of alerts and check-ins, the node that leads (runs the
//! scheduled work) is killed outright (SIGKILL), and:
//! - every check-in the hub acknowledged (`checkin_ack`) is counted, and every console's last
//!   board shows the same counts;
//! - every alert the hub answered 201 reaches every targeted phone, and every watch officer's
//!   stream that was open from before it was sent until after its answer;
//! - the headcount's second wave reaches each silent phone once, sent by the node that took
//!   over; the SOS is announced again without a gap longer than 10 s and without a number
//!   repeated or skipped;
//! - consoles cut off are streaming again through another node within 10 s, and phones get
//!   envelopes again within 10 s;
//! - no phone gets an envelope twice, except one it received in the last second before the
//!   kill, whose receipt the killed node had not yet stored (it was sent again as owed).
//!
//! Needs `SCAAN_TEST_POSTGRES_URL` and `SCAAN_TEST_HAPROXY` (`1`: `haproxy` from the `PATH` or
//! `/usr/sbin`); `.ci/run` sets both. Without them it prints SKIPPED.

mod common;
#[allow(dead_code)]
#[path = "../../tests/common/databases.rs"]
mod databases;

use common::deployment::{add_user, alert_body, call, haproxy_program, login, mqtt_endpoint, node_dir, Haproxy, BENI};
use futures_util::StreamExt as _;
use scaan_mobile_bridge::phone::{BrokerUrl, Phone, PhoneOptions};
use scaan_schemas::NewCheckin;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const NODES: usize = 3;
const PHONES: usize = 12;
/// Phones that never answer the headcount: the second wave is theirs.
const SILENT: usize = 3;
const CONSOLES: usize = 4;
/// How soon a client cut off must be live again through another node.
const LIVE_AGAIN: Duration = Duration::from_secs(10);
const REANNOUNCE_S: &str = "2";
/// The headcount's deadline (the shortest an alert may set): its second wave comes well after
/// the kill, from the node that took over.
const DEADLINE_S: u64 = 60;
/// An envelope received this long before the kill may come again: its receipt was still on its
/// way to the store (receipts are written in batches every 100 ms).
const RECEIPT_WINDOW: Duration = Duration::from_secs(1);

/// One `scaan serve` of the deployment.
struct Node {
    process: Option<common::Running>,
    http: String,
    mqtt: SocketAddr,
}

async fn start_node(dir: &Path, name: &str, database: &str) -> Node {
    let settings = [
        ("SCAAN_DATABASE_URL", database),
        ("SCAAN_NODE_NAME", name),
        ("SCAAN_SOS_REANNOUNCE_S", REANNOUNCE_S),
    ];
    let (process, http) = common::serve_on(dir, "127.0.0.1:0", &["--mqtt-listen", "127.0.0.1:0"], &settings);
    let mqtt = mqtt_endpoint(&http).await;
    Node {
        process: Some(process),
        http,
        mqtt,
    }
}

/// Held advisory locks on the test's database: 1 once a node leads.
async fn leaders(database: &str) -> i64 {
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(database).await.unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(&mut db)
    .await
    .unwrap()
}

/// What one console's stream showed, and when it was open.
#[derive(Default)]
struct ConsoleLog {
    alerts: HashSet<String>,
    /// `announcements` of each `sos_update`, in order, with when it came.
    sos: Vec<(u64, Instant)>,
    /// The last counts of each headcount (its `headcount` envelope).
    counts: HashMap<String, Value>,
    /// When each stream opened, and when it ended.
    opened: Vec<Instant>,
    closed: Vec<Instant>,
}

/// A console: its stream through the load balancer, opened again whenever it ends.
async fn console(base: String, token: String, log: Arc<Mutex<ConsoleLog>>, stop: CancellationToken) {
    let url = format!("{}/api/v1/stream", base.replace("http://", "ws://"));
    while !stop.is_cancelled() {
        let mut request = url.clone().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        log.lock().unwrap().opened.push(Instant::now());
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => {
                    let _ = socket.close(None).await;
                    return;
                }
                next = socket.next() => next,
            };
            let text = match next {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => continue,
                _ => break,
            };
            let envelope: Value = serde_json::from_str(&text).unwrap();
            let mut log = log.lock().unwrap();
            match envelope["type"].as_str() {
                Some("alert") => {
                    log.alerts.insert(envelope["alert"]["id"].as_str().unwrap().to_owned());
                }
                Some("sos_update") => {
                    let announcements = envelope["sos"]["announcements"].as_u64().unwrap();
                    log.sos.push((announcements, Instant::now()));
                }
                Some("headcount") => {
                    let alert = envelope["alert_id"].as_str().unwrap().to_owned();
                    log.counts.insert(alert, envelope.clone());
                }
                _ => {}
            }
        }
        log.lock().unwrap().closed.push(Instant::now());
    }
}

/// What one phone received, each envelope with when.
#[derive(Default)]
struct PhoneLog {
    received: Vec<(String, Instant)>,
    /// The alerts whose check-in the hub acknowledged.
    acknowledged: Vec<String>,
}

/// A phone through the load balancer: records every envelope, and checks in when told (the
/// check-in is sent again until the hub acknowledges it).
async fn phone(
    mut phone: Phone,
    mut checkins: mpsc::UnboundedReceiver<Uuid>,
    log: Arc<Mutex<PhoneLog>>,
    stop: CancellationToken,
) {
    let safe: NewCheckin = serde_json::from_value(json!({"status": "safe"})).unwrap();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            alert = checkins.recv() => {
                let Some(alert) = alert else { continue };
                // Sent again (a new ref) while its node is gone, as a phone's app would.
                for _ in 0..10 {
                    match phone.checkin_confirmed(alert, &safe).await {
                        Ok(_) => {
                            log.lock().unwrap().acknowledged.push(alert.to_string());
                            break;
                        }
                        Err(e) => {
                            eprintln!("a check-in is sent again: {e:#}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }
            received = phone.next_envelope() => match received {
                Ok(received) => {
                    let text = String::from_utf8(received.payload.to_vec()).unwrap();
                    log.lock().unwrap().received.push((text, Instant::now()));
                }
                Err(e) => panic!("a phone's connection ended: {e:#}"),
            },
        }
    }
    // What came while the last check-in waited for its answer.
    for received in phone.disconnect().await {
        let text = String::from_utf8(received.payload.to_vec()).unwrap();
        log.lock().unwrap().received.push((text, Instant::now()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_nothing_and_its_clients_and_work_move_to_the_others() {
    let Some(databases::Backend::Postgres(server)) = databases::Backend::postgres() else {
        return;
    };
    let Some(haproxy) = haproxy_program() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = databases::Backend::Postgres(server).fresh_database(dir.path()).await;
    let node_dir = |i: usize| node_dir(dir.path(), i);
    // The accounts, before any node runs (the first command migrates the database).
    let duty = format!("{},{}", BENI.0, BENI.1);
    for i in 0..CONSOLES {
        add_user(
            &node_dir(0),
            &database,
            &["--username", &format!("watch{i}"), "--role", "watch_officer"],
        );
    }
    for i in 0..PHONES {
        let name = format!("staff{i}");
        add_user(
            &node_dir(0),
            &database,
            &["--username", &name, "--role", "staff", "--duty-station", &duty],
        );
    }

    // The first node leads (it is started alone and waited for); it is the one killed.
    let mut nodes = vec![start_node(&node_dir(0), "node0", &database).await];
    let deadline = Instant::now() + Duration::from_secs(10);
    while leaders(&database).await != 1 {
        assert!(Instant::now() < deadline, "the first node never took the lead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 1..NODES {
        nodes.push(start_node(&node_dir(i), &format!("node{i}"), &database).await);
    }
    let http: Vec<String> = nodes.iter().map(|n| n.http.clone()).collect();
    let mqtt: Vec<SocketAddr> = nodes.iter().map(|n| n.mqtt).collect();
    let lb = Haproxy::start(&haproxy, dir.path(), &http, &mqtt).await;
    let stop = CancellationToken::new();

    // Consoles and phones, spread over the nodes by the load balancer. The consoles' logins
    // come first and their streams open one after another: with no other connection open,
    // `leastconn` puts one stream on each node in turn, so the killed node holds one. (A login
    // still open while a stream connected used to steer streams away from its node.)
    let mut watch_tokens = Vec::new();
    for i in 0..CONSOLES {
        let answer = login(&lb.http, &format!("watch{i}")).await;
        watch_tokens.push(answer["token"].as_str().unwrap().to_owned());
    }
    let watch_token = watch_tokens[0].clone();
    let mut consoles = Vec::new();
    for token in watch_tokens {
        let log = Arc::new(Mutex::new(ConsoleLog::default()));
        tokio::spawn(console(lb.http.clone(), token, log.clone(), stop.clone()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.lock().unwrap().opened.is_empty() {
            assert!(Instant::now() < deadline, "a console's stream did not open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        consoles.push(log);
    }
    let broker: BrokerUrl = format!("mqtt://{}", lb.mqtt.expect("an MQTT frontend"))
        .parse()
        .unwrap();
    let mut phones = Vec::new();
    let mut staff_tokens = Vec::new();
    for i in 0..PHONES {
        let answer = login(&lb.http, &format!("staff{i}")).await;
        let id: Uuid = answer["user"]["id"].as_str().unwrap().parse().unwrap();
        let token = answer["token"].as_str().unwrap().to_owned();
        let options = PhoneOptions::persistent(broker.clone(), &format!("staff{i}"), &token, id);
        let mut connected = Phone::connect(options)
            .await
            .expect("a phone connects through the load balancer");
        connected.subscribe_inbox().await.unwrap();
        let (tell, checkins) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(PhoneLog::default()));
        tokio::spawn(phone(connected, checkins, log.clone(), stop.clone()));
        phones.push((tell, log));
        staff_tokens.push(token);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The headcount, and an SOS nobody acknowledges.
    let (status, headcount) = call(
        &lb.http,
        "POST",
        "/api/v1/alerts",
        Some(&watch_token),
        Some(alert_body("Headcount", Some(DEADLINE_S))),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{headcount}");
    let headcount_id: Uuid = headcount["id"].as_str().unwrap().parse().unwrap();
    let headcount_sent = Instant::now();
    let sos_body = json!({"position": {"lat": BENI.0, "lon": BENI.1}});
    let (status, sos) = call(&lb.http, "POST", "/api/v1/sos", Some(&staff_tokens[0]), Some(sos_body))
        .await
        .unwrap();
    assert!(status == 200 || status == 201, "{sos}");

    // Alerts every 300 ms, before and after the kill, each recorded with when it was asked
    // and answered.
    let sent: Arc<Mutex<Vec<(String, Instant, Instant)>>> = Arc::default();
    let sending = CancellationToken::new();
    let sender = {
        let (sent, sending, base, token) = (sent.clone(), sending.clone(), lb.http.clone(), watch_token.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !sending.is_cancelled() {
                n += 1;
                let asked = Instant::now();
                let answer = call(
                    &base,
                    "POST",
                    "/api/v1/alerts",
                    Some(&token),
                    Some(alert_body(&format!("Alert {n}"), None)),
                )
                .await;
                if let Some((201, alert)) = answer {
                    sent.lock()
                        .unwrap()
                        .push((alert["id"].as_str().unwrap().to_owned(), asked, Instant::now()));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };

    // Check-ins from 2 s before the kill to 3 s after it, one phone at a time.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let answering: Vec<usize> = (SILENT..PHONES).collect();
    let checkins = {
        let tells: Vec<_> = answering.iter().map(|i| phones[*i].0.clone()).collect();
        tokio::spawn(async move {
            for tell in tells {
                tell.send(headcount_id).unwrap();
                tokio::time::sleep(Duration::from_millis(5_000 / (PHONES - SILENT) as u64)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let killed_at = Instant::now();
    nodes[0].process.take(); // SIGKILL
    checkins.await.unwrap();

    // Until the second wave is due, and a little after.
    let wave_at = headcount_sent + Duration::from_secs(DEADLINE_S);
    tokio::time::sleep_until((wave_at + Duration::from_secs(8)).into()).await;
    sending.cancel();
    sender.await.unwrap();
    // What is on its way arrives (waited for, up to 30 s: a loaded machine is slow, not lossy),
    // the phones and consoles still running.
    let every_alert = sent
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _, _)| id.clone())
        .collect::<Vec<_>>();
    let arrived = || {
        phones.iter().all(|(_, log)| {
            let log = log.lock().unwrap();
            every_alert
                .iter()
                .all(|id| log.received.iter().any(|(text, _)| text.contains(id.as_str())))
        })
    };
    let waited = Instant::now();
    while !arrived() && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    let ended_at = Instant::now();
    assert_eq!(leaders(&database).await, 1, "one surviving node leads");

    let sent = sent.lock().unwrap().clone();
    let before = sent.iter().filter(|(_, _, answered)| *answered < killed_at).count();
    assert!(
        before >= 10 && sent.len() - before >= 10,
        "alerts before ({before}) and after the kill"
    );

    // Every acknowledged check-in is counted, and every console shows those counts.
    let acknowledged: usize = phones
        .iter()
        .map(|(_, log)| log.lock().unwrap().acknowledged.len())
        .sum();
    assert_eq!(
        acknowledged,
        PHONES - SILENT,
        "every phone's check-in was acknowledged in the end"
    );
    let (_, board) = call(
        &lb.http,
        "GET",
        &format!("/api/v1/alerts/{headcount_id}/headcount"),
        Some(&watch_token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(board["safe"], acknowledged, "{board}");
    assert_eq!(board["total"], PHONES, "{board}");
    for (i, log) in consoles.iter().enumerate() {
        let counts = log.lock().unwrap().counts.get(&headcount_id.to_string()).cloned();
        assert_eq!(
            counts.as_ref().map(|c| c["safe"].clone()),
            Some(json!(acknowledged)),
            "console {i}'s board: {counts:?}"
        );
    }

    // Every alert answered reaches every phone; none twice, but for what came just before
    // the kill; the second wave reaches each silent phone once.
    let mut sent_again = 0;
    for (i, (_, log)) in phones.iter().enumerate() {
        let log = log.lock().unwrap();
        let envelopes: Vec<(Value, Instant)> = log
            .received
            .iter()
            .map(|(text, at)| (serde_json::from_str(text).unwrap(), *at))
            .collect();
        let alerts: HashSet<&str> = envelopes
            .iter()
            .filter(|(e, _)| e["type"] == "alert" && e["wave"].is_null())
            .filter_map(|(e, _)| e["alert"]["id"].as_str())
            .collect();
        for (id, _, _) in &sent {
            assert!(alerts.contains(id.as_str()), "phone {i} never got alert {id}");
        }
        let mut first_at: HashMap<&str, Instant> = HashMap::new();
        for (text, at) in &log.received {
            match first_at.get(text.as_str()) {
                None => {
                    first_at.insert(text, *at);
                }
                Some(first) if *first + RECEIPT_WINDOW >= killed_at && *first <= killed_at => sent_again += 1,
                Some(_) => panic!("phone {i} got an envelope twice: {text}"),
            }
        }
        let waves = envelopes
            .iter()
            .filter(|(e, _)| e["type"] == "alert" && e["wave"] == 2 && e["alert"]["id"] == headcount_id.to_string())
            .count();
        let expected = usize::from(i < SILENT);
        assert_eq!(waves, expected, "phone {i}'s second waves (silent: {})", i < SILENT);
        // Live again within LIVE_AGAIN of the kill (an alert goes out every 300 ms).
        assert!(
            envelopes
                .iter()
                .any(|(_, at)| *at > killed_at && *at < killed_at + LIVE_AGAIN),
            "phone {i} got nothing in the {LIVE_AGAIN:?} after the kill"
        );
    }

    // Every console streaming from before an alert was sent until after its answer got it;
    // one cut off by the kill streams again within LIVE_AGAIN.
    let mut cut = 0;
    for (i, log) in consoles.iter().enumerate() {
        let log = log.lock().unwrap();
        for (n, closed) in log.closed.iter().enumerate() {
            if *closed >= ended_at {
                continue;
            }
            cut += 1;
            let reopened = log.opened.get(n + 1).expect("the stream opened again");
            assert!(
                *reopened - *closed <= LIVE_AGAIN,
                "console {i} was cut off for {:?}",
                *reopened - *closed
            );
        }
        let open = |at: Instant| {
            log.opened.iter().enumerate().any(|(n, opened)| {
                *opened + Duration::from_millis(300) <= at && log.closed.get(n).is_none_or(|closed| at <= *closed)
            })
        };
        for (id, asked, answered) in &sent {
            if open(*asked) && open(*answered) {
                assert!(
                    log.alerts.contains(id),
                    "console {i} streamed throughout but missed alert {id}"
                );
            }
        }
        // The SOS's reminders: numbered on, none repeated or skipped, none 10 s apart.
        if log.closed.is_empty() || log.closed.iter().all(|c| *c >= ended_at) {
            let sos = &log.sos;
            assert!(sos.len() >= 10, "console {i} saw {} reminders", sos.len());
            for pair in sos.windows(2) {
                assert_eq!(
                    pair[1].0,
                    pair[0].0 + 1,
                    "console {i}'s reminders: {:?}",
                    sos.iter().map(|s| s.0).collect::<Vec<_>>()
                );
                assert!(
                    pair[1].1 - pair[0].1 < LIVE_AGAIN,
                    "reminders stopped for {:?}",
                    pair[1].1 - pair[0].1
                );
            }
        }
    }
    assert!(
        cut >= 1,
        "no console was on the killed node: the load balancer did not spread them"
    );
    assert!(cut < CONSOLES, "every console was on the killed node");
    eprintln!(
        "{} alerts ({before} before the kill), {acknowledged} check-ins, {cut} consoles moved, {sent_again} envelopes sent again after the kill",
        sent.len()
    );
}
