//! Location privacy by default: officers see a person's area, not their position, outside an
//! incident; inside an alert that reaches them they see it, the view is audited and the person
//! reads it in their access list; the retention sweep deletes what is past its limit; an
//! administrator exports a person whole and erases them, leaving nothing of them in any table
//! but the counts, under a pseudonym; and the console's map marks an area apart from a position.

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
    assert_eq!(resolved["trail"].as_array().unwrap().len(), 1, "{resolved}");

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
    let hub = TestHub::start(backend).await;
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
            count("checkins")
        ),
        (1, 1, 1, 1, 1),
        "{export}"
    );
    assert_eq!(export["checkins"][0]["note"], answer_note);
    assert!(count("sessions") >= 1, "{export}");
    let actions: Vec<&str> = export["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["sos.acknowledged", "sos.resolved", "location.viewed"] {
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
    let (status, erased) = hub.call("DELETE", &erase_path, Some(&admin.token), None).await;
    assert_eq!(status, StatusCode::OK, "{erased}");
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
    for table in ["alerts", "advisories", "advisory_history", "audit", "mqtt_envelopes"] {
        assert!(
            before.iter().any(|f| f.starts_with(table)),
            "{table} not found before: {before:?}"
        );
    }
    let (status, erased) = hub
        .call(
            "DELETE",
            &format!("/api/v1/users/{}", kivu.user.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{erased}");
    assert_eq!(tables_holding(&hub, &officer).await, Vec::<String>::new());
    let (_, alert) = hub.get(&format!("/api/v1/alerts/{alert_id}"), &watch).await;
    assert_eq!(alert["sender"], erased["pseudonym_username"], "{alert}");
    let (_, advisory) = hub.get("/api/v1/advisories/CD", &watch).await;
    assert_eq!(advisory["summary"], "Armed groups active around Beni", "{advisory}");
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
    let shown = page
        .wait_for(&format!("(p => p && [p.area, p.title])({point})"), "amani's point")
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
        .wait_for(
            &format!("(p => p && !p.area && [p.area, p.title])({point})"),
            "amani's point at her position",
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
