//! Sign-in, sessions, self-service, API tokens, throttling and their audit trail.

use domain::session::TokenScope;
use domain::user::Role;
use persistence::testing::{operator, scope_of};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, Spawn, TestApp, expect_problem, on_both_databases, spawn};

on_both_databases!(
    sign_in_issues_a_session_and_me_shows_the_caller,
    every_sign_in_failure_looks_the_same,
    the_tenant_comes_from_the_host_when_not_given,
    logout_ends_the_session_at_once,
    refresh_rotates_the_session,
    forged_expired_and_revoked_tokens_are_refused,
    deactivation_and_role_changes_end_sessions,
    changing_the_password_ends_other_sessions,
    people_can_rename_themselves,
    api_tokens_act_within_scope_and_can_be_revoked,
    repeated_failures_are_throttled_per_account_and_address,
    throttled_sign_ins_are_audited_once_per_bucket_and_window,
    admins_read_their_tenants_audit_log,
);

async fn app(backend: Backend) -> TestApp {
    spawn(Spawn { backend, ..Spawn::default() }).await
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

async fn sign_in_issues_a_session_and_me_shows_the_caller(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;

    let response = app.login("acme", "ALICE@Acme.test", "correct horse").await;
    assert_eq!(response.status(), 200);
    let session = json_of(response).await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["user"]["email"], "alice@acme.test");
    assert_eq!(session["tenant"]["subdomain"], "acme");
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(session["expires_at"].clone()).unwrap();
    let lifetime = expires - chrono::Utc::now();
    assert!(lifetime > chrono::Duration::hours(23) && lifetime <= chrono::Duration::hours(24), "{lifetime}");

    let me = app.get_as("/api/v1/auth/me", session["token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me = json_of(me).await;
    assert_eq!(me["user"]["id"], alice.id.to_string());
    assert_eq!(me["user"]["role"], "user");
    assert_eq!(me["user"]["is_system_admin"], false);
    assert!(me["user"]["last_login_at"].is_string());
    assert_eq!(me["tenant"]["id"], acme.id.to_string());

    // The low-cost hash from the fixture was upgraded to the current cost at sign-in.
    let email = domain::user::Email::parse("alice@acme.test").unwrap();
    let repo = app.db.database().tenant(scope_of(&acme));
    let user = repo.user_by_email(&email).await.unwrap().unwrap();
    let hash = repo.password_hash(user.id).await.unwrap();
    assert!(hash.unwrap().expose().starts_with("$pbkdf2-sha256$i=600000,"));

    let audit = repo.list_audit(10).await.unwrap();
    let login = audit.iter().find(|e| e.action.as_str() == "auth.login_succeeded").expect("audited");
    assert_eq!(login.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(login.actor, domain::audit::Actor::User(alice.id));
}

async fn every_sign_in_failure_looks_the_same(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    let dormant = app.tenant("dormant").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let bob = app.user(&acme, "bob@acme.test", Role::User, "bob's password").await;
    app.user(&dormant, "carol@dormant.test", Role::User, "carol's password").await;
    let db = app.db.database();
    db.tenant(scope_of(&acme)).set_user_active(bob.id, false, chrono::Utc::now()).await.unwrap();
    db.system(operator()).set_tenant_active(dormant.id, false, chrono::Utc::now()).await.unwrap();

    let attempts = [
        ("acme", "alice@acme.test", "wrong password"),
        ("acme", "nobody@acme.test", "correct horse"),
        ("acme", "bob@acme.test", "bob's password"),
        ("dormant", "carol@dormant.test", "carol's password"),
        ("no-such-tenant", "alice@acme.test", "correct horse"),
    ];
    let mut bodies = Vec::new();
    for (tenant, email, password) in attempts {
        let response = app.login(tenant, email, password).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        bodies.push(expect_problem(response, 401, "invalid_credentials").await);
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "identical answers: {bodies:#?}");

    let reasons: Vec<String> = db
        .tenant(scope_of(&acme))
        .list_audit(10)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action.as_str() == "auth.login_failed")
        .map(|e| e.details["reason"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["inactive_user", "unknown_user", "wrong_password"]);

    // Malformed input is a validation error, not a credential check.
    let response = app.login("Not A Tenant!", "not-an-email", "x").await;
    let body = expect_problem(response, 422, "validation_failed").await;
    let fields: Vec<_> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "tenant"]);
}

async fn the_tenant_comes_from_the_host_when_not_given(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let response = app
        .client
        .post(format!("{}/api/v1/auth/login", app.address))
        .header("Host", "acme.localhost")
        .json(&json!({ "email": "alice@acme.test", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["tenant"]["subdomain"], "acme");
}

async fn logout_ends_the_session_at_once(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let token = app.token_for("acme", "alice@acme.test", "correct horse").await;

    let response = app.call(Method::POST, "/api/v1/auth/logout", Some(&token), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["end_session_url"], serde_json::Value::Null, "a password session");
    let after = app.get_as("/api/v1/auth/me", &token).await;
    assert_eq!(after.headers()["www-authenticate"], "Bearer");
    expect_problem(after, 401, "unauthorized").await;
    assert!(app.audit_actions(&acme).await.contains(&"auth.logout".to_owned()));
}

async fn refresh_rotates_the_session(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let old = app.token_for("acme", "alice@acme.test", "correct horse").await;

    let response = app.call(Method::POST, "/api/v1/auth/refresh", Some(&old), None).await;
    assert_eq!(response.status(), 200);
    let new = json_of(response).await["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(app.get_as("/api/v1/auth/me", &new).await.status(), 200);
    expect_problem(app.get_as("/api/v1/auth/me", &old).await, 401, "unauthorized").await;
}

async fn forged_expired_and_revoked_tokens_are_refused(backend: Backend) {
    use auth::session_token::{SessionClaims, SessionTokens};
    use domain::Secret;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let valid = app.session_token(&acme, &alice).await;
    assert_eq!(app.get_as("/api/v1/auth/me", &valid).await.status(), 200);
    let claims: SessionClaims = {
        let key = Secret::new(crate::support::TEST_SECRET_KEY.to_owned());
        SessionTokens::new(&key).unwrap().verify(&valid).unwrap()
    };

    let sign = |header: Header, claims: &SessionClaims, key: &str| {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key.as_bytes()).unwrap()).unwrap()
    };
    let wrong_key = sign(Header::new(Algorithm::HS256), &claims, "another-secret-key-0123456789abcdef");
    let other_alg = sign(Header::new(Algorithm::HS512), &claims, crate::support::TEST_SECRET_KEY);
    let payload = valid.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let expired = sign(
        Header::new(Algorithm::HS256),
        &SessionClaims { exp: chrono::Utc::now().timestamp() - 120, ..claims.clone() },
        crate::support::TEST_SECRET_KEY,
    );
    let unknown_session = sign(
        Header::new(Algorithm::HS256),
        &SessionClaims { jti: domain::SessionId::from_uuid(uuid::Uuid::new_v4()), ..claims.clone() },
        crate::support::TEST_SECRET_KEY,
    );
    for (what, token) in [
        ("wrong signature", wrong_key),
        ("HS512", other_alg),
        ("alg none", unsigned),
        ("expired", expired),
        ("unknown session", unknown_session),
        ("garbage", "garbage".to_owned()),
        ("unknown API token", format!("pmt_{}", "0".repeat(64))),
    ] {
        let response = app.get_as("/api/v1/auth/me", &token).await;
        assert_eq!(response.status(), 401, "{what}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{what}");
    }
    let basic =
        app.client.get(format!("{}/api/v1/auth/me", app.address)).header("Authorization", "Basic YTpi");
    expect_problem(basic.send().await.unwrap(), 401, "unauthorized").await;
}

async fn deactivation_and_role_changes_end_sessions(backend: Backend) {
    // The changes below go straight to the database, as another process would make them; the
    // read cache (tested in `read_cache_sees_changes`) is off so they must be seen at once.
    let app = spawn(Spawn { backend, vars: vec![("READ_CACHE_SECONDS", "0")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "pw-alice-1").await;
    let bob = app.user(&acme, "bob@acme.test", Role::User, "pw-bob-12").await;
    let repo = app.db.database().tenant(scope_of(&acme));
    let now = chrono::Utc::now();

    let alice_token = app.session_token(&acme, &alice).await;
    repo.set_user_active(alice.id, false, now).await.unwrap();
    assert_eq!(app.get_as("/api/v1/auth/me", &alice_token).await.status(), 401, "deactivated user");

    let bob_token = app.session_token(&acme, &bob).await;
    repo.set_role(bob.id, Role::Admin, now).await.unwrap();
    assert_eq!(app.get_as("/api/v1/auth/me", &bob_token).await.status(), 401, "role changed");

    let bob_token = app.session_token(&acme, &domain::user::User { role: Role::Admin, ..bob.clone() }).await;
    assert_eq!(app.get_as("/api/v1/auth/me", &bob_token).await.status(), 200);
    app.db.database().system(operator()).set_tenant_active(acme.id, false, now).await.unwrap();
    assert_eq!(app.get_as("/api/v1/auth/me", &bob_token).await.status(), 401, "deactivated tenant");
}

async fn changing_the_password_ends_other_sessions(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::Readonly, "first password").await;
    let here = app.token_for("acme", "alice@acme.test", "first password").await;
    let elsewhere = app.token_for("acme", "alice@acme.test", "first password").await;
    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    let wrong = app
        .call(Method::PUT, "/api/v1/auth/password", Some(&here), Some(change("nope", "second password")))
        .await;
    let body = expect_problem(wrong, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "current_password");
    let short = app
        .call(Method::PUT, "/api/v1/auth/password", Some(&here), Some(change("first password", "short")))
        .await;
    assert_eq!(expect_problem(short, 422, "validation_failed").await["errors"][0]["field"], "new_password");

    let ok = app
        .call(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&here),
            Some(change("first password", "second password")),
        )
        .await;
    assert_eq!(ok.status(), 204);
    assert_eq!(app.get_as("/api/v1/auth/me", &here).await.status(), 200, "this session stays");
    assert_eq!(app.get_as("/api/v1/auth/me", &elsewhere).await.status(), 401, "other sessions end");
    assert_eq!(app.login("acme", "alice@acme.test", "first password").await.status(), 401);
    assert_eq!(app.login("acme", "alice@acme.test", "second password").await.status(), 200);
    assert!(app.audit_actions(&acme).await.contains(&"auth.password_changed".to_owned()));
}

async fn people_can_rename_themselves(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::Readonly, "pw-alice-1").await;
    let token = app.session_token(&acme, &alice).await;
    let body = json!({ "first_name": "  Alice ", "last_name": "Liddell" });
    let response = app.call(Method::PATCH, "/api/v1/auth/me", Some(&token), Some(body)).await;
    assert_eq!(response.status(), 200);
    let me = json_of(response).await;
    assert_eq!(
        (me["user"]["first_name"].as_str(), me["user"]["last_name"].as_str()),
        (Some("Alice"), Some("Liddell"))
    );
    let too_long = json!({ "last_name": "x".repeat(101) });
    let response = app.call(Method::PATCH, "/api/v1/auth/me", Some(&token), Some(too_long)).await;
    assert_eq!(expect_problem(response, 422, "validation_failed").await["errors"][0]["field"], "last_name");
    assert!(app.audit_actions(&acme).await.contains(&"auth.profile_updated".to_owned()));
}

async fn api_tokens_act_within_scope_and_can_be_revoked(backend: Backend) {
    let app = app(backend).await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "pw-alice-1").await;
    let reader = app.user(&acme, "reader@acme.test", Role::Readonly, "pw-reader").await;
    let session = app.session_token(&acme, &alice).await;

    let request = json!({ "name": " CI pipeline ", "scope": "read", "expires_in_days": 30 });
    let created = app.call(Method::POST, "/api/v1/tokens", Some(&session), Some(request)).await;
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pmt_") && secret.starts_with(created["prefix"].as_str().unwrap()));
    assert_eq!(created["name"], "CI pipeline");
    assert_eq!(created["scope"], "read");

    // Listed by prefix, never with the secret.
    let list = json_of(app.get_as("/api/v1/tokens", &session).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret[12..]));
    assert!(list["items"][0]["last_used_at"].is_null());

    // The token acts as Alice for reads, but cannot do self-service.
    let me = json_of(app.get_as("/api/v1/auth/me", &secret).await).await;
    assert_eq!(me["user"]["email"], "alice@acme.test");
    let refused = app.call(Method::POST, "/api/v1/tokens", Some(&secret), Some(json!({ "name": "x" }))).await;
    expect_problem(refused, 403, "forbidden").await;
    let list = json_of(app.get_as("/api/v1/tokens", &session).await).await;
    assert!(list["items"][0]["last_used_at"].is_string(), "use is tracked");

    // Another tenant's admin cannot see or revoke it.
    let outsider = app.user(&globex, "admin@globex.test", Role::Admin, "pw-admin-1").await;
    let outsider_session = app.session_token(&globex, &outsider).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/tokens/{id}");
    expect_problem(app.call(Method::DELETE, &path, Some(&outsider_session), None).await, 404, "not_found")
        .await;

    assert_eq!(app.call(Method::DELETE, &path, Some(&session), None).await.status(), 204);
    expect_problem(app.get_as("/api/v1/auth/me", &secret).await, 401, "unauthorized").await;
    assert!(
        json_of(app.get_as("/api/v1/tokens", &session).await).await["items"].as_array().unwrap().is_empty()
    );
    expect_problem(app.call(Method::DELETE, &path, Some(&session), None).await, 404, "not_found").await;
    let malformed = app.call(Method::DELETE, "/api/v1/tokens/not-a-uuid", Some(&session), None).await;
    expect_problem(malformed, 422, "validation_failed").await;

    // Read-only users get read tokens only; bad names and expiries are refused by field.
    let reader_session = app.session_token(&acme, &reader).await;
    let request = json!({ "name": "", "scope": "read_write", "expires_in_days": 0 });
    let refused = app.call(Method::POST, "/api/v1/tokens", Some(&reader_session), Some(request)).await;
    let body = expect_problem(refused, 422, "validation_failed").await;
    let fields: Vec<_> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "scope", "expires_in_days"]);

    // An expired token stops working.
    let generated = auth::api_token::generate();
    let expired = domain::session::NewApiToken {
        user_id: alice.id,
        name: "old".into(),
        prefix: generated.prefix,
        token_hash: generated.hash,
        scope: TokenScope::Read,
        expires_at: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
    };
    let repo = app.db.database().tenant(scope_of(&acme));
    repo.create_api_token(expired, chrono::Utc::now()).await.unwrap();
    assert_eq!(app.get_as("/api/v1/auth/me", generated.secret.expose()).await.status(), 401);

    let actions = app.audit_actions(&acme).await;
    assert!(
        actions.contains(&"api_token.created".to_owned())
            && actions.contains(&"api_token.revoked".to_owned())
    );
}

