//! The console's journeys panel in headless Chromium against a real hub: a journey under way
//! shows up live with its legs and how its next check-in stands; its missed check-in becomes
//! an alarm the officer acknowledges and resolves with notes from the panel; "arrived" takes
//! the journey off the panel.

use crate::browser::Browser;
use crate::console::{log_in, BENI};
use crate::console_actions::settle;
use crate::harness::{Backend, TestHub};
use crate::on_both_backends;
use chrono::{Duration as Span, Utc};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::json;
use std::time::Duration;

on_both_backends!(the_journeys_panel_follows_journeys_and_handles_missed_check_ins);

async fn the_journeys_panel_follows_journeys_and_handles_missed_check_ins(backend: Backend) {
    let hub = TestHub::start_configured(backend, |c| {
        c.journey_remind_before_s = 1;
        c.journey_grace_s = 2;
    })
    .await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "kivu.officer", false).await;
    page.click("#tab-journeys").await;
    page.wait_for(
        "!document.getElementById('panel-journeys').hidden && document.getElementById('panel-journeys').textContent.includes('No journey is under way')",
        "the empty journeys panel",
    )
    .await;

    let (status, journey) = hub
        .post(
            "/api/v1/journeys",
            &amani,
            json!({"note": "road Beni → Butembo", "legs": [
                {"to": "Butembo", "country": "CD", "arrive_by": (Utc::now() + Span::seconds(4)).to_rfc3339()}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{journey}");
    let id = journey["id"].as_str().unwrap().to_owned();
    let card = format!("document.querySelector(\"#journey-list [data-journey='{id}']\")");
    let text = page
        .wait_for(&format!("{card}?.textContent"), "the journey's card")
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("Test amani") && text.contains("Butembo (CD)") && text.contains("on schedule"),
        "{text}"
    );
    assert_eq!(
        page.eval("document.getElementById('count-journeys').textContent").await,
        "1"
    );

    // Missed: the stage moves on live, and the alarm heads the panel.
    let alarm_card = "document.querySelector('#journey-alarms > li')";
    page.wait_within(
        &format!("{alarm_card} && {card}?.textContent.includes('missed: alarm raised')"),
        "the missed check-in's alarm",
        Duration::from_secs(10),
    )
    .await;
    let alarm_id = page.eval(&format!("{alarm_card}.dataset.alarm")).await;
    let alarm_id = alarm_id.as_str().unwrap().to_owned();
    let alarm_text = page.eval(&format!("{alarm_card}.textContent")).await;
    assert!(
        alarm_text.as_str().unwrap().contains("missed check-in") && alarm_text.as_str().unwrap().contains("Butembo"),
        "{alarm_text}"
    );
    assert_eq!(
        page.eval("document.getElementById('count-journeys').classList.contains('hot')")
            .await,
        true
    );
    settle().await;

    // Acknowledged with a note.
    page.type_into(&format!("#alarm-note-{alarm_id}"), "calling the driver")
        .await;
    page.click(&format!("[data-alarm='{alarm_id}'] [data-action=ack]"))
        .await;
    page.wait_for(
        &format!("document.querySelector(\"[data-alarm='{alarm_id}']\")?.classList.contains('acknowledged')"),
        "the alarm to show as acknowledged",
    )
    .await;
    let (_, alarms) = hub.get("/api/v1/journey-alarms", &kivu).await;
    assert_eq!(
        (
            &alarms[0]["status"],
            &alarms[0]["acknowledge_note"],
            &alarms[0]["acknowledged_by"]
        ),
        (
            &json!("acknowledged"),
            &json!("calling the driver"),
            &json!("kivu.officer")
        )
    );

    // Resolving needs a note; with one, the alarm leaves the panel.
    settle().await;
    page.click(&format!("[data-alarm='{alarm_id}'] [data-action=resolve]"))
        .await;
    let told = page
        .wait_for(
            &format!("document.querySelector(\"[data-alarm='{alarm_id}'] .message\")?.textContent || null"),
            "the request for a note",
        )
        .await;
    assert_eq!(told, "Write what happened before resolving.");
    page.type_into(&format!("#alarm-note-{alarm_id}"), "reached by phone: safe")
        .await;
    page.click(&format!("[data-alarm='{alarm_id}'] [data-action=resolve]"))
        .await;
    page.wait_for(
        "!document.querySelector('#journey-alarms') && document.getElementById('panel-journeys').textContent.includes('No missed check-in is open')",
        "the resolved alarm to leave the panel",
    )
    .await;
    let (_, alarms) = hub.get("/api/v1/journey-alarms", &kivu).await;
    assert_eq!(
        (&alarms[0]["status"], &alarms[0]["resolution"]),
        (&json!("resolved"), &json!("reached by phone: safe"))
    );

    // Arrived safely: the journey leaves the panel too.
    let (status, _) = hub
        .post(
            &format!("/api/v1/journeys/{id}/checkin"),
            &amani,
            json!({"status": "arrived"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    page.wait_for(&format!("!{card}"), "the arrived journey to leave the panel")
        .await;
    assert_eq!(
        page.eval("document.getElementById('count-journeys').textContent").await,
        "0"
    );

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}
