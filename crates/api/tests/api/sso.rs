//! Single sign-on end to end over real HTTP against real identity providers on loopback: npm
//! `oidc-provider` (OpenID Connect) and npm `saml-idp` (SAML 2.0), both started by
//! `sso_peers`. A reqwest client with a cookie jar plays the browser: our start URL, the
//! provider's sign-in, our callback, the hand-over code, the session.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::sso_peers::{
    OidcClient, OidcOptions, OidcProvider, SamlIdp, SamlOptions, SamlPost, SamlUser, TestUser, browser,
    query_param,
};
use crate::support::{Backend, Spawn, TestApp, on_both_databases, spawn};
use domain::tenant::Tenant;
use domain::user::Role;

const CLIENT_ID: &str = "prompt-manager";
const CLIENT_SECRET: &str = "client-secret-0123456789abcdef";
const ADMIN_PASSWORD: &str = "admin-password-1";

/// Our server, its tenant `acme` with an admin, and an OpenID provider registered for it.
struct OidcWorld {
    app: TestApp,
    /// `http://localhost:PORT`: the default `SSO_REDIRECT_URI`'s origin, where the flow lives.
    origin: String,
    idp: OidcProvider,
    tenant: Tenant,
    admin_token: String,
}

fn ann() -> TestUser {
    TestUser {
        email: Some("ann@acme.test".into()),
        email_verified: Some(true),
        name: Some("Ann Lee".into()),
        groups: Some(vec!["pm-writers".into()]),
        oid: Some("oid-ann".into()),
        ..TestUser::new("ann@acme.test", "sub-ann")
    }
}

fn provider_options(origin: &str, users: Vec<TestUser>) -> OidcOptions {
    let mut client = OidcClient::confidential(CLIENT_ID, CLIENT_SECRET, &format!("{origin}/auth/callback"));
    client.post_logout_redirect_uris = vec![format!("{origin}/login")];
    OidcOptions { clients: vec![client], users, ..OidcOptions::default() }
}

async fn oidc_world(backend: Backend, users: Vec<TestUser>) -> OidcWorld {
    let app =
        spawn(Spawn { backend, vars: vec![("SSO_ALLOW_PRIVATE_NETWORKS", "true")], ..Spawn::default() })
            .await;
    let origin = app.address.replace("127.0.0.1", "localhost");
    let idp = OidcProvider::start(provider_options(&origin, users)).await;
    let tenant = app.tenant("acme").await;
    let admin = app.user(&tenant, "admin@acme.test", Role::Admin, ADMIN_PASSWORD).await;
    let admin_token = app.session_token(&tenant, &admin).await;
    let world = OidcWorld { app, origin, idp, tenant, admin_token };
    let saved = world.put_settings(world.settings(json!({}))).await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    world
}

impl OidcWorld {
    /// The tenant's OIDC settings, with `changes` on top.
    fn settings(&self, changes: Value) -> Value {
        let mut settings = json!({
            "protocol": "oidc",
            "enabled": true,
            "issuer": self.idp.issuer(),
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "allowed_domains": ["acme.test"],
            "default_role": "readonly",
            "role_claim": "groups",
            "role_rules": [{"value": "pm-admins", "role": "admin"}, {"value": "pm-writers", "role": "user"}],
            "create_users": true,
            "password_sign_in": true,
        });
        for (key, value) in changes.as_object().unwrap() {
            settings[key] = value.clone();
        }
        settings
    }

    async fn put_settings(&self, settings: Value) -> reqwest::Response {
        self.app.call(reqwest::Method::PUT, "/api/v1/sso", Some(&self.admin_token), Some(settings)).await
    }

    /// Starts a sign-in at our server as `login` would from the sign-in page: the provider's
    /// authorization URL.
    async fn start(&self, browser: &reqwest::Client, login: &str) -> String {
        let start = format!("{}/auth/sso/acme?login_hint={login}", self.origin);
        let response = browser.get(&start).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{start}");
        location(&response)
    }