async fn repeated_failures_are_throttled_per_account_and_address(backend: Backend) {
    let app = spawn(Spawn {
        backend,
        vars: vec![("LOGIN_MAX_FAILURES", "3"), ("TRUSTED_PROXIES", "127.0.0.1")],
        ..Spawn::default()
    })
    .await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    let attempt = |addr: &'static str, password: &'static str| {
        let body = json!({ "tenant": "acme", "email": "alice@acme.test", "password": password });
        app.client
            .post(format!("{}/api/v1/auth/login", app.address))
            .header("X-Forwarded-For", addr)
            .json(&body)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("203.0.113.7", "guess").await.unwrap().status(), 401);
    }
    // The right password from the attacking address is refused too, with a retry time.
    let refused = attempt("203.0.113.7", "correct horse").await.unwrap();
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
    expect_problem(refused, 429, "rate_limited").await;

    // The owner, from their own address, is not locked out by the attacker's failures.
    assert_eq!(attempt("198.51.100.2", "correct horse").await.unwrap().status(), 200);

    let actions = app.audit_actions(&acme).await;
    assert!(actions.contains(&"auth.login_throttled".to_owned()), "{actions:?}");
    let failed = app.db.database().tenant(scope_of(&acme)).list_audit(50).await.unwrap();
    let addrs: Vec<_> = failed
        .iter()
        .filter(|e| e.action.as_str() == "auth.login_failed")
        .map(|e| e.client_addr.clone())
        .collect();
    assert_eq!(addrs, vec![Some("203.0.113.7".to_owned()); 3]);
}

