//! A real SMS gateway for the tests: Kannel's bearerbox and smsbox on free loopback ports, with
//! a fake SMSC that Kannel's own test tool, `fakesmsc` (Debian's `kannel-extras`), plays the
//! phones on. `SCAAN_TEST_KANNEL` names the bearerbox (`1` for `/usr/sbin/bearerbox`); unset,
//! the test says SKIPPED, and with `CI=true` that is a failure.
//!
//! The fake SMSC takes one `fakesmsc` at a time: a handset that only listens takes every text
//! the hub sends (to any number), and steps aside while a phone texts the hub.

#![allow(dead_code)] // Each test crate uses its own part.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The short code phones text (the hub's number on the fake SMSC).
pub const SHORT_CODE: &str = "7226";
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

/// A text the gateway handed to a phone.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub to: String,
    pub text: String,
}

pub struct Kannel {
    dir: tempfile::TempDir,
    config: PathBuf,
    smsbox_program: PathBuf,
    smsc_port: u16,
    sendsms_port: u16,
    password: String,
    bearerbox: Child,
    smsbox: Option<Child>,
    /// The listening handset, when no phone is texting.
    handset: Option<Child>,
    /// Every text any phone got, in order.
    received: Arc<Mutex<Vec<Received>>>,
}

pub use scaan_mobile_bridge::fixtures::free_port;

