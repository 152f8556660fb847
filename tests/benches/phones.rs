//! MQTT fan-out to phones: how long until each of N connected phones has its alert, through the
//! hub's own MQTT endpoint and through Mosquitto.
//!
//! The rows:
//! - a broker's floor (`mosquitto`, `mosquitto-open`): N phones, each subscribed to its own
//!   inbox, and one QoS 1 publish to every inbox from one connection (what the hub does for an
//!   alert to N people), timed from the first publish to each phone's receipt;
//! - through the hub (`hub-embedded`: phones on the hub's own endpoint; `hub-mosquitto-open`:
//!   the hub and the phones on Mosquitto): a real hub (SQLite) with N staff
//!   who all have a token, their phones logged in with it, one `POST /api/v1/alerts` reaching
//!   all of them, timed from the moment the POST returned to each phone's receipt of the alert
//!   (issue 3's measure; `p99_from_sent_ms` counts from when the officer sent it), and its p99
//!   against the same broker's floor at the same N (`p99_vs_floor`);
//! - the broker alone (`mosquitto-open-alone`): the floor's publish with every phone paused
//!   (SIGSTOP) until the publisher has all its PUBACKs, so the broker has the machine to itself
//!   and `all_pubacks_ms` is its own time to take N messages for N subscribers.
//!
//! `cargo bench -p scaan-tests --bench phones` — the hub's endpoint always; Mosquitto when
//! `SCAAN_TEST_MOSQUITTO` names it (as for the tests): without access control at every size,
//! and provisioned by the hub's dynamic-security provisioner as deployed up to 1,000 phones.
//! `SCAAN_BENCH_PHONES_SIZES=1000,10000` changes the sizes, `SCAAN_BENCH_PHONES_BROKERS=hub-embedded,...`
//! runs only the named rows. Prints one JSON line last.
//!
//! The phones run in a child process (the same binary), on their own runtime and cores' share,
//! so the broker and publisher are not measured on a runtime clogged by 10,000 clients. 10,000
//! phones are 10,000 sockets in the child and, on the hub's endpoint, as many in the parent:
//! both raise their open-file limit as far as allowed (`ulimit -Hn`); a run that cannot fit is
//! reported as skipped.

mod support;

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use scaan_mobile_bridge::{
    dynsec::{Grant, Provisioner},
    fixtures::{self, Access, Mosquitto},
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics,
};
use scaan_schemas::Role;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use support::BenchHub;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use uuid::Uuid;

/// How long the phones may take to connect, and to receive everything.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);
/// Phones connecting at once.
const CONNECT_BATCH: usize = 250;
/// Mosquitto's dynamic-security plugin rewrites its whole file after every command, so
/// provisioning N people one by one costs O(N²) (1,000 take ~30 s here, 10,000 would take most
/// of an hour): larger runs measure Mosquitto without access control.
const PROVISIONED_MAX: usize = 1_000;
/// What each phone gets: about the size of a real alert envelope.
const ENVELOPE_PADDING: usize = 900;

/// One phone's login.
#[derive(Clone, Serialize, Deserialize)]
struct Login {
    username: String,
    token: String,
    user_id: Uuid,
}

/// What the parent asks of the phones' process.
#[derive(Serialize, Deserialize)]
struct Job {
    broker: BrokerUrl,
    phones: Vec<Login>,
}

fn main() {
    let open_files = raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Ok(job) = std::env::var("SCAAN_BENCH_PHONES_JOB") {
        let job: Job = serde_json::from_str(&std::fs::read_to_string(job).unwrap()).unwrap();
        runtime.block_on(phones(job));
        return;
    }
    let sizes: Vec<usize> = std::env::var("SCAAN_BENCH_PHONES_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("SCAAN_BENCH_PHONES_SIZES: numbers"))
        .collect();
    let brokers = std::env::var("SCAAN_BENCH_PHONES_BROKERS").ok();
    let wanted = |broker: &str| {
        brokers
            .as_deref()
            .is_none_or(|list| list.split(',').any(|b| b.trim() == broker))
    };
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for &n in &sizes {
            if wanted("hub-embedded") {
                // One socket per phone on the hub's endpoint, and the database's and HTTP's few.
                if n + 1_000 > open_files as usize {
                    eprintln!("hub endpoint: {n} phones need ~{n} open files; the limit is {open_files}");
                    results.push(
                        json!({"broker": "hub-embedded", "phones": n, "skipped": "open-file limit", "open_files": open_files}),
                    );
                } else {
                    results.push(through_hub(n, HubBroker::Embedded).await);
                }
            }
        }
        if std::env::var_os(fixtures::ENV).is_some() {
            for &n in &sizes {
                if wanted("mosquitto-open") {
                    results.push(mosquitto_open(n, Phones::Reading).await);
                }
                if wanted("mosquitto-open-alone") {
                    results.push(mosquitto_open(n, Phones::Paused).await);
                }
                if wanted("hub-mosquitto-open") {
                    results.push(through_hub(n, HubBroker::MosquittoOpen).await);
                }
                if n <= PROVISIONED_MAX && wanted("mosquitto") {
                    results.push(mosquitto(n).await);
                }
            }
        } else {
            eprintln!("Mosquitto skipped: set {}=1", fixtures::ENV);
        }
        compare_to_floor(&mut results);
        results
    });
    println!("{}", json!({"bench": "phones", "results": results}));
}

