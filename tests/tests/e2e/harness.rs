//! Starting hubs for tests, on a fresh database of either backend, and talking to them.

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use scaan_schemas::{NewUser, Position, Role, User};
use scaan_server::{App, Config};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub const PASSWORD: &str = "correct horse battery";

/// Runs an async test body once per storage backend: `fn name_sqlite` and `fn name_postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name($crate::harness::Backend::Sqlite).await
            })+
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(backend) = $crate::harness::Backend::postgres() {
                    super::$name(backend).await
                }
            })+
        }
    };
}

#[path = "../../common/databases.rs"]
mod databases;
pub use databases::Backend;

/// A hub stopped by [`TestHub::halt`]: nothing answers on its address until it resumes.
pub struct HaltedHub {
    backend: Backend,
    config: Config,
    dir: std::sync::Arc<tempfile::TempDir>,
}

impl HaltedHub {
    /// Starts the hub again on the same database and address.
    pub async fn resume(self) -> TestHub {
        TestHub::start_with(self.backend, self.config, self.dir).await
    }
}

/// A running hub and what a test needs to reach it.
pub struct TestHub {
    pub base: String,
    pub config: Config,
    pub app: std::sync::Arc<scaan_server::Hub>,
    /// Where `/metrics` is served, when the configuration sets `metrics_listen`.
    pub metrics: Option<std::net::SocketAddr>,
    pub http: reqwest::Client,
    stop: CancellationToken,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
    backend: Backend,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

impl TestHub {
    pub async fn start(backend: Backend) -> TestHub {
        Self::start_configured(backend, |_| {}).await
    }

    /// Starts a hub whose configuration `adjust` changes from the defaults.
    pub async fn start_configured(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestHub {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            mqtt_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            database_url: Some(backend.fresh_database(dir.path()).await),
            ..Config::default()
        };
        adjust(&mut config);
        Self::start_with(backend, config, dir).await
    }

    async fn start_with(backend: Backend, config: Config, dir: std::sync::Arc<tempfile::TempDir>) -> TestHub {
        if std::env::var_os("TEST_LOG").is_some() {
            let filter = tracing_subscriber::EnvFilter::from_env("TEST_LOG");
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().unwrap();
        let app = App::build(config.clone()).await.expect("hub builds");
        let hub = app.hub().clone();
        let metrics = app.metrics_addr();
        let stop = CancellationToken::new();
        let serving = tokio::spawn(app.serve(listener, stop.clone()));
        TestHub {
            base: format!("http://{address}"),
            config,
            app: hub,
            metrics,
            http: reqwest::Client::new(),
            stop,
            serving,
            backend,
            _dir: dir,
        }
    }

    /// Stops the hub gracefully and starts a new one on the same database and address, where
    /// clients that reconnect by themselves (the console) find it again.
    pub async fn restart(self) -> TestHub {
        self.halt().await.resume().await
    }

    /// Stops the hub gracefully, keeping its database and address for [`HaltedHub::resume`].
    pub async fn halt(self) -> HaltedHub {
        let (backend, mut config, dir) = (self.backend.clone(), self.config.clone(), self._dir.clone());
        config.listen = self.base["http://".len()..].parse().expect("the hub's address");
        self.stop.cancel();
        self.serving.await.expect("hub task").expect("hub stops cleanly");
        HaltedHub { backend, config, dir }
    }

    /// Stops the hub and drops its PostgreSQL database.
    pub async fn stop(self) {
        self.stop.cancel();
        self.serving.await.expect("hub task").expect("hub stops cleanly");
        if let (Backend::Postgres(server), Some(url)) = (&self.backend, &self.config.database_url) {
            use sqlx::Connection;
            let name = url.rsplit('/').next().unwrap();
            let mut admin = sqlx::PgConnection::connect(server).await.expect("connect");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .expect("drop");
        }
    }

    /// Creates an account directly (as `scaan user add` does) and logs it in over HTTP.
    pub async fn account(&self, username: &str, role: Role, countries: &[&str], duty: Option<(f64, f64)>) -> Account {
        let new = NewUser {
            username: username.into(),
            password: PASSWORD.into(),
            role,
            name: Some(format!("Test {username}")),
            countries: countries.iter().map(|c| c.to_string()).collect(),
            duty_station: duty.map(|(lat, lon)| Position::new(lat, lon)),
            phones: Vec::new(),
        };
        let user = self
            .app
            .accounts
            .create(scaan_server::audit::Actor::CommandLine, &new)
            .await
            .expect("account created");
        self.app.follower.place_staff(&user);
        let token = self.login(username, PASSWORD).await.expect("login");
        Account { user, token }
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<String, (StatusCode, Value)> {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        match status {
            StatusCode::OK => Ok(body["token"].as_str().unwrap().to_owned()),
            _ => Err((status, body)),
        }
    }

    /// One HTTP call with an optional token and JSON body; the answer's status and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends raw bytes as a JSON body.
    pub async fn call_raw(&self, method: &str, path: &str, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            // A body the hub refuses unread (413) leaves the connection unusable; without this
            // the client could pool it and the next call would fail with an incomplete message.
            .header("connection", "close")
            .body(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, who: &Account, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(&who.token), Some(body)).await
    }

    pub async fn get(&self, path: &str, who: &Account) -> (StatusCode, Value) {
        self.call("GET", path, Some(&who.token), None).await
    }

    /// Opens the WebSocket stream with the account's token in the Authorization header.
    pub async fn stream(&self, who: &Account) -> Stream {
        let url = format!("{}/api/v1/stream", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {}", who.token).parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("stream opens");
        Stream { socket }
    }

    /// Counts every alert row, straight from the database, to prove bad input stored nothing.
    pub async fn stored_alerts(&self) -> usize {
        self.app
            .store
            .alerts(
                &scaan_server::storage::AlertScope::All,
                scaan_server::storage::AlertState::Any,
                scaan_server::storage::Page::first(1000),
            )
            .await
            .unwrap()
            .len()
    }
}

pub struct Account {
    pub user: User,
    pub token: String,
}

pub struct Stream {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Stream {
    /// The next envelope within `within`, skipping pings; `None` if none came.
    pub async fn next_within(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).expect("envelope is JSON"))
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(json!({"type": "closed", "code": frame.map(|f| u16::from(f.code))}))
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return Some(json!({"type": "closed"})),
                Err(_) => return None,
            }
        }
    }

