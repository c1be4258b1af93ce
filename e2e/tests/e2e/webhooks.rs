//! Webhooks in a real browser, delivering to a real receiver on loopback
//! (`crates/api/tests/peers/webhook_receiver.py`, which verifies each delivery's signature with
//! the Standard Webhooks reference library): an administrator registers an endpoint on
//! `/admin/webhooks` and copies its secret, shown once; a new prompt is delivered, signed with
//! that secret, and shows in the endpoint's delivery log with its try; Redeliver sends it again;
//! a test event, a failing receiver and a disabled endpoint give delivered and failed deliveries
//! to filter by; a rotated secret is shown once and signs alongside the old one; the log pages;
//! the endpoint is edited and deleted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, select, texts, wait_for_count, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

/// Deliveries are sent by the server's worker (every second) and retried after 1 s, 6 s, …
const WITHIN: Duration = Duration::from_secs(20);

/// The built server allowed to deliver to loopback, retrying after 1 s; stopped on drop.
struct App {
    url: String,
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
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true".to_owned()),
            ("WEBHOOK_RETRY_BASE_SECONDS", "1".to_owned()),
        ];
        let (url, child) = server::spawn(dir.path(), &env);
        Self { url, child, _dir: dir }
    }
}

/// The API tests' webhook receiver, run with the Python that `cargo xtask test` provides with
/// `standardwebhooks` installed (`~/.cache/prompt-manager/webhooks/venv`); killed on drop.
struct Receiver {
    url: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    fn start() -> Self {
        let python = PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/prompt-manager/webhooks/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `cargo xtask test` (or `cargo xtask peers`), which installs the \
             Standard Webhooks reference library once",
            python.display()
        );
        let script = server::workspace_root().join("crates/api/tests/peers/webhook_receiver.py");
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(python)
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // It prints its port once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 =
            line.trim().parse().unwrap_or_else(|_| panic!("the receiver did not start: {line:?}"));
        Self { url: format!("http://127.0.0.1:{port}/hooks"), dir, child }
    }

    /// The secrets deliveries are checked against.
    fn set_secrets(&self, secrets: &[&str]) {
        std::fs::write(self.dir.path().join("secrets.json"), serde_json::to_string(secrets).unwrap())
            .unwrap();
    }

    /// The status every delivery is answered with from now on.
    fn answer(&self, status: u16) {
        std::fs::write(self.dir.path().join("status"), status.to_string()).unwrap();
    }

    /// Every request received so far, oldest first.
    fn received(&self) -> Vec<Value> {
        let log = std::fs::read_to_string(self.dir.path().join("received.jsonl")).unwrap_or_default();
        log.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Waits until `done` holds for what was received, and returns it.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WITHIN;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(Instant::now() < deadline, "{what}: not received within {WITHIN:?}; got {received:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn of_type<'a>(received: &'a [Value], event: &str) -> Vec<&'a Value> {
    received.iter().filter(|r| r["body"]["type"] == event).collect()
}

/// The signing secret shown on the page.
async fn shown_secret(browser: &Browser) -> String {
    browser.wait_for("#webhook-secret").await;
    let secret = browser.execute("return document.getElementById('webhook-secret').innerText;", vec![]).await;
    secret.as_str().unwrap().trim().to_owned()
}

/// The `data-status` of the delivery rows, top to bottom.
async fn row_statuses(browser: &Browser) -> Vec<String> {
    let statuses = browser
        .execute(
            "return [...document.querySelectorAll('tr.delivery-row')].map(r => r.dataset.status);",
            vec![],
        )
        .await;
    statuses.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_admin_registers_a_webhook_and_follows_its_deliveries() {
    let server = App::start();
    let admin = Api::admin(&server.url).await;
    let receiver = Receiver::start();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // Webhooks are in the administrators' navigation.
    let nav = texts(&browser, r#"nav.main-nav a[href="/admin/webhooks"]"#).await;
    assert_eq!(nav, ["Webhooks"]);
    browser.click(r#"nav.main-nav a[href="/admin/webhooks"]"#).await;
    browser.wait_for_path("/admin/webhooks").await;
    browser.wait_for_text("No endpoints yet.").await;
    browser.assert_accessible().await;

    // Without an event, the form says so before sending; a URL the server refuses gets its reason.
    browser.fill("webhook-url", &receiver.url).await;
    browser.click("#webhook-create").await;
    browser.wait_for_text("choose at least one event").await;
    browser.click("#webhook-event-prompt-created").await;
    browser.fill("webhook-url", "ftp://example.test/hooks").await;
    browser.click("#webhook-create").await;
    wait_until(
        &browser,
        "return document.getElementById('webhook-url').getAttribute('aria-invalid') === 'true' \
         && document.getElementById('webhook-url-error').innerText.includes('http or https');",
        vec![],
        "the URL marked with the server's reason",
    )
    .await;
    assert_eq!(admin.get("/api/v1/webhooks").await.1["items"], json!([]), "nothing was registered");

    // Registered for new prompts and label moves: the secret is shown, once.
    browser.fill("webhook-url", &receiver.url).await;
    browser.fill("webhook-description", "Deploy pipeline").await;
    browser.click("#webhook-event-label-moved").await;
    browser.click("#webhook-create").await;
    let secret = shown_secret(&browser).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.wait_for_text("Copy it now: it will not be shown again.").await;
    receiver.set_secrets(&[&secret]);
    wait_for_count(&browser, "tr.webhook-row", 1).await;
    let row = texts(&browser, "tr.webhook-row").await.remove(0);
    for part in [receiver.url.as_str(), "Deploy pipeline", "prompt.created", "label.moved", "Enabled"] {
        assert!(row.contains(part), "{part:?} in {row:?}");
    }
    let (_, list) = admin.get("/api/v1/webhooks").await;
    let endpoint = list["items"][0].clone();
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let mut events: Vec<&str> =
        endpoint["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(events, ["label.moved", "prompt.created"]);
    assert_eq!(endpoint["description"], "Deploy pipeline");
    browser.assert_accessible().await;
    app::screenshot(&browser, "webhooks").await;

    // Not after a reload.
    browser.goto("/admin/webhooks").await;
    wait_for_count(&browser, r#"tr.webhook-row[data-enabled="true"]"#, 1).await;
    assert_eq!(browser.execute("return !!document.getElementById('webhook-secret');", vec![]).await, false);
    assert!(!browser.text().await.contains(&secret), "the secret is not shown again");

    // A new prompt is delivered, signed with the secret that was shown.
    let prompt = admin.create_prompt(json!({"name": "hooks/welcome", "content": "Hello {{name}}"})).await;
    let received = receiver.wait_for("prompt.created", |r| !of_type(r, "prompt.created").is_empty()).await;
    let first = of_type(&received, "prompt.created")[0].clone();
    assert_eq!(first["verified"], json!([true]), "{first}");
    assert_eq!(first["body"]["data"]["prompt"]["id"], prompt["id"]);
    let first_id = first["id"].as_str().unwrap().to_owned();

    // Its delivery log shows it delivered, and its try.
    browser.click(&format!(r#"a.webhook-link[href="/admin/webhooks/{id}"]"#)).await;
    browser.wait_for_path(&format!("/admin/webhooks/{id}")).await;
    let first_row = format!(r#"tr.delivery-row[data-delivery="{first_id}"]"#);
    browser.wait_for(&format!(r#"{first_row}[data-status="delivered"][data-event="prompt.created"]"#)).await;
    browser.click(&format!("{first_row} button.delivery-open")).await;
    let detail = format!(r#"#delivery-detail[data-delivery="{first_id}"]"#);
    browser.wait_for(&format!(r#"{detail} tr.attempt-row[data-attempt="1"][data-status-code="204"]"#)).await;
    wait_for_count(&browser, "#delivery-detail tr.attempt-row", 1).await;
    let payload = texts(&browser, "#delivery-detail pre.delivery-payload").await.remove(0);
    assert!(payload.contains("hooks/welcome") && payload.contains("prompt.created"), "{payload}");
    browser.assert_accessible().await;

    // Redeliver: the same event again, as a second delivery with an id of its own.
    browser.click("#redeliver").await;
    let received = receiver.wait_for("the redelivery", |r| of_type(r, "prompt.created").len() >= 2).await;
    let again = of_type(&received, "prompt.created")[1].clone();
    let again_id = again["id"].as_str().unwrap().to_owned();
    assert_ne!(again_id, first_id);
    assert_eq!((again["verified"].clone(), again["body"].clone()), (json!([true]), first["body"].clone()));
    let again_row = format!(r#"tr.delivery-row[data-delivery="{again_id}"][data-status="delivered"]"#);
    browser.wait_for(&again_row).await;
    wait_for_count(&browser, r#"tr.delivery-row[data-event="prompt.created"]"#, 2).await;
    assert!(texts(&browser, &again_row).await[0].contains("redelivery of"));
    // The detail follows the new delivery, with its own try.
    let again_detail = format!(r#"#delivery-detail[data-delivery="{again_id}"]"#);
    browser.wait_for(&format!(r#"{again_detail} tr.attempt-row[data-status-code="204"]"#)).await;

    // A test event.
    browser.click("#webhook-test").await;
    browser.wait_for_text("Test event queued").await;
    browser.wait_for(r#"tr.delivery-row[data-event="webhook.test"][data-status="delivered"]"#).await;
    let received = receiver.wait_for("the test event", |r| !of_type(r, "webhook.test").is_empty()).await;
    assert_eq!(of_type(&received, "webhook.test")[0]["verified"], json!([true]));

    // The receiver fails: the next test waits for its retry; disabled, the endpoint gives it up.
    receiver.answer(503);
    browser.click("#webhook-test").await;
    let failing = r#"tr.delivery-row[data-event="webhook.test"]:not([data-status="delivered"])"#;
    browser.wait_for(failing).await;
    wait_until(
        &browser,
        "const r = document.querySelector(arguments[0]); \
         return !!r && Number(r.querySelector('.delivery-attempts').innerText) >= 1 \
         && r.querySelector('.delivery-answer').innerText === '503';",
        vec![json!(failing)],
        "the failing test's first try, answered 503",
    )
    .await;
    browser.click("#webhook-toggle").await;
    browser.wait_for(r#"#webhook-state[data-enabled="false"]"#).await;
    browser.wait_for_text("Endpoint disabled").await;
    assert_eq!(texts(&browser, "#webhook-toggle").await, ["Enable"]);
    browser.wait_for(r#"tr.delivery-row[data-event="webhook.test"][data-status="failed"]"#).await;
    let (_, shown) = admin.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(shown["enabled"], false);
    // Its tries: the 503s, then the refusal of a disabled endpoint.
    browser.click(r#"tr.delivery-row[data-status="failed"] button.delivery-open"#).await;
    browser.wait_for(r#"#delivery-detail tr.attempt-row[data-attempt="1"][data-status-code="503"]"#).await;
    browser.wait_for_text("the endpoint is disabled").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "webhook-deliveries").await;

    // Filtering by status.
    wait_for_count(&browser, "tr.delivery-row", 4).await;
    select(&browser, "delivery-status-filter", "failed").await;
    wait_for_count(&browser, "tr.delivery-row", 1).await;
    assert_eq!(row_statuses(&browser).await, ["failed"]);
    select(&browser, "delivery-status-filter", "delivered").await;
    wait_for_count(&browser, "tr.delivery-row", 3).await;
    assert_eq!(row_statuses(&browser).await, ["delivered", "delivered", "delivered"]);
    select(&browser, "delivery-status-filter", "pending").await;
    browser.wait_for("#deliveries-empty").await;
    wait_for_count(&browser, "tr.delivery-row", 0).await;
    select(&browser, "delivery-status-filter", "").await;
    wait_for_count(&browser, "tr.delivery-row", 4).await;

    // The list says it is disabled.
    browser.goto("/admin/webhooks").await;
    wait_for_count(&browser, r#"tr.webhook-row[data-enabled="false"]"#, 1).await;
    assert!(texts(&browser, "tr.webhook-row").await[0].contains("Disabled"));

    // A rotated secret is shown once; for a while both secrets sign.
    browser.goto(&format!("/admin/webhooks/{id}")).await;
    browser.click("#webhook-toggle").await;
    browser.wait_for(r#"#webhook-state[data-enabled="true"]"#).await;
    browser.click("#webhook-rotate").await;
    browser.wait_for_text("Secret rotated.").await;
    let rotated = shown_secret(&browser).await;
    assert!(rotated.starts_with("whsec_") && rotated != secret, "{rotated}");
    browser.wait_for_text("the previous one also signs until").await;
    receiver.set_secrets(&[&rotated, &secret]);
    receiver.answer(204);
    browser.click("#webhook-test").await;
    // (Checked against both secrets from now on: two answers per delivery.)
    let checked_by_both = |r: &Value| r["verified"].as_array().is_some_and(|v| v.len() == 2);
    let received = receiver
        .wait_for("a test after the rotation", |r| {
            of_type(r, "webhook.test").into_iter().any(checked_by_both)
        })
        .await;
    let after = of_type(&received, "webhook.test").into_iter().find(|r| checked_by_both(r)).unwrap();
    assert_eq!(after["verified"], json!([true, true]), "both secrets sign: {after}");

    // The log pages: 25 deliveries, 20 at a time.
    for _ in 0..20 {
        let (status, body) = admin.post(&format!("/api/v1/webhooks/{id}/test"), json!({})).await;
        assert_eq!(status, 202, "{body}");
    }
    browser.goto(&format!("/admin/webhooks/{id}")).await;
    wait_for_count(&browser, "tr.delivery-row", 20).await;
    browser.click("#deliveries-more").await;
    wait_for_count(&browser, "tr.delivery-row", 25).await;
    assert_eq!(browser.execute("return !!document.getElementById('deliveries-more');", vec![]).await, false);
    let oldest = browser
        .execute("const rows = document.querySelectorAll('tr.delivery-row'); return rows[rows.length - 1].dataset.delivery;", vec![])
        .await;
    assert_eq!(oldest, json!(first_id), "the oldest delivery comes last");

    // Edited: another description, only new prompts.
    browser.fill("webhook-edit-description", "Deploys and docs").await;
    browser.click("#webhook-edit-event-label-moved").await;
    browser.click("#webhook-save").await;
    browser.wait_for_text("Endpoint saved.").await;
    let (_, shown) = admin.get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(
        (shown["description"].clone(), shown["events"].clone()),
        (json!("Deploys and docs"), json!(["prompt.created"]))
    );

    // Deleted, after a confirmation.
    browser.click("#webhook-delete").await;
    browser.wait_for_text("Delete this endpoint and its delivery log?").await;
    browser.click("#webhook-delete-confirm").await;
    browser.wait_for_path("/admin/webhooks").await;
    browser.wait_for_text("No endpoints yet.").await;
    assert_eq!(admin.get(&format!("/api/v1/webhooks/{id}")).await.0, 404);
}
