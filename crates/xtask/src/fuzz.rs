//! `cargo xtask fuzz`: schemathesis over the whole OpenAPI document as three callers — a tenant
//! admin (the seeded system administrator), a plain user and a read-only API token — each on
//! its own fresh server and SQLite file, so what one run deletes or revokes cannot blind the
//! next. Checks: no 5xx, every answer matches its documented schema, every status is documented.
//!
//! The budget is bounded (`FUZZ_MAX_EXAMPLES` cases per operation and phase, default
//! [`MAX_EXAMPLES`]); the seed is fixed (`FUZZ_SEED` overrides) so a failure in CI replays here.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Result, step};

const MAX_EXAMPLES: u32 = 50;
const SEED: &str = "20261128";
const CHECKS: &str = "not_a_server_error,response_schema_conformance,status_code_conformance";

/// Operations left out of every run, with the reason.
const EXCLUDED: &[(&str, &str)] = &[
    // An AI connection names an address the server then calls (testing, running, enhancing);
    // generated addresses would send traffic off this machine.
    ("create_connection", "the server would call addresses the fuzzer makes up"),
    ("update_connection", "the server would call addresses the fuzzer makes up"),
];

/// Operations that end the caller's own session, left out where the caller is a session.
const ENDS_THE_SESSION: &[&str] = &["logout", "refresh"];

#[derive(Clone, Copy)]
enum Caller {
    /// A read-write API token of the system administrator: it survives the password resets and
    /// session revocations the run itself performs.
    Admin,
    /// A plain `user`'s session (self-service routes included).
    User,
    /// A read-scope API token of the system administrator.
    ReadToken,
}

impl Caller {
    fn name(self) -> &'static str {
        match self {
            Caller::Admin => "admin",
            Caller::User => "user",
            Caller::ReadToken => "read token",
        }
    }
}

#[derive(Default)]
struct Totals {
    operations: u64,
    cases: u64,
    failures: u64,
    errors: u64,
    seconds: f64,
}

/// Runs schemathesis once per caller against the built `prompt-manager` binary.
pub fn run(binary: &Path, st: &Path) -> Result {
    let max_examples = env::var("FUZZ_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_string());
    let seed = env::var("FUZZ_SEED").unwrap_or_else(|_| SEED.to_owned());
    let mut summary = Vec::new();
    let mut failed = Vec::new();
    for caller in [Caller::Admin, Caller::User, Caller::ReadToken] {
        let totals = fuzz_as(caller, binary, st, &max_examples, &seed)?;
        if totals.failures + totals.errors > 0 {
            failed.push(caller.name());
        }
        summary.push((caller, totals));
    }
    for (caller, t) in &summary {
        step(&format!(
            "schemathesis as {:<10} {} operations, {} cases, {} failed checks, {} errors in {:.0} s",
            caller.name(),
            t.operations,
            t.cases,
            t.failures,
            t.errors,
            t.seconds
        ));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("schemathesis found problems as {} (see above)", failed.join(", ")))
    }
}

fn fuzz_as(caller: Caller, binary: &Path, st: &Path, max_examples: &str, seed: &str) -> Result<Totals> {
    let dir =
        env::temp_dir().join(format!("pm-fuzz-{}-{}", std::process::id(), caller.name().replace(' ', "-")));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let server = Server::start(binary, &dir)?;
    let token = credential(caller, server.port)?;
    step(&format!(
        "schemathesis as {} (at most {max_examples} cases per operation and phase)",
        caller.name()
    ));
    let report = dir.join("report.ndjson");
    let mut cmd = Command::new(st);
    cmd.current_dir(&dir)
        .arg("--no-color")
        .arg("run")
        .arg(format!("http://127.0.0.1:{}/api/openapi.json", server.port))
        .args(["--checks", CHECKS, "--max-examples", max_examples, "--seed", seed])
        .args(["--workers", "2", "--request-timeout", "20", "--generation-database", "none"])
        .args(["--suppress-health-check", "all", "--output-truncate", "true"])
        .arg("--header")
        .arg(format!("Authorization: Bearer {token}"))
        .args(["--report", "ndjson", "--report-ndjson-path"])
        .arg(&report);
    for (operation, _) in EXCLUDED {
        cmd.args(["--exclude-operation-id", operation]);
    }
    if matches!(caller, Caller::User) {
        for operation in ENDS_THE_SESSION {
            cmd.args(["--exclude-operation-id", operation]);
        }
    }
    let started = Instant::now();
    let status = cmd.status().map_err(|e| format!("cannot start {}: {e}", st.display()))?;
    let mut totals = totals_of(&report)?;
    totals.seconds = started.elapsed().as_secs_f64();
    let server_errors = server.stop();
    if !server_errors.is_empty() {
        eprintln!("server errors logged during the {} run:", caller.name());
        for line in server_errors.iter().take(20) {
            eprintln!("  {line}");
        }
    }
    if !status.success() && totals.failures + totals.errors == 0 {
        totals.errors = 1; // schemathesis failed in a way the report does not count
    }
    if totals.failures + totals.errors == 0 {
        let _ = fs::remove_dir_all(&dir);
    } else {
        eprintln!("schemathesis's report of the {} run: {}", caller.name(), report.display());
    }
    Ok(totals)
}

