//! `LlamaServer`: a real llama.cpp `llama-server` with the SmolLM2-135M model on a free loopback
//! port, so the LLM features' happy path is proven against a real OpenAI-compatible server, not a
//! fake. `cargo xtask test` builds and fetches both once into `~/.cache/prompt-manager/llama/`.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The model's name on the server (`--alias`); the server accepts any `model` in a request.
pub const MODEL: &str = "smollm2";

/// Loading takes about half a second; a minute leaves room for a machine busy compiling.
const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct LlamaServer {
    /// `http://127.0.0.1:PORT/v1`: what an OpenAI client takes as its base URL.
    pub base_url: String,
    child: Child,
    /// Holds the server's log while it runs; shown when it fails to start.
    _logs: TempDir,
}

impl LlamaServer {
    pub async fn start() -> LlamaServer {
        let dir = cache_dir();
        let server = dir.join("bin/llama-server");
        let model = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            server.is_file() && model.is_file(),
            "llama-server or its model is missing in {}: run `cargo xtask test`, which builds and \
             fetches them once",
            dir.display()
        );
        let port = free_port();
        let logs = tempfile::tempdir().unwrap();
        let log_path = logs.path().join("llama-server.log");
        let log = File::create(&log_path).unwrap();
        let mut command = Command::new(&server);
        command.arg("-m").arg(&model);
        // One thread: with two, latency swings wildly while anything else compiles.
        command.args(["--alias", MODEL, "--host", "127.0.0.1", "--port", &port.to_string()]);
        command.args(["-c", "2048", "-t", "1", "-np", "1"]);
        command.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        // Built before waiting, so that a panic while waiting still stops the child.
        let mut llama = LlamaServer { base_url: format!("http://127.0.0.1:{port}/v1"), child, _logs: logs };
        llama.wait_until_ready(port, &log_path).await;
        llama
    }

    /// Polls `/health`, which answers 503 while the model loads and 200 once it can serve.
    async fn wait_until_ready(&mut self, port: u16, log: &Path) {
        let client = reqwest::Client::new();
        let health = format!("http://127.0.0.1:{port}/health");
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("llama-server exited ({status}) before it was ready:\n{}", log_tail(log));
            }
            let response = client.get(&health).timeout(Duration::from_secs(2)).send().await;
            if response.is_ok_and(|response| response.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "llama-server was not ready within {READY_WITHIN:?}:\n{}",
                log_tail(log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `cargo xtask` puts the server and the model (`crates/xtask/src/peers.rs`).
fn cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is not set");
    PathBuf::from(home).join(".cache/prompt-manager/llama")
}

/// A port nobody listens on right now; the server binds it a moment later.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The end of the server's log, where the reason it failed is.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
