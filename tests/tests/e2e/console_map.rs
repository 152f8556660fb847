//! The console's map in headless Chromium against a real hub: the offline base map naming the
//! towns and provinces and drawing the lakes at city zoom (read through the map library's
//! rendered features, not pixels), with the browser's network cut but for the hub; place search
//! on the map and in the composer, and an alert drawn after a search reaching the right people,
//! network cut too; a headcount's people clustered and coloured by how they stand; 20,000 staff
//! clustered without freezing the pan. The SQLite run writes `console-map-country.png`,
//! `console-map-city.png` and `console-map-headcount.png` in `docs/screenshots/`.

use crate::browser::{Browser, Page};
use crate::console::{log_in, BENI};
use crate::console_actions::confirm;
use crate::harness::{circle_alert, Account, Backend, TestHub};
use crate::on_both_backends;
use reqwest::StatusCode;
use scaan_schemas::{NewUser, Position, Role};
use serde_json::{json, Value};
use std::time::Duration;

const GOMA: (f64, f64) = (-1.6792, 29.2228);
const KAMPALA: (f64, f64) = (0.3476, 32.5825);
/// A point in Lake Kivu, a few kilometres south-west of Goma.
const LAKE_KIVU: (f64, f64) = (-1.80, 29.15);

on_both_backends!(
    the_map_names_the_towns_and_draws_the_lakes_from_the_hub_alone,
    a_circle_drawn_after_a_place_search_reaches_the_people_there,
    a_dead_online_tile_source_leaves_the_offline_map_without_errors,
    a_headcount_s_people_are_clustered_and_coloured_by_how_they_stand,
    the_base_map_and_the_map_library_are_served_from_the_binary,
);

/// The map library's view, once every tile of it is drawn: its centre, zoom, and the rendered
/// features by layer (`names` lists the towns' names, `provinces` the provinces').
const RENDERED: &str = "(() => {
    const element = document.querySelector('#map .basemap');
    const m = element.basemap.map;
    if (!m.loaded() || !m.areTilesLoaded() || m.isMoving() || element.style.transform) return null;
    const layers = {};
    const names = [];
    const provinces = [];
    for (const f of m.queryRenderedFeatures()) {
        layers[f.layer.id] = (layers[f.layer.id] || 0) + 1;
        if (f.layer.id === 'towns') names.push(f.properties.name);
        if (f.layer.id === 'province-names') provinces.push(f.properties.name);
    }
    const c = m.getCenter();
    return { lon: c.lng, lat: c.lat, zoom: m.getZoom(), layers, names, provinces };
})()";

/// How long the map library may take to load and draw: in software, on a loaded runner, more
/// than `wait_for`'s 10 s.
pub(crate) const MAP_DRAWN: Duration = Duration::from_secs(60);

async fn rendered(page: &Page<'_>) -> Value {
    // Two frames apart and unchanged: the library has nothing left to draw.
    page.wait_within(
        &format!("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r({RENDERED}))))"),
        "the map drawn",
        MAP_DRAWN,
    )
    .await
}

/// The selected headcount's people as the map library draws them: how many stand each way
/// (`safe`, `need_help`, …: a cluster counts each standing among its people), and how many
/// clusters and single dots carry them (`seen`); once `until` holds of `seen`.
pub(crate) async fn people_on_map(page: &Page<'_>, until: &str) -> Value {
    page.wait_within(
        &format!(
            "(m => {{
                if (!m.loaded() || !m.areTilesLoaded()) return null;
                const seen = {{ clusters: 0, single: 0, people: 0 }};
                const count = (standing, n) => {{ seen[standing] = (seen[standing] || 0) + n; seen.people += n; }};
                for (const f of m.queryRenderedFeatures({{ layers: ['people-clusters', 'people'] }})) {{
                    if (f.properties.cluster) {{
                        seen.clusters++;
                        for (const s of ['sos', 'need_help', 'overdue', 'no_response', 'not_reached', 'safe']) if (f.properties[s]) count(s, f.properties[s]);
                    }} else {{
                        seen.single++;
                        count(f.properties.standing, 1);
                    }}
                }}
                return ({until}) && seen;
            }})(document.querySelector('#map .basemap').basemap.map)"
        ),
        "the headcount's people on the map",
        MAP_DRAWN,
    )
    .await
}

const SAFE: &str = "rgba(61,220,132,1)";
const NEED_HELP: &str = "rgba(255,159,67,1)";
const GREY: &str = "rgba(170,180,195,1)";
const HALO: &str = "rgba(11,15,20,1)";