/// Refused sign-ins cost no hashing, so each must not cost an audit row either: a flood of them
/// is recorded once per throttle bucket and window.
async fn throttled_sign_ins_are_audited_once_per_bucket_and_window(backend: Backend) {
    use futures_util::StreamExt as _;

    // One failure closes the account-and-address bucket; four close the address's bucket.
    let vars = vec![
        ("LOGIN_MAX_FAILURES", "1"),
        ("RATE_LIMIT_PER_MINUTE", "0"),
        ("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "0"),
    ];
    let app = spawn(Spawn { backend, vars, ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    app.user(&acme, "alice@acme.test", Role::User, "correct horse").await;
    for email in ["alice@acme.test", "bob@acme.test", "carol@acme.test", "dave@acme.test"] {
        assert_eq!(app.login("acme", email, "guess").await.status(), 401);
    }

    // 1,000 refused attempts: half at the same account, half at a different account each.
    let app = &app;
    let statuses: Vec<u16> = futures_util::stream::iter(0..1_000)
        .map(|i| {
            let email = if i % 2 == 0 { "alice@acme.test".to_owned() } else { format!("user{i}@acme.test") };
            async move { app.login("acme", &email, "guess").await.status().as_u16() }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 429), "every attempt is refused");

    let events = app.db.database().tenant(scope_of(&acme)).list_audit(5_000).await.unwrap();
    let throttled = events.iter().filter(|e| e.action.as_str() == "auth.login_throttled").count();
    println!("audit rows written by 1,000 throttled sign-ins: {throttled}");
    assert!((1..=3).contains(&throttled), "{throttled} auth.login_throttled rows");
}

async fn admins_read_their_tenants_audit_log(backend: Backend) {
    let app = app(backend).await;
    let system = app.tenant("localhost").await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    let root = app.user(&system, "root@localhost", Role::Admin, "pw-root-12").await;
    let acme_admin = app.user(&acme, "admin@acme.test", Role::Admin, "pw-admin-1").await;
    let globex_admin = app.user(&globex, "admin@globex.test", Role::Admin, "pw-admin-2").await;
    app.token_for("acme", "admin@acme.test", "pw-admin-1").await;
    app.token_for("globex", "admin@globex.test", "pw-admin-2").await;

    let acme_log =
        json_of(app.get_as("/api/v1/audit-events", &app.session_token(&acme, &acme_admin).await).await).await;
    let tenants: Vec<_> =
        acme_log["items"].as_array().unwrap().iter().map(|e| e["tenant_id"].clone()).collect();
    assert!(!tenants.is_empty() && tenants.iter().all(|t| t == &json!(acme.id.to_string())), "{acme_log}");

    let globex_token = app.session_token(&globex, &globex_admin).await;
    let globex_log = json_of(app.get_as("/api/v1/audit-events?limit=500", &globex_token).await).await;
    assert!(!globex_log.to_string().contains(&acme.id.to_string()), "no other tenant's events");

    let everything =
        json_of(app.get_as("/api/v1/audit-events", &app.session_token(&system, &root).await).await).await;
    let all = everything.to_string();
    assert!(all.contains(&acme.id.to_string()) && all.contains(&globex.id.to_string()));
}
