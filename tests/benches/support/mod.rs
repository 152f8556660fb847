//! What the hub benchmarks share: a real hub on free ports, staff accounts with tokens put
//! straight into its store, and the alert they all send. Each bench uses part of it.
#![allow(dead_code)]

use std::sync::Arc;

use scaan_schemas::{NewUser, Position, Role};
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
    /// A hub on `database_url`, with its embedded broker or, given `mqtt_url`, that broker.
    pub async fn start(database_url: String, mqtt_url: Option<String>) -> BenchHub {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            mqtt_listen: "127.0.0.1:0".parse().unwrap(),
            mqtt_url,
            data_dir: dir.path().to_path_buf(),
            database_url: Some(database_url),
            ..Config::default()
        };
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
    /// of a 100 × 100 grid near Beni (inside [`alert`]'s area). All share one password hash:
    /// hashing is not what is measured.
    pub async fn account(&self, username: String, role: Role, i: usize) -> Account {
        static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let hash = HASH
            .get_or_init(|| async {
                scaan_server::auth::hash_password("bench password".into())
                    .await
                    .unwrap()
            })
            .await;
        let duty = Position::new(0.49 + (i % 100) as f64 * 1e-4, 29.47 + (i / 100) as f64 * 1e-4);
        let new = NewUser {
            username,
            password: String::new(),
            role,
            name: None,
            countries: vec![],
            duty_station: Some(duty),
        };
        let user = self
            .hub
            .store
            .create_user(&new, hash, chrono::Utc::now())
            .await
            .unwrap();
        self.hub.place_staff(&user);
        let token = scaan_server::auth::new_token();
        let now = chrono::Utc::now();
        self.hub
            .store
            .insert_token(
                &scaan_server::auth::token_hash(&token),
                user.id,
                now,
                now + chrono::Duration::hours(1),
            )
            .await
            .unwrap();
        Account {
            id: user.id,
            username: user.username,
            token,
        }
    }

    /// `staff0` … `staff{n-1}`, 64 at a time.
    pub async fn staff(&self, n: usize) -> Vec<Account> {
        let mut made = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(64) {
            let batch = chunk.iter().map(|&i| self.account(format!("staff{i}"), Role::Staff, i));
            made.extend(futures_util::future::join_all(batch).await);
        }
        made
    }

    pub async fn stop(self) {
        self.stop.cancel();
        self.serving.await.unwrap().unwrap();
    }
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
/// databases); returns its URL.
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
