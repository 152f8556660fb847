//! The operations-centre console in headless Chromium against a real hub: logging in, an alert
//! appearing live, drawing and sending an alert, a phone's check-in moving the headcount, an
//! SOS raising the alarm until acknowledged, the stream coming back after a hub restart; no
//! JavaScript error along the way. The SQLite run writes the screenshots in `docs/screenshots/`.
//! Also: triaging incident reports and promoting one to an alert, editing a country advisory
//! and reading its history, clearing a trip; serving the console's files, and the staff
//! positions its map shows. An administrator disabling an account from the accounts page.

use crate::browser::{Browser, Page};
use crate::console_actions::{confirm, settle};
use crate::harness::{circle_alert, Account, Backend, TestHub, PASSWORD};
use crate::on_both_backends;
use chrono::Utc;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

pub(crate) const BENI: (f64, f64) = (0.4911, 29.4731);
const KAMPALA: (f64, f64) = (0.3476, 32.5825);

on_both_backends!(
    the_console_follows_and_acts_on_events_live,
    the_console_triages_reports_and_keeps_advisories,
    the_console_is_served_from_the_binary,
    officers_see_staff_positions_of_their_countries,
    the_board_shows_who_is_in_trouble_first_and_follows_a_wider_area_at_once,
    an_admin_disables_an_account_from_the_accounts_page,
);

pub(crate) async fn log_in(page: &Page<'_>, hub: &TestHub, username: &str, screenshot: bool) {
    page.goto(&hub.base).await;
    page.wait_for("!document.getElementById('login').hidden", "the login form")
        .await;
    if screenshot {
        page.screenshot("console-login").await;
    }
    page.type_into("#login-username", username).await;
    page.type_into("#login-password", PASSWORD).await;
    page.click("#login-form button[type=submit]").await;
    page.wait_for(
        "document.getElementById('link').textContent === 'Live'",
        "the stream to be live",
    )
    .await;
}

