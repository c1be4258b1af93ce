//! Release labels in a real browser, on a prompt's history page: badges on the versions a
//! label names, moving a label ("promote"), rolling it back, and the history of its moves; a
//! read-only user sees the labels but no controls.

use serde_json::json;

use crate::api::{ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, select, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

/// Waits until the version rows carrying label `label` are exactly `versions`.
async fn wait_for_badge(browser: &Browser, label: &str, versions: &[u32]) {
    let script = "const rows = [...document.querySelectorAll('table.versions tr[data-version]')] \
                  .filter(r => r.querySelector(`[data-label=\"${arguments[0]}\"]`)) \
                  .map(r => Number(r.dataset.version)); \
                  return JSON.stringify(rows) === JSON.stringify(arguments[1]);";
    wait_until(
        browser,
        script,
        vec![json!(label), json!(versions)],
        &format!("{label} on versions {versions:?}"),
    )
    .await;
}

#[tokio::test]
async fn labels_are_promoted_rolled_back_and_shown_on_versions() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let prompt =
        admin.create_prompt(json!({"name": "support/welcome", "content": "v1 Hello {{name}}"})).await;
    let id = prompt["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/prompts/{id}");
    for (version, text) in [(1, "v2 Hi {{name}}"), (2, "v3 Hey {{name}}")] {
        let (status, body) = admin.patch(&path, json!({"content": text, "version": version})).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = admin
        .send(reqwest::Method::PUT, &format!("{path}/labels/production"), Some(json!({"version": 1})))
        .await;
    assert_eq!(status, 200, "{body}");

    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("/prompts/{id}/history")).await;
    wait_for_badge(&browser, "latest", &[3]).await;
    wait_for_badge(&browser, "production", &[1]).await;
    browser.assert_accessible().await;

    // Promote version 3 to production, with a reason.
    browser.fill("promote-label", "production").await;
    select(&browser, "promote-version", "3").await;
    browser.fill("promote-reason", "tested on staging").await;
    browser.click("#promote-submit").await;
    browser.wait_for_text("production now names version 3.").await;
    wait_for_badge(&browser, "production", &[3]).await;
    let (_, served) = admin.get("/api/v1/prompts/support%2Fwelcome?label=production").await;
    assert_eq!(served["version"], 3);
    browser.wait_for_text("production moved from version 1 to 3").await;
    browser.wait_for_text("“tested on staging”").await;

    // A label name the server would refuse is marked before anything is sent.
    browser.fill("promote-label", "latest").await;
    browser.click("#promote-submit").await;
    wait_until(
        &browser,
        "return document.getElementById('promote-label').getAttribute('aria-invalid') === 'true';",
        vec![],
        "the label marked",
    )
    .await;

    // One click rolls it back to where it pointed before.
    browser.click("#label-production-rollback").await;
    browser.wait_for_text("Rolled back: production moved from version 3 to 1.").await;
    wait_for_badge(&browser, "production", &[1]).await;
    let (_, served) = admin.get("/api/v1/prompts/support%2Fwelcome?label=production").await;
    assert_eq!(served["version"], 1);
    app::wait_for_count(&browser, "ol.label-history li", 3).await;
    browser.wait_for_text("(a rollback)").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "release-labels").await;

    // A read-only user sees the labels and their history, and no controls.
    admin.create_user("rita@example.test", "Rita", "Reader", "readonly", "rita-password-1").await;
    let reader = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&reader, "rita@example.test", "rita-password-1").await;
    reader.goto(&format!("/prompts/{id}/history")).await;
    wait_for_badge(&reader, "production", &[1]).await;
    app::wait_for_count(&reader, "ol.label-history li", 3).await;
    let controls = reader
        .execute("return document.querySelectorAll('#promote-submit, [id$=\"-rollback\"], [id$=\"-remove\"]').length;", vec![])
        .await;
    assert_eq!(controls, json!(0));
    reader.assert_accessible().await;
}
