//! Outside warnings: public CAP feeds followed by the hub, served here by a small HTTP server on
//! a free port. New messages appear, an update replaces, a cancel withdraws, an outage is
//! retried with backoff and recorded, and no staff member hears of a warning until an officer
//! promotes it. Every CAP version and the shapes real feeds send (IPAWS, GDACS, NWS,
//! Meteoalarm, geocodes only, several languages, a world-sized area, one expired on arrival)
//! are read. The test documents are in `tests/fixtures/cap/`. The console's outside-warnings
//! layer and list are driven in headless Chromium; the SQLite run writes
//! `docs/screenshots/console-warnings.png`.

use crate::browser::Browser;
use crate::console::log_in;
use crate::console_actions::confirm;
use crate::harness::{Account, Backend, TestHub};
use crate::on_both_backends;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode as Status};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use scaan_schemas::Role;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_backends!(
    a_followed_feed_updates_cancels_survives_an_outage_and_reaches_no_staff_until_promoted,
    every_cap_version_and_the_shapes_feeds_send_are_read,
    the_console_shows_outside_warnings_and_promotes_one_after_its_review,
    a_feed_that_never_answers_holds_up_no_other,
);

const WICHITA: (f64, f64) = (37.69, -97.34);

pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cap");

/// A fixture as served: `{{expires}}` a day from now.
pub(crate) fn fixture(name: &str) -> String {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expires = (Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S+00:00");
    text.replace("{{expires}}", &expires.to_string())
}

/// What the test's feed server serves: an Atom (or RSS) index of its entries (with an ETag,
/// answering 304 to a matching `If-None-Match`), and each entry's CAP document; everything 503
/// while down, the `failing` documents 503 alone.
#[derive(Default)]
pub(crate) struct FeedState {
    entries: Vec<String>,
    documents: HashMap<String, String>,
    failing: HashSet<String>,
    down: bool,
    rss: bool,
}

#[derive(Clone)]
pub(crate) struct FeedServer {
    pub base: String,
    state: Arc<Mutex<FeedState>>,
}

impl FeedServer {
    pub(crate) async fn start() -> FeedServer {
        let state = Arc::new(Mutex::new(FeedState::default()));
        let app = Router::new()
            .route("/feed", get(index))
            .route("/cap/{name}", get(document))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FeedServer { base, state }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/feed", self.base)
    }

    /// Adds an entry (a fixture, or any document under `name`) to the index.
    pub(crate) fn publish(&self, name: &str, document: String) {
        let mut state = self.state.lock().unwrap();
        state.documents.insert(name.to_owned(), document);
        state.entries.push(name.to_owned());
    }

    fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }
}

