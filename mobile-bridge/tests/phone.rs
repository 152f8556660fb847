//! The phone simulator against the hub's MQTT endpoint: what it publishes is the contract's
//! payload on the person's own topics, and its persistent session gets what it missed.

mod support;

use std::time::Duration;

use scaan_mobile_bridge::{
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics::PhoneTopic,
};
use scaan_schemas::{CheckinStatus, LocationUpdate, NewCheckin, NewSos, Position};
use serde_json::{json, Value};
use support::{Harness, PASSWORD};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

struct Setup {
    harness: Harness,
}

impl Setup {
    async fn start() -> Setup {
        Setup {
            harness: Harness::start().await,
        }
    }

    fn options(&self) -> PhoneOptions {
        let url: BrokerUrl = format!("mqtt://{}", self.harness.addr()).parse().unwrap();
        PhoneOptions::persistent(url, "amani", &format!("{PASSWORD}amani"), self.harness.id("amani"))
    }

    /// What the hub got next, as JSON, and on which topic.
    async fn hub_gets(&mut self) -> (PhoneTopic, Value) {
        let (_, kind, payload) = self.harness.next_received().await;
        (kind, serde_json::from_slice(&payload).unwrap())
    }
}

#[tokio::test]
async fn checkins_locations_and_sos_reach_the_hub_as_the_contract_says() {
    let mut setup = Setup::start().await;
    let mut phone = Phone::connect(setup.options()).await.unwrap();
    let alert = Uuid::new_v4();
    let checkin = NewCheckin {
        status: CheckinStatus::NeedHelp,
        position: Some(Position::new(0.49, 29.47)),
        note: Some("ankle".into()),
        staff_id: None,
        via: None,
    };
    phone.checkin(alert, &checkin).await.unwrap();
    assert_eq!(
        setup.hub_gets().await,
        (
            PhoneTopic::Checkin,
            json!({"alert_id": alert, "status": "need_help", "position": {"lat": 0.49, "lon": 29.47}, "note": "ankle"})
        )
    );

    let location = LocationUpdate {
        lat: -1.29,
        lon: 36.82,
        accuracy_m: Some(12.0),
        recorded_at: None,
    };
    phone.location(&location).await.unwrap();
    assert_eq!(
        setup.hub_gets().await,
        (
            PhoneTopic::Location,
            json!({"lat": -1.29, "lon": 36.82, "accuracy_m": 12.0})
        )
    );

    phone
        .sos(&NewSos {
            position: None,
            note: Some("help".into()),
        })
        .await
        .unwrap();
    assert_eq!(setup.hub_gets().await, (PhoneTopic::Sos, json!({"note": "help"})));

    // And only on the person's own topics: the topic names the sender.
    phone.publish(PhoneTopic::Report, b"{}".to_vec()).await.unwrap();
    let (owner, kind, payload) = setup.harness.next_received().await;
    assert_eq!(
        (owner, kind, &payload[..]),
        (setup.harness.id("amani"), PhoneTopic::Report, &b"{}"[..])
    );
}

#[tokio::test]
async fn the_persistent_session_gets_what_arrived_while_away() {
    let setup = Setup::start().await;
    let mut phone = Phone::connect(setup.options()).await.unwrap();
    phone.subscribe_inbox().await.unwrap();
    phone.vanish().await;

    for n in 1..=3 {
        setup.harness.send("amani", &format!("envelope {n}"));
    }
    let mut phone = Phone::connect(setup.options()).await.unwrap();
    for n in 1..=3 {
        let received = tokio::time::timeout(WAIT, phone.next_envelope())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&received.payload[..], format!("envelope {n}").as_bytes());
    }
}

#[tokio::test]
async fn a_bad_token_is_an_error_that_says_what_to_do() {
    let setup = Setup::start().await;
    let options = PhoneOptions {
        token: "stale".into(),
        ..setup.options()
    };
    let error = format!("{:#}", Phone::connect(options).await.err().expect("refused"));
    assert!(error.contains("log in again"), "{error}");
}

#[test]
fn broker_urls_parse() {
    let url: BrokerUrl = "mqtt://broker.example:8883".parse().unwrap();
    assert_eq!((url.host.as_str(), url.port), ("broker.example", 8883));
    assert_eq!("mqtt://localhost".parse::<BrokerUrl>().unwrap().port, 1883);
    for bad in ["http://x:1", "mqtt://", "mqtt://x:port", "mqtt://x/y", "x:1883"] {
        assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
    }
}
