//! `spawn_app`: a server on a free loopback port with its own database and web app folder.

use std::path::Path;

use api::config::Settings;
use api::startup::Application;
use persistence::testing::TestDatabase;
use tempfile::TempDir;

pub const TEST_SECRET_KEY: &str = "test-secret-key-0123456789abcdef0123456789";
pub const INDEX_HTML: &str = "<!doctype html><title>AI Prompt Manager</title><p>app shell</p>";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub dir: TempDir,
}

pub enum Backend {
    Sqlite,
    Postgres,
}

/// Options for [`spawn`].
pub struct Spawn {
    pub backend: Backend,
    pub local_dev_mode: bool,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            local_dev_mode: false,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn(Spawn::default()).await
}

pub async fn spawn(options: Spawn) -> TestApp {
    let db = match options.backend {
        Backend::Sqlite => TestDatabase::sqlite().await,
        Backend::Postgres => TestDatabase::postgres().await,
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dist")).unwrap();
    std::fs::write(dir.path().join("dist/index.html"), INDEX_HTML).unwrap();
    std::fs::write(
        dir.path().join("dist/app.js"),
        "export default function init() {}",
    )
    .unwrap();
    let address = start_server(&db, dir.path(), options.local_dev_mode).await;
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        dir,
    }
}

/// Starts (another) server on `db`; `dir` holds `dist/` and, in local dev, the key file.
pub async fn start_server(db: &TestDatabase, dir: &Path, local_dev_mode: bool) -> String {
    let mut vars = vec![
        ("SERVER_HOST", "127.0.0.1".to_owned()),
        ("SERVER_PORT", "0".to_owned()),
        ("LOCAL_DEV_MODE", local_dev_mode.to_string()),
        ("DB_PATH", dir.join("prompts.db").display().to_string()),
        ("WEB_DIST_DIR", dir.join("dist").display().to_string()),
    ];
    if !local_dev_mode {
        vars.push(("SECRET_KEY", TEST_SECRET_KEY.to_owned()));
    }
    let mut settings = Settings::from_vars(vars.into_iter().map(|(k, v)| (k.to_owned(), v))).unwrap();
    settings.database = db.settings().clone();
    let app = Application::build(settings).await.expect("the server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
    }
}

/// Asserts an RFC 9457 problem response and returns its body.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().ends_with(code));
    assert!(body["title"].is_string());
    body
}
