//! `spawn_app`: a server on a free loopback port with its own database and web app folder.

use std::path::Path;

use api::config::Settings;
use api::startup::Application;
use auth::password::PasswordHasher;
use auth::session_token::{SessionClaims, SessionTokens};
use chrono::Utc;
use domain::Secret;
use domain::session::{NewApiToken, TokenScope};
use domain::tenant::{NewTenant, Subdomain, Tenant, TenantName};
use domain::user::{Email, NewUser, Role, User};
use persistence::ClientInfo;
use persistence::testing::{TestDatabase, operator, scope_of};
use tempfile::TempDir;

pub const TEST_SECRET_KEY: &str = "test-secret-key-0123456789abcdef0123456789";
pub const INDEX_HTML: &str = "<!doctype html><title>AI Prompt Manager</title><p>app shell</p>";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    pub dir: TempDir,
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Options for [`spawn`].
pub struct Spawn {
    pub backend: Backend,
    pub local_dev_mode: bool,
    /// More settings, e.g. `("LOGIN_MAX_FAILURES", "3")`.
    pub vars: Vec<(&'static str, &'static str)>,
}

impl Default for Spawn {
    fn default() -> Self {
        Self { backend: Backend::Sqlite, local_dev_mode: false, vars: Vec::new() }
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
    std::fs::write(dir.path().join("dist/app.js"), "export default function init() {}").unwrap();
    let address = start_server_with(&db, dir.path(), options.local_dev_mode, &options.vars).await;
    TestApp { address, client: reqwest::Client::new(), db, dir }
}

/// Starts (another) server on `db`; `dir` holds `dist/` and, in local dev, the key file.
pub async fn start_server(db: &TestDatabase, dir: &Path, local_dev_mode: bool) -> String {
    start_server_with(db, dir, local_dev_mode, &[]).await
}

async fn start_server_with(
    db: &TestDatabase,
    dir: &Path,
    local_dev_mode: bool,
    extra: &[(&str, &str)],
) -> String {
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
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let mut settings = Settings::from_vars(vars.into_iter().map(|(k, v)| (k.to_owned(), v))).unwrap();
    settings.database = db.settings().clone();
    let app = Application::build(settings).await.expect("the server starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.address)).send().await.unwrap()
    }

    /// A request with an optional bearer credential and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn get_as(&self, path: &str, bearer: &str) -> reqwest::Response {
        self.call(reqwest::Method::GET, path, Some(bearer), None).await
    }

    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> reqwest::Response {
        let body = serde_json::json!({ "tenant": tenant, "email": email, "password": password });
        self.call(reqwest::Method::POST, "/api/v1/auth/login", None, Some(body)).await
    }

    /// Signs in and returns the session token.
    pub async fn token_for(&self, tenant: &str, email: &str, password: &str) -> String {
        let response = self.login(tenant, email, password).await;
        assert_eq!(response.status(), 200, "sign-in of {email}");
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// The tenant with this subdomain, created when missing.
    pub async fn tenant(&self, subdomain: &str) -> Tenant {
        let db = self.db.database();
        let subdomain = Subdomain::parse(subdomain).unwrap();
        if let Some(tenant) = db.system(operator()).tenant_by_subdomain(&subdomain).await.unwrap() {
            return tenant;
        }
        let new =
            NewTenant { name: TenantName::parse(subdomain.as_str()).unwrap(), subdomain, max_users: 100 };
        db.system(operator()).create_tenant(new, Utc::now()).await.unwrap()
    }

    /// A user with `password`, hashed at a low cost so tests stay fast (sign-in upgrades it).
    pub async fn user(&self, tenant: &Tenant, email: &str, role: Role, password: &str) -> User {
        let hash = PasswordHasher::with_rounds(1_000).unwrap().hash(password).unwrap();
        let new = NewUser {
            email: Email::parse(email).unwrap(),
            first_name: "Test".into(),
            last_name: role.to_string(),
            role,
            password_hash: Some(hash),
        };
        self.db.database().tenant(scope_of(tenant)).create_user(new, Utc::now()).await.unwrap()
    }

    /// A session token made directly (no PBKDF2), as sign-in would issue it.
    pub async fn session_token(&self, tenant: &Tenant, user: &User) -> String {
        let now = Utc::now();
        let expires = now + chrono::Duration::hours(1);
        let repo = self.db.database().tenant(scope_of(tenant));
        let session = repo.create_session(user.id, expires, None, &ClientInfo::default(), now).await.unwrap();
        let claims = SessionClaims::new(user.id, tenant.id, user.role, session.id, now, expires);
        SessionTokens::new(&Secret::new(TEST_SECRET_KEY.to_owned())).unwrap().sign(&claims).unwrap()
    }

    /// An API token stored directly.
    pub async fn api_token(&self, tenant: &Tenant, user: &User, scope: TokenScope) -> String {
        let generated = auth::api_token::generate();
        let new = NewApiToken {
            user_id: user.id,
            name: "test".into(),
            prefix: generated.prefix,
            token_hash: generated.hash,
            scope,
            expires_at: None,
        };
        self.db.database().tenant(scope_of(tenant)).create_api_token(new, Utc::now()).await.unwrap();
        generated.secret.expose().clone()
    }

    /// The tenant's audit actions, newest first.
    pub async fn audit_actions(&self, tenant: &Tenant) -> Vec<String> {
        let events = self.db.database().tenant(scope_of(tenant)).list_audit(500).await.unwrap();
        events.iter().map(|e| e.action.as_str().to_owned()).collect()
    }
}

/// Runs each listed `async fn(Backend)` on SQLite and on PostgreSQL.
macro_rules! on_both_databases {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $test() { super::$test($crate::support::Backend::Sqlite).await; } )+
        }
        mod postgres {
            $( #[tokio::test] async fn $test() { super::$test($crate::support::Backend::Postgres).await; } )+
        }
    };
}
pub(crate) use on_both_databases;

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
