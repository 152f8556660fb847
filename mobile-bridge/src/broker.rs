//! The embedded broker's life: rumqttd on its own threads behind internal loopback ports, and
//! the phone-facing listener whose connections go through the gate.

use std::{
    collections::HashMap,
    io,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use anyhow::{bail, Context as _};
use rand::{distributions::Alphanumeric, Rng as _};
use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    gate::{self, Backend, Gate, Version},
    Authenticator,
};

/// The username of the hub's own connection; no account can use it.
pub(crate) const HUB_USERNAME: &str = "scaan-hub";
/// How long rumqttd may take to start listening.
const BROKER_START_TIMEOUT: Duration = Duration::from_secs(5);
/// Bounds the sessions rumqttd holds; the benchmark target is 10k phones.
const MAX_CONNECTIONS: usize = 20_000;

/// The embedded MQTT broker: rumqttd behind the authenticating, authorising gate.
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
    hub_password: Arc<str>,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

impl EmbeddedBroker {
    /// Starts the broker with phones reaching it on `listen` (port 0 picks a free port).
    ///
    /// A port already taken is an error that names it and the ways out.
    pub async fn start(listen: SocketAddr, auth: Arc<impl Authenticator>) -> anyhow::Result<EmbeddedBroker> {
        // Bind first: rumqttd cannot be stopped once started, so fail before starting it.
        let listener = TcpListener::bind(listen).await.map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => anyhow::anyhow!(
                "the MQTT port {port} on {ip} is already taken: choose another with --mqtt-listen, \
                 or use the broker already there with --mqtt-url mqtt://{listen}",
                port = listen.port(),
                ip = listen.ip(),
            ),
            _ => anyhow::Error::new(e).context(format!("cannot listen for MQTT on {listen}")),
        })?;
        let local_addr = listener.local_addr()?;

        let backend = start_rumqttd()?;
        for version in [Version::V311, Version::V5] {
            wait_until_ready(&backend, version).await?;
        }

        let hub_password: Arc<str> = random_secret().into();
        let gate = Arc::new(Gate {
            auth,
            hub_password: hub_password.clone(),
            backend,
        });
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(accept_loop(listener, gate, cancel.clone(), tasks.clone()));
        tracing::info!(%local_addr, "embedded MQTT broker listening");
        Ok(EmbeddedBroker {
            local_addr,
            hub_password,
            cancel,
            tasks,
        })
    }

    /// The phone-facing address (with port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Username and password for the hub's own connection: it may publish to every inbox and
    /// subscribe to every phone → hub topic. The password is new for each broker.
    pub fn hub_credentials(&self) -> (String, String) {
        (HUB_USERNAME.to_owned(), self.hub_password.to_string())
    }

    /// Closes the phone-facing port and every connection through it, and waits for them.
    ///
    /// rumqttd has no stop call: its threads, internal loopback ports and in-memory sessions
    /// stay until the process exits, unreachable from outside (the internal ports accept only
    /// the gate's secret).
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn accept_loop<A: Authenticator>(
    listener: TcpListener,
    gate: Arc<Gate<A>>,
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
                let gate = gate.clone();
                let cancel = cancel.clone();
                tasks.spawn(async move {
                    if let Err(e) = gate::serve(stream, &gate, &cancel).await {
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

/// Starts rumqttd with a 3.1.1 and a 5 listener on free loopback ports, accepting only a
/// random secret login that the gate alone knows.
fn start_rumqttd() -> anyhow::Result<Backend> {
    let backend = Backend {
        v311: free_loopback_port()?,
        v5: free_loopback_port()?,
        username: "scaan-gate".to_owned(),
        password: random_secret(),
    };
    let server = |name: &str, listen| ServerSettings {
        name: name.to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 5_000,
            max_payload_size: gate::MAX_PACKET,
            max_inflight_count: 100,
            auth: Some(HashMap::from([(backend.username.clone(), backend.password.clone())])),
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        router: RouterConfig {
            max_connections: MAX_CONNECTIONS,
            max_outgoing_packet_count: 200,
            // Per topic filter: what an offline phone's inbox can hold before the oldest goes.
            max_segment_size: 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server("scaan-v311", backend.v311))])),
        v5: Some(HashMap::from([("1".to_owned(), server("scaan-v5", backend.v5))])),
        ..Config::default()
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("scaan-mqtt".to_owned())
        .spawn(move || {
            // Blocks for as long as rumqttd's listeners run.
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded MQTT broker stopped");
            }
        })
        .context("cannot start the embedded MQTT broker's thread")?;
    Ok(backend)
}

/// A free port on loopback for rumqttd, which binds by address and cannot be handed a listener.
/// Should another process take it first, the probe in [`wait_until_ready`] fails the start.
fn free_loopback_port() -> io::Result<SocketAddr> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

/// Waits until rumqttd accepts the gate's login on the internal port for `version`.
async fn wait_until_ready(backend: &Backend, version: Version) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + BROKER_START_TIMEOUT;
    loop {
        match gate::probe(backend, version).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => {
                bail!(
                    "the embedded MQTT broker did not start on {}: {e:#}",
                    backend.addr(version)
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

fn random_secret() -> String {
    rand::thread_rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}
