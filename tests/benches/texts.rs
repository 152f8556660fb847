//! The SMS fallback at scale: one alert to 10,000 staff whom no device reaches, each with a
//! number, texted through a real Kannel (bearerbox, smsbox, and its fake SMSC with one
//! listening `fakesmsc` playing every phone). The ceiling per minute is lifted, so the hub and
//! the gateway set the pace.
//!
//! Reports, from the alert's answer: `queued_ms` (every text owed in the outbox, after the
//! fallback time, which is 1 s here), `handed_ms` (the gateway has taken every one: the
//! figure the issue asks for), `received_ms` (the fake phones have them all), and the texts
//! handed per second between the first and the last.
//!
//! `SCAAN_TEST_KANNEL=1 cargo bench -p scaan-tests --bench texts` — SQLite; with
//! `SCAAN_BENCH_POSTGRES_URL` set, PostgreSQL too. `SCAAN_BENCH_STAFF` changes the number of
//! staff. Prints one JSON line last.

#[path = "../common/kannel.rs"]
mod kannel;
mod support;

use kannel::{free_port, Kannel};
use scaan_schemas::Role;
use scaan_server::storage::Store;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let staff: usize = std::env::var("SCAAN_BENCH_STAFF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut results = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    let Some(sqlite) = run("sqlite", sqlite, staff).await else {
        return;
    };
    results.push(sqlite);
    if let Ok(server) = std::env::var("SCAAN_BENCH_POSTGRES_URL") {
        let url = support::fresh_postgres(&server).await;
        results.extend(run("postgres", url.clone(), staff).await);
        support::drop_postgres(&server, &url).await;
    } else {
        eprintln!("PostgreSQL skipped: set SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
    }
    println!("{}", json!({"bench": "texts", "results": results}));
}

async fn run(backend: &str, database_url: String, staff: usize) -> Option<Value> {
    const TOKEN: &str = "bench-gateway-secret";
    let port = free_port();
    let kannel = Kannel::from_env(&format!("http://127.0.0.1:{port}/api/v1/sms/inbound?token={TOKEN}")).await?;
    let sendsms = kannel.sendsms_url();
    let bench = support::BenchHub::start_configured(database_url, None, |c| {
        c.listen = ([127, 0, 0, 1], port).into();
        c.sms_gateway_token = Some(TOKEN.into());
        c.sms_kannel_url = Some(sendsms);
        c.sms_fallback_after_s = 1;
        c.sms_max_per_alert = u32::MAX;
        c.sms_per_minute = u32::MAX;
    })
    .await;
    let officer = bench.account("watch".into(), Role::WatchOfficer, 0).await;
    let people = bench.staff(staff).await;
    give_numbers(&bench.hub.store, people.iter().map(|p| p.id).enumerate()).await;

    let http = reqwest::Client::new();
    let started = Instant::now();
    let alert: Value = http
        .post(format!("{}/api/v1/alerts", bench.base))
        .bearer_auth(&officer.token)
        .json(&support::alert("Clashes", true))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answered = started.elapsed();
    assert_eq!(alert["recipients"], staff, "every bench account is targeted: {alert}");
    let id = alert["id"].as_str().unwrap().parse().unwrap();

    let (mut queued, mut first_handed, mut handed) = (None, None, None);
    // The benchmark's alert is a live one.
    let handed_metric = bench
        .hub
        .metrics
        .texts_handed
        .get_or_create(&scaan_server::metrics::status_label(scaan_schemas::Status::Actual))
        .clone();
    while handed.is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if queued.is_none() && bench.hub.store.text_receipts(id).await.unwrap().len() == staff {
            queued = Some(started.elapsed());
        }
        let n = handed_metric.get();
        if first_handed.is_none() && n > 0 {
            first_handed = Some(started.elapsed());
        }
        if n as usize >= staff {
            handed = Some(started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{n} handed in 10 minutes");
    }
    let received = kannel
        .wait_for(Duration::from_secs(600), |r| (r.len() >= staff).then_some(()))
        .await
        .map(|_| started.elapsed());
    let (first, handed) = (first_handed.unwrap(), handed.unwrap());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let result = json!({
        "backend": backend,
        "staff": staff,
        "alert_answered_ms": ms(answered),
        "queued_ms": queued.map(ms),
        "handed_ms": ms(handed),
        "received_ms": received.map(ms),
        "handed_per_s": staff as f64 / (handed - first).as_secs_f64().max(0.001),
    });
    eprintln!("{result}");
    bench.stop().await;
    Some(result)
}

/// Each person a number, written straight into the store in one transaction (through the
/// accounts service it would be a commit each).
async fn give_numbers(store: &Store, people: impl Iterator<Item = (usize, uuid::Uuid)>) {
    let rows: Vec<(uuid::Uuid, String)> = people.map(|(i, id)| (id, format!("+24399{i:07}"))).collect();
    macro_rules! insert {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await.unwrap();
            for chunk in rows.chunks(1_000) {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO user_phones (user_id, preference, phone) ");
                q.push_values(chunk, |mut row, (id, phone)| {
                    row.push_bind(*id).push_bind(0).push_bind(phone);
                });
                q.build().execute(&mut *tx).await.unwrap();
            }
            tx.commit().await.unwrap();
        }};
    }
    match store {
        Store::Sqlite(pool) => insert!(pool),
        Store::Postgres(pool) => insert!(pool),
    }
}
