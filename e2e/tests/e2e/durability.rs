//! Durability: the server is killed with SIGKILL while eight writers create and edit prompts,
//! then started again on the same database. Every write it acknowledged (2xx) must be there
//! with the version it was acknowledged with, and every prompt must be whole: its current row
//! and its latest version row agree, and no version is missing. A write that was in flight may
//! or may not have landed — but never half. On SQLite (a file) and on PostgreSQL (a fresh
//! database; the test fails when the server is unreachable).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use persistence::DatabaseSettings;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::api::{ADMIN_EMAIL, ADMIN_PASSWORD, TENANT};
use crate::server;

const WRITERS: usize = 8;
/// Edits each writer makes to one prompt before it creates the next.
const EDITS_PER_PROMPT: u32 = 3;
/// The kill comes once this many writes were acknowledged, so it lands mid-flight.
const ACKNOWLEDGED_BEFORE_KILL: usize = 120;
/// Each writer stops by itself after this many writes (the kill normally comes long before).
const MAX_WRITES_PER_WRITER: usize = 400;
/// Fixed, so sessions issued before the kill stay valid after the restart.
const SECRET_KEY: &str = "durability-test-key-0123456789-abcdefghijklmnop";

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("prompts.db");
    let env = vec![("DB_TYPE", "sqlite".to_owned()), ("DB_PATH", db_path.display().to_string())];
    writes_survive_sigkill(dir.path(), &env).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    let db = TestDatabase::postgres().await;
    let DatabaseSettings::Postgres { dsn, .. } = db.settings() else { unreachable!() };
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("DB_TYPE", "postgres".to_owned()), ("POSTGRES_DSN", dsn.expose().clone())];
    writes_survive_sigkill(dir.path(), &env).await;
}

/// What a writer sent for one prompt: the content of each version it asked for, and the
/// highest version the server acknowledged.
#[derive(Debug, Default, Clone)]
struct Written {
    id: Option<String>,
    sent: BTreeMap<u32, String>,
    acknowledged: u32,
}

