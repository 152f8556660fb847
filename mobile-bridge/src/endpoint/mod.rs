//! The hub's own MQTT endpoint: phones connect to the hub itself (3.1.1 or 5), with no broker
//! between them, one socket each.
//!
//! The endpoint owns the wire ([`wire`]), each connection's life ([`connection`]) and which
//! connections are live ([`sessions`]). What is durable is the hub's, asked through
//! [`PhoneHub`]: who a login is, what each person is owed, what a person's device acknowledged,
//! and what to do with what a phone sent. That makes **the outbox the session**: an envelope for
//! a person stays owed until one of their devices PUBACKs it, and whatever is owed is sent again
//! whenever they connect, after a dropped connection or a restart of the hub (`kill -9`
//! included), because it was never held anywhere but the hub's database.

mod connection;
mod sessions;
pub mod wire;

use std::{future::Future, io, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use crate::topics::PhoneTopic;
pub use sessions::Sessions;

/// One stored envelope a person has not yet acknowledged from any of their devices.
#[derive(Clone, Debug)]
pub struct Owed {
    /// The envelope's id in the hub's outbox.
    pub id: Uuid,
    /// The serialized envelope: the same bytes the WebSocket carries.
    pub payload: Bytes,
    /// It was written to one of the person's connections before (it goes again with DUP).
    pub sent_before: bool,
}

/// What the endpoint asks of the hub.
pub trait PhoneHub: Send + Sync + 'static {
    /// Whatever the hub wants back with each message of a connection (its account, say), so
    /// that acting on one needs no look-up.
    type Person: Send + Sync + 'static;

    /// Whose account a (username, token) login opens, or `None` to refuse it.
    fn authenticate(&self, username: &str, password: &str)
        -> impl Future<Output = Option<(Uuid, Self::Person)>> + Send;

    /// Everything `user` is owed, oldest first. Asked when a connection starts receiving (at
    /// CONNACK for a persistent session, at SUBSCRIBE for a clean one).
    fn owed(&self, user: Uuid) -> impl Future<Output = Vec<Owed>> + Send;

    /// These owed envelopes were written to one of `user`'s connections. Must not wait.
    fn sent(&self, user: Uuid, envelopes: Vec<Uuid>);

    /// One of `user`'s devices PUBACKed this envelope: it is owed no more. Must not wait.
    fn delivered(&self, user: Uuid, envelope: Uuid);

    /// `person` published `payload` on their own `topic`. The PUBACK waits for this to resolve,
    /// so resolve once the message has been acted on (a check-in: once stored).
    fn received(&self, person: &Self::Person, topic: PhoneTopic, payload: Bytes) -> impl Future<Output = ()> + Send;
}

/// Limits of the endpoint; the defaults suit phones on mobile networks.
#[derive(Clone, Debug)]
pub struct Limits {
    /// How long a new connection has to send its CONNECT.
    pub connect_timeout: Duration,
    /// QoS 1 messages to one connection awaiting its PUBACK at once (lower if the client's MQTT 5
    /// receive maximum says so); the rest wait in order.
    pub inflight: usize,
    /// How long one write to a phone may take before the connection is given up (it reconnects
    /// and is sent what it is owed).
    pub write_timeout: Duration,
    /// Connections at once; beyond it a CONNECT is refused as "server busy".
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(10),
            inflight: 32,
            write_timeout: Duration::from_secs(30),
            max_connections: 100_000,
        }
    }
}

/// The phone-facing MQTT listener and its live sessions.
pub struct Endpoint {
    local_addr: SocketAddr,
    listener: std::sync::Mutex<Option<TcpListener>>,
    sessions: Arc<Sessions>,
    limits: Limits,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Endpoint {
    /// Binds `listen` (port 0 picks a free port). A port already taken is an error that names it
    /// and the ways out. Nothing is served until [`Endpoint::serve`].
    pub async fn bind(listen: SocketAddr, limits: Limits) -> anyhow::Result<Endpoint> {
        let listener = TcpListener::bind(listen).await.map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => anyhow::anyhow!(
                "the MQTT port {port} on {ip} is already taken: choose another with --mqtt-listen, \
                 or use the broker already there with --mqtt-url mqtt://{listen}",
                port = listen.port(),
                ip = listen.ip(),
            ),
            _ => anyhow::Error::new(e).context(format!("cannot listen for MQTT on {listen}")),
        })?;
        Ok(Endpoint {
            local_addr: listener.local_addr()?,
            listener: std::sync::Mutex::new(Some(listener)),
            sessions: Arc::new(Sessions::default()),
            limits,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// The phone-facing address (with port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts accepting phones, asking `hub` what the endpoint cannot know. Once only.
    pub fn serve<H: PhoneHub>(&self, hub: Arc<H>) {
        let Some(listener) = self.listener.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let shared = Arc::new(connection::Shared {
            hub,
            sessions: self.sessions.clone(),
            limits: self.limits.clone(),
        });
        self.tasks
            .spawn(accept(listener, shared, self.cancel.clone(), self.tasks.clone()));
        tracing::info!(local_addr = %self.local_addr, "MQTT endpoint listening");
    }

    /// The live connections: where envelopes for connected people go.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Closes the port and every connection (MQTT 5 clients are told the server is shutting
    /// down), and waits for them. What was owed stays owed.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.listener.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn accept<H: PhoneHub>(
    listener: TcpListener,
    shared: Arc<connection::Shared<H>>,
    cancel: CancellationToken,
    tasks: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                let cancel = cancel.clone();
                tasks.spawn(async move {
                    if let Err(e) = connection::serve(stream, &shared, &cancel).await {
                        tracing::debug!(%peer, error = format!("{e:#}"), "MQTT connection ended");
                    }
                });
            }
            // Out of file descriptors and the like: pause rather than spin.
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept an MQTT connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
