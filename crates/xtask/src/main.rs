//! `cargo xtask <task>`: the project's task runner. Each task installs what it needs (the
//! wasm32 target, wasm-bindgen, Chromium) so the two README commands work on a fresh machine.

use std::env;
use std::fs;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

mod fuzz;
mod peers;

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  run        build the web app, then run the server on http://localhost:7860
             (LOCAL_DEV_MODE=true unless set in the environment or .env)
  test       everything CI runs: formatting, lints, licences and sources (cargo deny), web app
             build, all tests on SQLite, PostgreSQL and headless Chromium, then `fuzz`
  fuzz       schemathesis over the whole OpenAPI document as an admin, a user and a read token
  frontend   build the web app into frontend/dist
  openapi    regenerate openapi/openapi.json from the code and validate it
  bench      run the benchmarks (criterion, a wrk load test of the prompt library, the run
             endpoint's added latency and streaming memory) and print the ratios they are
             judged by
  screenshots  refresh docs/screenshots by running the browser tests
  deploy-check  validate deploy/k8s and deploy/docker-compose.yml offline (part of `test`)
  peers      build/fetch the real peers the tests use (llama-server and its model; the OpenID
             provider, SAML IdP and MCP TypeScript SDK from npm)";

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// cargo-deny, installed once into ~/.cargo/bin from crates.io.
const CARGO_DENY: &str = "0.20.2";
const DEFAULT_TEST_POSTGRES: &str = "127.0.0.1:5432";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let task = env::args().nth(1).unwrap_or_default();
    let outcome = match task.as_str() {
        "run" => run(),
        "test" => test(),
        "fuzz" => fuzz(),
        "frontend" => frontend().map(|_| ()),
        "openapi" => openapi(),
        "bench" => bench(),
        "screenshots" => screenshots(),
        "deploy-check" => peers::validate_deployment(&workspace_root().join("deploy")),
        "peers" => peers::ensure_llama_server()
            .and_then(|()| peers::ensure_sso_peers())
            .and_then(|()| peers::ensure_webhook_verifier())
            .and_then(|()| peers::ensure_mcp_client()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {task}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result {
    ensure_native_libraries()?;
    frontend()?;
    let root = workspace_root();
    let mut server = cargo();
    server.args(["run", "--release", "-p", "api", "--bin", "prompt-manager", "--", "serve"]);
    if env::var_os("LOCAL_DEV_MODE").is_none() && !root.join(".env").exists() {
        server.env("LOCAL_DEV_MODE", "true");
    }
    step("starting the server on http://localhost:7860 (Ctrl-C stops it)");
    exec(&mut server)
}

fn test() -> Result {
    let started = Instant::now();
    ensure_postgres()?;
    // The backup tests run the commands README gives for both databases.
    ensure_packages(
        &["/usr/bin/sqlite3", "/usr/bin/pg_dump", "/usr/bin/pg_restore"],
        &["sqlite3", "postgresql-client"],
    )?;
    ensure_chromium()?;
    ensure_native_libraries()?;
    peers::ensure_llama_server()?;
    peers::ensure_sso_peers()?;
    peers::ensure_webhook_verifier()?;
    peers::ensure_mcp_client()?;
    step("checking formatting");
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    peers::validate_openapi(&workspace_root().join("openapi/openapi.json"))?;
    peers::validate_deployment(&workspace_root().join("deploy"))?;
    step("linting the server crates");
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "frontend",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    ensure_cargo_deny()?;
    // Not `advisories`: the RustSec database is a git repository on GitHub, out of reach here.
    step("checking dependency licences, bans and sources (cargo deny)");
    exec(cargo().args(["deny", "--workspace", "check", "licenses", "bans", "sources"]))?;
    ensure_wasm_tools()?;
    step("linting the web app");
    exec(cargo().args(["clippy", "-p", "frontend", "--target", WASM_TARGET, "--", "-D", "warnings"]))?;
    frontend()?;
    step("running every test (SQLite, PostgreSQL, headless Chromium)");
    exec(cargo().args(["test", "--workspace", "--exclude", "frontend"]))?;
    // The web app's own unit tests (its pure helpers) run natively, apart: the workspace run
    // leaves it out because it is built for wasm32.
    step("running the web app's unit tests");
    exec(cargo().args(["test", "-p", "frontend"]))?;
    fuzz()?;
    step(&format!("all checks passed in {:.0?}", started.elapsed()));
    Ok(())
}

/// schemathesis over the whole API as three kinds of caller, against the debug server binary.
fn fuzz() -> Result {
    ensure_native_libraries()?;
    let st = peers::schemathesis()?;
    exec(cargo().args(["build", "-p", "api", "--bin", "prompt-manager"]))?;
    fuzz::run(&fuzz::server_binary(&target_dir()), &st)
}

/// Runs the browser tests against a fresh build, saving their screenshots in `docs/screenshots`.
fn screenshots() -> Result {
    ensure_chromium()?;
    ensure_native_libraries()?;
    peers::ensure_sso_peers()?;
    frontend()?;
    exec(cargo().args(["build", "-p", "api"]))?;
    let dir = workspace_root().join("docs/screenshots");
    exec(cargo().args(["test", "-p", "e2e"]).env("E2E_SCREENSHOT_DIR", &dir))?;
    step(&format!("screenshots refreshed in {}; look at them before committing", dir.display()));
    Ok(())
}

/// Builds the Leptos app for wasm32 and lays out `frontend/dist`; returns the dist folder.
fn frontend() -> Result<PathBuf> {
    ensure_wasm_tools()?;
    let root = workspace_root();
    step("building the web app (wasm32)");
    exec(cargo().args(["build", "-p", "frontend", "--target", WASM_TARGET, "--profile", "wasm-release"]))?;
    let dist = root.join("frontend/dist");
    if dist.exists() {
        fs::remove_dir_all(&dist).map_err(|e| format!("cannot clear {}: {e}", dist.display()))?;
    }
    let wasm = target_dir().join(WASM_TARGET).join("wasm-release/frontend.wasm");
    exec(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-name", "app", "--out-dir"])
            .arg(&dist)
            .arg(&wasm),
    )?;
    for file in ["index.html", "boot.js", "style.css"] {
        fs::copy(root.join("frontend").join(file), dist.join(file))
            .map_err(|e| format!("cannot copy {file}: {e}"))?;
    }
    let bundle = dist.join("app_bg.wasm");
    let raw = fs::metadata(&bundle).map_err(|e| e.to_string())?.len();
    let gzipped = gzip_size(&bundle);
    step(&format!(
        "web app built in {}: app_bg.wasm {} KB ({} KB gzip)",
        dist.display(),
        raw / 1024,
        gzipped.map_or("?".to_owned(), |g| (g / 1024).to_string())
    ));
    Ok(dist)
}

/// Benchmarks, then the ratios that matter, from criterion's estimates of this run.
fn bench() -> Result {
    ensure_postgres()?;
    ensure_native_libraries()?;
    peers::ensure_llama_server()?;
    // The library load test drives the server with a real HTTP load generator.
    ensure_packages(&["/usr/bin/wrk"], &["wrk"])?;
    exec(cargo().args([
        "bench",
        "-p",
        "api",
        "--bench",
        "login_burst",
        "--bench",
        "analytics",
        "--bench",
        "library_load",
        "--bench",
        "ai_run",
        "--bench",
        "render",
    ]))?;
    let estimate = |id: &str, statistic: &str| -> Result<f64> {
        let path = target_dir().join("criterion").join(id).join("new/estimates.json");
        let json = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let estimates: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        estimates[statistic]["point_estimate"]
            .as_f64()
            .ok_or_else(|| format!("no {statistic} in {}", path.display()))
    };
    let mean = |id: &str| estimate(id, "mean");
    let (hash, sign_in) = (mean("password/hash_600k")?, mean("sign_in/one")?);
    let (idle, busy) = (mean("me/idle")?, mean("me/during_20_sign_ins")?);
    step(&format!(
        "PBKDF2 hash at 600,000 rounds: {:.1} ms; one sign-in end to end: {:.1} ms",
        hash / 1e6,
        sign_in / 1e6
    ));
    step(&format!(
        "GET /api/v1/auth/me: {:.3} ms idle, {:.3} ms during 20 concurrent sign-ins, ratio {:.2}",
        idle / 1e6,
        busy / 1e6,
        busy / idle
    ));
    for backend in ["sqlite", "postgres"] {
        // criterion stores "group/name/backend" as "group/name_backend".
        let analytics = mean(&format!("analytics/tenant_100k_prompts_1k_users_{backend}"))?;
        step(&format!(
            "GET /api/v1/analytics, 100,000 prompts and 1,000 users, {backend}: {:.1} ms",
            analytics / 1e6
        ));
    }
    let (logic, basic) = (
        estimate("render/chat_50_logic_with_includes", "median")?,
        estimate("render/chat_50_basic", "median")?,
    );
    step(&format!(
        "render, 50-message chat prompt: logic with conditionals, a loop and 2 includes {:.0} µs p50 \
         (target ≤ 1 ms); the same messages as basic templates {:.0} µs; ratio {:.1}",
        logic / 1e3,
        basic / 1e3,
        logic / basic
    ));
    // The load test printed its table; restate the ratios it is judged by.
    let path = target_dir().join("bench/library_load.json");
    let load: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?)
            .map_err(|e| e.to_string())?;
    for backend in ["sqlite", "postgres"] {
        let run = &load[backend];
        let rps = |key: &str| run[key]["requests_per_second"].as_f64().unwrap_or(f64::NAN);
        step(&format!(
            "{backend}, 1M prompts: fetch by name {:.0} req/s (p99 {:.2} ms) = {:.2} of bare actix ({:.0} req/s); \
             search p95 {:.2} ms",
            rps("fetch_by_name"),
            run["fetch_by_name"]["p99_ms"].as_f64().unwrap_or(f64::NAN),
            rps("fetch_by_name") / rps("bare"),
            rps("bare"),
            run["search"]["p95_ms"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    // The AI run bench printed its tables; restate what it is judged by.
    let path = target_dir().join("bench/ai_run.json");
    let ai: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?)
            .map_err(|e| e.to_string())?;
    let figure = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN);
    let latency = &ai["latency"];
    step(&format!(
        "run endpoint adds {:.2} ms at p50 over calling the provider directly \
         (provider p50 {:.2} ms, run p50 {:.2} ms; target ≤ 2 ms)",
        figure(&latency["added_p50_ms"]),
        figure(&latency["provider_direct"]["p50_ms"]),
        figure(&latency["run"]["p50_ms"]),
    ));
    let streams = &ai["streams"];
    step(&format!(
        "50 concurrent streams: RSS {:.1} MB → peak {:.1} MB (+{:.1} MB, target ≤ 50 MB) → after {:.1} MB",
        figure(&streams["baseline_mb"]),
        figure(&streams["peak_mb"]),
        figure(&streams["growth_mb"]),
        figure(&streams["after_mb"]),
    ));
    Ok(())
}

fn openapi() -> Result {
    ensure_native_libraries()?;
    let output =
        cargo().args(["run", "--quiet", "-p", "api", "--bin", "prompt-manager", "--", "openapi"]).output();
    let output = output.map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let path = workspace_root().join("openapi/openapi.json");
    fs::write(&path, &output.stdout).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    step(&format!("wrote {}", path.display()));
    peers::validate_openapi(&path)
}

/// The wasm32 target and the wasm-bindgen CLI matching the version in Cargo.lock.
fn ensure_wasm_tools() -> Result {
    let installed =
        capture(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|line| line.trim() == WASM_TARGET) {
        step("installing the wasm32 target");
        exec(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    let wanted = locked_version("wasm-bindgen")?;
    let have = capture(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(wanted.as_str()) {
        step(&format!("installing wasm-bindgen-cli {wanted} (a few minutes, once)"));
        // Not --locked: its lock file names a crate version the registry mirror here lacks.
        exec(cargo().args(["install", "wasm-bindgen-cli", "--version", &wanted]))?;
    }
    Ok(())
}

/// cargo-deny at the pinned version, from crates.io (`--locked`: its own lock file resolves here).
fn ensure_cargo_deny() -> Result {
    let have = capture(cargo().args(["deny", "--version"])).unwrap_or_default();
    if have.split_whitespace().nth(1) != Some(CARGO_DENY) {
        step(&format!("installing cargo-deny {CARGO_DENY} (a few minutes, once)"));
        exec(cargo().args(["install", "--locked", "cargo-deny", "--version", CARGO_DENY]))?;
    }
    Ok(())
}

/// The C libraries the server links for SAML signatures (libxml2, xmlsec with OpenSSL) and what
/// their bindings are generated with (libclang, pkg-config), from Debian's packages. Debian 12
/// ships libclang under llvm-14.
fn ensure_native_libraries() -> Result {
    ensure_packages(
        &[
            "/usr/include/xmlsec1/xmlsec/xmlsec.h",
            "/usr/lib/x86_64-linux-gnu/libxmlsec1-openssl.so",
            "/usr/include/libxml2/libxml/parser.h",
            "/usr/include/openssl/ssl.h",
            "/usr/lib/llvm-14/lib/libclang.so",
            "/usr/bin/pkg-config",
        ],
        &["libxml2-dev", "libxmlsec1-dev", "libxmlsec1-openssl", "libssl-dev", "libclang-dev", "pkg-config"],
    )
}

/// Headless Chromium and ChromeDriver for the browser tests, from Debian's packages.
fn ensure_chromium() -> Result {
    ensure_packages(&["/usr/bin/chromium", "/usr/bin/chromedriver"], &["chromium", "chromium-driver"])
}

/// Debian packages a task needs, installed once (as root) when any of their binaries is missing.
fn ensure_packages(binaries: &[&str], packages: &[&str]) -> Result {
    if binaries.iter().all(|binary| Path::new(binary).exists()) {
        return Ok(());
    }
    let list = packages.join(" ");
    let is_root = capture(Command::new("id").arg("-u")).is_some_and(|id| id.trim() == "0");
    if !is_root {
        return Err(format!("missing {list}: run `sudo apt-get install {list}`"));
    }
    step(&format!("installing {list} (once)"));
    exec(Command::new("apt-get").arg("update").arg("-qq"))?;
    exec(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// The test suite needs a real PostgreSQL server; start the local cluster if it is down.
fn ensure_postgres() -> Result {
    let address = postgres_address();
    if reachable(&address) {
        return Ok(());
    }
    if let Some(version) =
        fs::read_dir("/etc/postgresql").ok().and_then(|mut d| d.next()).and_then(|e| e.ok())
    {
        step("starting the local PostgreSQL cluster");
        let version = version.file_name().to_string_lossy().into_owned();
        let _ = exec(Command::new("pg_ctlcluster").args([
            "--skip-systemctl-redirect",
            &version,
            "main",
            "start",
        ]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if reachable(&address) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Err(format!(
        "PostgreSQL is not reachable at {address}. The tests need a real server: start one \
         (user postgres, trust auth) or set TEST_POSTGRES_URL."
    ))
}

/// `host:port` of TEST_POSTGRES_URL (postgres://user@host:port/db).
fn postgres_address() -> String {
    let Ok(url) = env::var("TEST_POSTGRES_URL") else {
        return DEFAULT_TEST_POSTGRES.to_owned();
    };
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") }
}

fn reachable(address: &str) -> bool {
    address
        .to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
}

/// A package's version as resolved in Cargo.lock.
fn locked_version(package: &str) -> Result<String> {
    let lock =
        fs::read_to_string(workspace_root().join("Cargo.lock")).map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{package}\"")
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    Err(format!("{package} is not in Cargo.lock"))
}

fn gzip_size(path: &Path) -> Option<u64> {
    let output = Command::new("gzip").args(["-9", "-c"]).arg(path).output().ok()?;
    output.status.success().then_some(output.stdout.len() as u64)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn exec(cmd: &mut Command) -> Result {
    let status = cmd.status().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{:?} failed ({status})", cmd.get_program())) }
}

fn capture(cmd: &mut Command) -> Option<String> {
    let output = cmd.output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

fn step(message: &str) {
    eprintln!("==> {message}");
}