    /// Opens the provider's redirect back to us; returns where our callback sends the browser.
    async fn callback(&self, browser: &reqwest::Client, callback_url: &str) -> String {
        assert!(callback_url.starts_with(&format!("{}/auth/callback", self.origin)), "{callback_url}");
        let response = browser.get(callback_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{callback_url}");
        location(&response)
    }

    /// The whole trip: start, provider sign-in, callback. `Ok(code)` when the callback hands a
    /// code to the web app, `Err(error code)` when it sends the browser to the error page.
    async fn trip(&self, browser: &reqwest::Client, login: &str) -> Result<String, String> {
        let authorize = self.start(browser, login).await;
        let callback = self.idp.sign_in(browser, &authorize).await;
        landing(&self.callback(browser, &callback).await)
    }

    async fn exchange(&self, browser: &reqwest::Client, code: &str) -> reqwest::Response {
        browser
            .post(format!("{}/api/v1/auth/sso/exchange", self.origin))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
    }

    /// Signs `login` in end to end and returns the session answer.
    async fn sign_in(&self, login: &str) -> Value {
        let browser = browser();
        let code =
            self.trip(&browser, login).await.unwrap_or_else(|e| panic!("sign-in of {login} failed: {e}"));
        let response = self.exchange(&browser, &code).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn audit_details(&self, action: &str) -> Vec<Value> {
        audit_details(&self.app, &self.tenant, action).await
    }
}

/// The details of the tenant's audit events of `action`, newest first.
async fn audit_details(app: &TestApp, tenant: &Tenant, action: &str) -> Vec<Value> {
    let repo = app.db.database().tenant(persistence::testing::scope_of(tenant));
    let events = repo.list_audit(500).await.unwrap();
    events.into_iter().filter(|e| e.action.as_str() == action).map(|e| e.details).collect()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").unwrap().to_str().unwrap().to_owned()
}

/// `/login/sso#code=…` → `Ok(code)`; `/login/sso-error?code=…` → `Err(error code)`.
fn landing(location: &str) -> Result<String, String> {
    if let Some(code) = location.strip_prefix("/login/sso#code=") {
        return Ok(code.to_owned());
    }
    let error =
        location.strip_prefix("/login/sso-error?code=").unwrap_or_else(|| panic!("landed on {location}"));
    Err(error.to_owned())
}

async fn a_first_sign_in_creates_the_user_with_the_role_their_groups_map_to(backend: Backend) {
    let world = oidc_world(backend, vec![ann()]).await;
    let session = world.sign_in("ann@acme.test").await;
    assert_eq!(session["user"]["email"], "ann@acme.test");
    assert_eq!(session["user"]["role"], "user");
    assert_eq!(session["user"]["first_name"], "Ann Lee", "only `name` was sent");
    assert_eq!(session["tenant"]["subdomain"], "acme");
    // The same kind of session as a password sign-in: it reaches the API.
    let token = session["token"].as_str().unwrap();
    let me = world.app.get_as("/api/v1/auth/me", token).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.json::<Value>().await.unwrap()["user"]["email"], "ann@acme.test");
    assert!(world.app.audit_actions(&world.tenant).await.contains(&"user.created".to_owned()));
    let logins = world.audit_details("auth.login_succeeded").await;
    assert_eq!(logins[0]["method"], "oidc");
    assert_eq!(logins[0]["subject"], "oid-ann", "Entra's oid is the stable subject");
}

async fn the_role_mapping_is_applied_again_at_every_sign_in(backend: Backend) {
    let mut world = oidc_world(backend, vec![ann()]).await;
    let first = world.sign_in("ann@acme.test").await;
    assert_eq!(first["user"]["role"], "user");
    let promoted = TestUser { groups: Some(vec!["pm-writers".into(), "pm-admins".into()]), ..ann() };
    world.idp.restart_with(provider_options(&world.origin, vec![promoted])).await;
    let second = world.sign_in("ann@acme.test").await;
    assert_eq!(second["user"]["id"], first["user"]["id"], "found again by subject");
    assert_eq!(second["user"]["role"], "admin");
    // The first session was revoked with the role change.
    let old = world.app.get_as("/api/v1/auth/me", first["token"].as_str().unwrap()).await;
    assert_eq!(old.status(), 401);
    let removed = TestUser { groups: Some(vec![]), ..ann() };
    world.idp.restart_with(provider_options(&world.origin, vec![removed])).await;
    assert_eq!(
        world.sign_in("ann@acme.test").await["user"]["role"],
        "readonly",
        "no match: the default role"
    );
    assert_eq!(world.audit_details("sso.role_applied").await.len(), 2);
}

async fn an_existing_account_is_linked_once_by_a_verified_email(backend: Backend) {
    let unverified = TestUser {
        email_verified: None,
        login: "bob@acme.test".into(),
        sub: "sub-bob".into(),
        email: Some("bob@acme.test".into()),
        oid: None,
        ..ann()
    };
    let world = oidc_world(backend, vec![ann(), unverified]).await;
    let existing = world.app.user(&world.tenant, "ann@acme.test", Role::User, "ann-password-1").await;
    let session = world.sign_in("ann@acme.test").await;
    assert_eq!(session["user"]["id"], existing.id.to_string());
    // Without `email_verified` the email cannot claim an existing account.
    world.app.user(&world.tenant, "bob@acme.test", Role::User, "bob-password-1").await;
    assert_eq!(world.trip(&browser(), "bob@acme.test").await, Err("sso_invalid_response".into()));
}

on_both_databases!(
    a_first_sign_in_creates_the_user_with_the_role_their_groups_map_to,
    the_role_mapping_is_applied_again_at_every_sign_in,
    an_existing_account_is_linked_once_by_a_verified_email,
    a_saml_sign_in_creates_the_user_with_the_role_their_groups_map_to,
);

#[tokio::test]
async fn a_replayed_callback_or_hand_over_code_signs_nobody_in() {
    let world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    let browser = browser();
    let authorize = world.start(&browser, "ann@acme.test").await;
    let callback = world.idp.sign_in(&browser, &authorize).await;
    let code = landing(&world.callback(&browser, &callback).await).unwrap();
    assert_eq!(landing(&world.callback(&browser, &callback).await), Err("sso_replayed".into()));
    assert_eq!(world.exchange(&browser, &code).await.status(), 200);
    let again = world.exchange(&browser, &code).await;
    assert_eq!(again.status(), 400);
    assert_eq!(again.json::<Value>().await.unwrap()["code"], "sso_invalid_state");
}

#[tokio::test]
async fn an_answer_in_another_browser_or_with_a_wrong_state_signs_nobody_in() {
    let world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    // A victim's browser opening the attacker's callback link (login CSRF).
    let attacker = browser();
    let authorize = world.start(&attacker, "ann@acme.test").await;
    let callback = world.idp.sign_in(&attacker, &authorize).await;
    assert_eq!(landing(&world.callback(&browser(), &callback).await), Err("sso_invalid_state".into()));
    // A state we never issued.
    let browser = browser();
    let authorize = world.start(&browser, "ann@acme.test").await;
    let callback = world.idp.sign_in(&browser, &authorize).await;
    let state = query_param(&callback, "state").unwrap();
    let forged = callback.replace(&format!("state={state}"), "state=not-our-state");
    assert_eq!(landing(&world.callback(&browser, &forged).await), Err("sso_invalid_state".into()));
    // It names no tenant: audited system-wide, once a minute per address however often sent.
    assert_eq!(landing(&world.callback(&browser, &forged).await), Err("sso_invalid_state".into()));
    let system = world.app.db.database().system(persistence::testing::operator());
    let unattributed: Vec<_> = system
        .list_audit(500)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.tenant_id.is_none() && e.action.as_str() == "auth.login_failed")
        .collect();
    assert_eq!(unattributed.len(), 1);
    assert_eq!(unattributed[0].details["reason"], "sso_invalid_state");
    // A hand-over code from another browser.
    let victim = crate::sso_peers::browser();
    let code = world.trip(&victim, "ann@acme.test").await.unwrap();
    let other = world.exchange(&crate::sso_peers::browser(), &code).await;
    assert_eq!(other.status(), 400);
    assert!(
        world.audit_details("auth.login_failed").await.iter().any(|d| d["reason"] == "sso_invalid_state")
    );
}

