//! Staff without data are texted and answer by SMS through a real gateway: Kannel with a fake
//! SMSC, whose `fakesmsc` plays the phones. A text reaches the hub through Kannel, and the
//! hub's answer reaches the phone the same way; so do the alerts of the SMS fallback, and the
//! network's delivery reports come back through Kannel to the hub.

use crate::harness::{circle_alert, Account, Backend, TestHub};
use crate::kannel::{free_port, Kannel};
use crate::mqtt::{inbox, Phone};
use crate::on_both_backends;
use crate::operations::{scrape, value};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
const TOKEN: &str = "the-gateway-secret";
const ANSWER: Duration = Duration::from_secs(10);
/// How long a phone waits to be sure no answer is coming.
const SILENCE: Duration = Duration::from_secs(3);

on_both_backends!(
    texts_check_people_in_raise_an_sos_and_change_nothing_for_strangers,
    the_unreached_are_texted_the_alert_and_the_silent_again_at_the_second_wave,
    a_gateway_outage_delays_texts_loses_none_and_the_ceiling_holds,
);

fn status_of(board: &Value, username: &str) -> (String, Option<String>, Option<String>) {
    let row = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == username)
        .unwrap();
    (
        row["status"].as_str().unwrap().to_owned(),
        row["via"].as_str().map(str::to_owned),
        row["note"].as_str().map(str::to_owned),
    )
}

async fn texts_check_people_in_raise_an_sos_and_change_nothing_for_strangers(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| c.sms_gateway_token = Some(TOKEN.into())).await;
    let Some(mut kannel) = Kannel::from_env(&format!("{}/api/v1/sms/inbound?token={TOKEN}", hub.base)).await else {
        return;
    };
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let jean = hub.account("jean", Role::Staff, &[], Some((0.50, 29.46))).await;
    for (who, phone) in [(&amani, "+243990000001"), (&jean, "+243990000002")] {
        hub.app.store.set_phones(who.user.id, &[phone.into()]).await.unwrap();
    }

    // Nothing open yet: told so, and nothing changes.
    let answer = kannel.text("+243990000001", "1", ANSWER).await;
    assert!(
        answer.as_deref().is_some_and(|a| a.contains("no headcount")),
        "{answer:?}\n{}",
        kannel.log()
    );

    let mut alert = circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 8000.0);
    alert["checkin_required"] = json!(true);
    let (status, alert) = hub.post("/api/v1/alerts", &watch, alert).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let board_path = format!("/api/v1/alerts/{}/headcount", alert["id"].as_str().unwrap());

    // `1` is safe, `2` is need help with the person's words kept; each is answered.
    let answer = kannel.text("+243990000001", "1", ANSWER).await.expect("an answer to 1");
    assert!(answer.contains("SAFE") && answer.contains("Armed clashes"), "{answer}");
    let answer = kannel
        .text("00243990000002", "2 gunfire close, we stay inside", ANSWER)
        .await;
    assert!(
        answer.as_deref().is_some_and(|a| a.contains("NEEDING HELP")),
        "{answer:?}"
    );
    let (_, board) = hub.get(&board_path, &watch).await;
    assert_eq!(status_of(&board, "amani"), ("safe".into(), Some("sms".into()), None));
    assert_eq!(
        status_of(&board, "jean"),
        (
            "need_help".into(),
            Some("sms".into()),
            Some("gunfire close, we stay inside".into())
        )
    );

    // Anything else is answered with how to answer, and changes nothing; so does a stranger's
    // text, which gets no answer at all; and so does a caller without the gateway's secret.
    let answer = kannel.text("+243990000001", "2nd floor, all fine", ANSWER).await;
    assert!(answer.as_deref().is_some_and(|a| a.contains("reply 1")), "{answer:?}");
    assert_eq!(kannel.text("+243990000099", "2", SILENCE).await, None);
    let forged = reqwest::Client::new()
        .post(format!("{}/api/v1/sms/inbound?token=guess", hub.base))
        .header("x-kannel-from", "+243990000001")
        .body("2")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let (_, after) = hub.get(&board_path, &watch).await;
    assert_eq!(after["staff"], board["staff"], "nothing changed");

    // `SOS` and a few words raises an SOS on the console, with the words.
    let mut console = hub.stream(&watch).await;
    let answer = kannel
        .text("+243990000001", "SOS car stopped at a roadblock", ANSWER)
        .await;
    assert!(
        answer.as_deref().is_some_and(|a| a.contains("SOS is raised")),
        "{answer:?}"
    );
    let sos = loop {
        let envelope = console
            .next_within(Duration::from_secs(5))
            .await
            .expect("the SOS on the console");
        if envelope["type"] == "sos" {
            break envelope;
        }
    };
    assert_eq!(
        (sos["sos"]["username"].as_str(), sos["sos"]["note"].as_str()),
        (Some("amani"), Some("car stopped at a roadblock"))
    );
}

