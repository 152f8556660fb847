//! The hub's MQTT endpoint on a free port, with an in-memory stand-in for the hub's side of it
//! (its accounts, its outbox, what it received): the endpoint and the clients are the real
//! thing; the hub's storage is tested with the whole hub in `tests/tests/e2e/mqtt.rs`.
#![allow(dead_code)]

use std::{collections::HashMap, net::SocketAddr, sync::Arc, sync::Mutex, time::Duration};

use bytes::Bytes;
use scaan_mobile_bridge::endpoint::{Endpoint, Limits, Listen, Login, Owed, PhoneHub};
use scaan_mobile_bridge::topics::PhoneTopic;
use tokio::sync::mpsc;
use uuid::Uuid;

pub const PASSWORD: &str = "token-of-";
/// A phone message with this payload takes this long to act on.
pub const SLOW: &[u8] = b"slow";
pub const SLOW_FOR: Duration = Duration::from_millis(300);

/// One stored envelope for one person.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: Uuid,
    pub payload: Bytes,
    pub sent: bool,
    pub delivered: bool,
}

/// Accounts `amani` and `bea` (password `token-of-{username}`), an outbox, and what arrived.
pub struct TestHub {
    accounts: HashMap<String, Uuid>,
    pub outbox: Mutex<HashMap<Uuid, Vec<Row>>>,
    received: mpsc::UnboundedSender<(Uuid, PhoneTopic, Bytes)>,
}

impl PhoneHub for TestHub {
    type Person = Uuid;

    async fn authenticate(&self, username: &str, password: &str) -> Option<Login<Uuid>> {
        let id = *self.accounts.get(username)?;
        (password == format!("{PASSWORD}{username}")).then_some(Login {
            user: id,
            person: id,
            key: [0; 32],
            rights: 0,
            expires_at: None,
        })
    }

    async fn owed(&self, user: Uuid) -> Vec<Owed> {
        let outbox = self.outbox.lock().unwrap();
        outbox
            .get(&user)
            .into_iter()
            .flatten()
            .filter(|row| !row.delivered)
            .map(|row| Owed {
                id: row.id,
                payload: row.payload.clone(),
                sent_before: row.sent,
            })
            .collect()
    }

    fn sent(&self, user: Uuid, envelopes: Vec<Uuid>) {
        self.update(user, &envelopes, |row| row.sent = true);
    }

    fn delivered(&self, user: Uuid, envelope: Uuid) {
        self.update(user, &[envelope], |row| row.delivered = true);
    }

    async fn received(&self, user: &Uuid, topic: PhoneTopic, payload: Bytes) {
        if payload == SLOW {
            tokio::time::sleep(SLOW_FOR).await;
        }
        let _ = self.received.send((*user, topic, payload));
    }
}

impl TestHub {
    fn update(&self, user: Uuid, envelopes: &[Uuid], change: impl Fn(&mut Row)) {
        let mut outbox = self.outbox.lock().unwrap();
        for row in outbox.get_mut(&user).into_iter().flatten() {
            if envelopes.contains(&row.id) {
                change(row);
            }
        }
    }
}

pub struct Harness {
    pub endpoint: Endpoint,
    pub hub: Arc<TestHub>,
    pub received: mpsc::UnboundedReceiver<(Uuid, PhoneTopic, Bytes)>,
    pub users: HashMap<&'static str, Uuid>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with_limits(Limits::default()).await
    }

    pub async fn with_limits(limits: Limits) -> Harness {
        init_logs();
        let users = HashMap::from([("amani", Uuid::new_v4()), ("bea", Uuid::new_v4())]);
        let (received_tx, received) = mpsc::unbounded_channel();
        let hub = Arc::new(TestHub {
            accounts: users.iter().map(|(name, id)| (name.to_string(), *id)).collect(),
            outbox: Mutex::default(),
            received: received_tx,
        });
        let listen = Listen {
            plain: "127.0.0.1:0".parse().unwrap(),
            tls: None,
        };
        let endpoint = Endpoint::bind(listen, limits).await.expect("endpoint binds");
        endpoint.serve(hub.clone());
        Harness {
            endpoint,
            hub,
            received,
            users,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    pub fn id(&self, user: &str) -> Uuid {
        self.users[user]
    }

    /// As the hub's outbox does: stores the envelope, then hands it to live connections.
    pub fn send(&self, user: &str, payload: &str) -> Uuid {
        let user = self.id(user);
        let row = Row {
            id: Uuid::new_v4(),
            payload: Bytes::from(payload.to_owned()),
            sent: false,
            delivered: false,
        };
        self.hub
            .outbox
            .lock()
            .unwrap()
            .entry(user)
            .or_default()
            .push(row.clone());
        let owed = Owed {
            id: row.id,
            payload: row.payload,
            sent_before: false,
        };
        self.endpoint.sessions().deliver(&owed, &[user]);
        row.id
    }

    pub fn row(&self, user: &str, id: Uuid) -> Row {
        let outbox = self.hub.outbox.lock().unwrap();
        outbox[&self.id(user)]
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .expect("stored")
    }

    /// What a phone published next, as (owner, topic, payload).
    pub async fn next_received(&mut self) -> (Uuid, PhoneTopic, Bytes) {
        tokio::time::timeout(Duration::from_secs(5), self.received.recv())
            .await
            .expect("a phone message in time")
            .expect("hub running")
    }

    pub async fn nothing_received(&mut self) {
        if let Ok(Some(got)) = tokio::time::timeout(Duration::from_millis(300), self.received.recv()).await {
            panic!("unexpected phone message {got:?}");
        }
    }
}

pub fn init_logs() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// What a Mosquitto client program did.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a Mosquitto client program (`mosquitto_sub`, `mosquitto_pub`) to its end, at most 10 s.
pub async fn mosquitto(program: &str, args: &[&str]) -> Run {
    let run = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the client exits")
        .expect("runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    Run {
        ok: output.status.success(),
        stdout: text(&output.stdout),
        stderr: text(&output.stderr),
    }
}
