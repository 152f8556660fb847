//! Location privacy by default: officers see a person's area, not their position, outside an
//! incident; inside an alert that reaches them they see it, the view is audited and the person
//! reads it in their access list; the retention sweep deletes what is past its limit; an
//! administrator exports a person whole and erases them, leaving nothing of them in any table
//! but the counts, under a pseudonym; and the console's map marks an area apart from a position.
//! An SOS call and a missed journey check-in's alarm show the position precisely to officers
//! while open, on every channel (the stream's first envelope per officer, each list read, each
//! acknowledgement is an audited view), and at area level once resolved; a journey shows it at
//! area level.

use crate::harness::{circle_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
/// The centre of Beni's cell of the default 0.1° grid.
const BENI_AREA: (f64, f64) = (0.45, 29.45);

on_both_backends!(
    officers_see_the_area_outside_an_incident_and_the_position_inside_an_alert_audited,
    the_retention_sweep_deletes_what_is_past_its_limit,
    an_erased_person_leaves_nothing_but_the_counts_under_a_pseudonym,
    the_console_marks_an_area_apart_from_a_position,
    an_open_sos_is_precise_on_every_channel_audited_and_its_area_once_resolved,
    a_missed_checkin_alarm_is_a_ground_audited_and_a_journey_shows_the_area,
);

/// The map's entry for one person.
async fn on_the_map(hub: &TestHub, officer: &Account, person: &Account) -> Value {
    let (status, placed) = hub.get("/api/v1/staff/positions", officer).await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    placed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["staff_id"] == json!(person.user.id))
        .cloned()
        .unwrap_or_else(|| panic!("{} is not on the map: {placed}", person.user.username))
}

