//! The hub's MQTT side: the embedded broker (unless `mqtt_url` names an external one), the
//! hub's link to whichever broker it is, the durable outbox that feeds staff inboxes
//! ([`outbox`]), the phone → hub topics ([`inbound`]) and the delivery receipts ([`receipts`]).
//!
//! The embedded broker is reached over loopback like an external one, so both go through the
//! same link code (`scaan_mobile_bridge::link`).

mod inbound;
mod outbox;
pub mod receipts;

use chrono::Utc;
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
        let (options, embedded) = match config.mqtt_broker()? {
            Some(url) => (
                LinkOptions {
                    host: url.host,
                    port: url.port,
                    client_id: HUB_CLIENT_ID.to_owned(),
                    credentials: url.credentials,
                    subscriptions,
                },
                None,
            ),
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
        })
    }

    /// The embedded broker's address for phones (with port 0 resolved); `None` when external.
    pub fn embedded_addr(&self) -> Option<SocketAddr> {
        self.embedded_addr
    }

    pub fn link_state(&self) -> LinkState {
        self.link.state()
    }

    /// Closes the embedded broker's port and its connections.
    pub async fn stop(&self) {
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
