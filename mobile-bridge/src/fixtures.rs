//! Real brokers for tests and benchmarks (feature `fixtures`): a Mosquitto here, a NATS server
//! in [`nats`]. The Mosquitto is started on a free loopback port with the dynamic-security
//! plugin and an admin login (or, [`Access::Open`], with no access control at all), stopped
//! when dropped.
//!
//! Tests that need it call [`Mosquitto::from_env`]: `SCAAN_TEST_MOSQUITTO` names the broker
//! (`1` for `mosquitto` on the `PATH` or in `/usr/sbin`, or the path of the binary). Unset, the
//! test prints a `SKIPPED` line and returns; with `CI=true` a missing broker is a failure, as a
//! missing PostgreSQL is.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

pub mod nats;

use anyhow::{bail, Context as _};
use rand::{distributions::Alphanumeric, Rng as _};
use tokio::{net::TcpStream, process::Child, time::Instant};

/// Names the Mosquitto binary for the tests that need an external broker.
pub const ENV: &str = "SCAAN_TEST_MOSQUITTO";
/// The admin the fixture creates; it may send dynamic-security commands.
pub const ADMIN_USERNAME: &str = "scaan-admin";
/// Where Debian and most builds put the plugin; `SCAAN_TEST_MOSQUITTO_DYNSEC` overrides it.
const PLUGIN_PATHS: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
];
/// What Mosquitto logs once its listeners are open.
const RUNNING: &str = " running\n";
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Another process may take the free port between our probe and Mosquitto's bind.
const START_ATTEMPTS: usize = 3;

/// Who may connect and do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The dynamic-security plugin, with only its admin: the hub's provisioner does the rest.
    DynamicSecurity,
    /// Anyone, anything: a broker's raw speed, or a test of the hub's link alone.
    Open,
}

/// A running Mosquitto in its own directory (configuration, dynamic-security file, sessions).
pub struct Mosquitto {
    program: PathBuf,
    access: Access,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    admin_password: String,
    child: Option<Child>,
}

impl Mosquitto {
    /// The broker `SCAAN_TEST_MOSQUITTO` names, started with dynamic security; `None` after a
    /// loud `SKIPPED` line when it is unset. Panics when it is unset and `CI=true`, or when the
    /// broker cannot start.
    pub async fn from_env() -> Option<Mosquitto> {
        Self::from_env_with(Access::DynamicSecurity).await
    }

    /// [`Mosquitto::from_env`], with the given access control.
    pub async fn from_env_with(access: Access) -> Option<Mosquitto> {
        let program = program_from_env(ENV, "mosquitto")?;
        Some(Mosquitto::start(&program, access).await.expect("Mosquitto starts"))
    }

    /// Starts `program` on a free loopback port, with a new dynamic-security configuration
    /// unless `access` is open.
    pub async fn start(program: &Path, access: Access) -> anyhow::Result<Mosquitto> {
        let dir = tempfile::tempdir()?;
        let admin_password = random_secret();
        if access == Access::DynamicSecurity {
            init_dynamic_security(dir.path(), &admin_password).await?;
        }
        let mut broker = Mosquitto {
            program: program.to_owned(),
            access,
            dir,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            admin_password,
            child: None,
        };
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            broker.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            match broker.launch().await {
                Ok(()) => return Ok(broker),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("Mosquitto did not start")))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `mqtt://127.0.0.1:PORT`, as `--mqtt-url` takes it.
    pub fn url(&self) -> String {
        format!("mqtt://{}", self.addr)
    }

    /// The broker's process id while it runs (benches read its CPU time and memory).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The dynamic-security admin's username and password.
    pub fn admin_credentials(&self) -> (String, String) {
        (ADMIN_USERNAME.to_owned(), self.admin_password.clone())
    }

    /// Stops the broker as an operator would (SIGTERM: it saves its sessions), and waits.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Some(pid) = child.id().and_then(|pid| i32::try_from(pid).ok()) {
            // SAFETY: kill(2) on the pid of our own child, which we have not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        if tokio::time::timeout(START_TIMEOUT, child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }

