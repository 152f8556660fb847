//! Time-to-account: a scripted set of answers over every channel — HTTP, the WebSocket, MQTT,
//! a text, an officer's proxy — at times the hub records, and the figures on the board, in the
//! CSV and in the period's summary are exactly those times' (computed here from the recorded
//! answers, not written down in advance).

use crate::harness::{polygon_alert, Account, Backend, TestHub};
use crate::mqtt::{phone_topic, Phone};
use crate::on_both_backends;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
const BUTEMBO: (f64, f64) = (0.1420, 29.2910);
/// Beni and Butembo, 40 km apart, and nothing of Uganda.
const BENI_AND_BUTEMBO: &[(f64, f64)] = &[(0.08, 29.2), (0.08, 29.52), (0.55, 29.52), (0.55, 29.2)];
const TOKEN: &str = "the-gateway-secret";
/// Between two answers: enough for their times to differ by far more than a millisecond.
const PAUSE: Duration = Duration::from_millis(250);

on_both_backends!(time_to_account_follows_the_recorded_answers_by_station_and_channel);

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

fn person<'a>(board: &'a Value, username: &str) -> &'a Value {
    board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == username)
        .unwrap_or_else(|| panic!("{username} on the board: {board}"))
}

/// The expected figures of `people` people who answered after `answers` seconds: the k-th
/// answer for each share (k = ⌈share × people⌉), as the contract words it.
fn expected(people: usize, answers: &[f64]) -> [Option<f64>; 3] {
    let mut sorted = answers.to_vec();
    sorted.sort_by(f64::total_cmp);
    [50, 90, 100].map(|share| {
        let k = (share * people).div_ceil(100);
        sorted.get(k - 1).copied()
    })
}

fn assert_figures(figures: &Value, people: usize, answers: &[f64], what: &str) {
    assert_eq!(figures["people"], people, "{what}: {figures}");
    assert_eq!(figures["accounted"], answers.len(), "{what}: {figures}");
    let got = ["accounted_50_s", "accounted_90_s", "accounted_100_s"].map(|k| figures[k].as_f64());
    let want = expected(people, answers);
    for (i, (got, want)) in got.iter().zip(want).enumerate() {
        match (got, want) {
            (None, None) => {}
            (Some(got), Some(want)) => assert!(
                (got - want).abs() < 0.0015,
                "{what}, threshold {i}: {got} s, the answers say {want} s ({figures})"
            ),
            _ => panic!("{what}, threshold {i}: {got:?}, the answers say {want:?} ({figures})"),
        }
    }
    let bucketed: u64 = figures["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(bucketed, answers.len() as u64, "{what}: every answer in one bucket");
}

async fn board(hub: &TestHub, officer: &Account, id: &str) -> Value {
    let (status, board) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), officer).await;
    assert_eq!(status, StatusCode::OK, "{board}");
    board
}

