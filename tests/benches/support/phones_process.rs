//! The phones of a bench in a child process of their own (the same bench binary, told its job
//! by an environment variable), so that the server measured is not measured on a runtime clogged
//! by 10,000 clients, and the clients' CPU is counted apart. The child connects every phone,
//! says `{"connect_s": …}` on one line, then one line of receipts per round; it ends when its
//! standard input closes.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::measure::process_cpu;

/// How long the phones may take to connect, and to report a round.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

pub struct PhonesProcess {
    child: tokio::process::Child,
    /// Closed to let the phones' process end.
    stdin: Option<tokio::process::ChildStdin>,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    /// How long the phones took to connect.
    pub connect_s: f64,
    _job: tempfile::NamedTempFile,
}

impl PhonesProcess {
    /// Starts this bench again as the phones' process, with `job` in a file named by `env`,
    /// and waits until every phone is connected.
    pub async fn start(env: &str, job: &impl Serialize) -> PhonesProcess {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_vec(job).unwrap()).unwrap();
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .env(env, file.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(PHASE_TIMEOUT, stdout.next_line())
            .await
            .expect("phones connect in time")
            .unwrap()
            .expect("the phones report");
        let ready: Value = serde_json::from_str(&ready).expect("the phones are ready");
        PhonesProcess {
            stdin: child.stdin.take(),
            child,
            stdout,
            connect_s: ready["connect_s"].as_f64().unwrap(),
            _job: file,
        }
    }

    /// The phones' process's CPU time so far.
    pub fn cpu(&self) -> Duration {
        process_cpu(self.pid())
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the phones are running")
    }

    /// Sends the phones' process `signal` (`SIGSTOP`, `SIGCONT`).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child, which has not been waited for.
        assert_eq!(
            unsafe { libc::kill(self.pid() as libc::pid_t, signal) },
            0,
            "signal the phones"
        );
    }

    /// The phones' receipts of the next round.
    pub async fn round<R: DeserializeOwned>(&mut self) -> Vec<R> {
        serde_json::from_str(&self.round_report().await).unwrap()
    }

    /// The phones' receipts of a round, unparsed: parsing them costs this process (a hub's, in
    /// the phones bench) a few µs per phone, which a figure of the hub's CPU must leave out.
    pub async fn round_report(&mut self) -> String {
        tokio::time::timeout(PHASE_TIMEOUT, self.stdout.next_line())
            .await
            .expect("phones report in time")
            .unwrap()
            .expect("a report")
    }

    /// Lets the phones' process end (closing their connections) and waits for it.
    pub async fn finish(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait().await;
    }
}

/// The child's side, once its `handsets` are connected (in `connect_s`): says so, then plays
/// each round on every phone at once (`play(handset, round, i)`, each in a task of its own),
/// printing the round's receipts in the phones' order; and stays connected until told to end
/// (standard input closes), so that the server side closes first.
pub async fn play_rounds<H, A, R, F>(
    handsets: Vec<H>,
    connect_s: f64,
    rounds: Vec<A>,
    play: impl Fn(Arc<tokio::sync::Mutex<H>>, A, usize) -> F,
) where
    H: Send + 'static,
    A: Copy,
    R: Serialize + Send + 'static,
    F: std::future::Future<Output = R> + Send + 'static,
{
    eprintln!("{} phones connected in {connect_s:.1} s", handsets.len());
    println!("{}", serde_json::json!({"connect_s": connect_s}));
    let handsets: Vec<Arc<tokio::sync::Mutex<H>>> = handsets
        .into_iter()
        .map(|h| Arc::new(tokio::sync::Mutex::new(h)))
        .collect();
    for round in rounds {
        let playing: Vec<_> = handsets
            .iter()
            .enumerate()
            .map(|(i, handset)| tokio::spawn(play(handset.clone(), round, i)))
            .collect();
        let mut receipts = Vec::with_capacity(playing.len());
        for task in playing {
            let receipt = tokio::time::timeout(PHASE_TIMEOUT, task)
                .await
                .expect("every phone plays its round in time")
                .unwrap();
            receipts.push(receipt);
        }
        println!("{}", serde_json::to_string(&receipts).unwrap());
    }
    let _ = tokio::task::spawn_blocking(|| std::io::Read::read(&mut std::io::stdin(), &mut [0u8; 1])).await;
}

/// A phone's MQTT client at `host:port`, connecting as the phone app connects (a persistent
/// session under the person's client id) and subscribing to the person's inbox once it is
/// connected. Its event loop is the caller's to poll (no task or channel per phone).
pub async fn phone_mqtt(
    user_id: uuid::Uuid,
    username: &str,
    token: &str,
    host: &str,
    port: u16,
) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    use rumqttc::{AsyncClient, MqttOptions, QoS};
    use scaan_mobile_bridge::{phone, topics};
    let mut options = MqttOptions::new(phone::client_id(user_id), host, port);
    options
        .set_credentials(username, token)
        .set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30));
    let (client, events) = AsyncClient::new(options, 16);
    client
        .subscribe(topics::inbox(user_id), QoS::AtLeastOnce)
        .await
        .unwrap();
    (client, events)
}

/// [`phone_mqtt`], connected and subscribed to an inbox which owes nothing yet.
pub async fn connect_mqtt(
    user_id: uuid::Uuid,
    username: &str,
    token: &str,
    host: &str,
    port: u16,
) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    use rumqttc::{Event, Packet};
    let (client, mut events) = phone_mqtt(user_id, username, token, host, port).await;
    loop {
        match events.poll().await.expect("phone connects") {
            Event::Incoming(Packet::SubAck(_)) => break,
            Event::Incoming(Packet::Publish(p)) => panic!("nothing is owed yet: {p:?}"),
            _ => {}
        }
    }
    (client, events)
}
