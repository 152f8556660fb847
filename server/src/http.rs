//! The HTTP face of the hub: the router with every endpoint, its layers (body limit, timeout,
//! request ids, tracing), the probes (`/healthz`, `/livez`, `/readyz`), `/openapi.json`, the
//! console, and serving with graceful shutdown.

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::hub::Hub;
use crate::{
    accounts, advisories, alerts, audit, auth, backups, console, delivery, headcounts, journeys, lifecycle, metrics,
    mqtt, nodes, positions, reports, sms, sos, trips, warnings, Config,
};
use scaan_mobile_bridge::LinkState;

/// A built hub and its router, ready to serve.
pub struct App {
    hub: Arc<Hub>,
    router: Router,
    metrics: Option<TcpListener>,
    /// Held while serving an SQLite database (see [`backups::DatabaseLock`]).
    database_lock: Option<backups::DatabaseLock>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SCAAN hub",
        description = "Staff-security alerts, headcounts and advisories. Wire contract v1."
    ),
    components(schemas(scaan_schemas::Envelope, scaan_schemas::ClientMessage))
)]
struct ApiDoc;

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        config.prepare_data_dir()?;
        let database_lock = backups::DatabaseLock::for_url(&config.database_url())?;
        let metrics = metrics::bind(config.metrics_listen).await?;
        let hub = Arc::new(Hub::build(config).await?);
        let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(auth::routes::router())
            .merge(accounts::router())
            .merge(positions::router())
            .merge(crate::privacy::router())
            .merge(lifecycle::router())
            .merge(alerts::router())
            .merge(headcounts::router())
            .merge(sos::router())
            .merge(sms::router())
            .merge(audit::router())
            .merge(reports::router())
            .merge(advisories::router())
            .merge(trips::router())
            .merge(journeys::router())
            .merge(warnings::router())
            .merge(delivery::stream::router())
            .merge(mqtt::receipts::router())
            .split_for_parts();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        let doc = Arc::new(doc);
        let timeout = Duration::from_secs(hub.config.request_timeout_s);
        let router = Router::new()
            .merge(api)
            .merge(console::router())
            .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
            .route("/healthz", get(readyz))
            .route("/readyz", get(readyz))
            .route("/livez", get(livez))
            .fallback(|| async { ApiError::NotFound("route") })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .layer(middleware::from_fn(move |req, next| within(timeout, req, next)))
            .layer(DefaultBodyLimit::max(hub.config.max_body_bytes))
            .layer(TraceLayer::new_for_http().make_span_with(span_for))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .with_state(hub.clone());
        Ok(App {
            hub,
            router,
            metrics,
            database_lock,
        })
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Where `GET /metrics` is served (port 0 resolved), when `metrics_listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` fires: stops accepting, lets requests in flight finish, closes
    /// every WebSocket with "going away", waits for the hub's tasks, then closes the database.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        let App {
            hub,
            router,
            metrics,
            database_lock,
        } = self;
        hub.tasks.spawn(follow_accounts(hub.clone()));
        hub.tasks
            .spawn(hub.headcounts.clone().push_counts(hub.shutdown.clone()));
        hub.tasks.spawn(delivery::receipts::record(hub.clone()));
        let read = hub.node_events.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(mark) = read {
            hub.tasks
                .spawn(nodes::follow(hub.clone(), hub.config.database_url(), mark));
        }
        // The scheduled work, on one node of several at a time.
        hub.leadership.lead(&hub, prepare_to_lead, |hub, work| {
            hub.tasks.spawn(hub.sos.clone().remind_unacknowledged(work.clone()));
            hub.tasks.spawn(hub.headcounts.clone().escalate(work.clone()));
            hub.tasks.spawn(hub.journeys.clone().keep_time(work.clone()));
            if let Some(fallback) = &hub.text_fallback {
                hub.tasks.spawn(fallback.clone().chase(work.clone()));
                hub.tasks.spawn(fallback.clone().send(work.clone()));
            }
            hub.retention.follow(&work, &hub.tasks);
            hub.warnings.follow(&work, &hub.tasks);
            if hub.nodes.is_cluster() {
                hub.tasks.spawn(nodes::prune(hub.store.clone(), work));
            }
        });
        mqtt::run(&hub);
        if let Some(metrics) = metrics {
            tracing::info!(address = %metrics.local_addr()?, "metrics on /metrics");
            hub.tasks.spawn(metrics::serve(hub.clone(), metrics));
        }
        tracing::info!(address = %listener.local_addr()?, "serving");
        let header_read_timeout = Duration::from_secs(hub.config.header_read_timeout_s);
        let limits = Limits {
            header_read_timeout,
            unlimited: hub.config.trusted_proxies.clone(),
        };
        accept(listener, router, limits, &shutdown, &hub.shutdown).await;
        hub.tasks.close();
        hub.tasks.wait().await;
        hub.mqtt.stop().await;
        hub.store.close().await;
        drop(database_lock);
        tracing::info!("stopped");
        Ok(())
    }
}