async fn wait_for_port(port: u16, what: &str, log: &Path) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what} did not open port {port}: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl Kannel {
    /// A gateway that hands every text to `inbound` (the hub's door, with its token) and sends
    /// the answer back; `None` after a SKIPPED line when `SCAAN_TEST_KANNEL` is unset.
    pub async fn from_env(inbound: &str) -> Option<Kannel> {
        let bearerbox = scaan_mobile_bridge::fixtures::program_from_env("SCAAN_TEST_KANNEL", "bearerbox")?;
        Some(Kannel::start(&bearerbox, inbound).await)
    }

    async fn start(bearerbox: &Path, inbound: &str) -> Kannel {
        let smsbox_program = bearerbox.with_file_name("smsbox");
        let dir = tempfile::tempdir().unwrap();
        let (admin, boxes_port, smsc_port, sendsms_port) = (free_port(), free_port(), free_port(), free_port());
        let password = uuid::Uuid::new_v4().simple().to_string();
        let d = dir.path().display();
        // Delivery reports the hub could not take (it was down) are tried again every second.
        let config = format!(
            r#"group = core
admin-port = {admin}
admin-password = "{password}"
smsbox-port = {boxes_port}
box-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 1
dlr-storage = internal
store-type = file
store-location = "{d}/bearerbox.store"

group = smsc
smsc = fake
smsc-id = phones
port = {smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {boxes_port}
sendsms-port = {sendsms_port}
log-file = "{d}/smsbox.log"
log-level = 1
http-request-retry = 60
http-queue-delay = 1

group = sendsms-user
username = hub
password = "{password}"

group = sms-service
keyword = default
catch-all = true
post-url = "{inbound}"
send-sender = true
max-messages = 1
omit-empty = true
"#
        );
        let file = dir.path().join("kannel.conf");
        std::fs::write(&file, config).unwrap();
        let bearerbox = spawn(bearerbox, &file);
        wait_for_port(smsc_port, "bearerbox", &dir.path().join("bearerbox.log")).await;
        let mut kannel = Kannel {
            dir,
            config: file,
            smsbox_program,
            smsc_port,
            sendsms_port,
            password,
            bearerbox,
            smsbox: None,
            handset: None,
            received: Arc::default(),
        };
        kannel.start_smsbox().await;
        kannel.listen();
        kannel
    }

    /// Kannel's `sendsms` for the hub (`sms_kannel_url`), sending from the short code.
    pub fn sendsms_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/cgi-bin/sendsms?username=hub&password={}&from={SHORT_CODE}&smsc=phones",
            self.sendsms_port, self.password
        )
    }

    /// Stops the smsbox: the hub can hand Kannel nothing, as in a gateway outage.
    pub async fn stop_smsbox(&mut self) {
        if let Some(mut smsbox) = self.smsbox.take() {
            let _ = smsbox.kill().await;
        }
    }

    pub async fn start_smsbox(&mut self) {
        self.smsbox = Some(spawn(&self.smsbox_program, &self.config));
        let log = self.dir.path().join("smsbox.log");
        wait_for_port(self.sendsms_port, "smsbox", &log).await;
        // An open port is not yet an answer: once, in a loaded CI run, the hub started right
        // after got none to its check of the gateway ("error sending request") and stopped.
        // Ready is when `sendsms` answers that check.
        for _ in 0..100 {
            if reqwest::get(self.sendsms_url()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "smsbox did not answer on port {}: {}",
            self.sendsms_port,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Starts the handset that takes every text the gateway sends.
    fn listen(&mut self) {
        self.handset = Some(self.fakesmsc(&["-m", "0", "-i", "3600", "x x text x"]));
    }

    /// A `fakesmsc` with these arguments, whose received texts go to [`Self::received`].
    fn fakesmsc(&self, args: &[&str]) -> Child {
        let mut phone = Command::new(PathBuf::from(FAKESMSC))
            .args(["-H", "127.0.0.1", "-r", &self.smsc_port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("fakesmsc (Debian's kannel-extras)");
        let mut lines = BufReader::new(phone.stderr.take().unwrap()).lines();
        let received = self.received.clone();
        tokio::spawn(async move {
            // "Got message 1: <7226 +243… text THE TEXT>": from, to, type, text.
            while let Ok(Some(line)) = lines.next_line().await {
                let Some((_, got)) = line.split_once("Got message") else {
                    continue;
                };
                let Some(inner) = got.split_once('<').and_then(|(_, m)| m.strip_suffix('>')) else {
                    continue;
                };
                let mut words = inner.splitn(4, ' ');
                let (_from, to, _kind, text) = (words.next(), words.next(), words.next(), words.next());
                if let (Some(to), Some(text)) = (to, text) {
                    received.lock().unwrap().push(Received {
                        to: to.to_owned(),
                        text: text.to_owned(),
                    });
                }
            }
        });
        phone
    }

    /// A phone on `from` texts `text` to the hub's short code: the answer it gets back, or
    /// `None` when none came within `wait`.
    pub async fn text(&mut self, from: &str, text: &str, wait: Duration) -> Option<String> {
        if let Some(mut handset) = self.handset.take() {
            let _ = handset.kill().await;
        }
        let seen = self.received.lock().unwrap().len();
        let message = format!("{from} {SHORT_CODE} text {text}");
        let mut phone = self.fakesmsc(&["-m", "1", &message]);
        let answer = self
            .wait_for(wait, |texts| {
                texts[seen..].iter().find(|r| r.to == from).map(|r| r.text.clone())
            })
            .await;
        let _ = phone.kill().await;
        self.listen();
        answer
    }

    /// Waits up to `wait` for `found` to find something in every text received so far.
    pub async fn wait_for<T>(&self, wait: Duration, found: impl Fn(&[Received]) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(found) = found(&self.received.lock().unwrap()) {
                return Some(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The texts `to` has received so far.
    pub fn texts_to(&self, to: &str) -> Vec<String> {
        let received = self.received.lock().unwrap();
        received.iter().filter(|r| r.to == to).map(|r| r.text.clone()).collect()
    }

    /// Every text received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// What the gateway logged, for a failing test's message.
    pub fn log(&self) -> String {
        ["bearerbox.log", "smsbox.log"]
            .iter()
            .map(|f| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn spawn(program: &Path, config: &Path) -> Child {
    Command::new(program)
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in [Some(&mut self.bearerbox), self.smsbox.as_mut(), self.handset.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = child.start_kill();
        }
    }
}
