//! MQTT with real clients — rumqttc, and Mosquitto's `mosquitto_sub`/`mosquitto_pub` run as
//! child processes — against the hub's own MQTT endpoint, and against an external Mosquitto the
//! test starts and stops to show that a broker restart loses nothing the hub accepted.

use crate::harness::{circle_alert, Account, Backend, TestHub, PASSWORD};
use crate::on_both_backends;
use reqwest::StatusCode;
use rumqttc::{AsyncClient, ConnectionError, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::mpsc;
use uuid::Uuid;

const BENI: (f64, f64) = (0.4911, 29.4731);
/// Longest wait for something that should happen.
const WAIT: Duration = Duration::from_secs(5);

on_both_backends!(
    alert_update_and_cancel_reach_the_inbox_with_receipts,
    a_phones_puback_reaches_the_headcount_live,
    checkins_and_sos_over_mqtt_reach_the_headcount_and_bad_payloads_are_answered,
    a_broker_restart_loses_nothing_the_hub_accepted,
);

pub(crate) fn inbox(user: Uuid) -> String {
    format!("scaan/v1/staff/{user}/inbox")
}

pub(crate) fn phone_topic(user: Uuid, kind: &str) -> String {
    format!("scaan/v1/staff/{user}/{kind}")
}

pub(crate) fn broker(hub: &TestHub) -> SocketAddr {
    hub.app
        .mqtt
        .embedded_addr()
        .expect("the hub runs its own MQTT endpoint")
}

/// What a phone's connection saw.
#[derive(Debug)]
pub(crate) enum Seen {
    Connected,
    Message(String, Value),
    SubAck(Vec<SubscribeReasonCode>),
    Refused(String),
    Closed,
}

/// A phone: a rumqttc client whose event loop runs in its own task.
pub(crate) struct Phone {
    client: AsyncClient,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Phone {
    /// Connects and returns once the broker accepted, or what it said instead.
    pub(crate) async fn try_connect(
        addr: SocketAddr,
        id: &str,
        login: Option<(&str, &str)>,
        clean: bool,
    ) -> Result<Phone, String> {
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options.set_clean_session(clean).set_keep_alive(Duration::from_secs(30));
        if let Some((username, password)) = login {
            options.set_credentials(username, password);
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (tx, mut seen) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let next = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::Connected,
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let body = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                        Seen::Message(p.topic.clone(), body)
                    }
                    Ok(Event::Incoming(Packet::SubAck(s))) => Seen::SubAck(s.return_codes),
                    Ok(_) => continue,
                    Err(ConnectionError::ConnectionRefused(code)) => Seen::Refused(format!("{code:?}")),
                    Err(_) => Seen::Closed,
                };
                let last = matches!(next, Seen::Refused(_) | Seen::Closed);
                if tx.send(next).is_err() || last {
                    return;
                }
            }
        });
        match tokio::time::timeout(WAIT, seen.recv()).await {
            Ok(Some(Seen::Connected)) => Ok(Phone { client, seen, task }),
            Ok(Some(Seen::Refused(code))) => Err(format!("Refused: {code}")),
            other => {
                task.abort();
                Err(format!("{other:?}"))
            }
        }
    }

    pub(crate) async fn connect(hub: &TestHub, who: &Account, id: &str, clean: bool) -> Phone {
        Self::try_connect(broker(hub), id, Some((&who.user.username, &who.token)), clean)
            .await
            .expect("the phone connects")
    }

    pub(crate) async fn subscribe(&mut self, filter: &str) -> Vec<SubscribeReasonCode> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        loop {
            match self.next().await {
                Some(Seen::SubAck(codes)) => return codes,
                Some(Seen::Message(..)) => continue,
                other => panic!("no SUBACK: {other:?}"),
            }
        }
    }

    pub(crate) async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    pub(crate) async fn next(&mut self) -> Option<Seen> {
        tokio::time::timeout(WAIT, self.seen.recv()).await.ok().flatten()
    }

    /// The next envelope on the inbox, which must be of `kind`.
    pub(crate) async fn expect(&mut self, kind: &str) -> Value {
        match self.next().await {
            Some(Seen::Message(topic, envelope)) => {
                assert!(topic.ends_with("/inbox"), "{topic}");
                assert_eq!(envelope["type"], kind, "expected {kind}, got {envelope}");
                envelope
            }
            other => panic!("expected {kind}, got {other:?}"),
        }
    }

    pub(crate) async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

