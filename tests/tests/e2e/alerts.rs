//! Alerts reach exactly the people inside their area, live, and survive a restart.

use crate::harness::{circle_alert, polygon_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::json;

const BENI: (f64, f64) = (0.4911, 29.4731);
const GOMA: (f64, f64) = (-1.6792, 29.2228);
const BUTEMBO: (f64, f64) = (0.1413, 29.2908);

on_both_backends!(
    circle_reaches_exactly_the_staff_inside,
    polygon_reaches_the_staff_inside_it,
    officers_streams_follow_their_countries,
    security_officer_cannot_send_outside_its_countries,
    update_and_cancel_reach_the_same_recipients,
    restart_keeps_alerts_and_accounts,
    staff_see_only_alerts_sent_to_them,
    cap_export_is_valid_cap,
    an_alert_without_an_expiry_lasts_a_day,
);

async fn at(hub: &TestHub, who: &Account, (lat, lon): (f64, f64)) {
    let (status, body) = hub
        .post(
            "/api/v1/me/location",
            who,
            json!({"lat": lat, "lon": lon, "accuracy_m": 15}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn circle_reaches_exactly_the_staff_inside(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let in_beni = hub.account("amani", Role::Staff, &[], Some(GOMA)).await;
    let in_goma = hub.account("bahati", Role::Staff, &[], None).await;
    let based_in_beni = hub.account("chausiku", Role::Staff, &[], Some(BENI)).await;
    let based_in_beni_now_in_goma = hub.account("dunia", Role::Staff, &[], Some(BENI)).await;
    at(&hub, &in_beni, BENI).await;
    at(&hub, &in_goma, GOMA).await;
    at(&hub, &based_in_beni_now_in_goma, GOMA).await;
    let mut streams = [
        hub.stream(&in_beni).await,
        hub.stream(&based_in_beni).await,
        hub.stream(&in_goma).await,
        hub.stream(&based_in_beni_now_in_goma).await,
    ];

    let (status, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(alert["recipients"], 2);
    assert_eq!(alert["msg_type"], "alert");
    assert_eq!(alert["sender"], "kivu.officer");
    assert_eq!(alert["countries"], json!(["CD"]));
    // Beni keeps east Congo's time, not that of Kinshasa, the country's first zone.
    assert_eq!(alert["time_zone"], "Africa/Lubumbashi");
    let (_, read) = hub
        .get(&format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()), &officer)
        .await;
    assert_eq!(read["time_zone"], "Africa/Lubumbashi", "{read}");

    let [inside, by_duty_station, outside, moved_away] = &mut streams;
    for stream in [inside, by_duty_station] {
        let envelope = stream.expect("alert").await;
        assert_eq!(envelope["alert"]["id"], alert["id"]);
        assert_eq!(envelope["alert"]["headline"], "Clashes near Beni");
        assert_eq!(envelope["alert"]["time_zone"], "Africa/Lubumbashi");
    }
    outside.expect_silence().await;
    moved_away.expect_silence().await;
    hub.stop().await;
}

async fn polygon_reaches_the_staff_inside_it(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let in_butembo = hub.account("esther", Role::Staff, &[], None).await;
    let in_beni = hub.account("faraja", Role::Staff, &[], None).await;
    at(&hub, &in_butembo, BUTEMBO).await;
    at(&hub, &in_beni, BENI).await;
    let (mut butembo, mut beni) = (hub.stream(&in_butembo).await, hub.stream(&in_beni).await);

    // A box around Butembo that stops short of Beni, 40 km to the north.
    let corners = [(0.05, 29.2), (0.05, 29.4), (0.25, 29.4), (0.25, 29.2)];
    let (status, alert) = hub
        .post("/api/v1/alerts", &officer, polygon_alert("Road blocked", &corners))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(alert["recipients"], 1);
    assert_eq!(butembo.expect("alert").await["alert"]["id"], alert["id"]);
    beni.expect_silence().await;
    hub.stop().await;
}

async fn officers_streams_follow_their_countries(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let drc = hub.account("drc.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let (mut watch_stream, mut drc_stream, mut uganda_stream) = (
        hub.stream(&watch).await,
        hub.stream(&drc).await,
        hub.stream(&uganda).await,
    );

    let (_, in_drc) = hub
        .post("/api/v1/alerts", &watch, circle_alert("Beni", BENI.0, BENI.1, 3000.0))
        .await;
    let (status, in_uganda) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Kampala", 0.3476, 32.5825, 3000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{in_uganda}");
    assert_eq!(in_uganda["countries"], json!(["UG"]));
    assert_eq!(in_uganda["time_zone"], "Africa/Kampala");

    assert_eq!(watch_stream.expect("alert").await["alert"]["id"], in_drc["id"]);
    assert_eq!(watch_stream.expect("alert").await["alert"]["id"], in_uganda["id"]);
    assert_eq!(drc_stream.expect("alert").await["alert"]["id"], in_drc["id"]);
    drc_stream.expect_silence().await;
    assert_eq!(uganda_stream.expect("alert").await["alert"]["id"], in_uganda["id"]);
    uganda_stream.expect_silence().await;

    // Listing follows the same rule.
    let (_, listed) = hub.get("/api/v1/alerts", &uganda).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (_, listed) = hub.get("/api/v1/alerts", &watch).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["id"], in_uganda["id"], "newest first");
    hub.stop().await;
}

async fn security_officer_cannot_send_outside_its_countries(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let (status, body) = hub
        .post("/api/v1/alerts", &uganda, circle_alert("Beni", BENI.0, BENI.1, 3000.0))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"].as_str().unwrap().contains("CD"), "{body}");
    // Straddling the border needs both countries.
    let (status, _) = hub
        .post(
            "/api/v1/alerts",
            &uganda,
            circle_alert("Kasindi", 0.04, 29.72, 30_000.0),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = hub
        .post(
            "/api/v1/alerts",
            &uganda,
            circle_alert("Kampala", 0.3476, 32.5825, 3000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(hub.stored_alerts().await, 1);
    hub.stop().await;
}

async fn update_and_cancel_reach_the_same_recipients(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(GOMA)).await;
    let (mut amani_stream, mut bahati_stream) = (hub.stream(&amani).await, hub.stream(&bahati).await);

    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    amani_stream.expect("alert").await;
    // Amani leaves the area; she still gets what follows of an alert she received.
    at(&hub, &amani, GOMA).await;

    let (status, updated) = hub
        .post(
            &format!("/api/v1/alerts/{id}/update"),
            &officer,
            json!({"severity": "extreme", "headline": "Clashes spreading"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["msg_type"], "update");
    assert_eq!(updated["revision"], 2);
    let envelope = amani_stream.expect("alert_update").await;
    assert_eq!(envelope["alert"]["severity"], "extreme");
    bahati_stream.expect_silence().await;

    let (status, cancelled) = hub
        .post(
            &format!("/api/v1/alerts/{id}/cancel"),
            &officer,
            json!({"reason": "All calm"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let envelope = amani_stream.expect("alert_cancel").await;
    assert_eq!(envelope["alert"]["cancel_reason"], "All calm");
    assert_eq!(envelope["alert"]["revision"], 3);
    bahati_stream.expect_silence().await;

    // A cancelled alert is no longer active and can change no more.
    let (_, active) = hub.get("/api/v1/alerts?active=true", &officer).await;
    assert_eq!(active, json!([]));
    let (status, body) = hub
        .post(
            &format!("/api/v1/alerts/{id}/update"),
            &officer,
            json!({"headline": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    hub.stop().await;
}

async fn restart_keeps_alerts_and_accounts(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(GOMA)).await;
    at(&hub, &amani, BENI).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Before restart", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let mut stream = hub.stream(&amani).await;

    let hub = hub.restart().await;
    assert_eq!(
        stream.next_within(std::time::Duration::from_secs(2)).await.unwrap()["code"],
        1001,
        "going away"
    );

    // Accounts, tokens and alerts are all still there.
    hub.login("amani", crate::harness::PASSWORD)
        .await
        .expect("login after restart");
    let (status, again) = hub
        .get(&format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap()), &officer)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, alert);
    // And so is Amani's last position: a new alert in Beni reaches her, not her duty station's.
    let (_, second) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("After restart", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(second["recipients"], 1);
    hub.stop().await;
}

async fn staff_see_only_alerts_sent_to_them(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(GOMA)).await;
    let (_, alert) = hub
        .post("/api/v1/alerts", &officer, circle_alert("Beni", BENI.0, BENI.1, 5000.0))
        .await;
    let path = format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap());
    assert_eq!(hub.get(&path, &amani).await.0, StatusCode::OK);
    assert_eq!(hub.get(&path, &bahati).await.0, StatusCode::NOT_FOUND);
    assert_eq!(hub.get("/api/v1/alerts", &amani).await.1.as_array().unwrap().len(), 1);
    assert_eq!(hub.get("/api/v1/alerts", &bahati).await.1, json!([]));
    hub.stop().await;
}

async fn cap_export_is_valid_cap(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Clashes <near> Beni & Oicha", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap();
    hub.post(
        &format!("/api/v1/alerts/{id}/update"),
        &officer,
        json!({"urgency": "expected"}),
    )
    .await;
    let response = hub
        .http
        .get(format!("{}/api/v1/alerts/{id}/cap", hub.base))
        .bearer_auth(&officer.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/cap+xml"));
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains("<msgType>Update</msgType>") && xml.contains("<urgency>Expected</urgency>"),
        "{xml}"
    );
    assert!(xml.contains("0.4911,29.4731 5"), "circle in km: {xml}");
    crate::harness::assert_valid_cap(&xml);
    hub.stop().await;
}

/// An officer in a hurry need not work out an expiry: a day from sending, as for CAP imports
/// and promoted reports.
async fn an_alert_without_an_expiry_lasts_a_day(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let mut body = circle_alert("Clashes near Beni", BENI.0, BENI.1, 5_000.0);
    body.as_object_mut().unwrap().remove("expires_at");
    let (status, alert) = hub.post("/api/v1/alerts", &watch, body).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let time = |field: &str| chrono::DateTime::parse_from_rfc3339(alert[field].as_str().unwrap()).unwrap();
    let lifetime = time("expires_at") - time("sent_at");
    assert!(
        (lifetime - chrono::Duration::hours(24)).num_seconds().abs() < 60,
        "{lifetime}"
    );
    hub.stop().await;
}
