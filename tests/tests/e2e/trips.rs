//! Trips: the answer carries the destination's advisory and alerts; a traveller is covered at
//! the destination and not at home while under way; risky destinations need clearance, and
//! while it is awaited the traveller under way is covered at both ends.

use crate::harness::{circle_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BENI: (f64, f64) = (0.4911, 29.4731);
const GOMA: (f64, f64) = (-1.6792, 29.2228);
const KAMPALA: (f64, f64) = (0.3476, 32.5825);

on_both_backends!(
    a_traveller_is_covered_at_the_destination_and_not_at_home,
    clearance_is_approved_and_declined,
    bad_trips_are_refused_and_store_nothing,
);

/// A trip to (lat, lon) in `country` from `depart` to `back` hours from now.
fn trip(country: &str, (lat, lon): (f64, f64), depart: i64, back: i64) -> Value {
    json!({"destination": {"country": country, "city": "Beni", "lat": lat, "lon": lon},
           "depart_at": (Utc::now() + Duration::hours(depart)).to_rfc3339(),
           "return_at": (Utc::now() + Duration::hours(back)).to_rfc3339()})
}

async fn send(hub: &TestHub, by: &Account, headline: &str, (lat, lon): (f64, f64)) -> Value {
    let (status, alert) = hub
        .post("/api/v1/alerts", by, circle_alert(headline, lat, lon, 10_000.0))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    alert
}

async fn a_traveller_is_covered_at_the_destination_and_not_at_home(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let traveller = hub.account("amani", Role::Staff, &[], Some(KAMPALA)).await;
    let (status, _) = hub
        .call(
            "PUT",
            "/api/v1/advisories/CD",
            Some(&kivu.token),
            Some(json!({"risk_level": 3, "summary": "Armed groups around Beni."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let earlier = send(&hub, &kivu, "Road closed near Beni", BENI).await;
    send(&hub, &watch, "Flooding in Kampala", KAMPALA).await;

    let (status, plan) = hub.post("/api/v1/trips", &traveller, trip("CD", BENI, -1, 72)).await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(
        (
            &plan["trip"]["status"],
            &plan["trip"]["traveller"],
            &plan["trip"]["destination"]["country"]
        ),
        (&json!("planned"), &json!("amani"), &json!("CD"))
    );
    assert_eq!(
        (&plan["advisory"]["risk_level"], &plan["advisory"]["country"]),
        (&json!(3), &json!("CD"))
    );
    let active: Vec<&Value> = plan["active_alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(active, [&earlier["id"]], "only the destination's alerts");

    let mut stream = hub.stream(&traveller).await;
    let at_destination = send(&hub, &kivu, "Clashes in Beni", BENI).await;
    assert_eq!(at_destination["recipients"], 1);
    assert_eq!(stream.expect("alert").await["alert"]["id"], at_destination["id"]);
    let at_home = send(&hub, &watch, "Protest in Kampala", KAMPALA).await;
    assert_eq!(at_home["recipients"], 0, "a traveller is not reached at home");
    stream.expect_silence().await;

    // The index is rebuilt from the database: a restart keeps the trip in force.
    let hub = hub.restart().await;
    assert_eq!(send(&hub, &watch, "Again in Kampala", KAMPALA).await["recipients"], 0);
    assert_eq!(send(&hub, &watch, "Again in Beni", BENI).await["recipients"], 1);

    let trip_id = plan["trip"]["id"].as_str().unwrap();
    let (status, cancelled) = hub
        .call(
            "POST",
            &format!("/api/v1/trips/{trip_id}/cancel"),
            Some(&traveller.token),
            None,
        )
        .await;
    assert_eq!(
        (status, &cancelled["status"]),
        (StatusCode::OK, &json!("cancelled")),
        "{cancelled}"
    );
    assert_eq!(send(&hub, &watch, "Back home", KAMPALA).await["recipients"], 1);
    assert_eq!(send(&hub, &watch, "Beni once more", BENI).await["recipients"], 0);
    let (status, body) = hub
        .call(
            "POST",
            &format!("/api/v1/trips/{trip_id}/cancel"),
            Some(&traveller.token),
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("trip_closed"))
    );
    hub.stop().await;
}

async fn clearance_is_approved_and_declined(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let approved = hub.account("amani", Role::Staff, &[], Some(KAMPALA)).await;
    let declined = hub.account("bahati", Role::Staff, &[], Some(KAMPALA)).await;
    let (status, _) = hub
        .call(
            "PUT",
            "/api/v1/advisories/CD",
            Some(&kivu.token),
            Some(json!({"risk_level": 5, "summary": "Active conflict."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut kivu_stream = hub.stream(&kivu).await;
    let mut uganda_stream = hub.stream(&uganda).await;
    let (_, first) = hub.post("/api/v1/trips", &approved, trip("CD", BENI, -1, 48)).await;
    let waiting = kivu_stream.expect("trip").await;
    assert_eq!(
        (&waiting["trip"]["id"], &waiting["trip"]["status"]),
        (&first["trip"]["id"], &json!("pending_clearance"))
    );
    uganda_stream.expect_silence().await;
    let (_, second) = hub.post("/api/v1/trips", &declined, trip("CD", BENI, 24, 96)).await;
    assert_eq!(first["trip"]["status"], "pending_clearance", "{first}");
    assert_eq!(second["trip"]["status"], "pending_clearance", "{second}");
    assert_eq!(first["advisory"]["risk_label"], "Extreme");
    // Waiting for clearance and under way, the traveller is covered at both ends: the clearance
    // is a permission, not a location. The trip not yet under way places nobody at Beni.
    let mut stream = hub.stream(&approved).await;
    let before = send(&hub, &kivu, "Beni, before clearance", BENI).await;
    assert_eq!(before["recipients"], 1, "{before}");
    assert_eq!(stream.expect("alert").await["alert"]["id"], before["id"]);
    let home = send(&hub, &uganda, "Kampala, before clearance", KAMPALA).await;
    assert_eq!(home["recipients"], 2, "{home}");
    assert_eq!(stream.expect("alert").await["alert"]["id"], home["id"]);

    let clear = |t: &Value| format!("/api/v1/trips/{}/clearance", t["trip"]["id"].as_str().unwrap());
    let approve = json!({"decision": "approve", "note": "Escort booked; check in twice a day."});
    assert_eq!(
        hub.post(&clear(&first), &uganda, approve.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        hub.post(&clear(&first), &approved, approve.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = hub
        .post(&clear(&first), &kivu, json!({"decision": "approve", "note": " "}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("note"))
    );
    let (status, body) = hub
        .post(&clear(&first), &kivu, json!({"decision": "maybe", "note": "x"}))
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("decision"))
    );

    let (status, trip_ok) = hub.post(&clear(&first), &kivu, approve.clone()).await;
    assert_eq!(status, StatusCode::OK, "{trip_ok}");
    assert_eq!(
        (&trip_ok["status"], &trip_ok["cleared_by"], &trip_ok["clearance_note"]),
        (&json!("approved"), &json!("kivu.officer"), &approve["note"])
    );
    let decision = stream.expect("trip").await;
    assert_eq!(decision["trip"]["status"], "approved");
    // Already covered at the destination: the open headcount there counts them once.
    let (_, headcount) = hub
        .get(
            &format!("/api/v1/alerts/{}/headcount", before["id"].as_str().unwrap()),
            &kivu,
        )
        .await;
    assert_eq!(headcount["total"], 1, "{headcount}");
    assert_eq!(send(&hub, &kivu, "Beni, after clearance", BENI).await["recipients"], 1);
    stream.expect("alert").await;

    let (status, trip_no) = hub
        .post(
            &clear(&second),
            &kivu,
            json!({"decision": "decline", "note": "No escort available that week."}),
        )
        .await;
    assert_eq!(
        (status, &trip_no["status"]),
        (StatusCode::OK, &json!("declined")),
        "{trip_no}"
    );
    let (status, body) = hub.post(&clear(&second), &kivu, approve.clone()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("trip_not_pending"))
    );

    assert_eq!(
        hub.get("/api/v1/trips", &kivu).await.1.as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        hub.get("/api/v1/trips?status=declined", &kivu).await.1[0]["id"],
        trip_no["id"]
    );
    assert_eq!(hub.get("/api/v1/trips", &uganda).await.1, json!([]));
    let (_, own) = hub.get("/api/v1/trips", &declined).await;
    assert_eq!((own.as_array().map(Vec::len), &own[0]["id"]), (Some(1), &trip_no["id"]));
    let (_, trail) = hub.get("/api/v1/audit", &kivu).await;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"trip.approved") && actions.contains(&"trip.declined"),
        "{actions:?}"
    );
    hub.stop().await;
}

async fn bad_trips_are_refused_and_store_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let with = |pointer: &str, value: Value| {
        let mut body = trip("CD", BENI, 1, 48);
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let now = Utc::now();
    let cases = [
        (
            "returns before it departs",
            with("/return_at", json!((now - Duration::hours(2)).to_rfc3339())),
            "return_at",
        ),
        (
            "spans years",
            with("/return_at", json!((now + Duration::days(800)).to_rfc3339())),
            "return_at",
        ),
        (
            "unknown country",
            with("/destination/country", json!("ZZ")),
            "destination.country",
        ),
        ("latitude 91", with("/destination/lat", json!(91.0)), "destination.lat"),
        (
            "oversized city",
            with("/destination/city", json!("x".repeat(201))),
            "destination.city",
        ),
        (
            "point in another country",
            with("/destination/lat", json!(KAMPALA.0)),
            "destination",
        ),
        ("not a time", with("/depart_at", json!("next week")), "depart_at"),
        (
            "unknown field",
            with("/destination/city", json!("Beni"))
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("purpose".into(), json!("mission"));
                    Value::Object(o)
                })
                .unwrap(),
            "purpose",
        ),
    ];
    // Kampala's latitude with Beni's longitude is still in Congo; move the longitude too.
    let mut cases = cases.to_vec();
    cases[5].1["destination"]["lon"] = json!(KAMPALA.1);
    for (what, body, field) in cases {
        let (status, answer) = hub.post("/api/v1/trips", &amani, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{what}: {answer}");
    }
    assert_eq!(hub.get("/api/v1/trips", &watch).await.1, json!([]));

    // Goma sits on the border with Rwanda: its point counts for either side.
    let (status, body) = hub.post("/api/v1/trips", &amani, trip("RW", GOMA, 1, 48)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let missing = format!("/api/v1/trips/{}/cancel", uuid::Uuid::new_v4());
    assert_eq!(
        hub.call("POST", &missing, Some(&amani.token), None).await.0,
        StatusCode::NOT_FOUND
    );
    hub.stop().await;
}
