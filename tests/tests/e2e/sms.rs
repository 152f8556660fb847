//! Staff without data answer by SMS through a real gateway: Kannel with a fake SMSC, whose
//! `fakesmsc` plays the phones. A text reaches the hub through Kannel, and the hub's answer
//! reaches the phone the same way.

use crate::harness::{circle_alert, Backend, TestHub};
use crate::kannel::Kannel;
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const BENI: (f64, f64) = (0.4911, 29.4731);
const TOKEN: &str = "the-gateway-secret";
const ANSWER: Duration = Duration::from_secs(10);
/// How long a phone waits to be sure no answer is coming.
const SILENCE: Duration = Duration::from_secs(3);

on_both_backends!(texts_check_people_in_raise_an_sos_and_change_nothing_for_strangers);

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
    let Some(kannel) = Kannel::from_env(&format!("{}/api/v1/sms/inbound?token={TOKEN}", hub.base)).await else {
        return;
    };
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let jean = hub.account("jean", Role::Staff, &[], Some((0.50, 29.46))).await;
    for (who, phone) in [(&amani, "+243990000001"), (&jean, "+243990000002")] {
        hub.app.store.set_phone(who.user.id, Some(phone)).await.unwrap();
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
