//! Country advisories: set by the country's officers, kept with their history, and pushed to
//! the staff located in the country or travelling to it.

use crate::harness::{Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BENI: (f64, f64) = (0.4911, 29.4731);
const GOMA: (f64, f64) = (-1.6792, 29.2228);
const KAMPALA: (f64, f64) = (0.3476, 32.5825);

on_both_backends!(
    an_advisory_change_reaches_the_people_it_concerns,
    bad_advisories_are_refused_and_store_nothing,
);

fn advisory(level: u8, summary: &str) -> Value {
    json!({"risk_level": level, "summary": summary, "curfew": "22:00 to 05:00",
           "movement_restrictions": "No road travel north of Beni without escort.",
           "valid_until": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()})
}

async fn an_advisory_change_reaches_the_people_it_concerns(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let based_in_congo = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let based_in_uganda = hub.account("bahati", Role::Staff, &[], Some(KAMPALA)).await;
    let visiting_congo = hub.account("chausiku", Role::Staff, &[], Some(KAMPALA)).await;
    let travelling_to_congo = hub.account("dunia", Role::Staff, &[], Some(KAMPALA)).await;
    let (status, _) = hub
        .post(
            "/api/v1/me/location",
            &visiting_congo,
            json!({"lat": GOMA.0, "lon": GOMA.1}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let soon = chrono::Utc::now() + chrono::Duration::days(3);
    let (status, plan) = hub
        .post(
            "/api/v1/trips",
            &travelling_to_congo,
            json!({"destination": {"country": "CD", "city": "Goma", "lat": GOMA.0, "lon": GOMA.1},
                   "depart_at": soon.to_rfc3339(), "return_at": (soon + chrono::Duration::days(5)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");

    let (status, body) = hub.get("/api/v1/advisories/CD", &based_in_congo).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_advisory"))
    );

    let mut streams = [
        hub.stream(&based_in_congo).await,
        hub.stream(&visiting_congo).await,
        hub.stream(&travelling_to_congo).await,
        hub.stream(&kivu).await,
        hub.stream(&watch).await,
    ];
    let mut unconcerned = [hub.stream(&based_in_uganda).await, hub.stream(&uganda).await];

    let put = |body: Value, token: String| {
        let hub = &hub;
        async move { hub.call("PUT", "/api/v1/advisories/CD", Some(&token), Some(body)).await }
    };
    assert_eq!(
        put(advisory(3, "x"), uganda.token.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        put(advisory(3, "x"), based_in_congo.token.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, first) = put(advisory(3, "Armed groups active around Beni."), kivu.token.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        (
            &first["country"],
            &first["risk_level"],
            &first["risk_label"],
            &first["updated_by"],
            &first["revision"]
        ),
        (
            &json!("CD"),
            &json!(3),
            &json!("Substantial"),
            &json!("kivu.officer"),
            &json!(1)
        )
    );
    for stream in &mut streams {
        let pushed = stream.expect("advisory").await;
        assert_eq!(pushed["advisory"], first);
    }
    for stream in &mut unconcerned {
        stream.expect_silence().await;
    }

    let (status, second) = put(advisory(4, "Clashes spreading south."), watch.token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(
        (&second["risk_label"], &second["revision"]),
        (&json!("High"), &json!(2))
    );
    assert_eq!(streams[0].expect("advisory").await["advisory"]["risk_level"], 4);

    let (_, current) = hub.get("/api/v1/advisories/cd", &based_in_uganda).await;
    assert_eq!(current, second);
    let (_, history) = hub.get("/api/v1/advisories/CD/history", &based_in_uganda).await;
    assert_eq!(history, json!([second, first]));
    let (_, all) = hub.get("/api/v1/advisories", &based_in_uganda).await;
    assert_eq!(all, json!([second]));
    let (_, trail) = hub.get("/api/v1/audit", &kivu).await;
    let changes: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "advisory.updated")
        .collect();
    assert_eq!(changes.len(), 2, "{trail}");
    assert_eq!(changes[0]["detail"]["previous_risk_level"], 3);
    hub.stop().await;
}

async fn bad_advisories_are_refused_and_store_nothing(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let with = |pointer: &str, value: Value| {
        let mut body = advisory(2, "Calm");
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    let cases = [
        ("level 0", "CD", with("/risk_level", json!(0)), "risk_level"),
        ("level 6", "CD", with("/risk_level", json!(6)), "risk_level"),
        ("level in words", "CD", with("/risk_level", json!("high")), "risk_level"),
        ("empty summary", "CD", with("/summary", json!("")), "summary"),
        (
            "oversized summary",
            "CD",
            with("/summary", json!("x".repeat(10_001))),
            "summary",
        ),
        (
            "expired",
            "CD",
            with("/valid_until", json!("2020-01-01T00:00:00Z")),
            "valid_until",
        ),
        ("unknown country", "ZZ", advisory(2, "Calm"), "country"),
        ("not a code", "Congo", advisory(2, "Calm"), "country"),
        (
            "unknown field",
            "CD",
            with("/curfew", json!("none"))
                .as_object()
                .cloned()
                .map(|mut o| {
                    o.insert("level".into(), json!(2));
                    Value::Object(o)
                })
                .unwrap(),
            "level",
        ),
    ];
    for (what, country, body, field) in cases {
        let (status, answer) = hub
            .call(
                "PUT",
                &format!("/api/v1/advisories/{country}"),
                Some(&watch.token),
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{what}: {answer}");
    }
    let (status, answer) = hub.get("/api/v1/advisories/ZZ", &watch).await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("country"))
    );
    assert_eq!(
        hub.get("/api/v1/advisories/ZZ/history", &watch).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(hub.get("/api/v1/advisories", &watch).await.1, json!([]));
    assert_eq!(hub.get("/api/v1/advisories/CD/history", &watch).await.1, json!([]));
    assert_eq!(
        hub.call("GET", "/api/v1/advisories", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    hub.stop().await;
}
