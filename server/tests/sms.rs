//! The SMS fallback as an operator runs it: the `scaan` binary texting through a real Kannel
//! (its fake SMSC playing the phones), killed with `kill -9` in the middle of sending, alone and
//! as the leader of two nodes; and a configured gateway that is not there when the hub starts.

mod common;
#[allow(dead_code)]
#[path = "../../tests/common/databases.rs"]
mod databases;
#[path = "../../tests/common/kannel.rs"]
mod kannel;

use common::deployment::alert_body;
use common::{add_user, serve_on, user_command_with, SCAAN};
use kannel::{free_port, Kannel};
use std::process::{Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "the-gateway-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_sending_neither_loses_nor_doubles_a_text() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let Some(kannel) = Kannel::from_env(&format!("http://{listen}/api/v1/sms/inbound?token={TOKEN}")).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let numbers: Vec<String> = (10..50).map(|i| format!("+2439900001{i}")).collect();
    for (i, number) in numbers.iter().enumerate() {
        let username = format!("staff{i}");
        let args = [
            "--username",
            &username,
            "--role",
            "staff",
            "--duty-station",
            "0.49,29.47",
            "--phones",
            number,
        ];
        let out = add_user(dir.path(), &args, "a long passphrase");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = add_user(
        dir.path(),
        &["--username", "watch", "--role", "watch_officer"],
        "a long passphrase",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // All of them in one batch, handed over a few at once: the kill falls in its middle, when
    // the gateway has taken some texts that the hub has not yet recorded as taken.
    let sendsms = kannel.sendsms_url();
    let settings = [
        ("SCAAN_SMS_GATEWAY_TOKEN", TOKEN),
        ("SCAAN_SMS_KANNEL_URL", sendsms.as_str()),
        ("SCAAN_SMS_FALLBACK_AFTER_S", "1"),
        ("SCAAN_SMS_PER_MINUTE", "6000"),
        ("SCAAN_SMS_UNSURE_WAIT_S", "4"),
    ];
    let serve = || serve_on(dir.path(), &listen, &["--mqtt-listen", "127.0.0.1:0"], &settings);
    let (mut hub, base) = serve();
    send_alert(&base).await;

    let some = kannel
        .wait_for(Duration::from_secs(15), |r| (!r.is_empty()).then_some(()))
        .await;
    assert!(some.is_some(), "texts began: {:?}\n{}", kannel.received(), kannel.log());
    Command::new("kill")
        .args(["-KILL", &hub.id().to_string()])
        .status()
        .unwrap();
    hub.wait().unwrap();
    let texted_before = kannel.received().len();
    assert!(texted_before < numbers.len(), "the kill came before the last text");

    let (_hub, _) = serve();
    let all = kannel
        .wait_for(Duration::from_secs(40), |r| (r.len() >= numbers.len()).then_some(()))
        .await;
    assert!(all.is_some(), "{:?}\n{}", kannel.received(), kannel.log());
    // Long enough for an unsure text to be sent again, had its report not settled it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let counts: Vec<(&String, usize)> = numbers.iter().map(|n| (n, kannel.texts_to(n).len())).collect();
    let wrong: Vec<_> = counts.iter().filter(|(_, n)| *n != 1).collect();
    assert!(
        wrong.is_empty(),
        "texts per number, where not one: {wrong:?} ({texted_before} before the kill)"
    );
}

/// Two nodes on one PostgreSQL database: a text the leading node is handing to the gateway is
/// left alone by a node that starts beside it (releasing it there would have the leader send
/// it twice), and once the leader is killed, the node that takes the lead waits for its report
/// and then sends it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_node_taking_the_lead_resends_the_texts_its_last_sender_left_unsure() {
    let Some(databases::Backend::Postgres(server)) = databases::Backend::postgres() else {
        return;
    };
    // Delivery reports go to the node that survives.
    let listen_b = format!("127.0.0.1:{}", free_port());
    let Some(kannel) = Kannel::from_env(&format!("http://{listen_b}/api/v1/sms/inbound?token={TOKEN}")).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let database = databases::Backend::Postgres(server).fresh_database(dir.path()).await;
    let number = "+243990000999";
    let user = |args: &[&str]| {
        let settings = [("SCAAN_DATABASE_URL", database.as_str())];
        let out = user_command_with(dir.path(), "add", args, "a long passphrase", &settings);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    user(&[
        "--username",
        "staff",
        "--role",
        "staff",
        "--duty-station",
        "0.49,29.47",
        "--phones",
        number,
    ]);
    user(&["--username", "watch", "--role", "watch_officer"]);

    let sendsms = kannel.sendsms_url();
    let node = |name: &str, listen: &str| {
        let node_dir = dir.path().join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let settings = [
            ("SCAAN_DATABASE_URL", database.as_str()),
            ("SCAAN_NODE_NAME", name),
            ("SCAAN_SMS_GATEWAY_TOKEN", TOKEN),
            ("SCAAN_SMS_KANNEL_URL", sendsms.as_str()),
            ("SCAAN_SMS_FALLBACK_AFTER_S", "1"),
            ("SCAAN_SMS_UNSURE_WAIT_S", "4"),
        ];
        serve_on(&node_dir, listen, &["--mqtt-listen", "127.0.0.1:0"], &settings)
    };
    let (mut leader, base) = node("hub-a", "127.0.0.1:0");
    let alert_id = send_alert(&base).await;
    // The leader texts the staff member the alert their phone never had.
    let first = kannel
        .wait_for(Duration::from_secs(20), |r| (!r.is_empty()).then_some(()))
        .await;
    assert!(first.is_some(), "the leader texts: {}", kannel.log());

    // The leader is, as far as anyone can tell, in the middle of handing another text over
    // (its second wave, long before that is due): taken, not yet recorded as handed.
    use sqlx::Connection as _;
    let mut db = sqlx::PgConnection::connect(&database).await.unwrap();
    let text: i64 = sqlx::query_scalar(
        "INSERT INTO sms_texts (alert_id, user_id, reason, phone, preference, body, queued_at, next_try_at, sending_since)
         SELECT $1, id, 'second_wave', $2, 0, 'the unsure text', now(), now(), now() FROM users WHERE username = 'staff'
         RETURNING id",
    )
    .bind(alert_id)
    .bind(number)
    .fetch_one(&mut db)
    .await
    .unwrap();

    // Another node starts beside the leader: the text stays the leader's.
    let (_other, _) = node("hub-b", &listen_b);
    let being_handed: bool = sqlx::query_scalar("SELECT sending_since IS NOT NULL FROM sms_texts WHERE id = $1")
        .bind(text)
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(
        being_handed,
        "a node that does not lead left the leader's text being handed"
    );

    // The leader dies; the other takes the lead, waits for a report that never comes, and
    // sends it, once.
    Command::new("kill")
        .args(["-KILL", &leader.id().to_string()])
        .status()
        .unwrap();
    leader.wait().unwrap();
    let unsure = |r: &[kannel::Received]| r.iter().any(|r| r.text == "the unsure text").then_some(());
    let resent = kannel.wait_for(Duration::from_secs(30), unsure).await;
    assert!(resent.is_some(), "{:?}\n{}", kannel.received(), kannel.log());
    tokio::time::sleep(Duration::from_secs(6)).await;
    let times = kannel
        .texts_to(number)
        .iter()
        .filter(|t| *t == "the unsure text")
        .count();
    assert_eq!(times, 1, "{:?}", kannel.received());
}

#[test]
fn a_configured_gateway_that_does_not_answer_stops_the_hub_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let dead = format!(
        "http://127.0.0.1:{}/cgi-bin/sendsms?username=scaan&password=hunter2",
        free_port()
    );
    let out = Command::new(SCAAN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SCAAN_SMS_GATEWAY_TOKEN", TOKEN)
        .env("SCAAN_SMS_KANNEL_URL", &dead)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("SMS gateway") && said.contains("does not answer"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "the password stays hidden: {said}");
}

/// The watch officer sends an alert that asks for a check-in (within ten minutes: no second
/// wave while a test runs), to everyone near Beni.
async fn send_alert(base: &str) -> uuid::Uuid {
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "watch", "password": "a long passphrase"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alert = alert_body("Armed clashes reported near Beni", Some(600));
    let sent = http
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(login["token"].as_str().unwrap())
        .json(&alert)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let sent: serde_json::Value = sent.json().await.unwrap();
    sent["id"].as_str().unwrap().parse().unwrap()
}