/// The features rendered on `layer` with the colour its `property` evaluates to for each.
fn colours(layer: &str, property: &str) -> String {
    format!(
        "(m => {{ const paint = m.getLayer('{layer}').paint.get('{property}');
            return m.queryRenderedFeatures({{ layers: ['{layer}'] }})
                .map(f => ({{ ...f.properties, colour: paint.evaluate(f, {{}}).toString() }})); }})\
         (document.querySelector('#map .basemap').basemap.map)"
    )
}

/// A Chromium with its network cut but for the hub, shown cut: the hub answers it, and the
/// same hub under another name (as any other address) does not.
async fn cut_off(hub: &TestHub) -> Browser {
    let browser = Browser::launch_cut_off_but(&hub.base).await;
    let probe = browser.page().await;
    // From a file of the hub's that carries no Content-Security-Policy to stop the fetch.
    probe.goto(&format!("{}/console/map.json", hub.base)).await;
    let fetch = |base: &str| {
        format!(
            "fetch('{base}/console/map.json', {{ mode: 'no-cors' }}).then(() => 'reached', e => 'cut: ' + e.message)"
        )
    };
    assert_eq!(probe.eval(&fetch(&hub.base)).await, "reached", "the hub");
    let other_name = hub.base.replace("127.0.0.1", "localhost");
    assert_eq!(
        probe.eval(&fetch(&other_name)).await,
        "cut: Failed to fetch",
        "anything but the hub"
    );
    drop(probe);
    browser
}

/// Types a place into the map's search and takes the first match.
async fn go_to(page: &Page<'_>, place: &str) {
    page.eval("document.getElementById('place-query').value = ''").await;
    page.type_into("#place-query", place).await;
    page.wait_for(
        &format!(
            "[...document.querySelectorAll('#place-results li')].some(li => li.textContent.startsWith('{place}'))"
        ),
        "the place among the matches",
    )
    .await;
    crate::console_views::press(page, "Enter", "Enter", 13).await;
}

