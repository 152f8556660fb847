//! The `scaan` binary as an operator uses it: serve, add accounts while it runs, stop it.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCAAN: &str = env!("CARGO_BIN_EXE_scaan");

/// `scaan serve` on a free port in `dir`; returns the child and its HTTP address.
fn serve(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(SCAAN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SCAAN_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("scaan starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("scaan logs until it serves").unwrap();
        if let Some(at) = line.find("address=") {
            break line[at + "address=".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
        }
    };
    // Keep draining the log so the hub never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, format!("http://{address}"))
}

fn add_user(dir: &std::path::Path, args: &[&str], password: &str) -> std::process::Output {
    let mut child = Command::new(SCAAN)
        .args(["user", "add", "--data-dir"])
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

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
