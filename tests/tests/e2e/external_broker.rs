//! The hub's tokens as Mosquitto passwords: a login on the real hub, provisioned on a real
//! Mosquitto with the hub's own token hash and expiry (as the hub's MQTT wiring will do on login
//! and logout), opens the person's inbox through the phone simulator; after logout it does not.
//! Needs `SCAAN_TEST_MOSQUITTO` (`.ci/run` sets it).

use crate::harness::{Backend, TestHub, PASSWORD};
use reqwest::StatusCode;
use scaan_mobile_bridge::{
    dynsec::{Grant, Provisioner},
    fixtures::Mosquitto,
    phone::{self, BrokerUrl, Phone, PhoneOptions},
};
use scaan_schemas::Role;
use scaan_server::auth::token_hash;

async fn a_login_opens_the_broker_until_logout(backend: Backend) {
    let Some(broker) = Mosquitto::from_env().await else {
        return;
    };
    let hub = TestHub::start(backend).await;
    hub.account("amani", Role::Staff, &[], Some((0.49, 29.47))).await;
    let login = phone::login(&hub.http, &hub.base, "amani", PASSWORD)
        .await
        .expect("login");

    let (admin, password) = broker.admin_credentials();
    let provisioner = Provisioner::connect("127.0.0.1", broker.addr().port(), &admin, &password)
        .await
        .expect("admin connects");
    let grant = Grant::new(
        &login.user.username,
        login.user.id,
        token_hash(&login.token),
        login.expires_at.into(),
    );
    provisioner.grant(&grant, &login.token).await.expect("granted");
    let url: BrokerUrl = broker.url().parse().unwrap();
    let options = PhoneOptions::persistent(url, "amani", &login.token, login.user.id);
    let mut phone = Phone::connect(options.clone())
        .await
        .expect("the hub's token opens Mosquitto");
    phone.subscribe_inbox().await.expect("own inbox");
    phone.disconnect().await;

    let (status, _) = hub.call("POST", "/api/v1/auth/logout", Some(&login.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    provisioner
        .revoke(&login.user.username, &token_hash(&login.token))
        .await
        .expect("revoked");
    let refused = Phone::connect(options).await.err().expect("refused after logout");
    assert!(format!("{refused:#}").contains("refused the login"), "{refused:#}");
    provisioner.shutdown().await;
    hub.stop().await;
}

crate::on_both_backends!(a_login_opens_the_broker_until_logout);