/// What schemathesis counted, from its NDJSON event stream: one `ScenarioFinished` per
/// operation and phase (with the cases it ran), and `NonFatalError`s.
fn totals_of(report: &Path) -> Result<Totals> {
    let text = fs::read_to_string(report).map_err(|e| format!("{}: {e}", report.display()))?;
    let mut totals = Totals::default();
    let mut operations = std::collections::BTreeSet::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_default();
        let Some((kind, body)) = event.as_object().and_then(|o| o.iter().next()) else { continue };
        match kind.as_str() {
            "ScenarioFinished" => {
                if let Some(label) = body["recorder"]["label"].as_str() {
                    operations.insert(label.to_owned());
                }
                let cases = body["recorder"]["cases"].as_object();
                totals.cases += cases.map_or(0, |c| c.len() as u64);
                let checks = body["recorder"]["checks"].as_object();
                totals.failures += checks.map_or(0, |checks| {
                    checks
                        .values()
                        .flat_map(|list| list.as_array().into_iter().flatten())
                        .filter(|check| check["status"] == "failure")
                        .count() as u64
                });
            }
            "NonFatalError" => totals.errors += 1,
            _ => {}
        }
    }
    totals.operations = operations.len() as u64;
    Ok(totals)
}

/// The token the run authenticates with, set up through the API itself.
fn credential(caller: Caller, port: u16) -> Result<String> {
    let admin = login(port, "admin@localhost", "admin123")?;
    match caller {
        Caller::Admin => api_token(port, &admin, "read_write"),
        Caller::ReadToken => api_token(port, &admin, "read"),
        Caller::User => {
            let user = json!({
                "email": "fuzz-user@localhost",
                "first_name": "Fuzz",
                "last_name": "User",
                "role": "user",
                "password": "fuzz-user-password",
            });
            let (status, body) = request(port, "POST", "/api/v1/users", Some(&admin), Some(&user))?;
            if status != 201 {
                return Err(format!("creating the fuzz user: {status} {body}"));
            }
            login(port, "fuzz-user@localhost", "fuzz-user-password")
        }
    }
}

fn login(port: u16, email: &str, password: &str) -> Result<String> {
    let body = json!({ "tenant": "localhost", "email": email, "password": password });
    let (status, answer) = request(port, "POST", "/api/v1/auth/login", None, Some(&body))?;
    match answer["token"].as_str() {
        Some(token) if status == 200 => Ok(token.to_owned()),
        _ => Err(format!("signing in as {email}: {status} {answer}")),
    }
}

fn api_token(port: u16, session: &str, scope: &str) -> Result<String> {
    let body = json!({ "name": format!("fuzz {scope}"), "scope": scope, "expires_in_days": 1 });
    let (status, answer) = request(port, "POST", "/api/v1/tokens", Some(session), Some(&body))?;
    match answer["token"].as_str() {
        Some(token) if status == 201 => Ok(token.to_owned()),
        _ => Err(format!("creating a {scope} token: {status} {answer}")),
    }
}

/// One HTTP/1.1 request to the server on loopback; the answer's status and JSON body.
fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| format!("{method} {path}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) =
        answer.split_once("\r\n\r\n").ok_or_else(|| format!("{method} {path}: no HTTP answer"))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// `prompt-manager` in local development mode on a free loopback port and a fresh SQLite file.
struct Server {
    port: u16,
    child: Child,
    errors: mpsc::Receiver<String>,
}

impl Server {
    fn start(binary: &Path, dir: &Path) -> Result<Self> {
        let mut child = Command::new(binary)
            .current_dir(dir)
            .env_clear()
            .env("PATH", env::var_os("PATH").unwrap_or_default())
            .envs([
                ("LOCAL_DEV_MODE", "true"),
                ("SERVER_HOST", "127.0.0.1"),
                ("SERVER_PORT", "0"),
                ("LOG_FORMAT", "json"),
                // Nothing the fuzzer creates may make the server call another machine.
                ("AI_ALLOW_PRIVATE_NETWORKS", "false"),
                // The general request limit would answer most cases with 429 (documented, but
                // then the fuzzer tests the limiter instead of the routes).
                ("RATE_LIMIT_PER_MINUTE", "0"),
                ("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "0"),
            ])
            .env("DB_PATH", dir.join("fuzz.db"))
            .env("WEB_DIST_DIR", dir.join("no-web-app"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().ok_or("no server log")?;
        let (port_tx, port_rx) = mpsc::channel();
        let (error_tx, errors) = mpsc::channel();
        // Reads the JSON log: the port it listens on, then every ERROR line (internal errors).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|line| line.ok()) {
                let event: Value = serde_json::from_str(&line).unwrap_or_default();
                if event["message"] == "AI Prompt Manager is listening" {
                    let _ = port_tx.send(event["port"].as_u64().unwrap_or(0));
                } else if event["level"] == "ERROR" && event["target"] != "actix_http::h1::dispatcher" {
                    // (actix logs requests it cannot parse, answered 400, as errors too)
                    let _ = error_tx.send(line);
                }
            }
        });
        let port = port_rx.recv_timeout(Duration::from_secs(60)).map_err(|_| "the server did not start")?;
        let port = u16::try_from(port).map_err(|_| "the server logged no port")?;
        Ok(Self { port, child, errors })
    }

    /// Stops the server; the ERROR lines it logged.
    fn stop(mut self) -> Vec<String> {
        self.kill();
        // The log reader sees the pipe close once the process is gone.
        std::thread::sleep(Duration::from_millis(200));
        self.errors.try_iter().collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Where `cargo build -p api` puts the server binary.
pub fn server_binary(target: &Path) -> PathBuf {
    target.join("debug/prompt-manager")
}
