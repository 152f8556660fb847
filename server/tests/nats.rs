//! The `scaan` binary on an external NATS server (`nats_url`, `nats_keys_file`), with real
//! processes killed outright: a login's answer carries the MQTT password the hub signed; a
//! phone (rumqttc, persistent session, QoS 1) that went offline gets an alert the hub accepted
//! after both the hub and nats-server were killed (SIGKILL) and started again, once; another
//! person's inbox is refused; a logout cuts the phone off and its password opens nothing more.
//! Needs `SCAAN_TEST_NATS` (see `scaan_mobile_bridge::fixtures::nats`); `.ci/run` sets it.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use scaan_mobile_bridge::fixtures::nats::{self as nats_fixture, NatsServer};
use scaan_mobile_bridge::phone::{BrokerUrl, Phone, PhoneOptions};
use scaan_mobile_bridge::topics;
use serde_json::{json, Value};
use uuid::Uuid;

const PASSWORD: &str = "a long passphrase";
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_secs(1);

/// A running `scaan serve`, killed when dropped so a failing test leaves no hub behind.
struct Hub {
    process: common::Running,
    base: String,
}

impl Hub {
    /// `scaan serve` in `dir`, its phones on `nats`.
    fn serve(dir: &Path, nats: &NatsServer) -> Hub {
        let (nats_url, keys) = (nats.nats_url(), nats.keys_file());
        let settings = [
            ("SCAAN_NATS_URL", nats_url.as_str()),
            ("SCAAN_NATS_KEYS_FILE", keys.to_str().unwrap()),
        ];
        let (process, base) = common::serve_on(dir, "127.0.0.1:0", &["--mqtt-url", &nats.mqtt_url()], &settings);
        Hub { process, base }
    }

