//! One alert to 10,000 staff through the MQTT outbox: how long the sender waits (the answer
//! comes once the alert, with its recipients as one list, and its inbox message are stored;
//! the message's recipients are the alert's, and what reaches each one is kept per alert and
//! person once it does; the bench checks that every person's receipt is there at the first read).
//! No phone is connected: what the phones get, and when, is the `phones` benchmark's.
//!
//! Then where the time goes, each step timed alone on the same store with the same people,
//! after a history of earlier alerts to them (`history_alerts`, 100 unless
//! `SCAAN_BENCH_HISTORY` says; each stored and expanded, the first's and the last's expansion
//! timed as `history_first_expand_ms` and `history_last_expand_ms`: what an alert's rows cost
//! must not grow with the alerts before it):
//! - `store_alert_ms` and `store_inbox_ms`: what the sender waits for, the alert with its
//!   recipient list, and the envelope;
//! - `expand_alert_ms`: the recipients' rows written from the list after the answer (what the
//!   sender used to wait for);
//! - `tally_silent_ms`: the headcount's counts read while nobody has answered or been reached
//!   (what every push of the counts to the officers reads, at most every 200 ms);
//! - `staff_lists_ms`: 100 staff members' newest alerts listed, one query each (the app's list);
//! - `owed_reads_ms`: what every person is owed, read 100 people per query as the MQTT endpoint
//!   reads it when phones come back at once, beside `owed_reads_one_each_ms` (one person per
//!   query, as for a phone connecting alone);
//! - `deliveries_ms`: every phone's PUBACK recorded, in batches of 2,500;
//! - `stream_receipts_ms`: the alert's write to every person's stream recorded, in batches of the
//!   same size;
//! - `tally_reached_ms`: the headcount's counts read once every phone and every stream has the
//!   alert, and still nobody has answered;
//! - beside them the same envelope kept as an outbox row per person, as every envelope was
//!   before issue 18 kept an alert's revisions apart: `outbox_rows_store_inbox_ms`,
//!   `outbox_rows_expand_ms` (the rows written after the answer) and
//!   `outbox_rows_deliveries_ms`.
//!
//! Six alerts are sent, each once the one before has settled: `first_alert_answered_ms` (right
//! after the 10,000 accounts were written), `alert_answered_ms` (the median of the other five)
//! and every run's figure.
//!
//! `cargo bench -p scaan-tests --bench inbox` — SQLite; with `SCAAN_BENCH_POSTGRES_URL` set,
//! PostgreSQL too. `SCAAN_BENCH_STAFF` changes the number of staff. Prints one JSON line last.

mod support;

use scaan_schemas::Role;
use scaan_server::storage::{AlertScope, AlertState, InboxStep, OutboxEnvelope, Page};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Alerts sent one after another: the first, then the median of the others is reported.
const ALERTS: usize = 6;
/// PUBACKs recorded per transaction: about what the receipts' writer gathers in its 100 ms
/// while an alert to 10,000 goes out (in 300–500 ms on two cores).
const RECEIPTS_PER_BATCH: usize = 2_500;
/// People whose owed messages one query reads, as the MQTT endpoint asks when phones come back
/// at once (`ASKED_AT_ONCE` in `server/src/mqtt/phones.rs`).
const OWED_PER_QUERY: usize = 100;
/// Earlier alerts to the same people before the steps are timed (`SCAAN_BENCH_HISTORY`
/// changes it; see `BenchHub::history`).
const HISTORY: usize = 100;
/// Staff members whose newest alerts are listed, one query each.
const STAFF_LISTS: usize = 100;

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
        results.push(run("postgres", url.clone(), staff).await);
        support::drop_postgres(&server, &url).await;
    } else {
        eprintln!("PostgreSQL skipped: set SCAAN_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test");
    }
    println!("{}", json!({"bench": "inbox", "results": results}));
}

