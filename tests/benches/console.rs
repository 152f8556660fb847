//! How soon a watch officer's console shows what just happened: from the hub's answer to the
//! request that made it (an alert sent, a report filed, an SOS raised, a check-in) to the
//! logged-in page in headless Chromium drawing it (the alert in the list and on the map, the
//! report in the queue, the SOS call, the board's count). The browser tests check that each
//! arrives live; the figure ("within 2 s") is this bench's, not a timed test's, so that a
//! loaded CI run does not fail on it.
//!
//! Each round sends one of each; the page is polled over the DevTools protocol with no pause
//! between looks (a look is one round trip, ~1–3 ms), so the figures include that much.
//!
//! `cargo bench -p scaan-tests --bench console` — SQLite; with `SCAAN_BENCH_POSTGRES_URL`,
//! PostgreSQL too. `SCAAN_BENCH_ROUNDS` (default 20), `SCAAN_BENCH_STAFF` (staff near Beni the
//! alerts reach, default 200). Prints one JSON line last.

#[allow(dead_code)]
#[path = "../tests/e2e/browser.rs"]
mod browser;
mod support;

use browser::{Browser, Page};
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{Account, BenchHub};

#[tokio::main]
async fn main() {
    let rounds = setting("SCAAN_BENCH_ROUNDS", 20);
    let staff = setting("SCAAN_BENCH_STAFF", 200);
    let dir = tempfile::tempdir().unwrap();
    let mut results = vec![
        run(
            "sqlite",
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            rounds,
            staff,
        )
        .await,
    ];
    if let Ok(server) = std::env::var("SCAAN_BENCH_POSTGRES_URL") {
        let url = support::fresh_postgres(&server).await;
        results.push(run("postgres", url.clone(), rounds, staff).await);
        support::drop_postgres(&server, &url).await;
    }
    println!(
        "{}",
        json!({"bench": "console", "rounds": rounds, "staff": staff, "results": results})
    );
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(backend: &str, database_url: String, rounds: usize, staff: usize) -> Value {
    let hub = BenchHub::start(database_url, None).await;
    let officer = hub.account("manila.watch".into(), Role::WatchOfficer, 0).await;
    let people = hub.staff(staff).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub.base).await;
    let http = reqwest::Client::new();

    let (mut alerts, mut reports, mut sos_calls, mut checkins) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        let alert = post(
            &http,
            &hub,
            &officer,
            "/api/v1/alerts",
            support::alert(&format!("Round {round}"), true),
        )
        .await;
        let id = alert["id"].as_str().unwrap().to_owned();
        alerts.push(
            shown(&page, &format!("!!document.querySelector('[data-alert=\"{id}\"]') && !!document.querySelector('path.area[data-id=\"{id}\"]')"))
                .await,
        );

        let person = &people[round % people.len()];
        let report = post(
            &http,
            &hub,
            person,
            "/api/v1/reports",
            json!({"category": "crossfire", "description": format!("Gunfire at the market, round {round}"),
                "position": {"lat": 0.4911, "lon": 29.4731}}),
        )
        .await;
        let id = report["id"].as_str().unwrap().to_owned();
        reports.push(shown(&page, &format!("!!document.querySelector('[data-report=\"{id}\"]')")).await);

        let sos = post(
            &http,
            &hub,
            person,
            "/api/v1/sos",
            json!({"position": {"lat": 0.4911, "lon": 29.4731}, "note": format!("round {round}")}),
        )
        .await;
        let id = sos["id"].as_str().unwrap().to_owned();
        sos_calls.push(shown(&page, &format!("!!document.querySelector('[data-sos=\"{id}\"]')")).await);

        // The board of this round's alert, open on the page: one person answers.
        let alert_id = alert["id"].as_str().unwrap().to_owned();
        page.click(&format!("[data-alert=\"{alert_id}\"]")).await;
        page.wait_for(
            "document.querySelector('[data-count=\"safe\"]')?.textContent === '0'",
            "the board",
        )
        .await;
        post(
            &http,
            &hub,
            person,
            &format!("/api/v1/alerts/{alert_id}/checkins"),
            json!({"status": "safe"}),
        )
        .await;
        checkins.push(
            shown(
                &page,
                "document.querySelector('[data-count=\"safe\"]')?.textContent === '1'",
            )
            .await,
        );
        page.click("#panel-alerts button.back").await;
    }
    assert!(browser.errors().is_empty(), "the page threw: {:?}", browser.errors());
    hub.stop().await;
    json!({"backend": backend, "alert_shown_ms": figures(alerts), "report_shown_ms": figures(reports),
        "sos_shown_ms": figures(sos_calls), "checkin_on_board_ms": figures(checkins)})
}

async fn log_in(page: &Page<'_>, base: &str) {
    page.goto(base).await;
    page.wait_for("!document.getElementById('login').hidden", "the login form")
        .await;
    page.type_into("#login-username", "manila.watch").await;
    page.type_into("#login-password", support::accounts::PASSWORD).await;
    page.click("#login-form button[type=submit]").await;
    page.wait_for(
        "document.getElementById('link').textContent === 'Live'",
        "the stream to be live",
    )
    .await;
}

/// POSTs `body` as `who` and returns the 201's body.
async fn post(http: &reqwest::Client, hub: &BenchHub, who: &Account, path: &str, body: Value) -> Value {
    let answer = http
        .post(format!("{}{path}", hub.base))
        .bearer_auth(&who.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Milliseconds from now until `expression` holds on the page (given up after 30 s).
async fn shown(page: &Page<'_>, expression: &str) -> f64 {
    let start = Instant::now();
    loop {
        let value = page.eval(expression).await;
        if value == Value::Bool(true) {
            return start.elapsed().as_secs_f64() * 1e3;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never shown: {expression}");
    }
}

fn figures(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    json!({"p50": round(at(0.5)), "p99": round(at(0.99)), "max": round(ms[ms.len() - 1])})
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