async fn time_to_account_follows_the_recorded_answers_by_station_and_channel(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| c.sms_gateway_token = Some(TOKEN.into())).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let chausiku = hub.account("chausiku", Role::Staff, &[], Some(BENI)).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some(BUTEMBO)).await;
    let eliya = hub.account("eliya", Role::Staff, &[], Some(BUTEMBO)).await;
    hub.app
        .store
        .set_phones(chausiku.user.id, &["+243990000003".into()])
        .await
        .unwrap();
    let mut bahati_stream = hub.stream(&bahati).await;
    let mut dunia_phone = Phone::connect(&hub, &dunia, "dunia-phone", true).await;
    dunia_phone
        .subscribe(&format!("scaan/v1/staff/{}/inbox", dunia.user.id))
        .await;

    // Beni and Butembo under one alert.
    let (status, alert) = hub
        .post("/api/v1/alerts", &officer, polygon_alert("Clashes", BENI_AND_BUTEMBO))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let id = alert["id"].as_str().unwrap().to_owned();
    let sent = time(&alert["sent_at"]);
    bahati_stream.expect("alert").await;
    dunia_phone.expect("alert").await;
    let fresh = board(&hub, &officer, &id).await;
    assert_eq!(fresh["time_to_account"]["accounted"], 0);
    assert!(fresh["time_to_account"]["accounted_50_s"].is_null());

    // Amani over HTTP: first needing help, later safe; her first answer accounts for her.
    let (status, first) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &amani,
            json!({"status": "need_help"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["channel"], "http");
    let amani_at = time(&first["recorded_at"]);
    tokio::time::sleep(PAUSE).await;
    // Bahati over the WebSocket.
    bahati_stream
        .send(json!({"type": "checkin", "alert_id": id, "status": "safe"}))
        .await;
    bahati_stream.expect("checkin_ack").await;
    tokio::time::sleep(PAUSE).await;
    // Dunia over MQTT.
    dunia_phone
        .publish(
            &phone_topic(dunia.user.id, "checkin"),
            json!({"alert_id": id, "status": "safe"}).to_string(),
        )
        .await;
    dunia_phone.expect("checkin_ack").await;
    tokio::time::sleep(PAUSE).await;
    // An officer heard from Eliya by radio.
    let (status, proxy) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &officer,
            json!({"status": "safe", "staff_id": eliya.user.id, "via": "radio"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proxy}");
    assert_eq!(proxy["channel"], "proxy");
    tokio::time::sleep(PAUSE).await;
    let (status, again) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &amani,
            json!({"status": "safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");

    // Four of five: the answers' recorded times give each figure. Those that came over the
    // stream and MQTT are read from the board's `updated_at` (each answered once), and must lie
    // between the moments the test sent them and had them acknowledged.
    let partial = board(&hub, &officer, &id).await;
    let at = |username: &str| time(&person(&partial, username)["updated_at"]);
    let after = |t: DateTime<Utc>| (t - sent).num_milliseconds() as f64 / 1000.0;
    let (bahati_at, dunia_at, eliya_at) = (at("bahati"), at("dunia"), at("eliya"));
    // PostgreSQL keeps microseconds of the answer's nanoseconds.
    let same = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_microseconds().is_some_and(|d| d.abs() <= 1);
    assert!(same(eliya_at, time(&proxy["recorded_at"])));
    assert!(amani_at < bahati_at && bahati_at < dunia_at && dunia_at < eliya_at);
    let amani_row = person(&partial, "amani");
    assert!(
        same(time(&amani_row["accounted_at"]), amani_at),
        "the first answer accounts, not the latest"
    );
    assert_eq!(amani_row["status"], "safe");
    for (username, channel, t) in [
        ("amani", "http", amani_at),
        ("bahati", "websocket", bahati_at),
        ("dunia", "mqtt", dunia_at),
        ("eliya", "proxy", eliya_at),
    ] {
        let row = person(&partial, username);
        assert_eq!(row["accounted_channel"], channel, "{row}");
        assert!(
            (row["accounted_after_s"].as_f64().unwrap() - after(t)).abs() < 0.0015,
            "{row}"
        );
    }
    assert!(person(&partial, "chausiku")["accounted_at"].is_null());
    let tta = &partial["time_to_account"];
    let answers = [after(amani_at), after(bahati_at), after(dunia_at), after(eliya_at)];
    assert_figures(tta, 5, &answers, "everyone, four answers");
    assert!(tta["accounted_90_s"].is_null(), "90 % of five is all five: {tta}");

    // Chausiku answers last, by text.
    let texted = reqwest::Client::new()
        .post(format!("{}/api/v1/sms/inbound?token={TOKEN}", hub.base))
        .header("X-Kannel-From", "+243990000003")
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(texted.status(), StatusCode::OK);
    let reply = texted.text().await.unwrap();
    assert!(reply.starts_with("SCAAN: ") && reply.contains("SAFE"), "{reply}");
    let full = board(&hub, &officer, &id).await;
    let chausiku_at = time(&person(&full, "chausiku")["updated_at"]);
    let all = [answers.as_slice(), &[after(chausiku_at)]].concat();
    let tta = &full["time_to_account"];
    assert_figures(tta, 5, &all, "everyone");
    assert!(tta["accounted_100_s"].as_f64().is_some());
    let (p50, max) = (
        tta["answer_p50_s"].as_f64().unwrap(),
        tta["answer_max_s"].as_f64().unwrap(),
    );
    assert!(
        (p50 - after(dunia_at)).abs() < 0.0015 && (max - after(chausiku_at)).abs() < 0.0015,
        "{tta}"
    );

    // By duty station: Beni's three (Amani, Bahati, Chausiku), Butembo's two; both in CD.
    let stations = tta["by_duty_station"].as_array().unwrap();
    assert_eq!(stations.len(), 2, "{stations:?}");
    assert_eq!(
        (
            stations[0]["country"].as_str(),
            stations[0]["duty_station"]["lat"].as_f64()
        ),
        (Some("CD"), Some(BENI.0))
    );
    assert_figures(
        &stations[0],
        3,
        &[after(amani_at), after(bahati_at), after(chausiku_at)],
        "Beni",
    );
    assert_eq!(stations[1]["duty_station"]["lat"].as_f64(), Some(BUTEMBO.0));
    assert_figures(&stations[1], 2, &[after(dunia_at), after(eliya_at)], "Butembo");
    // By channel: one answer each, each group's figures that answer's time.
    let channels = tta["by_channel"].as_array().unwrap();
    for (channel, t) in [
        ("http", amani_at),
        ("websocket", bahati_at),
        ("mqtt", dunia_at),
        ("proxy", eliya_at),
        ("sms", chausiku_at),
    ] {
        let group = channels
            .iter()
            .find(|g| g["channel"] == channel)
            .unwrap_or_else(|| panic!("{channel} in {channels:?}"));
        assert_figures(group, 1, &[after(t)], channel);
    }
    assert_eq!(channels.len(), 5);

    // The CSV carries each person's first answer.
    let csv = reqwest::Client::new()
        .get(format!("{}/api/v1/alerts/{id}/headcount.csv", hub.base))
        .bearer_auth(&officer.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let (user, after_s, channel) = (
        column("username"),
        column("accounted_after_s"),
        column("accounted_channel"),
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let amani_csv = rows.iter().find(|r| r[user] == "amani").unwrap();
    assert_eq!(amani_csv[after_s], format!("{:.3}", after(amani_at)));
    assert_eq!(amani_csv[channel], "http");
    assert_eq!(rows.iter().find(|r| r[user] == "chausiku").unwrap()[channel], "sms");

    // The period's summary: this headcount, pooled the same way.
    let (status, summary) = hub.get("/api/v1/headcounts/summary", &officer).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(summary["status"], "actual");
    assert_figures(&summary, 5, &all, "the summary");
    assert_eq!(summary["headcounts"][0]["alert_id"], id.as_str());
    assert_figures(&summary["headcounts"][0], 5, &all, "the summary's headcount");
    // Scoped like every officer's list: Uganda's officer sees none of it.
    let uganda = hub
        .account("uganda.officer", Role::SecurityOfficer, &["UG"], None)
        .await;
    let (_, theirs) = hub.get("/api/v1/headcounts/summary", &uganda).await;
    assert_eq!(
        (theirs["people"].as_u64(), theirs["headcounts"].as_array().map(Vec::len)),
        (Some(0), Some(0)),
        "{theirs}"
    );
    // A period before the alert holds nothing; one that runs backwards is refused.
    let before = (sent - chrono::Duration::hours(2)).to_rfc3339().replace('+', "%2B");
    let just_before = (sent - chrono::Duration::seconds(1)).to_rfc3339().replace('+', "%2B");
    let (_, empty) = hub
        .get(
            &format!("/api/v1/headcounts/summary?from={before}&to={just_before}"),
            &officer,
        )
        .await;
    assert_eq!(empty["headcounts"], json!([]), "{empty}");
    let (status, refused) = hub
        .get(
            &format!("/api/v1/headcounts/summary?from={just_before}&to={before}"),
            &officer,
        )
        .await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from")),
        "{refused}"
    );
    let (status, _) = hub.get("/api/v1/headcounts/summary", &amani).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "staff do not report");
    dunia_phone.disconnect().await;
    hub.stop().await;
}