async fn the_console_follows_and_acts_on_events_live(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let jean = hub.account("jean", Role::Staff, &[], Some((0.50, 29.46))).await;
    hub.account("grace", Role::Staff, &[], Some(KAMPALA)).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;

    log_in(&page, &hub, "manila.watch", screenshots).await;
    // The session is kept: a reload goes straight back to the console.
    page.reload().await;
    page.wait_for(
        "document.getElementById('link').textContent === 'Live'",
        "live again after a reload",
    )
    .await;
    assert_eq!(page.eval("document.getElementById('login').hidden").await, json!(true));

    // An alert posted through the API shows on the map and in the list.
    let (status, posted) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 8000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let id = posted["id"].as_str().unwrap();
    // Pushed live (no reload); how soon is the console bench's figure (docs/benchmarks.md).
    page.wait_for(
        &format!("!!document.querySelector('[data-alert=\"{id}\"]') && !!document.querySelector('path.area[data-id=\"{id}\"]')"),
        "the alert in the list and on the map",
    )
    .await;
    if screenshots {
        page.screenshot("console-alerts").await;
    }

    // Draw a circle around Beni, preview its reach, send it.
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    page.wait_for("!!document.getElementById('headcount')", "the alert's detail")
        .await;
    page.click("#tab-compose").await;
    page.type_into("#c-headline", "Roadblocks on the Beni–Butembo road")
        .await;
    page.type_into("#c-event", "Roadblock").await;
    page.type_into("#c-area-description", "Beni town").await;
    page.click("#draw-circle").await;
    // The map is centred on the selected alert, Beni: click the centre, then the edge.
    let centre = page.centre_of("#map").await;
    page.click_at(centre).await;
    page.click_at((centre.0 + 100.0, centre.1)).await;
    let preview = page
        .wait_for(
            "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent)",
            "the preview of the drawn area's reach",
        )
        .await;
    assert_eq!(
        preview,
        json!("Reaches 2 people in CD."),
        "amani and jean, not grace in Kampala"
    );
    if screenshots {
        page.screenshot("console-composer").await;
    }
    page.click("#c-send").await;
    confirm(&page).await;
    page.wait_for(
        "[...document.querySelectorAll('#panel-alerts h2.headline')].some(h => h.textContent.startsWith('Roadblocks'))",
        "the sent alert's detail",
    )
    .await;
    let (_, alerts) = hub.get("/api/v1/alerts", &watch).await;
    let drawn = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["headline"] == "Roadblocks on the Beni–Butembo road")
        .expect("the drawn alert was sent")
        .clone();
    assert_eq!(drawn["area"]["geometry"]["type"], "Point");
    assert_eq!(drawn["recipients"], 2);
    assert_eq!(drawn["sender"], "manila.watch");
    let drawn_id = drawn["id"].as_str().unwrap().to_owned();

    // A phone's check-in moves the headcount; a proxy check-in is one click with the channel.
    page.wait_for(
        "document.querySelector('[data-count=\"no_response\"]')?.textContent === '2'",
        "2 without answer",
    )
    .await;
    let mut phone = hub.stream(&amani).await;
    phone
        .send(json!({"type": "checkin", "alert_id": drawn_id, "status": "safe", "ref": "c1"}))
        .await;
    assert_eq!(phone.expect("checkin_ack").await["ref"], "c1");
    page.wait_for(
        "document.querySelector('[data-count=\"safe\"]')?.textContent === '1'",
        "the phone's check-in on the board",
    )
    .await;
    page.eval(
        "(s => { s.value = 'radio'; s.dispatchEvent(new Event('change')); })(document.getElementById('proxy-via'))",
    )
    .await;
    // The board re-sorts once Amani's answer is in; a click just after that would be ignored.
    page.wait_for(
        &format!("!!document.querySelector('tr.safe[data-staff=\"{}\"]')", amani.user.id),
        "Amani's row safe",
    )
    .await;
    settle().await;
    page.click(&format!("tr[data-staff=\"{}\"] button.ok", jean.user.id))
        .await;
    confirm(&page).await;
    page.wait_for(
        "document.querySelector('[data-count=\"safe\"]')?.textContent === '2'",
        "the proxy check-in",
    )
    .await;
    let (_, headcount) = hub.get(&format!("/api/v1/alerts/{drawn_id}/headcount"), &watch).await;
    let jean_row = headcount["staff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == "jean")
        .unwrap()
        .clone();
    assert_eq!(
        (jean_row["status"].as_str(), jean_row["via"].as_str()),
        (Some("safe"), Some("radio"))
    );
    if screenshots {
        page.screenshot("console-headcount").await;
    }

    // Or a polygon: click the corners, then the first one again to close it.
    page.click("#tab-compose").await;
    page.type_into("#c-headline", "Curfew in Beni from 18:00").await;
    page.type_into("#c-event", "Curfew").await;
    page.type_into("#c-area-description", "Beni and its outskirts").await;
    page.click("#draw-polygon").await;
    let (x, y) = page.centre_of("#map").await;
    for corner in [
        (x - 150.0, y - 120.0),
        (x + 150.0, y - 120.0),
        (x, y + 150.0),
        (x - 150.0, y - 120.0),
    ] {
        page.click_at(corner).await;
    }
    let preview = page
        .wait_for(
            "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent)",
            "the preview of the drawn polygon's reach",
        )
        .await;
    assert_eq!(preview, json!("Reaches 2 people in CD."));
    page.click("#c-send").await;
    confirm(&page).await;
    page.wait_for(
        "[...document.querySelectorAll('#panel-alerts h2.headline')].some(h => h.textContent.startsWith('Curfew'))",
        "the polygon alert's detail",
    )
    .await;
    let (_, alerts) = hub.get("/api/v1/alerts", &watch).await;
    let ring = &alerts[0]["area"]["geometry"]["coordinates"][0];
    assert_eq!(alerts[0]["headline"], "Curfew in Beni from 18:00");
    assert_eq!(ring.as_array().map(Vec::len), Some(4), "three corners, closed: {ring}");
    let curfew = alerts[0]["id"].as_str().unwrap().to_owned();

    // The detail holds still under the pointer while its board loads (the panel's scroll bar
    // coming used to narrow it and re-wrap the facts above the buttons), and a re-render
    // (another alert arriving) leaves the officer's scroll where it was.
    let update = "#panel-alerts .actions button";
    let top_of = |selector: &str| format!("document.querySelector({selector:?}).getBoundingClientRect().top");
    let before = page.eval(&top_of(update)).await;
    page.wait_for(
        "!!document.querySelector('#headcount table.people')",
        "the polygon alert's board",
    )
    .await;
    settle().await;
    assert_eq!(page.eval(&top_of(update)).await, before, "the Update button moved");
    let words = page.eval("document.getElementById('panel-alerts').innerText").await;
    assert!(!words.as_str().unwrap().contains("null"), "{words}");
    page.eval("document.getElementById('panel-alerts').scrollTop = 60")
        .await;
    let scrolled = page.eval(&top_of(update)).await;
    let shown = page.eval("+document.getElementById('count-alerts').textContent").await;
    let (status, _) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Road closed at Kasindi", 0.03, 29.71, 2000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    page.wait_for(
        &format!("+document.getElementById('count-alerts').textContent === {shown} + 1"),
        "the new alert in the tab's count",
    )
    .await;
    settle().await;
    assert_eq!(
        page.eval(&top_of(update)).await,
        scrolled,
        "a re-render scrolled the detail"
    );
    page.click(update).await;
    page.wait_for(
        "document.getElementById('c-send').textContent === 'Review the update…'",
        "the composer in update mode",
    )
    .await;
    page.eval("(s => { s.value = 'extreme'; s.dispatchEvent(new Event('input', {bubbles: true})); })(document.getElementById('c-severity'))")
        .await;
    page.click("#c-send").await;
    confirm(&page).await;
    // The stream may show the new revision before the hub has answered the update (and
    // written its audit entry): wait for the answer, which puts the composer back to "Send".
    page.wait_for(
        "document.getElementById('c-send').textContent === 'Review and send…' \
         && !!document.querySelector('#panel-alerts .detail .pill.sev-extreme')",
        "the updated alert",
    )
    .await;
    let (_, audit) = hub.get("/api/v1/audit?limit=1", &watch).await;
    assert_eq!(audit[0]["action"], "alert.updated");
    assert_eq!(audit[0]["detail"]["changed"], json!({"severity": "extreme"}));
    page.type_into("#cancel-reason", "Curfew lifted by the mayor").await;
    page.click("#cancel-alert").await;
    confirm(&page).await;
    page.wait_for(
        "!!document.querySelector('#panel-alerts .detail .pill.cancelled')",
        "the cancelled alert",
    )
    .await;
    let (_, cancelled) = hub.get(&format!("/api/v1/alerts/{curfew}"), &watch).await;
    assert_eq!(
        (cancelled["msg_type"].as_str(), cancelled["cancel_reason"].as_str()),
        (Some("cancel"), Some("Curfew lifted by the mayor"))
    );

    // Or paste GeoJSON (a Feature here): the map shows it and the reach follows.
    page.click("#tab-compose").await;
    page.type_into(
        "#c-geojson",
        r#"{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
            "coordinates": [[[32.5, 0.3], [32.7, 0.3], [32.7, 0.4], [32.5, 0.4], [32.5, 0.3]]]}}"#,
    )
    .await;
    let preview = page
        .wait_for(
            "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent)",
            "the preview of the pasted area",
        )
        .await;
    assert_eq!(preview, json!("Reaches 1 person in UG."), "grace in Kampala");
    assert_eq!(
        page.eval("document.querySelectorAll('.draft-area').length").await,
        json!(1)
    );

    // An SOS raises the alarm and holds the top of the screen until acknowledged.
    let (status, sos) = hub
        .post(
            "/api/v1/sos",
            &amani,
            json!({"position": {"lat": BENI.0, "lon": BENI.1}, "note": "car stopped at a roadblock"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sos}");
    page.wait_for(
        "!document.getElementById('sos-banner').hidden && document.body.dataset.alarm === 'ringing'",
        "the SOS banner and alarm",
    )
    .await;
    assert_eq!(
        page.eval("document.querySelector('#sos-banner strong').textContent")
            .await,
        json!("Test amani")
    );
    // "Show" brings up the call in the queue and on the map, the banner staying on top.
    page.click("#sos-banner button.on-red").await;
    page.wait_for(
        "!document.getElementById('panel-sos').hidden && !!document.querySelector('.marker.sos')",
        "the SOS in the queue and on the map",
    )
    .await;
    if screenshots {
        page.screenshot("console-sos").await;
    }
    settle().await;
    page.click("#banner-ack").await;
    page.wait_for(
        "document.getElementById('sos-banner').hidden && !document.body.dataset.alarm",
        "the alarm to stop once acknowledged",
    )
    .await;
    let (_, acknowledged) = hub.get("/api/v1/sos?status=acknowledged", &watch).await;
    assert_eq!(acknowledged[0]["id"], sos["id"]);
    assert_eq!(acknowledged[0]["acknowledged_by"], "manila.watch");
    // Resolving needs a note and a confirmation; then, after the undo window, it leaves the queue.
    page.click("#tab-sos").await;
    settle().await;
    let sos_id = sos["id"].as_str().unwrap();
    page.click(&format!("[data-sos=\"{sos_id}\"] button.primary")).await;
    page.wait_for(
        "!!document.querySelector('#sos-list .message.error')",
        "the note asked for",
    )
    .await;
    page.type_into(&format!("#note-{sos_id}"), "Released after an hour, unharmed")
        .await;
    page.click(&format!("[data-sos=\"{sos_id}\"] button.primary")).await;
    confirm(&page).await;
    page.wait_for(
        "!document.getElementById('sos-list')",
        "the resolved SOS to leave the queue",
    )
    .await;
    let (_, resolved) = hub.get("/api/v1/sos?status=resolved", &watch).await;
    assert_eq!(resolved[0]["resolution"], "Released after an hour, unharmed");

    // The hub restarts: the stream comes back by itself, and what was sent meanwhile shows.
    assert_eq!(
        page.eval("document.getElementById('link').dataset.connections").await,
        "1"
    );
    let hub = hub.restart().await;
    let (status, meanwhile) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Sent while the console was away", BENI.0, BENI.1, 3000.0),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{meanwhile}");
    page.wait_for(
        "document.getElementById('link').dataset.connections === '2' && document.getElementById('link').textContent === 'Live'",
        "the stream to come back",
    )
    .await;
    page.click("#tab-alerts").await;
    page.wait_for(
        &format!(
            "!!document.querySelector('[data-alert=\"{}\"]')",
            meanwhile["id"].as_str().unwrap()
        ),
        "the alert sent during the gap",
    )
    .await;
    if screenshots {
        for _ in 0..7 {
            page.click("#zoom-out").await;
        }
        page.screenshot("console-overview").await;
    }

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

/// The rows of the headcount board, by username, in the order shown.
const BOARD_ROWS: &str =
    "[...document.querySelectorAll('#headcount tbody tr')].map(r => r.querySelector('.muted').textContent.trim())";

async fn the_board_shows_who_is_in_trouble_first_and_follows_a_wider_area_at_once(backend: Backend) {
    const NOTE: &str = "Gunfire very close to our compound… cannot leave";
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some((0.478, 29.462))).await;
    hub.account("bahati", Role::Staff, &[], Some((0.502, 29.487))).await;
    let chausiku = hub.account("chausiku", Role::Staff, &[], Some((0.470, 29.490))).await;
    let dunia = hub.account("dunia", Role::Staff, &[], Some((0.510, 29.455))).await;
    let esther = hub.account("esther", Role::Staff, &[], Some((0.490, 29.470))).await;
    hub.account("fadhili", Role::Staff, &[], Some((-1.6792, 29.2228))).await;

    // Dunia has the app open (reached, silent); Bahati's phone is off (not reached).
    let mut dunia_stream = hub.stream(&dunia).await;
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Armed clashes near Beni", BENI.0, BENI.1, 8000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap().to_owned();
    dunia_stream.expect("alert").await;
    hub.post(
        &format!("/api/v1/alerts/{id}/checkins"),
        &esther,
        json!({"status": "safe"}),
    )
    .await;
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &amani,
            json!({"status": "need_help", "note": NOTE, "position": {"lat": 0.482, "lon": 29.466}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, sos) = hub
        .post(
            "/api/v1/sos",
            &chausiku,
            json!({"position": {"lat": 0.471, "lon": 29.492}}),
        )
        .await;
    hub.post(
        &format!("/api/v1/sos/{}/ack", sos["id"].as_str().unwrap()),
        &watch,
        json!({}),
    )
    .await;

    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    let order = page
        .wait_for(
            &format!("(rows => rows.length === 5 && rows.includes('bahati') && rows.indexOf('bahati') < rows.indexOf('dunia') && rows)({BOARD_ROWS})"),
            "the board, with Dunia's receipt",
        )
        .await;
    assert_eq!(
        order,
        json!(["chausiku", "amani", "bahati", "dunia", "esther"]),
        "SOS, need help, not reached, no response, safe"
    );
    let row = |name: &str| {
        format!("[...document.querySelectorAll('#headcount tbody tr')].find(r => r.querySelector('.muted').textContent.trim() === '{name}')")
    };
    assert_eq!(
        page.eval(&format!("{}.querySelector('.note').textContent", row("amani")))
            .await,
        json!(NOTE),
        "what Amani said is on the board"
    );
    let mut statuses = Vec::new();
    for name in ["chausiku", "amani", "bahati", "dunia"] {
        statuses.push(
            page.eval(&format!("{}.querySelector('.status').textContent", row(name)))
                .await,
        );
    }
    assert_eq!(
        json!(statuses),
        json!(["SOS", "need help", "not reached", "no response"])
    );
    // Bahati, and Chausiku, whose SOS came without the alert reaching her phone.
    assert_eq!(
        page.eval("document.querySelector('[data-count=\"not_reached\"]').textContent")
            .await,
        json!("2")
    );
    // The map draws the alert's people, each in how they stand.
    let marks = crate::console_map::people_on_map(&page, "seen.people === 5").await;
    let marks: Vec<_> = ["sos", "need_help", "not_reached", "no_response", "safe"]
        .iter()
        .map(|m| marks[m].clone())
        .collect();
    assert_eq!(marks, [1, 1, 1, 1, 1], "{marks:?}");
    assert_eq!(
        page.eval("document.getElementById('legend-board').hidden").await,
        json!(false)
    );

    // The CSV the console exports keeps the note.
    page.eval("(orig => { URL.createObjectURL = (blob) => { blob.text().then(t => { window.exported = t; }); return orig(blob); }; })(URL.createObjectURL.bind(URL))")
        .await;
    page.click("#headcount .board-tools button").await;
    let csv = page.wait_for("window.exported", "the exported CSV").await;
    let csv = csv.as_str().unwrap();
    let amani_line = csv.lines().find(|l| l.contains(",amani,")).unwrap_or_default();
    assert!(amani_line.contains(NOTE) && amani_line.contains(",need_help,"), "{csv}");
    if screenshots {
        page.screenshot("console-board").await;
    }

    // A second console on the same board; the area widens to Goma: both count Fadhili at once
    // (with no stream of a recipient open, whose receipt would move the counts by itself).
    drop(dunia_stream);
    let second = browser.page().await;
    second.goto(&hub.base).await;
    second
        .wait_for(
            "document.getElementById('link').textContent === 'Live'",
            "the second console live",
        )
        .await;
    second.click(&format!("[data-alert=\"{id}\"]")).await;
    second
        .wait_for(
            "document.querySelector('[data-count=\"total\"]')?.textContent === '5'",
            "its board",
        )
        .await;
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/update"),
            &watch,
            json!({"area": {"description": "North Kivu", "geometry": {"type": "Point", "coordinates": [BENI.1, BENI.0]}, "radius_m": 300000}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for console in [&second, &page] {
        // Each as an officer looks at it: a tab in the background draws nothing (no animation
        // frames) until it is in front again, and the second console opened in front.
        console.call("Page.bringToFront", json!({})).await;
        console
            .wait_within(
                "document.querySelector('[data-count=\"total\"]')?.textContent === '6' \
                 && document.querySelector('[data-count=\"no_response\"]')?.textContent === '4' \
                 && document.querySelectorAll('#headcount tbody tr').length === 6",
                "the wider area's counts and people",
                // Pushed, not polled (the console re-reads nothing by itself), so it comes
                // within moments; the bound is generous for a loaded CI machine.
                Duration::from_secs(10),
            )
            .await;
    }

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop((page, second));
    drop(browser);
    hub.stop().await;
}

fn report(category: &str, description: &str, (lat, lon): (f64, f64)) -> Value {
    json!({"category": category, "description": description, "position": {"lat": lat, "lon": lon}})
}

async fn the_console_triages_reports_and_keeps_advisories(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let admin = hub.account("admin", Role::Admin, &[], None).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let jean = hub.account("jean", Role::Staff, &[], Some(KAMPALA)).await;
    let (status, _) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{}/sensitive-access", watch.user.id),
            Some(&admin.token),
            Some(json!({"granted": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;

    // A staff member's report shows in the queue and on the map, live (how soon: the console
    // bench).
    let (status, first) = hub
        .post(
            "/api/v1/reports",
            &amani,
            report("crossfire", "Gunfire between two armed groups at the market", BENI),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["id"].as_str().unwrap().to_owned();
    page.wait_for(
        &format!("!!document.querySelector('[data-report=\"{first}\"]') && !!document.querySelector('.marker.report[data-id=\"{first}\"]')"),
        "the report in the queue and on the map",
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('count-reports').textContent").await,
        "1"
    );
    // The category's label comes from the hub's taxonomy (fetched with the first snapshot).
    page.wait_for(
        &format!("document.querySelector('[data-report=\"{first}\"] .pill.report').textContent === 'Crossfire'"),
        "the category's label",
    )
    .await;
    // A second report of the same shooting, and a restricted one.
    let (_, second) = hub
        .post(
            "/api/v1/reports",
            &jean,
            report("shooting", "Shots heard near the market in Beni", (0.4921, 29.4741)),
        )
        .await;
    let second = second["id"].as_str().unwrap().to_owned();
    let (_, restricted) = hub
        .post(
            "/api/v1/reports",
            &amani,
            report("sexual_violence", "A colleague was assaulted", BENI),
        )
        .await;
    let restricted = restricted["id"].as_str().unwrap().to_owned();
    page.click("#tab-reports").await;
    page.wait_for(
        &format!("document.querySelectorAll('#report-list > li').length === 3 && !!document.querySelector('[data-report=\"{restricted}\"] .pill.restricted')"),
        "three reports, the restricted one marked",
    )
    .await;

    // Confirm the first with a note: it stays in the queue, confirmed, until promoted.
    page.type_into(
        &format!("[data-report=\"{first}\"] .triage-note"),
        "Confirmed by the Beni field office",
    )
    .await;
    page.click(&format!("[data-report=\"{first}\"] button.confirm")).await;
    page.wait_for(
        &format!("!!document.querySelector('[data-report=\"{first}\"] .pill.confirmed')"),
        "the report confirmed",
    )
    .await;
    let (_, confirmed) = hub.get(&format!("/api/v1/reports/{first}"), &watch).await;
    assert_eq!(
        (
            confirmed["status"].as_str(),
            confirmed["triage_note"].as_str(),
            confirmed["triaged_by"].as_str()
        ),
        (
            Some("confirmed"),
            Some("Confirmed by the Beni field office"),
            Some("manila.watch")
        )
    );
    // The second repeats it: merge it into the first.
    page.eval(&format!(
        "(s => {{ s.value = '{first}'; s.dispatchEvent(new Event('change')); }})(document.querySelector('[data-report=\"{second}\"] .merge-into'))"
    ))
    .await;
    page.click(&format!("[data-report=\"{second}\"] button.merge")).await;
    page.wait_for(
        &format!("!document.querySelector('[data-report=\"{second}\"]')"),
        "the merged report to leave the queue",
    )
    .await;
    let (_, merged) = hub.get(&format!("/api/v1/reports/{second}"), &watch).await;
    assert_eq!(
        (merged["status"].as_str(), merged["merged_into"].as_str()),
        (Some("merged"), Some(first.as_str()))
    );
    page.click(&format!("[data-report=\"{first}\"] button.locate")).await;
    if screenshots {
        page.screenshot("console-reports").await;
    }

    // Promote it: the composer opens filled from the report; with an instruction, reviewed and
    // confirmed, it is sent and shows in the alert list.
    page.click(&format!("[data-report=\"{first}\"] button.promote")).await;
    page.type_into("#c-instruction", "Avoid the market.").await;
    page.click("#c-send").await;
    confirm(&page).await;
    page.wait_for(
        &format!(
            "!document.querySelector('[data-report=\"{first}\"]') && !document.getElementById('panel-alerts').hidden"
        ),
        "the promoted report to leave the queue for the alert",
    )
    .await;
    let (_, promoted) = hub.get(&format!("/api/v1/reports/{first}"), &watch).await;
    let alert_id = promoted["alert_id"]
        .as_str()
        .expect("the report names its alert")
        .to_owned();
    // The console opens the sent alert (to update it if need be); back to the list, it is there.
    page.wait_for(
        "document.querySelector('#panel-alerts h2.headline')?.textContent === 'Crossfire reported'",
        "the promoted alert's detail",
    )
    .await;
    page.click("#panel-alerts button.back").await;
    page.wait_for(
        &format!("!!document.querySelector('[data-alert=\"{alert_id}\"]') && !!document.querySelector('path.area[data-id=\"{alert_id}\"]')"),
        "the promoted alert in the list and on the map",
    )
    .await;
    let (_, alert) = hub.get(&format!("/api/v1/alerts/{alert_id}"), &watch).await;
    assert_eq!(
        (
            alert["headline"].as_str(),
            alert["certainty"].as_str(),
            alert["recipients"].as_u64()
        ),
        (Some("Crossfire reported"), Some("observed"), Some(1)),
        "{alert}"
    );
    assert_eq!(
        page.eval("document.getElementById('count-reports').textContent").await,
        "1"
    );

    // The advisories board: an advisory for DR Congo, edited from the page.
    let (status, _) = hub
        .call(
            "PUT",
            "/api/v1/advisories/CD",
            Some(&watch.token),
            Some(json!({"risk_level": 2, "summary": "Exercise caution in North Kivu."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    page.click("#tab-advisories").await;
    page.wait_for(
        "!!document.querySelector('[data-advisory=\"CD\"] .risk-2')",
        "the advisory on the board, live",
    )
    .await;
    let mut phone = hub.stream(&amani).await;
    page.click("[data-advisory=\"CD\"] button.edit").await;
    page.eval(
        "(s => { s.value = '4'; s.dispatchEvent(new Event('change')); })(document.getElementById('a-risk')); \
         document.getElementById('a-summary').value = ''",
    )
    .await;
    page.type_into(
        "#a-summary",
        "Armed clashes around Beni: essential travel only, with clearance.",
    )
    .await;
    page.type_into("#a-curfew", "18:00–06:00 in Beni").await;
    page.click("#a-save").await;
    page.wait_for(
        "!!document.querySelector('[data-advisory=\"CD\"] .risk-4') && document.getElementById('advisory-form').hidden",
        "the edited advisory on the board",
    )
    .await;
    // The map shades DR Congo by its new level.
    assert_eq!(
        page.eval("document.querySelector('.countries path[data-iso=\"CD\"]').getAttribute('class')")
            .await,
        "risk-4"
    );
    let envelope = phone.expect("advisory").await;
    assert_eq!(
        (
            envelope["advisory"]["risk_level"].as_u64(),
            envelope["advisory"]["revision"].as_u64(),
            envelope["advisory"]["curfew"].as_str(),
            envelope["advisory"]["updated_by"].as_str()
        ),
        (Some(4), Some(2), Some("18:00–06:00 in Beni"), Some("manila.watch"))
    );
    page.click("[data-advisory=\"CD\"] button.history").await;
    let versions = page
        .wait_for(
            "(l => l.length === 2 && [...l].map(v => v.querySelector('.risk').textContent))(document.querySelectorAll('[data-history=\"CD\"] li'))",
            "both versions in the history",
        )
        .await;
    assert_eq!(versions, json!(["4 High", "2 Moderate"]));

    // DR Congo is now at level 4: a trip there waits for clearance, and shows up live.
    let depart = Utc::now() + chrono::Duration::days(2);
    let (status, plan) = hub
        .post(
            "/api/v1/trips",
            &jean,
            json!({"destination": {"country": "CD", "city": "Beni", "lat": BENI.0, "lon": BENI.1},
                   "depart_at": depart.to_rfc3339(),
                   "return_at": (depart + chrono::Duration::days(5)).to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["trip"]["status"], "pending_clearance");
    let trip = plan["trip"]["id"].as_str().unwrap().to_owned();
    page.wait_for(
        &format!("!!document.querySelector('[data-trip=\"{trip}\"]') && document.getElementById('count-trips').textContent === '1'"),
        "the trip waiting for clearance",
    )
    .await;
    if screenshots {
        // Far enough out to see DR Congo shaded by its advisory.
        page.click("#zoom-world").await;
        page.click("#zoom-in").await;
        page.screenshot("console-advisories").await;
    }
    // Approving needs a note.
    page.click(&format!("[data-trip=\"{trip}\"] button.approve")).await;
    page.wait_for(
        &format!("!!document.querySelector('[data-trip=\"{trip}\"] .message.error')"),
        "the note asked for",
    )
    .await;
    page.type_into(
        &format!("[data-trip=\"{trip}\"] input"),
        "Cleared with the Beni convoy plan",
    )
    .await;
    page.click(&format!("[data-trip=\"{trip}\"] button.approve")).await;
    page.wait_for(
        &format!("!document.querySelector('[data-trip=\"{trip}\"]') && document.getElementById('count-trips').hidden"),
        "the approved trip to leave the list",
    )
    .await;
    let (_, cleared) = hub.get(&format!("/api/v1/trips/{trip}"), &watch).await;
    assert_eq!(
        (
            cleared["status"].as_str(),
            cleared["cleared_by"].as_str(),
            cleared["clearance_note"].as_str()
        ),
        (
            Some("approved"),
            Some("manila.watch"),
            Some("Cleared with the Beni convoy plan")
        )
    );

    // A security officer for Uganda, on the same screen after a logout: the DR Congo report is
    // not theirs to triage, and the advisory there is theirs to read, not to edit.
    hub.account("kampala.officer", Role::SecurityOfficer, &["UG"], None)
        .await;
    page.click("#logout").await;
    page.wait_for("!document.getElementById('login').hidden", "the logout")
        .await;
    log_in(&page, &hub, "kampala.officer", false).await;
    page.click("#tab-advisories").await;
    page.wait_for(
        "!!document.querySelector('[data-advisory=\"CD\"] button.history') \
         && document.getElementById('who').textContent.includes('kampala.officer')",
        "the advisory board of the new session",
    )
    .await;
    assert_eq!(
        page.eval("[!!document.querySelector('[data-advisory=\"CD\"] button.edit'), document.getElementById('count-reports').textContent, !!document.getElementById('report-list')]")
            .await,
        json!([false, "0", false])
    );
    page.click("#a-new").await;
    assert_eq!(page.eval("document.getElementById('a-country').value").await, "UG");

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn the_console_is_served_from_the_binary(backend: Backend) {
    let hub = TestHub::start(backend).await;
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
        ("/console/countries.topojson", "application/json"),
        ("/console/reports.js", "text/javascript; charset=utf-8"),
        ("/console/advisories.js", "text/javascript; charset=utf-8"),
        ("/console/country-codes.json", "application/json"),
    ] {
        let response = hub.http.get(format!("{}{path}", hub.base)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        assert_eq!(response.headers()["cache-control"], "no-cache", "{path}");
        let policy = response.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
        let tag = response.headers()["etag"].clone();
        let again = hub
            .http
            .get(format!("{}{path}", hub.base))
            .header("if-none-match", tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
    }
    // Which country each shape of the base map is, for shading countries by advisory.
    let (status, codes) = hub.call("GET", "/console/country-codes.json", None, None).await;
    assert_eq!((status, codes["180"].as_str()), (StatusCode::OK, Some("CD")));
    let (status, body) = hub.call("GET", "/console/nothing.js", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    hub.stop().await;
}

async fn officers_see_staff_positions_of_their_countries(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(KAMPALA)).await;
    hub.account("grace", Role::Staff, &[], Some(KAMPALA)).await;
    hub.account("nowhere", Role::Staff, &[], None).await;
    // Amani is based in Kampala but her phone puts her in Beni: the map shows her there.
    let (status, _) = hub
        .post("/api/v1/me/location", &amani, json!({"lat": BENI.0, "lon": BENI.1}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let row = |u: &str, s: &str, c: &str| (u.to_owned(), s.to_owned(), c.to_owned());
    assert_eq!(
        places(&hub, &watch).await,
        [row("amani", "position", "CD"), row("grace", "duty_station", "UG")]
    );
    assert_eq!(places(&hub, &kivu).await, [row("amani", "position", "CD")]);
    assert_eq!(
        hub.get("/api/v1/staff/positions", &amani).await.0,
        StatusCode::FORBIDDEN
    );
    hub.stop().await;
}

/// (username, source, country) of each staff member on the caller's map, sorted.
async fn places(hub: &TestHub, who: &Account) -> Vec<(String, String, String)> {
    let (status, body) = hub.get("/api/v1/staff/positions", who).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut rows: Vec<(String, String, String)> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let text = |key: &str| p[key].as_str().unwrap_or("-").to_owned();
            (text("username"), text("source"), text("country"))
        })
        .collect();
    rows.sort();
    rows
}

async fn an_admin_disables_an_account_from_the_accounts_page(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    hub.account("root", Role::Admin, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("kivu", Role::SecurityOfficer, &["CD"], None).await;
    let mut stream = hub.stream(&amani).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;

    page.goto(&hub.base).await;
    page.wait_for("!document.getElementById('login').hidden", "the login form")
        .await;
    page.type_into("#login-username", "root").await;
    page.type_into("#login-password", PASSWORD).await;
    page.click("#login-form button[type=submit]").await;
    let row = "document.querySelector('tr[data-username=\"amani\"]')";
    page.wait_for(&format!("!!{row}"), "the accounts list").await;
    assert_eq!(
        page.eval("document.getElementById('officers').hidden").await,
        json!(true)
    );

    // Disable asks first, naming the person; nothing happens until confirmed.
    page.eval(&format!(
        "[...{row}.querySelectorAll('button')].find((b) => b.textContent === 'Disable').click()"
    ))
    .await;
    page.wait_for("!!document.getElementById('confirm-disable')", "the confirmation")
        .await;
    let asked = page
        .eval("document.querySelector('[role=alertdialog]').textContent")
        .await;
    assert!(asked.as_str().unwrap().contains("Test amani (amani)"), "{asked}");
    assert_eq!(hub.get("/api/v1/me", &amani).await.0, StatusCode::OK);
    if screenshots {
        page.screenshot("console-accounts").await;
    }
    page.click("#confirm-disable").await;
    page.wait_for(&format!("{row}.classList.contains('disabled')"), "amani shown disabled")
        .await;
    let closed = stream
        .next_within(Duration::from_secs(1))
        .await
        .expect("amani's stream closes");
    assert_eq!(closed["code"], 1008, "{closed}");
    assert_eq!(hub.get("/api/v1/me", &amani).await.0, StatusCode::UNAUTHORIZED);
    page.wait_for(
        "document.getElementById('account-audit').textContent.includes('account.disabled')",
        "the change in the audit list",
    )
    .await;

    // kivu, a security officer for DR Congo, has the console open; the admin moves them to
    // Uganda from the page: their console follows (the hub closes its stream with 4001; it
    // reconnects and reloads with the new rights).
    // (Another browser: a page of this one would share the admin's kept session.)
    let officer_browser = Browser::launch().await;
    let officer = officer_browser.page().await;
    log_in(&officer, &hub, "kivu", false).await;
    let who = "document.getElementById('who').textContent";
    assert!(officer.eval(who).await.as_str().unwrap().ends_with("CD"));
    let kivu_row = "document.querySelector('tr[data-username=\"kivu\"]')";
    page.eval(&format!(
        "[...{kivu_row}.querySelectorAll('button')].find((b) => b.textContent === 'Role').click()"
    ))
    .await;
    page.wait_for("!!document.getElementById('role-countries')", "the role form")
        .await;
    page.eval("document.getElementById('role-countries').value = 'UG'")
        .await;
    page.click(".account-tools button[type=submit]").await;
    page.wait_for(
        &format!("{kivu_row}.children[3].textContent === 'UG'"),
        "kivu listed for Uganda",
    )
    .await;
    officer
        .wait_for(&format!("{who}.endsWith('UG')"), "kivu's console following the change")
        .await;

    for errors in [browser.errors(), officer_browser.errors()] {
        assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    }
    drop((officer, page));
    drop((officer_browser, browser));
    hub.stop().await;
}
