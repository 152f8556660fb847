//! One alert to 10,000 staff through the MQTT outbox: how long the sender waits, how long
//! until every inbox message is stored, and until the embedded broker has PUBACKed all of them
//! (the hub's side of delivery; phones connecting and reading are another benchmark's).
//!
//! `cargo bench -p scaan-tests --bench inbox` — SQLite; with `SCAAN_BENCH_POSTGRES_URL` set,
//! PostgreSQL too. `SCAAN_BENCH_STAFF` changes the number of staff. Prints one JSON line last.

use scaan_schemas::{NewUser, Position, Role};
use scaan_server::{App, Config};
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
    results.push(run("sqlite", sqlite, staff).await);
    if let Ok(server) = std::env::var("SCAAN_BENCH_POSTGRES_URL") {
        use sqlx::Connection;
        let name = format!("scaan_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = format!("{}/{name}", server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b));
        results.push(run("postgres", url, staff).await);
    } else {
        eprintln!("PostgreSQL skipped: set SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
    }
    println!("{}", json!({"bench": "inbox", "results": results}));
}

async fn run(backend: &str, database_url: String, staff: usize) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        mqtt_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(database_url),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = App::build(config).await.unwrap();
    let hub = app.hub().clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(app.serve(listener, stop.clone()));

    // Accounts straight into the store with one shared hash: hashing is not what is measured.
    let hash = scaan_server::auth::hash_password("bench password".into())
        .await
        .unwrap();
    let account = |username: String, role: Role, i: usize| {
        let (hub, hash) = (hub.clone(), hash.clone());
        async move {
            let duty = Position::new(0.49 + (i % 100) as f64 * 1e-4, 29.47 + (i / 100) as f64 * 1e-4);
            let new = NewUser {
                username,
                password: String::new(),
                role,
                name: None,
                countries: vec![],
                duty_station: Some(duty),
            };
            let user = hub.store.create_user(&new, &hash, chrono::Utc::now()).await.unwrap();
            hub.place_staff(&user);
            user.id
        }
    };
    let officer = account("watch".into(), Role::WatchOfficer, 0).await;
    let token = scaan_server::auth::new_token();
    let now = chrono::Utc::now();
    hub.store
        .insert_token(
            &scaan_server::auth::token_hash(&token),
            officer,
            now,
            now + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    for chunk in (0..staff).collect::<Vec<_>>().chunks(64) {
        futures_util::future::join_all(chunk.iter().map(|&i| account(format!("staff{i}"), Role::Staff, i))).await;
    }

    let http = reqwest::Client::new();
    let started = Instant::now();
    let alert: Value = http
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(&token)
        .json(&json!({"headline": "Clashes", "event": "Armed clash", "category": "security", "urgency": "immediate",
            "severity": "severe", "certainty": "observed",
            "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.475, 0.495]}, "radius_m": 20000},
            "expires_at": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answered = started.elapsed();
    assert_eq!(alert["recipients"], staff, "every bench account is targeted: {alert}");
    let id = alert["id"].as_str().unwrap();

    let (mut stored, mut accepted) = (None, None);
    while accepted.is_none() {
        let receipts: Value = http
            .get(format!("{base}/api/v1/alerts/{id}/deliveries"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let receipts = receipts["deliveries"].as_array().unwrap();
        let count = |field: &str| receipts.iter().filter(|r| r[field].is_string()).count();
        if stored.is_none() && count("queued_at") == staff {
            stored = Some(started.elapsed());
        }
        if count("broker_accepted_at") == staff {
            accepted = Some(started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not all accepted after 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    serving.await.unwrap().unwrap();
    let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0);
    let result = json!({
        "backend": backend, "staff": staff,
        "alert_answered_ms": ms(Some(answered)),
        "all_stored_ms": ms(stored), "all_broker_accepted_ms": ms(accepted),
    });
    eprintln!("{result}");
    result
}
