//! Starts `prompt-manager` as an operator would, on a free port with a fresh SQLite file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Server {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The server in local development mode (seeded admin), in a fresh directory.
pub fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (url, child) = spawn(dir.path(), &[]);
    Server { url, child, _dir: dir }
}

/// Runs the built `prompt-manager` in `dir` in local development mode, logging JSON so the port
/// can be read, with `env` on top; returns its URL once it listens, and the process. It serves
/// the web app built into it (`cargo xtask frontend` before building the binary).
pub fn spawn(dir: &Path, env: &[(&str, String)]) -> (String, Child) {
    let built = workspace_root().join("frontend/dist/app_bg.wasm");
    assert!(built.exists(), "the web app is not built: run `cargo xtask frontend`, then build the binary");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let binary = target.join("debug/prompt-manager");
    assert!(binary.exists(), "{} is missing: run `cargo xtask test`", binary.display());
    let mut child = Command::new(binary)
        .env_clear()
        .current_dir(dir)
        .envs([
            ("LOCAL_DEV_MODE", "true"),
            ("SERVER_HOST", "127.0.0.1"),
            ("SERVER_PORT", "0"),
            ("LOG_FORMAT", "json"),
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = loop {
        let line = lines.next().expect("the server exited before listening").unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["message"] == "AI Prompt Manager is listening" {
            break event["port"].as_u64().unwrap();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (format!("http://127.0.0.1:{port}"), child)
}
