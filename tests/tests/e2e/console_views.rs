//! What the console shows under stress, in headless Chromium against a real hub: drawing that a
//! drag never turns into a circle, a radius that keeps the zoom, shapes drawn from the keyboard
//! and the keyboard's place after a send; a dead stream dimming and stamping the page until it
//! has resynced; 24-hour times in UTC and the event's local zone, one word for one state; phone
//! numbers to call beside a silent person and an SOS; the wall screen framed on the alerts; a
//! security officer starting on their countries. The SQLite run writes `console-wall.png` and
//! `console-stale.png` in `docs/screenshots/`.

use crate::browser::{Browser, Page};
use crate::console::{log_in, BENI};
use crate::harness::{circle_alert, Backend, TestHub, PASSWORD};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::time::Duration;

const GOMA: (f64, f64) = (-1.6792, 29.2228);
const BUTEMBO: (f64, f64) = (0.1420, 29.2910);
/// In DR Congo's eastern zone (Lubumbashi's), though nearer Kinshasa than Lubumbashi.
const KISANGANI: (f64, f64) = (0.5153, 25.1911);
const ADDIS_ABABA: (f64, f64) = (9.03, 38.74);

on_both_backends!(
    drawing_pans_on_a_drag_keeps_the_zoom_and_works_from_the_keyboard,
    a_dead_stream_dims_and_stamps_the_page_until_it_has_resynced,
    times_are_24_hour_in_utc_and_local_with_one_word_per_state,
    a_silent_person_and_an_sos_have_a_number_to_call,
    the_wall_screen_frames_the_alerts_with_their_headcounts,
    a_security_officer_starts_on_their_countries,
);

/// A key pressed and released, as a keyboard would.
pub(crate) async fn press(page: &Page<'_>, key: &str, code: &str, key_code: u32) {
    for kind in ["keyDown", "keyUp"] {
        page.call(
            "Input.dispatchKeyEvent",
            json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": key_code}),
        )
        .await;
    }
}

/// The map's view: the world group's transform ("translate(x y) scale(k)").
const VIEW: &str = "document.querySelector('#map g.world').getAttribute('transform')";

/// Where [lon, lat] is on the map, in the map's own pixels (the page's Web Mercator, 1000 wide).
fn on_map(lon: f64, lat: f64) -> String {
    format!(
        "(() => {{ const [, x, y, k] = {VIEW}.match(/translate\\(([-\\d.e]+) ([-\\d.e]+)\\) scale\\(([-\\d.e]+)\\)/).map(Number); \
         const phi = {lat} * Math.PI / 180; \
         const wx = ({lon} + 180) / 360 * 1000, wy = (1 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / Math.PI) / 2 * 1000; \
         const r = document.getElementById('map').getBoundingClientRect(); \
         return [wx * k + x, wy * k + y, r.width, r.height]; }})()"
    )
}

/// Whether [lon, lat] is inside the map's view.
async fn in_view(page: &Page<'_>, (lat, lon): (f64, f64)) -> bool {
    let at = page.eval(&on_map(lon, lat)).await;
    let [x, y, w, h] = [0, 1, 2, 3].map(|i| at[i].as_f64().unwrap());
    (0.0..=w).contains(&x) && (0.0..=h).contains(&y)
}

