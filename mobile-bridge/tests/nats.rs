//! An external NATS server (operator mode, MQTT, JetStream) with the credentials the hub signs:
//! a phone's JWT opens its own topics and no one else's, its session outlives a SIGKILL of the
//! server, and an expired or revoked JWT is refused (a revoked one's connection closed).
//! Needs `SCAAN_TEST_NATS` (see `fixtures::nats`); `.ci/run` sets it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use scaan_mobile_bridge::{
    fixtures::nats::NatsServer,
    nats,
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics::{self, PhoneTopic},
};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);
/// How long a message owed to a persistent session may take when NATS had handed it to the
/// session while no client of it could take it (an impostor's connection, the moment of a
/// kill): NATS sends it again once its ack wait (30 s by default) is over. Seen under load.
const REDELIVERED: Duration = Duration::from_secs(40);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_millis(500);

struct Person {
    username: &'static str,
    id: Uuid,
    token_hash: [u8; 32],
}

impl Person {
    fn new(username: &'static str) -> Person {
        Person {
            username,
            id: Uuid::new_v4(),
            token_hash: Sha256::digest(Uuid::new_v4().as_bytes()).into(),
        }
    }

    /// The MQTT password the hub hands this person at login.
    fn password(&self, server: &NatsServer, expires_in: i64) -> String {
        let expires_at = chrono::Utc::now().timestamp() + expires_in;
        server
            .keys()
            .login_jwt(self.id, self.username, &self.token_hash, expires_at)
    }
}

/// A server with the phones' account pushed, the hub's link subscribed, two people.
struct Setup {
    server: NatsServer,
    hub: Phone,
    amani: Person,
    bea: Person,
}

impl Setup {
    async fn start() -> Option<Setup> {
        let server = NatsServer::from_env().await?;
        server
            .system()
            .push(&server.keys().account_jwt(&BTreeMap::new()))
            .await
            .expect("the account JWT is taken");
        let hub = hub(&server).await;
        Some(Setup {
            server,
            hub,
            amani: Person::new("amani"),
            bea: Person::new("bea"),
        })
    }

    async fn phone(&self, person: &Person, password: &str) -> anyhow::Result<Phone> {
        Phone::connect(PhoneOptions::persistent(
            url(&self.server),
            person.username,
            password,
            person.id,
        ))
        .await
    }

    async fn hub_sends(&mut self, to: Uuid, payload: &str) {
        self.hub
            .publish_to(&topics::inbox(to), payload.as_bytes().to_vec())
            .await
            .expect("the hub publishes");
    }
}

/// The hub's link: its own JWT, a persistent session, every phone → hub topic.
async fn hub(server: &NatsServer) -> Phone {
    let mut hub = Phone::connect(PhoneOptions {
        client_id: "scaan-hub".to_owned(),
        ..PhoneOptions::persistent(url(server), "scaan-hub", &server.keys().hub_jwt(), Uuid::nil())
    })
    .await
    .expect("the hub connects with its JWT");
    for filter in topics::hub_filters() {
        hub.subscribe(&filter).await.expect("the hub reads phone topics");
    }
    hub
}

fn url(server: &NatsServer) -> BrokerUrl {
    server.mqtt_url().parse().expect("fixture URL")
}

async fn next(phone: &mut Phone) -> String {
    next_within(phone, WAIT).await
}

async fn next_within(phone: &mut Phone, wait: Duration) -> String {
    let received = tokio::time::timeout(wait, phone.next_envelope())
        .await
        .expect("a message in time")
        .expect("connected");
    String::from_utf8(received.payload.to_vec()).expect("UTF-8")
}