#[tokio::test]
async fn rotated_signing_keys_are_picked_up() {
    let mut world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    world.sign_in("ann@acme.test").await;
    // New signing key, same issuer: our cached keys no longer match; we fetch them again.
    world.idp.restart_with_new_key().await;
    world.sign_in("ann@acme.test").await;
}

#[tokio::test]
async fn a_token_whose_signature_the_published_keys_do_not_verify_is_refused() {
    let mut world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    // Before our server has seen the provider's real key: it publishes another under its `kid`.
    let forged = OidcOptions { publish_other_key: true, ..provider_options(&world.origin, vec![ann()]) };
    world.idp.restart_with(forged).await;
    assert_eq!(world.trip(&browser(), "ann@acme.test").await, Err("sso_bad_signature".into()));
    let failures = world.audit_details("auth.login_failed").await;
    assert_eq!(failures[0]["reason"], "sso_bad_signature");
    assert_eq!(failures[0]["method"], "oidc");
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    let mut world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    let late = OidcOptions { clock_offset_seconds: -7200, ..provider_options(&world.origin, vec![ann()]) };
    world.idp.restart_with(late).await;
    assert_eq!(world.trip(&browser(), "ann@acme.test").await, Err("sso_expired".into()));
}

#[tokio::test]
async fn domains_deactivated_users_and_the_user_limit_are_enforced() {
    let outsider = TestUser {
        email: Some("eve@evil.test".into()),
        oid: Some("oid-eve".into()),
        ..TestUser::new("eve@evil.test", "sub-eve")
    };
    let stranger = TestUser {
        email: Some("sam@acme.test".into()),
        oid: Some("oid-sam".into()),
        email_verified: Some(true),
        ..TestUser::new("sam@acme.test", "sub-sam")
    };
    let world = oidc_world(Backend::Sqlite, vec![ann(), outsider, stranger]).await;
    assert_eq!(world.trip(&browser(), "eve@evil.test").await, Err("sso_email_not_allowed".into()));

    let session = world.sign_in("ann@acme.test").await;
    let ann_id = session["user"]["id"].as_str().unwrap().to_owned();
    let deactivate = json!({ "is_active": false });
    let response = world
        .app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{ann_id}"),
            Some(&world.admin_token),
            Some(deactivate),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(world.trip(&browser(), "ann@acme.test").await, Err("account_inactive".into()));

    // The admin alone fills a tenant of one active user (Ann is deactivated).
    let system = world.app.db.database().system(persistence::testing::operator());
    system.update_tenant(world.tenant.id, None, Some(1), None, None, chrono::Utc::now()).await.unwrap();
    assert_eq!(world.trip(&browser(), "sam@acme.test").await, Err("user_limit_reached".into()));
    let closed = world.put_settings(world.settings(json!({ "create_users": false }))).await;
    assert_eq!(closed.status(), 200);
    assert_eq!(world.trip(&browser(), "sam@acme.test").await, Err("sso_user_not_provisioned".into()));
    let reasons: Vec<Value> =
        world.audit_details("auth.login_failed").await.iter().map(|d| d["reason"].clone()).collect();
    for reason in
        ["sso_email_not_allowed", "account_inactive", "user_limit_reached", "sso_user_not_provisioned"]
    {
        assert!(reasons.contains(&json!(reason)), "{reason} audited: {reasons:?}");
    }
}