async fn officers_see_the_area_outside_an_incident_and_the_position_inside_an_alert_audited(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let bahati = hub.account("bahati", Role::Staff, &[], None).await;
    let at = json!({"lat": BENI.0, "lon": BENI.1, "accuracy_m": 12.0});
    for person in [&amani, &bahati] {
        assert_eq!(
            hub.post("/api/v1/me/location", person, at.clone()).await.0,
            StatusCode::NO_CONTENT
        );
    }

    // No incident: the area only, for every officer, and nothing to audit.
    for officer in [&watch, &kivu] {
        let entry = on_the_map(&hub, officer, &amani).await;
        assert_eq!(
            (
                &entry["precision"],
                &entry["position"]["lat"],
                &entry["position"]["lon"]
            ),
            (&json!("area"), &json!(BENI_AREA.0), &json!(BENI_AREA.1)),
            "{entry}"
        );
        assert!(entry["position"]["accuracy_m"].as_f64().unwrap() > 5000.0, "{entry}");
        assert!(entry.get("ground").is_none(), "{entry}");
    }
    assert_eq!(
        hub.get("/api/v1/me/location-access", &amani).await,
        (StatusCode::OK, json!([]))
    );

    // An alert reaches both; amani answers with where she is.
    let (status, alert) = hub
        .post(
            "/api/v1/alerts",
            &kivu,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(
        (status, &alert["recipients"]),
        (StatusCode::CREATED, &json!(2)),
        "{alert}"
    );
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{alert_id}/checkins"),
            &amani,
            json!({"status": "safe", "position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let entry = on_the_map(&hub, &watch, &amani).await;
    assert_eq!(
        (
            &entry["precision"],
            &entry["position"]["lat"],
            &entry["position"]["lon"]
        ),
        (&json!("precise"), &json!(BENI.0), &json!(BENI.1)),
        "{entry}"
    );
    assert_eq!(entry["ground"], json!({"kind": "alert", "id": alert_id}));
    let (_, board) = hub.get(&format!("/api/v1/alerts/{alert_id}/headcount"), &kivu).await;
    let answered = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["username"] == "amani")
        .unwrap();
    assert_eq!(answered["position"], json!({"lat": BENI.0, "lon": BENI.1}), "{board}");

    // She reads who looked: the watch officer on the map, the Kivu officer on the board.
    let (status, accesses) = hub.get("/api/v1/me/location-access", &amani).await;
    assert_eq!(status, StatusCode::OK);
    let seen: Vec<(&str, &str, &str)> = accesses
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["ground"], json!({"kind": "alert", "id": alert_id}), "{a}");
            assert!(a["at"].as_str().is_some(), "{a}");
            (
                a["viewer"].as_str().unwrap(),
                a["view"].as_str().unwrap(),
                a["ground"]["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("kivu.officer", "headcount", "alert"),
            ("manila.watch", "staff_positions", "alert")
        ]
    );
    // The views are in the officers' audit trail too, and bahati's list holds only hers.
    let (_, trail) = hub
        .get(&format!("/api/v1/audit?subject={}", amani.user.id), &watch)
        .await;
    assert_eq!(
        trail
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "location.viewed")
            .count(),
        2,
        "{trail}"
    );
    let (_, theirs) = hub.get("/api/v1/me/location-access", &bahati).await;
    assert_eq!(
        theirs.as_array().unwrap().len(),
        1,
        "only the map showed bahati: {theirs}"
    );

    // Once the alert is cancelled, officers are back to the area, on the map and the board.
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{alert_id}/cancel"),
            &kivu,
            json!({"reason": "calm again"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let entry = on_the_map(&hub, &watch, &amani).await;
    assert_eq!(
        (&entry["precision"], &entry["position"]["lat"]),
        (&json!("area"), &json!(BENI_AREA.0)),
        "{entry}"
    );
    let (_, board) = hub.get(&format!("/api/v1/alerts/{alert_id}/headcount"), &kivu).await;
    let answered = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["username"] == "amani")
        .unwrap();
    assert_eq!(
        (&answered["position"]["lat"], &answered["position"]["lon"]),
        (&json!(BENI_AREA.0), &json!(BENI_AREA.1)),
        "{board}"
    );
    assert_eq!(
        hub.get("/api/v1/me/location-access", &amani)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Staff have no view of where others are.
    assert_eq!(
        hub.get("/api/v1/staff/positions", &bahati).await.0,
        StatusCode::FORBIDDEN
    );
    hub.stop().await;
}

/// Who saw `person`'s precise position, in which view, on which ground's kind: sorted.
async fn accesses(hub: &TestHub, person: &Account) -> Vec<(String, String, String)> {
    let (status, list) = hub.get("/api/v1/me/location-access", person).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut seen: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["viewer"].as_str().unwrap().to_owned(),
                a["view"].as_str().unwrap().to_owned(),
                a["ground"]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    seen
}

fn access(viewer: &str, view: &str, kind: &str) -> (String, String, String) {
    (viewer.to_owned(), view.to_owned(), kind.to_owned())
}

/// The next envelope of `kind` on the stream within 10 s, passing over others.
async fn next_of(stream: &mut crate::harness::Stream, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match stream.next_within(left).await {
            Some(envelope) if envelope["type"] == kind => return envelope,
            Some(_) => continue,
            None => panic!("no {kind} within 10 s"),
        }
    }
}

fn lat_lon(position: &Value) -> (Value, Value) {
    (position["lat"].clone(), position["lon"].clone())
}

async fn an_open_sos_is_precise_on_every_channel_audited_and_its_area_once_resolved(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let mut console = hub.stream(&kivu).await;
    let mut phone = hub.stream(&amani).await;
    let precise = (json!(BENI.0), json!(BENI.1));
    let area = (json!(BENI_AREA.0), json!(BENI_AREA.1));

    // Her SOS, then a later position: two envelopes on the officer's stream, both precise, one
    // view between them.
    let (status, sos) = hub
        .post(
            "/api/v1/sos",
            &amani,
            json!({"position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sos}");
    let sos_id = sos["id"].as_str().unwrap().to_owned();
    let raised = next_of(&mut console, "sos").await;
    assert_eq!(lat_lon(&raised["sos"]["position"]), precise, "{raised}");
    hub.post(
        "/api/v1/me/location",
        &amani,
        json!({"lat": BENI.0, "lon": BENI.1, "accuracy_m": 10.0}),
    )
    .await;
    let followed = next_of(&mut console, "sos_update").await;
    assert_eq!(followed["sos"]["trail"].as_array().unwrap().len(), 1, "{followed}");
    eventually("the stream's view is audited", || async {
        !accesses(&hub, &amani).await.is_empty()
    })
    .await;
    let (_, list) = hub.get("/api/v1/me/location-access", &amani).await;
    assert_eq!(list[0]["ground"], json!({"kind": "sos", "id": sos_id}), "{list}");

    // The list and the acknowledgement show it precisely too, each an audited view.
    let (_, calls) = hub.get("/api/v1/sos", &kivu).await;
    assert_eq!(lat_lon(&calls[0]["position"]), precise, "{calls}");
    let (status, acknowledged) = hub.post(&format!("/api/v1/sos/{sos_id}/ack"), &kivu, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(lat_lon(&acknowledged["position"]), precise);
    let update = next_of(&mut console, "sos_update").await;
    assert_eq!(update["sos"]["status"], "acknowledged");
    assert_eq!(lat_lon(&update["sos"]["position"]), precise);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open_views = vec![
        access("kivu.officer", "sos", "sos"),
        access("kivu.officer", "sos", "sos"),
        access("kivu.officer", "stream", "sos"),
    ];
    assert_eq!(
        accesses(&hub, &amani).await,
        open_views,
        "three envelopes streamed, one view"
    );

    // Resolved: officers see the area and no trail, on every channel, and no view is written;
    // she still sees her own call whole.
    let (status, resolved) = hub
        .post(
            &format!("/api/v1/sos/{sos_id}/resolve"),
            &kivu,
            json!({"note": "she is safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(lat_lon(&resolved["position"]), area, "{resolved}");
    assert_eq!(resolved["trail"], json!([]), "{resolved}");
    let update = next_of(&mut console, "sos_update").await;
    assert_eq!(update["sos"]["status"], "resolved");
    assert_eq!(
        (lat_lon(&update["sos"]["position"]), &update["sos"]["trail"]),
        (area.clone(), &json!([])),
        "{update}"
    );
    let own = loop {
        let update = next_of(&mut phone, "sos_update").await;
        if update["sos"]["status"] == "resolved" {
            break update;
        }
    };
    assert_eq!(lat_lon(&own["sos"]["position"]), precise, "{own}");
    assert_eq!(own["sos"]["trail"].as_array().unwrap().len(), 1, "{own}");
    for officer in [&kivu, &watch] {
        let (_, calls) = hub.get("/api/v1/sos?status=resolved", officer).await;
        assert_eq!(lat_lon(&calls[0]["position"]), area, "{calls}");
        assert_eq!(calls[0]["trail"], json!([]), "{calls}");
    }
    let (_, mine) = hub.get("/api/v1/sos", &amani).await;
    assert_eq!(lat_lon(&mine[0]["position"]), precise, "{mine}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accesses(&hub, &amani).await, open_views);
    hub.stop().await;
}

async fn a_missed_checkin_alarm_is_a_ground_audited_and_a_journey_shows_the_area(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| {
        c.journey_remind_before_s = 1;
        c.journey_grace_s = 1;
    })
    .await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let mut console = hub.stream(&kivu).await;
    let precise = (json!(BENI.0), json!(BENI.1));
    let area = (json!(BENI_AREA.0), json!(BENI_AREA.1));
    hub.post(
        "/api/v1/me/location",
        &amani,
        json!({"lat": BENI.0, "lon": BENI.1, "accuracy_m": 10.0}),
    )
    .await;

    // A journey and a check-in with where she is: she sees it, officers see its area.
    let arrive_by = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let (status, journey) = hub
        .post(
            "/api/v1/journeys",
            &amani,
            json!({"legs": [{"to": "Goma", "country": "CD", "arrive_by": arrive_by}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let id = journey["id"].as_str().unwrap().to_owned();
    let (status, own) = hub
        .post(
            &format!("/api/v1/journeys/{id}/checkin"),
            &amani,
            json!({"status": "ok", "position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(lat_lon(&own["last_position"]), precise);
    let shown = loop {
        let envelope = next_of(&mut console, "journey").await;
        if envelope["journey"]["last_position"].is_object() {
            break envelope;
        }
    };
    assert_eq!(lat_lon(&shown["journey"]["last_position"]), area, "{shown}");
    let (_, seen) = hub.get(&format!("/api/v1/journeys/{id}"), &kivu).await;
    assert_eq!(lat_lon(&seen["last_position"]), area, "{seen}");
    assert_eq!(on_the_map(&hub, &kivu, &amani).await["precision"], "area");
    assert_eq!(accesses(&hub, &amani).await, vec![]);

    // Missed: the alarm shows her last position precisely, a ground on the map too.
    let alarm = next_of(&mut console, "journey_alarm").await["alarm"].clone();
    let alarm_id = alarm["id"].as_str().unwrap().to_owned();
    assert_eq!(lat_lon(&alarm["last_position"]), precise, "{alarm}");
    let (_, alarms) = hub.get("/api/v1/journey-alarms", &kivu).await;
    assert_eq!(lat_lon(&alarms[0]["last_position"]), precise, "{alarms}");
    let placed = on_the_map(&hub, &kivu, &amani).await;
    assert_eq!(
        (&placed["precision"], &placed["ground"]),
        (&json!("precise"), &json!({"kind": "journey_alarm", "id": alarm_id})),
        "{placed}"
    );
    let (_, seen) = hub.get(&format!("/api/v1/journeys/{id}"), &kivu).await;
    assert_eq!(
        lat_lon(&seen["last_position"]),
        area,
        "the journey is no ground: {seen}"
    );
    let (status, acknowledged) = hub
        .post(
            &format!("/api/v1/journey-alarms/{alarm_id}/ack"),
            &kivu,
            json!({"note": "calling her"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(lat_lon(&acknowledged["last_position"]), precise);
    let update = next_of(&mut console, "journey_alarm").await;
    assert_eq!(update["alarm"]["status"], "acknowledged", "{update}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open_views = vec![
        access("kivu.officer", "journey_alarms", "journey_alarm"),
        access("kivu.officer", "journey_alarms", "journey_alarm"),
        access("kivu.officer", "staff_positions", "journey_alarm"),
        access("kivu.officer", "stream", "journey_alarm"),
    ];
    assert_eq!(accesses(&hub, &amani).await, open_views);

    // Resolved: the area again, everywhere, and no more views.
    let (status, resolved) = hub
        .post(
            &format!("/api/v1/journey-alarms/{alarm_id}/resolve"),
            &kivu,
            json!({"note": "she had no signal"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(lat_lon(&resolved["last_position"]), area, "{resolved}");
    let update = next_of(&mut console, "journey_alarm").await;
    assert_eq!(
        (&update["alarm"]["status"], lat_lon(&update["alarm"]["last_position"])),
        (&json!("resolved"), area.clone()),
        "{update}"
    );
    let (_, alarms) = hub.get("/api/v1/journey-alarms", &kivu).await;
    assert_eq!(lat_lon(&alarms[0]["last_position"]), area, "{alarms}");
    assert_eq!(on_the_map(&hub, &kivu, &amani).await["precision"], "area");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(accesses(&hub, &amani).await, open_views);
    hub.stop().await;
}

/// Polls `check` every 200 ms for up to 15 s; panics with `what` if it never holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..75 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never: {what}");
}

async fn the_retention_sweep_deletes_what_is_past_its_limit(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| {
        c.position_freshness_s = 1;
        c.retention_positions_s = 6;
        c.retention_trails_s = 6;
        c.retention_checkins_s = 6;
        c.retention_reports_s = 6;
        c.retention_sweep_s = 1;
    })
    .await;
    let admin = hub.account("admin", Role::Admin, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let export = |who: &Account| {
        let (hub, path, admin) = (&hub, format!("/api/v1/users/{}/export", who.user.id), &admin);
        async move {
            let (status, body) = hub.get(&path, admin).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };

    let (status, alert) = hub
        .post(
            "/api/v1/alerts",
            &kivu,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(
        (status, &alert["recipients"]),
        (StatusCode::CREATED, &json!(1)),
        "{alert}"
    );
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{alert_id}/checkins"),
            &amani,
            json!({"status": "safe", "position": {"lat": BENI.0, "lon": BENI.1}, "note": "at the guesthouse"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, report) = hub
        .post(
            "/api/v1/reports",
            &amani,
            json!({"category": "crime", "description": "Car broken into", "position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    let (status, sos) = hub
        .post(
            "/api/v1/sos",
            &amani,
            json!({"position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sos}");
    hub.post(
        "/api/v1/me/location",
        &amani,
        json!({"lat": 0.52, "lon": 29.48, "accuracy_m": 10.0}),
    )
    .await;
    let sos_path = format!("/api/v1/sos/{}", sos["id"].as_str().unwrap());
    assert_eq!(
        hub.post(&format!("{sos_path}/ack"), &kivu, json!({})).await.0,
        StatusCode::OK
    );
    let (status, resolved) = hub
        .post(&format!("{sos_path}/resolve"), &kivu, json!({"note": "all fine"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    // The officer is shown a resolved call's area, without its trail; the hub holds both.
    assert_eq!(resolved["trail"], json!([]), "{resolved}");
    assert_eq!(export(&amani).await["sos"][0]["trail"].as_array().unwrap().len(), 1);

    // Past the freshness window the position is kept as its area only.
    eventually("the position is reduced to its area", || async {
        export(&amani).await["position"]["precision"] == "area"
    })
    .await;
    let held = export(&amani).await;
    assert_eq!(
        (
            &held["position"]["lat"],
            &held["position"]["lon"],
            &held["position"]["accuracy_m"]
        ),
        (&json!(0.55), &json!(29.45), &Value::Null),
        "{held}"
    );
    assert_eq!(
        held["checkins"].as_array().unwrap().len(),
        1,
        "not yet past its limit: {held}"
    );
    assert_eq!(held["reports"].as_array().unwrap().len(), 1, "{held}");

    // Past their limits: the position, the check-in, the report and the SOS trail go.
    eventually("everything past its limit is deleted", || async {
        let held = export(&amani).await;
        held["position"].is_null()
            && held["checkins"] == json!([])
            && held["reports"] == json!([])
            && held["sos"][0]["trail"] == json!([])
    })
    .await;
    let held = export(&amani).await;
    assert!(held["sos"][0].get("position").is_none(), "{held}");
    let standing = &held["headcounts"][0];
    assert_eq!(
        (
            &standing["alert_id"],
            &standing["status"],
            &standing["position"],
            &standing["note"]
        ),
        (&json!(alert_id), &json!("safe"), &Value::Null, &Value::Null),
        "the answer still counts, without where or what: {held}"
    );
    let (_, board) = hub.get(&format!("/api/v1/alerts/{alert_id}/headcount"), &kivu).await;
    assert_eq!((&board["total"], &board["safe"]), (&json!(1), &json!(1)), "{board}");
    assert_eq!(hub.get("/api/v1/reports", &kivu).await.1, json!([]));

    // What is newer than its limit stays.
    hub.post("/api/v1/me/location", &amani, json!({"lat": BENI.0, "lon": BENI.1}))
        .await;
    let held = export(&amani).await;
    assert_eq!(
        (&held["position"]["lat"], &held["position"]["precision"]),
        (&json!(BENI.0), &json!("precise")),
        "{held}"
    );
    hub.stop().await;
}

/// Every (table, column) of the hub's database holding any of `needles`: text columns by
/// their text, id columns by their bytes (SQLite's BLOB ids as hex, PostgreSQL's rows as text).
async fn tables_holding(hub: &TestHub, needles: &[String]) -> Vec<String> {
    use sqlx::Connection;
    let url = hub.config.database_url();
    let mut found = Vec::new();
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open the database");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert!(tables.len() > 20, "every table: {tables:?}");
        for (table,) in tables {
            let columns: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(&mut db)
                .await
                .unwrap();
            for (column,) in columns {
                for needle in needles {
                    let sql = format!(
                        "SELECT COUNT(*) FROM \"{table}\" WHERE instr(CAST(\"{column}\" AS TEXT), $1) > 0
                         OR instr(hex(\"{column}\"), upper($2)) > 0"
                    );
                    let (n,): (i64,) = sqlx::query_as(&sql)
                        .bind(needle)
                        .bind(hex_of(needle))
                        .fetch_one(&mut db)
                        .await
                        .unwrap();
                    if n > 0 {
                        found.push(format!("{table}.{column} holds {needle}"));
                    }
                }
            }
        }
    } else {
        let mut db = sqlx::PgConnection::connect(&url).await.expect("open the database");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert!(tables.len() > 20, "every table: {tables:?}");
        for (table,) in tables {
            for needle in needles {
                // A row as text shows UUIDs hyphenated and BYTEA as \x and lower-case hex.
                let sql = format!(
                    "SELECT COUNT(*) FROM \"{table}\" AS r WHERE strpos(CAST(r AS TEXT), $1) > 0
                     OR strpos(CAST(r AS TEXT), lower($2)) > 0"
                );
                let (n,): (i64,) = sqlx::query_as(&sql)
                    .bind(needle)
                    .bind(hex_of(needle))
                    .fetch_one(&mut db)
                    .await
                    .unwrap();
                if n > 0 {
                    found.push(format!("{table} holds {needle}"));
                }
            }
        }
    }
    found
}

/// A UUID's 16 bytes as hex, for ids stored as bytes; other needles as they are.
fn hex_of(needle: &str) -> String {
    match uuid::Uuid::parse_str(needle) {
        Ok(id) => id.simple().to_string(),
        Err(_) => needle.to_owned(),
    }
}

async fn an_erased_person_leaves_nothing_but_the_counts_under_a_pseudonym(backend: Backend) {
    // Journeys' alarms come within seconds.
    let hub = TestHub::start_configured(backend, |c| {
        c.journey_remind_before_s = 1;
        c.journey_grace_s = 1;
    })
    .await;
    let admin = hub.account("admin", Role::Admin, &[], None).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let zawadi = hub.account("zawadi.erasable", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let phone = "+243970001234";
    let (status, _) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{}/phones", zawadi.user.id),
            Some(&admin.token),
            Some(json!({"phones": [phone]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut stream = hub.stream(&zawadi).await;

    // A life in the hub: a position, an alert and its answer, an SOS, a report, a trip.
    hub.post("/api/v1/me/location", &zawadi, json!({"lat": BENI.0, "lon": BENI.1}))
        .await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &kivu,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(alert["recipients"], json!(2), "{alert}");
    let alert_id = alert["id"].as_str().unwrap().to_owned();
    stream.expect("alert").await;
    // Her phone has it too, over MQTT: that receipt is hers until she is erased.
    let mut device = crate::mqtt::Phone::connect(&hub, &zawadi, "zawadi-phone", false).await;
    device.expect("alert").await;
    crate::mqtt::receipt_when(&hub, &kivu, &alert_id, zawadi.user.id, |r| {
        r["delivered_at"].is_string()
    })
    .await;
    device.disconnect().await;
    let answer_note = "hiding in the pharmacy on Rue 7";
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{alert_id}/checkins"),
            &zawadi,
            json!({"status": "need_help", "position": {"lat": BENI.0, "lon": BENI.1}, "note": answer_note}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{alert_id}/checkins"),
            &bahati,
            json!({"status": "safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let sos_note = "two men followed me from the market";
    let (_, sos) = hub
        .post(
            "/api/v1/sos",
            &zawadi,
            json!({"position": {"lat": BENI.0, "lon": BENI.1}, "note": sos_note}),
        )
        .await;
    let sos_path = format!("/api/v1/sos/{}", sos["id"].as_str().unwrap());
    hub.post(
        &format!("{sos_path}/ack"),
        &kivu,
        json!({"note": "calling zawadi.erasable now"}),
    )
    .await;
    hub.post(
        &format!("{sos_path}/resolve"),
        &kivu,
        json!({"note": "Test zawadi.erasable is safe"}),
    )
    .await;
    let report_text = "Checkpoint on the Kasindi road";
    let (status, report) = hub
        .post(
            "/api/v1/reports",
            &zawadi,
            json!({"category": "crime", "description": report_text, "position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    let (status, trip) = hub
        .post(
            "/api/v1/trips",
            &zawadi,
            json!({"destination": {"country": "CD", "city": "Butembo", "lat": 0.14, "lon": 29.29},
                   "depart_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
                   "return_at": (chrono::Utc::now() + chrono::Duration::hours(50)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{trip}");
    on_the_map(&hub, &watch, &zawadi).await;
    // A journey of hers whose check-in she missed, the alarm acknowledged by the Kivu officer;
    // and a journey that officer started for Bahati.
    let journey_note = "at the Oicha checkpoint";
    let (status, journey) = hub
        .post(
            "/api/v1/journeys",
            &zawadi,
            json!({"legs": [{"to": "Goma", "country": "CD",
                   "arrive_by": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let (status, _) = hub
        .post(
            &format!("/api/v1/journeys/{}/checkin", journey["id"].as_str().unwrap()),
            &zawadi,
            json!({"status": "ok", "position": {"lat": BENI.0, "lon": BENI.1}, "note": journey_note}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, started) = hub
        .post(
            "/api/v1/journeys",
            &kivu,
            json!({"staff_id": bahati.user.id, "legs": [{"to": "Lubero", "country": "CD",
                   "arrive_by": (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339()}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["started_by"], "kivu.officer");
    eventually("her missed check-in raises an alarm", || async {
        hub.get("/api/v1/journey-alarms", &kivu).await.1[0].is_object()
    })
    .await;
    let alarm = hub.get("/api/v1/journey-alarms", &kivu).await.1[0].clone();
    let (status, _) = hub
        .post(
            &format!("/api/v1/journey-alarms/{}/ack", alarm["id"].as_str().unwrap()),
            &kivu,
            json!({"note": "calling zawadi.erasable now"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The export holds all of it.
    let export_path = format!("/api/v1/users/{}/export", zawadi.user.id);
    assert_eq!(hub.get(&export_path, &watch).await.0, StatusCode::FORBIDDEN);
    let (status, export) = hub.get(&export_path, &admin).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(
        (&export["account"]["username"], &export["account"]["phones"]),
        (&json!("zawadi.erasable"), &json!([phone]))
    );
    assert_eq!(export["position"]["lat"], json!(BENI.0));
    let count = |key: &str| export[key].as_array().map_or(0, Vec::len);
    assert_eq!(
        (
            count("trips"),
            count("reports"),
            count("sos"),
            count("headcounts"),
            count("checkins"),
            count("journeys"),
            count("journey_alarms")
        ),
        (1, 1, 1, 1, 1, 1, 1),
        "{export}"
    );
    assert_eq!(export["journeys"][0]["last_note"], journey_note, "{export}");
    assert_eq!(export["checkins"][0]["note"], answer_note);
    assert!(count("sessions") >= 1, "{export}");
    let actions: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "sos.acknowledged",
        "sos.resolved",
        "location.viewed",
        "journey_alarm.acknowledged",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }

    // Before: the scan finds them (so it can fail); then the erasure.
    let needles: Vec<String> = vec![
        zawadi.user.id.to_string(),
        "zawadi.erasable".to_owned(),
        "Test zawadi.erasable".to_owned(),
        phone.to_owned(),
        answer_note.to_owned(),
        sos_note.to_owned(),
        report_text.to_owned(),
        "Butembo".to_owned(),
        journey_note.to_owned(),
    ];
    let before = tables_holding(&hub, &needles).await;
    for table in [
        "users",
        "positions",
        "checkins",
        "sos",
        "reports",
        "trips",
        "audit",
        "alert_recipients",
        "tokens",
        "journeys",
        "journey_alarms",
    ] {
        assert!(
            before.iter().any(|f| f.starts_with(table)),
            "{table} not found before: {before:?}"
        );
    }
    let erase_path = format!("/api/v1/users/{}", zawadi.user.id);
    assert_eq!(
        hub.call("DELETE", &erase_path, Some(&watch.token), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.call(
            "DELETE",
            &format!("/api/v1/users/{}", admin.user.id),
            Some(&admin.token),
            None
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let erased = erase(&hub, &admin, &zawadi).await;
    let pseudonym = erased["pseudonym"].as_str().unwrap().to_owned();
    assert_ne!(pseudonym, zawadi.user.id.to_string());
    assert_eq!(tables_holding(&hub, &needles).await, Vec::<String>::new());

    // The counts stay, under the pseudonym.
    let (_, board) = hub.get(&format!("/api/v1/alerts/{alert_id}/headcount"), &kivu).await;
    assert_eq!(
        (&board["total"], &board["safe"], &board["need_help"]),
        (&json!(2), &json!(1), &json!(1)),
        "{board}"
    );
    let counted = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["staff_id"] == json!(pseudonym))
        .unwrap();
    assert_eq!(
        (&counted["username"], &counted["name"], &counted["status"]),
        (
            &erased["pseudonym_username"],
            &json!("Erased person"),
            &json!("need_help")
        ),
        "{board}"
    );
    assert!(
        counted.get("position").is_none() && counted.get("note").is_none(),
        "{counted}"
    );

    // Nothing answers for them any more; the pseudonym is no account.
    assert_eq!(hub.get(&export_path, &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        hub.call("DELETE", &erase_path, Some(&admin.token), None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(hub.get("/api/v1/me", &zawadi).await.0, StatusCode::UNAUTHORIZED);
    assert!(hub.login("zawadi.erasable", crate::harness::PASSWORD).await.is_err());
    let (_, users) = hub.get("/api/v1/users", &admin).await;
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .all(|u| !u["username"].as_str().unwrap().starts_with("erased-")),
        "{users}"
    );
    assert_eq!(
        hub.get(&format!("/api/v1/users/{pseudonym}/export"), &admin).await.0,
        StatusCode::NOT_FOUND
    );

    // An officer is a person too: what others' records quote of them (the alert they sent, the
    // advisory they wrote, the envelopes that carried them) names their pseudonym instead.
    let (status, _) = hub
        .call(
            "PUT",
            "/api/v1/advisories/CD",
            Some(&kivu.token),
            Some(json!({"risk_level": 4, "summary": "Armed groups active around Beni"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let officer: Vec<String> = vec![
        kivu.user.id.to_string(),
        "kivu.officer".to_owned(),
        "Test kivu.officer".to_owned(),
    ];
    let before = tables_holding(&hub, &officer).await;
    for table in [
        "alerts",
        "advisories",
        "advisory_history",
        "audit",
        "mqtt_envelopes",
        "journeys",
    ] {
        assert!(
            before.iter().any(|f| f.starts_with(table)),
            "{table} not found before: {before:?}"
        );
    }
    let erased = erase(&hub, &admin, &kivu).await;
    assert_eq!(tables_holding(&hub, &officer).await, Vec::<String>::new());
    let (_, alert) = hub.get(&format!("/api/v1/alerts/{alert_id}"), &watch).await;
    assert_eq!(alert["sender"], erased["pseudonym_username"], "{alert}");
    let (_, advisory) = hub.get("/api/v1/advisories/CD", &watch).await;
    assert_eq!(advisory["summary"], "Armed groups active around Beni", "{advisory}");
    let (_, journey) = hub
        .get(&format!("/api/v1/journeys/{}", started["id"].as_str().unwrap()), &watch)
        .await;
    assert_eq!(journey["started_by"], erased["pseudonym_username"], "{journey}");

    // The watch officer added a warnings feed: it names their pseudonym once they are erased.
    let (status, feed) = hub
        .post(
            "/api/v1/warning-feeds",
            &watch,
            json!({"name": "Local test feed", "url": "http://127.0.0.1:9/cap.xml", "interval_s": 86400}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{feed}");
    // Its first poll (refused) is over before the erasure: the next is a day away.
    eventually("the feed was polled", || async {
        hub.get("/api/v1/warning-feeds", &watch).await.1[0]["failures"] == 1
    })
    .await;
    let officer: Vec<String> = vec![
        watch.user.id.to_string(),
        "manila.watch".to_owned(),
        "Test manila.watch".to_owned(),
    ];
    let before = tables_holding(&hub, &officer).await;
    assert!(
        before.iter().any(|f| f.starts_with("warning_feeds")),
        "warning_feeds not found before: {before:?}"
    );
    erase(&hub, &admin, &watch).await;
    assert_eq!(tables_holding(&hub, &officer).await, Vec::<String>::new());
    hub.stop().await;
}

async fn the_console_marks_an_area_apart_from_a_position(backend: Backend) {
    use crate::browser::Browser;
    let hub = TestHub::start(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    hub.post("/api/v1/me/location", &amani, json!({"lat": BENI.0, "lon": BENI.1}))
        .await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    crate::console::log_in(&page, &hub, "manila.watch", false).await;
    // Staff are drawn by the map library: her point's properties, as it holds them.
    let point = format!(
        "(m => m && (m.querySourceFeatures('staff').find(f => f.properties.id === '{}') || {{}}).properties)\
         (document.querySelector('#map .basemap')?.basemap?.map)",
        amani.user.id
    );
    // The library holds the point once it has drawn the map, which can take longer than
    // `wait_for`'s 10 s.
    let shown = page
        .wait_within(
            &format!("(p => p && [p.area, p.title])({point})"),
            "amani's point",
            crate::console_map::MAP_DRAWN,
        )
        .await;
    assert_eq!(shown[0], json!(true), "{shown}");
    assert!(shown[1].as_str().unwrap().contains("area only within 8 km"), "{shown}");

    // Inside an alert that reaches her, the console shows where she is, and why.
    let (status, _) = hub
        .post(
            "/api/v1/alerts",
            &kivu,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    page.reload().await;
    let shown = page
        .wait_within(
            &format!("(p => p && !p.area && [p.area, p.title])({point})"),
            "amani's point at her position",
            crate::console_map::MAP_DRAWN,
        )
        .await;
    assert_eq!(shown[0], json!(false), "{shown}");
    assert!(shown[1].as_str().unwrap().contains("shown for their alert"), "{shown}");
    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

/// Erases `person` as `admin`; the answer (with the pseudonym).
async fn erase(hub: &TestHub, admin: &Account, person: &Account) -> Value {
    let path = format!("/api/v1/users/{}", person.user.id);
    let (status, erased) = hub.call("DELETE", &path, Some(&admin.token), None).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    erased
}
