//! What the hub benchmarks share: a real hub on free ports, staff accounts with tokens put
//! straight into its store, and the alert they all send. Each bench uses part of it.
#![allow(dead_code)]

#[path = "../../common/accounts.rs"]
pub mod accounts;
pub mod measure;
pub mod phones_process;

use std::sync::Arc;

use scaan_schemas::{Alert, MsgType, NewAlert, Role};
use scaan_server::{App, Config, Hub};
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A hub serving HTTP (and its MQTT link) on free ports, in a directory of its own.
pub struct BenchHub {
    pub hub: Arc<Hub>,
    /// `http://127.0.0.1:port`
    pub base: String,
    stop: CancellationToken,
    serving: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl BenchHub {
    /// A hub on `database_url`, with its own MQTT endpoint or, given `mqtt_url`, that broker.
    pub async fn start(database_url: String, mqtt_url: Option<String>) -> BenchHub {
        Self::start_configured(database_url, mqtt_url, |_| {}).await
    }

    /// [`BenchHub::start`] with the configuration changed by `adjust`.
    pub async fn start_configured(
        database_url: String,
        mqtt_url: Option<String>,
        adjust: impl FnOnce(&mut Config),
    ) -> BenchHub {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            mqtt_listen: "127.0.0.1:0".parse().unwrap(),
            mqtt_url,
            data_dir: dir.path().to_path_buf(),
            database_url: Some(database_url),
            ..Config::default()
        };
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = App::build(config).await.unwrap();
        let hub = app.hub().clone();
        let stop = CancellationToken::new();
        let serving = tokio::spawn(app.serve(listener, stop.clone()));
        BenchHub {
            hub,
            base,
            stop,
            serving,
            _dir: dir,
        }
    }

    /// An account straight into the store with a valid token, its duty station the `i`-th spot
    /// of the grid near Beni (inside [`alert`]'s area).
    pub async fn account(&self, username: String, role: Role, i: usize) -> Account {
        let made = accounts::make_account(&self.hub, username, role, Some(accounts::near_beni(i))).await;
        Account {
            id: made.user.id,
            username: made.user.username,
            token: made.token,
        }
    }

    /// `staff0` … `staff{n-1}`.
    pub async fn staff(&self, n: usize) -> Vec<Account> {
        accounts::make_staff(&self.hub, "staff", n)
            .await
            .into_iter()
            .map(|made| Account {
                id: made.user.id,
                username: made.user.username,
                token: made.token,
            })
            .collect()
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.serving.await.unwrap().unwrap();
    }

    /// The alerts of the months before, to `people`: `SCAAN_BENCH_HISTORY` of them (or
    /// `default`), each stored with its list and its rows expanded as the hub does, one day
    /// apart and long expired, so that nothing is owed or open of them. Returns how long each
    /// expansion took: what an alert's rows cost must not grow with the alerts before it.
    pub async fn history(&self, people: &[Uuid], default: usize) -> Vec<std::time::Duration> {
        let alerts = history_alerts(default);
        let mut expansions = Vec::with_capacity(alerts);
        for day in (1..=alerts).rev() {
            let sent_at = chrono::Utc::now() - chrono::Duration::days(day as i64);
            let mut earlier = stored_alert("Earlier", sent_at, people.len());
            earlier.content.expires_at = sent_at + chrono::Duration::hours(1);
            self.hub.store.insert_alert(&earlier, people).await.unwrap();
            let timed = std::time::Instant::now();
            self.hub.store.expand_audience(earlier.id).await.unwrap();
            expansions.push(timed.elapsed());
        }
        expansions
    }
}

/// [`alert`] as the hub would have stored it, sent by `watch` at `sent_at` to `recipients`
/// people, for a bench that writes alerts straight into the store.
pub fn stored_alert(headline: &str, sent_at: chrono::DateTime<chrono::Utc>, recipients: usize) -> Alert {
    let content: NewAlert = serde_json::from_value(alert(headline, false)).unwrap();
    Alert {
        id: Uuid::new_v4(),
        msg_type: MsgType::Alert,
        revision: 1,
        sent_at,
        updated_at: sent_at,
        sender: "watch".into(),
        recipients: recipients as u32,
        countries: vec!["CD".into()],
        time_zone: Some("Africa/Lubumbashi".into()),
        content,
        cancel_reason: None,
    }
}

/// `SCAAN_BENCH_HISTORY`, or the bench's `default`: see [`BenchHub::history`].
pub fn history_alerts(default: usize) -> usize {
    std::env::var("SCAAN_BENCH_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub token: String,
}

/// An alert whose 20 km circle holds every bench account's duty station.
pub fn alert(headline: &str, checkin_required: bool) -> Value {
    json!({"headline": headline, "event": "Armed clash", "category": "security", "urgency": "immediate",
        "severity": "severe", "certainty": "observed", "checkin_required": checkin_required,
        "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.475, 0.495]}, "radius_m": 20000},
        "expires_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()})
}

/// A new, empty database on the PostgreSQL server at `server` (a URL whose user may create
/// databases); returns its URL. [`drop_postgres`] removes it once the bench is done with it.
pub async fn fresh_postgres(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("scaan_bench_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(server)
        .await
        .expect("connect to SCAAN_BENCH_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    format!("{}/{name}", server.rsplit_once('/').map_or(server, |(base, _)| base))
}

/// Drops a database [`fresh_postgres`] made, whoever is still connected to it.
pub async fn drop_postgres(server: &str, database: &str) {
    use sqlx::Connection;
    let name = database.rsplit_once('/').unwrap().1;
    let mut admin = sqlx::PgConnection::connect(server).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// A WebSocket stream as the benches' clients hold it.
pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the hub's stream at `base` (`http://…`) with `token`.
pub async fn stream(base: &str, token: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("{}/api/v1/stream", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("stream opens").0
}
