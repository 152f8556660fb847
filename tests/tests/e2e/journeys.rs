//! Journeys with timed check-ins against a real hub: a missed check-in goes from the phone's
//! reminder, through asking again (across a hub restart), to the officers' alarm and its
//! acknowledgement; check-ins arrive by HTTP, the stream and MQTT, and "arrived" ends the leg;
//! a traveller known only from their trip is covered.

use crate::harness::{Account, Backend, Stream, TestHub};
use crate::mqtt::{inbox, Phone, Seen};
use crate::on_both_backends;
use chrono::{Duration as Span, Utc};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
const GOMA: (f64, f64) = (-1.6792, 29.2228);

on_both_backends!(
    a_missed_checkin_goes_from_reminder_to_console_alarm_to_acknowledgement,
    checkins_arrive_by_http_stream_and_mqtt_and_arrival_ends_the_leg,
    a_traveller_known_only_from_a_trip_is_covered,
);

/// A hub whose journeys' steps come within seconds: the reminder 2 s before a check-in is due,
/// the alarm 2 s after.
async fn quick_hub(backend: Backend) -> TestHub {
    TestHub::start_configured(backend, |c| {
        c.journey_remind_before_s = 2;
        c.journey_grace_s = 2;
    })
    .await
}

/// The next envelope of `kind` on the stream within `within`, passing over others.
async fn next_of(stream: &mut Stream, kind: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match stream.next_within(left).await {
            Some(envelope) if envelope["type"] == kind => return envelope,
            Some(_) => continue,
            None => panic!("no {kind} within {within:?}"),
        }
    }
}

/// The next inbox envelope of `kind` on the phone within `within`, passing over others.
async fn phone_next_of(phone: &mut Phone, kind: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {kind} on the inbox within {within:?}"
        );
        match phone.next().await {
            Some(Seen::Message(topic, envelope)) if envelope["type"] == kind => {
                assert!(topic.ends_with("/inbox"), "{topic}");
                return envelope;
            }
            Some(Seen::Message(..)) | None => continue,
            Some(other) => panic!("the phone's connection: {other:?}"),
        }
    }
}

fn in_seconds(seconds: i64) -> String {
    (Utc::now() + Span::seconds(seconds)).to_rfc3339()
}

async fn start(hub: &TestHub, who: &Account, body: Value) -> Value {
    let (status, journey) = hub.post("/api/v1/journeys", who, body).await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    journey
}