/// Mosquitto with dynamic security, every phone provisioned as the hub would.
async fn mosquitto(n: usize) -> Value {
    let logins = logins(n);
    let broker = Mosquitto::from_env_with(Access::DynamicSecurity)
        .await
        .expect("SCAAN_TEST_MOSQUITTO");
    let (admin, admin_password) = broker.admin_credentials();
    let provisioner = Provisioner::connect("127.0.0.1", broker.addr().port(), &admin, &admin_password)
        .await
        .unwrap();
    let (user, password) = provisioner.provision_hub().await.unwrap();
    let started = Instant::now();
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let grants: Vec<(Grant, String)> = logins
        .iter()
        .map(|l| {
            let hash = *Uuid::new_v4().as_bytes();
            let mut token_hash = [0u8; 32];
            token_hash[..16].copy_from_slice(&hash);
            (Grant::new(&l.username, l.user_id, token_hash, expires), l.token.clone())
        })
        .collect();
    provisioner.grant_many(&grants).await.unwrap();
    eprintln!(
        "mosquitto: {n} phones provisioned in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let url: BrokerUrl = broker.url().parse().unwrap();
    let figures = floor(&url, (&user, &password), &logins, Phones::Reading).await;
    provisioner.shutdown().await;
    report("mosquitto", n, figures)
}

/// Mosquitto without access control: the broker's raw fan-out.
async fn mosquitto_open(n: usize, phones: Phones) -> Value {
    let logins = logins(n);
    let broker = Mosquitto::from_env_with(Access::Open)
        .await
        .expect("SCAAN_TEST_MOSQUITTO");
    let url: BrokerUrl = broker.url().parse().unwrap();
    let figures = floor(&url, ("bench-hub", ""), &logins, phones).await;
    match phones {
        Phones::Reading => report("mosquitto-open", n, figures),
        // The receipts waited for the pause: only the broker's own time means something.
        Phones::Paused => json!({"broker": "mosquitto-open-alone", "phones": n,
            "received": figures.0.len(), "all_pubacks_ms": round(figures.1.as_secs_f64() * 1e3)}),
    }
}

/// Whether the phones read while the floor's publisher sends.
#[derive(Clone, Copy)]
enum Phones {
    Reading,
    /// Stopped (SIGSTOP) until the publisher has every PUBACK: the broker has the cores.
    Paused,
}

/// Which broker the hub runs with.
enum HubBroker {
    /// Its own endpoint, phones logging in with their hub tokens.
    Embedded,
    /// Mosquitto without access control, through `mqtt_url`: the hub's cost over the raw floor.
    MosquittoOpen,
}

/// The whole path: a hub with N staff whose phones are logged in, one alert to all of them.
async fn through_hub(n: usize, broker: HubBroker) -> Value {
    let mosquitto = match broker {
        HubBroker::Embedded => None,
        HubBroker::MosquittoOpen => Some(
            Mosquitto::from_env_with(Access::Open)
                .await
                .expect("SCAAN_TEST_MOSQUITTO"),
        ),
    };
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("bench.db").display());
    let bench = BenchHub::start(database, mosquitto.as_ref().map(Mosquitto::url)).await;

    let started = Instant::now();
    let officer = bench.account("watch".into(), Role::WatchOfficer, 0).await;
    let logins: Vec<Login> = bench
        .staff(n)
        .await
        .into_iter()
        .map(|a| Login {
            username: a.username,
            token: a.token,
            user_id: a.id,
        })
        .collect();
    eprintln!("hub: {n} accounts in {:.1} s", started.elapsed().as_secs_f64());
    let url: BrokerUrl = match &mosquitto {
        Some(broker) => broker.url(),
        None => format!(
            "mqtt://{}",
            bench.hub.mqtt.embedded_addr().expect("the embedded broker")
        ),
    }
    .parse()
    .unwrap();
    let phones = PhonesProcess::start(&url, &logins).await;

    let http = reqwest::Client::new();
    let sent = SystemTime::now();
    let response = http
        .post(format!("{}/api/v1/alerts", bench.base))
        .bearer_auth(&officer.token)
        .json(&support::alert("Clashes", false))
        .send()
        .await
        .unwrap();
    let returned = SystemTime::now();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let alert: Value = response.json().await.unwrap();
    assert_eq!(alert["recipients"], n, "every bench account is targeted: {alert}");
    let alert_id = alert["id"].as_str().unwrap().to_owned();

    let received = phones.results().await;
    let wrong: Vec<&Value> = received
        .iter()
        .map(|r| &r.envelope)
        .filter(|e| e["alert"]["id"] != alert_id.as_str())
        .collect();
    assert!(
        wrong.is_empty(),
        "{} phones got something else first, e.g. {}",
        wrong.len(),
        wrong[0]
    );
    bench.stop().await;
    let label = match broker {
        HubBroker::Embedded => "hub-embedded",
        HubBroker::MosquittoOpen => "hub-mosquitto-open",
    };
    let mut result = receipts(label, n, &latencies(returned, &received));
    result["p99_from_sent_ms"] = json!(round(percentile(&latencies(sent, &received), 0.99)));
    let answered = returned.duration_since(sent).unwrap_or_default();
    result["alert_answered_ms"] = json!(round(answered.as_secs_f64() * 1e3));
    eprintln!("{result}");
    result
}

