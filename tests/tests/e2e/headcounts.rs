//! Headcounts: check-ins by every channel move the exact counts, live, and bad ones change nothing.

use crate::harness::{circle_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BENI: (f64, f64) = (0.4911, 29.4731);
const GOMA: (f64, f64) = (-1.6792, 29.2228);

on_both_backends!(
    checkins_move_the_counts_through_every_channel,
    bad_checkins_change_nothing,
    headcount_exports_as_csv,
    late_arrivals_join_and_the_silent_get_a_second_wave_once,
    the_board_puts_trouble_first_keeps_what_people_said_and_tells_unreached_from_silent,
    widening_the_area_moves_the_counts_at_once
);

async fn headcount(hub: &TestHub, officer: &Account, alert: &Value) -> Value {
    let (status, board) = hub
        .get(
            &format!("/api/v1/alerts/{}/headcount", alert["id"].as_str().unwrap()),
            officer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{board}");
    board
}

fn counts(board: &Value) -> [u64; 5] {
    ["total", "safe", "need_help", "no_response", "overdue"].map(|k| board[k].as_u64().unwrap())
}

async fn checkins_move_the_counts_through_every_channel(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let chausiku = hub.account("chausiku", Role::Staff, &[], Some(BENI)).await;
    hub.account("dunia", Role::Staff, &[], Some(GOMA)).await;
    let mut watch = hub.stream(&officer).await;
    let mut bahati_stream = hub.stream(&bahati).await;

    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    watch.expect("alert").await;
    bahati_stream.expect("alert").await;
    assert_eq!(counts(&headcount(&hub, &officer, &alert).await), [3, 0, 0, 3, 0]);

    // By HTTP, by the stream, and by an officer on someone's behalf.
    let (status, checkin) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &amani,
            json!({"status": "safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{checkin}");
    assert_eq!(checkin["via"], "app");
    bahati_stream
        .send(
            json!({"type": "checkin", "alert_id": id, "status": "need_help", "note": "ankle broken", "ref": "c1",
            "position": {"lat": 0.49, "lon": 29.47}}),
        )
        .await;
    let ack = bahati_stream.expect("checkin_ack").await;
    assert_eq!(
        (ack["ref"].as_str(), ack["status"].as_str()),
        (Some("c1"), Some("need_help"))
    );
    let (status, proxy) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &officer,
            json!({"status": "safe", "staff_id": chausiku.user.id, "via": "radio"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{proxy}");
    assert_eq!(proxy["recorded_by"], json!(officer.user.id));

    let board = headcount(&hub, &officer, &alert).await;
    assert_eq!(counts(&board), [3, 2, 1, 0, 0]);
    assert_eq!(
        board["staff"][0]["username"], "bahati",
        "need_help comes before safe: {board}"
    );
    assert_eq!(board["staff"][0]["position"], json!({"lat": 0.49, "lon": 29.47}));
    let chausiku_row = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["username"] == "chausiku")
        .unwrap();
    assert_eq!(chausiku_row["via"], "radio");

    // The latest answer counts.
    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &amani,
        json!({"status": "need_help"}),
    )
    .await;
    assert_eq!(counts(&headcount(&hub, &officer, &alert).await), [3, 1, 2, 0, 0]);

    // The officer's stream ends on the true counts, within a second.
    let mut last = None;
    while let Some(envelope) = watch.next_within(std::time::Duration::from_millis(1200)).await {
        assert_eq!(envelope["type"], "headcount", "{envelope}");
        last = Some(envelope);
    }
    let last = last.expect("headcount envelopes reached the officer");
    assert_eq!(last["alert_id"], alert["id"]);
    assert_eq!(
        [&last["total"], &last["safe"], &last["need_help"], &last["no_response"]],
        [3, 1, 2, 0]
    );

    // Restarted, the headcount is as it was.
    let hub = hub.restart().await;
    assert_eq!(counts(&headcount(&hub, &officer, &alert).await), [3, 1, 2, 0, 0]);
    hub.stop().await;
}

async fn bad_checkins_change_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some(GOMA)).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    let mut no_headcount = circle_alert("FYI", BENI.0, BENI.1, 5000.0);
    no_headcount["checkin_required"] = json!(false);
    no_headcount.as_object_mut().unwrap().remove("checkin_deadline_s");
    let (_, plain) = hub.post("/api/v1/alerts", &officer, no_headcount).await;
    let (_, cancelled) = hub
        .post("/api/v1/alerts", &officer, circle_alert("Gone", BENI.0, BENI.1, 5000.0))
        .await;
    let cancelled_id = cancelled["id"].as_str().unwrap();
    hub.post(
        &format!("/api/v1/alerts/{cancelled_id}/cancel"),
        &officer,
        json!({"reason": "false alarm"}),
    )
    .await;

    let path = format!("/api/v1/alerts/{id}/checkins");
    let cases = [
        (
            &dunia,
            path.clone(),
            json!({"status": "safe"}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &amani,
            format!("/api/v1/alerts/{}/checkins", uuid::Uuid::new_v4()),
            json!({"status": "safe"}),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            &amani,
            format!("/api/v1/alerts/{}/checkins", plain["id"].as_str().unwrap()),
            json!({"status": "safe"}),
            StatusCode::CONFLICT,
            "no_headcount",
        ),
        (
            &amani,
            format!("/api/v1/alerts/{cancelled_id}/checkins"),
            json!({"status": "safe"}),
            StatusCode::CONFLICT,
            "alert_cancelled",
        ),
        (
            &amani,
            path.clone(),
            json!({"status": "fine"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            &amani,
            path.clone(),
            json!({"status": "safe", "staff_id": dunia.user.id, "via": "radio"}),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            &officer,
            path.clone(),
            json!({"status": "safe", "staff_id": amani.user.id}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            &officer,
            path.clone(),
            json!({"status": "safe", "staff_id": dunia.user.id, "via": "phone"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            &amani,
            path.clone(),
            json!({"status": "safe", "position": {"lat": 100, "lon": 0}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (who, path, body, status, code) in cases {
        let (got, answer) = hub.post(&path, who, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    let mut stream = hub.stream(&dunia).await;
    stream
        .send(json!({"type": "checkin", "alert_id": id, "status": "safe", "ref": "x"}))
        .await;
    let error = stream.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("forbidden"), Some("x"))
    );
    assert_eq!(counts(&headcount(&hub, &officer, &alert).await), [1, 0, 0, 1, 0]);
    let (status, _) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &amani).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "staff do not see the board");
    hub.stop().await;
}

async fn headcount_exports_as_csv(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &amani,
        json!({"status": "safe"}),
    )
    .await;
    let response = hub
        .http
        .get(format!("{}/api/v1/alerts/{id}/headcount.csv", hub.base))
        .bearer_auth(&officer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "staff_id,username,name,status,overdue,updated_at,via,lat,lon,note,reached,sos_status,accounted_at,accounted_after_s,accounted_channel"
    );
    assert_eq!(lines.len(), 3);
    assert!(
        lines[1].contains(",bahati,") && lines[1].contains(",no_response,"),
        "silent first: {csv}"
    );
    assert!(
        lines[2].contains(",amani,") && lines[2].contains(",safe,false,") && lines[2].contains(",app,"),
        "{csv}"
    );
    hub.stop().await;
}

async fn late_arrivals_join_and_the_silent_get_a_second_wave_once(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let esther = hub.account("esther", Role::Staff, &[], Some(GOMA)).await;
    let (mut amani_stream, mut bahati_stream, mut esther_stream) = (
        hub.stream(&amani).await,
        hub.stream(&bahati).await,
        hub.stream(&esther).await,
    );
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    amani_stream.expect("alert").await;
    bahati_stream.expect("alert").await;
    esther_stream.expect_silence().await;

    // Esther drives into Beni: she joins the headcount and gets the alert.
    hub.post("/api/v1/me/location", &esther, json!({"lat": 0.495, "lon": 29.47}))
        .await;
    assert_eq!(esther_stream.expect("alert").await["alert"]["id"], alert["id"]);
    assert_eq!(counts(&headcount(&hub, &officer, &alert).await), [3, 0, 0, 3, 0]);
    // Moving about inside does not send it twice.
    hub.post("/api/v1/me/location", &esther, json!({"lat": 0.496, "lon": 29.471}))
        .await;
    esther_stream.expect_silence().await;

    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &amani,
        json!({"status": "safe"}),
    )
    .await;
    let stored = hub
        .app
        .store
        .alert(alert["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let after_deadline = chrono::Utc::now() + chrono::Duration::seconds(1800 + 1);
    hub.app.headcounts.escalate_due(after_deadline).await.unwrap();
    for stream in [&mut bahati_stream, &mut esther_stream] {
        let wave = stream.expect("alert").await;
        assert_eq!((wave["wave"].as_u64(), &wave["alert"]["id"]), (Some(2), &alert["id"]));
    }
    amani_stream.expect_silence().await;
    // Once only, even across a restart.
    hub.app.headcounts.escalate_due(after_deadline).await.unwrap();
    bahati_stream.expect_silence().await;
    let hub = hub.restart().await;
    let mut bahati_stream = hub.stream(&bahati).await;
    hub.app.headcounts.escalate_due(after_deadline).await.unwrap();
    bahati_stream.expect_silence().await;

    // Past the grace period the silent are overdue, and listed first.
    let overdue_at = after_deadline + chrono::Duration::seconds(900);
    let board = hub.app.headcounts.headcount_at(&stored, overdue_at).await.unwrap();
    assert_eq!(
        (board.counts.overdue, board.counts.no_response, board.counts.safe),
        (2, 2, 1)
    );
    assert!(board.staff[0].overdue && board.staff[1].overdue && !board.staff[2].overdue);
    assert_eq!(
        hub.app
            .headcounts
            .headcount_at(&stored, after_deadline)
            .await
            .unwrap()
            .counts
            .overdue,
        0
    );
    hub.stop().await;
}

/// Polls the board until `ready` holds (receipts are recorded in batches, off the stream).
async fn board_when(hub: &TestHub, officer: &Account, alert: &Value, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let board = headcount(hub, officer, alert).await;
        if ready(&board) {
            return board;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the board never got there: {board}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn the_board_puts_trouble_first_keeps_what_people_said_and_tells_unreached_from_silent(backend: Backend) {
    const NOTE: &str = "Gunfire very close to our compound, cannot leave";
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let chausiku = hub.account("chausiku", Role::Staff, &[], Some(BENI)).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some(BENI)).await;
    let esther = hub.account("esther", Role::Staff, &[], Some(BENI)).await;
    // Amani and Chausiku have the app open; Bahati, Dunia and Esther are not connected.
    let (mut amani_stream, mut chausiku_stream) = (hub.stream(&amani).await, hub.stream(&chausiku).await);
    let mut watch_stream = hub.stream(&watch).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    amani_stream.expect("alert").await;
    chausiku_stream.expect("alert").await;

    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &esther,
        json!({"status": "safe"}),
    )
    .await;
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &dunia,
            json!({"status": "need_help", "note": NOTE}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    chausiku_stream
        .send(json!({"type": "sos", "note": "taken at a roadblock", "position": {"lat": BENI.0, "lon": BENI.1}}))
        .await;
    let sos = chausiku_stream.expect("sos").await;

    // The two streams' writes of the alert are receipts: only Bahati is still not reached.
    let board = board_when(&hub, &watch, &alert, |b| b["not_reached"] == 1).await;
    let order: Vec<&str> = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["username"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        ["chausiku", "dunia", "bahati", "amani", "esther"],
        "SOS, need help, not reached, no answer, safe: {board}"
    );
    let row = |name: &str| {
        board["staff"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["username"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            row("chausiku")["status"].as_str(),
            row("chausiku")["sos_status"].as_str()
        ),
        (Some("no_response"), Some("open")),
        "an SOS shows in the row, the status keeps the contract's values"
    );
    assert_eq!(row("chausiku")["sos_id"], sos["sos"]["id"]);
    assert_eq!(row("dunia")["note"], NOTE);
    assert_eq!(
        [row("amani")["reached"].as_bool(), row("bahati")["reached"].as_bool()],
        [Some(true), Some(false)]
    );
    assert_eq!(counts(&board), [5, 1, 1, 3, 0]);

    // The officers' counts say it too.
    let mut last = None;
    while let Some(envelope) = watch_stream.next_within(std::time::Duration::from_millis(1200)).await {
        if envelope["type"] == "headcount" {
            last = Some(envelope);
        }
    }
    assert_eq!(last.expect("headcount envelopes")["not_reached"], 1);

    // Deliveries per channel: the WebSocket's for those whose stream had it.
    let (_, deliveries) = hub.get(&format!("/api/v1/alerts/{id}/deliveries"), &watch).await;
    let websocket: Vec<(&str, &str)> = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == "websocket")
        .map(|d| (d["username"].as_str().unwrap(), d["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        websocket,
        [("amani", "delivered"), ("chausiku", "delivered")],
        "{deliveries}"
    );

    // The CSV keeps what Dunia said, who was reached and the open SOS.
    let csv = hub
        .http
        .get(format!("{}/api/v1/alerts/{id}/headcount.csv", hub.base))
        .bearer_auth(&watch.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[1].contains(",chausiku,") && lines[1].contains(",true,open,"),
        "{csv}"
    );
    assert!(lines[2].contains(",dunia,") && lines[2].contains(NOTE), "{csv}");
    assert!(
        lines[3].contains(",bahati,") && lines[3].ends_with(",false,,,,"),
        "silent and not reached: {csv}"
    );
    hub.stop().await;
}

async fn widening_the_area_moves_the_counts_at_once(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("dunia", Role::Staff, &[], Some(GOMA)).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    let mut watch_stream = hub.stream(&watch).await;

    // Goma is some 240 km from Beni.
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/update"),
            &watch,
            json!({"area": {"description": "North Kivu", "geometry": {"type": "Point", "coordinates": [BENI.1, BENI.0]}, "radius_m": 300000}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(watch_stream.expect("alert_update").await["alert"]["recipients"], 2);
    let counts = watch_stream.expect("headcount").await;
    assert_eq!(
        (counts["total"].as_u64(), counts["no_response"].as_u64()),
        (Some(2), Some(2)),
        "{counts}"
    );
    hub.stop().await;
}