fn refused(result: anyhow::Result<Phone>) -> String {
    match result {
        Ok(_) => panic!("the server let the connection in"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_phone_reads_its_inbox_and_publishes_its_own_topics_only() {
    let Some(mut setup) = Setup::start().await else { return };
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.password(&setup.server, 3600))
        .await
        .expect("amani's JWT opens the server");
    amani.subscribe_inbox().await.expect("own inbox");
    setup.hub_sends(setup.amani.id, r#"{"type":"alert"}"#).await;
    assert_eq!(next(&mut amani).await, r#"{"type":"alert"}"#);
    for kind in PhoneTopic::ALL {
        amani
            .publish(kind, kind.as_str().as_bytes().to_vec())
            .await
            .expect("published");
        assert_eq!(next(&mut setup.hub).await, kind.as_str());
    }

    for filter in [
        topics::inbox(setup.bea.id),
        "scaan/v1/staff/+/inbox".to_owned(),
        "#".to_owned(),
        topics::phone_topic(setup.amani.id, PhoneTopic::Checkin),
        // Where NATS delivers everyone's QoS 1 messages: reserved, whatever the rights say.
        "$MQTT/sub/#".to_owned(),
    ] {
        let error = amani.subscribe(&filter).await.expect_err(&filter);
        assert!(format!("{error}").contains("refused"), "{filter}: {error}");
    }
    // MQTT 3.1.1 has no refusal for a PUBLISH: NATS acknowledges it and drops it.
    for topic in [
        topics::phone_topic(setup.bea.id, PhoneTopic::Sos),
        topics::inbox(setup.bea.id),
    ] {
        amani.publish_to(&topic, b"forged".to_vec()).await.expect("PUBACK");
    }
    if let Ok(got) = tokio::time::timeout(QUIET, setup.hub.next_envelope()).await {
        panic!("a forged message reached the hub: {got:?}");
    }
    let mut bea = setup
        .phone(&setup.bea, &setup.bea.password(&setup.server, 3600))
        .await
        .expect("bea connects");
    bea.subscribe_inbox().await.expect("own inbox");
    if let Ok(got) = tokio::time::timeout(QUIET, bea.next_envelope()).await {
        panic!("amani's forged message reached bea: {got:?}");
    }
}

#[tokio::test]
async fn what_an_offline_phone_is_owed_survives_a_sigkill_of_the_server() {
    let Some(mut setup) = Setup::start().await else { return };
    let password = setup.amani.password(&setup.server, 3600);
    let mut amani = setup.phone(&setup.amani, &password).await.expect("amani connects");
    amani.subscribe_inbox().await.expect("own inbox");
    assert!(amani.disconnect().await.is_empty());
    setup.hub_sends(setup.amani.id, "while away").await;

    setup.server.kill().await;
    setup.server.restart().await.expect("the server starts again");
    let mut amani = setup.phone(&setup.amani, &password).await.expect("amani reconnects");
    assert_eq!(next_within(&mut amani, REDELIVERED).await, "while away");
    if let Ok(again) = tokio::time::timeout(QUIET, amani.next_envelope()).await {
        panic!("delivered twice: {again:?}");
    }
}

#[tokio::test]
async fn an_expired_or_foreign_jwt_opens_nothing() {
    let Some(setup) = Setup::start().await else { return };
    let expired = refused(
        setup
            .phone(&setup.amani, &setup.amani.password(&setup.server, -1))
            .await,
    );
    assert!(expired.contains("refused the login"), "{expired}");
    // Signed by another hub's keys: not this server's operator.
    let other = nats::Keys::generate();
    let in_an_hour = chrono::Utc::now().timestamp() + 3600;
    let foreign = other.login_jwt(setup.amani.id, "amani", &setup.amani.token_hash, in_an_hour);
    let foreign = refused(setup.phone(&setup.amani, &foreign).await);
    assert!(foreign.contains("refused the login"), "{foreign}");
    let garbage = refused(setup.phone(&setup.amani, "not a jwt").await);
    assert!(garbage.contains("refused the login"), "{garbage}");
}

#[tokio::test]
async fn a_revocation_closes_the_connection_and_refuses_the_jwt_only() {
    let Some(setup) = Setup::start().await else { return };
    let amani_password = setup.amani.password(&setup.server, 3600);
    let mut amani = setup
        .phone(&setup.amani, &amani_password)
        .await
        .expect("amani connects");
    amani.subscribe_inbox().await.expect("own inbox");
    let bea_password = setup.bea.password(&setup.server, 3600);

    let revoked = BTreeMap::from([(nats::login_key(&setup.amani.token_hash), chrono::Utc::now().timestamp())]);
    let system = setup.server.system();
    let pushed = Instant::now();
    system
        .push(&setup.server.keys().account_jwt(&revoked))
        .await
        .expect("the revocation is taken");
    // The server closes the connection; the phone's reconnection is refused.
    let ended = tokio::time::timeout(WAIT, amani.next_envelope())
        .await
        .expect("the connection ends in time")
        .expect_err("no message, an end");
    assert!(format!("{ended:#}").contains("refused the login"), "{ended:#}");
    eprintln!(
        "a revoked phone was cut off and refused {:?} after the push",
        pushed.elapsed()
    );
    let again = refused(setup.phone(&setup.amani, &amani_password).await);
    assert!(again.contains("refused the login"), "{again}");
    setup
        .phone(&setup.bea, &bea_password)
        .await
        .expect("another login is untouched");
    // The server keeps what was pushed (its resolver directory) across a SIGKILL.
    let mut server = setup.server;
    server.restart().await.expect("the server starts again");
    let still = Phone::connect(PhoneOptions::persistent(
        url(&server),
        "amani",
        &amani_password,
        setup.amani.id,
    ))
    .await;
    assert!(refused(still).contains("refused the login"));
}

#[tokio::test]
async fn another_persons_client_id_does_not_get_their_session() {
    let Some(mut setup) = Setup::start().await else { return };
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.password(&setup.server, 3600))
        .await
        .expect("amani connects");
    amani.subscribe_inbox().await.expect("own inbox");
    amani.disconnect().await;
    setup.hub_sends(setup.amani.id, "for amani").await;

    // bea names amani's client id: NATS hands her amani's session, but restores its
    // subscription under bea's rights, which refuse amani's inbox.
    let mut impostor = Phone::connect(PhoneOptions::persistent(
        url(&setup.server),
        setup.bea.username,
        &setup.bea.password(&setup.server, 3600),
        setup.amani.id,
    ))
    .await
    .expect("bea connects");
    if let Ok(got) = tokio::time::timeout(QUIET, impostor.next_envelope()).await {
        panic!("bea got amani's message: {got:?}");
    }
    impostor.disconnect().await;
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.password(&setup.server, 3600))
        .await
        .expect("amani connects again");
    amani.subscribe_inbox().await.expect("own inbox");
    assert_eq!(next_within(&mut amani, REDELIVERED).await, "for amani");
}
