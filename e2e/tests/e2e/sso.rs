//! Single sign-on in a real browser against real identity providers on loopback: npm
//! `oidc-provider` (OpenID Connect) and npm `saml-idp` (SAML 2.0), started by `sso_peers`.
//! A tenant admin sets up OpenID Connect on `/admin/sso` and tests it; a person signs in from
//! the sign-in page and out again at the provider; a refused sign-in ends on a page that says
//! why; a SAML sign-in goes through the IdP's own pages and its auto-posting form.
//!
//! The browser uses `http://localhost:PORT`, the origin of the server's default
//! `SSO_REDIRECT_URI`: the flow's cookie and the pages must share it. The providers live on
//! `http://127.0.0.1:PORT`, another site, as a real provider would be.

use std::process::Child;

use serde_json::{Value, json};

use crate::api::Api;
use crate::app::{self, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

#[allow(dead_code)]
#[path = "../../../crates/api/tests/api/sso_peers.rs"]
mod sso_peers;

use sso_peers::{
    OidcClient, OidcOptions, OidcProvider, SamlIdp, SamlOptions, SamlUser, TestUser, query_param,
};

const TENANT: &str = "acme";
const ADMIN: &str = "admin@acme.test";
const ADMIN_PASSWORD: &str = "acme-admin-password-1";
const CLIENT_ID: &str = "prompt-manager";
const CLIENT_SECRET: &str = "client-secret-0123456789abcdef";

/// The built server with single sign-on allowed to reach providers on loopback, in a fresh
/// directory; stopped on drop.
struct App {
    /// `http://127.0.0.1:PORT`: for API calls.
    url: String,
    /// `http://localhost:PORT`: where the browser goes.
    origin: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl App {
    fn start() -> App {
        let dir = tempfile::tempdir().unwrap();
        let env = [("SSO_ALLOW_PRIVATE_NETWORKS", "true".to_owned())];
        let (url, child) = server::spawn(dir.path(), &env);
        let origin = url.replace("127.0.0.1", "localhost");
        App { url, origin, child, _dir: dir }
    }

    /// Creates tenant `acme` (as the seeded system administrator) with a password admin, and
    /// returns that admin's API client.
    async fn acme_admin(&self) -> Api {
        let system = Api::admin(&self.url).await;
        let (status, tenant) =
            system.post("/api/v1/tenants", json!({"name": "Acme", "subdomain": TENANT})).await;
        assert_eq!(status, 201, "creating the tenant: {tenant}");
        let admin = json!({
            "email": ADMIN, "first_name": "Ada", "last_name": "Admin", "role": "admin",
            "password": ADMIN_PASSWORD, "tenant_id": tenant["id"],
        });
        let (status, user) = system.post("/api/v1/users", admin).await;
        assert_eq!(status, 201, "creating the tenant's admin: {user}");
        let login = json!({"tenant": TENANT, "email": ADMIN, "password": ADMIN_PASSWORD});
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&login)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session: Value = response.json().await.unwrap();
        system.with_token(session["token"].as_str().unwrap())
    }
}

async fn put_settings(admin: &Api, settings: Value) {
    let (status, saved) = admin.send(reqwest::Method::PUT, "/api/v1/sso", Some(settings)).await;
    assert_eq!(status, 200, "saving the SSO settings: {saved}");
}

/// The tenant's users as the API lists them: (email, role).
async fn users(admin: &Api) -> Vec<(String, String)> {
    let (status, list) = admin.get("/api/v1/users").await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    items
        .iter()
        .map(|u| (u["email"].as_str().unwrap().to_owned(), u["role"].as_str().unwrap().to_owned()))
        .collect()
}

fn user(login: &str, sub: &str, name: &str, groups: &[&str]) -> TestUser {
    TestUser {
        oid: Some(format!("oid-{sub}")),
        email: Some(login.to_owned()),
        email_verified: Some(true),
        name: Some(name.to_owned()),
        groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
        ..TestUser::new(login, sub)
    }
}

/// An OpenID provider with our server registered as a confidential client (sign-out back to
/// our sign-in page), signing in `users`.
async fn oidc_provider(app: &App, users: Vec<TestUser>) -> OidcProvider {
    let mut client =
        OidcClient::confidential(CLIENT_ID, CLIENT_SECRET, &format!("{}/auth/callback", app.origin));
    client.post_logout_redirect_uris = vec![format!("{}/login", app.origin)];
    OidcProvider::start(OidcOptions { clients: vec![client], users, ..OidcOptions::default() }).await
}

/// The visible text of the first element matching `css` (empty when there is none).
async fn text_of(browser: &Browser, css: &str) -> String {
    let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : '';";
    browser.execute(script, vec![json!(css)]).await.as_str().unwrap_or_default().to_owned()
}

/// Waits until the browser's whole URL starts with `prefix` (pages of any origin).
async fn wait_for_url(browser: &Browser, prefix: &str) {
    let script = "return location.href.startsWith(arguments[0]);";
    wait_until(browser, script, vec![json!(prefix)], &format!("the URL to start with {prefix}")).await;
}

async fn current_url(browser: &Browser) -> String {
    browser.client().current_url().await.unwrap().to_string()
}

/// On the sign-in page: types the organisation and the email, and waits for the single
/// sign-on button to carry the email as its login hint.
async fn offer_single_sign_on(browser: &Browser, email: &str) {
    browser.goto("/login").await;
    browser.fill("tenant", TENANT).await;
    browser.fill("email", email).await;
    wait_until(
        browser,
        "const a = document.querySelector('[data-testid=sso-sign-in]'); \
         return !!a && a.href.endsWith(arguments[0]);",
        vec![json!(format!("/auth/sso/{TENANT}?login_hint={}", email.replace('@', "%40")))],
        "the single sign-on button for the organisation, with the email as login hint",
    )
    .await;
}

/// [`offer_single_sign_on`], then follows the button.
async fn start_single_sign_on(browser: &Browser, email: &str) {
    offer_single_sign_on(browser, email).await;
    browser.click("[data-testid=sso-sign-in]").await;
}

/// Signed in on the prompt list: the top bar's name and "tenant · role", and the session the
/// web app keeps, as the API sees it.
async fn assert_signed_in(browser: &Browser, api: &Api, name: &str, email: &str, role: &str) {
    browser.wait_for_path("/prompts").await;
    browser.wait_for("header.topbar .user-menu").await;
    wait_until(
        browser,
        "const e = document.querySelector('.user-menu .who-name'); return !!e && e.innerText.trim() === arguments[0];",
        vec![json!(name)],
        &format!("the top bar to name {name}"),
    )
    .await;
    assert_eq!(text_of(browser, ".user-menu .who-meta").await, format!("Acme · {role}"));
    let token = app::session_token(browser).await.expect("the app keeps a session token");
    let (status, me) = api.with_token(&token).get("/api/v1/auth/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["user"]["email"].as_str(), me["user"]["role"].as_str()),
        (Some(email), Some(role)),
        "{me}"
    );
}

#[tokio::test]
async fn an_admin_sets_up_and_tests_openid_connect_then_a_person_signs_in_and_out() {
    let app = App::start();
    let admin = app.acme_admin().await;
    let provider = oidc_provider(
        &app,
        vec![
            user(ADMIN, "admin", "Ada Admin", &["pm-writers", "staff"]),
            user("ann@acme.test", "ann", "Ann Lee", &["pm-writers"]),
        ],
    )
    .await;
    let browser = Browser::launch(&app.origin, Viewport::DESKTOP).await;

    // The admin signs in with a password (the organisation has no single sign-on yet).
    browser.goto("/login").await;
    browser.fill("tenant", TENANT).await;
    browser.fill("email", ADMIN).await;
    browser.fill("password", ADMIN_PASSWORD).await;
    browser.click_button("Sign in").await;
    browser.wait_for_path("/prompts").await;
    browser.click("[data-testid=nav-sso]").await;
    browser.wait_for_path("/admin/sso").await;

    // OpenID Connect, typed into the form.
    browser.wait_for("#sso-issuer").await;
    assert_eq!(
        browser.execute("return document.getElementById('sso-protocol-oidc').checked;", vec![]).await,
        true,
        "OpenID Connect is the default protocol"
    );
    browser.click("#sso-enabled").await;
    browser.fill("sso-issuer", &provider.issuer()).await;
    browser.fill("sso-client-id", CLIENT_ID).await;
    browser.fill("sso-client-secret", CLIENT_SECRET).await;
    browser.fill("sso-allowed-domains", "acme.test").await;
    app::select(&browser, "sso-default-role", "readonly").await;
    browser.fill("sso-role-claim", "groups").await;
    browser.click("#sso-role-rule-add").await;
    let rule = browser.wait_for("[data-testid=sso-role-rule] [data-testid=sso-role-rule-value]").await;
    rule.send_keys("pm-writers").await.unwrap();
    let rule_role = browser
        .execute("return document.querySelector('[data-testid=sso-role-rule-role]').id;", vec![])
        .await;
    app::select(&browser, rule_role.as_str().unwrap(), "user").await;
    browser.click("#sso-create-users").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "sso-settings").await;
    browser.click("#sso-save").await;
    browser.wait_for_text("Single sign-on settings saved.").await;
    let (_, saved) = admin.get("/api/v1/sso").await;
    assert_eq!(saved["source"], "tenant", "{saved}");
    assert_eq!(saved["protocol"], "oidc");
    assert_eq!(saved["enabled"], true);
    assert_eq!(saved["issuer"], provider.issuer());
    assert_eq!(saved["client_id"], CLIENT_ID);
    assert_eq!(saved["client_secret"], "set, ends in …cdef");
    assert_eq!(saved["allowed_domains"], json!(["acme.test"]));
    assert_eq!(saved["default_role"], "readonly");
    assert_eq!(saved["role_claim"], "groups");
    assert_eq!(saved["role_rules"], json!([{"value": "pm-writers", "role": "user"}]));
    assert_eq!(saved["create_users"], true);
    assert_eq!(saved["password_sign_in"], true);
    let text = text_of(&browser, "[data-testid=sso-client-secret-hint]").await;
    assert!(text.contains("set, ends in …cdef") && !text.contains(CLIENT_SECRET), "{text}");

    // "Test configuration": through the provider (as the admin, the login hint) and back.
    browser.click("#sso-test").await;
    browser.wait_for("[data-testid=sso-test-outcome]").await;
    browser.wait_for_path("/admin/sso").await;
    let outcome = browser
        .execute("return document.querySelector('[data-testid=sso-test-outcome]').dataset.outcome;", vec![])
        .await;
    assert_eq!(outcome, "success", "{}", text_of(&browser, "[data-testid=sso-test-result]").await);
    assert_eq!(text_of(&browser, "[data-testid=sso-test-email]").await, ADMIN);
    assert_eq!(text_of(&browser, "[data-testid=sso-test-subject]").await, "oid-admin");
    assert_eq!(text_of(&browser, "[data-testid=sso-test-role]").await, "User", "pm-writers → user");
    let groups = text_of(&browser, "[data-testid=sso-test-claim][data-claim=groups] td").await;
    assert_eq!(groups.split_whitespace().collect::<Vec<_>>(), ["pm-writers", "staff"]);
    assert_eq!(
        text_of(&browser, "[data-testid=sso-test-existing-user]").await,
        "Already in the organisation"
    );
    assert!(!current_url(&browser).await.contains("test="), "the test's code left the address bar");
    browser.assert_accessible().await;
    app::screenshot(&browser, "sso-test-result").await;
    // A test changes nobody: no one created, and the admin is not given the mapped role.
    assert_eq!(users(&admin).await, [(ADMIN.to_owned(), "admin".to_owned())]);
    assert_eq!(admin.get("/api/v1/auth/me").await.0, 200, "the admin's session still works");

    // Ann signs in from the sign-in page: created, with the role her group maps to.
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    start_single_sign_on(&browser, "ann@acme.test").await;
    assert_signed_in(&browser, &admin, "Ann Lee", "ann@acme.test", "user").await;
    app::screenshot(&browser, "sso-signed-in").await;
    let people = users(&admin).await;
    assert!(people.contains(&("ann@acme.test".to_owned(), "user".to_owned())), "{people:?}");
    assert_eq!(people.len(), 2, "{people:?}");
    let token = app::session_token(&browser).await.unwrap();

    // Signing out ends the session here and takes her to the provider's sign-out page, which
    // sends her back to our sign-in page.
    browser.click_button("Sign out").await;
    wait_for_url(&browser, &provider.end_session_endpoint()).await;
    let end_session = current_url(&browser).await;
    assert_eq!(query_param(&end_session, "client_id").as_deref(), Some(CLIENT_ID), "{end_session}");
    let back = format!("{}/login", app.origin);
    assert_eq!(query_param(&end_session, "post_logout_redirect_uri"), Some(back.clone()), "{end_session}");
    assert_eq!(admin.with_token(&token).get("/api/v1/auth/me").await.0, 401, "her session has ended");
    browser.click_button("Sign out").await;
    wait_for_url(&browser, &back).await;
    browser.wait_for("input#email").await;
}

