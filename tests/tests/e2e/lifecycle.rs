//! Account lifecycle against a real hub: disabling and enabling, passwords, role changes and
//! sessions each end what they must — HTTP tokens (401), WebSocket streams (closed) and MQTT
//! connections on the hub's own endpoint (rumqttc, disconnected) — within a second, and keep
//! what they should; a change made by another process (as `scaan user …` does) reaches the
//! running hub through its poll.

use crate::harness::{circle_alert, Account, Backend, Stream, TestHub, PASSWORD};
use crate::mqtt::{inbox, Phone, Seen};
use crate::on_both_backends;
use reqwest::StatusCode;
use rumqttc::{QoS, SubscribeReasonCode};
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
const WITHIN: Duration = Duration::from_secs(1);

on_both_backends!(
    disabling_an_account_ends_its_tokens_streams_and_mqtt_and_enabling_lets_it_log_in_again,
    guard_rails_keep_an_administrator_and_refuse_bad_input,
    changing_ones_password_ends_the_other_sessions_and_keeps_this_one,
    an_admin_password_reset_ends_every_session,
    a_role_change_closes_open_streams_and_mqtt_so_they_come_back_with_the_new_rights,
    sessions_are_listed_and_one_can_be_revoked,
    a_change_made_by_another_process_reaches_the_running_hub,
    staff_added_by_another_process_one_after_another_are_each_reached,
);

async fn closed_within(stream: &mut Stream, within: Duration) -> Value {
    let closed = stream.next_within(within).await.expect("the stream closes in time");
    assert_eq!(closed["type"], "closed", "{closed}");
    closed
}

