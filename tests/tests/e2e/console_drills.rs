//! The console's time-to-account and drills, in headless Chromium against a real hub: the
//! board shows when half, 90 % and everyone had answered and follows a new answer live, with
//! the groups by duty station and channel; a drill carries its banner on the board and its
//! report names who never answered; the tab's count of alerts and the real alerts' summary
//! in History leave the drill out.

use crate::browser::Browser;
use crate::console::{log_in, BENI};
use crate::harness::{circle_alert, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};

const BUTEMBO: (f64, f64) = (0.1420, 29.2910);

on_both_backends!(the_board_shows_time_to_account_live_and_a_drill_its_banner_and_report);

/// What the page shows of a figure (`data-tta`), a group row, or a drill figure.
fn text_of(selector: &str) -> String {
    format!("(document.querySelector('{selector}') || {{}}).textContent")
}

async fn the_board_shows_time_to_account_live_and_a_drill_its_banner_and_report(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some(BENI)).await;
    hub.account("dunia", Role::Staff, &[], Some(BUTEMBO)).await;

    let mut drill = circle_alert("Evacuation drill", BENI.0, BENI.1, 60_000.0);
    drill["status"] = json!("exercise");
    let (status, drill) = hub.post("/api/v1/alerts", &watch, drill).await;
    assert_eq!(status, StatusCode::CREATED, "{drill}");
    let id = drill["id"].as_str().unwrap().to_owned();
    let (_, first) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &amani,
            json!({"status": "safe"}),
        )
        .await;

    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    // The tab counts live alerts only: the drill is listed, marked, and not counted.
    page.wait_for(
        "!!document.querySelector('[data-alert] .pill.drill')",
        "the drill in the list",
    )
    .await;
    assert_eq!(page.eval(&text_of("#count-alerts")).await, json!("0"));
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    page.wait_for(
        "!!document.querySelector('#time-to-account')",
        "time-to-account on the board",
    )
    .await;
    assert_eq!(
        page.eval(&text_of("#headcount .drill-banner")).await,
        json!("EXERCISE headcount — not a real alert")
    );

    // One of three: nothing is 50 % yet; Amani's answer shows under its channel and station.
    let (_, board) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    assert_eq!(board["time_to_account"]["accounted"], 1);
    assert_eq!(page.eval(&text_of("[data-tta=\"50\"]")).await, json!("—"));
    assert_eq!(
        page.eval(&text_of("[data-tta-groups=\"channel\"] li[data-group] .gname"))
            .await,
        json!("App (HTTP)")
    );
    let stations = page
        .eval("[...document.querySelectorAll('[data-tta-groups=\"duty_station\"] li[data-group]')].map(r => [r.children[0].textContent, r.children[1].textContent])")
        .await;
    assert_eq!(
        stations,
        json!([["CD (0.491, 29.473)", "1 of 2"], ["CD (0.142, 29.291)", "0 of 1"]]),
        "{stations}"
    );
    let amani_after = first["recorded_at"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap()
        - drill["sent_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap();
    assert!(amani_after < chrono::Duration::seconds(10));
    assert!(
        page.eval(&text_of(&format!("[data-after=\"{}\"]", amani.user.id)))
            .await
            .as_str()
            .is_some_and(|t| t.contains("first answer after") && t.contains(" s (App (HTTP))")),
        "Amani's row says when her first answer came"
    );

    // Bahati answers: two of three is past half, and the board follows without a reload.
    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &bahati,
        json!({"status": "need_help"}),
    )
    .await;
    let (_, board) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    let half: f64 = board["time_to_account"]["accounted_50_s"]
        .as_f64()
        .expect("half answered");
    page.wait_for(
        "document.querySelector('[data-tta=\"50\"]').textContent !== '—'",
        "the 50 % figure, live",
    )
    .await;
    let shown = page.eval(&text_of("[data-tta=\"50\"]")).await;
    let seconds: f64 = shown
        .as_str()
        .and_then(|t| t.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("seconds on the board: {shown}"));
    assert!(
        (seconds - half).abs() <= 0.05,
        "the board shows the hub's figure: {shown}, {half}"
    );
    assert_eq!(page.eval(&text_of("[data-tta=\"100\"]")).await, json!("—"));

    // The drill report: who never answered, by name.
    page.click("#show-drill-report").await;
    page.wait_for("!!document.querySelector('#drill-report')", "the drill report")
        .await;
    let report: Value = page
        .eval("({banner: document.querySelector('#drill-report .drill-banner').textContent, never: [...document.querySelectorAll('[data-never]')].map(li => li.dataset.never), answered: document.querySelector('[data-drill=\"answered\"]').textContent, sent: document.querySelector('[data-drill=\"sent_to\"]').textContent})")
        .await;
    assert_eq!(
        report,
        json!({"banner": "EXERCISE — drill report", "never": ["dunia"], "answered": "2", "sent": "3"})
    );

    // History: the period's summary keeps the drill apart from the real headcounts.
    page.click("#tab-history").await;
    page.wait_for(
        &format!("!!document.querySelector('[data-summary=\"exercise\"] [data-summary-alert=\"{id}\"]')"),
        "the drill in the drills' summary",
    )
    .await;
    assert_eq!(
        page.eval("document.querySelectorAll('[data-summary=\"actual\"] [data-summary-alert]').length")
            .await,
        json!(0),
        "no drill among the real headcounts"
    );
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    hub.stop().await;
}
