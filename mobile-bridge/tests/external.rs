//! An external Mosquitto provisioned by the hub through its dynamic-security plugin, with real
//! clients: rumqttc (through the phone simulator) and the Mosquitto command-line programs.
//! Needs `SCAAN_TEST_MOSQUITTO` (see `fixtures`); `.ci/run` sets it.

mod support;

use std::time::{Duration, SystemTime};

use scaan_mobile_bridge::{
    dynsec::{Grant, Provisioner},
    fixtures::Mosquitto,
    phone::{self, BrokerUrl, Phone, PhoneOptions},
    topics::{self, PhoneTopic},
};
use sha2::{Digest as _, Sha256};
use support::mosquitto;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_millis(500);

struct Person {
    username: &'static str,
    id: Uuid,
    token: String,
}

impl Person {
    fn new(username: &'static str) -> Person {
        Person {
            username,
            id: Uuid::new_v4(),
            token: format!("token-{}", Uuid::new_v4().simple()),
        }
    }

    /// As the hub hashes its tokens.
    fn hash(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn grant(&self, lasts: Duration) -> Grant {
        Grant::new(
            self.username,
            self.id,
            Self::hash(&self.token),
            SystemTime::now() + lasts,
        )
    }
}

/// A provisioned broker: its admin connection, the hub's own connection, two people.
struct Setup {
    broker: Mosquitto,
    provisioner: Provisioner,
    hub: Phone,
    amani: Person,
    bea: Person,
}

impl Setup {
    async fn start() -> Option<Setup> {
        let broker = Mosquitto::from_env().await?;
        let provisioner = admin(&broker).await;
        let (hub_user, hub_password) = provisioner.provision_hub().await.expect("hub client");
        let mut hub = Phone::connect(PhoneOptions {
            client_id: "scaan-hub".to_owned(),
            clean_session: true,
            ..PhoneOptions::persistent(url(&broker), &hub_user, &hub_password, Uuid::nil())
        })
        .await
        .expect("the hub connects");
        for filter in topics::hub_filters() {
            hub.subscribe(&filter).await.expect("the hub reads phone topics");
        }
        let (amani, bea) = (Person::new("amani"), Person::new("bea"));
        for person in [&amani, &bea] {
            provisioner
                .grant(&person.grant(Duration::from_secs(3600)), &person.token)
                .await
                .expect("granted");
        }
        Some(Setup {
            broker,
            provisioner,
            hub,
            amani,
            bea,
        })
    }

    fn url(&self) -> BrokerUrl {
        url(&self.broker)
    }

    async fn phone(&self, person: &Person, token: &str) -> anyhow::Result<Phone> {
        Phone::connect(PhoneOptions::persistent(self.url(), person.username, token, person.id)).await
    }

    async fn hub_sends(&mut self, to: Uuid, payload: &str) {
        self.hub
            .publish_to(&topics::inbox(to), payload.as_bytes().to_vec())
            .await
            .expect("the hub publishes");
    }

