//! Health, readiness, the OpenAPI contract, docs UI, error documents, the web app and seeding.

use auth::password::{PasswordHasher, Verification};
use domain::tenant::Subdomain;
use domain::user::{Email, Role};
use persistence::testing::{operator, scope_of};
use sea_orm::ConnectionTrait;

use crate::support::{Backend, INDEX_HTML, Spawn, TestApp, expect_problem, spawn, spawn_app, start_server};

#[tokio::test]
async fn healthz_answers_with_version_and_request_id() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(request_id.len(), 36, "a UUID: {request_id}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));

    let other = app.get("/healthz").await;
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), request_id);
}

async fn readyz_reports_the_database(backend: Backend, expected: &str) {
    let app = spawn(Spawn { backend, ..Spawn::default() }).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, serde_json::json!({ "status": "ok", "database": expected }));
}

#[tokio::test]
async fn readyz_on_sqlite() {
    readyz_reports_the_database(Backend::Sqlite, "sqlite").await;
}

#[tokio::test]
async fn readyz_on_postgres() {
    readyz_reports_the_database(Backend::Postgres, "postgres").await;
}

#[tokio::test]
async fn readyz_is_503_when_the_database_goes_away() {
    let app = spawn(Spawn { backend: Backend::Postgres, ..Spawn::default() }).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    // Drop the server's database under it (FORCE ends its pooled connections).
    let persistence::DatabaseSettings::Postgres { dsn, .. } = app.db.settings() else { unreachable!() };
    let name = dsn.expose().rsplit('/').next().unwrap().to_owned();
    let admin_url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| persistence::testing::DEFAULT_TEST_POSTGRES_URL.to_owned());
    let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
    admin.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await.unwrap();

    let response = app.get("/readyz").await;
    assert_eq!(response.headers()["retry-after"], "5");
    let body = expect_problem(response, 503, "service_unavailable").await;
    assert!(!body.to_string().contains(&name), "the problem must not leak internals: {body}");
    // Liveness is unaffected.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn unknown_api_routes_are_problem_404s() {
    let app = spawn_app().await;
    for path in ["/api/v1/nothing-here", "/api", "/api/v1/prompts/x/y/z"] {
        let body = expect_problem(app.get(path).await, 404, "not_found").await;
        assert_eq!(body["type"], "/api/problems/not_found");
    }
    // Missing static files are 404s too, not the app shell.
    expect_problem(app.get("/missing-bundle.js").await, 404, "not_found").await;
}

