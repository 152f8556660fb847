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

use std::{future::Future, io, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context as _;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{rustls, TlsAcceptor};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use crate::per_address::{PerAddress, Place};
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
    fn authenticate(&self, username: &str, password: &str) -> impl Future<Output = Option<Login<Self::Person>>> + Send;

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

/// An accepted login.
pub struct Login<P> {
    pub user: Uuid,
    pub person: P,
    /// Names the credential it used, so that its connections can be closed when it is revoked
    /// ([`Sessions::enforce`]).
    pub key: [u8; 32],
    /// Stands for the rights the hub granted with it (the hub's own digest), so that its
    /// connections can be closed when the person's rights change ([`Sessions::enforce`]).
    pub rights: u64,
    /// When the credential expires: its connections are closed then.
    pub expires_at: Option<std::time::SystemTime>,
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
    /// Connections from one address between accepting and their CONNACK at once; beyond it a
    /// new one from there is closed unread. With a refused login answered only after a second
    /// (holding its place meanwhile), one address can try at most this many logins a second; a
    /// valid login is never delayed. High, because a carrier's NAT can put many phones behind
    /// one address, all reconnecting at once after a restart of the hub.
    pub handshakes_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(10),
            inflight: 32,
            write_timeout: Duration::from_secs(30),
            max_connections: 100_000,
            handshakes_per_address: 1_000,
        }
    }
}

/// Where the endpoint listens: plain TCP, and optionally TLS beside it.
pub struct Listen {
    pub plain: SocketAddr,
    /// MQTT over TLS (8883 by convention): the address and the server's certificate and key.
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
}

/// The phone-facing MQTT listeners and their live sessions.
pub struct Endpoint {
    local_addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    listeners: std::sync::Mutex<Vec<(TcpListener, Option<TlsAcceptor>)>>,
    sessions: Arc<Sessions>,
    limits: Limits,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl Endpoint {
    /// Binds the listeners (port 0 picks a free port). A port already taken is an error that
    /// names it and the ways out. Nothing is served until [`Endpoint::serve`].
    pub async fn bind(listen: Listen, limits: Limits) -> anyhow::Result<Endpoint> {
        let plain = bind(listen.plain).await?;
        let local_addr = plain.local_addr()?;
        let mut listeners = vec![(plain, None)];
        let mut tls_addr = None;
        if let Some((addr, config)) = listen.tls {
            let tls = bind(addr).await?;
            tls_addr = Some(tls.local_addr()?);
            listeners.push((tls, Some(TlsAcceptor::from(config))));
        }
        Ok(Endpoint {
            local_addr,
            tls_addr,
            listeners: std::sync::Mutex::new(listeners),
            sessions: Arc::new(Sessions::default()),
            limits,
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// The plain listener's address (with port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The TLS listener's address, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Starts accepting phones, asking `hub` what the endpoint cannot know. Once only.
    pub fn serve<H: PhoneHub>(&self, hub: Arc<H>) {
        let listeners = std::mem::take(&mut *self.listeners.lock().unwrap_or_else(|e| e.into_inner()));
        let shared = Arc::new(connection::Shared {
            hub,
            sessions: self.sessions.clone(),
            handshakes: PerAddress::new(self.limits.handshakes_per_address),
            limits: self.limits.clone(),
        });
        for (listener, tls) in listeners {
            let tls_on = tls.is_some();
            // Said plainly: it is where a newcomer's phones are to connect.
            let address = listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string());
            self.tasks.spawn(accept(
                listener,
                tls,
                shared.clone(),
                self.cancel.clone(),
                self.tasks.clone(),
            ));
            tracing::info!(%address, tls = tls_on, "MQTT endpoint listening: phones connect here");
        }
    }

    /// The live connections: where envelopes for connected people go.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Closes the port and every connection (MQTT 5 clients are told the server is shutting
    /// down), and waits for them. What was owed stays owed.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// The TLS listener's configuration: a PEM certificate chain (the server's first) and its PEM
/// private key. TLS 1.2 and 1.3, no client certificates (phones log in with their token).
pub fn tls_config(cert_chain: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::{pem::PemObject as _, CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_chain)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate chain {}", cert_chain.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", cert_chain.display());
    let key =
        PrivateKeyDer::from_pem_file(key).with_context(|| format!("cannot read the private key {}", key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the certificate and the private key do not make a TLS identity")?;
    Ok(Arc::new(config))
}

async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen).await.map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "the MQTT port {port} on {ip} is already taken: choose another with --mqtt-listen, \
             or use the broker already there with --mqtt-url mqtt://{listen}",
            port = listen.port(),
            ip = listen.ip(),
        ),
        _ => anyhow::Error::new(e).context(format!("cannot listen for MQTT on {listen}")),
    })
}

async fn accept<H: PhoneHub>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
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
                // Too many handshakes from there already: closed before anything is read.
                let Some(place) = shared.handshakes.enter(peer.ip()) else {
                    tracing::debug!(%peer, "MQTT connection closed: too many handshakes from its address");
                    continue;
                };
                let (shared, cancel, tls) = (shared.clone(), cancel.clone(), tls.clone());
                tasks.spawn(async move {
                    if let Err(e) = open(stream, place, tls, &shared, &cancel).await {
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

/// One accepted connection: the TLS handshake if on the TLS listener (within the time a CONNECT
/// is allowed), then MQTT.
async fn open<H: PhoneHub>(
    stream: TcpStream,
    place: Place,
    tls: Option<TlsAcceptor>,
    shared: &connection::Shared<H>,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    // Small packets (PUBACKs, check-in answers) go at once rather than wait for Nagle.
    stream.set_nodelay(true)?;
    match tls {
        None => connection::serve(stream, place, shared, cancel).await,
        Some(acceptor) => {
            let stream = tokio::time::timeout(shared.limits.connect_timeout, acceptor.accept(stream))
                .await
                .map_err(|_| anyhow::anyhow!("no TLS handshake in time"))??;
            connection::serve(stream, place, shared, cancel).await
        }
    }
}
