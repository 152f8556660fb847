//! The hub on an external Mosquitto that it provisions itself (`mqtt_url` + the
//! dynamic-security admin login): logins over HTTP open the person's own topics on Mosquitto,
//! alerts and check-ins flow both ways through it, and a logout, a disabled account — or a
//! revocation while the hub was away — closes the broker to that token. Needs `SCAAN_TEST_MOSQUITTO` (`.ci/run` sets it).

use crate::harness::{circle_alert, Account, Backend, TestHub};
use reqwest::StatusCode;
use scaan_mobile_bridge::{
    fixtures::Mosquitto,
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics, LinkState,
};
use scaan_schemas::{CheckinStatus, NewCheckin, Role};
use scaan_server::auth::token_hash;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

const BENI: (f64, f64) = (0.4911, 29.4731);
/// Longest wait for something that should happen.
const WAIT: Duration = Duration::from_secs(10);

crate::on_both_backends!(
    a_provisioned_mosquitto_carries_alerts_and_checkins_for_logged_in_staff_only,
    a_token_revoked_while_the_hub_was_away_loses_its_broker_login_at_start,
    a_disabled_account_loses_its_broker_login_and_its_connection,
);

/// A dynamic-security Mosquitto and a hub that provisions it; `None` when the test is skipped.
async fn provisioned_hub(backend: Backend) -> Option<(Mosquitto, TestHub)> {
    let broker = Mosquitto::from_env().await?;
    let (admin, password) = broker.admin_credentials();
    let url = broker.url();
    let hub = TestHub::start_configured(backend, |c| {
        c.mqtt_url = Some(url);
        c.mqtt_admin_username = Some(admin);
        c.mqtt_admin_password = Some(password);
    })
    .await;
    // The hub's link logs in with the broker login the hub made itself.
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.app.mqtt.link_state() != Some(LinkState::Connected) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub's link never connected: {:?}\n{}",
            hub.app.mqtt.link_state(),
            broker.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some((broker, hub))
}

/// The person's phone on Mosquitto: their username, their token, their own client id.
fn phone_options(broker: &Mosquitto, who: &Account) -> PhoneOptions {
    let url: BrokerUrl = broker.url().parse().expect("the fixture's URL");
    PhoneOptions::persistent(url, &who.user.username, &who.token, who.user.id)
}

async fn next_envelope(phone: &mut Phone) -> Value {
    let received = tokio::time::timeout(WAIT, phone.next_envelope())
        .await
        .expect("an envelope in time")
        .expect("the connection holds");
    serde_json::from_slice(&received.payload).expect("the envelope is JSON")
}

async fn a_provisioned_mosquitto_carries_alerts_and_checkins_for_logged_in_staff_only(backend: Backend) {
    let Some((broker, hub)) = provisioned_hub(backend).await else {
        return;
    };
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bea = hub.account("bea", Role::Staff, &[], Some(BENI)).await;

    let mut phone = Phone::connect(phone_options(&broker, &amani))
        .await
        .expect("the login's token opens Mosquitto");
    phone.subscribe_inbox().await.expect("own inbox");
    let refused = phone.subscribe(&topics::inbox(bea.user.id)).await;
    assert!(refused.is_err(), "another person's inbox must be refused");
    // Someone else's token does not open amani's login, nor amani's token bea's.
    let mut crossed = phone_options(&broker, &amani);
    crossed.token = bea.token.clone();
    assert!(
        Phone::connect(crossed).await.is_err(),
        "bea's token opened amani's login"
    );
    let mut crossed = phone_options(&broker, &bea);
    crossed.token = amani.token.clone();
    assert!(
        Phone::connect(crossed).await.is_err(),
        "amani's token opened bea's login"
    );

    // An alert posted over HTTP reaches the inbox through Mosquitto.
    let (status, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let envelope = next_envelope(&mut phone).await;
    assert_eq!(
        (envelope["type"].as_str(), &envelope["alert"]["id"]),
        (Some("alert"), &alert["id"]),
        "{envelope}"
    );

    // A check-in published on Mosquitto lands in the headcount and is acknowledged on the inbox.
    let id: Uuid = alert["id"].as_str().unwrap().parse().unwrap();
    let checkin = NewCheckin {
        status: CheckinStatus::Safe,
        position: None,
        note: Some("at the guesthouse".into()),
        staff_id: None,
        via: None,
    };
    phone
        .checkin(id, &checkin)
        .await
        .expect("the broker takes the check-in");
    let ack = next_envelope(&mut phone).await;
    assert_eq!(
        (ack["type"].as_str(), ack["status"].as_str()),
        (Some("checkin_ack"), Some("safe")),
        "{ack}"
    );
    let (_, counts) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    assert_eq!(
        (counts["safe"].as_u64(), counts["no_response"].as_u64()),
        (Some(1), Some(1)),
        "{counts}"
    );

    // Logout: the token opens no new connection (Mosquitto also drops the open one).
    let (status, _) = hub.call("POST", "/api/v1/auth/logout", Some(&amani.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refused = Phone::connect(phone_options(&broker, &amani))
        .await
        .err()
        .expect("refused after logout");
    assert!(format!("{refused:#}").contains("refused the login"), "{refused:#}");
    phone.vanish().await;
    // bea is still logged in: her login is untouched.
    let other = Phone::connect(phone_options(&broker, &bea))
        .await
        .expect("another person's login still works");
    other.disconnect().await;
    hub.stop().await;
}

async fn a_token_revoked_while_the_hub_was_away_loses_its_broker_login_at_start(backend: Backend) {
    let Some((broker, hub)) = provisioned_hub(backend).await else {
        return;
    };
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bea = hub.account("bea", Role::Staff, &[], Some(BENI)).await;
    Phone::connect(phone_options(&broker, &amani))
        .await
        .expect("the login's token opens Mosquitto")
        .disconnect()
        .await;
    // Revoked in the database behind the hub's back (another hub, an administrator): Mosquitto
    // still holds the login until the hub starts again and compares.
    hub.app
        .store
        .revoke_token(&token_hash(&amani.token), chrono::Utc::now())
        .await
        .expect("revoked");
    let hub = hub.restart().await;
    let refused = Phone::connect(phone_options(&broker, &amani))
        .await
        .err()
        .expect("refused after the hub's start");
    assert!(format!("{refused:#}").contains("refused the login"), "{refused:#}");
    let kept = Phone::connect(phone_options(&broker, &bea))
        .await
        .expect("a valid token keeps its login across the hub's restart");
    kept.disconnect().await;
    hub.stop().await;
}

async fn a_disabled_account_loses_its_broker_login_and_its_connection(backend: Backend) {
    let Some((broker, hub)) = provisioned_hub(backend).await else {
        return;
    };
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bea = hub.account("bea", Role::Staff, &[], Some(BENI)).await;
    let mut phone = Phone::connect(phone_options(&broker, &amani))
        .await
        .expect("the login's token opens Mosquitto");
    let (status, body) = hub
        .post(
            &format!("/api/v1/users/{}/disable", amani.user.id),
            &admin,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Mosquitto drops the open connection, and refuses the token from then on.
    let ended = tokio::time::timeout(WAIT, phone.next_envelope()).await;
    assert!(matches!(ended, Ok(Err(_))), "the broker kept the connection open");
    let refused = Phone::connect(phone_options(&broker, &amani))
        .await
        .err()
        .expect("refused once disabled");
    assert!(format!("{refused:#}").contains("refused the login"), "{refused:#}");
    let kept = Phone::connect(phone_options(&broker, &bea))
        .await
        .expect("another person's login still works");
    kept.disconnect().await;
    hub.stop().await;
}