    async fn hub_gets_nothing(&mut self) {
        if let Ok(received) = tokio::time::timeout(QUIET, self.hub.next_envelope()).await {
            panic!("the hub got {received:?}");
        }
    }
}

async fn admin(broker: &Mosquitto) -> Provisioner {
    let (user, password) = broker.admin_credentials();
    Provisioner::connect("127.0.0.1", broker.addr().port(), &user, &password)
        .await
        .expect("admin connects")
}

fn url(broker: &Mosquitto) -> BrokerUrl {
    broker.url().parse().expect("fixture URL")
}

async fn next(phone: &mut Phone) -> String {
    let received = tokio::time::timeout(WAIT, phone.next_envelope())
        .await
        .expect("a message in time")
        .expect("connected");
    String::from_utf8(received.payload.to_vec()).expect("UTF-8")
}

fn refused(result: anyhow::Result<Phone>) -> String {
    match result {
        Ok(_) => panic!("the broker let the connection in"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn a_provisioned_phone_reads_its_inbox_and_publishes_its_own_topics() {
    let Some(mut setup) = Setup::start().await else { return };
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("amani connects");
    amani.subscribe_inbox().await.expect("own inbox");

    setup.hub_sends(setup.amani.id, r#"{"type":"alert"}"#).await;
    assert_eq!(next(&mut amani).await, r#"{"type":"alert"}"#);

    for kind in PhoneTopic::ALL {
        amani
            .publish(kind, kind.as_str().as_bytes().to_vec())
            .await
            .expect("published");
        let received = tokio::time::timeout(WAIT, setup.hub.next_envelope())
            .await
            .expect("the hub gets it")
            .expect("hub connected");
        assert_eq!(&received.payload[..], kind.as_str().as_bytes());
    }
}

#[tokio::test]
async fn another_persons_inbox_and_topics_are_refused() {
    let Some(mut setup) = Setup::start().await else { return };
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("amani connects");
    for filter in [
        topics::inbox(setup.bea.id),
        "scaan/v1/staff/+/inbox".to_owned(),
        "#".to_owned(),
        topics::phone_topic(setup.amani.id, PhoneTopic::Checkin),
    ] {
        let error = amani.subscribe(&filter).await.expect_err(&filter);
        assert!(format!("{error}").contains("refused"), "{filter}: {error}");
    }
    // MQTT 3.1.1 has no refusal for a PUBLISH: Mosquitto acknowledges it and drops it.
    for topic in [
        topics::phone_topic(setup.bea.id, PhoneTopic::Sos),
        topics::inbox(setup.bea.id),
        topics::inbox(setup.amani.id),
    ] {
        amani.publish_to(&topic, b"forged".to_vec()).await.expect("PUBACK");
    }
    setup.hub_gets_nothing().await;

    let mut bea = setup.phone(&setup.bea, &setup.bea.token).await.expect("bea connects");
    bea.subscribe_inbox().await.expect("own inbox");
    setup.hub_sends(setup.bea.id, "for bea").await;
    assert_eq!(next(&mut bea).await, "for bea");
    assert!(tokio::time::timeout(QUIET, amani.next_envelope()).await.is_err());
}

#[tokio::test]
async fn a_wrong_password_and_a_revoked_token_open_no_connection() {
    let Some(setup) = Setup::start().await else { return };
    let (amani, bea) = (&setup.amani, &setup.bea);
    for (person, token) in [(amani, "wrong"), (amani, ""), (amani, bea.token.as_str())] {
        assert!(refused(setup.phone(person, token).await).contains("refused the login"));
    }

    // Revoking a token that is not the broker's password (an older device's) changes nothing.
    setup
        .provisioner
        .revoke(amani.username, &Person::hash("an older token"))
        .await
        .unwrap();
    setup.phone(amani, &amani.token).await.expect("still connects");

    setup
        .provisioner
        .revoke(amani.username, &Person::hash(&amani.token))
        .await
        .unwrap();
    assert!(refused(setup.phone(amani, &amani.token).await).contains("refused the login"));
    setup.phone(bea, &bea.token).await.expect("bea is untouched");
}

#[tokio::test]
async fn another_persons_client_id_does_not_open_their_session() {
    let Some(mut setup) = Setup::start().await else { return };
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("amani connects");
    amani.subscribe_inbox().await.unwrap();
    amani.vanish().await;
    setup.hub_sends(setup.amani.id, "for amani only").await;

    let as_amani = PhoneOptions {
        client_id: phone::client_id(setup.amani.id),
        ..PhoneOptions::persistent(setup.url(), setup.bea.username, &setup.bea.token, setup.bea.id)
    };
    assert!(refused(Phone::connect(as_amani).await).contains("refused the login"));
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("amani is back");
    assert_eq!(next(&mut amani).await, "for amani only");
}

#[tokio::test]
async fn the_newest_login_is_the_broker_password() {
    let Some(setup) = Setup::start().await else { return };
    let amani = &setup.amani;
    let newer = Person {
        token: "a newer token".to_owned(),
        ..Person::new("amani")
    };
    let grant = Grant::new(
        amani.username,
        amani.id,
        Person::hash(&newer.token),
        SystemTime::now() + Duration::from_secs(60),
    );
    setup.provisioner.grant(&grant, &newer.token).await.unwrap();
    assert!(refused(setup.phone(amani, &amani.token).await).contains("refused the login"));
    setup
        .phone(amani, &newer.token)
        .await
        .expect("the newer token connects");
}

#[tokio::test]
async fn an_expired_token_opens_no_connection() {
    let Some(setup) = Setup::start().await else { return };
    let carol = Person::new("carol");
    setup
        .provisioner
        .grant(&carol.grant(Duration::from_secs(60)), &carol.token)
        .await
        .unwrap();
    setup.phone(&carol, &carol.token).await.expect("connects before expiry");

    assert_eq!(
        setup.provisioner.expire(SystemTime::now()).await.unwrap(),
        Vec::<String>::new()
    );
    let later = SystemTime::now() + Duration::from_secs(61);
    assert_eq!(setup.provisioner.expire(later).await.unwrap(), vec!["carol".to_owned()]);
    assert!(refused(setup.phone(&carol, &carol.token).await).contains("refused the login"));
    setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("amani's token lasts");
}

#[tokio::test]
async fn the_sweep_removes_logins_as_they_expire() {
    let Some(setup) = Setup::start().await else { return };
    let provisioner = std::sync::Arc::new(admin(&setup.broker).await);
    let dave = Person::new("dave");
    provisioner
        .grant(&dave.grant(Duration::from_secs(1)), &dave.token)
        .await
        .unwrap();
    let sweep = tokio::spawn(provisioner.clone().sweep_expired());
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert!(refused(setup.phone(&dave, &dave.token).await).contains("refused the login"));
    provisioner.shutdown().await;
    sweep.await.unwrap();
}

#[tokio::test]
async fn a_restarted_hub_reads_back_what_it_granted() {
    let Some(setup) = Setup::start().await else { return };
    setup.provisioner.shutdown().await;
    let again = admin(&setup.broker).await;
    let mut held: Vec<_> = again
        .grants()
        .await
        .into_iter()
        .map(|g| (g.username, g.user_id, g.token_hash))
        .collect();
    held.sort();
    let granted: Vec<_> = [&setup.amani, &setup.bea]
        .iter()
        .map(|p| (p.username.to_owned(), p.id, Person::hash(&p.token)))
        .collect();
    assert_eq!(held, granted);
    again
        .revoke(setup.amani.username, &Person::hash(&setup.amani.token))
        .await
        .unwrap();
    assert!(refused(setup.phone(&setup.amani, &setup.amani.token).await).contains("refused the login"));
}

#[tokio::test]
async fn a_restarted_broker_keeps_logins_and_what_waits_for_offline_phones() {
    let Some(mut setup) = Setup::start().await else { return };
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("amani connects");
    amani.subscribe_inbox().await.unwrap();
    amani.vanish().await;
    setup.hub_sends(setup.amani.id, "sent before the restart").await;

    setup.broker.restart().await.expect("Mosquitto restarts");
    let mut amani = setup
        .phone(&setup.amani, &setup.amani.token)
        .await
        .expect("the login survived");
    assert_eq!(next(&mut amani).await, "sent before the restart");
}

#[tokio::test]
async fn reserved_usernames_are_not_granted() {
    let Some(setup) = Setup::start().await else { return };
    let (admin_user, _) = setup.broker.admin_credentials();
    for username in ["scaan-hub", admin_user.as_str()] {
        let grant = Grant::new(
            username,
            Uuid::new_v4(),
            [1; 32],
            SystemTime::now() + Duration::from_secs(60),
        );
        let error = setup.provisioner.grant(&grant, "token").await.expect_err(username);
        assert!(error.to_string().contains("reserved"), "{error}");
    }
}

#[tokio::test]
async fn mosquitto_clients_get_the_same_rules() {
    let Some(mut setup) = Setup::start().await else { return };
    let port = setup.broker.addr().port().to_string();
    let (amani, bea) = (setup.amani.id, setup.bea.id);
    let inbox = topics::inbox(amani);
    let client_id = phone::client_id(amani);
    let login = |password: &str| {
        [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-V",
            "mqttv5",
            "-u",
            "amani",
            "-P",
            password,
            "-q",
            "1",
            "-i",
            &client_id,
        ]
        .map(str::to_owned)
    };
    let ok = login(&setup.amani.token);
    let ok: Vec<&str> = ok.iter().map(String::as_str).collect();
    let session = [&ok[..], &["-c", "-x", "3600"]].concat();

    // The login is bound to the phone's client id: any other is refused.
    let other_id = mosquitto("mosquitto_pub", &[&ok[..12], &["-t", &inbox, "-m", "x"]].concat()).await;
    assert!(
        !other_id.ok && other_id.stderr.to_lowercase().contains("not authori"),
        "{}",
        other_id.stderr
    );

    // A persistent session gets what arrived while it was away.
    let subscribed = mosquitto("mosquitto_sub", &[&session[..], &["-t", &inbox, "-E"]].concat()).await;
    assert!(subscribed.ok, "{}", subscribed.stderr);
    setup.hub_sends(amani, "missed").await;
    let back = mosquitto(
        "mosquitto_sub",
        &[&session[..], &["-t", &inbox, "-C", "1", "-W", "5"]].concat(),
    )
    .await;
    assert_eq!((back.ok, back.stdout.as_str()), (true, "missed"), "{}", back.stderr);

    let own = topics::phone_topic(amani, PhoneTopic::Checkin);
    let sent = mosquitto("mosquitto_pub", &[&ok[..], &["-t", &own, "-m", "safe"]].concat()).await;
    assert!(sent.ok, "{}", sent.stderr);
    assert_eq!(&setup.hub.next_envelope().await.unwrap().payload[..], b"safe");

    let forged = topics::phone_topic(bea, PhoneTopic::Sos);
    let refused = mosquitto("mosquitto_pub", &[&ok[..], &["-t", &forged, "-m", "forged"]].concat()).await;
    assert!(refused.stderr.contains("Not authorized"), "{}", refused.stderr);
    setup.hub_gets_nothing().await;

    let snoop = mosquitto("mosquitto_sub", &[&ok[..], &["-t", &topics::inbox(bea), "-E"]].concat()).await;
    assert!(
        snoop.stderr.contains("All subscription requests were denied"),
        "{}",
        snoop.stderr
    );

    let wrong = login("wrong");
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    let bad = mosquitto("mosquitto_sub", &[&wrong[..], &["-t", &inbox, "-E"]].concat()).await;
    assert!(
        !bad.ok && bad.stderr.to_lowercase().contains("not authori"),
        "{}",
        bad.stderr
    );

    setup
        .provisioner
        .revoke("amani", &Person::hash(&setup.amani.token))
        .await
        .unwrap();
    let revoked = mosquitto("mosquitto_sub", &[&ok[..], &["-t", &inbox, "-E"]].concat()).await;
    assert!(
        !revoked.ok && revoked.stderr.to_lowercase().contains("not authori"),
        "{}",
        revoked.stderr
    );
}