    /// SIGKILL: nothing is flushed or said goodbye on the way out.
    fn kill(self) {
        drop(self.process);
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the hub answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn login(&self, username: &str) -> Value {
        let (status, answer) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
        answer
    }
}

fn add_user(dir: &Path, args: &[&str]) {
    let out = common::add_user(dir, args, PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A person's phone: their username, the login answer's MQTT password, their own client id.
fn phone_options(nats: &NatsServer, login: &Value) -> PhoneOptions {
    let url: BrokerUrl = nats.mqtt_url().parse().unwrap();
    let id: Uuid = login["user"]["id"].as_str().unwrap().parse().unwrap();
    let password = login["mqtt_password"]
        .as_str()
        .expect("an MQTT password in the login's answer");
    PhoneOptions::persistent(url, login["user"]["username"].as_str().unwrap(), password, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_alert_reaches_an_offline_phone_after_the_hub_and_nats_are_both_killed() {
    let Some(mut nats) = NatsServer::from_env().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), &["--username", "watch", "--role", "watch_officer"]);
    add_user(
        dir.path(),
        &["--username", "amani", "--role", "staff", "--duty-station", "0.49,29.47"],
    );
    add_user(
        dir.path(),
        &["--username", "bea", "--role", "staff", "--duty-station", "0.49,29.47"],
    );
    let hub = Hub::serve(dir.path(), &nats);
    let watch = hub.login("watch").await;
    let amani = hub.login("amani").await;
    let bea = hub.login("bea").await;
    assert_ne!(
        amani["mqtt_password"], amani["token"],
        "NATS takes a signed JWT, not the token"
    );

    let mut phone = Phone::connect(phone_options(&nats, &amani))
        .await
        .unwrap_or_else(|e| panic!("the login's MQTT password opens NATS: {e:#}\n{}", nats.log()));
    phone.subscribe_inbox().await.expect("own inbox");
    let mut other = Phone::connect(phone_options(&nats, &bea)).await.expect("bea connects");
    let amani_id = amani["user"]["id"].as_str().unwrap().parse().unwrap();
    let refused = other.subscribe(&topics::inbox(amani_id)).await;
    assert!(refused.is_err(), "another person's inbox must be refused");
    other.disconnect().await;
    // Offline, the session kept by NATS.
    assert!(phone.disconnect().await.is_empty());

    let token = watch["token"].as_str().unwrap();
    let alert = json!({
        "headline": "Armed clashes reported near Beni", "event": "Armed clash", "category": "security",
        "urgency": "immediate", "severity": "severe", "certainty": "observed",
        "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000},
        "expires_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
    });
    let (status, alert) = hub.call("POST", "/api/v1/alerts", Some(token), Some(alert)).await;
    assert_eq!(status, 201, "{alert}");
    let id = alert["id"].as_str().unwrap().to_owned();
    // Once NATS has acknowledged amani's copy, it is the broker's to keep; the hub sends it no
    // more (a copy not yet acknowledged would be sent again after the hub's restart).
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, deliveries) = hub
            .call("GET", &format!("/api/v1/alerts/{id}/deliveries"), Some(token), None)
            .await;
        let accepted = deliveries["deliveries"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["username"] == "amani" && d["status"] == "accepted");
        if accepted {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "NATS never acknowledged amani's copy: {deliveries}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    hub.kill();
    nats.kill().await;
    nats.restart().await.expect("nats-server starts again");
    let hub = Hub::serve(dir.path(), &nats);

    let mut phone = Phone::connect(phone_options(&nats, &amani))
        .await
        .expect("the same password after both restarts");
    let received = tokio::time::timeout(WAIT, phone.next_envelope())
        .await
        .expect("the alert in time")
        .expect("connected");
    let envelope: Value = serde_json::from_slice(&received.payload).unwrap();
    assert_eq!(
        (envelope["type"].as_str(), envelope["alert"]["id"].as_str()),
        (Some("alert"), Some(id.as_str()))
    );
    if let Ok(again) = tokio::time::timeout(QUIET, phone.next_envelope()).await {
        panic!("the alert came twice: {again:?}");
    }

    // A logout cuts the phone off, and its password opens nothing more.
    let (status, _) = hub
        .call("POST", "/api/v1/auth/logout", amani["token"].as_str(), None)
        .await;
    assert_eq!(status, 204);
    let ended = tokio::time::timeout(WAIT, phone.next_envelope())
        .await
        .expect("the connection ends in time")
        .expect_err("an end, not a message");
    assert!(format!("{ended:#}").contains("refused the login"), "{ended:#}");
    let again = Phone::connect(phone_options(&nats, &amani)).await;
    assert!(again.is_err(), "a logged-out password opened NATS");
    Phone::connect(phone_options(&nats, &bea))
        .await
        .expect("another person's login is untouched")
        .disconnect()
        .await;
    hub.kill();
}

#[test]
fn nats_init_writes_the_keys_once_and_a_trust_file_nats_server_takes() {
    let Some(nats_server) = nats_fixture::program_from_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let init = || {
        Command::new(common::SCAAN)
            .args(["nats", "init", "--dir"])
            .arg(dir.path())
            .arg("--resolver-dir")
            .arg(dir.path().join("resolver"))
            .output()
            .unwrap()
    };
    let out = init();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = dir.path().join("nats-keys.json");
    let written = std::fs::read_to_string(&keys).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(scaan_mobile_bridge::nats::Keys::read(&keys).is_ok());

    let again = init();
    assert!(!again.status.success(), "a second init replaced the keys");
    assert_eq!(std::fs::read_to_string(&keys).unwrap(), written, "the keys changed");

    // The single server's and a clustered server's (deploy/nodes/), each with the trust file.
    for shipped in ["nats/nats-server.conf", "nodes/nats-cluster.conf"] {
        let config = dir.path().join(Path::new(shipped).file_name().unwrap());
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(shipped),
            &config,
        )
        .unwrap();
        let check = Command::new(&nats_server)
            .arg("-t")
            .arg("-c")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{shipped}: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
