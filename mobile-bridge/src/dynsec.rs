//! Provisioning an external Mosquitto through its dynamic-security plugin: the broker's clients
//! kept in step with the hub's accounts and tokens, so that Mosquitto enforces the same rules
//! as the hub's own MQTT endpoint.
//!
//! The hub connects as the plugin's admin and, for a person it has handed a token to
//! ([`Provisioner::grant`]), makes
//! - a role `scaan-staff-{user_id}` allowing subscribe/receive only on their inbox and publish
//!   only on their own phone → hub topics ([`topics`]);
//! - a client with username = the account's username, password = the token, that role, and
//!   bound to the person's client id ([`phone::client_id`]): Mosquitto lets any connection take
//!   over the session of the client id it names, so without the binding anyone could read
//!   another person's queued alerts by naming their phone's id.
//!
//! Logout ([`Provisioner::revoke`]) and expiry (a sweep every second) delete both, and Mosquitto
//! refuses the token's next connection. The hub's own link gets a client of its own
//! ([`Provisioner::provision_hub`]): read on every phone → hub topic, write on every inbox.
//!
//! # One token per person at the broker
//!
//! A dynamic-security client has one password and its username is unique, so Mosquitto can
//! know only one of a person's tokens. The choice: **the newest login's token is the MQTT
//! password.** Logging in on a second device moves the person's MQTT login there (Mosquitto
//! disconnects the first device, whose token still works over HTTP and the WebSocket).
//! Revoking a token that is not the broker's password (an older device logging out) leaves the
//! broker alone. One phone per person is the app's case; where several must stay connected,
//! use the hub's own endpoint or a broker that asks the hub on every CONNECT (EMQX's HTTP
//! authentication, `deploy/mosquitto/README.md`).
//!
//! Only a hash of the token is kept, in the client's `textdescription` together with its expiry
//! and owner; the hub reads them back at start ([`Provisioner::grants`]), so expiry and
//! revocation keep working across a restart of the hub.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{bail, Context as _};
use rand::{distributions::Alphanumeric, Rng as _};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use crate::{phone, topics};

/// The username of the hub's own broker login; no account can use it.
pub(crate) const HUB_USERNAME: &str = "scaan-hub";

const COMMAND_TOPIC: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";
const HUB_ROLE: &str = "scaan-hub";
/// How long the broker may take to answer a batch of commands.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often expired grants are looked for: an expired token opens no connection a second later.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// People per message when provisioning many at once (four commands each).
const GRANTS_PER_MESSAGE: usize = 64;
/// Clients per page when reading the broker's clients back.
const PAGE: usize = 1_000;

/// What the broker knows of one person's token: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub username: String,
    pub user_id: Uuid,
    /// The hub's hash of the token (SHA-256), to recognise it at logout.
    #[serde(with = "hex_bytes")]
    pub token_hash: [u8; 32],
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Grant {
    pub fn new(username: &str, user_id: Uuid, token_hash: [u8; 32], expires_at: SystemTime) -> Grant {
        Grant {
            username: username.to_owned(),
            user_id,
            token_hash,
            expires_at: unix_seconds(expires_at),
        }
    }

    fn expired(&self, now: SystemTime) -> bool {
        self.expires_at <= unix_seconds(now)
    }
}

/// The hub's admin connection to Mosquitto's dynamic-security plugin.
pub struct Provisioner {
    client: AsyncClient,
    admin_username: String,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Answer>>>>>,
    next_request: AtomicU64,
    /// Who holds a broker login now. Held across each change so that a grant and a revocation
    /// of the same person cannot interleave on the broker.
    grants: tokio::sync::Mutex<HashMap<String, Grant>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// One command's answer.
#[derive(Debug, Deserialize)]
struct Answer {
    command: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default, rename = "correlationData")]
    correlation: Option<String>,
}

impl Answer {
    fn check(&self) -> anyhow::Result<()> {
        match &self.error {
            None => Ok(()),
            Some(e) => bail!("Mosquitto refused {}: {e}", self.command),
        }
    }

    /// A deletion of something already gone is no failure.
    fn check_deleted(&self) -> anyhow::Result<()> {
        match self.error.as_deref() {
            Some("Client not found" | "Role not found") => Ok(()),
            _ => self.check(),
        }
    }
}

