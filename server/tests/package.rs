//! The Debian package as an operator installs it: `dpkg -i` on this machine, the unit verified by
//! `systemd-analyze`, and `scaan serve` run from the installed files as the `scaan` user. The
//! package is built by `scripts/test.sh` (`cargo deb`), which names it in `SCAAN_TEST_DEB`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The package to install, or `None` (said loudly) where it cannot be tried: no package built,
/// or not root. In CI both are there, and their absence is a failure.
fn package() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = |why: &str| {
        assert!(!ci, "CI=true but {why}: the package test must run in CI");
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED (Debian package): {why}");
        None
    };
    let Some(deb) = std::env::var("SCAAN_TEST_DEB").ok().filter(|p| !p.is_empty()) else {
        return skip("SCAAN_TEST_DEB is not set (scripts/test.sh builds the package and sets it)");
    };
    let me = Command::new("id").arg("-u").output().expect("id runs");
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return skip("installing a package needs root");
    }
    Some(deb)
}

fn run(program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Purges the package when the test ends, however it ends; the state directory too when the
/// test made it.
struct Installed {
    state_was_there: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "scaan"]).output();
        if !self.state_was_there {
            let _ = std::fs::remove_dir_all("/var/lib/scaan");
        }
    }
}

#[tokio::test]
async fn the_debian_package_installs_and_serves() {
    let Some(deb) = package() else { return };
    let installed = Installed {
        state_was_there: Path::new("/var/lib/scaan").exists(),
    };
    run("dpkg", &["-i", &deb]);

    let passwd = run("getent", &["passwd", "scaan"]);
    assert!(String::from_utf8_lossy(&passwd.stdout).contains("/var/lib/scaan"));
    let uid = |path: &str| std::fs::metadata(path).unwrap().uid();
    let scaan_uid: u32 = String::from_utf8_lossy(&run("id", &["-u", "scaan"]).stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(uid("/var/lib/scaan"), scaan_uid, "the state belongs to the hub's user");
    let config = std::fs::metadata("/etc/scaan/scaan.toml").unwrap();
    assert_eq!(
        config.permissions().mode() & 0o777,
        0o640,
        "the configuration may name secrets"
    );
    let conffiles =
        String::from_utf8_lossy(&run("dpkg-query", &["--control-show", "scaan", "conffiles"]).stdout).into_owned();
    assert!(conffiles.contains("/etc/scaan/scaan.toml"), "{conffiles}");

    let unit = [
        "/lib/systemd/system/scaan.service",
        "/usr/lib/systemd/system/scaan.service",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("the package installs scaan.service");
    run("systemd-analyze", &["verify", unit]);

    // The installed binary, configuration and user, as the unit runs them (ports of our own).
    // setpriv becomes the hub (exec), so the SIGTERM below is the hub's own, as systemd sends it.
    let mut hub = Command::new("setpriv")
        .args(["--reuid", "scaan", "--regid", "scaan", "--init-groups", "--"])
        .args(["/usr/bin/scaan", "--config", "/etc/scaan/scaan.toml", "serve"])
        .args(["--listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"])
        .env("SCAAN_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv runs");
    let mut lines = BufReader::new(hub.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the hub logs until it serves").unwrap();
        let line: serde_json::Value = serde_json::from_str(&line).expect("the packaged config logs JSON");
        if line["fields"]["message"] == "serving" {
            break line["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let ready = reqwest::Client::new()
        .get(format!("http://{address}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        uid("/var/lib/scaan/scaan.db"),
        scaan_uid,
        "the database is the hub user's"
    );
    let _ = Command::new("kill").args(["-TERM", &hub.id().to_string()]).status();
    assert!(hub.wait().unwrap().success(), "the hub stops cleanly on SIGTERM");
    drop(installed);
    assert!(!Path::new("/usr/bin/scaan").exists(), "purged");
}
