//! SOS: raised from the phone, announced to the right officers at once, followed, reminded,
//! acknowledged and resolved; and the audit trail of what officers did.

use crate::harness::{circle_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::json;
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
const KAMPALA: (f64, f64) = (0.3476, 32.5825);

on_both_backends!(
    an_sos_reaches_the_officers_concerned_and_is_followed_to_resolution,
    an_unacknowledged_sos_is_announced_again,
    officer_actions_are_audited,
    histories_are_scoped_before_their_limit_and_paged,
);

async fn an_sos_reaches_the_officers_concerned_and_is_followed_to_resolution(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let (mut watch_stream, mut kivu_stream, mut uganda_stream, mut amani_stream) = (
        hub.stream(&watch).await,
        hub.stream(&kivu).await,
        hub.stream(&uganda).await,
        hub.stream(&amani).await,
    );

    let (status, sos) = hub
        .post(
            "/api/v1/sos",
            &amani,
            json!({"position": {"lat": BENI.0, "lon": BENI.1}, "note": "car stopped at a roadblock"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sos}");
    assert_eq!(
        (
            sos["status"].as_str(),
            sos["countries"].clone(),
            sos["time_zone"].as_str()
        ),
        (Some("open"), json!(["CD"]), Some("Africa/Lubumbashi"))
    );
    let id = sos["id"].as_str().unwrap();
    for stream in [&mut watch_stream, &mut kivu_stream, &mut amani_stream] {
        assert_eq!(stream.expect("sos").await["sos"]["id"], sos["id"]);
    }
    uganda_stream.expect_silence().await;
    let (_, open) = hub.get("/api/v1/sos?status=open", &kivu).await;
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(hub.get("/api/v1/sos", &uganda).await.1, json!([]));

    // Later positions follow the SOS as a trail.
    hub.post("/api/v1/me/location", &amani, json!({"lat": 0.50, "lon": 29.48}))
        .await;
    let moved = kivu_stream.expect("sos_update").await;
    assert_eq!(moved["sos"]["trail"].as_array().unwrap().len(), 1);
    assert_eq!(moved["sos"]["position"], json!({"lat": 0.50, "lon": 29.48}));
    watch_stream.expect("sos_update").await;
    amani_stream.expect("sos_update").await;

    // A second press while it is open adds to the same SOS.
    let (status, again) = hub
        .post("/api/v1/sos", &amani, json!({"note": "they are taking the car"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["id"], sos["id"]);
    assert_eq!(again["announcements"], 2);
    kivu_stream.expect("sos_update").await;
    amani_stream.expect("sos_update").await;

    let ack = format!("/api/v1/sos/{id}/ack");
    assert_eq!(hub.post(&ack, &uganda, json!({})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hub.post(&ack, &amani, json!({})).await.0, StatusCode::FORBIDDEN);
    let (status, acknowledged) = hub.call("POST", &ack, Some(&kivu.token), None).await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(acknowledged["acknowledged_by"], "kivu.officer");
    assert_eq!(amani_stream.expect("sos_update").await["sos"]["status"], "acknowledged");
    let (status, body) = hub.post(&ack, &watch, json!({"note": "me too"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("sos_changed"))
    );

    let resolve = format!("/api/v1/sos/{id}/resolve");
    let (status, body) = hub.post(&resolve, &kivu, json!({})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("note"))
    );
    let (status, resolved) = hub
        .post(&resolve, &kivu, json!({"note": "released after two hours, unharmed"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(
        amani_stream.expect("sos_update").await["sos"]["resolution"],
        "released after two hours, unharmed"
    );
    assert_eq!(hub.get("/api/v1/sos?status=open", &watch).await.1, json!([]));
    hub.stop().await;
}

async fn an_unacknowledged_sos_is_announced_again(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| c.sos_reannounce_s = 1).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut watch_stream = hub.stream(&watch).await;
    let mut amani_stream = hub.stream(&amani).await;
    amani_stream.send(json!({"type": "sos", "ref": "s1"})).await;
    let raised = watch_stream.expect("sos").await;
    assert_eq!(
        raised["sos"]["countries"],
        json!(["CD"]),
        "placed by the duty station without a position"
    );
    let reminder = watch_stream
        .next_within(Duration::from_secs(4))
        .await
        .expect("announced again");
    assert_eq!(
        (reminder["type"].as_str(), reminder["sos"]["announcements"].as_u64()),
        (Some("sos_update"), Some(2))
    );
    let id = raised["sos"]["id"].as_str().unwrap();
    hub.post(&format!("/api/v1/sos/{id}/ack"), &watch, json!({"note": "calling her"}))
        .await;
    assert_eq!(watch_stream.expect("sos_update").await["sos"]["status"], "acknowledged");
    // Acknowledged: the reminders stop.
    assert!(watch_stream.next_within(Duration::from_secs(3)).await.is_none());
    hub.stop().await;
}

async fn officer_actions_are_audited(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let (_, alert) = hub
        .post("/api/v1/alerts", &kivu, circle_alert("Clashes", BENI.0, BENI.1, 5000.0))
        .await;
    let id = alert["id"].as_str().unwrap();
    hub.post(
        &format!("/api/v1/alerts/{id}/update"),
        &kivu,
        json!({"severity": "extreme"}),
    )
    .await;
    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &watch,
        json!({"status": "safe", "staff_id": amani.user.id, "via": "phone"}),
    )
    .await;
    hub.post(&format!("/api/v1/alerts/{id}/cancel"), &kivu, json!({"reason": "calm"}))
        .await;

    let (status, trail) = hub.get("/api/v1/audit", &watch).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["alert.cancelled", "checkin.proxy", "alert.updated", "alert.sent"],
        "{trail}"
    );
    assert_eq!(trail[2]["detail"]["changed"], json!({"severity": "extreme"}));
    assert_eq!(trail[1]["actor"], "manila.watch");
    assert_eq!(hub.get("/api/v1/audit", &kivu).await.1.as_array().unwrap().len(), 4);
    assert_eq!(hub.get("/api/v1/audit", &uganda).await.1, json!([]));
    assert_eq!(hub.get("/api/v1/audit", &amani).await.0, StatusCode::FORBIDDEN);
    hub.stop().await;
}

/// The console's history asks for a page of resolved calls and one of cancelled alerts: an
/// officer's and a person's own are found however many newer ones other countries have, and
/// older pages follow by time.
async fn histories_are_scoped_before_their_limit_and_paged(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let grace = hub.account("grace", Role::Staff, &[], Some(KAMPALA)).await;
    let in_congo = raise_and_resolve(&hub, &amani, &watch).await;
    let mut in_uganda = Vec::new();
    for _ in 0..3 {
        in_uganda.push(raise_and_resolve(&hub, &grace, &watch).await);
    }
    let ids = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, kivu_page) = hub.get("/api/v1/sos?status=resolved&limit=1", &kivu).await;
    assert_eq!(
        ids(&kivu_page),
        std::slice::from_ref(&in_congo),
        "the Kivu officer's call behind three newer Ugandan ones"
    );
    let (_, own) = hub.get("/api/v1/sos?limit=1", &amani).await;
    assert_eq!(ids(&own), std::slice::from_ref(&in_congo));
    let (_, first) = hub.get("/api/v1/sos?status=resolved&limit=2", &watch).await;
    assert_eq!(ids(&first), [in_uganda[2].clone(), in_uganda[1].clone()]);
    let oldest = first[1]["raised_at"].as_str().unwrap();
    let (_, next) = hub
        .get(
            &format!("/api/v1/sos?status=resolved&limit=2&before={}", urlencoding(oldest)),
            &watch,
        )
        .await;
    assert_eq!(ids(&next), [in_uganda[0].clone(), in_congo.clone()]);

    // Cancelled alerts likewise, behind newer active ones.
    let (_, old) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let old_id = old["id"].as_str().unwrap();
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{old_id}/cancel"),
            &watch,
            json!({"reason": "calm again"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for n in 0..2 {
        hub.post(
            "/api/v1/alerts",
            &watch,
            circle_alert(&format!("Roadblock {n}"), BENI.0, BENI.1, 5000.0),
        )
        .await;
    }
    let (_, cancelled) = hub.get("/api/v1/alerts?cancelled=true&limit=1", &kivu).await;
    assert_eq!(ids(&cancelled), [old_id.to_owned()]);
    let (status, refused) = hub.get("/api/v1/alerts?cancelled=true&active=true", &watch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
}

async fn raise_and_resolve(hub: &TestHub, who: &Account, officer: &Account) -> String {
    let (status, sos) = hub.post("/api/v1/sos", who, json!({"note": "help"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sos}");
    let id = sos["id"].as_str().unwrap().to_owned();
    for step in ["ack", "resolve"] {
        let (status, body) = hub
            .post(
                &format!("/api/v1/sos/{id}/{step}"),
                officer,
                json!({"note": "called, fine"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    id
}

/// A timestamp as a query value (its `+` would read as a space).
fn urlencoding(at: &str) -> String {
    at.replace('+', "%2B").replace(':', "%3A")
}