#[tokio::test]
async fn a_refused_sign_in_ends_on_a_page_that_says_why() {
    let app = App::start();
    let admin = app.acme_admin().await;
    let provider = oidc_provider(&app, vec![user("eve@evil.test", "eve", "Eve", &["pm-writers"])]).await;
    put_settings(
        &admin,
        json!({
            "protocol": "oidc", "enabled": true, "issuer": provider.issuer(),
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "allowed_domains": ["acme.test"], "default_role": "readonly", "create_users": true,
            "password_sign_in": true,
        }),
    )
    .await;
    let browser = Browser::launch(&app.origin, Viewport::DESKTOP).await;

    offer_single_sign_on(&browser, "eve@evil.test").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "sso-login").await;
    browser.click("[data-testid=sso-sign-in]").await;
    browser.wait_for_path("/login/sso-error").await;
    let url = current_url(&browser).await;
    assert_eq!(query_param(&url, "code").as_deref(), Some("sso_email_not_allowed"), "{url}");
    browser.wait_for("[data-testid=sso-error-title]").await;
    assert_eq!(text_of(&browser, "[data-testid=sso-error-title]").await, "Email domain not allowed");
    let explanation = text_of(&browser, "[data-testid=sso-error-text]").await;
    assert!(explanation.contains("not from a domain your organisation accepts"), "{explanation}");
    assert_eq!(text_of(&browser, "[data-testid=sso-error-code]").await, "sso_email_not_allowed");
    let back = browser.wait_for("[data-testid=sso-back-to-sign-in]").await;
    assert_eq!(back.text().await.unwrap().trim(), "Back to sign-in");
    assert_eq!(back.attr("href").await.unwrap().as_deref(), Some("/login"));
    assert!(browser.client().title().await.unwrap().contains("Sign-in failed"));
    browser.assert_accessible().await;
    app::screenshot(&browser, "sso-error").await;
    assert_eq!(users(&admin).await.len(), 1, "nobody was created");

    browser.click("[data-testid=sso-back-to-sign-in]").await;
    browser.wait_for_path("/login").await;
    browser.wait_for("input#email").await;
}

