//! CAP import: a CAP 1.2 document becomes an alert that is sent; an exported alert imports with
//! its fields preserved; hostile or broken XML is refused and stores nothing.

use crate::harness::{assert_valid_cap, circle_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BENI: (f64, f64) = (0.4911, 29.4731);

on_both_backends!(
    an_exported_alert_imports_with_its_fields_and_is_sent,
    bad_cap_documents_are_refused_and_store_nothing,
);

async fn import(hub: &TestHub, who: &Account, xml: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let response = hub
        .http
        .post(format!("{}/api/v1/alerts/import", hub.base))
        .bearer_auth(&who.token)
        .header("content-type", "application/cap+xml")
        // The hub answers an oversized body before reading it and closes the connection; a
        // pooled connection reused after that would fail the next request.
        .header("connection", "close")
        .body(xml)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn cap_of(hub: &TestHub, who: &Account, alert: &Value) -> String {
    let url = format!("{}/api/v1/alerts/{}/cap", hub.base, alert["id"].as_str().unwrap());
    let response = hub.http.get(url).bearer_auth(&who.token).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.expect("a CAP document")
}

async fn an_exported_alert_imports_with_its_fields_and_is_sent(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut body = circle_alert("Clashes & roadblocks near \"Beni\"", BENI.0, BENI.1, 5000.0);
    body["category"] = json!("safety");
    body["certainty"] = json!("likely");
    body["status"] = json!("exercise");
    let (status, original) = hub.post("/api/v1/alerts", &kivu, body).await;
    assert_eq!(status, StatusCode::CREATED, "{original}");
    let xml = cap_of(&hub, &kivu, &original).await;
    assert_valid_cap(&xml);

    let mut stream = hub.stream(&amani).await;
    assert_eq!(import(&hub, &uganda, xml.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(import(&hub, &amani, xml.clone()).await.0, StatusCode::FORBIDDEN);
    let (status, imported) = import(&hub, &kivu, xml).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    assert_ne!(imported["id"], original["id"]);
    for field in [
        "headline",
        "description",
        "instruction",
        "event",
        "category",
        "urgency",
        "severity",
        "certainty",
        "status",
        "area",
        "checkin_required",
        "checkin_deadline_s",
        "countries",
    ] {
        assert_eq!(imported[field], original[field], "{field}");
    }
    let expiry = |a: &Value| {
        a["expires_at"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp()
    };
    assert_eq!(expiry(&imported), expiry(&original), "CAP carries whole seconds");
    assert_eq!(
        (&imported["recipients"], &imported["sender"]),
        (&json!(1), &json!("kivu.officer"))
    );
    assert_eq!(stream.expect("alert").await["alert"]["id"], imported["id"]);
    assert_valid_cap(&cap_of(&hub, &kivu, &imported).await);

    let (_, trail) = hub.get("/api/v1/audit", &kivu).await;
    assert_eq!(trail[0]["action"], "alert.imported", "{trail}");
    assert_eq!(
        trail[0]["detail"]["identifier"],
        format!("urn:uuid:{}", original["id"].as_str().unwrap())
    );
    hub.stop().await;
}

const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>GDACS_FL_4242_1</identifier><sender>info@gdacs.org</sender>
  <sent>2026-11-22T08:00:00+00:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Met</category><event>Flood</event><urgency>Expected</urgency><severity>Severe</severity>
    <certainty>Likely</certainty><headline>Flooding along the Semliki</headline>
    <area><areaDesc>Beni territory</areaDesc><circle>0.4911,29.4731 20</circle></area></info>
</alert>"#;

async fn bad_cap_documents_are_refused_and_store_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let entity_bomb = GOOD
        .replace(
            "<alert xmlns",
            r#"<!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><alert xmlns"#,
        )
        .replace("Beni territory", "&b;");
    let external = GOOD
        .replace(
            "<alert xmlns",
            r#"<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert xmlns"#,
        )
        .replace("Beni territory", "&x;");
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        (
            "entity expansion",
            entity_bomb,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "external entity",
            external,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "undeclared entity",
            GOOD.replace("Beni territory", "&x;"),
            StatusCode::BAD_REQUEST,
            "malformed_xml",
        ),
        (
            "unclosed element",
            GOOD.replace("</info>", ""),
            StatusCode::BAD_REQUEST,
            "malformed_xml",
        ),
        (
            "not XML",
            "{\"headline\": \"x\"}".into(),
            StatusCode::BAD_REQUEST,
            "malformed_xml",
        ),
        ("empty", String::new(), StatusCode::BAD_REQUEST, "malformed_xml"),
        (
            "other namespace",
            GOOD.replace("emergency:cap:1.2", "emergency:cap:1.1"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "a cancellation",
            GOOD.replace(">Alert<", ">Cancel<"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "unknown severity",
            GOOD.replace(">Severe<", ">Awful<"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "latitude 91",
            GOOD.replace("0.4911,29.4731", "91,29.4731"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "expired",
            GOOD.replace(
                "</certainty>",
                "</certainty><expires>2020-01-01T00:00:00+00:00</expires>",
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "oversized",
            format!("{GOOD}<!--{}-->", "x".repeat(600 * 1024)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (what, xml, status, code) in cases {
        let (got, answer) = import(&hub, &watch, xml).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {answer}"
        );
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    assert_eq!(hub.stored_alerts().await, 0);

    let (status, alert) = import(&hub, &watch, GOOD).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(
        (
            &alert["headline"],
            &alert["category"],
            &alert["area"]["radius_m"],
            &alert["countries"]
        ),
        (
            &json!("Flooding along the Semliki"),
            &json!("met"),
            &json!(20000.0),
            &json!(["CD"])
        )
    );
    hub.stop().await;
}