    /// The next envelope, which must come within a second (the contract's promise).
    pub async fn expect(&mut self, kind: &str) -> Value {
        let envelope = self
            .next_within(Duration::from_secs(1))
            .await
            .unwrap_or_else(|| panic!("no {kind} within 1 s"));
        assert_eq!(envelope["type"], kind, "expected {kind}, got {envelope}");
        envelope
    }

    /// Asserts nothing arrives for a while (used after the others have received theirs).
    pub async fn expect_silence(&mut self) {
        if let Some(envelope) = self.next_within(Duration::from_millis(300)).await {
            panic!("expected nothing, got {envelope}");
        }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_raw(&value.to_string()).await
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.socket.send(Message::Text(text.to_owned())).await.expect("send");
    }
}

/// A CAP-style alert body: a circle of `radius_m` around (lat, lon).
pub fn circle_alert(headline: &str, lat: f64, lon: f64, radius_m: f64) -> Value {
    json!({
        "headline": headline,
        "description": "Reported by local partners.",
        "instruction": "Stay indoors, away from windows.",
        "event": "Armed clash",
        "category": "security",
        "urgency": "immediate", "severity": "severe", "certainty": "observed",
        "status": "actual",
        "area": {"description": "Beni, North Kivu", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "radius_m": radius_m},
        "expires_at": (chrono::Utc::now() + chrono::Duration::hours(6)).to_rfc3339(),
        "checkin_required": true,
        "checkin_deadline_s": 1800
    })
}

/// The same with a polygon area given as (lat, lon) corners (closed for you).
pub fn polygon_alert(headline: &str, corners: &[(f64, f64)]) -> Value {
    let mut ring: Vec<Value> = corners.iter().map(|(lat, lon)| json!([lon, lat])).collect();
    ring.push(ring[0].clone());
    let mut body = circle_alert(headline, 0.0, 0.0, 1.0);
    body["area"] = json!({"description": "polygon", "geometry": {"type": "Polygon", "coordinates": [ring]}});
    body
}

/// Validates a CAP document against the OASIS CAP 1.2 schema with xmllint.
pub fn assert_valid_cap(xml: &str) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/tests/data/CAP-v1.2.xsd");
    assert!(
        std::path::Path::new(schema).exists(),
        "the CAP schema is expected at {schema} (shared/ beside the repository)"
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", schema])
        .arg(file.path())
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    assert!(
        out.status.success(),
        "CAP output is not valid CAP 1.2: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
}
