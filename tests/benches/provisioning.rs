//! Per-login provisioning cost on an external NATS server as the number of provisioned people
//! grows (issue 11: at 100,000 at most 2× its cost at 1,000).
//!
//! For each N: N people logged in (each a login JWT signed as the hub signs it at login) and
//! N/100 of them logged out within the token's lifetime (their keys in the account JWT's
//! revocation list, pushed to the server: the only per-person state NATS holds). Then, one at
//! a time, 300 more logins: `sign` is the hub's provisioning work (one signature), `login` the
//! same plus the phone's MQTT CONNECT with that password, answered by the real nats-server
//! (JWT checks, revocation lookup). `logout` is a revocation pushed with the list at its size
//! (20 of them), and `cut_off` how long after that push a connected phone is disconnected.
//!
//! `SCAAN_TEST_NATS=1 cargo bench -p scaan-tests --bench provisioning`;
//! `SCAAN_BENCH_PROVISIONING_SIZES=1000,100000` (the default) sets N. Prints one JSON line last.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet};
use scaan_mobile_bridge::{fixtures::nats::NatsServer, nats};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

const LOGINS: usize = 300;
const LOGOUTS: usize = 20;
/// The share of provisioned people who logged out within a token's lifetime.
const LOGGED_OUT: usize = 100;
const IN_A_WEEK: i64 = 7 * 24 * 3600;

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("SCAAN_BENCH_PROVISIONING_SIZES")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("SCAAN_BENCH_PROVISIONING_SIZES: numbers"))
        .collect();
    let Some(server) = NatsServer::from_env().await else {
        return;
    };
    let mut results = Vec::new();
    for n in sizes {
        results.push(run(&server, n).await);
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        let ratio = last["login_ms"]["p50"].as_f64().unwrap() / first["login_ms"]["p50"].as_f64().unwrap();
        eprintln!(
            "login p50 at {} / at {}: {ratio:.2}×",
            last["provisioned"], first["provisioned"]
        );
    }
    println!(
        "{}",
        json!({"bench": "provisioning", "broker": "nats", "results": results})
    );
}

fn token_hash() -> [u8; 32] {
    Sha256::digest(Uuid::new_v4().as_bytes()).into()
}

async fn run(server: &NatsServer, n: usize) -> Value {
    let keys = server.keys();
    let expires_at = chrono::Utc::now().timestamp() + IN_A_WEEK;
    let started = Instant::now();
    let mut revocations = BTreeMap::new();
    for i in 0..n {
        let hash = token_hash();
        std::hint::black_box(keys.login_jwt(Uuid::new_v4(), "someone", &hash, expires_at));
        if i % LOGGED_OUT == 0 {
            revocations.insert(nats::login_key(&hash), chrono::Utc::now().timestamp());
        }
    }
    let system = server.system();
    system
        .push(&keys.account_jwt(&revocations))
        .await
        .expect("the account JWT is taken");
    eprintln!(
        "{n} provisioned ({} revoked) in {:.1} s",
        revocations.len(),
        started.elapsed().as_secs_f64()
    );

    let (mut sign, mut login) = (Vec::new(), Vec::new());
    for i in 0..LOGINS {
        let user = Uuid::new_v4();
        let started = Instant::now();
        let password = keys.login_jwt(user, "someone", &token_hash(), expires_at);
        sign.push(started.elapsed());
        let (client, mut events) = connect(server, user, &password);
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {}
            other => panic!("login {i} refused: {other:?}"),
        }
        login.push(started.elapsed());
        let _ = client.disconnect().await;
        while events.poll().await.is_ok() {}
    }

    let mut logout = Vec::new();
    let mut cut_off = Vec::new();
    for _ in 0..LOGOUTS {
        let (user, hash) = (Uuid::new_v4(), token_hash());
        let password = keys.login_jwt(user, "someone", &hash, expires_at);
        let (_client, mut events) = connect(server, user, &password);
        assert!(matches!(events.poll().await, Ok(Event::Incoming(Packet::ConnAck(_)))));
        revocations.insert(nats::login_key(&hash), chrono::Utc::now().timestamp());
        let started = Instant::now();
        system.push(&keys.account_jwt(&revocations)).await.expect("revoked");
        logout.push(started.elapsed());
        loop {
            match tokio::time::timeout(Duration::from_secs(5), events.poll()).await {
                Ok(Ok(_)) => continue,
                Ok(Err(_)) => break,
                Err(_) => panic!("a revoked phone stayed connected 5 s"),
            }
        }
        cut_off.push(started.elapsed());
    }
    json!({
        "provisioned": n,
        "revoked": revocations.len(),
        "account_jwt_bytes": keys.account_jwt(&revocations).len(),
        "sign_ms": stats(&mut sign),
        "login_ms": stats(&mut login),
        "logout_ms": stats(&mut logout),
        "cut_off_ms": stats(&mut cut_off),
    })
}

fn connect(server: &NatsServer, user: Uuid, password: &str) -> (AsyncClient, rumqttc::EventLoop) {
    let mut options = MqttOptions::new(format!("bench-{}", user.simple()), "127.0.0.1", server.mqtt_port());
    options
        .set_credentials("someone", password)
        .set_keep_alive(Duration::from_secs(30));
    AsyncClient::new(options, 8)
}

/// p50 and p99 in milliseconds.
fn stats(samples: &mut [Duration]) -> Value {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    json!({"p50": (at(0.5) * 1000.0).round() / 1000.0, "p99": (at(0.99) * 1000.0).round() / 1000.0})
}