#[tokio::test]
async fn closing_password_sign_in_keeps_admins_as_break_glass_and_refuses_everyone_else() {
    let world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    world.app.user(&world.tenant, "reader@acme.test", Role::Readonly, "reader-password-1").await;
    let closed = world.put_settings(world.settings(json!({ "password_sign_in": false }))).await;
    assert_eq!(closed.status(), 200);
    let refused = world.app.login("acme", "reader@acme.test", "reader-password-1").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["code"], "password_sign_in_disabled");
    assert_eq!(
        world.app.login("acme", "admin@acme.test", ADMIN_PASSWORD).await.status(),
        200,
        "break-glass admin"
    );
    let options: Value = world.app.get("/api/v1/auth/sso?tenant=acme").await.json().await.unwrap();
    assert_eq!(options["sso"], true);
    assert_eq!(options["password_sign_in"], false);
    // The only admin with a password stays one while passwords are closed, even with another admin.
    let other_admin =
        json!({ "email": "sso-admin@acme.test", "first_name": "S", "last_name": "A", "role": "admin" });
    let created = world
        .app
        .call(reqwest::Method::POST, "/api/v1/users", Some(&world.admin_token), Some(other_admin))
        .await;
    assert_eq!(created.status(), 201);
    let other_token = {
        let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
        let users = world.app.db.database().tenant(persistence::testing::scope_of(&world.tenant));
        let other = users.user_by_id(id.parse().unwrap()).await.unwrap().unwrap();
        world.app.session_token(&world.tenant, &other).await
    };
    let admin_id =
        world.app.get_as("/api/v1/auth/me", &world.admin_token).await.json::<Value>().await.unwrap()["user"]
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let path = format!("/api/v1/users/{admin_id}");
    let demote = world
        .app
        .call(reqwest::Method::PATCH, &path, Some(&other_token), Some(json!({ "role": "user" })))
        .await;
    assert_eq!(demote.status(), 409);
    assert_eq!(demote.json::<Value>().await.unwrap()["code"], "break_glass_required");
    let delete = world.app.call(reqwest::Method::DELETE, &path, Some(&other_token), None).await;
    assert_eq!(delete.status(), 409);
    // Without SSO on, password sign-in cannot be closed.
    let off =
        world.put_settings(world.settings(json!({ "enabled": false, "password_sign_in": false }))).await;
    assert_eq!(off.status(), 409);
    assert_eq!(off.json::<Value>().await.unwrap()["code"], "break_glass_required");
}