async fn run(backend: &str, database_url: String, staff: usize) -> Value {
    let bench = support::BenchHub::start(database_url, None).await;
    let officer = bench.account("watch".into(), Role::WatchOfficer, 0).await;
    let people: Vec<Uuid> = bench.staff(staff).await.into_iter().map(|a| a.id).collect();
    let (base, token) = (&bench.base, &officer.token);

    let http = reqwest::Client::new();
    // The first alert comes a moment after 10,000 accounts were written: the database may
    // still be checkpointing them. Each later one comes once the one before has settled.
    let mut answered = Vec::new();
    for i in 0..ALERTS {
        if i > 0 {
            bench.hub.store.expand_pending().await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
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
        answered.push(started.elapsed());
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
        assert_eq!(queued, staff, "every person's receipt is there at the first read");
    }
    let steps = steps(&bench, &people).await;
    bench.stop().await;
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let first = ms(answered[0]);
    let mut later: Vec<f64> = answered[1..].iter().map(|d| ms(*d)).collect();
    later.sort_by(f64::total_cmp);
    let mut result = json!({
        "backend": backend, "staff": staff, "history_alerts": support::history_alerts(HISTORY),
        "first_alert_answered_ms": first,
        "alert_answered_ms": later[later.len() / 2],
        "alert_answered_runs": answered.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
    });
    for (name, took) in steps {
        result[name] = json!(ms(took));
    }
    eprintln!("{result}");
    result
}

/// Each storage step of an alert, timed alone: another alert to the same people, stored and
/// expanded by hand once the hub has expanded the first.
async fn steps(bench: &support::BenchHub, people: &[Uuid]) -> Vec<(&'static str, Duration)> {
    let store = &bench.hub.store;
    store.expand_pending().await.unwrap();
    let history_expands = bench.history(people, HISTORY).await;
    let now = chrono::Utc::now();
    let alert = support::stored_alert("Steps", now, people.len());
    let envelope = |revision: Option<u32>| OutboxEnvelope {
        id: Uuid::new_v4(),
        alert_id: Some(alert.id),
        revision,
        payload: serde_json::to_string(&alert).unwrap(),
        recipients: people.to_vec(),
    };
    let (revision, rows) = (envelope(Some(1)), envelope(None));
    let (revision_id, rows_id) = (revision.id, rows.id);
    let timed = Instant::now();
    store.insert_alert(&alert, people).await.unwrap();
    let store_alert = timed.elapsed();
    let timed = Instant::now();
    store.queue_inbox(&[revision], now).await.unwrap();
    let store_inbox = timed.elapsed();
    let timed = Instant::now();
    store.expand_audience(alert.id).await.unwrap();
    let expand_alert = timed.elapsed();
    assert_eq!(
        store.expand_inbox().await.unwrap(),
        0,
        "an alert's revision has no outbox rows"
    );
    assert_eq!(store.alert_recipients(alert.id).await.unwrap().len(), people.len());
    let timed = Instant::now();
    let tally = store.headcount_tally(alert.id).await.unwrap();
    let tally_silent = timed.elapsed();
    let unreached: u32 = tally.iter().map(|(_, _, unreached)| unreached).sum();
    assert_eq!(unreached as usize, people.len(), "nobody reached yet");
    // A staff member's newest alerts (the app's list), for people in turn.
    let timed = Instant::now();
    for person in people.iter().step_by((people.len() / STAFF_LISTS).max(1)) {
        let listed = store
            .alerts(&AlertScope::Recipient(*person), AlertState::Any, Page::first(20))
            .await
            .unwrap();
        assert_eq!(listed[0].id, alert.id, "the newest is theirs");
    }
    let staff_lists = timed.elapsed();
    // What every phone coming back at once is owed (this alert and the earlier ones), read as
    // the endpoint reads it, and one person per query, as for a phone connecting alone.
    let since = now - chrono::Duration::hours(1);
    let timed = Instant::now();
    for batch in people.chunks(OWED_PER_QUERY) {
        let owed = store.owed_inbox(batch, since, 1_000).await.unwrap();
        assert_eq!(owed.len(), batch.len(), "everyone is owed the alerts");
    }
    let owed_reads = timed.elapsed();
    let timed = Instant::now();
    for person in people {
        let owed = store
            .owed_inbox(std::slice::from_ref(person), since, 1_000)
            .await
            .unwrap();
        assert_eq!(owed.len(), 1);
    }
    let owed_reads_one_each = timed.elapsed();
    // Every phone's PUBACK, recorded as the receipts' writer does (in batches of its size).
    let delivered = |envelope: Uuid| async move {
        let timed = Instant::now();
        for batch in people.chunks(RECEIPTS_PER_BATCH) {
            let reached = [(envelope, batch.to_vec())];
            store
                .mark_inbox(InboxStep::Delivered, &reached, chrono::Utc::now())
                .await
                .unwrap();
        }
        timed.elapsed()
    };
    let revision_delivered = delivered(revision_id).await;
    // Every write of the alert to a stream, recorded as the stream receipts' writer does.
    let timed = Instant::now();
    for batch in people.chunks(RECEIPTS_PER_BATCH) {
        let written = [(alert.id, batch.to_vec())];
        store
            .record_stream_receipts(&written, chrono::Utc::now())
            .await
            .unwrap();
    }
    let stream_receipts = timed.elapsed();
    assert_eq!(store.stream_receipts(alert.id).await.unwrap().len(), people.len());
    let timed = Instant::now();
    let tally = store.headcount_tally(alert.id).await.unwrap();
    let tally_reached = timed.elapsed();
    let unreached: u32 = tally.iter().map(|(_, _, unreached)| unreached).sum();
    assert_eq!(unreached, 0, "everyone reached");
    // The same envelope as outbox rows, as every envelope was until an alert's revisions were
    // kept apart: its list stored, a row per person written from it, then marked.
    let timed = Instant::now();
    store.queue_inbox(&[rows], now).await.unwrap();
    let rows_store = timed.elapsed();
    let timed = Instant::now();
    assert_eq!(store.expand_inbox().await.unwrap(), 1);
    let rows_expand = timed.elapsed();
    let rows_delivered = delivered(rows_id).await;
    let owed = store
        .owed_inbox(&people[..1], now - chrono::Duration::hours(1), 100)
        .await
        .unwrap();
    assert!(
        owed.values()
            .flatten()
            .all(|o| o.envelope_id != revision_id && o.envelope_id != rows_id),
        "both delivered"
    );
    vec![
        ("store_alert_ms", store_alert),
        ("store_inbox_ms", store_inbox),
        ("expand_alert_ms", expand_alert),
        (
            "history_first_expand_ms",
            history_expands.first().copied().unwrap_or_default(),
        ),
        (
            "history_last_expand_ms",
            history_expands.last().copied().unwrap_or_default(),
        ),
        ("tally_silent_ms", tally_silent),
        ("staff_lists_ms", staff_lists),
        ("owed_reads_ms", owed_reads),
        ("owed_reads_one_each_ms", owed_reads_one_each),
        ("deliveries_ms", revision_delivered),
        ("stream_receipts_ms", stream_receipts),
        ("tally_reached_ms", tally_reached),
        ("outbox_rows_store_inbox_ms", rows_store),
        ("outbox_rows_expand_ms", rows_expand),
        ("outbox_rows_deliveries_ms", rows_delivered),
    ]
}
