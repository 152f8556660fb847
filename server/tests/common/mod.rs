//! The `scaan` binary for the tests that run it as an operator would: serving in a data
//! directory, and its `user` commands.

#![allow(dead_code)] // Each test file uses its own part.

pub mod deployment;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

pub const SCAAN: &str = env!("CARGO_BIN_EXE_scaan");

/// A running `scaan serve`, killed when dropped so a failing test leaves no hub behind.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// `scaan serve` on a free port in `dir`, with its own broker on another; returns the child
/// and its HTTP address.
pub fn serve(dir: &std::path::Path) -> (Running, String) {
    serve_with(dir, &["--mqtt-listen", "127.0.0.1:0"])
}

/// [`serve`] with these MQTT arguments.
pub fn serve_with(dir: &std::path::Path, mqtt: &[&str]) -> (Running, String) {
    serve_on(dir, "127.0.0.1:0", mqtt, &[])
}

/// `scaan serve` on `listen` with these arguments and `SCAAN_…` settings.
pub fn serve_on(dir: &std::path::Path, listen: &str, args: &[&str], settings: &[(&str, &str)]) -> (Running, String) {
    let mut child = Command::new(SCAAN)
        .args(["serve", "--listen", listen])
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .envs(settings.iter().copied())
        .env("SCAAN_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scaan starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    let address = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("scaan stopped before it served:\n{}", said.join("\n"));
        };
        said.push(line.clone());
        if let Some(at) = line.find("address=").filter(|_| line.contains(" serving")) {
            break line[at + "address=".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned();
        }
    };
    // Keep draining the log so the hub never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (Running(child), format!("http://{address}"))
}

pub fn add_user(dir: &std::path::Path, args: &[&str], password: &str) -> std::process::Output {
    user_command(dir, "add", args, password)
}

/// `scaan user COMMAND --data-dir DIR ARGS…` with `stdin` on its standard input.
pub fn user_command(dir: &std::path::Path, command: &str, args: &[&str], stdin: &str) -> std::process::Output {
    user_command_with(dir, command, args, stdin, &[])
}

/// [`user_command`] with these `SCAAN_…` settings (a database of several nodes, say).
pub fn user_command_with(
    dir: &std::path::Path,
    command: &str,
    args: &[&str],
    stdin: &str,
    settings: &[(&str, &str)],
) -> std::process::Output {
    let mut child = Command::new(SCAAN)
        .args(["user", command, "--data-dir"])
        .arg(dir)
        .args(args)
        .envs(settings.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// A free port on loopback, for a hub that must come back on the same one (or be told it
/// before it starts).
pub use scaan_mobile_bridge::fixtures::free_port;
