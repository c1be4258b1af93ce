//! People and their access in a real browser: API tokens (secret shown once, revoked), a
//! read-only user who is offered no edit controls and whom the API refuses anyway, and signing
//! out (and back in to the page one was on).

use std::time::Duration;

use serde_json::json;

use crate::api::{self, ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, wait_for_count, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

#[tokio::test]
async fn an_api_token_is_shown_once_works_and_is_revoked() {
    let server = server::start();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let session = Api::admin(&server.url).await;

    browser.click(r#".user-menu a[href="/tokens"]"#).await;
    browser.wait_for_path("/tokens").await;
    browser.wait_for_text("No tokens yet.").await;
    browser.fill("token-name", "CI pipeline").await;
    app::select(&browser, "token-scope", "read_write").await;
    browser.fill("token-expiry", "30").await;
    browser.click_button("Create token").await;

    let secret = browser.wait_for("#token-secret").await.text().await.unwrap();
    assert!(secret.starts_with("pmt_") && secret.len() > 20, "a token secret: {secret:?}");
    browser.wait_for_text("Copy it now: it will not be shown again.").await;
    wait_for_count(&browser, "table.tokens tbody tr", 1).await;
    let row = app::texts(&browser, "table.tokens tbody tr").await.remove(0);
    assert!(row.contains("CI pipeline") && row.contains("Read and write"), "{row}");
    assert!(!row.contains(&secret), "the list shows only the prefix: {row}");
    browser.assert_accessible().await;
    app::screenshot(&browser, "tokens").await;

    // The secret works as a bearer token.
    let integration = session.with_token(&secret);
    let (status, list) = integration.get("/api/v1/prompts").await;
    assert_eq!(status, 200, "{list}");

    // Shown once: after a reload the token is listed, its secret is not.
    browser.goto("/tokens").await;
    wait_for_count(&browser, "table.tokens tbody tr", 1).await;
    assert!(browser.try_wait_for("#token-secret", Duration::from_millis(300)).await.is_err());
    assert!(!browser.text().await.contains(&secret), "the secret is not on the page any more");

    browser.click_button("Revoke").await;
    browser.click_button("Yes, revoke").await;
    browser.wait_for_text("No tokens yet.").await;
    let (status, answer) = integration.get("/api/v1/prompts").await;
    assert_eq!(status, 401, "a revoked token is refused: {answer}");
}

#[tokio::test]
async fn a_readonly_user_sees_no_edit_controls_and_the_api_refuses_them_too() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let seeded = api::seed_library(&admin).await;
    admin.create_user("rita.reader@example.com", "Rita", "Reader", "readonly", "reader-pass-1").await;
    let welcome = seeded[0]["id"].as_str().unwrap().to_owned();

    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, "rita.reader@example.com", "reader-pass-1").await;

    // The library: everything shared (not Lin's private draft), no "New prompt", no admin menu.
    let shared = seeded.iter().filter(|p| p["visibility"] != "private").count();
    wait_for_count(&browser, "li.prompt-item", shared).await;
    assert_eq!(
        browser.execute(r#"return !!document.querySelector('a[href="/prompts/new"]');"#, vec![]).await,
        false
    );
    assert_eq!(
        app::texts(&browser, "nav.main-nav a").await,
        ["Prompts", "Import/Export", "AI settings", "Approvals"]
    );
    assert!(app::texts(&browser, ".user-menu .who-meta").await[0].contains("readonly"));
    browser.assert_accessible().await;

    // A prompt is shown to read, with its variables, but nothing to save or delete.
    browser.click(&format!(r#"a.prompt-link[href="/prompts/{welcome}"]"#)).await;
    browser.wait_for_text("You can read this prompt but not change it.").await;
    browser.wait_for("#prompt-content-view").await;
    let buttons = app::button_texts(&browser).await;
    for refused in ["Save", "Delete"] {
        assert!(!buttons.iter().any(|b| b == refused), "no {refused:?} button: {buttons:?}");
    }
    let editable = browser
        // The prompt's own fields; the AI panel's run form is for reading too.
        .execute("return document.querySelectorAll('[id^=\"prompt-\"]:is(textarea, input)').length;", vec![])
        .await;
    assert_eq!(editable, 0, "no prompt fields to edit");
    browser.assert_accessible().await;
    app::screenshot(&browser, "readonly").await;

    // Its history can be read but not restored.
    browser.click(r#"a.button[href$="/history"]"#).await;
    browser.wait_for_path(&format!("/prompts/{welcome}/history")).await;
    wait_for_count(&browser, "table.versions tbody tr", 1).await;
    assert!(!app::button_texts(&browser).await.iter().any(|b| b == "Restore"));

    // Typed addresses of writing and admin screens explain instead of offering forms.
    browser.goto("/prompts/new").await;
    browser.wait_for_text("Your role can read prompts but not write them.").await;
    assert_eq!(browser.execute("return !!document.getElementById('prompt-name');", vec![]).await, false);
    browser.goto("/admin/users").await;
    browser.wait_for_text("Only administrators manage users.").await;
    assert_eq!(browser.execute("return !!document.getElementById('user-email');", vec![]).await, false);
    browser.goto("/import-export").await;
    browser.wait_for_text("Your role can read prompts but not import them.").await;
    browser.assert_accessible().await;

    // Forcing it: the app's own session token, straight at the API, is refused every write.
    let token = app::session_token(&browser).await.expect("the app keeps a session token");
    let reader = admin.with_token(&token);
    let prompt = format!("/api/v1/prompts/{welcome}");
    assert_eq!(reader.get(&prompt).await.0, 200, "reading is allowed");
    let attempts = [
        (reqwest::Method::PATCH, prompt.clone(), json!({ "content": "Hacked {{customer}}", "version": 1 })),
        (reqwest::Method::POST, "/api/v1/prompts".to_owned(), json!({ "name": "forced", "content": "x" })),
        (reqwest::Method::POST, format!("{prompt}/versions/1/restore"), json!({ "version": 1 })),
        (reqwest::Method::DELETE, prompt.clone(), json!({})),
        (
            reqwest::Method::POST,
            "/api/v1/users".to_owned(),
            json!({ "email": "mallory@example.com", "role": "admin", "password": "mallory-pass-1" }),
        ),
    ];
    for (method, path, body) in attempts {
        let (status, answer) = reader.send(method.clone(), &path, Some(body)).await;
        assert_eq!(status, 403, "{method} {path} as a read-only user: {answer}");
    }
    let (_, unchanged) = admin.get(&prompt).await;
    assert_eq!(unchanged["version"], 1, "the prompt is untouched: {unchanged}");
}

#[tokio::test]
async fn signing_out_ends_the_session_and_signing_in_returns_to_the_page() {
    let server = server::start();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;

    // Signed out, an address inside the app leads to sign-in and, after it, back there.
    browser.goto("/tokens").await;
    browser.wait_for_path("/login").await;
    wait_until(&browser, "return location.search === '?next=%2Ftokens';", vec![], "the place remembered")
        .await;
    browser.wait_for("input#email").await;
    app::sign_in_here(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_path("/tokens").await;
    browser.wait_for_text("No tokens yet.").await;

    // A session the server ended (here: logged out elsewhere) sends the person back to sign in
    // as soon as the app next calls the API, remembering where they were.
    let token = app::session_token(&browser).await.expect("the app keeps a session token");
    let elsewhere = Api::admin(&server.url).await.with_token(&token);
    assert_eq!(elsewhere.post("/api/v1/auth/logout", json!({})).await.0, 200);
    browser.click(r#"nav.main-nav a[href="/prompts"]"#).await;
    browser.wait_for_path("/login").await;
    browser.wait_for_text("Your session has ended. Please sign in again.").await;
    wait_until(&browser, "return location.search === '?next=%2Fprompts';", vec![], "the place remembered")
        .await;
    app::sign_in_here(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.wait_for_path("/prompts").await;

    // Signing out: back on the sign-in page, the token forgotten here and refused by the server.
    let token = app::session_token(&browser).await.expect("the app keeps a session token");
    let old = elsewhere.with_token(&token);
    assert_eq!(old.get("/api/v1/auth/me").await.0, 200);
    browser.click_button("Sign out").await;
    browser.wait_for_path("/login").await;
    browser.wait_for_text("You have signed out.").await;
    browser.wait_for("input#email").await;
    wait_until(
        &browser,
        "return sessionStorage.getItem('prompt-manager.session') === null;",
        vec![],
        "the app to forget the token",
    )
    .await;
    let (status, answer) = old.get("/api/v1/auth/me").await;
    assert_eq!(status, 401, "the old token no longer works: {answer}");
    browser.goto("/prompts").await;
    browser.wait_for_path("/login").await;
    browser.wait_for("input#email").await;
}