/// Adds to each row through the hub its p99 over the p99 of the same broker's floor at the same N.
fn compare_to_floor(results: &mut [Value]) {
    let floors: HashMap<(String, u64), f64> = results
        .iter()
        .filter_map(|r| {
            let key = (r["broker"].as_str()?.to_owned(), r["phones"].as_u64()?);
            Some((key, r["p99_ms"].as_f64()?))
        })
        .collect();
    for row in results.iter_mut() {
        let floor = row["broker"]
            .as_str()
            .and_then(|b| b.strip_prefix("hub-"))
            .zip(row["phones"].as_u64())
            .and_then(|(b, n)| floors.get(&(b.to_owned(), n)));
        if let (Some(floor), Some(p99)) = (floor, row["p99_ms"].as_f64()) {
            row["p99_vs_floor"] = json!((p99 / floor * 100.0).round() / 100.0);
        }
    }
}

/// A floor's row: the receipts, and when the publisher had every PUBACK.
fn report(broker: &str, phones: usize, (latencies, all_acked): (Vec<f64>, Duration)) -> Value {
    let mut result = receipts(broker, phones, &latencies);
    result["all_pubacks_ms"] = json!(round(all_acked.as_secs_f64() * 1e3));
    eprintln!("{result}");
    result
}

/// The receipts' percentiles (`latencies` sorted, ms).
fn receipts(broker: &str, phones: usize, latencies: &[f64]) -> Value {
    json!({
        "broker": broker,
        "phones": phones,
        "received": latencies.len(),
        "p50_ms": round(percentile(latencies, 0.50)),
        "p99_ms": round(percentile(latencies, 0.99)),
        "max_ms": round(percentile(latencies, 1.0)),
    })
}

/// The raw fan-out: phones connect and subscribe (child process), then one QoS 1 publish to each
/// inbox. Returns each phone's latency from the first publish (ms) and when the last PUBACK came.
async fn floor(
    url: &BrokerUrl,
    (user, password): (&str, &str),
    logins: &[Login],
    reading: Phones,
) -> (Vec<f64>, Duration) {
    let phones = PhonesProcess::start(url, logins).await;
    if let Phones::Paused = reading {
        phones.signal(libc::SIGSTOP);
    }
    let mut options = MqttOptions::new(format!("bench-hub-{}", Uuid::new_v4().simple()), &url.host, url.port);
    options
        .set_credentials(user, password)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    let (client, mut events) = AsyncClient::new(options, 1024);
    let n = logins.len();
    let (acked_tx, acked) = tokio::sync::oneshot::channel();
    // The event loop in its own task: never publish from the task that polls it.
    let driver = tokio::spawn(async move {
        let mut acks = 0;
        let mut acked_tx = Some(acked_tx);
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acks += 1;
                    if acks == n {
                        if let Some(tx) = acked_tx.take() {
                            let _ = tx.send(Instant::now());
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("the publisher lost the broker: {e}"),
            }
        }
    });
    // Serialized once, as the hub does for an alert to many.
    let envelope =
        json!({"type": "alert", "alert": {"headline": "Bench", "description": "x".repeat(ENVELOPE_PADDING)}})
            .to_string()
            .into_bytes();
    let t0 = SystemTime::now();
    let started = Instant::now();
    for login in logins {
        client
            .publish(topics::inbox(login.user_id), QoS::AtLeastOnce, false, envelope.clone())
            .await
            .unwrap();
    }
    let all_acked = tokio::time::timeout(PHASE_TIMEOUT, acked)
        .await
        .expect("every PUBACK in time")
        .unwrap()
        .duration_since(started);
    if let Phones::Paused = reading {
        phones.signal(libc::SIGCONT);
    }
    let received = phones.results().await;
    driver.abort();
    (latencies(t0, &received), all_acked)
}

