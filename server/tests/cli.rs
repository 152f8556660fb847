//! The `scaan` binary as an operator uses it: serve, add accounts while it runs, stop it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{add_user, free_port, serve, serve_with, user_command, Running, SCAAN};

#[tokio::test]
async fn accounts_added_while_serving_can_log_in_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, base) = serve(dir.path());
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);

    let out = add_user(
        dir.path(),
        &["--username", "amani", "--role", "staff", "--duty-station", "0.49,29.47"],
        "a long passphrase\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["duty_station"], serde_json::json!({"lat": 0.49, "lon": 29.47}));

    let login = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "amani", "password": "a long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the running hub sees the new account");

    let again = add_user(
        dir.path(),
        &["--username", "amani", "--role", "staff"],
        "another passphrase",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already taken"));
    let bad = add_user(
        dir.path(),
        &["--username", "kivu", "--role", "security_officer", "--countries", "XX"],
        "a long passphrase",
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("countries[0]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = hub.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "scaan did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful stop exits 0, got {status}");
}

#[test]
fn configuration_mistakes_are_explained() {
    let out = Command::new(SCAAN)
        .args(["serve", "--database-url", "mysql://db/scaan"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sqlite://") && err.contains("postgres://"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scaan.toml");
    std::fs::write(&file, "listen = \"not an address\"\n").unwrap();
    let out = Command::new(SCAAN)
        .arg("--config")
        .arg(&file)
        .arg("serve")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listen"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The HTTP port already taken: say which, and what to do.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let out = Command::new(SCAAN)
        .args(["serve", "--listen", &port, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(&port) && err.contains("--listen"),
        "{err}"
    );
}

/// Logs in over HTTP and returns the token.
async fn login(http: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["token"]
        .as_str()
        .unwrap_or_else(|| panic!("login failed: {answer}"))
        .to_owned()
}

/// What one person sent: the number of their last acknowledged check-in, and of the one whose
/// answer never came (it may or may not have been stored).
#[derive(Default, Clone)]
struct Sent {
    acknowledged: Option<u64>,
    unanswered: Option<u64>,
    count: usize,
}

/// Sends an alert with a headcount over Beni, which must reach `staff` people; its id.
async fn beni_headcount(http: &reqwest::Client, base: &str, officer: &str, staff: usize) -> String {
    let alert: serde_json::Value = http
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(officer)
        .json(&serde_json::json!({"headline": "Clashes", "event": "Armed clash", "category": "security",
            "urgency": "immediate", "severity": "severe", "certainty": "observed", "checkin_required": true,
            "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000},
            "expires_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alert["recipients"], staff, "{alert}");
    alert["id"].as_str().unwrap().to_owned()
}

/// The alert's headcount, as the officer sees it.
async fn headcount(http: &reqwest::Client, base: &str, officer: &str, alert: &str) -> serde_json::Value {
    http.get(format!("{base}/api/v1/alerts/{alert}/headcount"))
        .bearer_auth(officer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_in_a_burst_of_checkins_loses_nothing_acknowledged() {
    const STAFF: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, base) = serve(dir.path());
    let http = reqwest::Client::new();
    assert!(add_user(
        dir.path(),
        &["--username", "admin", "--role", "admin"],
        "a long passphrase"
    )
    .status
    .success());
    let admin = login(&http, &base, "admin", "a long passphrase").await;
    let mut people = vec![("watch".to_owned(), "watch_officer")];
    people.extend((0..STAFF).map(|i| (format!("staff{i}"), "staff")));
    for (username, role) in &people {
        let created = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(
                &serde_json::json!({"username": username, "password": "a long passphrase", "role": role,
                "duty_station": {"lat": 0.49, "lon": 29.47}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let officer = login(&http, &base, "watch", "a long passphrase").await;
    let id = beni_headcount(&http, &base, &officer, STAFF).await;

    // Everyone answers over and over until the hub dies under them; the n-th check-in carries
    // latitude n / 10,000, so the stored standing tells which one it was.
    let mut senders = Vec::new();
    for i in 0..STAFF {
        let token = login(&http, &base, &format!("staff{i}"), "a long passphrase").await;
        let (http, url) = (http.clone(), format!("{base}/api/v1/alerts/{id}/checkins"));
        senders.push(tokio::spawn(async move {
            let mut sent = Sent::default();
            for n in 1_u64.. {
                sent.unanswered = Some(n);
                let body =
                    serde_json::json!({"status": "safe", "position": {"lat": n as f64 / 10_000.0, "lon": 29.47}});
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(r) if r.status() == 201 => {
                        sent.acknowledged = Some(n);
                        sent.unanswered = None;
                        sent.count += 1;
                    }
                    _ => break,
                }
            }
            sent
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    Command::new("kill")
        .args(["-KILL", &hub.id().to_string()])
        .status()
        .unwrap();
    hub.wait().unwrap();
    let mut sent = Vec::new();
    for s in senders {
        sent.push(s.await.unwrap());
    }
    let acknowledged: usize = sent.iter().map(|s| s.count).sum();
    assert!(
        acknowledged >= STAFF,
        "the burst was under way when the hub was killed ({acknowledged} acknowledged)"
    );

    let (_hub, base) = serve(dir.path());
    let board = headcount(&http, &base, &officer, &id).await;
    assert_eq!(board["total"], STAFF);
    for entry in board["staff"].as_array().unwrap() {
        let i: usize = entry["username"]
            .as_str()
            .unwrap()
            .trim_start_matches("staff")
            .parse()
            .unwrap();
        let standing = entry["position"]["lat"]
            .as_f64()
            .map(|lat| (lat * 10_000.0).round() as u64);
        let Sent {
            acknowledged,
            unanswered,
            ..
        } = &sent[i];
        // The latest acknowledged answer is there, unless the unanswered one after it was stored too.
        assert!(
            standing == *acknowledged || standing == *unanswered,
            "staff{i} stands at check-in {standing:?}, acknowledged {acknowledged:?}, unanswered {unanswered:?}"
        );
    }
}

#[tokio::test]
async fn kill_9_right_after_an_alert_is_answered_loses_no_phone_delivery() {
    use scaan_mobile_bridge::fixtures::{Access, Mosquitto};
    use scaan_mobile_bridge::phone::{Phone, PhoneOptions};
    // An external broker with persistence: it keeps the phone's session while the hub dies.
    let Some(broker) = Mosquitto::from_env_with(Access::Open).await else {
        return;
    };
    let url = broker.url();
    let dir = tempfile::tempdir().unwrap();
    let amani = add_watch_and_amani(dir.path());
    let (mut hub, base) = serve_with(dir.path(), &["--mqtt-url", &url]);
    let http = reqwest::Client::new();
    let officer = login(&http, &base, "watch", "a long passphrase").await;

    // Amani's phone has a persistent session subscribed to the inbox, and is offline.
    let phone = || PhoneOptions::persistent(url.parse().unwrap(), "amani", "open broker", amani);
    let mut offline = Phone::connect(phone()).await.unwrap();
    offline.subscribe_inbox().await.unwrap();
    offline.disconnect().await;

    // The hub is killed the moment it has answered for the alert.
    let alert = http
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(&officer)
        .json(&serde_json::json!({"headline": "Clashes", "event": "Armed clash", "category": "security",
            "urgency": "immediate", "severity": "severe", "certainty": "observed",
            "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000},
            "expires_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}))
        .send()
        .await
        .unwrap();
    hub.kill().unwrap();
    hub.wait().unwrap();
    assert_eq!(alert.status(), 201);
    let alert: serde_json::Value = alert.json().await.unwrap();
    assert_eq!(alert["recipients"], 1, "{alert}");

    // Started again, the hub sends what it had answered for; the phone finds it on return.
    let (_hub, _) = serve_with(dir.path(), &["--mqtt-url", &url]);
    let mut back = Phone::connect(phone()).await.unwrap();
    let received = tokio::time::timeout(Duration::from_secs(20), back.next_envelope())
        .await
        .expect("the alert reaches the phone after the restart")
        .unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(&received.payload).unwrap();
    assert_eq!(envelope["type"], "alert", "{envelope}");
    assert_eq!(envelope["alert"]["id"], alert["id"]);
}

#[test]
fn a_taken_mqtt_port_is_named_with_the_ways_out() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let out = Command::new(SCAAN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            &address.to_string(),
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&address.port().to_string())
            && err.contains("--mqtt-listen")
            && err.contains(&format!("--mqtt-url mqtt://{address}")),
        "{err}"
    );
}

/// Accounts `watch` (watch officer) and `amani` (staff, duty station in Beni), both with the
/// password "a long passphrase"; returns amani's id.
fn add_watch_and_amani(dir: &std::path::Path) -> uuid::Uuid {
    let watch = ["--username", "watch", "--role", "watch_officer"];
    assert!(add_user(dir, &watch, "a long passphrase").status.success());
    let staff = ["--username", "amani", "--role", "staff", "--duty-station", "0.49,29.47"];
    let created = add_user(dir, &staff, "a long passphrase");
    let created: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    created["id"].as_str().unwrap().parse().unwrap()
}

fn stop_gracefully(hub: &mut Running) {
    Command::new("kill")
        .args(["-TERM", &hub.id().to_string()])
        .status()
        .unwrap();
    hub.wait().unwrap();
}

async fn next(phone: &mut scaan_mobile_bridge::phone::Phone) -> serde_json::Value {
    let received = tokio::time::timeout(Duration::from_secs(20), phone.next_envelope())
        .await
        .expect("an envelope reaches the phone")
        .unwrap();
    serde_json::from_slice(&received.payload).unwrap()
}

#[tokio::test]
async fn on_the_hubs_own_endpoint_an_offline_phone_gets_its_alerts_after_kill_9_and_a_restart_and_each_once() {
    use scaan_mobile_bridge::phone::{Phone, PhoneOptions};
    let dir = tempfile::tempdir().unwrap();
    let amani = add_watch_and_amani(dir.path());
    // The phone comes back to the same address, as a real one does.
    let mqtt = format!("127.0.0.1:{}", free_port());
    let serve = || serve_with(dir.path(), &["--mqtt-listen", &mqtt]);
    let (mut hub, base) = serve();
    let http = reqwest::Client::new();
    let officer = login(&http, &base, "watch", "a long passphrase").await;
    let token = login(&http, &base, "amani", "a long passphrase").await;
    let phone = || PhoneOptions::persistent(format!("mqtt://{mqtt}").parse().unwrap(), "amani", &token, amani);
    let mut offline = Phone::connect(phone()).await.unwrap();
    offline.subscribe_inbox().await.unwrap();
    offline.disconnect().await;

    let send = |headline: &'static str, base: String| {
        let (http, officer) = (http.clone(), officer.clone());
        async move {
            http.post(format!("{base}/api/v1/alerts"))
                .bearer_auth(&officer)
                .json(&serde_json::json!({"headline": headline, "event": "Armed clash", "category": "security",
                    "urgency": "immediate", "severity": "severe", "certainty": "observed",
                    "area": {"description": "Beni", "geometry": {"type": "Point", "coordinates": [29.47, 0.49]}, "radius_m": 5000},
                    "expires_at": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339()}))
                .send()
                .await
                .unwrap()
        }
    };

    // Killed the moment it has answered: the first alert lives only in the hub's store.
    let first = send("First", base).await;
    hub.kill().unwrap();
    hub.wait().unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let (mut hub, base) = serve();
    let mut back = Phone::connect(phone()).await.unwrap();
    assert_eq!(next(&mut back).await["alert"]["id"], first["id"]);
    // The phone has PUBACKed it; give the hub a moment to record that, then leave.
    tokio::time::sleep(Duration::from_millis(500)).await;
    back.disconnect().await;

    // A second alert while the phone is away, then a graceful restart.
    let second = send("Second", base).await;
    assert_eq!(second.status(), 201);
    let second: serde_json::Value = second.json().await.unwrap();
    stop_gracefully(&mut hub);
    let (_hub, _) = serve();
    let mut back = Phone::connect(phone()).await.unwrap();
    let got = next(&mut back).await;
    assert_eq!(
        got["alert"]["id"], second["id"],
        "the second, and not the first again: {got}"
    );
    let more = tokio::time::timeout(Duration::from_millis(700), back.next_envelope()).await;
    assert!(more.is_err(), "nothing else: {:?}", more.map(|r| r.map(|r| r.payload)));
}

/// The hub process's resident memory, in MiB.
fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

#[tokio::test]
async fn two_hundred_logins_at_once_keep_the_hubs_memory_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let admin = ["--username", "admin", "--role", "admin"];
    assert!(add_user(dir.path(), &admin, "a long passphrase").status.success());
    let (hub, base) = serve(dir.path());
    let http = reqwest::Client::new();
    let admin = login(&http, &base, "admin", "a long passphrase").await;
    for i in 0..200 {
        let created = http
            .post(format!("{base}/api/v1/users"))
            .bearer_auth(&admin)
            .json(
                &serde_json::json!({"username": format!("staff{i}"), "password": "a long passphrase", "role": "staff"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let before = resident_mib(hub.id());

    // Each password check holds about 19 MiB; 200 at once held 1.2-2.0 GiB before they were
    // bounded (4 at once).
    let pid = hub.id();
    let peak = std::sync::Arc::new(std::sync::Mutex::new(before));
    let watching = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let now = resident_mib(pid);
                {
                    let mut peak = peak.lock().unwrap();
                    *peak = peak.max(now);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    // Two hundred people logging in at once, all from one address (as behind a NAT).
    let logins = (0..200).map(|i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.post(format!("{base}/api/v1/auth/login"))
                .json(&serde_json::json!({"username": format!("staff{i}"), "password": "a long passphrase"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let answers = futures_util::future::join_all(logins).await;
    watching.abort();
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    let grown = *peak.lock().unwrap() - before;
    // Four checking threads of 19 MiB each, and the rest: 84 MiB measured.
    assert!(
        grown < 128.0,
        "the hub grew by {grown:.0} MiB during 200 logins at once"
    );
}

#[test]
fn a_duty_station_south_of_the_equator_is_taken_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let nairobi = [
        "--username",
        "wanjiru",
        "--role",
        "staff",
        "--duty-station",
        "-1.29,36.82",
    ];
    let out = add_user(dir.path(), &nairobi, "a long passphrase");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["duty_station"], serde_json::json!({"lat": -1.29, "lon": 36.82}));
}

#[test]
fn phone_numbers_are_set_from_the_command_line_normalised_in_e164_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let with = |phones: &'static str| ["--username", "amani", "--role", "staff", "--phones", phones];
    let out = add_user(dir.path(), &with("0970 000 001"), "a long passphrase");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("E.164"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = add_user(dir.path(), &with("+243 970 000 001,+243810000001"), "a long passphrase");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["phones"], serde_json::json!(["+243970000001", "+243810000001"]));
    let phones = |args: &[&str]| user_command(dir.path(), "set-phones", args, "");
    let out = phones(&["--username", "amani", "--phones", "243970000002"]);
    assert!(!out.status.success(), "a number without + is refused");
    let out = phones(&["--username", "amani", "--phones", "+243810000002,+243970000002"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let changed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(changed["phones"], serde_json::json!(["+243810000002", "+243970000002"]));
    let out = phones(&["--username", "amani"]);
    let removed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(removed.get("phones").is_none(), "{removed}");
}

#[test]
fn adding_an_account_reads_only_where_the_database_is() {
    let dir = tempfile::tempdir().unwrap();
    // Settings `user add` does not use, one half-set and one malformed, as a server's
    // environment may hold them.
    let mut child = Command::new(SCAAN)
        .args(["user", "add", "--data-dir"])
        .arg(dir.path())
        .args(["--username", "amani", "--role", "staff"])
        .env("SCAAN_MQTT_ADMIN_USERNAME", "scaan-admin")
        .env("SCAAN_MQTT_LISTEN", "0.0.0.0:1883")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a long passphrase").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Operated as a service: JSON log lines (each one parses), a request's lines carry the id its
/// answer carries, a secret comes from a `_FILE`, and a misspelt `SCAAN_` variable is named.
#[tokio::test]
async fn json_logs_carry_request_ids_and_secrets_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("from-file.db").display());
    let secret = dir.path().join("database-url");
    std::fs::write(&secret, format!("{url}\n")).unwrap();
    let watch = ["--username", "watch", "--role", "watch_officer", "--database-url", &url];
    assert!(add_user(dir.path(), &watch, "a long passphrase").status.success());

    let mut child = Command::new(SCAAN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SCAAN_LOG", "info")
        .env("SCAAN_LOG_FORMAT", "json")
        .env("SCAAN_DATABASE_URL_FILE", &secret)
        .env("SCAAN_TOKEN_TTL", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scaan starts");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let _hub = Running(child);
    let mut seen: Vec<serde_json::Value> = Vec::new();
    let next_line = |seen: &mut Vec<serde_json::Value>| {
        let line = lines_rx.recv_timeout(Duration::from_secs(20)).expect("the hub logs");
        let parsed: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        seen.push(parsed.clone());
        parsed
    };
    let address = loop {
        let line = next_line(&mut seen);
        if line["fields"]["message"] == "serving" {
            break line["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    let warned = seen
        .iter()
        .any(|l| l["level"] == "WARN" && l["fields"]["variable"] == "SCAAN_TOKEN_TTL");
    assert!(warned, "the misspelt variable is named: {seen:?}");
    assert!(
        seen.iter().any(|l| l["fields"]["backend"] == "sqlite"),
        "the hub opened the database the file names"
    );

    let http = reqwest::Client::new();
    let login = http
        .post(format!("http://{address}/api/v1/auth/login"))
        .header("x-request-id", "ops-trace-4711")
        .json(&serde_json::json!({"username": "watch", "password": "a long passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the account is in the database the file names");
    assert_eq!(login.headers()["x-request-id"], "ops-trace-4711");
    let logged_in = loop {
        let line = next_line(&mut seen);
        if line["fields"]["message"] == "logged in" {
            break line;
        }
    };
    assert_eq!(logged_in["span"]["request_id"], "ops-trace-4711", "{logged_in}");

    // Without an id from the client, the hub makes one and answers with it.
    let health = http.get(format!("http://{address}/livez")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let made = health.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
}

/// A backup taken during a burst of check-ins holds every check-in acknowledged before it
/// began; it is restored only while no hub serves the database; and the hub serves it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_in_a_burst_of_checkins_restores_everything_acknowledged_before_it() {
    const STAFF: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let (mut hub, base) = serve(dir.path());
    let http = reqwest::Client::new();
    let watch = ["--username", "watch", "--role", "watch_officer"];
    assert!(add_user(dir.path(), &watch, "a long passphrase").status.success());
    for i in 0..STAFF {
        let staff = [
            "--username",
            &format!("staff{i}"),
            "--role",
            "staff",
            "--duty-station",
            "0.49,29.47",
        ]
        .map(str::to_owned);
        let staff: Vec<&str> = staff.iter().map(String::as_str).collect();
        assert!(add_user(dir.path(), &staff, "a long passphrase").status.success());
    }
    let officer = login(&http, &base, "watch", "a long passphrase").await;
    let id = beni_headcount(&http, &base, &officer, STAFF).await;

    // Everyone answers over and over; the n-th check-in carries latitude n / 10,000, and the
    // last one acknowledged is published as it is acknowledged.
    let acknowledged: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> =
        std::sync::Arc::new((0..STAFF).map(|_| Default::default()).collect());
    let stop = tokio_util::sync::CancellationToken::new();
    let mut senders = Vec::new();
    for i in 0..STAFF {
        let token = login(&http, &base, &format!("staff{i}"), "a long passphrase").await;
        let (http, url) = (http.clone(), format!("{base}/api/v1/alerts/{id}/checkins"));
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            for n in 1_u64.. {
                if stop.is_cancelled() {
                    break;
                }
                let body =
                    serde_json::json!({"status": "safe", "position": {"lat": n as f64 / 10_000.0, "lon": 29.47}});
                let answer = http.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(answer.status(), 201);
                acknowledged[i].store(n, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before: Vec<u64> = acknowledged
        .iter()
        .map(|a| a.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    let copy = dir.path().join("backup.db");
    let backup = Command::new(SCAAN)
        .args(["backup", copy.to_str().unwrap(), "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for s in senders {
        s.await.unwrap();
    }
    let after: Vec<u64> = acknowledged
        .iter()
        .map(|a| a.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    assert!(before.iter().all(|n| *n > 0), "the burst was under way: {before:?}");
    assert!(
        after.iter().zip(&before).any(|(a, b)| a > b),
        "check-ins went on after the backup: {before:?} → {after:?}"
    );

    let restore = |src: &std::path::Path| {
        Command::new(SCAAN)
            .args(["restore", src.to_str().unwrap(), "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let refused = restore(&copy);
    assert!(!refused.status.success(), "restored under a serving hub");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("stop it first"), "{err}");
    // Nor can a second hub serve the same database.
    let second = Command::new(SCAAN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--mqtt-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("stop it first"));

    stop_gracefully(&mut hub);
    let not_a_backup = dir.path().join("notes.txt");
    std::fs::write(&not_a_backup, "not a database").unwrap();
    assert!(!restore(&not_a_backup).status.success());
    let restored = restore(&copy);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    let (_hub, base) = serve(dir.path());
    let board = headcount(&http, &base, &officer, &id).await;
    assert_eq!(board["total"], STAFF, "{board}");
    let mut newer_than_the_backup = 0;
    for entry in board["staff"].as_array().unwrap() {
        let i: usize = entry["username"].as_str().unwrap()["staff".len()..].parse().unwrap();
        let standing = (entry["position"]["lat"].as_f64().unwrap() * 10_000.0).round() as u64;
        assert!(
            standing >= before[i],
            "staff{i}: check-in {} was acknowledged before the backup, the copy stands at {standing}",
            before[i]
        );
        newer_than_the_backup += usize::from(standing < after[i]);
    }
    assert!(newer_than_the_backup > 0, "the copy is of a moment, not of the end");
}

#[tokio::test]
async fn disabling_an_account_from_the_command_line_ends_its_sessions_on_the_running_hub() {
    use scaan_mobile_bridge::phone::{Phone, PhoneOptions};
    let dir = tempfile::tempdir().unwrap();
    let amani = add_watch_and_amani(dir.path());
    let mqtt = format!("127.0.0.1:{}", free_port());
    let (_hub, base) = serve_with(dir.path(), &["--mqtt-listen", &mqtt]);
    let http = reqwest::Client::new();
    let token = login(&http, &base, "amani", "a long passphrase").await;
    let options = PhoneOptions::persistent(format!("mqtt://{mqtt}").parse().unwrap(), "amani", &token, amani);
    let mut phone = Phone::connect(options).await.unwrap();
    let me = |token: String| {
        let http = http.clone();
        let url = format!("{base}/api/v1/me");
        async move { http.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    assert_eq!(me(token.clone()).await, 200);

    let out = user_command(dir.path(), "disable", &["--username", "amani"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let disabled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(disabled["disabled"], true);
    assert_eq!(me(token.clone()).await, 401, "tokens are refused at once");
    // The running hub looks for changed accounts every second: the phone is disconnected.
    let ended = tokio::time::timeout(Duration::from_secs(3), phone.next_envelope()).await;
    assert!(
        matches!(ended, Ok(Err(_))),
        "the MQTT connection outlived the account: {:?}",
        ended.map(|r| r.map(|r| r.payload))
    );

    let out = user_command(dir.path(), "enable", &["--username", "amani"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = user_command(dir.path(), "passwd", &["--username", "amani"], "a newer passphrase\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = login(&http, &base, "amani", "a newer passphrase").await;
    let out = user_command(
        dir.path(),
        "set-role",
        &["--username", "amani", "--role", "security_officer"],
        "",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("countries"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = user_command(
        dir.path(),
        "set-role",
        &["--username", "amani", "--role", "security_officer", "--countries", "CD"],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = user_command(dir.path(), "disable", &["--username", "nobody"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no account 'nobody'"));
    let me_now: serde_json::Value = http
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&again)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me_now["role"], "security_officer");
}
