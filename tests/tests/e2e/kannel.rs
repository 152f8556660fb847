//! A real SMS gateway for the tests: Kannel's bearerbox and smsbox on free loopback ports, with
//! a fake SMSC that Kannel's own test tool, `fakesmsc` (Debian's `kannel-extras`), plays the
//! phones on. `SCAAN_TEST_KANNEL` names the bearerbox (`1` for `/usr/sbin/bearerbox`); unset,
//! the test says SKIPPED, and with `CI=true` that is a failure.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The short code phones text (the hub's number on the fake SMSC).
pub const SHORT_CODE: &str = "7226";
const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

pub struct Kannel {
    dir: tempfile::TempDir,
    smsc_port: u16,
    boxes: Vec<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
        let smsbox = bearerbox.with_file_name("smsbox");
        let dir = tempfile::tempdir().unwrap();
        let (admin, boxes_port, smsc_port, sendsms) = (free_port(), free_port(), free_port(), free_port());
        let d = dir.path().display();
        let config = format!(
            r#"group = core
admin-port = {admin}
admin-password = "{secret}"
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
sendsms-port = {sendsms}
log-file = "{d}/smsbox.log"
log-level = 1

group = sms-service
keyword = default
catch-all = true
post-url = "{inbound}"
send-sender = true
max-messages = 1
omit-empty = true
"#,
            secret = uuid::Uuid::new_v4()
        );
        let file = dir.path().join("kannel.conf");
        std::fs::write(&file, config).unwrap();
        let spawn = |program: &Path| {
            Command::new(program)
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
        };
        let mut boxes = vec![spawn(bearerbox)];
        wait_for_port(smsc_port, "bearerbox", &dir.path().join("bearerbox.log")).await;
        boxes.push(spawn(&smsbox));
        wait_for_port(sendsms, "smsbox", &dir.path().join("smsbox.log")).await;
        Kannel { dir, smsc_port, boxes }
    }

    /// A phone on `from` texts `text` to the hub's short code: the answer it gets back, or
    /// `None` when none came within `wait`.
    pub async fn text(&self, from: &str, text: &str, wait: Duration) -> Option<String> {
        let message = format!("{from} {SHORT_CODE} text {text}");
        let mut phone = Command::new(PathBuf::from(FAKESMSC))
            .args([
                "-H",
                "127.0.0.1",
                "-r",
                &self.smsc_port.to_string(),
                "-m",
                "1",
                &message,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("fakesmsc (Debian's kannel-extras)");
        let mut lines = BufReader::new(phone.stderr.take().unwrap()).lines();
        // fakesmsc prints what the gateway sends it: "Got message 1: <7226 +243… text ANSWER>".
        let answer = tokio::time::timeout(wait, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((_, got)) = line.split_once("Got message") {
                    let inner = got.split_once('<')?.1.strip_suffix('>')?;
                    return inner.split_once(" text ").map(|(_, text)| text.to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let _ = phone.kill().await;
        answer
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

impl Drop for Kannel {
    fn drop(&mut self) {
        for child in &mut self.boxes {
            let _ = child.start_kill();
        }
    }
}
