//! The `prompt-manager` binary as an operator runs it: configuration errors, `migrate`,
//! JSON logs and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use persistence::testing::{operator, scope_of};

use crate::support::TEST_SECRET_KEY;

const BIN: &str = env!("CARGO_BIN_EXE_prompt-manager");

/// The binary with a clean environment (no inherited settings, no `.env` from the repo).
fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().current_dir(dir).env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

fn refuses(dir: &std::path::Path, vars: &[(&str, &str)], variable: &str) {
    let output = command(dir).args(["serve"]).envs(vars.iter().copied()).output().unwrap();
    assert!(!output.status.success(), "{vars:?} must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<_> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(lines[0].starts_with("error: invalid configuration: "), "{stderr}");
    assert!(lines[0].contains(variable), "{variable} named in: {stderr}");
}

#[test]
fn bad_configuration_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = ("SECRET_KEY", TEST_SECRET_KEY);
    refuses(dir.path(), &[key, ("DB_TYPE", "mysql")], "DB_TYPE");
    refuses(dir.path(), &[key, ("DB_TYPE", "postgres")], "POSTGRES_DSN");
    refuses(dir.path(), &[key, ("SERVER_PORT", "99999")], "SERVER_PORT");
    refuses(dir.path(), &[], "SECRET_KEY");
    refuses(dir.path(), &[("SECRET_KEY", "your-secure-secret-key")], "SECRET_KEY");
    // The seeded admin123 administrator is never exposed beyond loopback.
    refuses(dir.path(), &[("LOCAL_DEV_MODE", "true"), ("SERVER_HOST", "0.0.0.0")], "SERVER_HOST");
    assert!(!dir.path().join("prompts.db").exists(), "nothing is created before the config is valid");
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let status = command(dir.path())
        .arg("migrate")
        .env("SECRET_KEY", TEST_SECRET_KEY)
        .env("DB_PATH", "fresh.db")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(dir.path().join("fresh.db").exists());
}

#[test]
fn serves_json_logs_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let dsn_password = "pw-that-must-not-be-logged";
    let mut child = command(dir.path())
        .envs([
            ("SECRET_KEY", TEST_SECRET_KEY),
            ("SERVER_HOST", "127.0.0.1"),
            ("SERVER_PORT", "0"),
            ("LOG_FORMAT", "json"),
            ("SSO_CLIENT_SECRET", dsn_password),
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let port = listening_port(&mut lines, &mut seen);
    let connection = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(connection.is_ok(), "the logged port accepts connections");
    drop(connection); // an open connection would hold graceful shutdown for its full timeout
    // The container's health check: 0 while the server answers, 1 once it is gone.
    let healthcheck = || {
        let port = port.to_string();
        let vars = [("SECRET_KEY", TEST_SECRET_KEY), ("SERVER_HOST", "0.0.0.0"), ("SERVER_PORT", &port)];
        command(dir.path()).arg("healthcheck").envs(vars).output().unwrap()
    };
    let healthy = healthcheck();
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful stop exits 0, got {status}");
    let unhealthy = healthcheck();
    assert_eq!(unhealthy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unhealthy.stderr).contains("/healthz did not answer"));
    seen.extend(lines.map_while(Result::ok));
    let log = seen.join("\n");
    assert!(log.contains("\"stopped\""), "{log}");
    for secret in [TEST_SECRET_KEY, dsn_password] {
        assert!(!log.contains(secret), "a secret leaked into the logs");
    }
}

/// Reads JSON log lines (each must be one JSON object) into `seen` up to the start-up line, and
/// returns the port it names.
fn listening_port(lines: &mut impl Iterator<Item = std::io::Result<String>>, seen: &mut Vec<String>) -> u16 {
    loop {
        let line = lines.next().expect("the server logs before it exits").unwrap();
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        seen.push(line);
        if event["message"] == "AI Prompt Manager is listening" {
            return event["port"].as_u64().unwrap() as u16;
        }
    }
}

/// A self-signed certificate for 127.0.0.1 and its key (openssl CLI): (cert path, key path).
fn loopback_certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{name}-cert.pem")), dir.join(format!("{name}-key.pem")));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "2", "-subj", "/CN=prompt-manager test", "-addext", "subjectAltName=IP:127.0.0.1"])
        // A server certificate, not a CA (which clients refuse to meet as a server).
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| panic!("the TLS test needs the openssl command: {e}"));
    assert!(output.status.success(), "openssl failed: {}", String::from_utf8_lossy(&output.stderr));
    (cert, key)
}

