//! A deployment of several `scaan serve` nodes on one PostgreSQL database, as the several-nodes
//! tests drive it: accounts written through the command line, and the HTTP API called on a node
//! or through the load balancer.

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Every account's password.
pub const PASSWORD: &str = "a long passphrase";
/// Where the staff are, and the alerts go: Beni, DR Congo (lat, lon).
pub const BENI: (f64, f64) = (0.49, 29.47);

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