#[tokio::test]
async fn settings_keep_the_client_secret_sealed_and_are_for_admins_of_the_tenant_only() {
    let world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    let view: Value = world.app.get_as("/api/v1/sso", &world.admin_token).await.json().await.unwrap();
    assert_eq!(view["source"], "tenant");
    assert_eq!(view["client_secret"], "set, ends in …cdef");
    assert!(!view.to_string().contains(CLIENT_SECRET));
    assert_eq!(view["service_provider"]["redirect_uri"], format!("{}/auth/callback", world.origin));
    let stored =
        world.app.db.query_text_as_owner("SELECT client_secret_sealed FROM sso_configs").await.unwrap();
    assert!(stored.starts_with("v1:") && !stored.contains(CLIENT_SECRET));
    // Saving without a secret keeps it: sign-in still works.
    let mut keep = world.settings(json!({}));
    keep.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(world.put_settings(keep).await.status(), 200);
    world.sign_in("ann@acme.test").await;

    let bad = world
        .put_settings(world.settings(json!({ "issuer": "ftp://x", "allowed_domains": ["not a domain"] })))
        .await;
    assert_eq!(bad.status(), 422);
    let fields: Vec<String> = bad.json::<Value>().await.unwrap()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        fields.contains(&"issuer".to_owned()) && fields.contains(&"allowed_domains".to_owned()),
        "{fields:?}"
    );

    let user = world.app.user(&world.tenant, "writer@acme.test", Role::User, "writer-password-1").await;
    let user_token = world.app.session_token(&world.tenant, &user).await;
    assert_eq!(world.app.get_as("/api/v1/sso", &user_token).await.status(), 403);
    let other = world.app.tenant("globex").await;
    let other_admin = world.app.user(&other, "admin@globex.test", Role::Admin, "globex-password-1").await;
    let other_token = world.app.session_token(&other, &other_admin).await;
    let theirs: Value = world.app.get_as("/api/v1/sso", &other_token).await.json().await.unwrap();
    assert_eq!(theirs["source"], "none", "another tenant's settings are invisible");
}