/// With TLS_CERT_FILE and TLS_KEY_FILE the server speaks HTTPS itself (with HSTS), plain HTTP
/// gets no answer, the health check asks over HTTPS, and files that are missing or do not go
/// together stop the start with one line.
#[tokio::test]
async fn serves_https_natively_with_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = loopback_certificate(dir.path(), "server");
    let (_, other_key) = loopback_certificate(dir.path(), "other");
    let (cert, key, other_key) = (cert.to_str().unwrap(), key.to_str().unwrap(), other_key.to_str().unwrap());
    let base = [("SECRET_KEY", TEST_SECRET_KEY), ("SERVER_HOST", "127.0.0.1"), ("LOG_FORMAT", "json")];

    for (cert_file, key_file, said) in [
        (cert, other_key, "do not go together"),
        (cert, "/nonexistent/key.pem", "/nonexistent/key.pem"),
        (key, key, "holds no PEM certificate"),
    ] {
        let output = command(dir.path())
            .envs(base)
            .envs([("SERVER_PORT", "0"), ("TLS_CERT_FILE", cert_file), ("TLS_KEY_FILE", key_file)])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{cert_file} with {key_file} must not start");
        assert!(stderr.contains("TLS: ") && stderr.contains(said), "{said:?} in: {stderr}");
    }

    let mut child = command(dir.path())
        .envs(base)
        .envs([("SERVER_PORT", "0"), ("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kept open to the end: the server logs to it.
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let port = listening_port(&mut log, &mut Vec::new());
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap())
        .build()
        .unwrap();
    let response = trusting.get(format!("https://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"), "HSTS over direct TLS");
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err_and(|e| !e.is_status()), "plain HTTP gets no HTTP answer");
    let port = port.to_string();
    let healthcheck = command(dir.path())
        .arg("healthcheck")
        .envs(base)
        .envs([("SERVER_PORT", port.as_str()), ("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)])
        .output()
        .unwrap();
    assert!(healthcheck.status.success(), "{}", String::from_utf8_lossy(&healthcheck.stderr));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs the binary against a SQLite file in `dir`; returns (exit code, stdout, stderr).
fn admin_command(
    dir: &std::path::Path,
    args: &[&str],
    password: Option<&str>,
    stdin: &str,
) -> (i32, String, String) {
    use std::io::Write;
    let mut cmd = command(dir);
    cmd.args(args).env("SECRET_KEY", TEST_SECRET_KEY).env("DB_PATH", "admin.db").env("RUST_LOG", "warn");
    if let Some(password) = password {
        cmd.env("PROMPT_MANAGER_PASSWORD", password);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[tokio::test]
async fn operators_manage_tenants_and_users_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let run =
        |args: &[&str], password: Option<&str>, stdin: &str| admin_command(dir.path(), args, password, stdin);

    let (code, out, _) =
        run(&["tenant", "create", "--name", "Acme", "--subdomain", "acme", "--max-users", "5"], None, "");
    assert_eq!(code, 0);
    assert!(out.starts_with("created tenant acme"), "{out}");
    let (code, _, err) = run(&["tenant", "create", "--name", "Again", "--subdomain", "acme"], None, "");
    assert_eq!(code, 2, "a refused request exits 2");
    assert!(err.contains("subdomain: is already taken"), "{err}");
    let (code, _, err) = run(&["tenant", "create", "--name", "Bad", "--subdomain", "Not Valid"], None, "");
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    let (_, out, _) = run(&["tenant", "list"], None, "");
    assert!(out.lines().any(|l| l.starts_with("acme\tAcme\ttrue\t5\t")), "{out}");

    let create = ["user", "create", "--tenant", "acme", "--email", "Ops@Acme.test", "--role", "admin"];
    let (code, out, err) = run(&create, Some("from-the-environment"), "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created admin user ops@acme.test"), "{out}");
    let (code, _, _) =
        run(&["user", "create", "--tenant", "acme", "--email", "x@acme.test", "--role", "root"], None, "");
    assert_eq!(code, 2, "clap refuses an unknown role");
    let (code, _, err) = run(
        &["user", "create", "--tenant", "nowhere", "--email", "x@y.test", "--role", "user"],
        Some("long enough"),
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("no tenant \"nowhere\""), "{err}");

    let (code, _, err) = run(
        &["user", "reset-password", "--tenant", "acme", "--email", "ops@acme.test"],
        None,
        "typed-on-stdin\n",
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = run(
        &["user", "set-role", "--tenant", "acme", "--email", "ops@acme.test", "--role", "readonly"],
        None,
        "",
    );
    assert_eq!(code, 2, "the last admin cannot be demoted: {out}");
    let (code, _, _) = run(
        &["user", "create", "--tenant", "acme", "--email", "two@acme.test", "--role", "admin", "--sso-only"],
        None,
        "",
    );
    assert_eq!(code, 0);
    let (code, out, _) = run(
        &["user", "set-role", "--tenant", "acme", "--email", "ops@acme.test", "--role", "readonly"],
        None,
        "",
    );
    assert_eq!((code, out.trim()), (0, "ops@acme.test is now readonly"));
    let (_, out, _) = run(&["user", "list", "--tenant", "acme"], None, "");
    let rows: Vec<_> = out.lines().map(|l| l.split('\t').take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(rows, ["ops@acme.test readonly true", "two@acme.test admin true"]);

    // What the commands wrote is what the server reads: the password from stdin verifies.
    let settings = persistence::DatabaseSettings::Sqlite { path: dir.path().join("admin.db"), pool_size: 1 };
    let db = persistence::Database::connect(&settings).await.unwrap();
    let acme = db
        .system(operator())
        .tenant_by_subdomain(&domain::tenant::Subdomain::parse("acme").unwrap())
        .await
        .unwrap()
        .unwrap();
    let email = domain::user::Email::parse("ops@acme.test").unwrap();
    let ops = db.tenant(scope_of(&acme)).user_by_email(&email).await.unwrap().unwrap();
    let hash = db.tenant(scope_of(&acme)).password_hash(ops.id).await.unwrap();
    let verified = auth::password::PasswordHasher::default().verify("typed-on-stdin", hash.unwrap().expose());
    assert!(matches!(verified, auth::password::Verification::Valid { .. }));
    let actions: Vec<_> = db
        .tenant(scope_of(&acme))
        .list_audit(20)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.action.as_str(), e.actor))
        .collect();
    assert!(actions.contains(&("user.password_reset", domain::audit::Actor::System)), "{actions:?}");
}