async fn mqtt_closed_within(phone: &mut Phone, within: Duration) {
    let closed = tokio::time::timeout(within, async {
        loop {
            match phone.next().await {
                Some(Seen::Closed) | None => return,
                Some(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the MQTT connection is still open after {within:?}");
}

/// A second login of `who`, as from another device.
async fn another_device(hub: &TestHub, who: &Account, password: &str) -> Account {
    Account {
        user: who.user.clone(),
        token: hub.login(&who.user.username, password).await.expect("a second login"),
    }
}

async fn audit_actions(hub: &TestHub, who: &Account) -> Vec<String> {
    let (status, entries) = hub.get("/api/v1/audit", who).await;
    assert_eq!(status, StatusCode::OK, "{entries}");
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn disabling_an_account_ends_its_tokens_streams_and_mqtt_and_enabling_lets_it_log_in_again(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let reached = || async {
        let area = circle_alert("Who is reached", BENI.0, BENI.1, 5000.0);
        let (status, preview) = hub.post("/api/v1/alerts/preview", &watch, area).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        preview["recipients"].as_u64().unwrap()
    };
    assert_eq!(reached().await, 2);
    let mut stream = hub.stream(&amani).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    let mut other_stream = hub.stream(&bahati).await;

    let (status, user) = hub
        .post(&format!("/api/v1/users/{}/disable", amani.user.id), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["disabled"], true);
    assert_eq!(closed_within(&mut stream, WITHIN).await["code"], 1008);
    mqtt_closed_within(&mut phone, WITHIN).await;
    assert_eq!(hub.get("/api/v1/me", &amani).await.0, StatusCode::UNAUTHORIZED);
    // A disabled account's login is answered as a wrong password is.
    let (status, body) = hub.login("amani", PASSWORD).await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["message"], "wrong username or password");
    assert!(
        Phone::try_connect(
            crate::mqtt::broker(&hub),
            "amani-phone",
            Some(("amani", &amani.token)),
            true
        )
        .await
        .is_err(),
        "MQTT refuses the revoked token"
    );
    // Nobody else is touched.
    other_stream.expect_silence().await;
    assert_eq!(hub.get("/api/v1/me", &bahati).await.0, StatusCode::OK);
    let (_, users) = hub.get("/api/v1/users", &admin).await;
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "amani")
        .unwrap();
    assert_eq!(listed["disabled"], true);
    assert_eq!(reached().await, 1, "alerts no longer reach a disabled account");

    let (status, user) = hub
        .post(&format!("/api/v1/users/{}/enable", amani.user.id), &admin, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["disabled"], false);
    assert_eq!(
        hub.get("/api/v1/me", &amani).await.0,
        StatusCode::UNAUTHORIZED,
        "the old token stays revoked"
    );
    assert_eq!(reached().await, 2, "and reach it again once enabled");
    let again = hub.login("amani", PASSWORD).await.expect("logs in again once enabled");
    assert_eq!(
        hub.call("GET", "/api/v1/me", Some(&again), None).await.0,
        StatusCode::OK
    );
    let actions = audit_actions(&hub, &admin).await;
    assert_eq!(actions[..2], ["account.enabled", "account.disabled"], "{actions:?}");
    hub.stop().await;
}

async fn guard_rails_keep_an_administrator_and_refuse_bad_input(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], None).await;
    let users = "/api/v1/users";

    let (status, body) = hub
        .post(&format!("{users}/{}/disable", admin.user.id), &admin, json!({}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("own_account"))
    );
    let demote = json!({"role": "watch_officer"});
    let (status, body) = hub
        .call(
            "PUT",
            &format!("{users}/{}/role", admin.user.id),
            Some(&admin.token),
            Some(demote.clone()),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_admin"))
    );

    // With a second administrator, one may step down; the other then stays.
    let second = hub.account("root2", Role::Admin, &[], None).await;
    let (status, body) = hub
        .call(
            "PUT",
            &format!("{users}/{}/role", admin.user.id),
            Some(&admin.token),
            Some(demote),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "watch_officer");
    let (status, body) = hub
        .post(&format!("{users}/{}/disable", second.user.id), &second, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = hub
        .post(&format!("{users}/{}/disable", admin.user.id), &second, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Not an administrator: 403; unknown or malformed ids: 404; bad bodies: 422 naming the field.
    for who in [&watch, &amani] {
        let (status, _) = hub
            .post(&format!("{users}/{}/disable", amani.user.id), who, json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = hub.get(&format!("{users}/{}/sessions", amani.user.id), who).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("{users}/{unknown}/disable"),
        format!("{users}/{unknown}/enable"),
        format!("{users}/not-an-id/disable"),
    ] {
        assert_eq!(
            hub.post(&path, &second, json!({})).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let (status, _) = hub
        .post(
            &format!("{users}/{unknown}/password"),
            &second,
            json!({"password": "a long passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = hub
        .call(
            "DELETE",
            &format!("{users}/{}/sessions/abc", amani.user.id),
            Some(&second.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let role = format!("{users}/{}/role", amani.user.id);
    for (body, field) in [
        (json!({"role": "king"}), "role"),
        (json!({"role": "security_officer"}), "countries"),
        (json!({"role": "security_officer", "countries": ["XX"]}), "countries[0]"),
        (json!({"role": "staff", "colour": "red"}), "colour"),
        (json!({}), "role"),
    ] {
        let (status, answer) = hub.call("PUT", &role, Some(&second.token), Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
    }
    let (status, answer) = hub
        .post(
            &format!("{users}/{}/password", amani.user.id),
            &second,
            json!({"password": "short"}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let (status, answer) = hub
        .post(
            "/api/v1/me/password",
            &amani,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("new_password"))
    );
    // Refused changes changed nothing.
    assert_eq!(hub.get("/api/v1/me", &amani).await.1["role"], "staff");
    assert!(hub.login("amani", PASSWORD).await.is_ok());
    hub.stop().await;
}

async fn changing_ones_password_ends_the_other_sessions_and_keeps_this_one(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let tablet = another_device(&hub, &amani, PASSWORD).await;
    let mut stream = hub.stream(&amani).await;
    let mut tablet_stream = hub.stream(&tablet).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    let mut on_tablet = Phone::connect(&hub, &tablet, "amani-tablet", true).await;

    let (status, body) = hub
        .post(
            "/api/v1/me/password",
            &amani,
            json!({"current_password": "not my password", "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "current_password");
    assert_eq!(
        hub.get("/api/v1/me", &tablet).await.0,
        StatusCode::OK,
        "a refused change ends nothing"
    );

    let (status, body) = hub
        .post(
            "/api/v1/me/password",
            &amani,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(closed_within(&mut tablet_stream, WITHIN).await["code"], 1008);
    mqtt_closed_within(&mut on_tablet, WITHIN).await;
    assert_eq!(hub.get("/api/v1/me", &tablet).await.0, StatusCode::UNAUTHORIZED);
    // The session that made the change carries on: HTTP, its stream and its MQTT connection.
    assert_eq!(hub.get("/api/v1/me", &amani).await.0, StatusCode::OK);
    stream.expect_silence().await;
    assert_eq!(
        phone.subscribe(&inbox(amani.user.id)).await,
        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    assert_eq!(
        hub.login("amani", PASSWORD).await.unwrap_err().0,
        StatusCode::UNAUTHORIZED
    );
    assert!(hub.login("amani", "a brand new passphrase").await.is_ok());
    phone.disconnect().await;
    hub.stop().await;
}

async fn an_admin_password_reset_ends_every_session(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let tablet = another_device(&hub, &amani, PASSWORD).await;
    let mut stream = hub.stream(&amani).await;
    let mut phone = Phone::connect(&hub, &tablet, "amani-tablet", true).await;
    let (status, body) = hub
        .post(
            &format!("/api/v1/users/{}/password", amani.user.id),
            &admin,
            json!({"password": "set by the admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(closed_within(&mut stream, WITHIN).await["code"], 1008);
    mqtt_closed_within(&mut phone, WITHIN).await;
    for who in [&amani, &tablet] {
        assert_eq!(hub.get("/api/v1/me", who).await.0, StatusCode::UNAUTHORIZED);
    }
    assert!(hub.login("amani", "set by the admin").await.is_ok());
    assert_eq!(
        hub.get("/api/v1/me", &admin).await.0,
        StatusCode::OK,
        "the admin's own session stays"
    );
    assert!(audit_actions(&hub, &admin)
        .await
        .contains(&"account.password_reset".to_owned()));
    hub.stop().await;
}

async fn a_role_change_closes_open_streams_and_mqtt_so_they_come_back_with_the_new_rights(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu", Role::SecurityOfficer, &["CD", "UG"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut officer = hub.stream(&kivu).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;

    // Beni is in DR Congo: kivu sees its alerts while CD is theirs.
    let send = |headline: &'static str| {
        let (hub, watch) = (&hub, &watch);
        async move {
            let (status, alert) = hub
                .post("/api/v1/alerts", watch, circle_alert(headline, BENI.0, BENI.1, 5000.0))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{alert}");
        }
    };
    send("Before").await;
    assert_eq!(officer.expect("alert").await["alert"]["headline"], "Before");

    let (status, body) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{}/role", kivu.user.id),
            Some(&admin.token),
            Some(json!({"role": "security_officer", "countries": ["UG"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["countries"], json!(["UG"]));
    let closed = closed_within(&mut officer, WITHIN).await;
    assert_eq!(closed["code"], 4001, "{closed}");
    // The token still holds: the stream reopens with the new rights, and DR Congo's alerts no
    // longer reach it.
    assert_eq!(hub.get("/api/v1/me", &kivu).await.1["countries"], json!(["UG"]));
    let mut reopened = hub.stream(&kivu).await;
    send("After").await;
    reopened.expect_silence().await;

    // A staff member made an officer: their phone's MQTT connection closes, and reconnects.
    let (status, _) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{}/role", amani.user.id),
            Some(&admin.token),
            Some(json!({"role": "security_officer", "countries": ["CD"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    mqtt_closed_within(&mut phone, WITHIN).await;
    let again = Phone::connect(&hub, &amani, "amani-phone", true).await;
    again.disconnect().await;
    let actions = audit_actions(&hub, &admin).await;
    assert_eq!(
        actions[..2],
        ["account.role_changed", "account.role_changed"],
        "{actions:?}"
    );
    hub.stop().await;
}

async fn sessions_are_listed_and_one_can_be_revoked(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let tablet = another_device(&hub, &amani, PASSWORD).await;
    let laptop = another_device(&hub, &amani, PASSWORD).await;
    let mut tablet_stream = hub.stream(&tablet).await;

    let (status, sessions) = hub.get("/api/v1/me/sessions", &amani).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    // Newest first: the laptop, then the tablet.
    let tablet_session = sessions[1]["id"].as_str().unwrap().to_owned();
    let (status, _) = hub
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{tablet_session}"),
            Some(&amani.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(closed_within(&mut tablet_stream, WITHIN).await["code"], 1008);
    assert_eq!(hub.get("/api/v1/me", &tablet).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.get("/api/v1/me", &laptop).await.0, StatusCode::OK);
    let (status, _) = hub
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{tablet_session}"),
            Some(&amani.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already revoked");
    for path in [
        "/api/v1/me/sessions/%FF",
        &format!("/api/v1/users/{}/sessions/%FF", amani.user.id),
    ] {
        let (status, body) = hub.call("DELETE", path, Some(&admin.token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }

    // The admin sees the two left, and ends the laptop's.
    let (status, listed) = hub
        .get(&format!("/api/v1/users/{}/sessions", amani.user.id), &admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|s| s["current"] == false));
    let laptop_session = listed[0]["id"].as_str().unwrap();
    let (status, _) = hub
        .call(
            "DELETE",
            &format!("/api/v1/users/{}/sessions/{laptop_session}", amani.user.id),
            Some(&admin.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(hub.get("/api/v1/me", &laptop).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(hub.get("/api/v1/me", &amani).await.0, StatusCode::OK);
    // Someone else's session cannot be named through one's own list.
    let (_, own) = hub.get("/api/v1/me/sessions", &admin).await;
    let admins = own[0]["id"].as_str().unwrap();
    let (status, _) = hub
        .call(
            "DELETE",
            &format!("/api/v1/me/sessions/{admins}"),
            Some(&amani.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions = audit_actions(&hub, &admin).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "session.revoked").count(),
        2,
        "{actions:?}"
    );
    hub.stop().await;
}

async fn a_change_made_by_another_process_reaches_the_running_hub(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("root", Role::Admin, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut stream = hub.stream(&amani).await;
    let mut phone = Phone::connect(&hub, &amani, "amani-phone", true).await;
    // What `scaan user disable` does: its own connection to the database, the same function.
    let store = scaan_server::storage::Store::connect(&hub.config.database_url())
        .await
        .unwrap();
    let accounts = scaan_server::accounts::Accounts::new(store.clone(), scaan_server::audit::Audit::new(store.clone()));
    let disabled = accounts
        .disable(scaan_server::audit::Actor::CommandLine, amani.user.id)
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(
        hub.get("/api/v1/me", &amani).await.0,
        StatusCode::UNAUTHORIZED,
        "at once over HTTP"
    );
    // The hub looks for changed accounts every second.
    let within = Duration::from_secs(3);
    assert_eq!(closed_within(&mut stream, within).await["code"], 1008);
    mqtt_closed_within(&mut phone, within).await;
    let (_, entries) = hub.get("/api/v1/audit", &admin).await;
    assert_eq!(entries[0]["action"], "account.disabled");
    assert_eq!(entries[0]["actor"], "command line");

    // Each change is followed once; a later one to the same account, while the first is still
    // in the hub's look-back window, is a change of its own.
    accounts
        .enable(scaan_server::audit::Actor::CommandLine, amani.user.id)
        .await
        .unwrap();
    let again = Account {
        token: hub.login("amani", PASSWORD).await.expect("logs in once enabled"),
        user: amani.user.clone(),
    };
    let mut stream = hub.stream(&again).await;
    accounts
        .disable(scaan_server::audit::Actor::CommandLine, amani.user.id)
        .await
        .unwrap();
    assert_eq!(closed_within(&mut stream, within).await["code"], 1008);
    store.close().await;
    hub.stop().await;
}

/// The hub counts the accounts created in its look-back window and reads them only when it has
/// not placed as many: each new one, added while earlier ones are still in the window, is found.
async fn staff_added_by_another_process_one_after_another_are_each_reached(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("watch", Role::WatchOfficer, &[], None).await;
    // What `scaan user add` does: its own connection to the database, the same function.
    let store = scaan_server::storage::Store::connect(&hub.config.database_url())
        .await
        .unwrap();
    let accounts = scaan_server::accounts::Accounts::new(store.clone(), scaan_server::audit::Audit::new(store.clone()));
    for (added, username) in ["amani", "bahati", "chiku"].into_iter().enumerate() {
        let new = scaan_schemas::NewUser {
            username: username.into(),
            password: PASSWORD.into(),
            role: Role::Staff,
            name: None,
            countries: Vec::new(),
            duty_station: Some(scaan_schemas::Position::new(BENI.0, BENI.1)),
            phones: Vec::new(),
        };
        accounts
            .create(scaan_server::audit::Actor::CommandLine, &new)
            .await
            .unwrap();
        // An alert's targeting looks for accounts added a moment ago first.
        let area = circle_alert("Who is reached", BENI.0, BENI.1, 5000.0);
        let (status, preview) = hub.post("/api/v1/alerts/preview", &watch, area).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(
            preview["recipients"],
            added + 1,
            "{username} is reached once added: {preview}"
        );
    }
    store.close().await;
    hub.stop().await;
}