impl Provisioner {
    /// Connects to the broker at `host:port` as its dynamic-security admin, sets the default
    /// access to deny, reads back the grants the broker holds, and starts the expiry sweep.
    pub async fn connect(
        host: &str,
        port: u16,
        admin_username: &str,
        admin_password: &str,
    ) -> anyhow::Result<Provisioner> {
        let mut options = MqttOptions::new(format!("scaan-dynsec-{}", random_secret(8)), host, port);
        options
            .set_credentials(admin_username, admin_password)
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            // Listing thousands of clients is one large answer.
            .set_max_packet_size(64 * 1024 * 1024, 1024 * 1024);
        let (client, mut events) = AsyncClient::new(options, 64);
        client.subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce).await?;
        loop {
            let event = tokio::time::timeout(ANSWER_TIMEOUT, events.poll())
                .await
                .context("Mosquitto did not answer in time")?
                .with_context(|| format!("cannot connect to Mosquitto at {host}:{port} as {admin_username}"))?;
            if let Event::Incoming(Packet::SubAck(suback)) = event {
                if suback
                    .return_codes
                    .iter()
                    .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                {
                    bail!("{admin_username} may not read {RESPONSE_TOPIC}: is it the dynamic-security admin?");
                }
                break;
            }
        }
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(drive(events, client.clone(), pending.clone(), cancel.clone()));
        let provisioner = Provisioner {
            client,
            admin_username: admin_username.to_owned(),
            pending,
            next_request: AtomicU64::new(0),
            grants: tokio::sync::Mutex::new(HashMap::new()),
            cancel,
            tasks,
        };
        provisioner.deny_by_default().await?;
        let held = provisioner.read_grants().await?;
        *provisioner.grants.lock().await = held.into_iter().map(|g| (g.username.clone(), g)).collect();
        Ok(provisioner)
    }

    /// Runs the expiry sweep until [`Provisioner::shutdown`]; the hub spawns it.
    pub async fn sweep_expired(self: Arc<Self>) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.expire(SystemTime::now()).await {
                tracing::warn!(error = format!("{e:#}"), "cannot remove expired MQTT logins");
            }
        }
    }

    /// Creates (or renews) the hub's own client with a new random password, and returns the
    /// credentials for the hub's link. Call it before the link connects: a renewal disconnects
    /// the client already connected under that name.
    pub async fn provision_hub(&self) -> anyhow::Result<(String, String)> {
        let password = random_secret(32);
        let mut acls: Vec<Value> = topics::hub_filters()
            .into_iter()
            .flat_map(|filter| [acl("subscribePattern", &filter), acl("publishClientReceive", &filter)])
            .collect();
        acls.push(acl("publishClientSend", &topics::every_inbox()));
        let answers = self
            .execute(vec![
                json!({"command": "deleteClient", "username": HUB_USERNAME}),
                json!({"command": "deleteRole", "rolename": HUB_ROLE}),
                json!({"command": "createRole", "rolename": HUB_ROLE, "acls": acls}),
                json!({"command": "createClient", "username": HUB_USERNAME, "password": password,
                       "textname": "the SCAAN hub", "roles": [{"rolename": HUB_ROLE}]}),
            ])
            .await?;
        check_replace(&answers)?;
        Ok((HUB_USERNAME.to_owned(), password))
    }

    /// Makes `token` the broker password of `grant.username`, allowed on their own topics only.
    pub async fn grant(&self, grant: &Grant, token: &str) -> anyhow::Result<()> {
        self.grant_many(&[(grant.clone(), token.to_owned())]).await
    }

    /// [`Provisioner::grant`] for many people, in a few messages (a benchmark's 10,000 phones).
    pub async fn grant_many(&self, grants: &[(Grant, String)]) -> anyhow::Result<()> {
        for (grant, _) in grants {
            self.check_username(&grant.username)?;
        }
        let mut held = self.grants.lock().await;
        for chunk in grants.chunks(GRANTS_PER_MESSAGE) {
            let commands = chunk
                .iter()
                .flat_map(|(grant, token)| grant_commands(grant, token))
                .collect();
            let answers = self.execute(commands).await?;
            for (i, (grant, _)) in chunk.iter().enumerate() {
                check_replace(&answers[i * 4..i * 4 + 4])
                    .with_context(|| format!("cannot give {} an MQTT login", grant.username))?;
                held.insert(grant.username.clone(), grant.clone());
            }
        }
        Ok(())
    }

    /// The token with `token_hash` was revoked: if it is `username`'s broker password, their
    /// client and role go (Mosquitto disconnects them and refuses that token from now on).
    pub async fn revoke(&self, username: &str, token_hash: &[u8; 32]) -> anyhow::Result<()> {
        let mut held = self.grants.lock().await;
        if held.get(username).is_some_and(|g| &g.token_hash == token_hash) {
            self.remove(&mut held, username).await?;
        }
        Ok(())
    }

    /// Removes `username`'s broker login whatever its token (account disabled, password changed).
    pub async fn revoke_all(&self, username: &str) -> anyhow::Result<()> {
        self.check_username(username)?;
        let mut held = self.grants.lock().await;
        self.remove(&mut held, username).await
    }

    /// Removes every login whose token has expired by `now`; returns whose.
    pub async fn expire(&self, now: SystemTime) -> anyhow::Result<Vec<String>> {
        let mut held = self.grants.lock().await;
        let expired: Vec<String> = held
            .values()
            .filter(|g| g.expired(now))
            .map(|g| g.username.clone())
            .collect();
        for username in &expired {
            self.remove(&mut held, username).await?;
        }
        Ok(expired)
    }

    /// The logins the broker holds, as the hub granted them: at start, the hub revokes those
    /// whose token it has revoked meanwhile.
    pub async fn grants(&self) -> Vec<Grant> {
        self.grants.lock().await.values().cloned().collect()
    }

    /// Disconnects from the broker and stops the sweep.
    pub async fn shutdown(&self) {
        let _ = self.client.disconnect().await;
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    async fn remove(&self, held: &mut HashMap<String, Grant>, username: &str) -> anyhow::Result<()> {
        let role = held.get(username).map(|g| staff_role(g.user_id));
        let mut commands = vec![json!({"command": "deleteClient", "username": username})];
        commands.extend(role.map(|role| json!({"command": "deleteRole", "rolename": role})));
        for answer in self.execute(commands).await? {
            answer
                .check_deleted()
                .with_context(|| format!("cannot remove {username}'s MQTT login"))?;
        }
        held.remove(username);
        Ok(())
    }

    /// The admin's and the hub's own clients are not people's: no account may replace them.
    fn check_username(&self, username: &str) -> anyhow::Result<()> {
        if username == HUB_USERNAME || username == self.admin_username {
            bail!("'{username}' is reserved for the broker's own clients");
        }
        Ok(())
    }

    async fn deny_by_default(&self) -> anyhow::Result<()> {
        let defaults = [
            ("publishClientSend", false),
            ("publishClientReceive", false),
            ("subscribe", false),
            ("unsubscribe", true),
        ]
        .map(|(acltype, allow)| json!({"acltype": acltype, "allow": allow}));
        let answers = self
            .execute(vec![json!({"command": "setDefaultACLAccess", "acls": defaults})])
            .await?;
        answers.iter().try_for_each(Answer::check)
    }

    /// Every client carrying a hub grant in its `textdescription`.
    async fn read_grants(&self) -> anyhow::Result<Vec<Grant>> {
        let mut grants = Vec::new();
        for page in 0.. {
            let answers = self
                .execute(vec![json!({"command": "listClients", "verbose": true,
                                     "count": PAGE, "offset": page * PAGE})])
                .await?;
            let answer = answers.first().context("no answer to listClients")?;
            answer.check()?;
            let clients = answer
                .data
                .as_ref()
                .and_then(|d| d["clients"].as_array())
                .context("listClients answered without clients")?;
            grants.extend(
                clients
                    .iter()
                    .filter_map(|c| serde_json::from_str::<Grant>(c["textdescription"].as_str()?).ok()),
            );
            if clients.len() < PAGE {
                break;
            }
        }
        Ok(grants)
    }

    /// Sends `commands` in one message and waits for their answers, in order.
    async fn execute(&self, mut commands: Vec<Value>) -> anyhow::Result<Vec<Answer>> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        for command in &mut commands {
            command["correlationData"] = json!(request.to_string());
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(request, tx);
        let payload = serde_json::to_vec(&json!({ "commands": commands }))?;
        let sent = self
            .client
            .publish(COMMAND_TOPIC, QoS::AtLeastOnce, false, payload)
            .await;
        let answers = match sent {
            Ok(()) => tokio::time::timeout(ANSWER_TIMEOUT, rx).await,
            Err(e) => {
                lock(&self.pending).remove(&request);
                return Err(e).context("the connection to Mosquitto is closed");
            }
        };
        lock(&self.pending).remove(&request);
        let answers = answers
            .context("Mosquitto did not answer the dynamic-security commands in time")?
            .context("the connection to Mosquitto closed")?;
        if answers.len() != commands.len() {
            bail!("Mosquitto answered {} of {} commands", answers.len(), commands.len());
        }
        Ok(answers)
    }
}