/// Found by schemathesis: `TRACE /healthz` fell through to the web app's fallback (503 without
/// a built app, a plain-text 405 from the file server with one).
#[tokio::test]
async fn other_methods_on_known_routes_are_405_problems_naming_the_allowed_ones() {
    let app = spawn_app().await;
    let trace = reqwest::Method::from_bytes(b"TRACE").unwrap();
    for (method, path, allowed) in [
        (trace.clone(), "/healthz", "GET"),
        (trace, "/readyz", "GET"),
        (reqwest::Method::DELETE, "/healthz", "GET"),
    ] {
        let response = app.call(method.clone(), path, None, None).await;
        let allow = response.headers().get("allow").cloned();
        let problem = expect_problem(response, 405, "method_not_allowed").await;
        assert_eq!(allow.unwrap(), allowed, "{method} {path}: {problem}");
    }
    // A path no route has is still a 404, whatever the method.
    let response = app.call(reqwest::Method::POST, "/nothing-here", None, None).await;
    expect_problem(response, 404, "not_found").await;
    // Without a built web app the same holds (no 503 from the app shell's fallback).
    std::fs::remove_dir_all(app.dir.path().join("dist")).unwrap();
    let restarted = start_server(&app.db, app.dir.path(), false).await;
    let response =
        app.client.request(reqwest::Method::POST, format!("{restarted}/healthz")).send().await.unwrap();
    expect_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn served_openapi_document_is_the_generated_one() {
    let app = spawn_app().await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: serde_json::Value = response.json().await.unwrap();
    let generated = serde_json::to_value(api::openapi::document()).unwrap();
    assert_eq!(served, generated);
    assert!(served["paths"]["/healthz"]["get"].is_object());
    assert!(served["paths"]["/readyz"]["get"].is_object());
    assert!(served["components"]["schemas"]["Problem"].is_object());
}

#[test]
fn committed_openapi_document_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = api::openapi::document_json().unwrap();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo xtask openapi` and commit the result"
    );
}

#[tokio::test]
async fn docs_ui_works_offline() {
    let app = spawn_app().await;
    let page = app.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "the docs page must not load anything from the internet");
    // The assets are bundled in the binary, not fetched from a CDN.
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let response = app.get(&format!("/api/docs/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = app.get("/api/docs/swagger-initializer.js").await.text().await.unwrap();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
}

#[tokio::test]
async fn web_app_is_served_with_history_fallback() {
    let app = spawn_app().await;
    let root = app.get("/").await;
    assert_eq!(root.status(), 200);
    assert!(root.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(root.text().await.unwrap(), INDEX_HTML);

    // A deep link into the app gets the shell, so a reload keeps the page.
    let deep = app.get("/prompts/welcome/versions").await;
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.headers()["cache-control"], "no-cache");
    assert_eq!(deep.text().await.unwrap(), INDEX_HTML);

    let script = app.get("/app.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"].to_str().unwrap().contains("javascript"));
}

#[tokio::test]
async fn missing_web_app_is_a_clear_503() {
    let app = spawn_app().await;
    std::fs::remove_dir_all(app.dir.path().join("dist")).unwrap();
    let restarted = start_server(&app.db, app.dir.path(), false).await;
    let response = app.client.get(format!("{restarted}/")).send().await.unwrap();
    let body = expect_problem(response, 503, "service_unavailable").await;
    assert!(body["detail"].as_str().unwrap().contains("cargo xtask"), "{body}");
}

async fn local_dev_mode_seeds_a_fresh_database_once(backend: Backend) {
    let app = spawn(Spawn { backend, local_dev_mode: true, ..Spawn::default() }).await;
    let db = app.db.database();
    let subdomain = Subdomain::parse("localhost").unwrap();
    let tenant =
        db.system(operator()).tenant_by_subdomain(&subdomain).await.unwrap().expect("tenant localhost");
    assert!(tenant.is_active);

    let email = Email::parse("admin@localhost").unwrap();
    let admin = db.tenant(scope_of(&tenant)).user_by_email(&email).await.unwrap().unwrap();
    let hash = db.tenant(scope_of(&tenant)).password_hash(admin.id).await.unwrap();
    assert_eq!(admin.role, Role::Admin);
    let hash = hash.expect("the admin has a password");
    assert!(hash.expose().starts_with("$pbkdf2-sha256$i=600000,"));
    assert_eq!(
        PasswordHasher::default().verify("admin123", hash.expose()),
        Verification::Valid { needs_rehash: false }
    );
    let audit = db.tenant(scope_of(&tenant)).list_audit(10).await.unwrap();
    assert_eq!(audit.len(), 2, "tenant and admin creation are audited");

    // The generated key is kept beside the SQLite file and reused by the next start.
    let key_path = app.dir.path().join("prompts.db.secret");
    let key = std::fs::read_to_string(&key_path).unwrap();
    start_server(&app.db, app.dir.path(), true).await;
    assert_eq!(std::fs::read_to_string(&key_path).unwrap(), key);
    assert_eq!(db.system(operator()).count_tenants().await.unwrap(), 1, "a second start seeds nothing");
    assert_eq!(
        db.tenant(scope_of(&tenant))
            .list_users_page(&Default::default(), None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn local_dev_mode_seeds_sqlite() {
    local_dev_mode_seeds_a_fresh_database_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn local_dev_mode_seeds_postgres() {
    local_dev_mode_seeds_a_fresh_database_once(Backend::Postgres).await;
}

#[tokio::test]
async fn without_local_dev_mode_nothing_is_seeded() {
    let app = spawn(Spawn { backend: Backend::Postgres, ..Spawn::default() }).await;
    assert_eq!(app.db.database().system(operator()).count_tenants().await.unwrap(), 0);
    assert!(!app.dir.path().join("prompts.db.secret").exists());
}

#[tokio::test]
async fn cross_origin_calls_are_allowed_from_the_configured_origins_only() {
    let preflight = |app: &TestApp, origin: &'static str| {
        let request = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/api/v1/prompts/x", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "authorization,if-match,content-type");
        async move { request.send().await.unwrap() }
    };
    let vars = vec![("CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:8080")];
    let app = spawn(Spawn { vars, ..Spawn::default() }).await;
    let allowed = preflight(&app, "https://app.example.com").await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("PATCH"), "{methods}");
    let refused = preflight(&app, "https://evil.example.com").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    // A real call from an allowed origin exposes the headers a client needs.
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "http://localhost:8080");

    // Without the setting, no origin is allowed and same-origin use is unaffected.
    let same_origin_only = spawn_app().await;
    let refused = preflight(&same_origin_only, "https://app.example.com").await;
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let login = serde_json::json!({ "tenant": "x", "email": "a@b.c", "password": "wrong-password" });
    let response = same_origin_only
        .client
        .post(format!("{}/api/v1/auth/login", same_origin_only.address))
        .header("origin", &same_origin_only.address)
        .json(&login)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a same-origin request with an Origin header is served");
}