/// A hub that texts through `kannel`, on `port` (where Kannel hands it replies and reports).
async fn texting_hub(
    backend: Backend,
    port: u16,
    kannel: &Kannel,
    adjust: impl FnOnce(&mut scaan_server::Config),
) -> TestHub {
    let sendsms = kannel.sendsms_url();
    TestHub::start_configured(backend, |c| {
        c.listen = ([127, 0, 0, 1], port).into();
        c.sms_gateway_token = Some(TOKEN.into());
        c.sms_kannel_url = Some(sendsms);
        c.sms_fallback_after_s = FALLBACK.as_secs();
        adjust(c);
    })
    .await
}

/// A gateway that hands replies to the hub that will listen on `port`; `None` when skipped.
async fn gateway(port: u16) -> Option<Kannel> {
    Kannel::from_env(&format!("http://127.0.0.1:{port}/api/v1/sms/inbound?token={TOKEN}")).await
}

const FALLBACK: Duration = Duration::from_secs(2);
/// The fallback's sweep runs every second; the gateway and the fake SMSC take a moment more.
const FALLBACK_SLACK: Duration = Duration::from_secs(3);

async fn staff_with_phones(hub: &TestHub, username: &str, phones: &[&str]) -> Account {
    let who = hub.account(username, Role::Staff, &[], Some(BENI)).await;
    let phones: Vec<String> = phones.iter().map(|p| p.to_string()).collect();
    hub.app.store.set_phones(who.user.id, &phones).await.unwrap();
    who
}

fn sms_receipts(deliveries: &Value, username: &str) -> Vec<String> {
    deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == "sms" && d["username"] == username)
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_unreached_are_texted_the_alert_and_the_silent_again_at_the_second_wave(backend: Backend) {
    let port = free_port();
    let Some(mut kannel) = gateway(port).await else {
        return;
    };
    let hub = texting_hub(backend, port, &kannel, |_| {}).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    // Amani's phone has no data; Jean's is online over MQTT; Kito has no number at all.
    staff_with_phones(&hub, "amani", &["+243990000001", "+243810000001"]).await;
    let jean = staff_with_phones(&hub, "jean", &["+243990000002"]).await;
    hub.account("kito", Role::Staff, &[], Some(BENI)).await;
    let mut jeans_phone = Phone::connect(&hub, &jean, "jean-phone", false).await;
    jeans_phone.subscribe(&inbox(jean.user.id)).await;

    let mut alert = circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 8000.0);
    alert["checkin_required"] = json!(true);
    let sent = tokio::time::Instant::now();
    let (status, alert) = hub.post("/api/v1/alerts", &watch, alert).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let id = alert["id"].as_str().unwrap();
    assert_eq!(jeans_phone.expect("alert").await["alert"]["id"], id);

    // Amani is texted the alert once the fallback time has passed, at her first number.
    let text = kannel
        .wait_for(FALLBACK + FALLBACK_SLACK, |r| {
            r.iter().find(|t| t.to == "+243990000001").map(|t| t.text.clone())
        })
        .await
        .unwrap_or_else(|| panic!("no text for amani\n{}", kannel.log()));
    let waited = sent.elapsed();
    assert!(waited >= FALLBACK, "texted after {waited:?}, before the fallback time");
    assert!(
        text.contains("Armed clashes reported near Beni") && text.contains("Reply 1 if safe"),
        "{text}"
    );
    // Jean's phone had it over MQTT: no text for him, nor for Amani's second number.
    tokio::time::sleep(FALLBACK_SLACK).await;
    assert_eq!(kannel.texts_to("+243990000002"), Vec::<String>::new());
    assert_eq!(kannel.texts_to("+243810000001"), Vec::<String>::new());
    assert_eq!(kannel.texts_to("+243990000001").len(), 1);

    // The network's delivery report reaches the alert's deliveries and the board.
    let deliveries_path = format!("/api/v1/alerts/{id}/deliveries");
    let mut receipts = Vec::new();
    for _ in 0..100 {
        let (_, deliveries) = hub.get(&deliveries_path, &watch).await;
        receipts = sms_receipts(&deliveries, "amani");
        if receipts == ["delivered"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receipts, ["delivered"], "{}", kannel.log());
    let board_path = format!("/api/v1/alerts/{id}/headcount");
    let (_, board) = hub.get(&board_path, &watch).await;
    let row = |board: &Value, who: &str| {
        board["staff"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["username"] == who)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            row(&board, "amani")["sms"].as_str(),
            row(&board, "amani")["reached"].as_bool()
        ),
        (Some("delivered"), Some(true))
    );
    assert!(row(&board, "jean").get("sms").is_none(), "{board}");

    // She answers by text: safe, via sms.
    let answer = kannel.text("+243990000001", "1", ANSWER).await.expect("an answer to 1");
    assert!(answer.contains("SAFE"), "{answer}");
    let (_, board) = hub.get(&board_path, &watch).await;
    assert_eq!(status_of(&board, "amani"), ("safe".into(), Some("sms".into()), None));

    // At the second wave (the deadline, half an hour on: the clock is moved, not waited for,
    // so the text is owed from then), Jean has still not answered and is owed a text; Amani,
    // who answered, is not.
    let fallback = hub.app.text_fallback.as_ref().expect("texting is on");
    fallback
        .queue_owed(chrono::Utc::now() + chrono::Duration::minutes(31))
        .await
        .unwrap();
    let (_, deliveries) = hub.get(&deliveries_path, &watch).await;
    assert_eq!(sms_receipts(&deliveries, "jean"), ["queued"], "{deliveries}");
    assert_eq!(sms_receipts(&deliveries, "amani"), ["delivered"], "{deliveries}");
    assert_eq!(sms_receipts(&deliveries, "kito"), Vec::<String>::new(), "no number");
    drop(jeans_phone);
}

