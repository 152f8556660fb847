//! What the console's guarded actions rest on: a cancelled alert's headcount stays open for the
//! people still in trouble until their case is settled; the audit trail of one subject (the
//! history view's); the names a preview shows in the review before sending.

use crate::harness::{circle_alert, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::json;

const BENI: (f64, f64) = (0.4911, 29.4731);

on_both_backends!(
    a_cancelled_headcount_stays_open_for_people_in_trouble,
    the_audit_trail_of_one_subject,
    a_preview_names_some_of_the_people_it_reaches,
);

async fn a_cancelled_headcount_stays_open_for_people_in_trouble(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some((0.48, 29.46))).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some((0.50, 29.48))).await;
    let chausiku = hub.account("chausiku", Role::Staff, &[], Some((0.47, 29.49))).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some((0.51, 29.45))).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 8000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap().to_owned();
    let checkins = format!("/api/v1/alerts/{id}/checkins");
    for (who, status) in [(&amani, "need_help"), (&dunia, "safe")] {
        let (code, body) = hub.post(&checkins, who, json!({"status": status})).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let (code, _) = hub.post("/api/v1/sos", &chausiku, json!({})).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/cancel"),
            &watch,
            json!({"reason": "Calm again"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    let proxy = |who: &scaan_schemas::User| json!({"status": "safe", "staff_id": who.id, "via": "phone"});
    // Nobody else's headcount stays open: Bahati was silent, Dunia safe.
    for (who, body) in [(&watch, proxy(&bahati.user)), (&dunia, json!({"status": "safe"}))] {
        let (code, answer) = hub.post(&checkins, who, body).await;
        assert_eq!(code, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["error"]["code"], "alert_cancelled");
    }
    // Amani needed help and Chausiku has an open SOS: their cases are followed up.
    for who in [&amani, &chausiku] {
        let (code, answer) = hub.post(&checkins, &watch, proxy(&who.user)).await;
        assert_eq!(code, StatusCode::CREATED, "{answer}");
    }
    let (_, board) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    let status = |name: &str| {
        board["staff"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["username"] == name)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!((status("amani"), status("chausiku")), (json!("safe"), json!("safe")));
    assert_eq!(board["safe"], 3, "{board}");
    // Amani's case is settled: her headcount is closed now. Chausiku's SOS is still open.
    let (code, answer) = hub.post(&checkins, &amani, json!({"status": "need_help"})).await;
    assert_eq!(
        (code, answer["error"]["code"].clone()),
        (StatusCode::CONFLICT, json!("alert_cancelled"))
    );
    let (code, _) = hub.post(&checkins, &chausiku, json!({"status": "need_help"})).await;
    assert_eq!(code, StatusCode::CREATED);
    hub.stop().await;
}

async fn the_audit_trail_of_one_subject(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let uganda = hub
        .account("kampala.officer", Role::SecurityOfficer, &["UG"], None)
        .await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut ids = Vec::new();
    for headline in ["First", "Second"] {
        let (_, alert) = hub
            .post("/api/v1/alerts", &watch, circle_alert(headline, BENI.0, BENI.1, 5000.0))
            .await;
        ids.push(alert["id"].as_str().unwrap().to_owned());
    }
    let (code, _) = hub
        .post(
            &format!("/api/v1/alerts/{}/cancel", ids[0]),
            &watch,
            json!({"reason": "Sent by mistake"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);

    let (code, trail) = hub.get(&format!("/api/v1/audit?subject={}", ids[0]), &kivu).await;
    assert_eq!(code, StatusCode::OK, "{trail}");
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["alert.cancelled", "alert.sent"],
        "newest first, only the first alert's"
    );
    assert!(trail
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["subject"] == ids[0].as_str()));
    // Officers of other countries see none of it; a bad id is a 400 naming the parameter.
    let (_, other) = hub.get(&format!("/api/v1/audit?subject={}", ids[0]), &uganda).await;
    assert_eq!(other, json!([]));
    let (code, bad) = hub.get("/api/v1/audit?subject=not-an-id", &watch).await;
    assert!(code.is_client_error(), "{code} {bad}");
    hub.stop().await;
}

async fn a_preview_names_some_of_the_people_it_reaches(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    for i in 0..10 {
        hub.account(&format!("staff{i:02}"), Role::Staff, &[], Some(BENI)).await;
    }
    let (code, preview) = hub
        .post(
            "/api/v1/alerts/preview",
            &watch,
            circle_alert("Preview", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{preview}");
    assert_eq!(preview["recipients"], 10);
    let names: Vec<&str> = preview["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 8, "{preview}");
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "alphabetical: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("Test staff")));
    // Nobody inside: no names.
    let (_, empty) = hub
        .post(
            "/api/v1/alerts/preview",
            &watch,
            circle_alert("Preview", -1.68, 29.22, 1000.0),
        )
        .await;
    assert_eq!(
        (empty["recipients"].clone(), empty["names"].clone()),
        (json!(0), json!([]))
    );
    hub.stop().await;
}