#[tokio::test]
async fn a_test_sign_in_shows_the_claims_and_mapped_role_without_creating_anyone() {
    let world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    let browser = browser();
    let started = browser
        .post(format!("{}/api/v1/sso/test", world.origin))
        .bearer_auth(&world.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    let authorize = started.json::<Value>().await.unwrap()["authorize_url"].as_str().unwrap().to_owned();
    // The test signs in as the admin's login hint; choose Ann at the provider instead.
    let authorize = authorize.replace("login_hint=admin%40acme.test", "login_hint=ann%40acme.test");
    let callback = world.idp.sign_in(&browser, &authorize).await;
    let back = world.callback(&browser, &callback).await;
    let code = back.strip_prefix("/admin/sso?test=").unwrap_or_else(|| panic!("landed on {back}"));
    let result: Value =
        world.app.get_as(&format!("/api/v1/sso/test/{code}"), &world.admin_token).await.json().await.unwrap();
    assert_eq!(result["outcome"], Value::Null, "a sign-in would succeed: {result}");
    assert_eq!(result["subject"], "oid-ann");
    assert_eq!(result["email"], "ann@acme.test");
    assert_eq!(result["mapped_role"], "user");
    assert_eq!(result["existing_user"], false);
    assert_eq!(result["claims"]["groups"], json!(["pm-writers"]));
    let users: Value = world.app.get_as("/api/v1/users", &world.admin_token).await.json().await.unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "nobody was created");
    assert!(world.app.audit_actions(&world.tenant).await.contains(&"sso.tested".to_owned()));
}

