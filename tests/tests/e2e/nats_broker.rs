//! The hub on an external NATS server whose MQTT passwords it signs (`nats_url`,
//! `nats_keys_file`), on both databases: the login's answer carries the password, which opens
//! the person's inbox and nothing else; a token revoked while the hub was away is refused by
//! NATS once the hub has started. (The SIGKILL of both hub and server is
//! `server/tests/nats.rs`'s, with the real binary.) Needs `SCAAN_TEST_NATS` (`.ci/run` sets it).

use crate::harness::{circle_alert, Backend, TestHub, PASSWORD};
use reqwest::StatusCode;
use scaan_mobile_bridge::{
    fixtures::nats::NatsServer,
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics, LinkState,
};
use scaan_schemas::{LoginResponse, Role};
use scaan_server::auth::token_hash;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
/// Longest wait for something that should happen.
const WAIT: Duration = Duration::from_secs(10);

crate::on_both_backends!(
    a_login_on_nats_opens_the_persons_inbox_and_nothing_else,
    a_token_revoked_while_the_hub_was_away_is_refused_by_nats_once_the_hub_starts,
);

/// A NATS server and a hub that signs its logins; `None` when the test is skipped.
async fn nats_hub(backend: Backend) -> Option<(NatsServer, TestHub)> {
    let nats = NatsServer::from_env().await?;
    let (mqtt_url, nats_url, keys) = (nats.mqtt_url(), nats.nats_url(), nats.keys_file());
    let hub = TestHub::start_configured(backend, |c| {
        c.mqtt_url = Some(mqtt_url);
        c.nats_url = Some(nats_url);
        c.nats_keys_file = Some(keys);
    })
    .await;
    wait_for_link(&hub, &nats).await;
    Some((nats, hub))
}

async fn wait_for_link(hub: &TestHub, nats: &NatsServer) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.app.mqtt.link_state() != Some(LinkState::Connected) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub's link never connected with its JWT: {:?}\n{}",
            hub.app.mqtt.link_state(),
            nats.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs `username` in over HTTP: the whole answer.
async fn login(hub: &TestHub, username: &str) -> LoginResponse {
    let body = json!({"username": username, "password": PASSWORD});
    let (status, answer) = hub.call("POST", "/api/v1/auth/login", None, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    serde_json::from_value(answer).expect("a login answer")
}

/// The person's phone on NATS, with the login answer's MQTT password.
fn phone_options(nats: &NatsServer, login: &LoginResponse) -> PhoneOptions {
    let url: BrokerUrl = nats.mqtt_url().parse().expect("the fixture's URL");
    let password = login
        .mqtt_password
        .as_deref()
        .expect("an MQTT password in the login's answer");
    PhoneOptions::persistent(url, &login.user.username, password, login.user.id)
}

async fn a_login_on_nats_opens_the_persons_inbox_and_nothing_else(backend: Backend) {
    let Some((nats, hub)) = nats_hub(backend).await else {
        return;
    };
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("bea", Role::Staff, &[], Some(BENI)).await;
    let (amani, bea) = (login(&hub, "amani").await, login(&hub, "bea").await);

    let mut phone = Phone::connect(phone_options(&nats, &amani))
        .await
        .expect("the login's MQTT password opens NATS");
    phone.subscribe_inbox().await.expect("own inbox");
    let refused = phone.subscribe(&topics::inbox(bea.user.id)).await;
    assert!(refused.is_err(), "another person's inbox must be refused");
    // The API token is not an MQTT password here, nor is someone else's password amani's.
    let mut with_token = phone_options(&nats, &amani);
    with_token.token = amani.token.clone();
    assert!(Phone::connect(with_token).await.is_err(), "the API token opened NATS");

    let (status, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let received = tokio::time::timeout(WAIT, phone.next_envelope())
        .await
        .expect("the alert in time")
        .expect("connected");
    let envelope: Value = serde_json::from_slice(&received.payload).unwrap();
    assert_eq!(
        (envelope["type"].as_str(), &envelope["alert"]["id"]),
        (Some("alert"), &alert["id"])
    );
    phone.disconnect().await;
    hub.stop().await;
}

async fn a_token_revoked_while_the_hub_was_away_is_refused_by_nats_once_the_hub_starts(backend: Backend) {
    let Some((nats, hub)) = nats_hub(backend).await else {
        return;
    };
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("bea", Role::Staff, &[], Some(BENI)).await;
    let (amani, bea) = (login(&hub, "amani").await, login(&hub, "bea").await);
    Phone::connect(phone_options(&nats, &amani))
        .await
        .expect("the password opens NATS")
        .disconnect()
        .await;
    // Revoked in the database behind the hub's back (another hub, an administrator): NATS
    // still admits the password until the hub starts again and pushes its revocations.
    hub.app
        .store
        .revoke_token(&token_hash(&amani.token), chrono::Utc::now())
        .await
        .expect("revoked");
    let hub = hub.restart().await;
    wait_for_link(&hub, &nats).await;
    let refused = Phone::connect(phone_options(&nats, &amani))
        .await
        .err()
        .expect("refused after the hub's start");
    assert!(format!("{refused:#}").contains("refused the login"), "{refused:#}");
    Phone::connect(phone_options(&nats, &bea))
        .await
        .expect("a valid login keeps working across the hub's restart")
        .disconnect()
        .await;
    hub.stop().await;
}