    /// Starts the stopped broker again on the same port, with the sessions and clients it saved.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.launch().await
    }

    /// What the broker logged, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let dir = self.dir.path();
        let access = match self.access {
            Access::Open => "allow_anonymous true\n".to_owned(),
            Access::DynamicSecurity => {
                let plugin = match std::env::var("SCAAN_TEST_MOSQUITTO_DYNSEC") {
                    Ok(path) => PathBuf::from(path),
                    Err(_) => PLUGIN_PATHS
                        .iter()
                        .map(PathBuf::from)
                        .find(|p| p.exists())
                        .context("the dynamic-security plugin was not found; set SCAAN_TEST_MOSQUITTO_DYNSEC")?,
                };
                format!(
                    "allow_anonymous false\nplugin {}\nplugin_opt_config_file {}\n",
                    plugin.display(),
                    dir.join("dynamic-security.json").display()
                )
            }
        };
        let config = format!(
            "per_listener_settings false\n\
             listener {port} 127.0.0.1\n\
             {access}\
             persistence true\n\
             persistence_location {dir}/\n\
             {tuning}\
             # As root, Mosquitto would switch to the user `mosquitto`, who cannot read this directory.\n\
             user root\n",
            port = self.addr.port(),
            dir = dir.display(),
            tuning = deployed_tuning(),
        );
        std::fs::write(dir.join("mosquitto.conf"), config)?;
        let runs_before = self.log().matches(RUNNING).count();
        let mut child = run_configured(&self.program, &dir.join("mosquitto.conf"), &dir.join("mosquitto.log"))?;
        // Ready once this run has logged that it runs (a connect alone could reach another
        // program that took the port) and accepts.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.log().matches(RUNNING).count() > runs_before && TcpStream::connect(self.addr).await.is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "Mosquitto exited ({status}) on port {}:\n{}",
                    self.addr.port(),
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                bail!("Mosquitto did not listen on {} in time:\n{}", self.addr, self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The tuning section of `deploy/mosquitto/mosquitto.conf`, so that the tests run Mosquitto as
/// it is deployed.
fn deployed_tuning() -> String {
    const DEPLOYED: &str = include_str!("../../deploy/mosquitto/mosquitto.conf");
    DEPLOYED
        .lines()
        .skip_while(|line| !line.starts_with("# --- tuning"))
        .take_while(|line| !line.starts_with("# --- end of tuning"))
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| format!("{line}\n"))
        .collect()
}

/// A dynamic-security file in `dir` whose only client is the admin.
async fn init_dynamic_security(dir: &Path, admin_password: &str) -> anyhow::Result<()> {
    let ctrl = find_program("mosquitto_ctrl", &[]).context("mosquitto_ctrl (package mosquitto) is needed")?;
    let init = tokio::process::Command::new(ctrl)
        .args(["dynsec", "init"])
        .arg(dir.join("dynamic-security.json"))
        .args([ADMIN_USERNAME, admin_password])
        .output()
        .await
        .context("cannot run mosquitto_ctrl")?;
    if !init.status.success() {
        bail!(
            "mosquitto_ctrl dynsec init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    Ok(())
}

/// A loopback port free now, below the kernel's ephemeral range (32768 and up), and never the
/// same twice in this process. The port is reserved only by being free until its server binds
/// it: an outgoing connection could be given a port in the ephemeral range meanwhile, and two
/// servers of one test process, or of two tests running side by side, the same port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut rng = rand::thread_rng();
    loop {
        let port = rng.gen_range(20_000..32_000);
        if !given.contains(&port) && std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
}

/// The broker binary the variable `env` names (`1`: `name` on the `PATH` or in `/usr/sbin`);
/// `None` after a loud `SKIPPED` line when it is unset. Panics when it is unset and `CI=true`.
pub fn program_from_env(env: &str, name: &str) -> Option<PathBuf> {
    let program = match std::env::var(env) {
        Ok(value) if !value.is_empty() => value,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but {env} is not set: the external-broker tests must run in CI")
        }
        _ => {
            // Past the test harness's capture, so the skip shows in every run.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (external {name}): set {env}=1 (or the path of the {name} binary) to run it"
            );
            return None;
        }
    };
    Some(match program.as_str() {
        "1" => find_program(name, &["/usr/sbin"]).unwrap_or_else(|| panic!("{env}=1 but no {name} found")),
        path => PathBuf::from(path),
    })
}

/// `name` on the `PATH`, or in one of `extra` directories.
fn find_program(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// `program -c config`, its output appended to `log`, killed when dropped.
fn run_configured(program: &Path, config: &Path, log: &Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    tokio::process::Command::new(program)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))
}

fn random_secret() -> String {
    rand::thread_rng()
        .sample_iter(Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}
