//! The WebSocket stream: authentication, client messages, and errors for bad ones.

use crate::harness::{circle_alert, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::json;

on_both_backends!(
    browsers_authenticate_with_a_query_token,
    locations_sent_on_the_stream_place_staff,
    bad_stream_messages_get_error_envelopes
);

async fn browsers_authenticate_with_a_query_token(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let url = format!(
        "{}/api/v1/stream?access_token={}",
        hub.base.replace("http://", "ws://"),
        watch.token
    );
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("query token accepted");
    hub.post("/api/v1/alerts", &watch, circle_alert("x", 0.49, 29.47, 1000.0))
        .await;
    let mut stream = crate::harness::Stream { socket };
    stream.expect("alert").await;

    let bad = format!(
        "{}/api/v1/stream?access_token=wrong",
        hub.base.replace("http://", "ws://")
    );
    let err = tokio_tungstenite::connect_async(bad).await.unwrap_err();
    assert!(
        matches!(err, tokio_tungstenite::tungstenite::Error::Http(ref r) if r.status() == StatusCode::UNAUTHORIZED),
        "{err}"
    );
    // Outside an upgrade the query token is not accepted: tokens stay out of ordinary URLs.
    let (status, _) = hub
        .call("GET", &format!("/api/v1/me?access_token={}", watch.token), None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    hub.stop().await;
}

async fn locations_sent_on_the_stream_place_staff(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some((-1.68, 29.22))).await;
    let mut stream = hub.stream(&amani).await;
    stream
        .send(json!({"type": "location", "lat": 0.49, "lon": 29.47, "accuracy_m": 20}))
        .await;
    // The location is acted on without a reply; wait until it is stored.
    for _ in 0..50 {
        if hub.app.store.staff_records().await.unwrap()[0].position.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, alert) = hub
        .post("/api/v1/alerts", &watch, circle_alert("Beni", 0.49, 29.47, 2000.0))
        .await;
    assert_eq!(alert["recipients"], 1);
    assert_eq!(stream.expect("alert").await["alert"]["id"], alert["id"]);
    hub.stop().await;
}

async fn bad_stream_messages_get_error_envelopes(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let mut stream = hub.stream(&amani).await;
    stream
        .send(json!({"type": "location", "lat": 91, "lon": 0, "ref": "m1"}))
        .await;
    let error = stream.expect("error").await;
    assert_eq!(error["code"], "invalid_field");
    assert_eq!(error["ref"], "m1");
    stream.send(json!({"type": "dance"})).await;
    assert_eq!(stream.expect("error").await["code"], "invalid_field");
    stream.send_raw("{not json").await;
    assert_eq!(stream.expect("error").await["code"], "malformed_json");
    assert!(hub.app.store.staff_records().await.unwrap()[0].position.is_none());
    hub.stop().await;
}
