//! The console under stress, in headless Chromium against a real hub: no action lands on the
//! wrong item (a double click on "Acknowledge" as the queue moves, notes that stay with their
//! SOS, a banner that does not shift the queue), consequential actions confirmed by name or
//! count and undoable for a moment, resolved SOS calls and cancelled alerts kept in a history
//! view, a cancel that warns about people in trouble and keeps their case open, reviews before
//! anything is sent (promote, send; zero reach and swapped coordinates as warnings; Enter never
//! sends), and exercises marked everywhere. The SQLite run writes the review and history
//! screenshots in `docs/screenshots/`.

use crate::browser::{Browser, Page};
use crate::console::{log_in, BENI};
use crate::harness::{circle_alert, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

on_both_backends!(
    a_double_click_resolves_nobody_else_and_resolving_is_confirmed_and_undoable,
    a_cancel_with_someone_in_trouble_warns_and_keeps_their_case_open,
    promote_and_send_are_reviewed_before_anything_goes_out,
);

/// Longer than the console's undo window (`UNDO_MS`), with time for the request.
const AFTER_UNDO: Duration = Duration::from_secs(9);

/// Waits for the confirmation (a review, a "Resolve …?") and confirms it.
pub(crate) async fn confirm(page: &Page<'_>) {
    confirmation(page).await;
    page.click("#confirm-yes").await;
}

/// Longer than the console's settle time (`SETTLE_MS` in guard.js): a click after it is meant.
pub(crate) async fn settle() {
    tokio::time::sleep(Duration::from_millis(1000)).await;
}

/// The title of the open confirmation, once it is open.
async fn confirmation(page: &Page<'_>) -> String {
    let title = page
        .wait_for(
            "document.getElementById('confirm')?.open && document.getElementById('confirm-title').textContent",
            "the confirmation",
        )
        .await;
    title.as_str().unwrap().to_owned()
}

/// The confirmation's warnings, in order.
async fn warnings(page: &Page<'_>) -> Vec<String> {
    let list = page
        .eval("[...document.querySelectorAll('#confirm .review-warnings li')].map(li => li.textContent)")
        .await;
    serde_json::from_value(list).unwrap()
}

async fn sos_status(hub: &TestHub, officer: &crate::harness::Account, id: &str) -> Value {
    let (_, all) = hub.get("/api/v1/sos?limit=100", officer).await;
    all.as_array().unwrap().iter().find(|s| s["id"] == id).unwrap()["status"].clone()
}

async fn a_double_click_resolves_nobody_else_and_resolving_is_confirmed_and_undoable(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let olivier = hub.account("olivier", Role::Staff, &[], Some(BENI)).await;
    let pascal = hub.account("pascal", Role::Staff, &[], Some((0.50, 29.46))).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    page.click("#tab-sos").await;
    let side_top = "document.querySelector('.side').getBoundingClientRect().top";
    let before = page.eval(side_top).await;

    let mut ids = Vec::new();
    for (who, note) in [(&olivier, "Stopped at a roadblock"), (&pascal, "Car broke down")] {
        let (status, sos) = hub
            .post(
                "/api/v1/sos",
                who,
                json!({"position": {"lat": BENI.0, "lon": BENI.1}, "note": note}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{sos}");
        ids.push(sos["id"].as_str().unwrap().to_owned());
    }
    let (olivier_sos, pascal_sos) = (ids[0].clone(), ids[1].clone());
    page.wait_for(
        "!document.getElementById('sos-banner').hidden && document.querySelectorAll('#sos-list > li').length === 2",
        "the banner and both calls",
    )
    .await;
    // The banner lies over the map: the queue did not move under the pointer.
    assert_eq!(
        page.eval(side_top).await,
        before,
        "the SOS banner shifted the side panel"
    );
    settle().await;

    // A double click on the banner's "Acknowledge": the first acknowledges Olivier's SOS; the
    // banner then shows Pascal's, and the second click, on the same spot, does nothing. The
    // second click is the page's own, made the moment the banner changes: a runner slowed by
    // the suite's load could otherwise click after the settle time, which is meant to act.
    let spot = page.centre_of("#banner-ack").await;
    page.eval(&format!(
        "(() => {{ const banner = document.getElementById('sos-banner'); \
         const watcher = new MutationObserver(() => {{ \
           if (document.getElementById('banner-ack')?.dataset.sos !== '{pascal_sos}') return; \
           watcher.disconnect(); \
           document.elementFromPoint({x}, {y}).click(); \
           window.clickedAgain = true; }}); \
         watcher.observe(banner, {{ childList: true, subtree: true, attributes: true }}); }})()",
        x = spot.0,
        y = spot.1
    ))
    .await;
    page.click_at(spot).await;
    page.wait_for("window.clickedAgain", "the second click, on Pascal's SOS")
        .await;
    assert!(
        page.eval("document.querySelector('#sos-banner .message').textContent")
            .await
            .as_str()
            .unwrap()
            .contains("just changed"),
        "the officer is told why nothing happened"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sos_status(&hub, &watch, &olivier_sos).await, "acknowledged");
    assert_eq!(
        sos_status(&hub, &watch, &pascal_sos).await,
        "open",
        "the second click acted on Pascal's SOS"
    );

    // Pascal's call acknowledged from its card with a note: the note goes with it.
    settle().await;
    page.type_into(&format!("#note-{pascal_sos}"), "Driver on his way")
        .await;
    page.click(&format!("[data-sos=\"{pascal_sos}\"] button[data-action=ack]"))
        .await;
    page.wait_for("document.getElementById('sos-banner').hidden", "no open SOS left")
        .await;
    let (_, pascal_now) = hub.get("/api/v1/sos?status=acknowledged", &watch).await;
    let acknowledged = pascal_now
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == pascal_sos.as_str())
        .unwrap()
        .clone();
    assert_eq!(acknowledged["acknowledge_note"], "Driver on his way");
    // The banner may hide on the stream's event before the page has the POST's answer, which
    // is when the note is forgotten.
    page.wait_for(
        "(() => { const notes = [...document.querySelectorAll('#sos-list input')].map(i => i.value); \
         return notes.length === 2 && notes.every(v => v === ''); })()",
        "no note carried over to any SOS",
    )
    .await;

    // Resolving asks by name, and can be undone for a moment: undone, nothing changed.
    settle().await;
    page.type_into(&format!("#note-{olivier_sos}"), "Released, unharmed")
        .await;
    page.click(&format!("[data-sos=\"{olivier_sos}\"] button[data-action=resolve]"))
        .await;
    assert_eq!(confirmation(&page).await, "Resolve Test olivier's SOS?");
    page.click("#confirm-yes").await;
    page.wait_for("!!document.querySelector('#undo-bar button.undo')", "the undo bar")
        .await;
    page.click("#undo-bar button.undo").await;
    tokio::time::sleep(AFTER_UNDO).await;
    assert_eq!(sos_status(&hub, &watch, &olivier_sos).await, "acknowledged", "undone");
    assert_eq!(
        page.eval(&format!(
            "!!document.querySelector('[data-sos=\"{olivier_sos}\"] button[data-action=resolve]')"
        ))
        .await,
        json!(true),
        "the SOS is back in the queue, its Resolve button with it"
    );
    assert_eq!(
        page.eval(&format!("document.getElementById('note-{olivier_sos}').value"))
            .await,
        json!("Released, unharmed"),
        "the note waits with its SOS"
    );
    // Resolved for real this time, once the undo window has passed.
    page.click(&format!("[data-sos=\"{olivier_sos}\"] button[data-action=resolve]"))
        .await;
    confirmation(&page).await;
    page.click("#confirm-yes").await;
    page.wait_within(
        &format!("!document.querySelector('[data-sos=\"{olivier_sos}\"]')"),
        "the resolved SOS to leave the queue",
        AFTER_UNDO,
    )
    .await;
    assert_eq!(sos_status(&hub, &watch, &olivier_sos).await, "resolved");
    assert_eq!(sos_status(&hub, &watch, &pascal_sos).await, "acknowledged");

    // The history keeps it, with its trail of what was done.
    page.click("#tab-history").await;
    page.wait_for(
        &format!("!!document.querySelector('[data-history-sos=\"{olivier_sos}\"]')"),
        "the resolved SOS in the history",
    )
    .await;
    assert_eq!(
        page.eval(&format!(
            "document.querySelector('[data-history-sos=\"{olivier_sos}\"] .resolution').textContent"
        ))
        .await,
        json!("Released, unharmed")
    );
    page.click(&format!("[data-history-sos=\"{olivier_sos}\"] button.trail-toggle"))
        .await;
    let actions = page
        .wait_for(
            &format!("(a => a.length === 2 && a)([...document.querySelectorAll('[data-history-sos=\"{olivier_sos}\"] .audit-trail li')].map(li => li.dataset.action))"),
            "the SOS's audit trail",
        )
        .await;
    assert_eq!(actions, json!(["sos.acknowledged", "sos.resolved"]));
    if screenshots {
        page.screenshot("console-history-sos").await;
    }

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn a_cancel_with_someone_in_trouble_warns_and_keeps_their_case_open(backend: Backend) {
    const NOTE: &str = "Gunfire very close to our compound, cannot leave";
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some((0.48, 29.46))).await;
    let bahati = hub.account("bahati", Role::Staff, &[], Some((0.50, 29.48))).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some((0.51, 29.45))).await;
    let mut drill = circle_alert("Evacuation drill, Beni compound", BENI.0, BENI.1, 8000.0);
    drill["status"] = json!("exercise");
    let (_, alert) = hub.post("/api/v1/alerts", &watch, drill).await;
    let id = alert["id"].as_str().unwrap().to_owned();
    let (_, other) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Road closed near Mavivi", 0.58, BENI.1, 1500.0),
        )
        .await;
    let other = other["id"].as_str().unwrap().to_owned();
    let checkins = format!("/api/v1/alerts/{id}/checkins");
    hub.post(&checkins, &amani, json!({"status": "need_help", "note": NOTE}))
        .await;
    hub.post(&checkins, &dunia, json!({"status": "safe"})).await;

    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    // The exercise is marked in the list, in its detail and on its board.
    page.wait_for(
        &format!("!!document.querySelector('[data-alert=\"{id}\"]')"),
        "the alert in the list",
    )
    .await;
    assert_eq!(
        page.eval(&format!("(c => c.classList.contains('drill') && c.querySelector('.pill.drill').textContent)(document.querySelector('[data-alert=\"{id}\"]'))")).await,
        json!("EXERCISE")
    );
    page.wait_for(
        &format!("!!document.querySelector('path.area.drill[data-id=\"{id}\"]')"),
        "the exercise's area marked on the map",
    )
    .await;
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    page.wait_for(
        "document.querySelectorAll('#headcount tbody tr').length === 3",
        "the board",
    )
    .await;
    assert_eq!(
        page.eval("[...document.querySelectorAll('#panel-alerts .drill-banner')].map(b => b.textContent)")
            .await,
        json!(["EXERCISE — not a real alert", "EXERCISE headcount — not a real alert"]),
        "the detail and the board"
    );
    // A reason typed for this alert does not follow the officer to another one picked on the map.
    page.type_into("#cancel-reason", "Drill over").await;
    page.click(&format!("path.area[data-id=\"{other}\"]")).await;
    page.wait_for(
        "document.querySelector('#panel-alerts h2.headline')?.textContent === 'Road closed near Mavivi'",
        "the other alert's detail",
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('cancel-reason').value").await,
        json!("")
    );
    page.click("#panel-alerts button.back").await;
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    page.wait_for(
        "document.querySelectorAll('#headcount tbody tr').length === 3",
        "the board again",
    )
    .await;
    settle().await;

    // Marking Bahati safe asks by name; going back sends nothing.
    let row = |who: &crate::harness::Account| format!("tr[data-staff=\"{}\"]", who.user.id);
    page.click(&format!("{} button.ok", row(&bahati))).await;
    assert_eq!(confirmation(&page).await, "Mark Test bahati safe?");
    assert_eq!(
        page.eval("document.querySelector('#confirm .drill-banner')?.textContent")
            .await,
        json!("EXERCISE — not a real alert")
    );
    page.click("#confirm-no").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, board) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    assert_eq!(board["safe"], 1, "nothing was sent: {board}");

    // Cancelling names the count and warns that Amani still needs help.
    page.type_into("#cancel-reason", "Drill over").await;
    page.click("#cancel-alert").await;
    assert_eq!(confirmation(&page).await, "Send cancel to 3 people?");
    assert_eq!(
        warnings(&page).await,
        ["Test amani still needs help: their case stays open as a follow-up after the cancel."]
    );
    if screenshots {
        page.screenshot("console-cancel-review").await;
    }
    page.click("#confirm-yes").await;
    page.wait_for(
        "!!document.querySelector('#panel-alerts .detail .pill.cancelled')",
        "the cancelled alert",
    )
    .await;
    let follow_up = page
        .wait_for(
            "document.getElementById('follow-up')?.textContent",
            "the follow-up note",
        )
        .await;
    assert!(
        follow_up.as_str().unwrap().contains("1 case stays open: Test amani"),
        "{follow_up}"
    );
    // Only Amani's row can still be checked in; her note is still there.
    assert_eq!(
        page.eval(&format!(
            "[!!document.querySelector('{} button.ok'), !!document.querySelector('{} button.ok')]",
            row(&amani),
            row(&bahati)
        ))
        .await,
        json!([true, false])
    );
    assert_eq!(
        page.eval(&format!("document.querySelector('{} .note').textContent", row(&amani)))
            .await,
        json!(NOTE)
    );
    settle().await;
    page.click(&format!("{} button.ok", row(&amani))).await;
    assert_eq!(confirmation(&page).await, "Mark Test amani safe?");
    page.click("#confirm-yes").await;
    page.wait_within(
        "document.getElementById('follow-up')?.textContent.includes('nobody was left in trouble')",
        "Amani's case settled",
        AFTER_UNDO,
    )
    .await;
    let (_, board) = hub.get(&format!("/api/v1/alerts/{id}/headcount"), &watch).await;
    let amani_row = board["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "amani")
        .unwrap()
        .clone();
    assert_eq!(
        (amani_row["status"].as_str(), amani_row["via"].as_str()),
        (Some("safe"), Some("phone"))
    );

    // The history keeps the cancelled alert, marked as the exercise it was, with its trail.
    page.click("#tab-history").await;
    page.wait_for(
        &format!("!!document.querySelector('[data-history-alert=\"{id}\"] .pill.drill')"),
        "the cancelled alert in the history",
    )
    .await;
    page.click(&format!("[data-history-alert=\"{id}\"] button.trail-toggle"))
        .await;
    let actions = page
        .wait_for(
            &format!("(a => a.length === 3 && a)([...document.querySelectorAll('[data-history-alert=\"{id}\"] .audit-trail li')].map(li => li.dataset.action))"),
            "the alert's audit trail",
        )
        .await;
    assert_eq!(actions, json!(["alert.sent", "alert.cancelled", "checkin.proxy"]));
    let words = page.eval("document.getElementById('panel-history').innerText").await;
    assert!(!words.as_str().unwrap().contains("null"), "{words}");
    if screenshots {
        page.screenshot("console-history").await;
    }

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn press_enter(page: &Page<'_>) {
    for kind in ["keyDown", "keyUp"] {
        page.call(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": if kind == "keyDown" { "\r" } else { "" }}),
        )
        .await;
    }
}

async fn promote_and_send_are_reviewed_before_anything_goes_out(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("bahati", Role::Staff, &[], Some((0.50, 29.48))).await;
    let (_, report) = hub
        .post(
            "/api/v1/reports",
            &amani,
            json!({"category": "crossfire", "description": "Gunfire at the market", "position": {"lat": BENI.0, "lon": BENI.1}}),
        )
        .await;
    let report_id = report["id"].as_str().unwrap().to_owned();
    let browser = Browser::launch().await;
    let page = browser.page().await;
    page.viewport(1280, 720).await;
    log_in(&page, &hub, "manila.watch", false).await;

    // Promote opens the composer filled from the report: nothing is sent yet.
    page.click("#tab-reports").await;
    page.wait_for(
        &format!("!!document.querySelector('[data-report=\"{report_id}\"] button.promote')"),
        "the report",
    )
    .await;
    page.click(&format!("[data-report=\"{report_id}\"] button.promote"))
        .await;
    page.wait_for("!document.getElementById('panel-compose').hidden && document.getElementById('c-headline').value === 'Crossfire reported'", "the composer filled from the report").await;
    page.wait_for(
        "document.getElementById('c-preview').textContent.startsWith('Reaches')",
        "the reach",
    )
    .await;
    assert_eq!(hub.stored_alerts().await, 0, "promote sent at once");
    // No instruction: it asks for one instead of sending.
    page.click("#c-send").await;
    page.wait_for(
        "document.querySelector('#composer .message').textContent.includes('instruction')",
        "the instruction asked for",
    )
    .await;
    assert_eq!(
        page.eval("!!document.getElementById('confirm')?.open").await,
        json!(false)
    );
    page.type_into("#c-instruction", "Avoid the market; stay indoors.")
        .await;
    // Enter in a field never sends (nor opens the review).
    page.click("#c-headline").await;
    press_enter(&page).await;
    page.click("#c-area-description").await;
    press_enter(&page).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        page.eval("!!document.getElementById('confirm')?.open").await,
        json!(false)
    );
    assert_eq!(hub.stored_alerts().await, 0, "Enter sent the alert");

    // The review: reach, countries, names, instruction; still nothing sent.
    page.click("#c-send").await;
    assert_eq!(confirmation(&page).await, "Send to 2 people?");
    let facts = page
        .eval("Object.fromEntries([...document.querySelectorAll('#confirm dl > div')].map(d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]))")
        .await;
    assert_eq!(facts["Countries"], "CD");
    assert_eq!(facts["Instruction"], "Avoid the market; stay indoors.");
    assert_eq!(facts["From the report of"], "amani");
    assert_eq!(
        page.eval("document.querySelector('#confirm .review-names .names').textContent")
            .await,
        json!("Test amani, Test bahati")
    );
    assert_eq!(warnings(&page).await, Vec::<String>::new());
    if screenshots {
        page.screenshot("console-review").await;
    }
    assert_eq!(hub.stored_alerts().await, 0, "sent before the review was confirmed");
    page.click("#confirm-yes").await;
    page.wait_for(
        "document.querySelector('#panel-alerts h2.headline')?.textContent === 'Crossfire reported'",
        "the promoted alert",
    )
    .await;
    let (_, promoted) = hub.get(&format!("/api/v1/reports/{report_id}"), &watch).await;
    let (_, alert) = hub
        .get(
            &format!("/api/v1/alerts/{}", promoted["alert_id"].as_str().unwrap()),
            &watch,
        )
        .await;
    assert_eq!(
        (alert["instruction"].as_str(), alert["recipients"].as_u64()),
        (Some("Avoid the market; stay indoors."), Some(2))
    );

    // Pasted GeoJSON with latitude and longitude swapped reaches nobody: a warning, never "ok".
    page.click("#tab-compose").await;
    page.type_into("#c-headline", "Road closed").await;
    page.type_into("#c-event", "Roadblock").await;
    page.type_into("#c-instruction", "Do not travel").await;
    page.type_into("#c-area-description", "Beni").await;
    page.type_into(
        "#c-geojson",
        r#"{"type": "Polygon", "coordinates": [[[0.40, 29.40], [0.60, 29.40], [0.60, 29.55], [0.40, 29.55], [0.40, 29.40]]]}"#,
    )
    .await;
    let preview = page
        .wait_for("(p => p.textContent.startsWith('Reaches') && [p.textContent, p.className])(document.getElementById('c-preview'))", "the preview")
        .await;
    assert!(
        preview[0].as_str().unwrap().starts_with("Reaches 0 people"),
        "{preview}"
    );
    assert_eq!(preview[1], "preview warn", "zero reach shown as fine");
    page.click("#c-send").await;
    assert_eq!(confirmation(&page).await, "Send to 0 people?");
    let warned = warnings(&page).await;
    assert!(warned[0].starts_with("It reaches nobody"), "{warned:?}");
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with("Longitude and latitude look swapped")),
        "{warned:?}"
    );
    assert_eq!(
        page.eval("document.getElementById('confirm-yes').className").await,
        json!("danger")
    );
    if screenshots {
        page.screenshot("console-review-warning").await;
    }
    page.click("#confirm-no").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hub.stored_alerts().await, 1, "only the promoted alert");

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}
