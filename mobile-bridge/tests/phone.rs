//! The phone simulator against the embedded broker: what it publishes is the contract's
//! payload on the person's own topics, and its persistent session gets what it missed.

use std::{sync::Arc, time::Duration};

use scaan_mobile_bridge::{
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics::{self, PhoneTopic},
    Authenticator, EmbeddedBroker,
};
use scaan_schemas::{CheckinStatus, LocationUpdate, NewCheckin, NewSos, Position};
use serde_json::{json, Value};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);
const TOKEN: &str = "amani's token";

struct OneAccount(Uuid);

impl Authenticator for OneAccount {
    async fn authenticate(&self, username: &str, password: &[u8]) -> Option<Uuid> {
        (username == "amani" && password == TOKEN.as_bytes()).then_some(self.0)
    }
}

struct Setup {
    broker: EmbeddedBroker,
    amani: Uuid,
    hub: Phone,
}

impl Setup {
    async fn start() -> Setup {
        let amani = Uuid::new_v4();
        let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), Arc::new(OneAccount(amani)))
            .await
            .expect("broker starts");
        let (user, password) = broker.hub_credentials();
        let mut hub = Phone::connect(PhoneOptions {
            client_id: "hub".to_owned(),
            clean_session: true,
            ..PhoneOptions::persistent(url(&broker), &user, &password, Uuid::nil())
        })
        .await
        .expect("hub connects");
        for filter in topics::hub_filters() {
            hub.subscribe(&filter).await.unwrap();
        }
        Setup { broker, amani, hub }
    }

    fn options(&self) -> PhoneOptions {
        PhoneOptions::persistent(url(&self.broker), "amani", TOKEN, self.amani)
    }

    /// What the hub got next, as (topic kind, JSON).
    async fn hub_gets(&mut self) -> Value {
        let received = tokio::time::timeout(WAIT, self.hub.next_envelope())
            .await
            .expect("in time")
            .unwrap();
        serde_json::from_slice(&received.payload).unwrap()
    }
}

fn url(broker: &EmbeddedBroker) -> BrokerUrl {
    format!("mqtt://{}", broker.local_addr()).parse().unwrap()
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
        json!({"alert_id": alert, "status": "need_help", "position": {"lat": 0.49, "lon": 29.47}, "note": "ankle"})
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
        json!({"lat": -1.29, "lon": 36.82, "accuracy_m": 12.0})
    );

    phone
        .sos(&NewSos {
            position: None,
            note: Some("help".into()),
        })
        .await
        .unwrap();
    assert_eq!(setup.hub_gets().await, json!({"note": "help"}));

    // And only on the person's own topics: the topic names the sender.
    phone.publish(PhoneTopic::Report, b"{}".to_vec()).await.unwrap();
    let received = tokio::time::timeout(WAIT, setup.hub.next_envelope())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&received.payload[..], b"{}");
}

#[tokio::test]
async fn the_persistent_session_gets_what_arrived_while_away() {
    let mut setup = Setup::start().await;
    let mut phone = Phone::connect(setup.options()).await.unwrap();
    phone.subscribe_inbox().await.unwrap();
    phone.vanish().await;

    let inbox = topics::inbox(setup.amani);
    for n in 1..=3 {
        setup
            .hub
            .publish_to(&inbox, format!("envelope {n}").into_bytes())
            .await
            .unwrap();
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