#[tokio::test]
async fn a_saml_sign_in_goes_through_the_idps_pages_to_a_session_with_the_mapped_role() {
    let app = App::start();
    let admin = app.acme_admin().await;
    let carol = SamlUser {
        name_id: "carol@acme.test".into(),
        email: Some("carol@acme.test".into()),
        groups: vec!["Domain Users".into(), "PM Admins".into()],
        name: Some("Carol Jones".into()),
    };
    let acs = format!("{}/auth/saml/acs", app.origin);
    let entity_id = format!("{}/auth/saml/{TENANT}", app.origin);
    let idp = SamlIdp::start(SamlOptions::new(&acs, &entity_id, carol)).await;
    put_settings(
        &admin,
        json!({
            "protocol": "saml", "enabled": true, "saml_metadata_xml": idp.metadata_xml(),
            "allowed_domains": ["acme.test"], "default_role": "readonly", "role_claim": "groups",
            "role_rules": [{"value": "PM Admins", "role": "admin"}], "create_users": true,
            "password_sign_in": true,
        }),
    )
    .await;
    let browser = Browser::launch(&app.origin, Viewport::DESKTOP).await;

    start_single_sign_on(&browser, "carol@acme.test").await;
    // saml-idp's page: the user and attributes it will assert, and its "Sign in" button.
    wait_for_url(&browser, &idp.base_url()).await;
    browser.wait_for("#btn-sign-in").await;
    app::screenshot(&browser, "sso-saml-idp").await;
    browser.click("#btn-sign-in").await;
    // Its answer posts itself to our ACS, which hands the sign-in to the web app.
    // (SAML names come from given-name and surname attributes; saml-idp sends only `name`.)
    assert_signed_in(&browser, &admin, "carol@acme.test", "carol@acme.test", "admin").await;
    let people = users(&admin).await;
    assert!(people.contains(&("carol@acme.test".to_owned(), "admin".to_owned())), "{people:?}");
}
