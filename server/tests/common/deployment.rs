//! A deployment of several `scaan serve` nodes on one PostgreSQL database, as the several-nodes
//! tests drive it: accounts written through the command line, and the HTTP API called on a node
//! or through the load balancer.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every account's password.
pub const PASSWORD: &str = "a long passphrase";
/// Where the staff are, and the alerts go: Beni, DR Congo (lat, lon).
pub const BENI: (f64, f64) = (0.49, 29.47);

/// HAProxy from `SCAAN_TEST_HAPROXY` (`1`: from the `PATH` or `/usr/sbin`); `None` after a
/// loud SKIPPED line when it is unset.
pub fn haproxy_program() -> Option<PathBuf> {
    scaan_mobile_bridge::fixtures::program_from_env("SCAAN_TEST_HAPROXY", "haproxy")
}

/// HAProxy in front of the nodes: TCP mode for HTTP (WebSockets pass through) and, when the
/// nodes serve phones themselves, MQTT; least connections first, a node found dead taken out
/// within half a second.
pub struct Haproxy {
    child: Child,
    pub http: String,
    pub mqtt: Option<SocketAddr>,
}

impl Haproxy {
    /// In front of the nodes' HTTP addresses (`http://…`) and their MQTT endpoints (none: no
    /// MQTT frontend).
    pub async fn start(program: &Path, dir: &Path, http: &[String], mqtt: &[SocketAddr]) -> Haproxy {
        let servers = |addresses: Vec<String>| {
            addresses
                .iter()
                .enumerate()
                .map(|(i, a)| format!("  server node{i} {a} check inter 500 fall 1 rise 1\n"))
                .collect::<String>()
        };
        let http_port = super::free_port();
        let mut config = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1h\n  timeout server 1h\n  retries 3\n  option redispatch\n\
             frontend http\n  bind 127.0.0.1:{http_port}\n  default_backend nodes_http\n\
             backend nodes_http\n  balance leastconn\n{}",
            servers(http.iter().map(|h| h.trim_start_matches("http://").to_owned()).collect()),
        );
        let mqtt_port = (!mqtt.is_empty()).then(super::free_port);
        if let Some(port) = mqtt_port {
            config += &format!(
                "frontend mqtt\n  bind 127.0.0.1:{port}\n  default_backend nodes_mqtt\n\
                 backend nodes_mqtt\n  balance leastconn\n{}",
                servers(mqtt.iter().map(SocketAddr::to_string).collect()),
            );
        }
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(program)
            .arg("-db")
            .arg("-f")
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy starts");
        let deadline = Instant::now() + Duration::from_secs(5);
        for port in std::iter::once(http_port).chain(mqtt_port) {
            while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                assert!(Instant::now() < deadline, "haproxy did not open its ports");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Haproxy {
            child,
            http: format!("http://127.0.0.1:{http_port}"),
            mqtt: mqtt_port.map(|port| SocketAddr::from(([127, 0, 0, 1], port))),
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Node `i`'s data directory under the deployment's `dir`, made.
pub fn node_dir(dir: &Path, i: usize) -> PathBuf {
    let d = dir.join(format!("node{i}"));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A node's own MQTT endpoint, as its `/healthz` names it.
pub async fn mqtt_endpoint(http: &str) -> SocketAddr {
    let health: Value = reqwest::get(format!("{http}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["mqtt"]["address"]
        .as_str()
        .expect("the node's MQTT endpoint")
        .parse()
        .unwrap()
}

/// `scaan user add ARGS…` on the deployment's database.
pub fn add_user(dir: &Path, database: &str, args: &[&str]) {
    let settings = [("SCAAN_DATABASE_URL", database)];
    let out = super::user_command_with(dir, "add", args, PASSWORD, &settings);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A request, with its status and JSON answer; `None` when no node answered (one was killed).
pub async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    // A new connection each time: HAProxy (TCP mode) keeps a connection on one node.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut request = client
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().await.unwrap_or(Value::Null)))
}

/// The login answer of `username`.
pub async fn login(base: &str, username: &str) -> Value {
    let body = json!({"username": username, "password": PASSWORD});
    let (status, answer) = call(base, "POST", "/api/v1/auth/login", None, Some(body))
        .await
        .unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

/// An alert to everyone within 5 km of Beni, asking for a check-in within `checkin_deadline_s`
/// when given.
pub fn alert_body(headline: &str, checkin_deadline_s: Option<u64>) -> Value {
    let mut alert = json!({
        "headline": headline, "event": "Armed clash", "category": "security",
        "urgency": "immediate", "severity": "severe", "certainty": "observed",
        "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [BENI.1, BENI.0]}, "radius_m": 5000},
        "expires_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339(),
    });
    if let Some(deadline) = checkin_deadline_s {
        alert["checkin_required"] = json!(true);
        alert["checkin_deadline_s"] = json!(deadline);
    }
    alert
}
