//! The embedded broker with real clients: rumqttc, and the Mosquitto command-line programs.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, Publish, QoS,
    SubscribeReasonCode,
};
use scaan_mobile_bridge::{
    topics::{self, PhoneTopic},
    Authenticator, EmbeddedBroker,
};
use tokio::{sync::mpsc, task::JoinHandle, time::timeout};
use uuid::Uuid;

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_millis(300);
const PASSWORD: &str = "token-of-";

/// Accounts `amani`, `bea`: the password is `token-of-{username}`.
struct TestAuth(HashMap<String, (String, Uuid)>);

impl Authenticator for TestAuth {
    async fn authenticate(&self, username: &str, password: &[u8]) -> Option<Uuid> {
        let (expected, id) = self.0.get(username)?;
        (expected.as_bytes() == password).then_some(*id)
    }
}

struct TestBroker {
    broker: EmbeddedBroker,
    users: HashMap<&'static str, Uuid>,
}

impl TestBroker {
    async fn start() -> TestBroker {
        init_logs();
        let users = HashMap::from([("amani", Uuid::new_v4()), ("bea", Uuid::new_v4())]);
        let accounts = users
            .iter()
            .map(|(name, id)| (name.to_string(), (format!("{PASSWORD}{name}"), *id)));
        let auth = Arc::new(TestAuth(accounts.collect()));
        let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), auth)
            .await
            .expect("broker starts");
        TestBroker { broker, users }
    }

    fn addr(&self) -> SocketAddr {
        self.broker.local_addr()
    }

    fn id(&self, user: &str) -> Uuid {
        self.users[user]
    }

    async fn phone(&self, user: &str, client_id: &str, clean: bool) -> Client {
        Client::connect(self.options(client_id, user, &format!("{PASSWORD}{user}"), clean))
            .await
            .expect("phone connects")
    }

    /// The hub's own connection, subscribed to every phone → hub topic.
    async fn hub(&self) -> Client {
        let (username, password) = self.broker.hub_credentials();
        let mut hub = Client::connect(self.options("hub", &username, &password, true))
            .await
            .expect("hub connects");
        for filter in topics::hub_filters() {
            hub.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
            assert_eq!(hub.suback().await, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
        }
        hub
    }

    fn options(&self, client_id: &str, username: &str, password: &str, clean: bool) -> MqttOptions {
        let mut options = MqttOptions::new(client_id, self.addr().ip().to_string(), self.addr().port());
        options
            .set_credentials(username, password)
            .set_clean_session(clean)
            .set_keep_alive(Duration::from_secs(30));
        options
    }
}

/// A rumqttc client whose event loop runs in a task, reporting what arrives.
struct Client {
    client: AsyncClient,
    incoming: mpsc::UnboundedReceiver<Result<Packet, ConnectionError>>,
    driver: JoinHandle<()>,
}

impl Client {
    /// Connects and waits for the CONNACK, so that a refusal is this call's error.
    async fn connect(options: MqttOptions) -> Result<Client, ConnectionError> {
        let (client, mut events) = AsyncClient::new(options, 16);
        loop {
            match timeout(WAIT, events.poll()).await.expect("CONNACK in time")? {
                Event::Incoming(Packet::ConnAck(_)) => break,
                _ => continue,
            }
        }
        let (tx, incoming) = mpsc::unbounded_channel();
        let driver = tokio::spawn(drive(events, tx));
        Ok(Client {
            client,
            incoming,
            driver,
        })
    }

    /// The next packet the broker sent other than acknowledgements of our publishes and pings.
    async fn next(&mut self) -> Result<Packet, ConnectionError> {
        loop {
            match timeout(WAIT, self.incoming.recv())
                .await
                .expect("a packet in time")
                .expect("event loop running")
            {
                Ok(Packet::PubAck(_) | Packet::PingResp) => continue,
                other => return other,
            }
        }
    }

    async fn suback(&mut self) -> Vec<SubscribeReasonCode> {
        match self.next().await {
            Ok(Packet::SubAck(suback)) => suback.return_codes,
            other => panic!("expected a SUBACK, got {other:?}"),
        }
    }