async fn a_missed_checkin_goes_from_reminder_to_console_alarm_to_acknowledgement(backend: Backend) {
    // The alarm comes 5 s after the check-in was due: time for the hub to stop and start again
    // in between, and for the officer's stream to be back before it.
    let hub = TestHub::start_configured(backend, |c| {
        c.journey_remind_before_s = 2;
        c.journey_grace_s = 5;
    })
    .await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut amani_stream = hub.stream(&amani).await;
    let mut kivu_stream = hub.stream(&kivu).await;

    let journey = start(
        &hub,
        &amani,
        json!({"note": "road Beni → Goma", "legs": [{"to": "Goma", "country": "CD", "arrive_by": in_seconds(4)}]}),
    )
    .await;
    let id = journey["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&journey["status"], &journey["stage"], &journey["countries"]),
        (&json!("active"), &json!("upcoming"), &json!(["CD"]))
    );
    assert_eq!(kivu_stream.expect("journey").await["journey"]["id"], journey["id"]);

    // Two seconds before it is due, the phone is reminded.
    let reminder = next_of(&mut amani_stream, "journey_reminder", Duration::from_secs(4)).await;
    assert_eq!(
        (&reminder["journey_id"], &reminder["overdue"], &reminder["heading_to"]),
        (&journey["id"], &json!(false), &json!("Goma"))
    );

    // The hub stops before the check-in is due and comes back after: the schedule is in the
    // database, so the phone is still asked again. Its inbox holds both reminders, the second
    // taken while the phone was away (perhaps before it connected).
    let halted = hub.halt().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let hub = halted.resume().await;
    let mut kivu_stream = hub.stream(&kivu).await;
    let mut uganda_stream = hub.stream(&uganda).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    phone.subscribe(&inbox(amani.user.id)).await;
    let first = phone_next_of(&mut phone, "journey_reminder", Duration::from_secs(5)).await;
    assert_eq!(first["overdue"], false, "{first}");
    let again = phone_next_of(&mut phone, "journey_reminder", Duration::from_secs(5)).await;
    assert_eq!(
        (&again["journey_id"], &again["overdue"]),
        (&journey["id"], &json!(true))
    );

    // Still silent after the grace: the officers of the journey's country get the alarm.
    let alarm = next_of(&mut kivu_stream, "journey_alarm", Duration::from_secs(8)).await["alarm"].clone();
    assert_eq!(
        (
            &alarm["journey_id"],
            &alarm["status"],
            &alarm["username"],
            &alarm["heading_to"]
        ),
        (&journey["id"], &json!("open"), &json!("amani"), &json!("Goma"))
    );
    uganda_stream.expect_silence().await;
    assert_eq!(hub.get("/api/v1/journey-alarms", &uganda).await.1, json!([]));
    let (status, open) = hub.get("/api/v1/journey-alarms?status=open", &kivu).await;
    assert_eq!(status, StatusCode::OK, "{open}");
    assert_eq!(open.as_array().unwrap().len(), 1, "raised once: {open}");
    let (_, missed) = hub.get(&format!("/api/v1/journeys/{id}"), &kivu).await;
    assert_eq!(missed["stage"], "missed");
    assert_eq!(hub.get("/api/v1/journey-alarms", &amani).await.0, StatusCode::FORBIDDEN);

    // Acknowledged with a note, resolved with another; both audited.
    let alarm_id = alarm["id"].as_str().unwrap();
    let ack = format!("/api/v1/journey-alarms/{alarm_id}/ack");
    assert_eq!(hub.post(&ack, &uganda, json!({})).await.0, StatusCode::NOT_FOUND);
    let (status, acknowledged) = hub.post(&ack, &kivu, json!({"note": "calling her driver"})).await;
    assert_eq!(status, StatusCode::OK, "{acknowledged}");
    assert_eq!(
        (
            &acknowledged["status"],
            &acknowledged["acknowledged_by"],
            &acknowledged["acknowledge_note"]
        ),
        (
            &json!("acknowledged"),
            &json!("kivu.officer"),
            &json!("calling her driver")
        )
    );
    assert_eq!(
        next_of(&mut kivu_stream, "journey_alarm", Duration::from_secs(1)).await["alarm"]["status"],
        "acknowledged"
    );
    let (status, twice) = hub.post(&ack, &kivu, json!({})).await;
    assert_eq!(
        (status, &twice["error"]["code"]),
        (StatusCode::CONFLICT, &json!("alarm_changed"))
    );
    let resolve = format!("/api/v1/journey-alarms/{alarm_id}/resolve");
    let (status, unsaid) = hub.post(&resolve, &kivu, json!({"note": " "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{unsaid}");
    let (status, resolved) = hub
        .post(&resolve, &kivu, json!({"note": "reached by phone: tyre burst, safe"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["resolution"], "reached by phone: tyre burst, safe");
    let (_, trail) = hub.get("/api/v1/audit", &kivu).await;
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["journey_alarm.resolved", "journey_alarm.acknowledged"],
        "{trail}"
    );
    assert_eq!(trail[1]["detail"]["note"], "calling her driver");

    // A late check-in puts the journey back on schedule.
    let (status, back) = hub
        .post(
            &format!("/api/v1/journeys/{id}/checkin"),
            &amani,
            json!({"status": "arrived"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["status"], "arrived");
    phone.disconnect().await;
    hub.stop().await;
}

async fn checkins_arrive_by_http_stream_and_mqtt_and_arrival_ends_the_leg(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bea = hub.account("bea", Role::Staff, &[], Some(BENI)).await;
    let journey = start(
        &hub,
        &amani,
        json!({"checkin_every_s": 7200, "legs": [
            {"to": "Butembo", "country": "CD", "arrive_by": in_seconds(3 * 3600)},
            {"to": "Goma", "country": "CD", "arrive_by": in_seconds(9 * 3600)}]}),
    )
    .await;
    let id = journey["id"].as_str().unwrap().to_owned();
    let due = |j: &Value| chrono::DateTime::parse_from_rfc3339(j["due_at"].as_str().unwrap()).unwrap();
    let two_hours = Utc::now() + Span::hours(2);
    assert!(
        (due(&journey).timestamp() - two_hours.timestamp()).abs() <= 2,
        "{journey}"
    );

    // HTTP: all well.
    let path = format!("/api/v1/journeys/{id}/checkin");
    let (status, ok) = hub
        .post(
            &path,
            &amani,
            json!({"status": "ok", "position": {"lat": 0.1, "lon": 29.3}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(
        (&ok["current_leg"], &ok["last_position"]["lat"]),
        (&json!(0), &json!(0.1))
    );
    // Someone else's journey is not theirs to check in on, and bad input changes nothing.
    assert_eq!(
        hub.post(&path, &bea, json!({"status": "ok"})).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, bad) = hub.post(&path, &amani, json!({"status": "fine"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // The stream: all well again.
    let mut stream = hub.stream(&amani).await;
    stream
        .send(json!({"type": "journey_checkin", "journey_id": id, "status": "ok", "ref": "j1"}))
        .await;
    let echoed = next_of(&mut stream, "journey", Duration::from_secs(1)).await;
    assert_eq!(echoed["journey"]["current_leg"], 0);
    stream
        .send(json!({"type": "journey_checkin", "journey_id": uuid::Uuid::new_v4(), "status": "ok", "ref": "j2"}))
        .await;
    let refused = next_of(&mut stream, "error", Duration::from_secs(1)).await;
    assert_eq!((&refused["code"], &refused["ref"]), (&json!("not_found"), &json!("j2")));

    // MQTT: arrived at Butembo ends the first leg, at Goma the journey.
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    phone.subscribe(&inbox(amani.user.id)).await;
    let topic = format!("scaan/v1/staff/{}/journey_checkin", amani.user.id);
    let mut kivu_stream = hub.stream(&kivu).await;
    phone
        .publish(&topic, json!({"journey_id": id, "status": "arrived"}).to_string())
        .await;
    // The inbox first gets what it was owed from before the phone connected (the start and the
    // two check-ins), then the answer.
    let mut owed = 0;
    let leg_ended = loop {
        let journey = phone_next_of(&mut phone, "journey", Duration::from_secs(5)).await["journey"].clone();
        if journey["current_leg"] == 1 {
            break journey;
        }
        owed += 1;
    };
    assert_eq!(owed, 3, "the start and the two check-ins were owed");
    assert_eq!(
        (&leg_ended["current_leg"], &leg_ended["status"]),
        (&json!(1), &json!("active"))
    );
    assert!(leg_ended["legs"][0]["arrived_at"].is_string(), "{leg_ended}");
    assert_eq!(
        next_of(&mut kivu_stream, "journey", Duration::from_secs(1)).await["journey"]["current_leg"],
        1
    );
    phone
        .publish(
            &topic,
            json!({"journey_id": id, "status": "arrived", "note": "in Goma"}).to_string(),
        )
        .await;
    let arrived = phone_next_of(&mut phone, "journey", Duration::from_secs(5)).await["journey"].clone();
    assert_eq!(
        (&arrived["status"], &arrived["current_leg"]),
        (&json!("arrived"), &json!(2))
    );
    assert!(arrived.get("due_at").is_none(), "nothing more is due: {arrived}");
    // A bad payload is answered on the inbox and changes nothing.
    phone
        .publish(&topic, json!({"journey_id": id, "status": "ok"}).to_string())
        .await;
    let over = phone_next_of(&mut phone, "error", Duration::from_secs(5)).await;
    assert_eq!(over["code"], "journey_over", "{over}");
    phone.publish(&topic, json!({"status": "ok"}).to_string()).await;
    let unnamed = phone_next_of(&mut phone, "error", Duration::from_secs(5)).await;
    assert_eq!(unnamed["code"], "invalid_field", "{unnamed}");
    let (_, stored) = hub.get(&format!("/api/v1/journeys/{id}"), &kivu).await;
    assert_eq!(
        (&stored["status"], &stored["last_note"]),
        (&json!("arrived"), &json!("in Goma"))
    );
    phone.disconnect().await;
    hub.stop().await;
}

async fn a_traveller_known_only_from_a_trip_is_covered(backend: Backend) {
    let hub = quick_hub(backend).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub.account("ug.officer", Role::SecurityOfficer, &["UG"], None).await;
    // No duty station, no position ever sent: the hub knows where she goes only from her trip.
    let visitor = hub.account("visitor", Role::Staff, &[], None).await;
    let (status, plan) = hub
        .post(
            "/api/v1/trips",
            &visitor,
            json!({"destination": {"country": "CD", "city": "Goma", "lat": GOMA.0, "lon": GOMA.1},
                   "depart_at": in_seconds(-60), "return_at": in_seconds(3 * 24 * 3600)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let trip_id = plan["trip"]["id"].clone();

    // Her phone is on MQTT only.
    let mut phone = Phone::connect(&hub, &visitor, "visitor-phone", true).await;
    phone.subscribe(&inbox(visitor.user.id)).await;
    let mut kivu_stream = hub.stream(&kivu).await;

    // An officer of a country she is not going to cannot start it for her; Kivu's can.
    let body = json!({"staff_id": visitor.user.id, "trip_id": trip_id, "legs": [{"arrive_by": in_seconds(3)}]});
    let (status, refused) = hub.post("/api/v1/journeys", &uganda, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let journey = start(&hub, &kivu, body).await;
    assert_eq!(
        (
            &journey["legs"][0]["to"],
            &journey["legs"][0]["country"],
            &journey["started_by"]
        ),
        (&json!("Goma"), &json!("CD"), &json!("kivu.officer"))
    );
    assert_eq!(journey["trip_id"], trip_id);
    assert_eq!(
        phone_next_of(&mut phone, "journey", Duration::from_secs(5)).await["journey"]["id"],
        journey["id"]
    );
    let reminder = phone_next_of(&mut phone, "journey_reminder", Duration::from_secs(5)).await;
    assert_eq!(
        (&reminder["overdue"], &reminder["heading_to"]),
        (&json!(false), &json!("Goma"))
    );
    let again = phone_next_of(&mut phone, "journey_reminder", Duration::from_secs(5)).await;
    assert_eq!(again["overdue"], true);
    let alarm = next_of(&mut kivu_stream, "journey_alarm", Duration::from_secs(6)).await["alarm"].clone();
    assert_eq!(
        (&alarm["username"], &alarm["countries"], &alarm["journey_id"]),
        (&json!("visitor"), &json!(["CD"]), &journey["id"])
    );
    let (_, listed) = hub.get("/api/v1/journeys?active=true", &kivu).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(hub.get("/api/v1/journeys", &uganda).await.1, json!([]));
    // Her officer started it: that is audited.
    let (_, trail) = hub.get("/api/v1/audit", &kivu).await;
    assert_eq!(trail[0]["action"], "journey.started", "{trail}");
    // A trip that is not hers is refused, and stores nothing.
    let other = hub.account("other", Role::Staff, &[], None).await;
    let (status, not_hers) = hub
        .post(
            "/api/v1/journeys",
            &other,
            json!({"trip_id": trip_id, "legs": [{"arrive_by": in_seconds(3600)}]}),
        )
        .await;
    assert_eq!(
        (status, &not_hers["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("trip_id"))
    );
    assert_eq!(hub.get("/api/v1/journeys", &other).await.1, json!([]));
    phone.disconnect().await;
    hub.stop().await;
}
