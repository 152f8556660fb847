//! Every class of bad input gets the contract's error, names the field, and stores nothing.

use crate::harness::{circle_alert, polygon_alert, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

on_both_backends!(
    bad_alerts_are_refused_and_store_nothing,
    bad_locations_are_refused,
    bad_ids_and_queries
);

async fn bad_alerts_are_refused_and_store_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let staff = hub.account("amani", Role::Staff, &[], None).await;
    let good = circle_alert("Clashes", 0.49, 29.47, 5000.0);
    let with = |pointer: &str, value: Value| {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "latitude 91",
            with("/area/geometry/coordinates", json!([29.47, 91.0])),
            "area.geometry.coordinates[1]",
        ),
        (
            "longitude -181",
            with("/area/geometry/coordinates", json!([-181.0, 0.0])),
            "area.geometry.coordinates[0]",
        ),
        ("radius 0", with("/area/radius_m", json!(0)), "area.radius_m"),
        ("negative radius", with("/area/radius_m", json!(-5)), "area.radius_m"),
        ("unknown urgency", with("/urgency", json!("soonish")), "urgency"),
        ("unknown category", with("/category", json!("weather")), "category"),
        ("unknown status", with("/status", json!("draft")), "status"),
        ("empty headline", with("/headline", json!("  ")), "headline"),
        ("headline of the wrong type", with("/headline", json!(7)), "headline"),
        (
            "expiry in the past",
            with("/expires_at", json!("2020-01-01T00:00:00Z")),
            "expires_at",
        ),
        (
            "expiry not a time",
            with("/expires_at", json!("tomorrow")),
            "expires_at",
        ),
        (
            "unknown field",
            with("/checkin_required", json!(true))
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("instructions".into(), json!("typo"));
                    Value::Object(o)
                })
                .unwrap(),
            "instructions",
        ),
        (
            "open polygon",
            {
                let mut body = polygon_alert("x", &[(0.0, 29.0), (0.0, 29.5), (0.5, 29.5)]);
                body["area"]["geometry"]["coordinates"][0].as_array_mut().unwrap().pop();
                body["area"]["geometry"]["coordinates"][0]
                    .as_array_mut()
                    .unwrap()
                    .push(json!([29.0, 0.5]));
                body
            },
            "area.geometry.coordinates[0]",
        ),
        (
            "self-intersecting polygon",
            polygon_alert("x", &[(0.0, 29.0), (0.5, 29.5), (0.0, 29.5), (0.5, 29.0)]),
            "area.geometry.coordinates",
        ),
        (
            "polygon with a radius",
            {
                let mut body = polygon_alert("x", &[(0.0, 29.0), (0.0, 29.5), (0.5, 29.5)]);
                body["area"]["radius_m"] = json!(10);
                body
            },
            "area.radius_m",
        ),
        (
            "circle without a radius",
            {
                let mut body = good.clone();
                body["area"].as_object_mut().unwrap().remove("radius_m");
                body
            },
            "area.radius_m",
        ),
        (
            "missing headline",
            {
                let mut body = good.clone();
                body.as_object_mut().unwrap().remove("headline");
                body
            },
            "",
        ),
    ];
    for (what, body, field) in cases {
        let (status, answer) = hub.post("/api/v1/alerts", &officer, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_field", "{what}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], field, "{what}: {answer}");
        }
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }

    let (status, answer) = hub
        .call_raw("POST", "/api/v1/alerts", &officer.token, b"{\"headline\": ".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["code"], "malformed_json");
    let (status, answer) = hub
        .call_raw("POST", "/api/v1/alerts", &officer.token, vec![b' '; 2 << 20])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], "body_too_large");

    let (status, answer) = hub.call("POST", "/api/v1/alerts", None, Some(good.clone())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let (status, _) = hub
        .call("POST", "/api/v1/alerts", Some("not-a-token"), Some(good.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = hub.post("/api/v1/alerts", &staff, good.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, _) = hub
        .post(
            "/api/v1/alerts",
            &officer,
            circle_alert("Kampala", 0.3476, 32.5825, 3000.0),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    assert_eq!(hub.stored_alerts().await, 0, "bad input must store nothing");
    hub.stop().await;
}

async fn bad_locations_are_refused(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let staff = hub.account("amani", Role::Staff, &[], None).await;
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for (body, field) in [
        (json!({"lat": 95, "lon": 0}), "lat"),
        (json!({"lat": 0, "lon": 200}), "lon"),
        (json!({"lat": 0, "lon": 0, "accuracy_m": -3}), "accuracy_m"),
        (json!({"lat": 0, "lon": 0, "recorded_at": future}), "recorded_at"),
        (json!({"lat": "north", "lon": 0}), "lat"),
        (json!({"lon": 0}), ""),
    ] {
        let (status, answer) = hub.post("/api/v1/me/location", &staff, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        if !field.is_empty() {
            assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
        }
    }
    assert!(
        hub.app.store.staff_records().await.unwrap()[0].position.is_none(),
        "no position stored"
    );
    hub.stop().await;
}

async fn bad_ids_and_queries(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let officer = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let (status, body) = hub.get("/api/v1/alerts/not-a-uuid", &officer).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = hub
        .get(&format!("/api/v1/alerts/{}", uuid::Uuid::new_v4()), &officer)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{}/cancel", uuid::Uuid::new_v4()),
            &officer,
            json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = hub.get("/api/v1/alerts?active=perhaps", &officer).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, alert) = hub
        .post("/api/v1/alerts", &officer, circle_alert("x", 0.49, 29.47, 1000.0))
        .await;
    let id = alert["id"].as_str().unwrap();
    let (status, body) = hub
        .post(&format!("/api/v1/alerts/{id}/update"), &officer, json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = hub
        .post(
            &format!("/api/v1/alerts/{id}/update"),
            &officer,
            json!({"expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "expires_at");
    let (status, body) = hub
        .post(&format!("/api/v1/alerts/{id}/cancel"), &officer, json!({"reason": ""}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, unchanged) = hub.get(&format!("/api/v1/alerts/{id}"), &officer).await;
    assert_eq!(unchanged, alert, "refused changes change nothing");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_loris_is_cut_off_while_a_normal_client_is_served() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let hub =
        crate::harness::TestHub::start_configured(crate::harness::Backend::Sqlite, |c| c.header_read_timeout_s = 1)
            .await;
    let address = hub.base.trim_start_matches("http://").to_owned();
    let mut loris = tokio::net::TcpStream::connect(&address).await.unwrap();
    loris
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let trickle = async {
        // One header byte every 200 ms, never finishing.
        loop {
            if loris.write_all(b"X").await.is_err() {
                return;
            }
            let mut byte = [0u8; 64];
            match tokio::time::timeout(std::time::Duration::from_millis(200), loris.read(&mut byte)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => return, // an answer (408) is as good as a close
                Err(_) => continue,
            }
        }
    };
    let cut_off = async {
        tokio::time::timeout(std::time::Duration::from_secs(5), trickle)
            .await
            .expect("cut off within the header-read timeout");
        started.elapsed()
    };
    let served = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        hub.call("GET", "/healthz", None, None).await.0
    };
    let (elapsed, status) = tokio::join!(cut_off, served);
    assert_eq!(status, reqwest::StatusCode::OK, "a normal client is served meanwhile");
    assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_field_is_named_in_the_422() {
    let hub = crate::harness::TestHub::start(crate::harness::Backend::Sqlite).await;
    let watch = hub.account("watch", scaan_schemas::Role::WatchOfficer, &[], None).await;
    let mut alert = crate::harness::circle_alert("Clashes", 0.49, 29.47, 1000.0);
    alert.as_object_mut().unwrap().remove("headline");
    let (status, body) = hub.post("/api/v1/alerts", &watch, alert).await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "headline", "{body}");
    assert_eq!(hub.stored_alerts().await, 0);
    hub.stop().await;
}

/// One address holds at most 1,000 HTTP connections: the next is closed unread, while a client
/// from another address is served as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_http_connection() {
    use tokio::io::AsyncReadExt as _;
    let hub = crate::harness::TestHub::start(crate::harness::Backend::Sqlite).await;
    let address: std::net::SocketAddr = hub.base.trim_start_matches("http://").parse().unwrap();
    let mut held = Vec::with_capacity(1_000);
    for _ in 0..1_000 {
        held.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    let mut one_more = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), one_more.read(&mut buf))
        .await
        .expect("the connection over the cap is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    // 127.0.0.2 is loopback too: another client, whose connection is its own.
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let answer = elsewhere.get(format!("{}/livez", hub.base)).send().await.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    drop(held);
    hub.stop().await;
}
