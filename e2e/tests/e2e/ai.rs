//! AI services in a real browser against a real model (llama.cpp with SmolLM2): add a
//! connection and test it, make it the one that runs and enhances, run a prompt and watch the
//! answer stream in, then enhance the prompt and accept the suggestion as a new version.

use serde_json::{Value, json};

use crate::api::{ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, select, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

#[path = "../../../crates/api/tests/api/llama.rs"]
mod llama;

/// The text of the element with id `id` (empty when it is missing).
async fn text_of(browser: &Browser, id: &str) -> String {
    let script = "const e = document.getElementById(arguments[0]); return e ? e.innerText : '';";
    browser.execute(script, vec![json!(id)]).await.as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_connection_runs_a_prompt_streaming_and_an_enhancement_is_accepted() {
    let llama = llama::LlamaServer::start().await;
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let prompt = admin
        .create_prompt(json!({"name": "capital", "title": "Capital city",
            "content": "What is the capital of {{country}}? Answer in one word."}))
        .await;
    let id = prompt["id"].as_str().unwrap().to_owned();
    admin
        .create_prompt(json!({"name": "improver", "title": "Improver", "is_enhancement_prompt": true,
            "content": "Rewrite this prompt so it is clearer: {original_prompt}"}))
        .await;
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // Add a connection to the model server, and test it.
    browser.goto("/settings/ai").await;
    browser.wait_for("#conn-name").await;
    select(&browser, "conn-provider", "llamacpp").await;
    browser.fill("conn-name", "Local llama").await;
    browser.fill("conn-base-url", &llama.base_url).await;
    browser.fill("conn-model", llama::MODEL).await;
    browser.fill("conn-max-tokens", "24").await;
    browser.assert_accessible().await;
    browser.click("#conn-save").await;
    browser.wait_for("[data-testid=connection-item]").await;
    let (status, listed) = admin.get("/api/v1/ai/connections").await;
    assert_eq!(status, 200);
    let connection = listed["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["items"][0]["base_url"], Value::from(llama.base_url.as_str()));
    browser.click(&format!("#connection-{connection} [data-testid=connection-test]")).await;
    let result = format!("#connection-{connection} [data-testid=connection-test-result]");
    wait_until(
        &browser,
        "const e = document.querySelector(arguments[0]); return !!e && e.innerText.includes(arguments[1]);",
        vec![json!(result), json!(llama::MODEL)],
        "the connection test to list the model",
    )
    .await;

    // It runs and enhances this user's prompts.
    select(&browser, "ai-execution-connection", &connection).await;
    select(&browser, "ai-enhancement-connection", &connection).await;
    browser.click("#ai-settings-save").await;
    wait_until(
        &browser,
        "const e = document.getElementById('ai-effective'); return !!e && e.innerText.includes('Local llama');",
        vec![],
        "the effective connection to be the new one",
    )
    .await;
    app::screenshot(&browser, "ai-settings").await;

    // Run the prompt: the answer streams into the page, with tokens and time.
    browser.goto(&format!("/prompts/{id}")).await;
    browser.click("#ai-tab-run").await;
    browser.fill("run-var-country", "France").await;
    browser.click("#run-button").await;
    wait_until(
        &browser,
        "const e = document.getElementById('run-status'); return !!e && e.innerText.includes('Done.');",
        vec![],
        "the run to finish",
    )
    .await;
    let output = text_of(&browser, "run-output").await;
    assert!(!output.trim().is_empty(), "the answer is shown");
    assert!(text_of(&browser, "run-facts").await.contains(llama::MODEL));
    browser.assert_accessible().await;
    app::screenshot(&browser, "ai-run").await;
    // The run is recorded with the very answer the page streamed.
    let (_, runs) = admin.get(&format!("/api/v1/prompts/{id}/runs")).await;
    let recorded = runs["items"][0]["output"].as_str().unwrap();
    assert_eq!(recorded.trim(), output.trim());
    assert!(runs["items"][0]["usage"]["output_tokens"].as_u64().unwrap() >= 1);

    // Enhance with the tenant's enhancement prompt, see the suggestion, accept it.
    browser.click("#ai-tab-enhance").await;
    let (_, improvers) = admin.get("/api/v1/prompts?enhancement=true").await;
    let improver = improvers["items"][0]["id"].as_str().unwrap().to_owned();
    select(&browser, "enhance-prompt", &improver).await;
    browser.click("#enhance-button").await;
    browser.wait_for("#enhance-suggestion").await;
    let suggestion = text_of(&browser, "enhance-suggestion").await;
    assert!(!suggestion.trim().is_empty());
    browser.assert_accessible().await;
    app::screenshot(&browser, "ai-enhance").await;
    browser.click("#enhance-accept").await;
    let accepted = async || admin.get(&format!("/api/v1/prompts/{id}")).await.1["version"] == 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !accepted().await {
        assert!(std::time::Instant::now() < deadline, "the suggestion was never saved");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, versions) = admin.get(&format!("/api/v1/prompts/{id}/versions")).await;
    assert_eq!(versions["items"][0]["commit_message"], "Enhanced with improver on smollm2");
    let (_, current) = admin.get(&format!("/api/v1/prompts/{id}")).await;
    assert_eq!(current["content"].as_str().unwrap().trim(), suggestion.trim());
}