/// Connections open at once from one address at most (many people can share one behind a NAT).
const CONNECTIONS_PER_ADDRESS: usize = 1_000;
/// How long requests in flight may take to finish once the hub stops.
const DRAIN: Duration = Duration::from_secs(10);

/// What the accept loop enforces.
struct Limits {
    /// A client must send a request's headers within this.
    header_read_timeout: Duration,
    /// Addresses with no cap on their connections: the trusted reverse proxies, through which
    /// every client comes.
    unlimited: Vec<std::net::IpAddr>,
}

/// Accepts HTTP connections until `shutdown`, then tells the hub's streams (`streams`: upgraded
/// connections are no longer the server's to wait for) and lets requests in flight finish. Its own loop
/// rather than `axum::serve`, for what that does not offer: a client must send a request's
/// headers within the header-read timeout (a slow-loris client is cut off, not held open), and
/// one address other than a trusted proxy holds at most [`CONNECTIONS_PER_ADDRESS`]
/// connections (the next is closed).
async fn accept(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: &CancellationToken,
    streams: &CancellationToken,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use tower::Service as _;

    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let per_address = scaan_mobile_bridge::per_address::PerAddress::new(CONNECTIONS_PER_ADDRESS);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: pause rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let place = match limits.unlimited.contains(&peer.ip()) {
            true => None,
            false => match per_address.enter(peer.ip()) {
                Some(place) => Some(place),
                None => {
                    tracing::debug!(%peer, "HTTP connection closed: too many from its address");
                    continue;
                }
            },
        };
        let Ok(service) = make_service.call(peer).await;
        let service = hyper_util::service::TowerToHyperService::new(service);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
            drop(place);
        });
    }
    streams.cancel();
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP requests still running {DRAIN:?} after the stop; leaving them");
    }
}

/// Spans name the route, not the URI (a browser's stream URL carries its token), and the
/// request id (a proxy's `X-Request-Id`, else a new one), which the answer carries too: every
/// log line of a request can be found from what the client saw.
fn span_for(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", method = %req.method(), route, request_id = id)
}

/// Answers a request that runs past the configured time with the contract's error body.
async fn within(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Liveness: the process serves requests. Nothing outside it is asked, so a database or broker
/// away never gets the hub restarted (which would not bring them back).
async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness (also the contract's `/healthz`): 200 once the hub serves requests, its database
/// answers and its broker link is up; 503 otherwise, saying why. Also tells where phones reach
/// the broker. Of several nodes on an external broker only the leader holds the link (and
/// answers for it); the others serve everything else and are ready without it
/// (`"link": "leader"`).
async fn readyz(State(hub): State<Arc<Hub>>) -> Response {
    let (link, leads) = (hub.mqtt.link_state(), hub.leadership.leads());
    let mut mqtt = match hub.mqtt.embedded_addr() {
        Some(addr) => serde_json::json!({"broker": "embedded", "address": addr.to_string()}),
        None => serde_json::json!({"broker": "external"}),
    };
    if link.is_none() && !leads {
        mqtt["link"] = serde_json::json!("leader");
    }
    let problem = match (hub.store.ping().await, link) {
        (Err(e), _) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            Some("the database is unreachable".to_owned())
        }
        (Ok(()), Some(LinkState::Down(reason))) => Some(reason),
        // Leading, it is taking the link.
        (Ok(()), None) if leads => Some("the MQTT link is not connected yet".to_owned()),
        (Ok(()), Some(LinkState::Connected) | None) => None,
    };
    match problem {
        None => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ok", "database": hub.store.backend(), "mqtt": mqtt})),
        )
            .into_response(),
        Some(message) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "error": {"code": "unavailable", "message": message},
                "database": hub.store.backend(),
                "mqtt": mqtt,
            })),
        )
            .into_response(),
    }
}

/// Before a node runs the scheduled work: its open headcounts are read afresh (another node
/// led until now; alone, they were loaded at start), and the texts the last sender left being
/// handed over wait for their reports.
async fn prepare_to_lead(hub: Arc<Hub>) -> anyhow::Result<()> {
    if hub.nodes.is_cluster() {
        hub.headcounts.load_open().await?;
    }
    if let Some(fallback) = &hub.text_fallback {
        fallback.release_unsure().await?;
    }
    Ok(())
}

/// Follows what the command line does to accounts while the hub runs: new accounts go into
/// the targeting index, and a changed account's sessions that no longer fit it end, within
/// [`FOLLOW_ACCOUNTS_EVERY`] or so.
async fn follow_accounts(hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(FOLLOW_ACCOUNTS_EVERY);
    loop {
        tokio::select! {
            _ = hub.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = hub.follower.follow().await {
            tracing::warn!(error = format!("{e:#}"), "could not look for changed accounts");
        }
    }
}

/// How often the hub looks for accounts the command line added or changed.
const FOLLOW_ACCOUNTS_EVERY: Duration = Duration::from_secs(1);