async fn writes_survive_sigkill(dir: &Path, env: &[(&'static str, String)]) {
    let mut server = Process::start(dir, env);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let token = login(&http, &server.url).await;

    let written: Arc<Mutex<BTreeMap<String, Written>>> = Arc::default();
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (http, url, token) = (http.clone(), server.url.clone(), token.clone());
        let (written, acknowledged, down) = (written.clone(), acknowledged.clone(), down.clone());
        writers.push(tokio::spawn(async move {
            write_until_down(writer, &http, &url, &token, &written, &acknowledged, &down).await;
        }));
    }
    while acknowledged.load(Ordering::SeqCst) < ACKNOWLEDGED_BEFORE_KILL {
        assert!(!writers.iter().all(|w| w.is_finished()), "the writers stopped before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.sigkill();
    down.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }

    let server = Process::start(dir, env);
    let written = written.lock().await.clone();
    let acknowledged_writes: u32 = written.values().map(|w| w.acknowledged).sum();
    assert!(acknowledged_writes as usize >= ACKNOWLEDGED_BEFORE_KILL, "{acknowledged_writes}");
    let mut in_flight_landed = 0;
    for (name, prompt) in &written {
        let path = format!("/api/v1/prompts/{}", name.replace('/', "%2F"));
        let (status, current) = get(&http, &server.url, &token, &path).await;
        if prompt.acknowledged == 0 && status == 404 {
            continue; // a create that was in flight and did not land
        }
        assert_eq!(status, 200, "acknowledged prompt {name} is missing after the restart: {current}");
        if prompt.acknowledged > 0 {
            assert_eq!(current["id"].as_str(), prompt.id.as_deref(), "{name}");
        }
        let version = u32::try_from(current["version"].as_u64().unwrap()).unwrap();
        // The acknowledged version, or the one write that was in flight when the server died.
        assert!(
            version == prompt.acknowledged || version == prompt.acknowledged + 1,
            "{name}: stored version {version}, acknowledged {}",
            prompt.acknowledged
        );
        in_flight_landed += usize::from(version > prompt.acknowledged);
        assert_eq!(current["content"].as_str(), prompt.sent.get(&version).map(String::as_str), "{name}");
        // Every version row is there with what was sent for it; the latest is the current row.
        for n in 1..=version {
            let (status, row) = get(&http, &server.url, &token, &format!("{path}/versions/{n}")).await;
            assert_eq!(status, 200, "{name} version {n}: {row}");
            assert_eq!(row["version"], n, "{name}");
            assert_eq!(row["content"].as_str(), prompt.sent.get(&n).map(String::as_str), "{name} v{n}");
        }
        let (status, _) = get(&http, &server.url, &token, &format!("{path}/versions/{}", version + 1)).await;
        assert_eq!(status, 404, "{name}: a version row beyond the current one");
    }
    // Nothing else was stored: every prompt of the writers' tag is one they sent.
    let (status, list) = get(&http, &server.url, &token, "/api/v1/prompts?tag=durability&limit=500").await;
    assert_eq!(status, 200, "{list}");
    for item in list["items"].as_array().unwrap() {
        let name = item["name"].as_str().unwrap();
        assert!(written.contains_key(name), "an unknown prompt {name} appeared");
    }
    eprintln!(
        "durability: {acknowledged_writes} acknowledged writes on {} prompts survived SIGKILL; \
         {in_flight_landed} in-flight writes landed whole",
        written.len()
    );
}

/// One writer: creates a prompt, edits it a few times, creates the next, until the server is
/// gone. Records what it sent before sending it, and each acknowledgement after.
async fn write_until_down(
    writer: usize,
    http: &reqwest::Client,
    url: &str,
    token: &str,
    written: &Mutex<BTreeMap<String, Written>>,
    acknowledged: &AtomicUsize,
    down: &AtomicBool,
) {
    let mut writes = 0;
    for prompt in 0.. {
        let name = format!("durability/w{writer}-p{prompt}");
        let content = |version: u32| format!("writer {writer}, prompt {prompt}, version {version}");
        written.lock().await.entry(name.clone()).or_default().sent.insert(1, content(1));
        let body = json!({ "name": name, "content": content(1), "tags": ["durability"] });
        let created = http.post(format!("{url}/api/v1/prompts")).bearer_auth(token).json(&body).send().await;
        let Ok(created) = created else { return };
        let status = created.status().as_u16();
        let Ok(answer) = created.json::<Value>().await else { return };
        assert!(status == 201 || down.load(Ordering::SeqCst), "creating {name}: {status} {answer}");
        if status != 201 {
            return;
        }
        {
            let mut written = written.lock().await;
            let entry = written.get_mut(&name).unwrap();
            entry.id = answer["id"].as_str().map(str::to_owned);
            entry.acknowledged = 1;
        }
        acknowledged.fetch_add(1, Ordering::SeqCst);
        writes += 1;
        for version in 1..=EDITS_PER_PROMPT {
            let next = version + 1;
            written.lock().await.get_mut(&name).unwrap().sent.insert(next, content(next));
            let body = json!({ "content": content(next), "version": version, "commit_message": "edit" });
            let path = format!("{url}/api/v1/prompts/{}", name.replace('/', "%2F"));
            let Ok(edited) = http.patch(path).bearer_auth(token).json(&body).send().await else { return };
            let status = edited.status().as_u16();
            let Ok(answer) = edited.json::<Value>().await else { return };
            assert!(status == 200 || down.load(Ordering::SeqCst), "editing {name}: {status} {answer}");
            if status != 200 {
                return;
            }
            assert_eq!(answer["version"], next, "{name}");
            written.lock().await.get_mut(&name).unwrap().acknowledged = next;
            acknowledged.fetch_add(1, Ordering::SeqCst);
            writes += 1;
        }
        if writes >= MAX_WRITES_PER_WRITER || down.load(Ordering::SeqCst) {
            return;
        }
    }
}

async fn login(http: &reqwest::Client, url: &str) -> String {
    let body = json!({ "tenant": TENANT, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let response = http.post(format!("{url}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

async fn get(http: &reqwest::Client, url: &str, token: &str, path: &str) -> (u16, Value) {
    let response = http.get(format!("{url}{path}")).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The real binary on the given database, in local development mode (the seeded admin) with a
/// fixed key; the general request limit is off so the writers are never answered 429.
struct Process {
    url: String,
    child: Child,
}

impl Process {
    fn start(dir: &Path, env: &[(&'static str, String)]) -> Self {
        let fixed = [
            ("SECRET_KEY", SECRET_KEY.to_owned()),
            ("RATE_LIMIT_PER_MINUTE", "0".to_owned()),
            ("WEB_DIST_DIR", dir.join("no-web-app").display().to_string()),
        ];
        let env: Vec<(&str, String)> = fixed.into_iter().chain(env.iter().cloned()).collect();
        let (url, child) = server::spawn(dir, &env);
        Self { url, child }
    }

    /// `Child::kill` is SIGKILL on Unix: no shutdown handler runs, nothing is flushed.
    fn sigkill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