/// Polls the admin connection: answers go to whoever waits for them. rumqttc reconnects on the
/// next poll; the subscription is renewed on each CONNACK since the session is clean.
async fn drive(
    mut events: EventLoop,
    client: AsyncClient,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Vec<Answer>>>>>,
    cancel: CancellationToken,
) {
    let mut connected = true;
    loop {
        let event = tokio::select! {
            () = cancel.cancelled() => return,
            event = events.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(publish))) if publish.topic == RESPONSE_TOPIC => {
                let answers = match serde_json::from_slice::<Value>(&publish.payload)
                    .ok()
                    .and_then(|v| serde_json::from_value::<Vec<Answer>>(v["responses"].clone()).ok())
                {
                    Some(answers) => answers,
                    None => {
                        tracing::warn!("unreadable answer from Mosquitto's dynamic-security plugin");
                        continue;
                    }
                };
                let request = answers
                    .first()
                    .and_then(|a| a.correlation.as_deref())
                    .and_then(|c| c.parse::<u64>().ok());
                if let Some(waiting) = request.and_then(|r| lock(&pending).remove(&r)) {
                    let _ = waiting.send(answers);
                }
            }
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                if !connected {
                    // Never awaited here: this task polls the event loop the request would need.
                    if let Err(e) = client.try_subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce) {
                        tracing::warn!(error = %e, "cannot resubscribe to Mosquitto's answers");
                    }
                }
                connected = true;
            }
            Ok(_) => {}
            Err(e) => {
                if connected {
                    tracing::warn!(error = %e, "lost the dynamic-security connection to Mosquitto; retrying");
                }
                connected = false;
                // What was waiting for an answer on the lost connection will not get it.
                lock(&pending).clear();
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// deleteClient, deleteRole, createRole, createClient: the person's login, replaced whole.
fn grant_commands(grant: &Grant, token: &str) -> [Value; 4] {
    let role = staff_role(grant.user_id);
    let inbox = topics::inbox(grant.user_id);
    let mut acls = vec![acl("subscribeLiteral", &inbox), acl("publishClientReceive", &inbox)];
    acls.extend(
        topics::PhoneTopic::ALL
            .iter()
            .map(|&kind| acl("publishClientSend", &topics::phone_topic(grant.user_id, kind))),
    );
    let record = serde_json::to_string(grant).unwrap_or_default();
    [
        json!({"command": "deleteClient", "username": grant.username}),
        json!({"command": "deleteRole", "rolename": role}),
        json!({"command": "createRole", "rolename": role, "acls": acls}),
        json!({"command": "createClient", "username": grant.username, "password": token,
               "clientid": phone::client_id(grant.user_id),
               "textdescription": record, "roles": [{"rolename": role}]}),
    ]
}

/// The answers to [`grant_commands`]-shaped batches: the deletions may find nothing.
fn check_replace(answers: &[Answer]) -> anyhow::Result<()> {
    answers[0].check_deleted()?;
    answers[1].check_deleted()?;
    answers[2].check()?;
    answers[3].check()
}

fn staff_role(user: Uuid) -> String {
    format!("scaan-staff-{user}")
}

fn acl(acltype: &str, topic: &str) -> Value {
    json!({"acltype": acltype, "topic": topic, "allow": true})
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn random_secret(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The token hash as hex in the broker's `textdescription`.
mod hex_bytes {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut bytes = [0u8; 32];
        if text.len() != 64 || !text.is_ascii() {
            return Err(D::Error::custom("expected 64 hex digits"));
        }
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(D::Error::custom)?;
        }
        Ok(bytes)
    }
}