/// Polls the alert's receipt for `user` until `ready` holds.
pub(crate) async fn receipt_when(
    hub: &TestHub,
    officer: &Account,
    alert: &str,
    user: Uuid,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, body) = hub.get(&format!("/api/v1/alerts/{alert}/deliveries"), officer).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let receipt = body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["user_id"] == json!(user))
            .cloned()
            .unwrap_or(Value::Null);
        if ready(&receipt) {
            return receipt;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "receipt never got there: {receipt}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn headcount(hub: &TestHub, officer: &Account, alert: &str) -> Value {
    hub.get(&format!("/api/v1/alerts/{alert}/headcount"), officer).await.1
}

pub(crate) async fn send_alert(hub: &TestHub, officer: &Account, headline: &str) -> Value {
    let (status, alert) = hub
        .post(
            "/api/v1/alerts",
            officer,
            circle_alert(headline, BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    alert
}

async fn alert_update_and_cancel_reach_the_inbox_with_receipts(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    assert_eq!(
        phone.subscribe(&inbox(amani.user.id)).await,
        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );

    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let id = alert["id"].as_str().unwrap();
    assert_eq!(phone.expect("alert").await["alert"]["id"], alert["id"]);
    // rumqttc PUBACKs it: delivered, which only the phone's PUBACK makes it.
    let receipt = receipt_when(&hub, &watch, id, amani.user.id, |r| r["delivered_at"].is_string()).await;
    assert_eq!(receipt["channel"], "mqtt");
    assert_eq!(receipt["username"], "amani");
    assert_eq!(receipt["status"], "delivered");
    assert!(
        receipt["queued_at"].is_string() && receipt["sent_at"].is_string() && receipt["acknowledged_at"].is_null(),
        "{receipt}"
    );

    // The app acknowledges: the receipt shows it.
    phone
        .publish(&phone_topic(amani.user.id, "ack"), json!({"alert_id": id}).to_string())
        .await;
    let receipt = receipt_when(&hub, &watch, id, amani.user.id, |r| r["acknowledged_at"].is_string()).await;
    assert_eq!(receipt["status"], "read");

    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/update"),
            &watch,
            json!({"severity": "extreme"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(phone.expect("alert_update").await["alert"]["severity"], "extreme");
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/cancel"),
            &watch,
            json!({"reason": "All calm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(phone.expect("alert_cancel").await["alert"]["cancel_reason"], "All calm");

    // Receipts are for officers.
    let (status, _) = hub.get(&format!("/api/v1/alerts/{id}/deliveries"), &amani).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    phone.disconnect().await;
    hub.stop().await;
}

async fn a_phones_puback_reaches_the_headcount_live(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    phone.subscribe(&inbox(amani.user.id)).await;
    let mut officer = hub.stream(&watch).await;
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let id = alert["id"].as_str().unwrap();
    officer.expect("alert").await;
    phone.expect("alert").await;

    // rumqttc PUBACKs it: the officers' counts say Amani is reached, with no answer from anyone.
    let counts = officer.expect("headcount").await;
    assert_eq!(
        (counts["no_response"].as_u64(), counts["not_reached"].as_u64()),
        (Some(2), Some(1)),
        "{counts}"
    );
    let board = headcount(&hub, &watch, id).await;
    let reached: Vec<(&str, bool)> = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["username"].as_str().unwrap(), e["reached"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        reached,
        [("bahati", false), ("amani", true)],
        "the unreached first: {board}"
    );
    phone.disconnect().await;
    hub.stop().await;
}

async fn checkins_and_sos_over_mqtt_reach_the_headcount_and_bad_payloads_are_answered(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let me = amani.user.id;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    phone.subscribe(&inbox(me)).await;
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let id = alert["id"].as_str().unwrap();
    phone.expect("alert").await;

    // Bad payloads change nothing and are answered on the sender's inbox.
    phone.publish(&phone_topic(me, "checkin"), "{not json").await;
    assert_eq!(phone.expect("error").await["code"], "malformed_json");
    phone
        .publish(
            &phone_topic(me, "checkin"),
            json!({"alert_id": id, "status": "fine", "ref": "c1"}).to_string(),
        )
        .await;
    let error = phone.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("invalid_field"), Some("c1")),
        "{error}"
    );
    assert!(error["message"].as_str().unwrap().contains("need_help"), "{error}");
    phone
        .publish(
            &phone_topic(me, "location"),
            json!({"lat": 91.0, "lon": 0.0}).to_string(),
        )
        .await;
    assert!(phone.expect("error").await["message"].as_str().unwrap().contains("lat"));
    assert_eq!(headcount(&hub, &watch, id).await["no_response"], 1);

    // mosquitto_pub: a check-in from the command line, acknowledged once stored.
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker(&hub).port().to_string(),
            "-q",
            "1",
            "-V",
            "mqttv311",
        ])
        .args(["-u", "amani", "-P", &amani.token, "-i", "amani-cli"])
        .args(["-t", &phone_topic(me, "checkin"), "-m"])
        .arg(json!({"alert_id": id, "status": "need_help", "note": "stuck at home"}).to_string())
        .output()
        .expect("mosquitto_pub runs (apt-get install mosquitto-clients)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(phone.expect("checkin_ack").await["status"], "need_help");
    let counted = headcount(&hub, &watch, id).await;
    assert_eq!(
        (counted["need_help"].as_u64(), counted["no_response"].as_u64()),
        (Some(1), Some(0)),
        "{counted}"
    );

    // rumqttc: the person is safe now; the latest check-in counts.
    phone
        .publish(
            &phone_topic(me, "checkin"),
            json!({"alert_id": id, "status": "safe"}).to_string(),
        )
        .await;
    assert_eq!(phone.expect("checkin_ack").await["status"], "safe");
    assert_eq!(headcount(&hub, &watch, id).await["safe"], 1);

    // SOS over MQTT reaches the officers and comes back on the inbox.
    let mut watch_stream = hub.stream(&watch).await;
    phone
        .publish(
            &phone_topic(me, "sos"),
            json!({"note": "car stopped at a roadblock"}).to_string(),
        )
        .await;
    let sos = phone.expect("sos").await;
    assert_eq!(sos["sos"]["staff_id"], json!(me));
    // The officer's stream may first carry the headcount's counts from the check-ins above.
    let announced = loop {
        let envelope = watch_stream
            .next_within(WAIT)
            .await
            .expect("the SOS reaches the officer");
        if envelope["type"] != "headcount" {
            break envelope;
        }
    };
    assert_eq!(
        (announced["type"].as_str(), &announced["sos"]["id"]),
        (Some("sos"), &sos["sos"]["id"])
    );
    let (_, open) = hub.get("/api/v1/sos?status=open", &watch).await;
    assert_eq!(open.as_array().unwrap().len(), 1);

    // An incident report over MQTT: a bad one is answered and stores nothing; a good one comes
    // back on the inbox as the `report` envelope and is in the officers' queue.
    phone
        .publish(
            &phone_topic(me, "report"),
            json!({"category": "weather", "description": "flooding", "position": {"lat": 0.49, "lon": 29.47}})
                .to_string(),
        )
        .await;
    let error = phone.expect("error").await;
    assert!(error["message"].as_str().unwrap().contains("category"), "{error}");
    assert_eq!(hub.get("/api/v1/reports", &watch).await.1, json!([]));
    // One that parses but breaks a rule is refused by the reports service, in the words the
    // HTTP answer would have.
    phone
        .publish(
            &phone_topic(me, "report"),
            json!({"category": "crime", "description": "theft", "position": {"lat": 0.49, "lon": 29.47},
                   "occurred_at": "2999-01-01T00:00:00Z"})
            .to_string(),
        )
        .await;
    let error = phone.expect("error").await;
    assert_eq!(error["code"], "invalid_field", "{error}");
    assert!(
        error["message"].as_str().unwrap().starts_with("occurred_at: "),
        "{error}"
    );
    assert_eq!(hub.get("/api/v1/reports", &watch).await.1, json!([]));
    phone
        .publish(
            &phone_topic(me, "report"),
            json!({"category": "crossfire", "description": "gunfire near the market",
                   "position": {"lat": 0.49, "lon": 29.47}})
            .to_string(),
        )
        .await;
    let report = phone.expect("report").await;
    assert_eq!(
        (
            report["report"]["country"].as_str(),
            report["report"]["reporter_id"].clone()
        ),
        (Some("CD"), json!(me))
    );
    let (_, queue) = hub.get("/api/v1/reports?status=new", &watch).await;
    assert_eq!(queue[0]["id"], report["report"]["id"], "{queue}");

    // An acknowledgement of an alert that was not sent to you.
    phone
        .publish(&phone_topic(me, "ack"), json!({"alert_id": Uuid::new_v4()}).to_string())
        .await;
    assert_eq!(phone.expect("error").await["code"], "not_found");
    phone.disconnect().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_phone_gets_the_alert_on_reconnect() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let port = broker(&hub).port().to_string();

    // rumqttc: subscribe on a persistent session, go offline, come back.
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    phone.subscribe(&inbox(amani.user.id)).await;
    phone.disconnect().await;

    // mosquitto_sub: the same with a persistent session (-c -i), subscribing and leaving (-E).
    let sub = |extra: &[&str]| {
        Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-q",
                "1",
                "-V",
                "mqttv311",
                "-c",
                "-i",
                "bahati-phone",
            ])
            .args(["-u", "bahati", "-P", &bahati.token, "-t", &inbox(bahati.user.id)])
            .args(extra)
            .output()
            .expect("mosquitto_sub runs (apt-get install mosquitto-clients)")
    };
    let out = sub(&["-E"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", false).await;
    assert_eq!(phone.expect("alert").await["alert"]["id"], alert["id"]);
    let out = sub(&["-C", "1", "-W", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).expect("one envelope");
    assert_eq!(
        (envelope["type"].as_str(), &envelope["alert"]["id"]),
        (Some("alert"), &alert["id"])
    );
    phone.disconnect().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_refuses_others_topics_and_bad_or_revoked_credentials() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let addr = broker(&hub);

    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    assert_eq!(
        phone.subscribe(&inbox(bahati.user.id)).await,
        [SubscribeReasonCode::Failure]
    );
    assert_eq!(
        phone.subscribe("scaan/v1/staff/+/inbox").await,
        [SubscribeReasonCode::Failure]
    );

    // Publishing as someone else: MQTT 3.1.1 has no refusal code, so the broker hangs up, and
    // nothing reaches the hub.
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let id = alert["id"].as_str().unwrap();
    phone
        .publish(
            &phone_topic(bahati.user.id, "checkin"),
            json!({"alert_id": id, "status": "safe"}).to_string(),
        )
        .await;
    assert!(matches!(phone.next().await, Some(Seen::Closed)), "the broker hangs up");
    let (_, headcount) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    assert_eq!(headcount["no_response"], 2, "{headcount}");

    // Bad credentials: a wrong token, a password instead of a token, someone else's token.
    for (username, password) in [
        ("amani", "not-a-token"),
        ("amani", PASSWORD),
        ("bahati", amani.token.as_str()),
    ] {
        let refused = Phone::try_connect(addr, "intruder", Some((username, password)), true).await;
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("Refused")),
            "{username}: {:?}",
            refused.err()
        );
    }
    assert!(Phone::try_connect(addr, "anonymous", None, true).await.is_err());
    let out = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &addr.port().to_string(),
            "-u",
            "amani",
            "-P",
            "wrong",
        ])
        .args(["-t", &inbox(amani.user.id), "-C", "1", "-W", "3"])
        .output()
        .expect("mosquitto_sub runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("not authori"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A revoked token opens no new connection.
    let (status, _) = hub.post("/api/v1/auth/logout", &amani, json!({})).await;
    assert!(status.is_success(), "{status}");
    let refused = Phone::try_connect(addr, "amani-phone", Some(("amani", &amani.token)), true).await;
    assert!(refused.is_err(), "a revoked token is refused");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_closes_the_mqtt_connections_its_token_opened_and_no_others() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let tablet_token = hub.login("amani", PASSWORD).await.expect("a second login");
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    let tablet = Account {
        user: amani.user.clone(),
        token: tablet_token,
    };
    let mut on_tablet = Phone::connect(&hub, &tablet, "amani-tablet", true).await;

    let (status, _) = hub.post("/api/v1/auth/logout", &amani, json!({})).await;
    assert!(status.is_success(), "{status}");
    assert!(
        matches!(phone.next().await, Some(Seen::Closed)),
        "the phone's connection is closed"
    );
    // The tablet logged in separately and stays connected.
    assert_eq!(
        on_tablet.subscribe(&inbox(amani.user.id)).await,
        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    on_tablet.disconnect().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_connection_ends_when_its_token_expires() {
    let hub = TestHub::start(Backend::Sqlite).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let token = scaan_server::auth::new_token();
    let now = chrono::Utc::now();
    hub.app
        .store
        .insert_token(
            &scaan_server::auth::token_hash(&token),
            amani.user.id,
            now,
            now + chrono::Duration::seconds(2),
        )
        .await
        .unwrap();
    let short = Account {
        user: amani.user.clone(),
        token,
    };
    let mut phone = Phone::connect(&hub, &short, "amani-phone", true).await;
    let started = std::time::Instant::now();
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(6), phone.seen.recv()).await {
            Ok(Some(Seen::Closed)) => break true,
            Ok(Some(_)) => continue,
            _ => break false,
        }
    };
    assert!(closed, "the connection outlived its token");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    hub.stop().await;
}

/// Eclipse Paho (Python), a third-party client library, over MQTT 3.1.1 and 5 with keep-alive 0:
/// it subscribes, gets the alert, checks in and gets the hub's acknowledgement.
async fn paho_phone(version: &str) {
    let hub = TestHub::start(Backend::Sqlite).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/paho_phone.py");
    let port = broker(&hub).port().to_string();
    let mut phone = tokio::process::Command::new("python3")
        .args([
            script,
            "127.0.0.1",
            &port,
            "amani",
            &amani.token,
            &amani.user.id.to_string(),
            version,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (scripts/test.sh installs paho-mqtt)");
    let mut lines = tokio::io::BufReader::new(phone.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(WAIT * 4, lines.next_line())
        .await
        .expect("paho subscribes in time");
    assert_eq!(first.unwrap().as_deref(), Some("subscribed"));

    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let outcome = tokio::time::timeout(WAIT * 6, lines.next_line())
        .await
        .expect("paho is answered in time")
        .unwrap()
        .unwrap_or_default();
    let status = phone.wait().await.unwrap();
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt as _;
    phone.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    assert!(status.success(), "paho {version}: {stderr}");
    let outcome: Value = serde_json::from_str(&outcome).expect("one JSON line");
    assert_eq!(outcome["alert"], alert["id"]);
    assert_eq!(outcome["ack"]["type"], "checkin_ack");
    let id = alert["id"].as_str().unwrap();
    assert_eq!(headcount(&hub, &watch, id).await["safe"], 1);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_mqtt_3_1_1_gets_the_alert_and_its_checkin_is_acknowledged() {
    paho_phone("3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_mqtt_5_gets_the_alert_and_its_checkin_is_acknowledged() {
    paho_phone("5").await;
}

/// A certificate authority of the test's own, and a certificate it signed for `localhost`.
struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name.push(rcgen::DnType::CommonName, "SCAAN test CA");
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        // Its own name: a leaf named like its issuer reads as self-signed to OpenSSL.
        let mut hub = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        hub.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        let cert = hub.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("hub.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("hub.key"), key.serialize_pem()).unwrap();
        TestCa { dir }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_reach_the_hub_over_tls_with_its_certificate_and_only_then() {
    let ca = TestCa::new();
    let hub = TestHub::start_configured(Backend::Sqlite, |c| {
        c.mqtt_tls_listen = Some("127.0.0.1:0".parse().unwrap());
        c.mqtt_tls_cert_file = Some(ca.path("hub.pem").into());
        c.mqtt_tls_key_file = Some(ca.path("hub.key").into());
    })
    .await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let port = hub.app.mqtt.tls_addr().expect("the TLS listener").port().to_string();
    let sub = |cafile: &str, more: &[&str]| {
        Command::new("mosquitto_sub")
            .args(["-h", "localhost", "-p", &port, "--cafile", cafile, "-V", "mqttv5"])
            .args([
                "-u",
                "amani",
                "-P",
                &amani.token,
                "-q",
                "1",
                "-c",
                "-x",
                "3600",
                "-i",
                "amani-tls",
            ])
            .args(["-t", &inbox(amani.user.id)])
            .args(more)
            .output()
            .expect("mosquitto_sub runs")
    };
    // Subscribed over TLS with a persistent session, away while the alert goes out, back for it.
    let out = sub(&ca.path("ca.pem"), &["-E"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alert = send_alert(&hub, &watch, "Armed clashes reported near Beni").await;
    let out = sub(&ca.path("ca.pem"), &["-C", "1", "-W", "10"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let envelope: Value = serde_json::from_slice(&out.stdout).expect("one envelope");
    assert_eq!(envelope["alert"]["id"], alert["id"]);

    // A phone that does not trust the certificate never gets as far as sending its token.
    let stranger = TestCa::new();
    let out = sub(&stranger.path("ca.pem"), &["-E"]);
    assert!(!out.status.success(), "a certificate from another CA is refused");
    hub.stop().await;
}

/// A Mosquitto the test controls, on a free port, keeping its sessions on disk across restarts.
struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    fn start() -> Mosquitto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            // `user root`: started as root, Mosquitto would otherwise drop to a user who cannot
            // write the test's directory (it has no effect when not started as root).
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nuser root\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut broker = Mosquitto { port, dir, child: None };
        broker.run();
        broker
    }

    fn run(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (apt-get install mosquitto)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, so Mosquitto writes its sessions to disk, and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `/healthz` until it answers `status`; returns its body.
async fn health_becomes(hub: &TestHub, status: StatusCode) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (now, body) = hub.call("GET", "/healthz", None, None).await;
        if now == status {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/healthz stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_broker_restart_loses_nothing_the_hub_accepted(backend: Backend) {
    let mut mosquitto = Mosquitto::start();
    let url = format!("mqtt://{}", mosquitto.addr());
    let hub = TestHub::start_configured(backend, |c| c.mqtt_url = Some(url)).await;
    assert_eq!(health_becomes(&hub, StatusCode::OK).await["mqtt"]["broker"], "external");
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    // The phone's persistent session (this Mosquitto lets anyone in: it tests the hub's link).
    let phone = Phone::try_connect(mosquitto.addr(), "amani-phone", None, false)
        .await
        .unwrap();
    let mut phone = phone;
    phone.subscribe(&inbox(amani.user.id)).await;
    phone.disconnect().await;

    // The broker goes away: the hub says so, and still accepts alerts into its outbox.
    mosquitto.stop();
    let down = health_becomes(&hub, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(down["error"]["message"].as_str().unwrap().contains("broker"), "{down}");
    let first = send_alert(&hub, &watch, "Clashes near Beni").await;
    let first_id = first["id"].as_str().unwrap();
    let receipt = receipt_when(&hub, &watch, first_id, amani.user.id, |r| r["queued_at"].is_string()).await;
    assert!(receipt["broker_accepted_at"].is_null(), "{receipt}");

    // The broker comes back: the link reconnects and the outbox goes out.
    mosquitto.run();
    health_becomes(&hub, StatusCode::OK).await;
    receipt_when(&hub, &watch, first_id, amani.user.id, |r| {
        r["broker_accepted_at"].is_string()
    })
    .await;

    // Broker away again, and the hub restarts too: the outbox is in the database.
    mosquitto.stop();
    health_becomes(&hub, StatusCode::SERVICE_UNAVAILABLE).await;
    let second = send_alert(&hub, &watch, "Road to Kasindi closed").await;
    let hub = hub.restart().await;
    mosquitto.run();
    health_becomes(&hub, StatusCode::OK).await;
    let second_id = second["id"].as_str().unwrap();
    receipt_when(&hub, &watch, second_id, amani.user.id, |r| {
        r["broker_accepted_at"].is_string()
    })
    .await;

    // The phone gets both, once each.
    let mut phone = Phone::try_connect(mosquitto.addr(), "amani-phone", None, false)
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(Seen::Message(_, envelope)) = tokio::time::timeout(Duration::from_millis(1500), phone.seen.recv())
        .await
        .ok()
        .flatten()
    {
        got.push(envelope["alert"]["id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(got, [first_id, second_id]);
    phone.disconnect().await;
    hub.stop().await;
}