    async fn publish(&mut self) -> Publish {
        match self.next().await {
            Ok(Packet::Publish(publish)) => publish,
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }

    /// Publishes at QoS 1 and waits for the broker's PUBACK.
    async fn publish_acked(&mut self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await
            .unwrap();
        loop {
            match timeout(WAIT, self.incoming.recv())
                .await
                .expect("PUBACK in time")
                .expect("event loop running")
            {
                Ok(Packet::PubAck(_)) => return,
                Ok(_) => continue,
                Err(e) => panic!("connection failed before PUBACK: {e}"),
            }
        }
    }

    async fn assert_no_publish(&mut self) {
        if let Ok(Some(Ok(Packet::Publish(publish)))) = timeout(QUIET, self.incoming.recv()).await {
            panic!("unexpected message on {}", publish.topic);
        }
    }

    /// Drops the connection without a DISCONNECT, as a phone losing coverage does.
    async fn vanish(self) {
        self.driver.abort();
        let _ = self.driver.await;
    }
}

async fn drive(mut events: EventLoop, tx: mpsc::UnboundedSender<Result<Packet, ConnectionError>>) {
    loop {
        match events.poll().await {
            Ok(Event::Incoming(packet)) => {
                if tx.send(Ok(packet)).is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(_)) => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

fn init_logs() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

#[tokio::test]
async fn an_inbox_message_reaches_its_owner() {
    let broker = TestBroker::start().await;
    let mut hub = broker.hub().await;
    let mut amani = broker.phone("amani", "amani-phone", true).await;
    let inbox = topics::inbox(broker.id("amani"));

    amani.client.subscribe(&inbox, QoS::AtLeastOnce).await.unwrap();
    assert_eq!(
        amani.suback().await,
        vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    hub.publish_acked(&inbox, r#"{"type":"alert"}"#).await;

    let message = amani.publish().await;
    assert_eq!(
        (message.topic.as_str(), message.qos),
        (inbox.as_str(), QoS::AtLeastOnce)
    );
    assert_eq!(&message.payload[..], br#"{"type":"alert"}"#);
    broker.broker.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let broker = TestBroker::start().await;
    let (hub_user, _) = broker.broker.hub_credentials();
    for (username, password) in [
        ("amani", "token-of-bea"),
        ("amani", ""),
        ("nobody", "token-of-nobody"),
        (hub_user.as_str(), "guess"),
    ] {
        let refused = Client::connect(broker.options("phone", username, password, true))
            .await
            .err();
        assert!(
            matches!(
                refused,
                Some(ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized))
            ),
            "{username}/{password}: {refused:?}"
        );
    }
    // No credentials at all.
    let mut options = MqttOptions::new("phone", broker.addr().ip().to_string(), broker.addr().port());
    options.set_keep_alive(Duration::from_secs(30));
    let refused = Client::connect(options).await.err();
    assert!(matches!(
        refused,
        Some(ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized))
    ));
}

#[tokio::test]
async fn subscriptions_beyond_ones_own_inbox_are_refused() {
    let broker = TestBroker::start().await;
    let mut hub = broker.hub().await;
    let mut amani = broker.phone("amani", "amani-phone", true).await;
    let mut bea = broker.phone("bea", "bea-phone", true).await;
    let bea_inbox = topics::inbox(broker.id("bea"));

    for filter in [bea_inbox.as_str(), "scaan/v1/staff/+/inbox", "#", "scaan/v1/#"] {
        amani.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        assert_eq!(amani.suback().await, vec![SubscribeReasonCode::Failure], "{filter}");
    }
    bea.client.subscribe(&bea_inbox, QoS::AtLeastOnce).await.unwrap();
    assert_eq!(bea.suback().await, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);

    hub.publish_acked(&bea_inbox, "for bea").await;
    assert_eq!(&bea.publish().await.payload[..], b"for bea");
    amani.assert_no_publish().await;
}

#[tokio::test]
async fn only_ones_own_phone_topics_reach_the_hub() {
    let broker = TestBroker::start().await;
    let mut hub = broker.hub().await;
    let amani_id = broker.id("amani");

    // MQTT 3.1.1 cannot refuse a PUBLISH: the connection is closed.
    let mut amani = broker.phone("amani", "amani-phone", true).await;
    let forged = topics::phone_topic(broker.id("bea"), PhoneTopic::Checkin);
    amani
        .client
        .publish(&forged, QoS::AtLeastOnce, false, b"forged".to_vec())
        .await
        .unwrap();
    assert!(amani.next().await.is_err(), "connection closed");

    let mut amani = broker.phone("amani", "amani-phone", true).await;
    let own = topics::phone_topic(amani_id, PhoneTopic::Checkin);
    amani.publish_acked(&own, "mine").await;
    let received = hub.publish().await;
    assert_eq!(
        (received.topic.as_str(), &received.payload[..]),
        (own.as_str(), &b"mine"[..])
    );
    assert_eq!(
        topics::parse_phone_topic(&received.topic),
        Some((amani_id, PhoneTopic::Checkin))
    );
    hub.assert_no_publish().await;
}

#[tokio::test]
async fn a_persistent_session_gets_what_it_missed() {
    let broker = TestBroker::start().await;
    let mut hub = broker.hub().await;
    let inbox = topics::inbox(broker.id("amani"));

    let mut amani = broker.phone("amani", "amani-phone", false).await;
    amani.client.subscribe(&inbox, QoS::AtLeastOnce).await.unwrap();
    amani.suback().await;
    amani.vanish().await;

    hub.publish_acked(&inbox, "while you were away").await;

    let mut amani = broker.phone("amani", "amani-phone", false).await;
    assert_eq!(&amani.publish().await.payload[..], b"while you were away");
}

#[tokio::test]
async fn another_persons_client_id_does_not_open_their_session() {
    let broker = TestBroker::start().await;
    let mut hub = broker.hub().await;
    let inbox = topics::inbox(broker.id("amani"));

    let mut amani = broker.phone("amani", "shared-id", false).await;
    amani.client.subscribe(&inbox, QoS::AtLeastOnce).await.unwrap();
    amani.suback().await;
    amani.vanish().await;
    hub.publish_acked(&inbox, "for amani only").await;

    let mut bea = broker.phone("bea", "shared-id", false).await;
    bea.assert_no_publish().await;
    let mut amani = broker.phone("amani", "shared-id", false).await;
    assert_eq!(&amani.publish().await.payload[..], b"for amani only");
}

/// What a Mosquitto client program did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn mosquitto(program: &str, args: &[&str]) -> Run {
    let run = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = timeout(Duration::from_secs(10), run)
        .await
        .expect("mosquitto client exits")
        .expect("runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    Run {
        ok: output.status.success(),
        stdout: text(&output.stdout),
        stderr: text(&output.stderr),
    }
}

/// A Mosquitto phone with a persistent session misses a message and gets it on return; its
/// check-in reaches the hub; another person's inbox and topics and a bad password are refused.
async fn mosquitto_round_trip(version: &str) {
    let broker = TestBroker::start().await;
    let mut hub = broker.hub().await;
    let port = broker.addr().port().to_string();
    let (amani, bea) = (broker.id("amani"), broker.id("bea"));
    let inbox = topics::inbox(amani);
    let login = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        version,
        "-u",
        "amani",
        "-P",
        "token-of-amani",
        "-q",
        "1",
    ];
    let session = [&login[..], &["-c", "-x", "3600", "-i", "amani-phone"]].concat();

    // Subscribe, then leave (-E: exit once the SUBACK is in).
    let subscribed = mosquitto("mosquitto_sub", &[&session[..], &["-t", &inbox, "-E"]].concat()).await;
    assert!(subscribed.ok, "{}", subscribed.stderr);
    hub.publish_acked(&inbox, "missed").await;
    let back = mosquitto(
        "mosquitto_sub",
        &[&session[..], &["-t", &inbox, "-C", "1", "-W", "5"]].concat(),
    )
    .await;
    assert_eq!((back.ok, back.stdout.as_str()), (true, "missed"), "{}", back.stderr);

    let own = topics::phone_topic(amani, PhoneTopic::Checkin);
    assert!(
        mosquitto("mosquitto_pub", &[&login[..], &["-t", &own, "-m", "safe"]].concat())
            .await
            .ok
    );
    let received = hub.publish().await;
    assert_eq!(
        (received.topic.as_str(), &received.payload[..]),
        (own.as_str(), &b"safe"[..])
    );

    let forged = topics::phone_topic(bea, PhoneTopic::Sos);
    let refused = mosquitto(
        "mosquitto_pub",
        &[&login[..], &["-t", &forged, "-m", "forged"]].concat(),
    )
    .await;
    match version {
        "mqttv5" => assert!(
            refused.stderr.contains("Publish 1 failed: Not authorized"),
            "{}",
            refused.stderr
        ),
        _ => assert!(!refused.ok, "3.1.1: the connection is closed"),
    }
    hub.assert_no_publish().await;

    let snoop = mosquitto(
        "mosquitto_sub",
        &[&login[..], &["-t", &topics::inbox(bea), "-E"]].concat(),
    )
    .await;
    assert!(
        snoop.stderr.contains("All subscription requests were denied"),
        "{}",
        snoop.stderr
    );

    let bad = [
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-V",
        version,
        "-u",
        "amani",
        "-P",
        "wrong",
        "-t",
        &inbox,
        "-E",
    ];
    let bad = mosquitto("mosquitto_sub", &bad).await;
    assert!(
        !bad.ok && bad.stderr.to_lowercase().contains("not authori"),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn mosquitto_clients_over_mqtt_5() {
    mosquitto_round_trip("mqttv5").await;
}

#[tokio::test]
async fn mosquitto_clients_over_mqtt_3_1_1() {
    mosquitto_round_trip("mqttv311").await;
}

#[tokio::test]
async fn a_taken_port_is_explained() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let auth = Arc::new(TestAuth(HashMap::new()));
    let error = EmbeddedBroker::start(addr, auth)
        .await
        .err()
        .expect("port is taken")
        .to_string();
    for expected in [
        addr.port().to_string(),
        "--mqtt-listen".to_owned(),
        format!("--mqtt-url mqtt://{addr}"),
    ] {
        assert!(error.contains(&expected), "{error:?} lacks {expected:?}");
    }
}