/// Each phone's receipt in ms after `t0`, sorted.
fn latencies(t0: SystemTime, received: &[Receipt]) -> Vec<f64> {
    let t0 = t0.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128;
    let mut latencies: Vec<f64> = received.iter().map(|r| (r.at_ns as i128 - t0) as f64 / 1e6).collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

/// What one phone received first, and when (ns since the epoch).
#[derive(Serialize, Deserialize)]
struct Receipt {
    at_ns: u128,
    envelope: Value,
}

/// The phones in a child process: it prints `ready` once every phone is subscribed, then one
/// JSON array of [`Receipt`]s, each phone's first envelope.
struct PhonesProcess {
    child: tokio::process::Child,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _job: tempfile::NamedTempFile,
}

impl PhonesProcess {
    async fn start(broker: &BrokerUrl, logins: &[Login]) -> PhonesProcess {
        let job = tempfile::NamedTempFile::new().unwrap();
        let spec = Job {
            broker: broker.clone(),
            phones: logins.to_vec(),
        };
        std::fs::write(job.path(), serde_json::to_vec(&spec).unwrap()).unwrap();
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .env("SCAAN_BENCH_PHONES_JOB", job.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(PHASE_TIMEOUT, stdout.next_line())
            .await
            .expect("phones connect in time")
            .unwrap();
        assert_eq!(ready.as_deref(), Some("ready"), "the phones failed");
        PhonesProcess {
            child,
            stdout,
            _job: job,
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id().expect("the phones are running") as libc::pid_t;
        // SAFETY: kill(2) on our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "signal the phones");
    }

    async fn results(mut self) -> Vec<Receipt> {
        let line = tokio::time::timeout(PHASE_TIMEOUT, self.stdout.next_line())
            .await
            .expect("phones report in time")
            .unwrap()
            .expect("a report");
        let _ = self.child.wait().await;
        serde_json::from_str(&line).unwrap()
    }
}

/// The child's side: connect and subscribe every phone, then wait for one envelope each.
async fn phones(job: Job) {
    let started = Instant::now();
    let mut connected = Vec::with_capacity(job.phones.len());
    for chunk in job.phones.chunks(CONNECT_BATCH) {
        let batch = chunk.iter().map(|login| {
            let options = PhoneOptions::persistent(job.broker.clone(), &login.username, &login.token, login.user_id);
            async move {
                let mut phone = Phone::connect(options).await.expect("phone connects");
                phone.subscribe_inbox().await.expect("phone subscribes");
                phone
            }
        });
        connected.extend(futures_util::future::join_all(batch).await);
    }
    eprintln!(
        "{} phones connected and subscribed in {:.1} s",
        connected.len(),
        started.elapsed().as_secs_f64()
    );
    let waiting: Vec<_> = connected
        .into_iter()
        .map(|mut phone| {
            tokio::spawn(async move {
                let received = phone.next_envelope().await.expect("an envelope");
                (received, phone)
            })
        })
        .collect();
    println!("ready");
    let mut received = Vec::with_capacity(waiting.len());
    let mut phones = Vec::with_capacity(waiting.len());
    for task in waiting {
        let (envelope, phone) = tokio::time::timeout(PHASE_TIMEOUT, task)
            .await
            .expect("every phone gets its envelope in time")
            .unwrap();
        received.push(envelope);
        phones.push(phone);
    }
    // Parsed once all are in, so the phones' timing does not include it.
    let receipts: Vec<Receipt> = received
        .into_iter()
        .map(|r| Receipt {
            at_ns: r.at.duration_since(UNIX_EPOCH).unwrap().as_nanos(),
            envelope: serde_json::from_slice(&r.payload).unwrap_or(Value::Null),
        })
        .collect();
    println!("{}", serde_json::to_string(&receipts).unwrap());
    // Leave the broker's sessions as a phone losing coverage would: the process ends.
    drop(phones);
}

fn logins(n: usize) -> Vec<Login> {
    (0..n)
        .map(|i| Login {
            username: format!("phone{i}"),
            token: format!("token-{}", Uuid::new_v4().simple()),
            user_id: Uuid::new_v4(),
        })
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn round(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

/// 10,000 phones need more descriptors than the usual 1,024 (or this machine's 20,000):
/// raise the soft limit to the hard one, and the hard one too where allowed; returns the limit.
fn raise_open_file_limit() -> libc::rlim_t {
    const WANTED: libc::rlim_t = 200_000;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to an rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1_024;
        }
        let raised = libc::rlimit {
            rlim_cur: WANTED.max(limit.rlim_cur),
            rlim_max: WANTED.max(limit.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
            return raised.rlim_cur;
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
            return limit.rlim_cur;
        }
        limit.rlim_cur
    }
}
