//! Drills end to end: an alert with status `exercise` runs the whole loop — delivery, receipts,
//! check-ins by app and by text, the second wave — while a real alert is open over the same
//! people; every message says it is an exercise; the real headcount, the real summary and the
//! SOS calls stay exactly as they were; and the drill report names exactly who never answered.

use crate::harness::{circle_alert, polygon_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BENI: (f64, f64) = (0.4911, 29.4731);
const BUTEMBO: (f64, f64) = (0.1420, 29.2910);
/// Beni and Butembo, 40 km apart, and nothing of Uganda.
const BENI_AND_BUTEMBO: &[(f64, f64)] = &[(0.08, 29.2), (0.08, 29.52), (0.55, 29.52), (0.55, 29.2)];
const TOKEN: &str = "the-gateway-secret";

on_both_backends!(a_drill_runs_the_whole_loop_apart_from_the_live_figures_and_reports_who_never_answered);

async fn text(hub: &TestHub, from: &str, body: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v1/sms/inbound?token={TOKEN}", hub.base))
        .header("X-Kannel-From", from)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    answer.text().await.unwrap()
}

async fn get_ok(hub: &TestHub, path: &str, who: &Account) -> Value {
    let (status, body) = hub.get(path, who).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Everything live an officer reads: the real headcount, the real summary, the SOS calls.
async fn live_figures(hub: &TestHub, watch: &Account, live: &str) -> Value {
    let mut board = get_ok(hub, &format!("/api/v1/alerts/{live}/headcount"), watch).await;
    for p in board["staff"].as_array_mut().unwrap() {
        // Whether a device has the real alert moves with the phones' receipts, not with answers.
        p.as_object_mut().unwrap().remove("reached");
    }
    board.as_object_mut().unwrap().remove("not_reached");
    let mut summary = get_ok(hub, "/api/v1/headcounts/summary", watch).await;
    summary.as_object_mut().unwrap().remove("to");
    summary.as_object_mut().unwrap().remove("from");
    json!({
        "board": board,
        "summary": summary,
        "open_sos": get_ok(hub, "/api/v1/sos?status=open", watch).await,
        "acknowledged_sos": get_ok(hub, "/api/v1/sos?status=acknowledged", watch).await,
    })
}

async fn a_drill_runs_the_whole_loop_apart_from_the_live_figures_and_reports_who_never_answered(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| c.sms_gateway_token = Some(TOKEN.into())).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let uganda = hub
        .account("uganda.officer", Role::SecurityOfficer, &["UG"], None)
        .await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    let eliya = hub.account("eliya", Role::Staff, &[], Some(BENI)).await;
    let chausiku = hub.account("chausiku", Role::Staff, &[], Some(BUTEMBO)).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some(BUTEMBO)).await;
    hub.app
        .store
        .set_phones(amani.user.id, &["+243990000001".into()])
        .await
        .unwrap();
    hub.app
        .store
        .set_phones(chausiku.user.id, &["+243990000003".into()])
        .await
        .unwrap();

    // A real alert over Beni, answered by Amani and by Bahati (who needs help).
    let (_, live) = hub
        .post(
            "/api/v1/alerts",
            &kivu,
            circle_alert("Clashes in Beni", BENI.0, BENI.1, 8_000.0),
        )
        .await;
    let live_id = live["id"].as_str().unwrap().to_owned();
    for (who, status) in [(&amani, "safe"), (&bahati, "need_help")] {
        let (code, body) = hub
            .post(
                &format!("/api/v1/alerts/{live_id}/checkins"),
                who,
                json!({"status": status}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let before = live_figures(&hub, &watch, &live_id).await;
    assert_eq!(before["summary"]["headcounts"].as_array().unwrap().len(), 1);

    // The drill: Beni and Butembo, marked as an exercise on every channel.
    let mut dunia_stream = hub.stream(&dunia).await;
    let mut officers = hub.stream(&kivu).await;
    let mut drill = polygon_alert("Evacuation drill", BENI_AND_BUTEMBO);
    drill["status"] = json!("exercise");
    let (status, drill) = hub.post("/api/v1/alerts", &kivu, drill).await;
    assert_eq!(status, StatusCode::CREATED, "{drill}");
    let drill_id = drill["id"].as_str().unwrap().to_owned();
    assert_eq!(drill["recipients"], 5);
    let delivered = dunia_stream.expect("alert").await;
    assert_eq!(delivered["alert"]["status"], "exercise", "{delivered}");
    let cap = reqwest::Client::new()
        .get(format!("{}/api/v1/alerts/{drill_id}/cap", hub.base))
        .bearer_auth(&kivu.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cap.contains("<status>Exercise</status>"), "{cap}");

    // Answers: Bahati by the app (needs help, in the drill); Chausiku by text, told it was the
    // exercise.
    let (code, body) = hub
        .post(
            &format!("/api/v1/alerts/{drill_id}/checkins"),
            &bahati,
            json!({"status": "need_help", "note": "drill: ankle"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let reply = text(&hub, "+243990000003", "1").await;
    assert!(
        reply.starts_with("SCAAN EXERCISE: ") && reply.contains("Evacuation drill"),
        "{reply}"
    );
    // The officers' counts move for the drill as for any headcount.
    loop {
        let envelope = officers
            .next_within(std::time::Duration::from_secs(10))
            .await
            .expect("the drill's counts on the officers' stream");
        if envelope["type"] == "headcount"
            && envelope["alert_id"] == drill_id.as_str()
            && envelope["safe"] == 1
            && envelope["need_help"] == 1
        {
            break;
        }
    }

    // Escalation: at the deadline the silent get the second wave, still an exercise.
    let after_deadline = chrono::Utc::now() + chrono::Duration::seconds(1800 + 1);
    hub.app.headcounts.escalate_due(after_deadline).await.unwrap();
    let wave = loop {
        let envelope = dunia_stream.expect("alert").await;
        if envelope["wave"] == 2 {
            break envelope;
        }
    };
    assert_eq!(
        (&wave["alert"]["id"], &wave["alert"]["status"]),
        (&json!(drill_id), &json!("exercise"))
    );

    // The live figures are exactly as they were.
    assert_eq!(
        live_figures(&hub, &watch, &live_id).await,
        before,
        "the drill touched live figures"
    );
    let (_, drills) = hub.get("/api/v1/headcounts/summary?status=exercise", &watch).await;
    let listed: Vec<&Value> = drills["headcounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["alert_id"])
        .collect();
    assert_eq!(listed, [&json!(drill_id)], "{drills}");
    assert_eq!(
        (drills["people"].as_u64(), drills["accounted"].as_u64()),
        (Some(5), Some(2))
    );

    // Amani is in both: her text answers the real headcount, never the drill.
    let reply = text(&hub, "+243990000001", "safe").await;
    assert!(
        reply.starts_with("SCAAN: ") && reply.contains("Clashes in Beni"),
        "{reply}"
    );
    let real = get_ok(&hub, &format!("/api/v1/alerts/{live_id}/headcount"), &watch).await;
    let amani_real = real["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "amani")
        .unwrap();
    assert_eq!(
        (&amani_real["status"], &amani_real["via"]),
        (&json!("safe"), &json!("sms"))
    );
    let before = live_figures(&hub, &watch, &live_id).await;

    // The drill report: sent to five, two answered, and exactly who never did.
    let report = get_ok(&hub, &format!("/api/v1/alerts/{drill_id}/drill-report"), &kivu).await;
    let board = get_ok(&hub, &format!("/api/v1/alerts/{drill_id}/headcount"), &kivu).await;
    let never: Vec<&str> = report["never_answered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["username"].as_str().unwrap())
        .collect();
    assert_eq!(never, ["amani", "dunia", "eliya"], "{report}");
    let dunia_row = report["never_answered"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "dunia")
        .unwrap();
    assert_eq!(dunia_row["delivered"], true, "her stream had it: {dunia_row}");
    assert_eq!(
        ["sent_to", "answered", "safe", "need_help"].map(|k| report[k].as_u64().unwrap()),
        [5, 2, 1, 1],
        "{report}"
    );
    let delivered_on_board = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["reached"] == true || p["status"] != "no_response")
        .count();
    assert_eq!(report["delivered"], delivered_on_board, "{report}");
    assert!(report["second_wave_at"].is_string(), "{report}");
    assert_eq!(report["ended"], false);
    assert_eq!(report["time_to_account"], board["time_to_account"]);
    assert_eq!(report["time_to_account"]["accounted"], 2);

    // A real alert has no drill report; an officer elsewhere does not see this one.
    let (status, body) = hub.get(&format!("/api/v1/alerts/{live_id}/drill-report"), &kivu).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_an_exercise"))
    );
    let (status, _) = hub
        .get(&format!("/api/v1/alerts/{drill_id}/drill-report"), &uganda)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = hub
        .get(&format!("/api/v1/alerts/{drill_id}/drill-report"), &eliya)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Ended: cancelled, the report is final and still names them.
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{drill_id}/cancel"),
            &kivu,
            json!({"reason": "drill over"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let report = get_ok(&hub, &format!("/api/v1/alerts/{drill_id}/drill-report"), &kivu).await;
    assert_eq!(report["ended"], true);
    assert_eq!(report["never_answered"].as_array().unwrap().len(), 3);
    assert_eq!(live_figures(&hub, &watch, &live_id).await, before);
    hub.stop().await;
}