async fn the_map_names_the_towns_and_draws_the_lakes_from_the_hub_alone(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let browser = cut_off(&hub).await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    // The map library runs in this browser, and its data is in.
    page.wait_within(
        "document.getElementById('map').classList.contains('has-basemap')",
        "the base map loaded",
        MAP_DRAWN,
    )
    .await;

    // City zoom over Goma: the towns round the lake named, the lake, the border.
    go_to(&page, "Goma").await;
    let city = rendered(&page).await;
    assert!((city["lat"].as_f64().unwrap() - GOMA.0).abs() < 0.02, "{city}");
    assert!((city["lon"].as_f64().unwrap() - GOMA.1).abs() < 0.02, "{city}");
    assert!(city["zoom"].as_f64().unwrap() >= 9.5, "city zoom: {city}");
    let names = city["names"].as_array().unwrap();
    for town in ["Goma", "Gisenyi", "Sake"] {
        assert!(names.contains(&json!(town)), "{town} named at city zoom: {city}");
    }
    assert!(city["layers"]["land"].as_u64() > Some(0), "{city}");
    assert!(
        city["layers"]["borders"].as_u64() > Some(0),
        "the DRC–Rwanda border: {city}"
    );
    assert!(
        city["layers"]["provinces"].as_u64() > Some(0),
        "the Nord-Kivu–Sud-Kivu boundary: {city}"
    );
    let kivu = page
        .eval(&format!(
            "(m => m.queryRenderedFeatures(m.project([{}, {}]), {{ layers: ['water'] }}).length)(document.querySelector('#map .basemap').basemap.map)",
            LAKE_KIVU.1, LAKE_KIVU.0
        ))
        .await;
    assert!(kivu.as_u64() > Some(0), "Lake Kivu drawn south of Goma");
    if screenshots {
        page.screenshot("console-map-city").await;
    }

    // Zoomed out to the country, the towns that matter still carry names, the rest give way.
    for _ in 0..6 {
        page.click("#zoom-out").await;
    }
    let country = rendered(&page).await;
    assert!(country["zoom"].as_f64().unwrap() < 7.0, "{country}");
    let names = country["names"].as_array().unwrap();
    for town in ["Goma", "Kigali"] {
        assert!(names.contains(&json!(town)), "{town} named at country zoom: {country}");
    }
    assert!(
        !names.contains(&json!("Sake")),
        "a town of 17,000 waits for a closer zoom: {country}"
    );
    let provinces = country["provinces"].as_array().unwrap();
    for province in ["Nord-Kivu", "Sud-Kivu"] {
        assert!(
            provinces.contains(&json!(province)),
            "{province} named at country zoom: {country}"
        );
    }
    if screenshots {
        page.screenshot("console-map-country").await;
    }

    // Every file came from the hub (no other network would have answered).
    let elsewhere = page
        .eval("performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(location.origin))")
        .await;
    assert_eq!(elsewhere, json!([]), "requests beyond the hub");

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn a_circle_drawn_after_a_place_search_reaches_the_people_there(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    hub.account("amani", Role::Staff, &[], Some(BENI)).await;
    hub.account("jean", Role::Staff, &[], Some((0.50, 29.46))).await;
    hub.account("grace", Role::Staff, &[], Some(KAMPALA)).await;
    let browser = cut_off(&hub).await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;

    // "Beni": the map centres there.
    go_to(&page, "Beni").await;
    let view = rendered(&page).await;
    assert!((view["lat"].as_f64().unwrap() - BENI.0).abs() < 0.01, "{view}");
    assert!((view["lon"].as_f64().unwrap() - BENI.1).abs() < 0.01, "{view}");
    assert!(view["names"].as_array().unwrap().contains(&json!("Beni")), "{view}");

    // A circle drawn there, centre then edge, reaches Beni's two and not Kampala's one.
    page.click("#tab-compose").await;
    page.type_into("#c-headline", "Fighting reported in Beni").await;
    page.type_into("#c-event", "Armed clash").await;
    page.type_into("#c-area-description", "Beni town").await;
    page.click("#draw-circle").await;
    let centre = page.centre_of("#map").await;
    page.click_at(centre).await;
    page.click_at((centre.0 + 100.0, centre.1)).await;
    let preview = page
        .wait_for(
            "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent)",
            "the preview of the drawn area's reach",
        )
        .await;
    assert_eq!(preview, json!("Reaches 2 people in CD."));
    page.click("#c-send").await;
    confirm(&page).await;
    page.wait_for(
        "[...document.querySelectorAll('#panel-alerts h2.headline')].some(h => h.textContent.startsWith('Fighting'))",
        "the sent alert's detail",
    )
    .await;
    let (_, alerts) = hub.get("/api/v1/alerts", &watch).await;
    let sent = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["headline"] == "Fighting reported in Beni")
        .expect("the drawn alert was sent")
        .clone();
    assert_eq!(sent["recipients"], 2, "{sent}");
    let at = &sent["area"]["geometry"]["coordinates"];
    assert!((at[0].as_f64().unwrap() - BENI.1).abs() < 0.01, "{sent}");
    assert!((at[1].as_f64().unwrap() - BENI.0).abs() < 0.01, "{sent}");

    // The composer's own search: "centre on a place, radius 5 km".
    page.click("#tab-compose").await;
    page.type_into("#c-place", "Kampala").await;
    page.wait_for(
        "[...document.querySelectorAll('#c-place-results li')].some(li => li.textContent.startsWith('Kampala'))",
        "Kampala among the matches",
    )
    .await;
    crate::console_views::press(&page, "Enter", "Enter", 13).await;
    let preview = page
        .wait_for(
            "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent)",
            "the preview of the place's circle",
        )
        .await;
    assert_eq!(preview, json!("Reaches 1 person in UG."));
    assert_eq!(
        page.eval("document.getElementById('c-radius').value").await,
        json!("5000")
    );
    assert_eq!(
        page.eval("document.getElementById('c-area-description').value").await,
        json!("Kampala, UG")
    );

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn a_dead_online_tile_source_leaves_the_offline_map_without_errors(backend: Backend) {
    // Nothing listens on the discard port: every tile fails at once.
    let dead = "http://127.0.0.1:9/{z}/{x}/{y}.png";
    let hub = TestHub::start_configured(backend, |config| config.map_tile_url = Some(dead.into())).await;
    hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let page_policy = hub.http.get(format!("{}/", hub.base)).send().await.unwrap();
    let policy = page_policy.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("img-src 'self' data: http://127.0.0.1:9;"), "{policy}");
    assert!(policy.contains("connect-src 'self' http://127.0.0.1:9;"), "{policy}");
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    go_to(&page, "Goma").await;
    // The page asked the online source for tiles, and they failed…
    page.wait_within(
        "document.querySelector('#map .basemap').basemap.tileErrors > 0",
        "the online tiles tried and failed",
        MAP_DRAWN,
    )
    .await;
    // …and the offline map is there all the same.
    let city = rendered(&page).await;
    assert!(city["names"].as_array().unwrap().contains(&json!("Goma")), "{city}");
    assert!(city["layers"]["water"].as_u64() > Some(0), "{city}");
    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

async fn the_base_map_and_the_map_library_are_served_from_the_binary(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let get = |path: &str, encoding: Option<&str>| {
        let mut request = hub.http.get(format!("{}{path}", hub.base));
        if let Some(encoding) = encoding {
            request = request.header("accept-encoding", encoding);
        }
        request.send()
    };
    let library = get("/console/vendor/maplibre-gl-csp.js", None).await.unwrap();
    assert_eq!(library.status(), StatusCode::OK);
    assert_eq!(library.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(library.text().await.unwrap().contains("maplibregl"));
    for file in [
        "land.geojson",
        "water.geojson",
        "borders.geojson",
        "towns.geojson",
        "provinces.geojson",
        "places.tsv",
    ] {
        let path = format!("/console/vendor/basemap/{file}");
        let response = get(&path, Some("gzip, deflate, br")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(response.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(response.headers()["vary"], "accept-encoding", "{path}");
        let body = response.bytes().await.unwrap();
        assert_eq!(&body[..2], &[0x1f, 0x8b], "{path}: a gzip stream");
        // A client that refuses gzip is told so rather than sent bytes it cannot read.
        let refused = get(&path, Some("br, gzip;q=0")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_ACCEPTABLE, "{path}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_acceptable");
    }
    let (status, settings) = hub.call("GET", "/console/map.json", None, None).await;
    assert_eq!((status, settings), (StatusCode::OK, json!({"tile_url": null})));
    hub.stop().await;
}

async fn a_headcount_s_people_are_clustered_and_coloured_by_how_they_stand(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    // Twelve people on a grid round Beni, 450 m apart; by turns safe, needing help, silent
    // (their phone has the alert), not reached (no device of theirs has it).
    let mut people: Vec<Account> = Vec::new();
    for i in 0..12 {
        let at = (BENI.0 + (i / 4) as f64 * 0.004, BENI.1 + (i % 4) as f64 * 0.004);
        people.push(hub.account(&format!("person{i}"), Role::Staff, &[], Some(at)).await);
    }
    let mut phones = Vec::new();
    for person in people.iter().skip(2).step_by(4) {
        phones.push(hub.stream(person).await);
    }
    let (_, alert) = hub
        .post(
            "/api/v1/alerts",
            &watch,
            circle_alert("Armed clashes near Beni", BENI.0, BENI.1, 5000.0),
        )
        .await;
    let id = alert["id"].as_str().unwrap().to_owned();
    for phone in &mut phones {
        phone.expect("alert").await;
    }
    for (i, person) in people.iter().enumerate() {
        let status = match i % 4 {
            0 => "safe",
            1 => "need_help",
            _ => continue,
        };
        let (code, _) = hub
            .post(
                &format!("/api/v1/alerts/{id}/checkins"),
                person,
                json!({ "status": status }),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED);
    }

    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    page.click(&format!("[data-alert=\"{id}\"]")).await;
    page.wait_for(
        "document.querySelector('[data-count=\"total\"]')?.textContent === '12'",
        "the board",
    )
    .await;
    // At town zoom, clustered: a few circles carry all twelve, and count each standing.
    go_to(&page, "Beni").await;
    page.click("#zoom-out").await;
    let town = people_on_map(&page, "seen.people === 12").await;
    assert!(town["clusters"].as_u64() > Some(0), "clustered at town zoom: {town}");
    assert!(town["single"].as_u64() < Some(12), "{town}");
    for standing in ["safe", "need_help", "no_response", "not_reached"] {
        assert_eq!(town[standing], 3, "{standing}: {town}");
    }
    // A cluster is ringed in the colour of the worst-off among its people (here, need help),
    // as the map library evaluates its style for the rendered feature.
    let rings = page.eval(&colours("people-clusters", "circle-stroke-color")).await;
    for ring in rings.as_array().unwrap() {
        assert!(ring["need_help"].as_u64() > Some(0), "{rings}");
        assert_eq!(ring["colour"], NEED_HELP, "{rings}");
    }
    // Closer, the clusters part (the screenshot shows both); at street zoom, one dot each, in
    // its standing's colour.
    for _ in 0..4 {
        page.click("#zoom-in").await;
    }
    if screenshots {
        people_on_map(&page, "seen.people === 12 && seen.single > 0").await;
        page.screenshot("console-map-headcount").await;
    }
    for _ in 0..2 {
        page.click("#zoom-in").await;
    }
    let street = people_on_map(&page, "seen.people === 12 && seen.clusters === 0").await;
    assert_eq!(street["single"], 12, "{street}");
    assert_eq!(street["clusters"], 0, "{street}");
    for standing in ["safe", "need_help", "no_response", "not_reached"] {
        assert_eq!(street[standing], 3, "{standing}: {street}");
    }
    let fills = page.eval(&colours("people", "circle-color")).await;
    let strokes = page.eval(&colours("people", "circle-stroke-color")).await;
    for (fill, stroke) in fills.as_array().unwrap().iter().zip(strokes.as_array().unwrap()) {
        let expected = match fill["standing"].as_str().unwrap() {
            "safe" => (SAFE, HALO),
            "need_help" => (NEED_HELP, HALO),
            "no_response" => (GREY, HALO),
            // Not reached: a hollow ring.
            "not_reached" => (HALO, GREY),
            other => panic!("{other}"),
        };
        assert_eq!(
            (&fill["colour"], &stroke["colour"]),
            (&json!(expected.0), &json!(expected.1)),
            "{fill} {stroke}"
        );
    }

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}

/// 20,000 staff, straight into the store, on a grid round the Kivus (0.1° apart).
async fn many_staff(hub: &TestHub, n: usize) {
    let hash = scaan_server::auth::hash_password("load password".into()).await.unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let made = chunk.iter().map(|&i| {
            let new = NewUser {
                username: format!("staff{i}"),
                password: String::new(),
                role: Role::Staff,
                name: None,
                countries: vec![],
                duty_station: Some(Position::new(
                    -3.0 + (i % 150) as f64 * 0.03,
                    27.0 + (i / 150) as f64 * 0.03,
                )),
                phones: Vec::new(),
            };
            let hash = hash.clone();
            async move {
                hub.app
                    .store
                    .create_user(&new, &hash, chrono::Utc::now())
                    .await
                    .unwrap()
            }
        });
        for user in futures_util::future::join_all(made).await {
            hub.app.follower.place_staff(&user);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_staff_are_clustered_and_the_map_pans_smoothly() {
    let hub = TestHub::start(Backend::Sqlite).await;
    hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    many_staff(&hub, 20_000).await;
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    go_to(&page, "Butembo").await;
    for _ in 0..4 {
        page.click("#zoom-out").await;
    }
    // Clustered: a few dozen circles carry all 20,000 (and the ones in view add up).
    let clusters = page
        .wait_within(
            "(m => { const c = m.queryRenderedFeatures({ layers: ['staff-clusters'] }); \
               return c.length > 0 && { clusters: c.length, staff: c.reduce((n, f) => n + f.properties.point_count, 0) }; \
             })(document.querySelector('#map .basemap').basemap.map)",
            "the staff clusters",
            MAP_DRAWN,
        )
        .await;
    assert!(clusters["clusters"].as_u64() < Some(500), "{clusters}");
    assert!(clusters["staff"].as_u64() > Some(1000), "{clusters}");

    // Pan by dragging for about two seconds while the page times its frames.
    page.eval(
        "window.frames_ms = []; (function tick(last) { requestAnimationFrame(t => { \
           if (last) window.frames_ms.push(t - last); if (!window.frames_done) tick(t); }); })()",
    )
    .await;
    let (x, y) = page.centre_of("#map").await;
    for step in 0..6 {
        let dx = if step % 2 == 0 { -300.0 } else { 300.0 };
        page.drag((x, y), (x + dx, y + dx / 3.0)).await;
    }
    let frames = page.eval("window.frames_done = true; window.frames_ms").await;
    let mut frames: Vec<f64> = frames.as_array().unwrap().iter().filter_map(Value::as_f64).collect();
    frames.sort_by(f64::total_cmp);
    let p95 = frames[(frames.len() * 95 / 100).min(frames.len() - 1)];
    eprintln!("panning with 20,000 staff: {} frames, p95 {p95:.1} ms", frames.len());
    assert!(frames.len() > 10, "{frames:?}");
    assert!(p95 <= 50.0, "frame time p95 {p95:.1} ms: {frames:?}");

    // At street zoom, one person is one dot.
    go_to(&page, "Butembo").await;
    for _ in 0..3 {
        page.click("#zoom-in").await;
    }
    let single = page
        .wait_within(
            "(m => m.queryRenderedFeatures({ layers: ['staff'] }).length)(document.querySelector('#map .basemap').basemap.map) || false",
            "single staff at street zoom",
            MAP_DRAWN,
        )
        .await;
    assert!(single.as_u64() > Some(0), "{single}");

    let errors = browser.errors();
    assert!(errors.is_empty(), "JavaScript errors in the console: {errors:?}");
    drop(page);
    drop(browser);
    hub.stop().await;
}
