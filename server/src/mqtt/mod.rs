//! The hub's MQTT side: the embedded broker (unless `mqtt_url` names an external one), the
//! hub's link to whichever broker it is, the durable outbox that feeds staff inboxes
//! ([`outbox`]), the phone → hub topics ([`inbound`]), the delivery receipts ([`receipts`]),
//! and the provisioning of an external Mosquitto's logins ([`provisioning`]).
//!
//! The embedded broker is reached over loopback like an external one, so both go through the
//! same link code (`scaan_mobile_bridge::link`).

mod inbound;
mod outbox;
mod provisioning;
pub mod receipts;

use chrono::{DateTime, Utc};
use scaan_mobile_bridge::topics;
use scaan_mobile_bridge::{Authenticator, EmbeddedBroker, HubLink, LinkChannels, LinkOptions, LinkState};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::auth::token_hash;
use crate::config::Config;
use crate::delivery::InboxMessage;
use crate::hub::Hub;
use crate::storage::Store;
use provisioning::Provisioning;
use scaan_schemas::User;

/// The hub's client id at the broker: fixed, so its session (and what phones sent while the
/// hub was away) survives reconnections.
const HUB_CLIENT_ID: &str = "scaan-hub";
/// How long start-up waits for the link to the embedded broker, which is in this process.
const EMBEDDED_CONNECT: Duration = Duration::from_secs(5);

/// The broker in use and the hub's link to it.
pub struct Mqtt {
    link: HubLink,
    /// The embedded broker's phone-facing address; `None` with an external broker.
    embedded_addr: Option<SocketAddr>,
    embedded: Mutex<Option<EmbeddedBroker>>,
    /// Handed to the tasks [`run`] starts.
    pending: Mutex<Option<(LinkChannels, mpsc::UnboundedReceiver<InboxMessage>)>>,
    outbox: outbox::Tags,
    /// The external Mosquitto's logins, when the hub has its admin login.
    provisioning: Option<Provisioning>,
}

impl Mqtt {
    /// Starts the embedded broker (unless an external one is configured) and the link to it.
    pub async fn start(
        config: &Config,
        store: &Store,
        inbox: mpsc::UnboundedReceiver<InboxMessage>,
        shutdown: &CancellationToken,
        tasks: &TaskTracker,
    ) -> anyhow::Result<Mqtt> {
        let subscriptions = topics::hub_filters();
        let mut provisioning = None;
        let (options, embedded) = match config.mqtt_broker()? {
            Some(url) => {
                let credentials = match config.mqtt_admin() {
                    Some(admin) => {
                        let (provisioner, hub_login) = Provisioning::start(&url, admin, store, shutdown, tasks).await?;
                        provisioning = Some(provisioner);
                        Some(hub_login)
                    }
                    None => url.credentials,
                };
                let options = LinkOptions {
                    host: url.host,
                    port: url.port,
                    client_id: HUB_CLIENT_ID.to_owned(),
                    credentials,
                    subscriptions,
                };
                (options, None)
            }
            None => {
                let auth = Arc::new(TokenAuthenticator { store: store.clone() });
                let broker = EmbeddedBroker::start(config.mqtt_listen, auth).await?;
                let addr = broker.local_addr();
                let host = match addr.ip() {
                    ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    ip => ip,
                };
                let options = LinkOptions {
                    host: host.to_string(),
                    port: addr.port(),
                    client_id: HUB_CLIENT_ID.to_owned(),
                    credentials: Some(broker.hub_credentials()),
                    subscriptions,
                };
                (options, Some(broker))
            }
        };
        let (link, channels) = HubLink::start(options, shutdown.child_token(), tasks);
        let embedded_addr = embedded.as_ref().map(EmbeddedBroker::local_addr);
        if embedded.is_some() && !link.connected_within(EMBEDDED_CONNECT).await {
            tracing::warn!(state = ?link.state(), "the hub could not connect to its embedded broker yet");
        }
        Ok(Mqtt {
            link,
            embedded_addr,
            embedded: Mutex::new(embedded),
            pending: Mutex::new(Some((channels, inbox))),
            outbox: outbox::Tags::default(),
            provisioning,
        })
    }

    /// The embedded broker's address for phones (with port 0 resolved); `None` when external.
    pub fn embedded_addr(&self) -> Option<SocketAddr> {
        self.embedded_addr
    }

    pub fn link_state(&self) -> LinkState {
        self.link.state()
    }

    /// A login: with a provisioned Mosquitto, `token` becomes `user`'s broker password (the
    /// embedded broker asks the store instead, and needs nothing).
    pub async fn token_issued(&self, user: &User, token: &str, expires_at: DateTime<Utc>) {
        if let Some(provisioning) = &self.provisioning {
            provisioning.token_issued(user, token, expires_at).await;
        }
    }

    /// A logout: with a provisioned Mosquitto, the token opens no new MQTT connection.
    pub async fn token_revoked(&self, username: &str, token_hash: &[u8; 32]) {
        if let Some(provisioning) = &self.provisioning {
            provisioning.token_revoked(username, token_hash).await;
        }
    }

    /// Closes the embedded broker's port and its connections, or the admin connection to an
    /// external Mosquitto.
    pub async fn stop(&self) {
        if let Some(provisioning) = &self.provisioning {
            provisioning.stop().await;
        }
        let broker = self.embedded.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(broker) = broker {
            broker.shutdown().await;
        }
    }
}

/// Starts the tasks that need the whole hub: the outbox writer (which first sends again what
/// a previous run stored but the broker never acknowledged), the receipt recorder, and the
/// router of phone messages.
pub fn run(hub: &Arc<Hub>) {
    let taken = hub.mqtt.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
    let Some((channels, inbox)) = taken else {
        return;
    };
    hub.tasks.spawn(outbox::write(hub.clone(), inbox));
    hub.tasks.spawn(outbox::record_accepted(hub.clone(), channels.accepted));
    hub.tasks.spawn(inbound::route(hub.clone(), channels.inbound));
}

/// The broker asks the hub whose account a (username, token) pair opens: the same rule as a
/// bearer token over HTTP (unknown, expired or revoked: refused), and the username must match.
struct TokenAuthenticator {
    store: Store,
}

impl Authenticator for TokenAuthenticator {
    async fn authenticate(&self, username: &str, password: &[u8]) -> Option<Uuid> {
        let token = std::str::from_utf8(password).ok()?;
        match self.store.token_user(&token_hash(token), Utc::now()).await {
            Ok(Some(user)) if user.username == username => Some(user.id),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check an MQTT login: the database is unreachable");
                None
            }
        }
    }
}
