//! `Receiver`: a real webhook receiver on a free loopback port — `tests/peers/webhook_receiver.py`,
//! which verifies each delivery with the Standard Webhooks reference library (PyPI
//! `standardwebhooks`, installed by `cargo xtask test` into
//! `~/.cache/prompt-manager/webhooks/venv`) and records it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Receiver {
    pub url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Receiver {
    pub fn start() -> Self {
        let python = PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/prompt-manager/webhooks/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `cargo xtask test` (or `cargo xtask peers`), which installs the \
             Standard Webhooks reference library once",
            python.display()
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/webhook_receiver.py");
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python)
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // It prints its port once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 =
            line.trim().parse().unwrap_or_else(|_| panic!("the receiver did not start: {line:?}"));
        Self { url: format!("http://127.0.0.1:{port}/hooks"), dir, child }
    }

    /// The secrets deliveries are checked against.
    pub fn set_secrets(&self, secrets: &[&str]) {
        std::fs::write(self.dir.path().join("secrets.json"), serde_json::to_string(secrets).unwrap())
            .unwrap();
    }

    /// The status every delivery is answered with from now on.
    pub fn answer(&self, status: u16) {
        std::fs::write(self.dir.path().join("status"), status.to_string()).unwrap();
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Value> {
        let log = std::fs::read_to_string(self.dir.path().join("received.jsonl")).unwrap_or_default();
        log.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Waits (at most `within`) until `done` holds for what was received, and returns it.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(Instant::now() < deadline, "not received within {within:?}; got {received:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