async fn index(State(state): State<Arc<Mutex<FeedState>>>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    if state.down {
        return (Status::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let etag = format!("\"{}\"", state.entries.len());
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Status::NOT_MODIFIED.into_response();
    }
    let body = if state.rss {
        let items: String = state
            .entries
            .iter()
            .map(|name| format!("<item><title>{name}</title><link>/cap/{name}</link><guid>{name}</guid></item>"))
            .collect();
        format!(r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Test feed</title>{items}</channel></rss>"#)
    } else {
        let entries: String = state
            .entries
            .iter()
            .map(|name| {
                format!(
                    r#"<entry><id>urn:test:{name}</id><updated>2026-12-06T08:00:00Z</updated><title>{name}</title>
                    <link rel="alternate" href="https://example.org/page/{name}"/>
                    <link rel="related" type="application/cap+xml" href="/cap/{name}"/></entry>"#
                )
            })
            .collect();
        format!(
            r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Test feed</title>{entries}</feed>"#
        )
    };
    (
        [
            (header::ETAG, etag),
            (header::CONTENT_TYPE, "application/atom+xml".into()),
        ],
        body,
    )
        .into_response()
}

async fn document(State(state): State<Arc<Mutex<FeedState>>>, Path(name): Path<String>) -> Response {
    let state = state.lock().unwrap();
    match (state.down || state.failing.contains(&name), state.documents.get(&name)) {
        (true, _) => (Status::SERVICE_UNAVAILABLE, "down").into_response(),
        (false, Some(doc)) => ([(header::CONTENT_TYPE, "application/cap+xml")], doc.clone()).into_response(),
        (false, None) => Status::NOT_FOUND.into_response(),
    }
}

/// Polls `what` every 100 ms until it gives something, for at most `within`.
pub(crate) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn warnings(hub: &TestHub, who: &Account, query: &str) -> Vec<Value> {
    let (status, list) = hub.get(&format!("/api/v1/warnings{query}"), who).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

async fn feed_state(hub: &TestHub, who: &Account) -> Value {
    let (status, feeds) = hub.get("/api/v1/warning-feeds", who).await;
    assert_eq!(status, StatusCode::OK, "{feeds}");
    feeds[0].clone()
}

async fn fetches(hub: &TestHub, who: &Account, feed: &Value) -> Vec<Value> {
    let path = format!("/api/v1/warning-feeds/{}/fetches", feed["id"].as_str().unwrap());
    hub.get(&path, who).await.1.as_array().unwrap().clone()
}

/// Follows `url` as `who`, polled every second.
pub(crate) async fn follow(hub: &TestHub, who: &Account, url: &str) -> Value {
    let (status, feed) = hub
        .post(
            "/api/v1/warning-feeds",
            who,
            json!({"name": "Test feed", "url": url, "interval_s": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{feed}");
    feed
}

async fn a_followed_feed_updates_cancels_survives_an_outage_and_reaches_no_staff_until_promoted(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let kivu = hub.account("kivu.officer", Role::SecurityOfficer, &["CD"], None).await;
    let ks = hub
        .account("kansas.officer", Role::SecurityOfficer, &["US"], None)
        .await;
    let staff = hub.account("wichita.staff", Role::Staff, &[], Some(WICHITA)).await;
    let mut staff_stream = hub.stream(&staff).await;
    let mut watch_stream = hub.stream(&watch).await;
    let server = FeedServer::start().await;
    server.publish("tornado", fixture("ipaws-tornado.xml"));

    // Only watch officers choose the feeds, and a feed is a web URL followed once.
    let body = json!({"name": "NWS", "url": server.url(), "interval_s": 1});
    for who in [&kivu, &staff] {
        assert_eq!(
            hub.post("/api/v1/warning-feeds", who, body.clone()).await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (status, refused) = hub
        .post(
            "/api/v1/warning-feeds",
            &watch,
            json!({"name": "x", "url": "file:///etc/passwd"}),
        )
        .await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("url"))
    );
    let feed = follow(&hub, &watch, &server.url()).await;
    let (status, again) = hub.post("/api/v1/warning-feeds", &watch, body).await;
    assert_eq!(
        (status, &again["error"]["code"]),
        (StatusCode::CONFLICT, &json!("feed_followed"))
    );

    // The first message appears, for the officers of its country and watch officers.
    let first = eventually(Duration::from_secs(15), "the first warning", || async {
        warnings(&hub, &watch, "").await.into_iter().next()
    })
    .await;
    assert_eq!(first["state"], "active");
    assert_eq!(
        first["infos"][0]["headline"],
        "Tornado Warning issued for Sedgwick County until 7:45 AM CST"
    );
    assert_eq!((&first["countries"], &first["placed"]), (&json!(["US"]), &json!(true)));
    assert_eq!(first["area"]["geometry"]["type"], "Polygon");
    let envelope = watch_stream.expect("warning").await;
    assert_eq!(envelope["warning"]["id"], first["id"]);
    assert_eq!(warnings(&hub, &ks, "").await.len(), 1);
    assert!(
        warnings(&hub, &kivu, "").await.is_empty(),
        "not one of the Kivu officer's countries"
    );
    assert_eq!(
        hub.get(&format!("/api/v1/warnings/{}", first["id"].as_str().unwrap()), &kivu)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(hub.get("/api/v1/warnings", &staff).await.0, StatusCode::FORBIDDEN);

    // Unchanged, the index answers 304 to the conditional request.
    eventually(Duration::from_secs(10), "a 304", || async {
        fetches(&hub, &watch, &feed)
            .await
            .iter()
            .any(|f| f["outcome"] == "not_modified")
            .then_some(())
    })
    .await;

    // An update replaces the warning: the same one, its next revision, the wider area.
    server.publish("tornado-update", fixture("ipaws-tornado-update.xml"));
    let updated = eventually(Duration::from_secs(15), "the update", || async {
        let list = warnings(&hub, &watch, "").await;
        list.into_iter().find(|w| w["revision"] == 2)
    })
    .await;
    assert_eq!(updated["id"], first["id"]);
    assert_eq!(updated["msg_type"], "Update");
    assert_eq!(
        updated["infos"][0]["areas"][0]["description"],
        "Sedgwick, KS; Harvey, KS"
    );
    assert_eq!(warnings(&hub, &watch, "").await.len(), 1, "replaced, not added");

    // An outage: every fetch fails; the hub retries less and less often and records each.
    server.set_down(true);
    let down = eventually(Duration::from_secs(20), "two failures in a row", || async {
        let f = feed_state(&hub, &watch).await;
        (f["failures"].as_u64() >= Some(2)).then_some(f)
    })
    .await;
    assert!(down["last_error"].as_str().unwrap().contains("503"), "{down}");
    let failed: Vec<Value> = fetches(&hub, &watch, &feed)
        .await
        .into_iter()
        .filter(|f| f["outcome"] == "failed")
        .collect();
    assert!(
        failed.len() >= 2 && failed.iter().all(|f| f["http_status"] == 503),
        "{failed:?}"
    );
    let at = |f: &Value| f["at"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let gap = at(&failed[0]) - at(&failed[1]);
    assert!(gap >= chrono::Duration::milliseconds(1900), "backed off: {gap}");
    server.set_down(false);
    let back = eventually(Duration::from_secs(20), "the feed back", || async {
        let f = feed_state(&hub, &watch).await;
        (f["failures"] == 0).then_some(f)
    })
    .await;
    assert!(
        back["last_error"].is_null() && back["last_success_at"].is_string(),
        "{back}"
    );

    // A cancel withdraws it: kept, shown as withdrawn, no longer current.
    server.publish("tornado-cancel", fixture("ipaws-tornado-cancel.xml"));
    let withdrawn = eventually(Duration::from_secs(15), "the cancel", || async {
        warnings(&hub, &watch, "")
            .await
            .into_iter()
            .find(|w| w["state"] == "withdrawn")
    })
    .await;
    assert_eq!((&withdrawn["id"], &withdrawn["revision"]), (&first["id"], &json!(3)));
    assert!(warnings(&hub, &watch, "?current=true").await.is_empty());

    // Nothing of it reached staff.
    staff_stream.expect_silence().await;
    assert_eq!(hub.stored_alerts().await, 0);

    // A flood warning over Wichita: still nothing for staff, until an officer promotes it.
    server.publish("flood", fixture("nws-flood.xml"));
    let flood = eventually(Duration::from_secs(15), "the flood warning", || async {
        warnings(&hub, &watch, "?current=true").await.into_iter().next()
    })
    .await;
    staff_stream.expect_silence().await;
    assert_eq!(hub.stored_alerts().await, 0);
    let promote = |id: &Value| format!("/api/v1/warnings/{}/promote", id.as_str().unwrap());
    let (status, refused) = hub.post(&promote(&withdrawn["id"]), &watch, json!({})).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (StatusCode::CONFLICT, &json!("warning_withdrawn"))
    );
    assert_eq!(
        hub.post(&promote(&flood["id"]), &kivu, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, alert) = hub
        .post(
            &promote(&flood["id"]),
            &ks,
            json!({"instruction": "Stay off the river roads."}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(
        alert["headline"],
        "Flood Warning issued December 6 at 5:12AM CST by NWS Wichita KS"
    );
    assert_eq!((&alert["recipients"], &alert["countries"]), (&json!(1), &json!(["US"])));
    let delivered = staff_stream.expect("alert").await;
    assert_eq!(delivered["alert"]["id"], alert["id"]);
    assert_eq!(hub.stored_alerts().await, 1);
    let (_, promoted) = hub
        .get(&format!("/api/v1/warnings/{}", flood["id"].as_str().unwrap()), &watch)
        .await;
    assert_eq!(
        (&promoted["alert_id"], &promoted["promoted_by"]),
        (&alert["id"], &json!("kansas.officer"))
    );
    let (status, twice) = hub.post(&promote(&flood["id"]), &watch, json!({})).await;
    assert_eq!(
        (status, &twice["error"]["code"]),
        (StatusCode::CONFLICT, &json!("warning_promoted"))
    );
    assert_eq!(hub.stored_alerts().await, 1);

    // Unfollowing keeps the warnings.
    let path = format!("/api/v1/warning-feeds/{}", feed["id"].as_str().unwrap());
    assert_eq!(
        hub.call("DELETE", &path, Some(&ks.token), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.call("DELETE", &path, Some(&watch.token), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(warnings(&hub, &watch, "").await.len(), 2);
}

/// Which OASIS schema a fixture's namespace is.
fn schema_of(xml: &str) -> &'static str {
    match () {
        _ if xml.contains("http://www.incident.com/cap/1.0") => "CAP-v1.0.xsd",
        _ if xml.contains("urn:oasis:names:tc:emergency:cap:1.1") => "CAP-v1.1.xsd",
        _ => "CAP-v1.2.xsd",
    }
}

fn assert_valid_against_its_schema(name: &str, xml: &str) {
    let schema = format!(
        "{}/../schemas/tests/data/{}",
        env!("CARGO_MANIFEST_DIR"),
        schema_of(xml)
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema", &schema])
        .arg(file.path())
        .output()
        .expect("xmllint runs (apt-get install libxml2-utils)");
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn every_cap_version_and_the_shapes_feeds_send_are_read(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let server = FeedServer::start().await;
    server.state.lock().unwrap().rss = true;
    let names = [
        "cap-1.0-thunderstorm.xml",
        "cap-1.1-homeland-security.xml",
        "cap-1.2-amber-multilingual.xml",
        "cap-1.2-earthquake.xml",
        "cap-1.2-earthquake-update.xml",
        "ipaws-tornado.xml",
        "ipaws-tornado-update.xml",
        "ipaws-tornado-cancel.xml",
        "nws-flood.xml",
        "gdacs-cyclone.xml",
        "meteoalarm-storms.xml",
        "world-sized.xml",
    ];
    for name in names {
        let xml = fixture(name);
        assert_valid_against_its_schema(name, &xml);
        server.publish(name, xml);
    }
    // One the hub refuses, and one nobody needs to see (a System message): neither is shown.
    server.publish(
        "doctype.xml",
        format!(
            "<!DOCTYPE alert [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
            fixture("gdacs-cyclone.xml")
        ),
    );
    server.publish(
        "system.xml",
        fixture("world-sized.xml")
            .replace(">Actual<", ">System<")
            .replace("GLOBAL-SOLAR", "SYS"),
    );
    // One already expired when it arrives: kept as history, shown as expired, never sent.
    let raw = std::fs::read_to_string(format!("{FIXTURES}/gdacs-cyclone.xml")).unwrap();
    server.publish(
        "expired.xml",
        raw.replace("{{expires}}", "2026-01-02T00:00:00+00:00")
            .replace("TC1001234_12", "TC1000001_3"),
    );
    // One entry whose document fails for now (tried again, though the index does not change),
    // and one whose document is gone (noted, not tried again).
    server.publish("flaky.xml", fixture("nws-flood.xml").replace(".001.1<", ".001.2<"));
    server.state.lock().unwrap().failing.insert("flaky.xml".into());
    server.state.lock().unwrap().entries.push("gone.xml".into());
    let feed = follow(&hub, &watch, &server.url()).await;
    let list = eventually(Duration::from_secs(20), "every thread", || async {
        let list = warnings(&hub, &watch, "").await;
        (list.len() == 10).then_some(list)
    })
    .await;
    let by_sender = |sender: &str| {
        list.iter()
            .find(|w| w["sender"] == sender)
            .unwrap_or_else(|| panic!("{sender}"))
    };

    let storm = by_sender("KSTO@NWS.NOAA.GOV");
    assert_eq!(
        (&storm["version"], &storm["infos"][0]["certainty"]),
        (&json!("1.0"), &json!("likely"))
    );
    assert_eq!(
        storm["infos"][0]["areas"][0]["geocodes"][0],
        json!({"name": "fips6", "value": "006109"})
    );
    assert_eq!((&storm["countries"], &storm["placed"]), (&json!(["US"]), &json!(true)));

    let hsas = by_sender("hsas@dhs.gov");
    assert_eq!(hsas["version"], "1.1");
    assert_eq!(
        (&hsas["placed"], &hsas["countries"], &hsas["area"]),
        (&json!(false), &json!([]), &Value::Null)
    );
    assert_eq!(
        hsas["infos"][0]["areas"][0]["description"],
        "U.S. nationwide and interests worldwide"
    );

    let amber = by_sender("KARO@CLETS.DOJ.CA.GOV");
    let languages: Vec<&Value> = amber["infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["language"])
        .collect();
    assert_eq!(languages, [&json!("en-US"), &json!("es-US")]);
    assert_eq!(
        amber["infos"][1]["headline"],
        "Alerta Amber en el condado de Los Ángeles"
    );
    assert_eq!((&amber["placed"], &amber["countries"]), (&json!(false), &json!(["US"])));

    let quake = by_sender("trinet@caltech.edu");
    assert_eq!(
        (&quake["revision"], &quake["infos"][0]["headline"]),
        (&json!(2), &json!("EQ 3.4 Imperial County CA"))
    );
    assert_eq!(quake["area"]["radius_m"], 12000.0);

    let tornado = list
        .iter()
        .find(|w| w["identifier"].as_str().unwrap().ends_with("ICTTORICT.3"))
        .unwrap();
    assert_eq!(
        (&tornado["state"], &tornado["revision"]),
        (&json!("withdrawn"), &json!(3))
    );

    let expired = list.iter().find(|w| w["identifier"] == "TC1000001_3").unwrap();
    assert_eq!(expired["state"], "expired");
    let (status, refused) = hub
        .post(
            &format!("/api/v1/warnings/{}/promote", expired["id"].as_str().unwrap()),
            &watch,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (StatusCode::CONFLICT, &json!("warning_expired"))
    );
    assert!(!warnings(&hub, &watch, "?current=true")
        .await
        .iter()
        .any(|w| w["id"] == expired["id"]));

    let cyclone = list.iter().find(|w| w["identifier"] == "TC1001234_12").unwrap();
    assert_eq!(cyclone["countries"], json!(["MZ"]));
    assert_eq!(cyclone["area"]["radius_m"], 150_000.0);

    let meteo = by_sender("vigilance@meteo.fr");
    let languages: Vec<&Value> = meteo["infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["language"])
        .collect();
    assert_eq!(languages, [&json!("fr-FR"), &json!("en-GB")]);
    assert_eq!((&meteo["placed"], &meteo["countries"]), (&json!(false), &json!(["FR"])));

    // A world-sized area is kept and drawn, but not offered as a target.
    let world = by_sender("swpc.webmaster@noaa.gov");
    assert_eq!((&world["placed"], &world["area"]), (&json!(true), &Value::Null));
    assert!(world["area_note"].as_str().unwrap().contains("km²"), "{world}");
    let (status, refused) = hub
        .post(
            &format!("/api/v1/warnings/{}/promote", world["id"].as_str().unwrap()),
            &watch,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &refused["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("area"))
    );
    assert_eq!(hub.stored_alerts().await, 0);

    // What was refused is on the fetch's record.
    let records = fetches(&hub, &watch, &feed).await;
    let details: Vec<&str> = records.iter().filter_map(|f| f["detail"].as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("doctype.xml") && d.contains("DOCTYPE")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("system.xml") && d.contains("System")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("gone.xml") && d.contains("404")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("flaky.xml") && d.contains("tried again")),
        "{details:?}"
    );
    server.state.lock().unwrap().failing.clear();
    eventually(
        Duration::from_secs(15),
        "the entry that failed, read at last",
        || async {
            let list = warnings(&hub, &watch, "").await;
            list.iter()
                .any(|w| w["identifier"].as_str().unwrap().ends_with(".001.2"))
                .then_some(())
        },
    )
    .await;
}

async fn the_console_shows_outside_warnings_and_promotes_one_after_its_review(backend: Backend) {
    let screenshots = matches!(backend, Backend::Sqlite);
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let staff = hub.account("wichita.staff", Role::Staff, &[], Some(WICHITA)).await;
    let mut staff_stream = hub.stream(&staff).await;
    let server = FeedServer::start().await;
    for name in ["ipaws-tornado.xml", "meteoalarm-storms.xml", "world-sized.xml"] {
        server.publish(name, fixture(name));
    }
    let browser = Browser::launch().await;
    let page = browser.page().await;
    log_in(&page, &hub, "manila.watch", false).await;
    follow(&hub, &watch, &server.url()).await;

    // They arrive live: counted on the tab, drawn on the layer — the two with a shape with a
    // marker each, the one placed only by its geocode as its country's outline.
    page.wait_for(
        "document.getElementById('count-warnings').textContent === '3'",
        "three outside warnings",
    )
    .await;
    page.wait_for(
        "document.querySelectorAll('#map .outside-area').length === 3 && document.querySelectorAll('#map .marker.warning').length === 2",
        "the outside-warnings layer",
    )
    .await;
    let france = "document.querySelector('#map .countries path[data-iso=FR]').getAttribute('d')";
    let outlined =
        format!("[...document.querySelectorAll('#map .outside-area')].some(p => p.getAttribute('d') === {france})");
    assert_eq!(
        page.eval(&outlined).await,
        json!(true),
        "Meteoalarm's Ardèche outlines France"
    );

    // The list: the officer's language first, the others a click away; "not placed" said.
    page.click("#tab-warnings").await;
    let meteo =
        "[...document.querySelectorAll('#warning-list .warning-card')].find(c => c.textContent.includes('Ardèche'))";
    // The browser's language decides which info comes first (English on most test machines).
    let french_first = page.eval("navigator.language.toLowerCase().startsWith('fr')").await == json!(true);
    let (english, french) = (
        ("en-GB", "Orange thunderstorm warning for Ardèche"),
        ("fr-FR", "Vigilance orange orages en Ardèche"),
    );
    let (first, other) = if french_first {
        (french, english)
    } else {
        (english, french)
    };
    page.wait_for(
        &format!("{meteo}?.querySelector('.headline').textContent === '{}'", first.1),
        "the info in the browser's language",
    )
    .await;
    assert_eq!(
        page.eval(&format!("!!{meteo}.querySelector('.pill.unplaced')")).await,
        json!(true)
    );
    page.eval(&format!(
        "[...{meteo}.querySelectorAll('.lang')].find(b => b.textContent === '{}').click()",
        other.0
    ))
    .await;
    page.wait_for(
        &format!("{meteo}.querySelector('.headline').textContent === '{}'", other.1),
        "the other language's info",
    )
    .await;
    let world = "[...document.querySelectorAll('#warning-list .warning-card')].find(c => c.textContent.includes('geomagnetic'))";
    let note = page
        .eval(&format!("{world}.querySelector('.area-note').textContent"))
        .await;
    assert!(note.as_str().unwrap().contains("km²"), "{note}");
    let words = page.eval("document.getElementById('panel-warnings').innerText").await;
    assert!(!words.as_str().unwrap().contains("null"), "{words}");
    if screenshots {
        page.screenshot("console-warnings").await;
    }
    staff_stream.expect_silence().await;
    assert_eq!(hub.stored_alerts().await, 0);

    // Promoting opens the composer filled from it; the review comes before anything is sent.
    let tornado =
        "[...document.querySelectorAll('#warning-list .warning-card')].find(c => c.textContent.includes('Tornado'))";
    page.eval(&format!("{tornado}.querySelector('.promote').click()")).await;
    page.wait_for("!document.getElementById('panel-compose').hidden", "the composer")
        .await;
    assert_eq!(
        page.eval("document.getElementById('c-headline').value").await,
        json!("Tornado Warning issued for Sedgwick County until 7:45 AM CST")
    );
    page.wait_for(
        "(t => t.startsWith('Reaches') && t)(document.getElementById('c-preview').textContent) === 'Reaches 1 person in US.'",
        "the warning's reach",
    )
    .await;
    page.click("#c-send").await;
    confirm(&page).await;
    let alert = staff_stream
        .next_within(Duration::from_secs(5))
        .await
        .expect("the alert");
    assert_eq!(alert["type"], "alert", "{alert}");
    assert_eq!(
        alert["alert"]["headline"],
        "Tornado Warning issued for Sedgwick County until 7:45 AM CST"
    );
    assert_eq!(hub.stored_alerts().await, 1);
    page.click("#tab-warnings").await;
    page.wait_for(
        &format!("{tornado}?.querySelector('.open-alert')?.textContent === 'sent by manila.watch'"),
        "the warning marked promoted",
    )
    .await;

    // The layer can be hidden.
    page.click("#layer-outside").await;
    page.wait_for(
        "document.querySelectorAll('#map .outside-area').length === 0",
        "the layer hidden",
    )
    .await;

    // An outage shows on the panel with the server's answer.
    server.set_down(true);
    eventually(Duration::from_secs(15), "a failed fetch", || async {
        (feed_state(&hub, &watch).await["failures"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    page.click("#tab-alerts").await;
    page.click("#tab-warnings").await;
    page.wait_for(
        "document.querySelector('.feed-state.failing')?.textContent.includes('503')",
        "the outage shown",
    )
    .await;
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
}

/// A feed whose server takes the connection and never answers is waited for up to the fetch's
/// timeout (30 s); meanwhile the other feeds are polled as usual.
async fn a_feed_that_never_answers_holds_up_no_other(backend: Backend) {
    let hub = TestHub::start(backend).await;
    let watch = hub.account("manila.watch", Role::WatchOfficer, &[], None).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let silent_url = format!("http://{}/feed", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            connections.push(socket);
        }
    });
    follow(&hub, &watch, &silent_url).await;
    // The follower is now waiting on it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = FeedServer::start().await;
    server.publish("tornado", fixture("ipaws-tornado.xml"));
    follow(&hub, &watch, &server.url()).await;
    eventually(Duration::from_secs(5), "the other feed's warning", || async {
        warnings(&hub, &watch, "").await.into_iter().next()
    })
    .await;
    held.abort();
}
