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

#[tokio::test]
async fn splits_are_set_by_weight_shown_and_their_fetches_counted() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let prompt = admin.create_prompt(json!({"name": "support/ab", "content": "v1 Hello"})).await;
    let id = prompt["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/prompts/{id}");
    for (version, text) in [(1, "v2 Hi"), (2, "v3 Hey")] {
        let (status, body) = admin.patch(&path, json!({"content": text, "version": version})).await;
        assert_eq!(status, 200, "{body}");
    }

    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("/prompts/{id}/history")).await;
    wait_for_badge(&browser, "latest", &[3]).await;
    browser.wait_for_text("No fetch by a label in this period.").await;

    // Splitting starts as an even test of the two newest versions; the shares follow the weights.
    browser.fill("promote-label", "production").await;
    browser.click("#promote-split").await;
    app::wait_for_count(&browser, ".split-arm", 2).await;
    assert_eq!(app::value_of(&browser, "split-version-0").await, "3");
    assert_eq!(app::value_of(&browser, "split-version-1").await, "2");
    assert_eq!(app::texts(&browser, ".split-share").await, ["50%", "50%"]);
    browser.fill("split-weight-0", "70").await;
    browser.fill("split-weight-1", "30").await;
    wait_until(
        &browser,
        "return [...document.querySelectorAll('.split-share')].map(e => e.textContent).join() === '70%,30%';",
        vec![],
        "the shares 70% and 30%",
    )
    .await;
    // A third version can join and leave; two always stay.
    browser.click("#split-add").await;
    app::wait_for_count(&browser, ".split-arm", 3).await;
    assert_eq!(app::value_of(&browser, "split-version-2").await, "1");
    browser.click("[data-arm=\"2\"] button").await;
    app::wait_for_count(&browser, ".split-arm", 2).await;
    let removable =
        browser.execute("return document.querySelector('[data-arm=\"0\"] button').disabled;", vec![]).await;
    assert_eq!(removable, json!(true), "a split keeps two versions");

    // A split the server refuses is said beside the split.
    app::select(&browser, "split-version-1", "3").await;
    browser.click("#promote-submit").await;
    wait_until(
        &browser,
        "return document.getElementById('promote-split-error').textContent.includes('version 3 is named twice');",
        vec![],
        "the split refused",
    )
    .await;
    app::select(&browser, "split-version-1", "2").await;
    browser.fill("promote-reason", "A/B the greeting").await;
    browser.click("#promote-submit").await;
    browser.wait_for_text("production now splits its traffic: version 3 (70%), version 2 (30%).").await;
    wait_until(
        &browser,
        "const s = document.querySelector('[data-label-row=\"production\"] .split-summary'); \
         return !!s && s.dataset.split === '3:70,2:30';",
        vec![],
        "the split in the labels table",
    )
    .await;
    browser.wait_for_text("production split between version 3 (70%), version 2 (30%)").await;

    // Applications fetching by the label get one of the two, the same one per key, and counted.
    let mut served = std::collections::BTreeMap::<u64, u64>::new();
    for key in 0..20 {
        let (status, body) =
            admin.get(&format!("/api/v1/prompts/support%2Fab?label=production&key=user-{key}")).await;
        assert_eq!(status, 200, "{body}");
        *served.entry(body["version"].as_u64().unwrap()).or_default() += 1;
    }
    assert!(served.keys().all(|v| [2, 3].contains(v)), "{served:?}");
    browser.click("#label-stats-refresh").await;
    let expected: Vec<_> = served.iter().map(|(v, n)| json!([v.to_string(), n.to_string()])).collect();
    let script = "const rows = [...document.querySelectorAll('tr.label-stats-row[data-label=\"production\"]')] \
                  .map(r => [r.dataset.version, r.dataset.fetches]); \
                  return JSON.stringify(rows) === JSON.stringify(arguments[0]);";
    wait_until(&browser, script, vec![json!(expected)], &format!("the fetches counted as {served:?}")).await;
    app::select(&browser, "label-stats-days", "30").await;
    wait_until(&browser, script, vec![json!(expected)], "the same counts over 30 days").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "release-split").await;
}
