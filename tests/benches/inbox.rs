//! One alert to 10,000 staff through the MQTT outbox: how long the sender waits (the answer
//! comes once every inbox message is stored, which the bench checks). No phone is connected:
//! what the phones get, and when, is the `phones` benchmark's.
//!
//! `cargo bench -p scaan-tests --bench inbox` — SQLite; with `SCAAN_BENCH_POSTGRES_URL` set,
//! PostgreSQL too. `SCAAN_BENCH_STAFF` changes the number of staff. Prints one JSON line last.

mod support;

use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Instant;

#[tokio::main]
async fn main() {
    let staff: usize = std::env::var("SCAAN_BENCH_STAFF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut results = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    results.push(run("sqlite", sqlite, staff).await);
    if let Ok(server) = std::env::var("SCAAN_BENCH_POSTGRES_URL") {
        let url = support::fresh_postgres(&server).await;
        results.push(run("postgres", url, staff).await);
    } else {
        eprintln!("PostgreSQL skipped: set SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
    }
    println!("{}", json!({"bench": "inbox", "results": results}));
}

async fn run(backend: &str, database_url: String, staff: usize) -> Value {
    let bench = support::BenchHub::start(database_url, None).await;
    let officer = bench.account("watch".into(), Role::WatchOfficer, 0).await;
    bench.staff(staff).await;
    let (base, token) = (&bench.base, &officer.token);

    let http = reqwest::Client::new();
    let started = Instant::now();
    let alert: Value = http
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(token)
        .json(&support::alert("Clashes", false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answered = started.elapsed();
    assert_eq!(alert["recipients"], staff, "every bench account is targeted: {alert}");
    let id = alert["id"].as_str().unwrap();

    let receipts: Value = http
        .get(format!("{base}/api/v1/alerts/{id}/deliveries"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let queued = receipts["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["queued_at"].is_string())
        .count();
    assert_eq!(queued, staff, "every inbox message is stored before the answer");
    bench.stop().await;
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let result = json!({
        "backend": backend, "staff": staff,
        "alert_answered_ms": ms(answered),
    });
    eprintln!("{result}");
    result
}