async fn drawing_pans_on_a_drag_keeps_the_zoom_and_works_from_the_keyboard(backend: Backend) {
    let hub = TestHub::start(backend).await;
    hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;

    // In circle mode, a drag pans the map and draws nothing.
    page.click("#tab-compose").await;
    page.click("#draw-circle").await;
    let before = page.eval(VIEW).await;
    let centre = page.centre_of("#map").await;
    page.drag(centre, (centre.0 + 220.0, centre.1 + 90.0)).await;
    assert_ne!(page.eval(VIEW).await, before, "the drag pans");
    assert_eq!(
        page.eval("document.querySelectorAll('#map .draft-area').length").await,
        json!(0),
        "no circle from a drag"
    );
    assert_eq!(page.eval("document.getElementById('c-radius').value").await, json!(""));
    // Esc gives up, and the keyboard goes back to the button that started it.
    press(&page, "Escape", "Escape", 27).await;
    page.wait_for(
        "document.activeElement.id === 'draw-circle' && document.getElementById('draw-hint').hidden",
        "drawing given up",
    )
    .await;

    // A circle from the keyboard: a centre typed as lat, lon, and a radius.
    page.type_into("#c-centre", &format!("{}, {}", BENI.0, BENI.1)).await;
    page.type_into("#c-radius", "5000").await;
    let preview = page
        .wait_for(
            "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent)",
            "the typed circle's reach",
        )
        .await;
    assert_eq!(preview, json!("Reaches 1 person in CD."));
    assert!(in_view(&page, BENI).await, "the map moved onto the typed centre");

    // Changing the radius keeps the officer's zoom.
    for _ in 0..3 {
        page.click("#zoom-in").await;
    }
    let zoomed = page.eval(VIEW).await;
    page.eval("document.getElementById('c-radius').select()").await;
    page.call("Input.insertText", json!({"text": "12000"})).await;
    page.wait_for(
        "JSON.parse(document.getElementById('c-geojson').value).type === 'Point' && document.getElementById('c-radius').value === '12000'",
        "the new radius",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(page.eval(VIEW).await, zoomed, "the radius kept the zoom");

    // Or on the map, by keys alone: Space at the cross for the centre, arrows, Space for the edge.
    page.click("#draw-circle").await;
    assert_eq!(
        page.eval("document.activeElement.tagName").await,
        json!("svg"),
        "the map has the keyboard while drawing"
    );
    press(&page, " ", "Space", 32).await;
    press(&page, "ArrowLeft", "ArrowLeft", 37).await;
    assert_eq!(
        page.eval("document.querySelectorAll('#map .draft-area').length").await,
        json!(1),
        "the circle follows the cross"
    );
    press(&page, " ", "Space", 32).await;
    page.wait_for(
        "document.getElementById('draw-hint').hidden && Number(document.getElementById('c-radius').value) > 0",
        "a circle drawn by keys",
    )
    .await;
    // Then the keyboard is where the officer goes next: the area's name.
    assert_eq!(
        page.eval("document.activeElement.id").await,
        json!("c-area-description")
    );

    // A polygon by keys: three corners at the cross, Enter closes it.
    page.click("#draw-polygon").await;
    press(&page, " ", "Space", 32).await;
    press(&page, "ArrowLeft", "ArrowLeft", 37).await;
    press(&page, " ", "Space", 32).await;
    press(&page, "ArrowUp", "ArrowUp", 38).await;
    press(&page, " ", "Space", 32).await;
    press(&page, "Enter", "Enter", 13).await;
    let polygon = page
        .wait_for(
            "document.getElementById('draw-hint').hidden && (g => g.type === 'Polygon' && g.coordinates[0].length)(JSON.parse(document.getElementById('c-geojson').value))",
            "a polygon drawn by keys",
        )
        .await;
    assert_eq!(polygon, json!(4), "three corners and the closing one");

    // After a send, the keyboard is on the sent alert.
    page.type_into("#c-headline", "Roadblock at the Beni market").await;
    page.type_into("#c-event", "Roadblock").await;
    page.type_into("#c-area-description", "Beni market").await;
    page.eval("document.getElementById('c-centre').value = ''").await;
    page.type_into("#c-centre", &format!("{}, {}", BENI.0, BENI.1)).await;
    page.type_into("#c-radius", "2000").await;
    page.click("#c-send").await;
    crate::console_actions::confirm(&page).await;
    page.wait_for(
        "document.activeElement.id === 'alert-title' && document.activeElement.textContent === 'Roadblock at the Beni market'",
        "the keyboard on the sent alert",
    )
    .await;

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn a_dead_stream_dims_and_stamps_the_page_until_it_has_resynced(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let mut alert = circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 8000.0);
    alert["checkin_required"] = json!(true);
    let (status, posted) = hub.post("/api/v1/alerts", &watch, alert).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    page.wait_for("!!document.querySelector('[data-alert]')", "the alert")
        .await;
    assert_eq!(
        page.eval("document.body.classList.contains('stale') || !document.getElementById('stale').hidden")
            .await,
        json!(false),
        "live: nothing stale"
    );

    // The hub goes away: within the watchdog's interval (20 s) the page dims and says since
    // when what it shows is current.
    let halted = hub.halt().await;
    let stamp = page
        .wait_within(
            "document.body.classList.contains('stale') && !document.getElementById('stale').hidden \
             && document.getElementById('stale').textContent",
            "the page marked stale",
            Duration::from_secs(20),
        )
        .await;
    let stamp = stamp.as_str().unwrap();
    let now = chrono::Utc::now();
    assert!(
        stamp.contains("Not live") && stamp.contains(" UTC") && stamp.contains("out of date"),
        "{stamp}"
    );
    let as_of = stamp.split("as of ").nth(1).map(|t| &t[..5]).unwrap_or_default();
    let minutes = |hhmm: &str| -> i64 { hhmm[..2].parse::<i64>().unwrap() * 60 + hhmm[3..5].parse::<i64>().unwrap() };
    let late = (minutes(&now.format("%H:%M").to_string()) - minutes(as_of)).rem_euclid(1440);
    assert!(late <= 1, "as of {as_of}, now {now}");
    assert_eq!(
        page.eval("getComputedStyle(document.getElementById('officers')).filter !== 'none'")
            .await,
        json!(true),
        "dimmed"
    );
    if screenshots {
        page.screenshot("console-stale").await;
    }

    // The hub is back: once the page has resynced, it is live and undimmed again.
    let hub = halted.resume().await;
    page.wait_within(
        "document.getElementById('link').textContent === 'Live' && !document.body.classList.contains('stale') \
         && document.getElementById('stale').hidden",
        "live and current again",
        Duration::from_secs(30),
    )
    .await;

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn times_are_24_hour_in_utc_and_local_with_one_word_per_state(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(KISANGANI)).await;
    // Amani's phone is connected: the alert reaches her, and she does not answer.
    let mut phone = hub.stream(&amani).await;
    let mut alert = circle_alert(
        "Armed clashes reported near Kisangani",
        KISANGANI.0,
        KISANGANI.1,
        8000.0,
    );
    alert["checkin_required"] = json!(true);
    let (status, posted) = hub.post("/api/v1/alerts", &watch, alert).await;
    assert_eq!(status, StatusCode::CREATED, "{posted}");
    phone.expect("alert").await;
    let id = posted["id"].as_str().unwrap();
    let until = (chrono::Utc::now() + chrono::Duration::days(30))
        .date_naive()
        .and_hms_opt(16, 30, 0)
        .unwrap()
        .and_utc();
    let (status, advisory) = hub
        .call(
            "PUT",
            "/api/v1/advisories/CD",
            Some(&watch.token),
            Some(
                json!({"risk_level": 4, "summary": "Curfew in Beni.", "curfew": "18:00–06:00 in Beni",
                        "valid_until": until}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{advisory}");
    let browser = Browser::launch().await;
    let page = browser.page().await;
    // A machine set to US English, whose own date-time pickers show "02:58 PM".
    page.call("Emulation.setLocaleOverride", json!({"locale": "en-US"}))
        .await;
    log_in(&page, &hub, "manila.watch", false).await;

    // The alert's times: UTC, and Kisangani's own clock (GMT+2, Lubumbashi's zone, as the hub
    // tells), not Kinshasa's, though Kinshasa is the nearer of the country's principal cities.
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    let deadline = page
        .wait_for(
            "document.querySelector('#headcount .deadline .when')?.textContent",
            "the headcount's deadline",
        )
        .await;
    let deadline = deadline.as_str().unwrap();
    assert!(
        deadline.contains(" UTC") && deadline.contains("GMT+2 Lubumbashi"),
        "{deadline}"
    );

    // One word for the silent: the contract's "no response", on the counter, the row and the card.
    let words = page
        .wait_for(
            "(w => w[1] === 'no response' && w)([document.querySelector('.figures .no_response dt').textContent, \
             document.querySelector('#headcount tbody .status')?.textContent])",
            "the silent person's row",
        )
        .await;
    assert_eq!(words, json!(["No response", "no response"]));
    page.click("button.back").await;
    page.wait_for(
        &format!("document.querySelector('[data-alert=\"{id}\"] [data-tally=\"no_response\"]')?.textContent === '1 no response'"),
        "the card's count of the silent",
    )
    .await;

    // A country-wide advisory in a country of two zones shows both clocks.
    page.click("#tab-advisories").await;
    let valid = page
        .wait_for(
            "document.querySelector('[data-advisory=\"CD\"] .summary .when')?.textContent",
            "the advisory's validity",
        )
        .await;
    assert_eq!(
        valid,
        json!(format!(
            "{}, 16:30 UTC17:30 GMT+1 Kinshasa · 18:30 GMT+2 Lubumbashi",
            until.format("%d %b")
        ))
    );

    // The time fields are 24-hour text in UTC, whatever the machine's locale.
    page.click("[data-advisory=\"CD\"] button.edit").await;
    assert_eq!(
        page.eval("document.getElementById('a-valid-until').value").await,
        json!(until.format("%Y-%m-%d 16:30").to_string())
    );
    page.click("#tab-compose").await;
    let expires = page.eval("document.getElementById('c-expires').value").await;
    assert!(regex_like_24h(expires.as_str().unwrap()), "the expiry field: {expires}");
    assert_eq!(
        page.eval(
            "document.querySelectorAll('input[type=\"datetime-local\"], input[type=\"time\"], input[type=\"date\"]').length"
        )
        .await,
        json!(0),
        "no picker of the browser's, which would follow its locale"
    );
    // Nowhere an AM or PM, nor the old word for the silent.
    let text = page.eval("document.body.innerText").await;
    let text = text.as_str().unwrap();
    assert!(!text.contains(" AM") && !text.contains(" PM"), "{text}");
    assert!(!text.to_lowercase().contains("no answer"), "{text}");

    // A time that is no time is refused before anything is sent.
    page.type_into("#c-headline", "Curfew").await;
    page.type_into("#c-event", "Curfew").await;
    page.type_into("#c-area-description", "Beni").await;
    page.type_into("#c-centre", &format!("{}, {}", BENI.0, BENI.1)).await;
    page.type_into("#c-radius", "3000").await;
    page.eval("document.getElementById('c-expires').value = '2030-02-30 25:00'")
        .await;
    page.click("#c-send").await;
    page.wait_for(
        "document.activeElement.id === 'c-expires' && document.querySelector('#composer .message').textContent.includes('24-hour')",
        "the expiry refused",
    )
    .await;
    let (_, alerts) = hub.get("/api/v1/alerts", &watch).await;
    assert_eq!(alerts.as_array().unwrap().len(), 1, "nothing sent");

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

/// "2026-12-06 14:58"
fn regex_like_24h(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && text[11..13].parse::<u32>().is_ok_and(|h| h < 24)
}

async fn set_phone(hub: &TestHub, admin: &str, id: impl std::fmt::Display, phone: &str) {
    let (status, body) = hub
        .call(
            "PUT",
            &format!("/api/v1/users/{id}/phones"),
            Some(admin),
            Some(json!({ "phones": [phone] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_silent_person_and_an_sos_have_a_number_to_call(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let admin = hub.account("admin", Role::Admin, &[], None).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let amani = hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    let jean = hub.account("jean", Role::Staff, &[], Some(BENI)).await;
    let esther = hub.account("esther", Role::Staff, &[], Some(BENI)).await;
    set_phone(&hub, &admin.token, amani.user.id, "+243970000001").await;
    set_phone(&hub, &admin.token, jean.user.id, "+243970000002").await;
    set_phone(&hub, &admin.token, esther.user.id, "+243970000003").await;
    let mut alert = circle_alert("Armed clashes reported near Beni", BENI.0, BENI.1, 8000.0);
    alert["checkin_required"] = json!(true);
    let (_, posted) = hub.post("/api/v1/alerts", &watch, alert).await;
    let id = posted["id"].as_str().unwrap();
    let (status, _) = hub
        .post(
            &format!("/api/v1/alerts/{id}/checkins"),
            &esther,
            json!({"status": "safe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, sos) = hub
        .post(
            "/api/v1/sos",
            &jean,
            json!({"position": {"lat": BENI.0, "lon": BENI.1}, "note": "stopped at a roadblock"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sos}");
    assert_eq!(sos["phone"], "+243970000002");
    let browser = Browser::launch().await;
    let page = browser.page().await;

    // An administrator changes the numbers on the accounts page; one that is not E.164 is
    // refused; they are kept in order, as written but normalised.
    page.goto(&hub.base).await;
    page.wait_for("!document.getElementById('login').hidden", "the login form")
        .await;
    page.type_into("#login-username", "admin").await;
    page.type_into("#login-password", PASSWORD).await;
    page.click("#login-form button[type=submit]").await;
    page.wait_for(
        "!document.getElementById('admin').hidden && !!document.querySelector('[data-username=\"esther\"]')",
        "the accounts page",
    )
    .await;
    let tool = "[data-username=\"esther\"] td.actions button:nth-of-type(4)";
    page.click(tool).await;
    page.eval("document.getElementById('phones-input').value = ''").await;
    page.type_into("#phones-input", "+243970000004, 0970 000 004").await;
    page.click(".account-tools button.primary").await;
    page.wait_for(
        "document.querySelector('.account-tools .message').textContent.includes('E.164')",
        "the bad number refused",
    )
    .await;
    page.eval("document.getElementById('phones-input').value = ''").await;
    page.type_into("#phones-input", "+243 970-000-004, +243810000004").await;
    page.click(".account-tools button.primary").await;
    page.wait_for(
        "[...document.querySelectorAll('[data-username=\"esther\"] a.tel')].map((a) => a.getAttribute('href')).join() === 'tel:+243970000004,tel:+243810000004'",
        "the new numbers on the accounts page, in order",
    )
    .await;
    page.click("#logout").await;
    page.wait_for("!document.getElementById('login').hidden", "logged out")
        .await;
    log_in(&page, &hub, "manila.watch", false).await;

    // The SOS: in the banner and in the queue, a number that calls.
    assert_eq!(
        page.wait_for(
            "document.querySelector('#sos-banner a.tel')?.getAttribute('href')",
            "the banner's number"
        )
        .await,
        json!("tel:+243970000002")
    );
    page.click("#tab-sos").await;
    assert_eq!(
        page.wait_for(
            &format!(
                "document.querySelector('[data-sos=\"{}\"] a.tel')?.getAttribute('href')",
                sos["id"].as_str().unwrap()
            ),
            "the queue's number",
        )
        .await,
        json!("tel:+243970000002")
    );

    // The board: the silent and the SOS have theirs; the safe need no call.
    page.click("#tab-alerts").await;
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    let row =
        |who: &str| format!("document.querySelector('tr[data-staff=\"{who}\"] a.tel')?.getAttribute('href') ?? null");
    page.wait_for(&row(&amani.user.id.to_string()), "the silent person's number")
        .await;
    assert_eq!(
        page.eval(&format!(
            "[{}, {}, {}]",
            row(&amani.user.id.to_string()),
            row(&jean.user.id.to_string()),
            row(&esther.user.id.to_string())
        ))
        .await,
        json!(["tel:+243970000001", "tel:+243970000002", Value::Null])
    );

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn the_wall_screen_frames_the_alerts_with_their_headcounts(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    for (i, place) in [BENI, BENI, BUTEMBO, GOMA, GOMA, GOMA].into_iter().enumerate() {
        hub.account(&format!("staff{i}"), Role::Staff, &[], Some(place)).await;
    }
    let mut ids = Vec::new();
    for (headline, place, radius) in [
        ("Armed clashes reported near Beni", BENI, 8000.0),
        ("Volcanic ash over Goma", GOMA, 12000.0),
    ] {
        let mut alert = circle_alert(headline, place.0, place.1, radius);
        alert["checkin_required"] = json!(true);
        let (status, posted) = hub.post("/api/v1/alerts", &watch, alert).await;
        assert_eq!(status, StatusCode::CREATED, "{posted}");
        ids.push(posted["id"].as_str().unwrap().to_owned());
    }
    let browser = Browser::launch().await;
    let page = browser.page().await;
    page.viewport(1920, 1080).await;
    log_in(&page, &hub, "manila.watch", false).await;

    // Without wall mode, the list's cards already show each headcount, before any check-in.
    for (id, silent) in ids.iter().zip(["2", "3"]) {
        page.wait_for(
            &format!("document.querySelector('[data-alert=\"{id}\"] [data-tally=\"no_response\"] b')?.textContent === '{silent}'"),
            "a card's headcount before any check-in",
        )
        .await;
    }

    // The wall: `?wall=1`, kept for the next load.
    page.goto(&format!("{}/?wall=1", hub.base)).await;
    page.wait_for(
        "document.getElementById('link').textContent === 'Live' && document.documentElement.classList.contains('wall')",
        "the wall screen",
    )
    .await;
    page.wait_for(
        &format!(
            "!!document.querySelector('[data-alert=\"{}\"] [data-tally=\"no_response\"] b')",
            ids[1]
        ),
        "the wall's headcounts",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Framed on the alerts: Beni and Goma both in view, far apart on the screen, and Kinshasa not.
    assert!(in_view(&page, BENI).await && in_view(&page, GOMA).await);
    assert!(!in_view(&page, (-4.3, 15.3)).await, "Kinshasa is out of the frame");
    let beni = page.eval(&on_map(BENI.1, BENI.0)).await;
    let goma = page.eval(&on_map(GOMA.1, GOMA.0)).await;
    let apart = (beni[1].as_f64().unwrap() - goma[1].as_f64().unwrap()).abs();
    assert!(apart > 0.4 * beni[3].as_f64().unwrap(), "{apart} px apart on the wall");
    // Text read from across a room: the cards' figures and details are large.
    let sizes = page
        .eval(&format!(
            "['[data-alert=\"{}\"] [data-tally=\"no_response\"] b', '[data-alert=\"{}\"] .meta'].map(s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize))",
            ids[0], ids[0]
        ))
        .await;
    assert!(
        sizes[0].as_f64().unwrap() >= 32.0 && sizes[1].as_f64().unwrap() >= 17.0,
        "{sizes}"
    );
    if screenshots {
        page.screenshot("console-wall").await;
    }
    page.goto(&hub.base).await;
    page.wait_for(
        "document.getElementById('link').textContent === 'Live' && document.documentElement.classList.contains('wall')",
        "still the wall after a reload",
    )
    .await;
    page.click("#wall-toggle").await;
    assert_eq!(
        page.eval("document.documentElement.classList.contains('wall') || localStorage.getItem('scaan.wall')")
            .await,
        json!("0")
    );

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn a_security_officer_starts_on_their_countries(backend: Backend) {
    let hub = TestHub::start(backend).await;
    hub.account("kivu.security", Role::SecurityOfficer, &["CD", "RW"], None)
        .await;
    hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "kivu.security", false).await;

    let title = page
        .wait_for(
            "(t => t.includes('(CD)') && t)(document.getElementById('brand-role').textContent)",
            "the title naming the officer's countries",
        )
        .await;
    assert_eq!(title, json!("Dem. Rep. Congo (CD), Rwanda (RW)"));
    assert_eq!(
        page.eval("document.title").await,
        json!("SCAAN · Dem. Rep. Congo (CD), Rwanda (RW)")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The map is on DR Congo and Rwanda: Kinshasa, Goma and Kigali in view, Addis Ababa and
    // the rest of the world not.
    for place in [(-4.3, 15.3), GOMA, (-1.95, 30.06)] {
        assert!(in_view(&page, place).await, "{place:?} in view");
    }
    assert!(!in_view(&page, (51.5, -0.12)).await, "London out of view");
    assert!(!in_view(&page, ADDIS_ABABA).await, "Addis Ababa out of view");
    // "⌂" comes back to them too.
    page.click("#zoom-out").await;
    page.click("#zoom-out").await;
    page.click("#zoom-out").await;
    page.click("#zoom-world").await;
    assert!(!in_view(&page, ADDIS_ABABA).await);

    // A watch officer's console stays the operations centre's, on the world.
    page.click("#logout").await;
    page.wait_for("!document.getElementById('login').hidden", "logged out")
        .await;
    log_in(&page, &hub, "manila.watch", false).await;
    page.wait_for(
        "document.getElementById('brand-role').textContent === 'Operations centre'",
        "the operations centre",
    )
    .await;

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}
