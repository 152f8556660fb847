//! The README's "Trying it" steps, run as written against a real hub: its shell blocks go to
//! bash line by line, with two changes only — `cargo run --release --` is the `scaan` binary
//! under test, and the hub's addresses (8080, 1883) are the free ports this test's hub got.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const SCAAN: &str = env!("CARGO_BIN_EXE_scaan");

/// The shell blocks (4-space indented, continuation lines joined) of the README's section
/// `## {title}`, each as one script.
fn blocks(title: &str) -> Vec<String> {
    let readme = include_str!("../../README.md");
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("the README has a section '{title}'"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |end| end + 3)];
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in section.lines() {
        match line.strip_prefix("    ") {
            Some(code) => {
                current.push_str(code);
                current.push('\n');
            }
            None if !current.is_empty() => blocks.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }
    blocks
}

/// A README line with its commands pointed at this test's hub.
fn localised(script: &str, http: &str, mqtt: &str) -> String {
    script
        .replace("cargo run --release --", &format!("'{SCAAN}'"))
        .replace("localhost:8080", http)
        .replace("127.0.0.1:8080", http)
        .replace("127.0.0.1:1883", mqtt)
}

/// Runs one script with bash in `dir`; its standard output.
fn bash(dir: &std::path::Path, script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "README step failed:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Kills the hub when the test ends, however it ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_steps_work_as_written() {
    let dir = tempfile::tempdir().unwrap();
    // "Run the hub with embedded defaults": here with ports of its own, in `dir` (./scaan-data).
    let mut child = Command::new(SCAAN)
        .args(["serve", "--listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scaan starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let _hub = Running(child);
    let (mut http, mut mqtt) = (None, None);
    while http.is_none() || mqtt.is_none() {
        let line = lines.next().expect("scaan logs until it serves").unwrap();
        let value = |key: &str| {
            let at = line.find(key)? + key.len();
            Some(line[at..].split_whitespace().next()?.to_owned())
        };
        if line.contains("MQTT endpoint listening") && line.contains("tls=false") {
            mqtt = value("address=");
        } else if line.contains(" serving") {
            http = value("address=");
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let (http, mqtt) = (http.unwrap(), mqtt.unwrap());

    let steps = blocks("Trying it");
    assert!(steps.len() >= 2, "{steps:?}");
    let answer = bash(dir.path(), &localised(&steps[0], &http, &mqtt));
    // The last step's answer is the alert as sent.
    let alert: serde_json::Value = serde_json::from_str(answer.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("the alert's answer ({e}): {answer}"));
    assert_eq!(alert["recipients"], 1, "amani's duty station is in the area: {alert}");
    let alert_id = alert["id"].as_str().unwrap();

    // The phone: log in once, listen in one terminal, answer from another.
    let phone: Vec<String> = steps[1].lines().map(|l| localised(l, &http, &mqtt)).collect();
    assert_eq!(phone.len(), 3, "{phone:?}");
    bash(dir.path(), &phone[0]);
    let mut listen = Command::new("bash")
        .args(["-c", &format!("exec {}", phone[1])])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut envelopes = BufReader::new(listen.stdout.take().unwrap()).lines();
    let listener = Running(listen);
    let first: serde_json::Value = serde_json::from_str(&envelopes.next().unwrap().unwrap()).unwrap();
    assert_eq!(
        (&first["type"], &first["alert"]["id"]),
        (&"alert".into(), &alert_id.into())
    );
    let answered = bash(dir.path(), &phone[2].replace("ALERT_ID", alert_id));
    assert!(answered.contains("checkin_ack"), "{answered}");
    drop(listener);
    // The watch officer's headcount counts amani safe.
    let board = bash(
        dir.path(),
        &format!(
            r#"TOKEN=$(curl -s {http}/api/v1/auth/login -d '{{"username":"watch","password":"a long passphrase"}}' \
                 -H 'content-type: application/json' | jq -r .token)
               curl -s {http}/api/v1/alerts/{alert_id}/headcount -H "authorization: Bearer $TOKEN""#
        ),
    );
    let board: serde_json::Value = serde_json::from_str(&board).unwrap_or_else(|e| panic!("{e}: {board}"));
    assert_eq!((&board["total"], &board["safe"]), (&1.into(), &1.into()), "{board}");
}