async fn a_gateway_outage_delays_texts_loses_none_and_the_ceiling_holds(backend: Backend) {
    let port = free_port();
    let Some(mut kannel) = gateway(port).await else {
        return;
    };
    let hub = texting_hub(backend, port, &kannel, |c| {
        c.sms_max_per_alert = 4;
        c.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let waiting = || async { value(&scrape(&hub).await, "scaan_sms_texts_waiting", json!({})) };
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let numbers: Vec<String> = (1..=5).map(|i| format!("+24399000010{i}")).collect();
    for (i, number) in numbers.iter().enumerate() {
        staff_with_phones(&hub, &format!("staff{i}"), &[number]).await;
    }

    // The gateway is down when the alert goes out.
    kannel.stop_smsbox().await;
    let mut alert = circle_alert("Flooding in Beni", BENI.0, BENI.1, 8000.0);
    alert["checkin_required"] = json!(true);
    let (status, alert) = hub.post("/api/v1/alerts", &watch, alert).await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    tokio::time::sleep(FALLBACK + FALLBACK_SLACK).await;
    assert_eq!(
        kannel.received(),
        Vec::new(),
        "nothing can go while the gateway is down"
    );
    // Four are owed (the ceiling), one is withheld.
    let deliveries_path = format!("/api/v1/alerts/{}/deliveries", alert["id"].as_str().unwrap());
    let (_, deliveries) = hub.get(&deliveries_path, &watch).await;
    let mut statuses: Vec<String> = (0..5)
        .flat_map(|i| sms_receipts(&deliveries, &format!("staff{i}")))
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        ["queued", "queued", "queued", "queued", "withheld"],
        "{deliveries}"
    );
    assert_eq!(waiting().await, 4.0, "the operator sees the texts held up");

    // Back up: every owed text goes, once.
    kannel.start_smsbox().await;
    let all_four = kannel
        .wait_for(Duration::from_secs(20), |r| (r.len() >= 4).then_some(()))
        .await;
    assert!(all_four.is_some(), "{:?}\n{}", kannel.received(), kannel.log());
    tokio::time::sleep(FALLBACK_SLACK).await;
    let mut texted: Vec<String> = kannel.received().into_iter().map(|r| r.to).collect();
    texted.sort();
    let mut owed: Vec<String> = numbers[..4].to_vec();
    owed.sort();
    // Withheld: the last by username.
    assert_eq!(texted, owed, "each owed text exactly once, none for the withheld");
    assert_eq!(waiting().await, 0.0);
}
