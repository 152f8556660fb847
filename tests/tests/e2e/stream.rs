//! The WebSocket stream: authentication, client messages, and errors for bad ones.

use crate::harness::{circle_alert, Backend, Stream, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

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
    // The field at fault is named, as in an HTTP 422.
    stream
        .send(json!({"type": "checkin", "alert_id": "not-an-id", "status": "safe", "ref": "m2"}))
        .await;
    let error = stream.expect("error").await;
    assert!(error["message"].as_str().unwrap().starts_with("alert_id: "), "{error}");
    assert_eq!(error["ref"], "m2");
    stream.send_raw("{not json").await;
    assert_eq!(stream.expect("error").await["code"], "malformed_json");
    assert!(hub.app.store.staff_records().await.unwrap()[0].position.is_none());
    hub.stop().await;
}

/// A hub, Amani's stream on it, and an alert to her that asks for her answer, which her stream
/// has had.
async fn an_alert_to_answer() -> (TestHub, Stream, Value) {
    let hub = TestHub::start(Backend::Sqlite).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some((0.49, 29.47))).await;
    let mut stream = hub.stream(&amani).await;
    let mut alert = circle_alert("Clashes", 0.49, 29.47, 5000.0);
    alert["checkin_required"] = json!(true);
    let (_, alert) = hub.post("/api/v1/alerts", &watch, alert).await;
    stream.expect("alert").await;
    (hub, stream, alert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_checkins_at_once_all_get_an_answer() {
    let (hub, mut stream, alert) = an_alert_to_answer().await;
    for i in 0..30 {
        stream
            .send(json!({"type": "checkin", "alert_id": alert["id"], "status": "safe", "ref": i.to_string()}))
            .await;
    }
    // Binary frames count too, and are answered as well.
    use futures_util::SinkExt as _;
    stream
        .socket
        .send(tokio_tungstenite::tungstenite::Message::Binary(b"{}".to_vec()))
        .await
        .unwrap();
    let mut answered = std::collections::BTreeMap::new();
    let mut binary = None;
    while answered.len() < 30 || binary.is_none() {
        let envelope = stream
            .next_within(std::time::Duration::from_secs(5))
            .await
            .expect("every message is answered");
        match envelope["ref"].as_str() {
            Some(reference) => {
                answered.insert(reference.to_owned(), envelope["type"].as_str().unwrap().to_owned());
            }
            None => binary = Some(envelope),
        }
    }
    let acks = answered.values().filter(|t| *t == "checkin_ack").count();
    assert_eq!(acks, 20, "the rate: 20 a second; {answered:?}");
    assert_eq!(answered.len(), 30, "the other ten are told, by their ref");
    assert_eq!(binary.unwrap()["code"], "rate_limited");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_many_reads_long_is_answered() {
    let (hub, mut stream, alert) = an_alert_to_answer().await;
    // 40 KiB of JSON (whitespace is JSON too), within the 64 KiB a client may send: many times
    // what the stream's read buffer takes at once.
    let checkin = json!({"type": "checkin", "alert_id": alert["id"], "status": "safe", "ref": "long"});
    stream.send_raw(&format!("{}{checkin}", " ".repeat(40 * 1024))).await;
    let ack = stream.expect("checkin_ack").await;
    assert_eq!(ack["ref"], "long", "{ack}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_close_with_the_rfc_6455_codes_and_plain_requests_get_the_error_body() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::protocol::frame::{coding::Data, coding::OpCode, Frame};
    use tokio_tungstenite::tungstenite::Message;
    let hub = TestHub::start(Backend::Sqlite).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;

    let mut stream = hub.stream(&amani).await;
    stream.socket.send(Message::Text("x".repeat(100 * 1024))).await.unwrap();
    let closed = stream.next_within(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(closed, json!({"type": "closed", "code": 1009}));

    let mut stream = hub.stream(&amani).await;
    let frame = Frame::message(vec![0xff, 0xfe, b'{'], OpCode::Data(Data::Text), true);
    stream.socket.send(Message::Frame(frame)).await.unwrap();
    let closed = stream.next_within(std::time::Duration::from_secs(5)).await.unwrap();
    assert_eq!(closed, json!({"type": "closed", "code": 1007}));

    // No upgrade, and a console file whose name is not UTF-8: the contract's error body.
    let (status, body) = hub.get("/api/v1/stream", &amani).await;
    assert_eq!(status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(body["error"]["code"], "upgrade_required");
    let (status, body) = hub.call("GET", "/console/%FF%FE.js", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    hub.stop().await;
}
