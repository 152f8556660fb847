//! MQTT fan-out to phones: how long after the publisher starts until each of 1,000 and 10,000
//! connected phones has its message, on the embedded broker and on Mosquitto.
//!
//! This is the broker's floor for an alert: N phones, each subscribed to its own inbox, and one
//! QoS 1 publish to every inbox (what the hub does for an alert to N people), timed from the
//! first publish to each phone's receipt. The hub's own figure, from `POST /api/v1/alerts`
//! returning to each phone having the alert, reuses [`PhonesProcess`] once the hub publishes
//! inboxes: start it with the hub's broker and the staff's tokens, post the alert, and take
//! each receipt from the moment the POST returned (docs/benchmarks.md).
//!
//! `cargo bench -p scaan-tests --bench phones` — the embedded broker always; Mosquitto when
//! `SCAAN_TEST_MOSQUITTO` names it (as for the tests): without access control at every size,
//! and provisioned by the hub's dynamic-security provisioner as deployed up to 1,000 phones. `SCAAN_BENCH_PHONES_SIZES=1000,10000`
//! changes the sizes. Prints one JSON line last.
//!
//! The phones run in a child process (the same binary), on their own runtime and cores' share,
//! so the broker and publisher are not measured on a runtime clogged by 10,000 clients. 10,000
//! phones are 10,000 sockets in the child and, through the embedded broker's gate, three per
//! phone in the parent: both raise their open-file limit as far as allowed (`ulimit -Hn`); an
//! embedded run that cannot fit is reported as skipped.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use scaan_mobile_bridge::{
    dynsec::{Grant, Provisioner},
    fixtures::{self, Access, Mosquitto},
    phone::{BrokerUrl, Phone, PhoneOptions},
    topics, Authenticator, EmbeddedBroker,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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
    let results = runtime.block_on(async {
        let mut results = Vec::new();
        for &n in &sizes {
            // The gate's socket, its socket to rumqttd and rumqttd's: three per phone here.
            if n * 3 + 1_000 > open_files as usize {
                eprintln!(
                    "embedded broker: {n} phones need ~{} open files; the limit is {open_files}",
                    n * 3
                );
                results.push(
                    json!({"broker": "embedded", "phones": n, "skipped": "open-file limit", "open_files": open_files}),
                );
                continue;
            }
            results.push(embedded(n).await);
        }
        if std::env::var_os(fixtures::ENV).is_some() {
            for &n in &sizes {
                results.push(mosquitto_open(n).await);
                if n <= PROVISIONED_MAX {
                    results.push(mosquitto(n).await);
                }
            }
        } else {
            eprintln!("Mosquitto skipped: set {}=1", fixtures::ENV);
        }
        results
    });
    println!("{}", json!({"bench": "phones", "results": results}));
}

/// The embedded broker, with every phone's login known to its authenticator.
async fn embedded(n: usize) -> Value {
    let logins = logins(n);
    let auth = Arc::new(Accounts(
        logins
            .iter()
            .map(|l| (l.username.clone(), (l.token.clone(), l.user_id)))
            .collect(),
    ));
    let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap(), auth)
        .await
        .unwrap();
    let url: BrokerUrl = format!("mqtt://{}", broker.local_addr()).parse().unwrap();
    let (user, password) = broker.hub_credentials();
    let figures = floor(&url, (&user, &password), &logins).await;
    broker.shutdown().await;
    report("embedded", n, figures)
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
    let figures = floor(&url, (&user, &password), &logins).await;
    provisioner.shutdown().await;
    report("mosquitto", n, figures)
}

/// Mosquitto without access control: the broker's raw fan-out.
async fn mosquitto_open(n: usize) -> Value {
    let logins = logins(n);
    let broker = Mosquitto::from_env_with(Access::Open)
        .await
        .expect("SCAAN_TEST_MOSQUITTO");
    let url: BrokerUrl = broker.url().parse().unwrap();
    let figures = floor(&url, ("bench-hub", ""), &logins).await;
    report("mosquitto-open", n, figures)
}

fn report(broker: &str, phones: usize, (latencies, all_acked): (Vec<f64>, Duration)) -> Value {
    let result = json!({
        "broker": broker,
        "phones": phones,
        "received": latencies.len(),
        "p50_ms": round(percentile(&latencies, 0.50)),
        "p99_ms": round(percentile(&latencies, 0.99)),
        "max_ms": round(percentile(&latencies, 1.0)),
        "all_pubacks_ms": round(all_acked.as_secs_f64() * 1e3),
    });
    eprintln!("{result}");
    result
}

/// The raw fan-out: phones connect and subscribe (child process), then one QoS 1 publish to each
/// inbox. Returns each phone's latency from the first publish (ms) and when the last PUBACK came.
async fn floor(url: &BrokerUrl, (user, password): (&str, &str), logins: &[Login]) -> (Vec<f64>, Duration) {
    let phones = PhonesProcess::start(url, logins).await;
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
    let padding = "x".repeat(ENVELOPE_PADDING);
    let t0 = SystemTime::now();
    let started = Instant::now();
    for login in logins {
        let envelope = json!({"type": "alert", "alert": {"headline": "Bench", "description": padding}});
        client
            .publish(
                topics::inbox(login.user_id),
                QoS::AtLeastOnce,
                false,
                envelope.to_string(),
            )
            .await
            .unwrap();
    }
    let all_acked = tokio::time::timeout(PHASE_TIMEOUT, acked)
        .await
        .expect("every PUBACK in time")
        .unwrap()
        .duration_since(started);
    let received = phones.results().await;
    driver.abort();
    let t0 = t0.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128;
    let mut latencies: Vec<f64> = received.iter().map(|&at| (at as i128 - t0) as f64 / 1e6).collect();
    latencies.sort_by(f64::total_cmp);
    (latencies, all_acked)
}

/// The phones in a child process: it prints `ready` once every phone is subscribed, then one
/// JSON array with the time (ns since the epoch) each phone received its first envelope.
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

    async fn results(mut self) -> Vec<u128> {
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
                (received.at.duration_since(UNIX_EPOCH).unwrap().as_nanos(), phone)
            })
        })
        .collect();
    println!("ready");
    let mut received = Vec::with_capacity(waiting.len());
    let mut phones = Vec::with_capacity(waiting.len());
    for task in waiting {
        let (at, phone) = tokio::time::timeout(PHASE_TIMEOUT, task)
            .await
            .expect("every phone gets its envelope in time")
            .unwrap();
        received.push(at);
        phones.push(phone);
    }
    println!("{}", serde_json::to_string(&received).unwrap());
    // Leave the broker's sessions as a phone losing coverage would: the process ends.
    drop(phones);
}

/// The bench's accounts: username → (token, id).
struct Accounts(HashMap<String, (String, Uuid)>);

impl Authenticator for Accounts {
    async fn authenticate(&self, username: &str, password: &[u8]) -> Option<Uuid> {
        let (token, id) = self.0.get(username)?;
        (token.as_bytes() == password).then_some(*id)
    }
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
