//! The hub's MQTT endpoint with real clients: rumqttc, the Mosquitto command-line programs, and
//! raw sockets where a test needs to see the packets themselves.

mod support;

use std::{net::SocketAddr, time::Duration};

use bytes::BytesMut;
use rumqttc::{
    mqttbytes::v4, AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet, Publish,
    QoS, SubscribeReasonCode,
};
use scaan_mobile_bridge::topics::{self, PhoneTopic};
use support::{mosquitto, Harness, PASSWORD, SLOW};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    sync::mpsc,
    task::JoinHandle,
    time::timeout,
};
use uuid::Uuid;

/// Longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that should not happen.
const QUIET: Duration = Duration::from_millis(300);

struct TestBroker {
    harness: Harness,
}

impl TestBroker {
    async fn start() -> TestBroker {
        TestBroker {
            harness: Harness::start().await,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.harness.addr()
    }

    fn id(&self, user: &str) -> Uuid {
        self.harness.id(user)
    }

    async fn phone(&self, user: &str, client_id: &str, clean: bool) -> Client {
        Client::connect(self.options(client_id, user, &format!("{PASSWORD}{user}"), clean))
            .await
            .expect("phone connects")
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

#[tokio::test]
async fn an_inbox_message_reaches_its_owner_and_counts_as_delivered_only_on_its_puback() {
    let broker = TestBroker::start().await;
    let mut options = broker.options("amani-phone", "amani", "token-of-amani", true);
    options.set_manual_acks(true);
    let mut amani = Client::connect(options).await.unwrap();
    let inbox = topics::inbox(broker.id("amani"));

    amani.client.subscribe(&inbox, QoS::AtLeastOnce).await.unwrap();
    assert_eq!(
        amani.suback().await,
        vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    let id = broker.harness.send("amani", r#"{"type":"alert"}"#);

    let message = amani.publish().await;
    assert_eq!(
        (message.topic.as_str(), message.qos),
        (inbox.as_str(), QoS::AtLeastOnce)
    );
    assert_eq!(&message.payload[..], br#"{"type":"alert"}"#);
    tokio::time::sleep(QUIET).await;
    let row = broker.harness.row("amani", id);
    assert!(
        row.sent && !row.delivered,
        "sent, not delivered before the PUBACK: {row:?}"
    );

    amani.client.ack(&message).await.unwrap();
    let delivered = async {
        while !broker.harness.row("amani", id).delivered {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(WAIT, delivered).await.expect("delivered once PUBACKed");
    broker.harness.endpoint.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_are_refused() {
    let broker = TestBroker::start().await;
    for (username, password) in [
        ("amani", "token-of-bea"),
        ("amani", ""),
        ("nobody", "token-of-nobody"),
        ("scaan-hub", "guess"),
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
    let mut amani = broker.phone("amani", "amani-phone", true).await;
    let mut bea = broker.phone("bea", "bea-phone", true).await;
    let bea_inbox = topics::inbox(broker.id("bea"));

    for filter in [bea_inbox.as_str(), "scaan/v1/staff/+/inbox", "#", "scaan/v1/#"] {
        amani.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        assert_eq!(amani.suback().await, vec![SubscribeReasonCode::Failure], "{filter}");
    }
    bea.client.subscribe(&bea_inbox, QoS::AtLeastOnce).await.unwrap();
    assert_eq!(bea.suback().await, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);

    broker.harness.send("bea", "for bea");
    assert_eq!(&bea.publish().await.payload[..], b"for bea");
    amani.assert_no_publish().await;
}

#[tokio::test]
async fn only_ones_own_phone_topics_reach_the_hub() {
    let mut broker = TestBroker::start().await;
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
    let (owner, kind, payload) = broker.harness.next_received().await;
    assert_eq!(
        (owner, kind, &payload[..]),
        (amani_id, PhoneTopic::Checkin, &b"mine"[..])
    );
    broker.harness.nothing_received().await;
}

#[tokio::test]
async fn a_persistent_session_gets_what_it_missed_and_nothing_twice() {
    let broker = TestBroker::start().await;
    let inbox = topics::inbox(broker.id("amani"));

    let mut amani = broker.phone("amani", "amani-phone", false).await;
    amani.client.subscribe(&inbox, QoS::AtLeastOnce).await.unwrap();
    amani.suback().await;
    amani.vanish().await;

    broker.harness.send("amani", "while you were away");

    // Back with the same session: no new SUBSCRIBE needed (the session was present).
    let mut amani = broker.phone("amani", "amani-phone", false).await;
    assert_eq!(&amani.publish().await.payload[..], b"while you were away");
    // rumqttc PUBACKs it; once that is recorded, reconnecting brings nothing again.
    tokio::time::sleep(QUIET).await;
    amani.vanish().await;
    let mut amani = broker.phone("amani", "amani-phone", false).await;
    amani.assert_no_publish().await;
}

#[tokio::test]
async fn a_clean_session_gets_what_is_owed_once_it_subscribes() {
    let broker = TestBroker::start().await;
    broker.harness.send("amani", "owed");
    let mut amani = broker.phone("amani", "a-fresh-install", true).await;
    amani.assert_no_publish().await;
    amani
        .client
        .subscribe(topics::inbox(broker.id("amani")), QoS::AtLeastOnce)
        .await
        .unwrap();
    amani.suback().await;
    assert_eq!(&amani.publish().await.payload[..], b"owed");
}

#[tokio::test]
async fn what_was_sent_but_not_acknowledged_comes_again_marked_dup() {
    let broker = TestBroker::start().await;
    let mut options = broker.options("amani-phone", "amani", "token-of-amani", false);
    options.set_manual_acks(true);
    let mut amani = Client::connect(options.clone()).await.unwrap();
    let first = broker.harness.send("amani", "unacknowledged");
    let got = amani.publish().await;
    assert!(!got.dup);
    amani.vanish().await;
    let mut amani = Client::connect(options).await.unwrap();
    let again = amani.publish().await;
    assert_eq!((&again.payload[..], again.dup), (&b"unacknowledged"[..], true));
    assert!(!broker.harness.row("amani", first).delivered);
}

#[tokio::test]
async fn another_persons_client_id_does_not_open_their_session() {
    let broker = TestBroker::start().await;
    let inbox = topics::inbox(broker.id("amani"));

    let mut amani = broker.phone("amani", "shared-id", false).await;
    amani.client.subscribe(&inbox, QoS::AtLeastOnce).await.unwrap();
    amani.suback().await;
    amani.vanish().await;
    broker.harness.send("amani", "for amani only");

    let mut bea = broker.phone("bea", "shared-id", false).await;
    bea.assert_no_publish().await;
    let mut amani = broker.phone("amani", "shared-id", false).await;
    assert_eq!(&amani.publish().await.payload[..], b"for amani only");
}

#[tokio::test]
async fn the_same_client_id_takes_the_session_over() {
    let broker = TestBroker::start().await;
    let mut first = broker.phone("amani", "amani-phone", false).await;
    let mut second = broker.phone("amani", "amani-phone", false).await;
    assert!(first.next().await.is_err(), "the first connection is closed");
    broker.harness.send("amani", "to the newest");
    assert_eq!(&second.publish().await.payload[..], b"to the newest");
}

#[tokio::test]
async fn keep_alive_zero_is_accepted_in_both_versions() {
    let broker = TestBroker::start().await;
    let mut v311 = RawPhone::connect(broker.addr(), "amani", 0).await;
    assert_eq!(v311.read().await, [0x20, 2, 0, 0], "CONNACK accepted");

    // rumqttc's MQTT 5 client will not send keep-alive 0, so the CONNECT is written here.
    let mut v5 = TcpStream::connect(broker.addr()).await.unwrap();
    let connect = rumqttc::v5::mqttbytes::v5::Connect {
        keep_alive: 0,
        client_id: "amani-5".into(),
        clean_start: true,
        properties: None,
    };
    let login = rumqttc::v5::mqttbytes::v5::Login::new("amani", "token-of-amani");
    let mut out = BytesMut::new();
    connect.write(&None, &Some(login), &mut out).unwrap();
    v5.write_all(&out).await.unwrap();
    let mut connack = [0u8; 4];
    timeout(WAIT, v5.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .unwrap();
    assert_eq!((connack[0], connack[3]), (0x20, 0), "MQTT 5 CONNACK, reason: success");
}

#[tokio::test]
async fn pubacks_keep_the_order_of_the_publishes_however_long_each_takes() {
    let broker = TestBroker::start().await;
    let own = topics::phone_topic(broker.id("amani"), PhoneTopic::Checkin);
    let mut phone = RawPhone::connect(broker.addr(), "amani", 30).await;
    phone.read().await;
    // The first takes 300 ms to act on, the next two none.
    for (pkid, payload) in [(1, SLOW), (2, b"quick".as_slice()), (3, b"quick".as_slice())] {
        let mut publish = v4::Publish::new(&own, QoS::AtLeastOnce, payload.to_vec());
        publish.pkid = pkid;
        phone.write(v4::Packet::Publish(publish)).await;
    }
    let mut order = Vec::new();
    for _ in 0..3 {
        let puback = phone.read().await;
        assert_eq!(puback[..2], [0x40, 2], "a PUBACK");
        order.push(u16::from_be_bytes([puback[2], puback[3]]));
    }
    assert_eq!(order, [1, 2, 3]);
}

#[tokio::test]
async fn a_phone_that_stops_reading_does_not_hold_up_the_others() {
    let broker = TestBroker::start().await;
    // Amani subscribes over a raw socket and then never reads.
    let mut stuck = RawPhone::connect(broker.addr(), "amani", 0).await;
    stuck.read().await;
    let subscribe = v4::Subscribe::new(topics::inbox(broker.id("amani")), QoS::AtLeastOnce);
    let mut subscribe = subscribe;
    subscribe.pkid = 1;
    stuck.write(v4::Packet::Subscribe(subscribe)).await;
    let mut bea = broker.phone("bea", "bea-phone", false).await;

    // 8 MB for amani, far more than socket buffers hold; bea's envelope goes between.
    let big = "x".repeat(200 * 1024);
    for n in 0..40 {
        broker.harness.send("amani", &big);
        if n == 20 {
            broker.harness.send("bea", "for bea");
        }
    }
    let started = std::time::Instant::now();
    assert_eq!(&bea.publish().await.payload[..], b"for bea");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_packet_many_reads_long_arrives_whole() {
    let mut broker = TestBroker::start().await;
    let own = topics::phone_topic(broker.id("amani"), PhoneTopic::Report);
    let mut amani = broker.phone("amani", "amani-phone", true).await;
    // A long report (the test client sends 10 KiB at most): many times what one read takes.
    let report: String = (0..9 * 1024).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    amani.publish_acked(&own, &report).await;
    let (_, kind, payload) = broker.harness.next_received().await;
    assert_eq!(kind, PhoneTopic::Report);
    assert!(
        payload == report.as_bytes(),
        "{} bytes arrived of {}",
        payload.len(),
        report.len()
    );
}

#[tokio::test]
async fn an_oversized_packet_closes_only_its_own_connection() {
    let mut broker = TestBroker::start().await;
    let own = topics::phone_topic(broker.id("amani"), PhoneTopic::Report);
    let mut bea = broker.phone("bea", "bea-phone", true).await;
    let mut amani = broker.phone("amani", "amani-phone", true).await;
    amani
        .client
        .publish(&own, QoS::AtLeastOnce, false, vec![b'x'; 300 * 1024])
        .await
        .unwrap();
    assert!(amani.next().await.is_err(), "closed");
    let bea_own = topics::phone_topic(broker.id("bea"), PhoneTopic::Location);
    bea.publish_acked(&bea_own, "fine").await;
    assert_eq!(broker.harness.next_received().await.2, &b"fine"[..]);
}

#[tokio::test]
async fn a_flood_of_handshakes_from_one_address_is_bounded_and_slowed_and_other_addresses_get_in() {
    let limits = scaan_mobile_bridge::endpoint::Limits {
        handshakes_per_address: 16,
        ..Default::default()
    };
    let broker = TestBroker {
        harness: Harness::with_limits(limits).await,
    };
    // 16 connections from 127.0.0.1 that never send their CONNECT hold every place it has...
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(TcpStream::connect(broker.addr()).await.unwrap());
    }
    tokio::time::sleep(QUIET).await;
    // ...so the next one is closed before anything is read,
    let mut next = RawPhone::connect(broker.addr(), "amani", 30).await;
    let mut byte = [0u8; 1];
    let read = timeout(WAIT, next.stream.read(&mut byte))
        .await
        .expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "closed without a CONNACK: {read:?}");
    // while a phone on another address (127.0.0.2 is loopback too) logs in as usual.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = socket.connect(broker.addr()).await.unwrap();
    let mut other = RawPhone {
        stream,
        buf: BytesMut::new(),
    };
    let mut connect = v4::Connect::new("bea-elsewhere");
    connect.set_login("bea", format!("{PASSWORD}bea"));
    other.write(v4::Packet::Connect(connect)).await;
    assert_eq!(other.read().await, [0x20, 2, 0, 0], "accepted");
    drop(held);

    // A wrong password is answered, but only after a second.
    let started = std::time::Instant::now();
    let refused = Client::connect(broker.options("guess", "amani", "wrong", true))
        .await
        .err();
    assert!(matches!(
        refused,
        Some(ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized))
    ));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

/// A phone speaking MQTT 3.1.1 over a bare socket, to see the packets themselves.
struct RawPhone {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawPhone {
    async fn connect(addr: SocketAddr, user: &str, keep_alive: u16) -> RawPhone {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut phone = RawPhone {
            stream,
            buf: BytesMut::new(),
        };
        let mut connect = v4::Connect::new(format!("{user}-raw"));
        connect.keep_alive = keep_alive;
        connect.set_login(user, format!("{PASSWORD}{user}"));
        phone.write(v4::Packet::Connect(connect)).await;
        phone
    }

    async fn write(&mut self, packet: v4::Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, usize::MAX).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next whole packet's bytes.
    async fn read(&mut self) -> Vec<u8> {
        loop {
            if self.buf.len() >= 2 {
                let len = 2 + usize::from(self.buf[1]);
                if self.buf[1] < 0x80 && self.buf.len() >= len {
                    return self.buf.split_to(len).to_vec();
                }
            }
            let read = timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("a packet in time")
                .unwrap();
            assert!(read > 0, "connection closed");
        }
    }
}

/// A Mosquitto phone with a persistent session misses a message and gets it on return; its
/// check-in reaches the hub; another person's inbox and topics and a bad password are refused.
async fn mosquitto_round_trip(version: &str) {
    let mut broker = TestBroker::start().await;
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
    broker.harness.send("amani", "missed");
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
    let (owner, kind, payload) = broker.harness.next_received().await;
    assert_eq!((owner, kind, &payload[..]), (amani, PhoneTopic::Checkin, &b"safe"[..]));

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
    broker.harness.nothing_received().await;

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
    let listen = scaan_mobile_bridge::endpoint::Listen { plain: addr, tls: None };
    let error = scaan_mobile_bridge::endpoint::Endpoint::bind(listen, Default::default())
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
