//! Incident reports: seen live by the right officers only, triaged, merged and promoted to an
//! alert that reaches staff; restricted reports reach only officers with sensitive access.

use crate::harness::{Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BENI: (f64, f64) = (0.4911, 29.4731);
const KAMPALA: (f64, f64) = (0.3476, 32.5825);
/// The Indian Ocean, far from any coast.
const AT_SEA: (f64, f64) = (-10.0, 70.0);

on_both_backends!(
    a_report_reaches_the_right_officers_and_becomes_an_alert,
    restricted_reports_reach_only_officers_with_sensitive_access,
    duplicates_are_merged_and_reports_dismissed,
    bad_reports_are_refused_and_store_nothing,
);

fn report(category: &str, (lat, lon): (f64, f64), description: &str) -> Value {
    json!({"category": category, "description": description, "position": {"lat": lat, "lon": lon},
           "occurred_at": (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc3339(),
           "help_needed": "none for now"})
}

async fn submit(hub: &TestHub, who: &Account, body: Value) -> Value {
    let (status, stored) = hub.post("/api/v1/reports", who, body).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    stored
}

async fn a_report_reaches_the_right_officers_and_becomes_an_alert(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(KAMPALA)).await;
    let mut watch_stream = hub.stream(&watch).await;
    let mut kivu_stream = hub.stream(&kivu).await;
    let mut uganda_stream = hub.stream(&uganda).await;
    let mut amani_stream = hub.stream(&amani).await;

    let stored = submit(
        &hub,
        &bahati,
        report("shooting", BENI, "Gunfire near the central market"),
    )
    .await;
    assert_eq!(
        (
            &stored["country"],
            &stored["time_zone"],
            &stored["status"],
            &stored["restricted"],
            &stored["reporter"]
        ),
        (
            &json!("CD"),
            &json!("Africa/Lubumbashi"),
            &json!("new"),
            &json!(false),
            &json!("bahati")
        )
    );
    let id = stored["id"].as_str().unwrap().to_owned();
    for stream in [&mut kivu_stream, &mut watch_stream] {
        assert_eq!(stream.expect("report").await["report"]["id"], stored["id"]);
    }
    uganda_stream.expect_silence().await;
    amani_stream.expect_silence().await;
    let (_, listed) = hub.get("/api/v1/reports?status=new", &kivu).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(hub.get("/api/v1/reports", &uganda).await.1, json!([]));
    assert_eq!(hub.get("/api/v1/reports", &bahati).await.1[0]["id"], stored["id"]);
    assert_eq!(hub.get("/api/v1/reports", &amani).await.1, json!([]));

    // At sea: no country, so only the watch officers see it.
    let offshore = submit(&hub, &bahati, report("crime", AT_SEA, "Boat boarded")).await;
    assert_eq!(offshore["country"], Value::Null);
    assert_eq!(watch_stream.expect("report").await["report"]["id"], offshore["id"]);
    kivu_stream.expect_silence().await;

    let triage = format!("/api/v1/reports/{id}/triage");
    let confirm = json!({"status": "confirmed", "note": "confirmed by the police"});
    assert_eq!(
        hub.post(&triage, &uganda, confirm.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        hub.post(&triage, &amani, confirm.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, confirmed) = hub.post(&triage, &kivu, confirm).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(
        (
            &confirmed["status"],
            &confirmed["triage_note"],
            &confirmed["triaged_by"]
        ),
        (
            &json!("confirmed"),
            &json!("confirmed by the police"),
            &json!("kivu.officer")
        )
    );
    assert_eq!(kivu_stream.expect("report").await["report"]["status"], "confirmed");
    watch_stream.expect("report").await;

    let promote = format!("/api/v1/reports/{id}/promote");
    let (status, alert) = hub
        .post(&promote, &kivu, json!({"instruction": "Avoid the market area."}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(
        (&alert["headline"], &alert["event"], &alert["category"]),
        (&json!("Shooting reported"), &json!("Shooting"), &json!("security"))
    );
    assert_eq!(alert["description"], "Gunfire near the central market");
    assert_eq!(alert["instruction"], "Avoid the market area.");
    assert_eq!(alert["certainty"], "observed");
    assert_eq!(alert["area"]["geometry"]["coordinates"], json!([BENI.1, BENI.0]));
    assert_eq!(alert["recipients"], 1, "amani's duty station is in Beni: {alert}");
    let received = amani_stream.expect("alert").await;
    assert_eq!(received["alert"]["id"], alert["id"]);
    let (_, after) = hub.get(&format!("/api/v1/reports/{id}"), &kivu).await;
    assert_eq!(after["alert_id"], alert["id"]);
    let (status, again) = hub.post(&promote, &watch, json!({})).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("report_promoted"))
    );

    let (_, trail) = hub.get("/api/v1/audit", &watch).await;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["report.promoted", "alert.sent", "report.triaged"], "{trail}");
    hub.stop().await;
}

async fn restricted_reports_reach_only_officers_with_sensitive_access(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("admin", Role::Admin, &[], None).await;
    let plain = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let focal = hub.account("kivu.focal", Role::SecurityOfficer, &["CD"], None).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let reporter = hub.account("amani", Role::Staff, &[], Some(BENI)).await;

    let grant = |who: &Account| format!("/api/v1/users/{}/sensitive-access", who.user.id);
    let put = |path: String, by: &Account, body: Value| {
        let (hub, token) = (&hub, by.token.clone());
        async move { hub.call("PUT", &path, Some(&token), Some(body)).await }
    };
    assert_eq!(
        put(grant(&focal), &plain, json!({"granted": true})).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = put(grant(&reporter), &admin, json!({"granted": true})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("granted"))
    );
    assert_eq!(
        put(grant(&focal), &admin, json!({"granted": true})).await.0,
        StatusCode::NO_CONTENT
    );

    let mut plain_stream = hub.stream(&plain).await;
    let mut focal_stream = hub.stream(&focal).await;
    let mut watch_stream = hub.stream(&watch).await;
    let mut reporter_stream = hub.stream(&reporter).await;
    let stored = submit(
        &hub,
        &reporter,
        report("sexual_violence", BENI, "A colleague was assaulted"),
    )
    .await;
    assert_eq!(stored["restricted"], true);
    assert_eq!(focal_stream.expect("report").await["report"]["id"], stored["id"]);
    assert_eq!(reporter_stream.expect("report").await["report"]["id"], stored["id"]);
    plain_stream.expect_silence().await;
    watch_stream.expect_silence().await;

    let path = format!("/api/v1/reports/{}", stored["id"].as_str().unwrap());
    assert_eq!(hub.get("/api/v1/reports", &plain).await.1, json!([]));
    assert_eq!(hub.get("/api/v1/reports", &watch).await.1, json!([]));
    assert_eq!(hub.get(&path, &plain).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hub.get(&path, &watch).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hub.get(&path, &focal).await.0, StatusCode::OK);
    assert_eq!(hub.get(&path, &reporter).await.0, StatusCode::OK);
    assert_eq!(
        hub.post(&format!("{path}/triage"), &plain, json!({"status": "confirmed"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The alert made from it warns the area without repeating what happened to whom.
    let (status, alert) = hub.post(&format!("{path}/promote"), &focal, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(alert["headline"], "Security incident reported");
    assert!(alert.get("description").is_none(), "{alert}");

    // Withdrawn access hides it again.
    assert_eq!(
        put(grant(&focal), &admin, json!({"granted": false})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(hub.get(&path, &focal).await.0, StatusCode::NOT_FOUND);
    hub.stop().await;
}

async fn duplicates_are_merged_and_reports_dismissed(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let first = submit(&hub, &amani, report("civil_unrest", BENI, "Crowd blocking the road")).await;
    let second = submit(&hub, &amani, report("civil_unrest", BENI, "Road block by protesters")).await;
    let elsewhere = submit(&hub, &amani, report("crime", KAMPALA, "Phone snatched")).await;
    let (first_id, second_id) = (first["id"].as_str().unwrap(), second["id"].as_str().unwrap());

    let merge = format!("/api/v1/reports/{second_id}/merge");
    let (status, body) = hub.post(&merge, &kivu, json!({"into": second_id})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("into"))
    );
    let (status, body) = hub.post(&merge, &kivu, json!({"into": elsewhere["id"]})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("into")),
        "a report in a country not the officer's"
    );
    assert_eq!(
        hub.post(&merge, &uganda, json!({"into": first_id})).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, merged) = hub.post(&merge, &kivu, json!({"into": first_id})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(
        (&merged["status"], &merged["merged_into"]),
        (&json!("merged"), &first["id"])
    );
    let (status, body) = hub
        .post(
            &format!("/api/v1/reports/{second_id}/triage"),
            &kivu,
            json!({"status": "confirmed"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("report_merged"))
    );

    let (status, dismissed) = hub
        .post(
            &format!("/api/v1/reports/{first_id}/triage"),
            &kivu,
            json!({"status": "dismissed", "note": "road reopened before we checked"}),
        )
        .await;
    assert_eq!((status, &dismissed["status"]), (StatusCode::OK, &json!("dismissed")));
    let (status, body) = hub
        .post(&format!("/api/v1/reports/{first_id}/promote"), &kivu, json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("report_dismissed"))
    );
    assert_eq!(hub.get("/api/v1/reports?status=new", &kivu).await.1, json!([]));
    assert_eq!(
        hub.get("/api/v1/reports?status=merged", &kivu)
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(hub.stored_alerts().await, 0);

    // Two officers promoting one report at the same moment send one alert, not two.
    let third = submit(&hub, &amani, report("shooting", BENI, "Shots at the checkpoint")).await;
    let promote = format!("/api/v1/reports/{}/promote", third["id"].as_str().unwrap());
    let (a, b) = tokio::join!(
        hub.post(&promote, &kivu, json!({})),
        hub.post(&promote, &kivu, json!({}))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "{} {}", a.1, b.1);
    assert_eq!(hub.stored_alerts().await, 1);
    hub.stop().await;
}

async fn bad_reports_are_refused_and_store_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;

    let (status, taxonomy) = hub.call("GET", "/api/v1/taxonomy/incidents", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(taxonomy["version"].as_str().is_some_and(|v| !v.is_empty()));
    let categories = taxonomy["categories"].as_array().unwrap();
    for code in [
        "shooting",
        "kidnapping",
        "ied",
        "crossfire",
        "mob_violence",
        "detention",
        "road_accident",
    ] {
        assert!(categories.iter().any(|c| c["code"] == code), "{code} missing");
    }
    let (_, doc) = hub.call("GET", "/openapi.json", None, None).await;
    for path in [
        "/api/v1/taxonomy/incidents",
        "/api/v1/reports",
        "/api/v1/reports/{id}",
        "/api/v1/reports/{id}/triage",
        "/api/v1/reports/{id}/merge",
        "/api/v1/reports/{id}/promote",
        "/api/v1/users/{id}/sensitive-access",
        "/api/v1/advisories",
        "/api/v1/advisories/{country}",
        "/api/v1/advisories/{country}/history",
        "/api/v1/trips",
        "/api/v1/trips/{id}",
        "/api/v1/trips/{id}/cancel",
        "/api/v1/trips/{id}/clearance",
        "/api/v1/alerts/import",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} is not described in /openapi.json"
        );
    }
    let restricted: Vec<&Value> = categories.iter().filter(|c| c["restricted"] == true).collect();
    assert_eq!(restricted.len(), 1);
    assert_eq!(restricted[0]["code"], "sexual_violence");

    let good = report("shooting", BENI, "Shots");
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let cases = [
        ("unknown category", with("/category", json!("weather")), "category"),
        ("latitude 91", with("/position/lat", json!(91.0)), "position.lat"),
        ("longitude 181", with("/position/lon", json!(181.0)), "position.lon"),
        ("empty description", with("/description", json!(" ")), "description"),
        (
            "oversized description",
            with("/description", json!("x".repeat(5_001))),
            "description",
        ),
        (
            "oversized help",
            with("/help_needed", json!("x".repeat(2_001))),
            "help_needed",
        ),
        (
            "future time",
            with("/occurred_at", json!("2999-01-01T00:00:00Z")),
            "occurred_at",
        ),
        (
            "unknown field",
            with("/help_needed", json!("x"))
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("severity".into(), json!("high"));
                    Value::Object(o)
                })
                .unwrap(),
            "severity",
        ),
    ];
    for (what, body, field) in cases {
        let (status, answer) = hub.post("/api/v1/reports", &amani, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{what}: {answer}");
    }
    let (status, answer) = hub
        .call_raw("POST", "/api/v1/reports", &amani.token, b"{\"category\":".to_vec())
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    let (status, _) = hub.call("POST", "/api/v1/reports", None, Some(good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.get("/api/v1/reports", &watch).await.1, json!([]));

    let missing = format!("/api/v1/reports/{}/triage", uuid::Uuid::new_v4());
    assert_eq!(
        hub.post(&missing, &watch, json!({"status": "confirmed"})).await.0,
        StatusCode::NOT_FOUND
    );
    let stored = submit(&hub, &amani, report("crime", BENI, "Theft")).await;
    let triage = format!("/api/v1/reports/{}/triage", stored["id"].as_str().unwrap());
    let (status, answer) = hub.post(&triage, &watch, json!({"status": "new"})).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("status"))
    );
    let promote = format!("/api/v1/reports/{}/promote", stored["id"].as_str().unwrap());
    let (status, answer) = hub
        .post(
            &promote,
            &watch,
            json!({"area": {"description": "x",
        "geometry": {"type": "Point", "coordinates": [29.0, 0.5]}, "radius_m": -1}}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("area.radius_m"))
    );
    assert_eq!(hub.stored_alerts().await, 0);
    assert_eq!(
        hub.get("/api/v1/reports?status=new", &watch)
            .await
            .1
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    hub.stop().await;
}