#[tokio::test]
async fn signing_out_of_an_sso_session_offers_the_providers_end_session_page() {
    let world = oidc_world(Backend::Sqlite, vec![ann()]).await;
    let session = world.sign_in("ann@acme.test").await;
    let token = session["token"].as_str().unwrap();
    let out = world.app.call(reqwest::Method::POST, "/api/v1/auth/logout", Some(token), None).await;
    assert_eq!(out.status(), 200);
    let url = out.json::<Value>().await.unwrap()["end_session_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&world.idp.end_session_endpoint()), "{url}");
    assert_eq!(query_param(&url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(world.app.get_as("/api/v1/auth/me", token).await.status(), 401);
    // A password session has none.
    let password = world.app.token_for("acme", "admin@acme.test", ADMIN_PASSWORD).await;
    let out = world.app.call(reqwest::Method::POST, "/api/v1/auth/logout", Some(&password), None).await;
    assert_eq!(out.json::<Value>().await.unwrap()["end_session_url"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// SAML 2.0

struct SamlWorld {
    app: TestApp,
    origin: String,
    idp: SamlIdp,
    tenant: Tenant,
}

fn carol() -> SamlUser {
    SamlUser {
        name_id: "carol@acme.test".into(),
        email: Some("carol@acme.test".into()),
        groups: vec!["Domain Users".into(), "PM Admins".into()],
        name: Some("Carol".into()),
    }
}

/// Our server with tenant `acme` set up for an IdP started with `options(acs, entity id)`; the
/// metadata is given as its URL when `by_url`, else pasted.
async fn saml_world(
    backend: Backend,
    by_url: bool,
    options: impl FnOnce(&str, &str) -> SamlOptions,
) -> SamlWorld {
    let app =
        spawn(Spawn { backend, vars: vec![("SSO_ALLOW_PRIVATE_NETWORKS", "true")], ..Spawn::default() })
            .await;
    let origin = app.address.replace("127.0.0.1", "localhost");
    let idp =
        SamlIdp::start(options(&format!("{origin}/auth/saml/acs"), &format!("{origin}/auth/saml/acme")))
            .await;
    let tenant = app.tenant("acme").await;
    let admin = app.user(&tenant, "admin@acme.test", Role::Admin, ADMIN_PASSWORD).await;
    let admin_token = app.session_token(&tenant, &admin).await;
    let metadata = if by_url {
        json!({ "saml_metadata_url": idp.metadata_url() })
    } else {
        json!({ "saml_metadata_xml": idp.metadata_xml() })
    };
    let mut settings = json!({
        "protocol": "saml",
        "enabled": true,
        "allowed_domains": ["acme.test"],
        "default_role": "readonly",
        "role_claim": "groups",
        "role_rules": [{"value": "PM Admins", "role": "admin"}],
        "create_users": true,
    });
    for (key, value) in metadata.as_object().unwrap() {
        settings[key] = value.clone();
    }
    let saved = app.call(reqwest::Method::PUT, "/api/v1/sso", Some(&admin_token), Some(settings)).await;
    assert_eq!(saved.status(), 200, "{}", saved.text().await.unwrap());
    SamlWorld { app, origin, idp, tenant }
}

impl SamlWorld {
    /// Start at our server, sign in at the IdP: the form its page would post to us.
    async fn to_idp_and_back(&self, browser: &reqwest::Client) -> SamlPost {
        let response = browser.get(format!("{}/auth/sso/acme", self.origin)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        let authn_request = location(&response);
        assert!(authn_request.starts_with(&self.idp.sso_url()), "{authn_request}");
        self.idp.sign_in(browser, &authn_request).await
    }

    /// Posts the IdP's form to our ACS; where it sends the browser.
    async fn post(&self, browser: &reqwest::Client, form: &SamlPost) -> Result<String, String> {
        assert_eq!(form.acs_url, format!("{}/auth/saml/acs", self.origin));
        let mut fields = vec![("SAMLResponse", form.saml_response.clone())];
        fields.extend(form.relay_state.clone().map(|r| ("RelayState", r)));
        let response = browser.post(&form.acs_url).form(&fields).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        landing(&location(&response))
    }

    async fn failure_reasons(&self) -> Vec<Value> {
        let failures = audit_details(&self.app, &self.tenant, "auth.login_failed").await;
        failures.iter().map(|d| d["reason"].clone()).collect()
    }
}

async fn a_saml_sign_in_creates_the_user_with_the_role_their_groups_map_to(backend: Backend) {
    let world = saml_world(backend, true, |acs, sp| SamlOptions::new(acs, sp, carol())).await;
    let browser = browser();
    let form = world.to_idp_and_back(&browser).await;
    let code = world.post(&browser, &form).await.unwrap();
    let response = browser
        .post(format!("{}/api/v1/auth/sso/exchange", world.origin))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    assert_eq!(session["user"]["email"], "carol@acme.test");
    assert_eq!(session["user"]["role"], "admin", "from the PM Admins group");
    // The same assertion posted again is a replay.
    assert_eq!(world.post(&browser, &form).await, Err("sso_replayed".into()));
    // Our SP metadata, at our entity id.
    let metadata = world.app.get("/auth/saml/acme").await;
    assert_eq!(metadata.status(), 200);
    let xml = metadata.text().await.unwrap();
    assert!(xml.contains(&format!("entityID=\"{}/auth/saml/acme\"", world.origin)), "{xml}");
    assert!(xml.contains(&format!("Location=\"{}/auth/saml/acs\"", world.origin)), "{xml}");
}

#[tokio::test]
async fn a_saml_response_signed_with_another_key_is_refused() {
    let world = saml_world(Backend::Sqlite, false, |acs, sp| SamlOptions {
        sign_with_other_key: true,
        ..SamlOptions::new(acs, sp, carol())
    })
    .await;
    let browser = browser();
    let form = world.to_idp_and_back(&browser).await;
    assert_eq!(world.post(&browser, &form).await, Err("sso_bad_signature".into()));
    assert_eq!(world.failure_reasons().await, vec![json!("sso_bad_signature")]);
}

#[tokio::test]
async fn an_expired_saml_assertion_is_refused() {
    let world = saml_world(Backend::Sqlite, false, |acs, sp| SamlOptions {
        lifetime_seconds: Some(-600),
        ..SamlOptions::new(acs, sp, carol())
    })
    .await;
    let browser = browser();
    let form = world.to_idp_and_back(&browser).await;
    assert_eq!(world.post(&browser, &form).await, Err("sso_expired".into()));
}

#[tokio::test]
async fn a_saml_assertion_for_another_audience_is_refused() {
    let world = saml_world(Backend::Sqlite, false, |acs, _| {
        SamlOptions::new(acs, "urn:another:application", carol())
    })
    .await;
    let browser = browser();
    let form = world.to_idp_and_back(&browser).await;
    assert_eq!(world.post(&browser, &form).await, Err("sso_wrong_audience".into()));
}

#[tokio::test]
async fn a_saml_response_posted_from_another_browser_signs_nobody_in() {
    let world = saml_world(Backend::Sqlite, false, |acs, sp| SamlOptions::new(acs, sp, carol())).await;
    let form = world.to_idp_and_back(&browser()).await;
    assert_eq!(world.post(&browser(), &form).await, Err("sso_invalid_state".into()));
}

#[tokio::test]
async fn the_server_wide_sso_variables_sign_in_users_of_tenants_without_settings() {
    // The provider's issuer must be known before the server starts, and the server's address
    // before the provider knows its redirect URI: start the provider, then register the client.
    let mut idp = OidcProvider::start(OidcOptions::default()).await;
    // `Spawn` takes static strings.
    let issuer = Box::leak(idp.issuer().into_boxed_str());
    let app = spawn(Spawn {
        backend: Backend::Sqlite,
        vars: vec![
            ("SSO_ALLOW_PRIVATE_NETWORKS", "true"),
            ("SSO_ENABLED", "true"),
            ("SSO_CLIENT_ID", CLIENT_ID),
            ("SSO_CLIENT_SECRET", CLIENT_SECRET),
            ("SSO_AUTHORITY", issuer),
            ("SSO_ALLOWED_DOMAINS", "acme.test"),
            ("SSO_CREATE_USERS", "true"),
        ],
        ..Spawn::default()
    })
    .await;
    let origin = app.address.replace("127.0.0.1", "localhost");
    idp.restart_with(provider_options(&origin, vec![ann()])).await;
    let tenant = app.tenant("acme").await;
    let admin = app.user(&tenant, "admin@acme.test", Role::Admin, ADMIN_PASSWORD).await;
    let admin_token = app.session_token(&tenant, &admin).await;
    let view: Value = app.get_as("/api/v1/sso", &admin_token).await.json().await.unwrap();
    assert_eq!(view["source"], "system_default");
    assert_eq!(view["client_secret"], Value::Null, "the server's secret is not the tenant's to see");
    let options: Value = app.get("/api/v1/auth/sso?tenant=acme").await.json().await.unwrap();
    assert_eq!(options["sign_in_url"], format!("{origin}/auth/sso/acme"));

    let world = OidcWorld { app, origin, idp, tenant, admin_token };
    let session = world.sign_in("ann@acme.test").await;
    assert_eq!(session["user"]["role"], "user", "SSO_DEFAULT_ROLE's default; no mapping server-wide");
}
