//! AI services over HTTP: connections and their sealed keys, settings and policy, runs (whole
//! and streamed), failures of the provider, the run limit, outbound address rules, compare,
//! enhance and accept, token counts and run analytics. Error paths run against our own provider
//! server on loopback (`provider.rs`); the happy path also against a real llama.cpp server with
//! a real model (`llama.rs`).

use persistence::testing::scope_of;
use std::time::{Duration, Instant};

use domain::session::TokenScope;
use domain::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::llama::LlamaServer;
use crate::prompts::{Library, create};
use crate::provider::Provider;
use crate::support::{Backend, Spawn, expect_problem, on_both_databases, spawn};

on_both_databases!(
    connections_are_scoped_sealed_and_validated,
    runs_answer_are_recorded_and_listed_per_prompt,
    enhancing_suggests_and_accepting_saves_a_version,
    settings_and_policy_choose_the_connection,
);

/// The library, with every server setting the AI tests need: loopback providers allowed.
async fn ai_library(backend: Backend, vars: Vec<(&'static str, &'static str)>) -> Library {
    let mut vars = vars;
    vars.push(("AI_ALLOW_PRIVATE_NETWORKS", "true"));
    let app = spawn(Spawn { backend, vars, ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let admin = app.user(&acme, "boss@acme.test", Role::Admin, "pw-boss-123").await;
    let ann = app.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let ben = app.user(&acme, "ben@acme.test", Role::User, "pw-ben-1234").await;
    let reader = app.user(&acme, "reader@acme.test", Role::Readonly, "pw-read-123").await;
    Library { app, acme, admin, ann, ben, reader }
}

async fn send(
    lib: &Library,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    lib.app.call(method, path, Some(token), body).await
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{body}");
    body
}

/// A connection to `base_url` with `model`, created by `token`; returns its id.
async fn connection(
    lib: &Library,
    token: &str,
    name: &str,
    base_url: &str,
    model: &str,
    extra: Value,
) -> String {
    let mut body =
        json!({"name": name, "provider": "openai_compatible", "base_url": base_url, "model": model});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let created =
        json_of(send(lib, Method::POST, "/api/v1/ai/connections", token, Some(body)).await, 201).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn run(lib: &Library, token: &str, prompt: &str, body: Value) -> reqwest::Response {
    send(lib, Method::POST, &format!("/api/v1/prompts/{prompt}/run"), token, Some(body)).await
}

async fn connections_are_scoped_sealed_and_validated(backend: Backend) {
    let lib = ai_library(backend, vec![]).await;
    let (admin, ann, ben, reader) = (
        lib.app.session_token(&lib.acme, &lib.admin).await,
        lib.app.session_token(&lib.acme, &lib.ann).await,
        lib.app.session_token(&lib.acme, &lib.ben).await,
        lib.app.session_token(&lib.acme, &lib.reader).await,
    );
    let providers = json_of(send(&lib, Method::GET, "/api/v1/ai/providers", &reader, None).await, 200).await;
    let lmstudio = providers.as_array().unwrap().iter().find(|p| p["provider"] == "lmstudio").unwrap();
    assert_eq!(lmstudio["default_base_url"], "http://localhost:1234/v1");

    // A personal connection: the key is sealed, shown only as a hint.
    let body = json!({"name": "My LM Studio", "provider": "lmstudio", "model": "qwen", "api_key": "sk-test-abcdef-1a2b"});
    let mine = json_of(send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(body)).await, 201).await;
    assert_eq!(mine["base_url"], "http://localhost:1234/v1");
    assert_eq!(mine["scope"], "personal");
    assert_eq!(mine["api_key"], "set, ends in …1a2b");
    assert!(!mine.to_string().contains("sk-test"));
    let id = mine["id"].as_str().unwrap();
    let stored = lib.app.db.query_text_as_owner("SELECT api_key_sealed FROM ai_connections").await.unwrap();
    assert!(stored.starts_with("v1:") && !stored.contains("abcdef"), "{stored}");
    // Nobody else sees it; readonly users and users cannot create tenant connections.
    expect_problem(
        send(&lib, Method::GET, &format!("/api/v1/ai/connections/{id}"), &ben, None).await,
        404,
        "not_found",
    )
    .await;
    let tenant_body = json!({"name": "Shared", "scope": "tenant", "provider": "ollama", "model": "llama3"});
    expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(tenant_body.clone())).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &reader, Some(tenant_body.clone())).await,
        403,
        "forbidden",
    )
    .await;
    let shared =
        json_of(send(&lib, Method::POST, "/api/v1/ai/connections", &admin, Some(tenant_body)).await, 201)
            .await;
    assert_eq!(shared["scope"], "tenant");
    assert_eq!(shared["api_key"], Value::Null);
    let listed = json_of(send(&lib, Method::GET, "/api/v1/ai/connections", &ann, None).await, 200).await;
    let names: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Shared", "My LM Studio"]);
    let listed = json_of(send(&lib, Method::GET, "/api/v1/ai/connections", &ben, None).await, 200).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    // A user may not change the tenant's connection.
    let shared_path = format!("/api/v1/ai/connections/{}", shared["id"].as_str().unwrap());
    let replace = json!({"name": "Shared", "provider": "ollama", "model": "llama3.1"});
    expect_problem(
        send(&lib, Method::PUT, &shared_path, &ann, Some(replace.clone())).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        json_of(send(&lib, Method::PUT, &shared_path, &admin, Some(replace)).await, 200).await["model"],
        "llama3.1"
    );

    // Replacing without a key keeps it; clear_api_key removes it.
    let path = format!("/api/v1/ai/connections/{id}");
    let replace =
        json!({"name": "My LM Studio", "provider": "lmstudio", "model": "qwen2", "temperature": 0.2});
    let kept = json_of(send(&lib, Method::PUT, &path, &ann, Some(replace)).await, 200).await;
    assert_eq!(
        (kept["api_key"].as_str(), kept["model"].as_str()),
        (Some("set, ends in …1a2b"), Some("qwen2"))
    );
    let clear =
        json!({"name": "My LM Studio", "provider": "lmstudio", "model": "qwen2", "clear_api_key": true});
    assert_eq!(
        json_of(send(&lib, Method::PUT, &path, &ann, Some(clear)).await, 200).await["api_key"],
        Value::Null
    );

    // Every bad field at once; an unknown provider is malformed JSON; names clash per scope.
    let bad = json!({"name": "", "provider": "openai", "base_url": "ftp://x", "model": "", "temperature": 3.0, "max_tokens": 0, "timeout_seconds": 0});
    let problem = expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(bad)).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "base_url", "model", "temperature", "max_tokens", "timeout_seconds"]);
    let unknown = json!({"name": "x", "provider": "skynet", "model": "m"});
    expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(unknown)).await,
        400,
        "invalid_json",
    )
    .await;
    let credentials = json!({"name": "x", "provider": "openai", "base_url": "https://u:p@api.example.com/v1", "model": "m"});
    expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(credentials)).await,
        422,
        "validation_failed",
    )
    .await;
    let clash = json!({"name": "my lm studio", "provider": "lmstudio", "model": "m"});
    expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(clash.clone())).await,
        409,
        "conflict",
    )
    .await;
    json_of(send(&lib, Method::POST, "/api/v1/ai/connections", &ben, Some(clash)).await, 201).await;

    // Another tenant sees nothing; deleting works once.
    let globex = lib.app.tenant("globex").await;
    let outsider = lib.app.user(&globex, "eve@globex.test", Role::Admin, "pw-eve-12345").await;
    let eve = lib.app.session_token(&globex, &outsider).await;
    expect_problem(send(&lib, Method::GET, &path, &eve, None).await, 404, "not_found").await;
    expect_problem(send(&lib, Method::DELETE, &path, &eve, None).await, 404, "not_found").await;
    assert_eq!(send(&lib, Method::DELETE, &path, &ann, None).await.status(), 204);
    expect_problem(send(&lib, Method::DELETE, &path, &ann, None).await, 404, "not_found").await;
    let actions = lib.app.audit_actions(&lib.acme).await;
    for action in ["ai_connection.created", "ai_connection.updated", "ai_connection.deleted"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
}

async fn runs_answer_are_recorded_and_listed_per_prompt(backend: Backend) {
    let provider = Provider::start();
    let lib = ai_library(backend, vec![]).await;
    let (ann, reader, ben) = (
        lib.app.session_token(&lib.acme, &lib.ann).await,
        lib.app.session_token(&lib.acme, &lib.reader).await,
        lib.app.session_token(&lib.acme, &lib.ben).await,
    );
    let prompt = create(&lib.app, &ann, json!({"name": "greet", "content": "Hello {{name}}!"})).await;
    let id = prompt["id"].as_str().unwrap();
    let conn =
        connection(&lib, &ann, "Echo", &provider.base_url, "echo", json!({"api_key": "sk-echo-123456789"}))
            .await;

    let answer =
        json_of(run(&lib, &ann, id, json!({"variables": {"name": "Ada"}, "connection": conn})).await, 200)
            .await;
    assert_eq!(answer["output"], "echo: Hello Ada!");
    assert_eq!(answer["finish_reason"], "stop");
    assert_eq!(answer["usage"], json!({"input_tokens": 7, "output_tokens": 3}));
    assert_eq!((answer["model"].as_str(), answer["version"].as_u64()), (Some("echo"), Some(1)));
    assert!(answer["latency_ms"].is_u64());
    // The provider got the rendered prompt and the key, as a bearer token.
    let sent = provider.seen.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "Hello Ada!"}]));
    assert_eq!(provider.seen.last_authorization.lock().unwrap().as_deref(), Some("Bearer sk-echo-123456789"));

    // Strict: a missing or unexpected value is refused before any call.
    let calls = provider.seen.requests.load(std::sync::atomic::Ordering::SeqCst);
    let missing =
        expect_problem(run(&lib, &ann, id, json!({"connection": conn})).await, 422, "variables_mismatch")
            .await;
    assert_eq!(missing["errors"][0]["field"], "variables.name");
    let extra = json!({"connection": conn, "variables": {"name": "A", "nme": "B"}});
    expect_problem(run(&lib, &ann, id, extra).await, 422, "variables_mismatch").await;
    assert_eq!(provider.seen.requests.load(std::sync::atomic::Ordering::SeqCst), calls);
    // A huge rendering is refused before it is built.
    let bomb = create(&lib.app, &ann, json!({"name": "bomb", "content": "{{a}}".repeat(19_000)})).await;
    let big = json!({"connection": conn, "variables": {"a": "v".repeat(100_000)}});
    expect_problem(
        run(&lib, &ann, bomb["id"].as_str().unwrap(), big.clone()).await,
        422,
        "validation_failed",
    )
    .await;
    let render = format!("/api/v1/prompts/{}/render", bomb["id"].as_str().unwrap());
    expect_problem(send(&lib, Method::POST, &render, &ann, Some(big)).await, 422, "validation_failed").await;

    // Streamed: deltas, then one `done` carrying the recorded run.
    let response =
        run(&lib, &ann, id, json!({"variables": {"name": "Bo"}, "connection": conn, "stream": true})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse_events(&response.text().await.unwrap());
    let deltas: String =
        events.iter().filter(|(e, _)| e == "delta").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!(deltas, "echo: Hello Bo!");
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    assert_eq!(done["output"], "echo: Hello Bo!");
    assert_eq!(done["usage"]["output_tokens"], 3);

    // A readonly user and a read token may run; someone else's personal connection is not theirs.
    expect_problem(
        run(&lib, &reader, id, json!({"variables": {"name": "R"}, "connection": conn})).await,
        404,
        "not_found",
    )
    .await;
    let read_token = lib.app.api_token(&lib.acme, &lib.ann, TokenScope::Read).await;
    json_of(run(&lib, &read_token, id, json!({"variables": {"name": "T"}, "connection": conn})).await, 200)
        .await;

    // History: Ann sees her runs (newest first, paged); Ben sees none of them; the run itself.
    let history = json_of(
        send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/runs?limit=2"), &ann, None).await,
        200,
    )
    .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 2);
    assert_eq!(history["items"][0]["output"], "echo: Hello T!");
    assert_eq!(history["items"][0]["user"]["id"], lib.ann.id.to_string());
    let cursor = history["next_cursor"].as_str().unwrap();
    let page2 = json_of(
        send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/runs?limit=2&cursor={cursor}"), &ann, None)
            .await,
        200,
    )
    .await;
    assert_eq!(page2["items"][0]["output"], "echo: Hello Ada!");
    assert_eq!(page2["next_cursor"], Value::Null);
    let bens =
        json_of(send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/runs"), &ben, None).await, 200).await;
    assert!(bens["items"].as_array().unwrap().is_empty());
    let run_id = answer["run_id"].as_str().unwrap();
    let record =
        json_of(send(&lib, Method::GET, &format!("/api/v1/runs/{run_id}"), &ann, None).await, 200).await;
    assert_eq!((record["outcome"].as_str(), record["kind"].as_str()), (Some("ok"), Some("run")));
    expect_problem(
        send(&lib, Method::GET, &format!("/api/v1/runs/{run_id}"), &ben, None).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        send(&lib, Method::GET, "/api/v1/runs/not-a-uuid", &ann, None).await,
        422,
        "validation_failed",
    )
    .await;

    // Compare two versions side by side; more than four targets is refused.
    let patch = json!({"content": "Hi {{name}}.", "version": 1});
    json_of(send(&lib, Method::PATCH, &format!("/api/v1/prompts/{id}"), &ann, Some(patch)).await, 200).await;
    let targets = json!([{"connection": conn, "version": 1}, {"connection": conn}]);
    let compared = json_of(
        send(
            &lib,
            Method::POST,
            &format!("/api/v1/prompts/{id}/compare"),
            &ann,
            Some(json!({"variables": {"name": "C"}, "targets": targets})),
        )
        .await,
        200,
    )
    .await;
    let outputs: Vec<&str> = compared["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["result"]["output"].as_str().unwrap())
        .collect();
    assert_eq!(outputs, ["echo: Hello C!", "echo: Hi C."]);
    let five = json!({"targets": [{}, {}, {}, {}, {}]});
    expect_problem(
        send(&lib, Method::POST, &format!("/api/v1/prompts/{id}/compare"), &ann, Some(five)).await,
        422,
        "validation_failed",
    )
    .await;

    // Tokens: a real tokenizer for OpenAI models, the documented estimate otherwise, with cost.
    let admin = lib.app.session_token(&lib.acme, &lib.admin).await;
    let policy = json!({"allow_user_connections": true, "default_execution_connection": null, "default_enhancement_connection": null,
        "run_retention_days": 30, "prices": [{"model": "gpt-4o*", "input_per_million": 2.5, "output_per_million": 10.0}]});
    json_of(send(&lib, Method::PUT, "/api/v1/ai/policy", &admin, Some(policy)).await, 200).await;
    let counted = json_of(
        send(
            &lib,
            Method::POST,
            &format!("/api/v1/prompts/{id}/tokens"),
            &ann,
            Some(json!({"model": "gpt-4o", "variables": {"name": "Ada"}})),
        )
        .await,
        200,
    )
    .await;
    assert!(counted["method"].as_str().unwrap().starts_with("tiktoken:"), "{counted}");
    assert!(counted["tokens"].as_u64().unwrap() >= 3);
    assert!(counted["estimated_input_cost"].as_f64().unwrap() > 0.0);
    let local = json_of(
        send(
            &lib,
            Method::POST,
            &format!("/api/v1/prompts/{id}/tokens"),
            &ann,
            Some(json!({"model": "smollm2"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(local["method"], "estimate:chars/4");
    assert_eq!(local["estimated_input_cost"], Value::Null);

    // Analytics: runs and tokens per day and per model.
    let analytics = json_of(send(&lib, Method::GET, "/api/v1/analytics/runs", &admin, None).await, 200).await;
    assert_eq!(analytics["days"].as_array().unwrap().len(), 1);
    assert_eq!(analytics["days"][0]["runs"], 5);
    assert_eq!(analytics["models"][0]["model"], "echo");
    expect_problem(send(&lib, Method::GET, "/api/v1/analytics/runs", &ann, None).await, 403, "forbidden")
        .await;
    expect_problem(
        send(&lib, Method::GET, "/api/v1/analytics/runs?from=2026-01-01&to=2025-01-01", &admin, None).await,
        422,
        "validation_failed",
    )
    .await;
}

/// The `(event, data)` pairs of a server-sent event stream.
fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = name.to_owned();
                } else if let Some(json) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(json).unwrap();
                }
            }
            (event, data)
        })
        .collect()
}

async fn enhancing_suggests_and_accepting_saves_a_version(backend: Backend) {
    let provider = Provider::start();
    let lib = ai_library(backend, vec![]).await;
    let (ann, ben, reader) = (
        lib.app.session_token(&lib.acme, &lib.ann).await,
        lib.app.session_token(&lib.acme, &lib.ben).await,
        lib.app.session_token(&lib.acme, &lib.reader).await,
    );
    let admin = lib.app.session_token(&lib.acme, &lib.admin).await;
    let shared =
        connection(&lib, &admin, "Echo", &provider.base_url, "echo", json!({"scope": "tenant"})).await;
    let policy = json!({"allow_user_connections": true, "default_execution_connection": shared, "default_enhancement_connection": shared,
        "run_retention_days": 0, "prices": []});
    json_of(send(&lib, Method::PUT, "/api/v1/ai/policy", &admin, Some(policy)).await, 200).await;
    let prompt = create(&lib.app, &ann, json!({"name": "summary", "content": "Summarise {{text}}"})).await;
    let id = prompt["id"].as_str().unwrap();
    create(&lib.app, &ann, json!({"name": "improver", "content": "Improve this: {original_prompt}", "is_enhancement_prompt": true})).await;
    create(&lib.app, &ann, json!({"name": "plain", "content": "not for enhancing"})).await;

    let path = format!("/api/v1/prompts/{id}/enhance");
    let suggested = json_of(
        send(&lib, Method::POST, &path, &ann, Some(json!({"enhancement_prompt": "improver"}))).await,
        200,
    )
    .await;
    assert_eq!(suggested["original"], "Summarise {{text}}");
    assert_eq!(suggested["suggestion"], "echo: Improve this: Summarise {{text}}");
    assert_eq!(suggested["enhancement_prompt"], "improver");
    assert!(suggested["unified"].as_str().unwrap().contains("+echo: Improve this"));
    assert!(!suggested["lines"].as_array().unwrap().is_empty());
    // Nothing saved yet.
    let current =
        json_of(send(&lib, Method::GET, &format!("/api/v1/prompts/{id}"), &ann, None).await, 200).await;
    assert_eq!(current["version"], 1);
    expect_problem(
        send(&lib, Method::POST, &path, &ann, Some(json!({"enhancement_prompt": "plain"}))).await,
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        send(&lib, Method::POST, &path, &ann, Some(json!({"enhancement_prompt": "nope"}))).await,
        404,
        "not_found",
    )
    .await;
    // The built-in enhancement prompt, and unsaved text.
    let built_in = json_of(send(&lib, Method::POST, &path, &reader, Some(json!({}))).await, 200).await;
    assert!(built_in["suggestion"].as_str().unwrap().contains("expert prompt engineer"));
    assert_eq!(built_in["enhancement_prompt"], Value::Null);
    let text = json_of(
        send(
            &lib,
            Method::POST,
            "/api/v1/enhance",
            &ann,
            Some(json!({"text": "draft", "enhancement_prompt": "improver"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(text["suggestion"], "echo: Improve this: draft");
    expect_problem(
        send(&lib, Method::POST, "/api/v1/enhance", &ann, Some(json!({}))).await,
        422,
        "validation_failed",
    )
    .await;

    // Accepting: readonly users cannot; someone else's suggestion is not found; a stale version
    // is 412; the right one saves a version naming the enhancement prompt and the model.
    let accept = format!("/api/v1/prompts/{id}/enhance/accept");
    let run_id = suggested["run_id"].as_str().unwrap();
    expect_problem(
        send(&lib, Method::POST, &accept, &reader, Some(json!({"run_id": run_id, "version": 1}))).await,
        403,
        "forbidden",
    )
    .await;
    let admin_accept = json!({"run_id": built_in["run_id"], "version": 1});
    expect_problem(send(&lib, Method::POST, &accept, &admin, Some(admin_accept)).await, 404, "not_found")
        .await;
    expect_problem(
        send(&lib, Method::POST, &accept, &ann, Some(json!({"run_id": run_id}))).await,
        428,
        "precondition_required",
    )
    .await;
    expect_problem(
        send(&lib, Method::POST, &accept, &ann, Some(json!({"run_id": text["run_id"], "version": 1}))).await,
        404,
        "not_found",
    )
    .await;
    let saved = json_of(
        send(&lib, Method::POST, &accept, &ann, Some(json!({"run_id": run_id, "version": 1}))).await,
        200,
    )
    .await;
    assert_eq!(
        (saved["version"].as_u64(), saved["content"].as_str()),
        (Some(2), Some("echo: Improve this: Summarise {{text}}"))
    );
    let versions =
        json_of(send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/versions"), &ann, None).await, 200)
            .await;
    assert_eq!(versions["items"][0]["commit_message"], "Enhanced with improver on echo");
    expect_problem(
        send(&lib, Method::POST, &accept, &ann, Some(json!({"run_id": run_id, "version": 1}))).await,
        412,
        "precondition_failed",
    )
    .await;
    expect_problem(
        send(&lib, Method::POST, &accept, &ben, Some(json!({"run_id": run_id, "version": 2}))).await,
        403,
        "forbidden",
    )
    .await;
    assert!(lib.app.audit_actions(&lib.acme).await.iter().any(|a| a == "prompt.enhanced"));
    // With no retention, run outputs are not kept — except suggestions, which must be acceptable.
    let runs =
        json_of(send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/runs"), &admin, None).await, 200)
            .await;
    assert!(
        runs["items"].as_array().unwrap().iter().all(|r| r["kind"] == "enhance" && r["output"].is_string())
    );
    let plain_run = json_of(run(&lib, &ann, id, json!({"variables": {"text": "x"}})).await, 200).await;
    let record = json_of(
        send(
            &lib,
            Method::GET,
            &format!("/api/v1/runs/{}", plain_run["run_id"].as_str().unwrap()),
            &ann,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(record["output"], Value::Null);
}

async fn settings_and_policy_choose_the_connection(backend: Backend) {
    let provider = Provider::start();
    let lib = ai_library(backend, vec![]).await;
    let (ann, admin) = (
        lib.app.session_token(&lib.acme, &lib.ann).await,
        lib.app.session_token(&lib.acme, &lib.admin).await,
    );
    let prompt = create(&lib.app, &ann, json!({"name": "p", "content": "Say hi"})).await;
    let id = prompt["id"].as_str().unwrap();
    // Nothing configured: a clear problem.
    expect_problem(run(&lib, &ann, id, json!({})).await, 422, "no_connection").await;
    let settings = json_of(send(&lib, Method::GET, "/api/v1/ai/settings", &ann, None).await, 200).await;
    assert_eq!(
        (settings["effective_execution"].clone(), settings["user_connections_allowed"].clone()),
        (Value::Null, json!(true))
    );
    // The tenant's default applies to everyone who chose nothing.
    let shared =
        connection(&lib, &admin, "Shared", &provider.base_url, "echo", json!({"scope": "tenant"})).await;
    let policy = json!({"allow_user_connections": true, "default_execution_connection": shared, "default_enhancement_connection": null, "run_retention_days": 30, "prices": []});
    json_of(send(&lib, Method::PUT, "/api/v1/ai/policy", &admin, Some(policy)).await, 200).await;
    assert_eq!(json_of(run(&lib, &ann, id, json!({})).await, 200).await["connection"]["name"], "Shared");
    // A personal choice wins, until the tenant forbids personal connections.
    let mine = connection(&lib, &ann, "Mine", &provider.base_url, "echo", json!({})).await;
    let chosen = json_of(
        send(&lib, Method::PUT, "/api/v1/ai/settings", &ann, Some(json!({"execution_connection": mine})))
            .await,
        200,
    )
    .await;
    assert_eq!(chosen["effective_execution"]["name"], "Mine");
    assert_eq!(chosen["effective_enhancement"]["name"], "Mine");
    assert_eq!(json_of(run(&lib, &ann, id, json!({})).await, 200).await["connection"]["name"], "Mine");
    let forbid = json!({"allow_user_connections": false, "default_execution_connection": shared, "default_enhancement_connection": null, "run_retention_days": 30, "prices": []});
    json_of(send(&lib, Method::PUT, "/api/v1/ai/policy", &admin, Some(forbid)).await, 200).await;
    assert_eq!(json_of(run(&lib, &ann, id, json!({})).await, 200).await["connection"]["name"], "Shared");
    expect_problem(run(&lib, &ann, id, json!({"connection": mine})).await, 403, "user_connections_disabled")
        .await;
    let body = json!({"name": "Another", "provider": "ollama", "model": "m"});
    expect_problem(
        send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(body)).await,
        403,
        "user_connections_disabled",
    )
    .await;
    // Bad choices and policies are refused; only admins set the policy.
    let random = uuid::Uuid::now_v7().to_string();
    expect_problem(
        send(&lib, Method::PUT, "/api/v1/ai/settings", &ann, Some(json!({"execution_connection": random})))
            .await,
        422,
        "validation_failed",
    )
    .await;
    let bad = json!({"allow_user_connections": true, "default_execution_connection": mine, "default_enhancement_connection": null, "run_retention_days": 99999, "prices": [{"model": "", "input_per_million": -1.0, "output_per_million": 1.0}]});
    let problem = expect_problem(
        send(&lib, Method::PUT, "/api/v1/ai/policy", &admin, Some(bad)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 4, "{problem}");
    expect_problem(
        send(&lib, Method::PUT, "/api/v1/ai/policy", &ann, Some(forbid_body())).await,
        403,
        "forbidden",
    )
    .await;
    assert!(lib.app.audit_actions(&lib.acme).await.iter().any(|a| a == "ai_policy.updated"));
}

fn forbid_body() -> Value {
    json!({"allow_user_connections": false, "default_execution_connection": null, "default_enhancement_connection": null, "run_retention_days": 30, "prices": []})
}

/// Every way a provider can fail is a clear problem (or a final `error` event), never a 500 or
/// a hang, and is recorded.
#[tokio::test]
async fn provider_failures_are_clear_problems() {
    let provider = Provider::start();
    let lib = ai_library(Backend::Sqlite, vec![("AI_MAX_ANSWER_BYTES", "65536")]).await;
    let ann = lib.app.session_token(&lib.acme, &lib.ann).await;
    let prompt = create(&lib.app, &ann, json!({"name": "p", "content": "Say hi"})).await;
    let id = prompt["id"].as_str().unwrap();
    let conn = |model: &'static str, extra: Value| {
        let lib = &lib;
        let ann = &ann;
        let base = provider.base_url.clone();
        async move { connection(lib, ann, model, &base, model, extra).await }
    };
    let cases = [
        ("http-500", json!({}), 502, "provider_error", Some("the model crashed")),
        ("http-429", json!({}), 502, "provider_rate_limited", Some("quota exceeded")),
        ("malformed", json!({}), 502, "provider_invalid_response", None),
        ("huge", json!({}), 502, "provider_invalid_response", None),
        ("slow", json!({"timeout_seconds": 1}), 504, "provider_timeout", None),
        ("echo", json!({"api_key": "bad-key"}), 502, "provider_unauthorized", Some("Incorrect API key")),
    ];
    for (model, extra, status, code, message) in cases {
        let c = conn(model, extra).await;
        let started = Instant::now();
        let problem = expect_problem(run(&lib, &ann, id, json!({"connection": c})).await, status, code).await;
        if let Some(message) = message {
            assert!(problem["detail"].as_str().unwrap().contains(message), "{problem}");
        }
        assert!(!problem.to_string().contains("bad-key"));
        assert!(started.elapsed() < Duration::from_secs(10), "{model} took {:?}", started.elapsed());
    }
    // Nothing listens there: refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://127.0.0.1:{}/v1", closed.local_addr().unwrap().port());
    drop(closed);
    let c = connection(&lib, &ann, "dead", &dead, "echo", json!({})).await;
    expect_problem(run(&lib, &ann, id, json!({"connection": c})).await, 502, "provider_unreachable").await;
    let tested =
        json_of(send(&lib, Method::POST, &format!("/api/v1/ai/connections/{c}/test"), &ann, None).await, 200)
            .await;
    assert_eq!(
        (tested["ok"].clone(), tested["error"]["code"].clone()),
        (json!(false), json!("provider_unreachable"))
    );
    // A name that does not resolve.
    let c = connection(&lib, &ann, "nowhere", "http://no-such-host.invalid/v1", "echo", json!({})).await;
    expect_problem(run(&lib, &ann, id, json!({"connection": c})).await, 502, "provider_unreachable").await;
    // A stream cut halfway: the deltas that came, then an `error` event.
    let c = conn("cut", json!({})).await;
    let response = run(&lib, &ann, id, json!({"connection": c, "stream": true})).await;
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(events.first().unwrap().0, "delta");
    let (last, problem) = events.last().unwrap();
    assert_eq!((last.as_str(), problem["code"].as_str()), ("error", Some("provider_invalid_response")));
    // Every failure is in the history.
    let history = json_of(
        send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/runs?limit=20"), &ann, None).await,
        200,
    )
    .await;
    let outcomes: Vec<&str> =
        history["items"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.len(), 9);
    assert!(outcomes.iter().all(|o| *o == "error"), "{outcomes:?}");
    // Testing a good connection lists its models.
    let good = connection(&lib, &ann, "good", &provider.base_url, "echo", json!({})).await;
    let tested = json_of(
        send(&lib, Method::POST, &format!("/api/v1/ai/connections/{good}/test"), &ann, None).await,
        200,
    )
    .await;
    assert_eq!((tested["ok"].clone(), tested["models"].clone()), (json!(true), json!(["echo", "slow"])));
}

/// Running, rendering and counting change no prompt: they leave the read cache warm, while a
/// write through this server still makes everyone read afresh at once.
#[tokio::test]
async fn runs_and_renders_keep_the_read_cache_warm() {
    let provider = Provider::start();
    let lib = ai_library(Backend::Sqlite, vec![("READ_CACHE_SECONDS", "300")]).await;
    let ann = lib.app.session_token(&lib.acme, &lib.ann).await;
    let reader = lib.app.api_token(&lib.acme, &lib.reader, TokenScope::Read).await;
    create(&lib.app, &ann, json!({"name": "cached", "content": "one"})).await;
    let c = connection(&lib, &ann, "Echo", &provider.base_url, "echo", json!({})).await;
    let content = async || {
        let body = json_of(send(&lib, Method::GET, "/api/v1/prompts/cached", &reader, None).await, 200).await;
        body["content"].as_str().unwrap().to_owned()
    };
    assert_eq!(content().await, "one");
    // Changed behind the server's back: the cached answer stays until a write through it.
    let repo = lib.app.db.database().tenant(scope_of(&lib.acme));
    let viewer = domain::prompt::Viewer { user: lib.ann.id, role: Role::User };
    let current =
        repo.prompt(&viewer, &domain::prompt::PromptKey::parse("cached").unwrap()).await.unwrap().unwrap();
    let fields = domain::prompt::PromptFields { content: "two".into(), ..current.fields() };
    let change = persistence::PromptChange { author: lib.ann.id, commit_message: None, restored_from: None };
    repo.update_prompt(&current, fields, change, chrono::Utc::now()).await.unwrap().unwrap();
    json_of(run(&lib, &ann, "cached", json!({"connection": c})).await, 200).await;
    json_of(send(&lib, Method::POST, "/api/v1/prompts/cached/render", &ann, Some(json!({}))).await, 200)
        .await;
    json_of(
        send(&lib, Method::POST, "/api/v1/prompts/cached/tokens", &ann, Some(json!({"model": "m"}))).await,
        200,
    )
    .await;
    assert_eq!(content().await, "one", "reads stay cached across runs, renders and counts");
    let edit = json!({"title": "Cached", "version": 2});
    json_of(send(&lib, Method::PATCH, "/api/v1/prompts/cached", &ann, Some(edit)).await, 200).await;
    assert_eq!(content().await, "two");
}

/// A client that goes away cancels the upstream request, and the run is recorded as cancelled.
#[tokio::test]
async fn a_client_that_disconnects_cancels_the_upstream_call() {
    let provider = Provider::start();
    let lib = ai_library(Backend::Sqlite, vec![]).await;
    let ann = lib.app.session_token(&lib.acme, &lib.ann).await;
    let prompt = create(&lib.app, &ann, json!({"name": "p", "content": "Think"})).await;
    let id = prompt["id"].as_str().unwrap();
    let c = connection(&lib, &ann, "hang", &provider.base_url, "hang", json!({})).await;
    let mut response = run(&lib, &ann, id, json!({"connection": c, "stream": true})).await;
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("thinking"));
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.seen.abandoned_streams.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the upstream stream was never dropped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled = loop {
        let history =
            json_of(send(&lib, Method::GET, &format!("/api/v1/prompts/{id}/runs"), &ann, None).await, 200)
                .await;
        if let Some(run) = history["items"].as_array().unwrap().first() {
            break run.clone();
        }
        assert!(Instant::now() < deadline, "the cancelled run was never recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(cancelled["outcome"], "cancelled");
    assert_eq!(cancelled["output"], "thinking");
}

/// Each user may start `AI_RUNS_PER_MINUTE` calls a minute: then 429 with `Retry-After`.
#[tokio::test]
async fn runs_are_limited_per_user() {
    let provider = Provider::start();
    let lib = ai_library(Backend::Sqlite, vec![("AI_RUNS_PER_MINUTE", "2")]).await;
    let (ann, ben) =
        (lib.app.session_token(&lib.acme, &lib.ann).await, lib.app.session_token(&lib.acme, &lib.ben).await);
    let prompt = create(&lib.app, &ann, json!({"name": "p", "content": "Hi"})).await;
    let id = prompt["id"].as_str().unwrap();
    let c = connection(&lib, &ann, "Echo", &provider.base_url, "echo", json!({"scope": "personal"})).await;
    let b = connection(&lib, &ben, "Echo", &provider.base_url, "echo", json!({})).await;
    for _ in 0..2 {
        json_of(run(&lib, &ann, id, json!({"connection": c})).await, 200).await;
    }
    let limited = run(&lib, &ann, id, json!({"connection": c})).await;
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    expect_problem(limited, 429, "rate_limited").await;
    // Another user has their own allowance.
    json_of(run(&lib, &ben, id, json!({"connection": b})).await, 200).await;
}

/// Outside local development loopback and private addresses need the operator's permission;
/// cloud metadata and link-local addresses are refused always.
#[tokio::test]
async fn outbound_addresses_follow_the_operators_rules() {
    let provider = Provider::start();
    let strict = spawn(Spawn::default()).await;
    let acme = strict.tenant("acme").await;
    let user = strict.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let token = strict.session_token(&acme, &user).await;
    let prompt = strict
        .call(Method::POST, "/api/v1/prompts", Some(&token), Some(json!({"name": "p", "content": "Hi"})))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let id = prompt["id"].as_str().unwrap();
    for (name, base) in [
        ("loopback", provider.base_url.as_str()),
        ("localhost", "http://localhost:9/v1"),
        ("metadata", "http://169.254.169.254/v1"),
    ] {
        let body = json!({"name": name, "provider": "openai_compatible", "base_url": base, "model": "echo"});
        let created: Value = strict
            .call(Method::POST, "/api/v1/ai/connections", Some(&token), Some(body))
            .await
            .json()
            .await
            .unwrap();
        let c = created["id"].as_str().unwrap();
        let response = strict
            .call(
                Method::POST,
                &format!("/api/v1/prompts/{id}/run"),
                Some(&token),
                Some(json!({"connection": c})),
            )
            .await;
        expect_problem(response, 422, "address_not_allowed").await;
    }
    assert_eq!(provider.seen.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Even with private networks allowed, metadata addresses stay refused.
    let lib = ai_library(Backend::Sqlite, vec![]).await;
    let ann = lib.app.session_token(&lib.acme, &lib.ann).await;
    let p = create(&lib.app, &ann, json!({"name": "p", "content": "Hi"})).await;
    for base in ["http://169.254.169.254/latest", "http://[fe80::1]/v1", "http://0.0.0.0:80/v1"] {
        let c = connection(&lib, &ann, base, base, "echo", json!({})).await;
        expect_problem(
            run(&lib, &ann, p["id"].as_str().unwrap(), json!({"connection": c})).await,
            422,
            "address_not_allowed",
        )
        .await;
    }
}

/// The happy path against a real llama.cpp server with a real model: whole and streamed.
#[tokio::test]
async fn a_real_model_answers_whole_and_streamed() {
    let llama = LlamaServer::start().await;
    let lib = ai_library(Backend::Sqlite, vec![]).await;
    let ann = lib.app.session_token(&lib.acme, &lib.ann).await;
    let prompt = create(
        &lib.app,
        &ann,
        json!({"name": "capital", "content": "What is the capital of {{country}}? Answer in one word."}),
    )
    .await;
    let id = prompt["id"].as_str().unwrap();
    let body = json!({"name": "llama.cpp", "provider": "llamacpp", "base_url": llama.base_url, "model": "smollm2", "max_tokens": 16, "temperature": 0.0});
    let c = json_of(send(&lib, Method::POST, "/api/v1/ai/connections", &ann, Some(body)).await, 201).await;
    let c = c["id"].as_str().unwrap();
    let tested =
        json_of(send(&lib, Method::POST, &format!("/api/v1/ai/connections/{c}/test"), &ann, None).await, 200)
            .await;
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(tested["models"].as_array().unwrap().iter().any(|m| m == "smollm2"), "{tested}");

    let answer =
        json_of(run(&lib, &ann, id, json!({"variables": {"country": "France"}, "connection": c})).await, 200)
            .await;
    assert!(!answer["output"].as_str().unwrap().trim().is_empty(), "{answer}");
    let usage = &answer["usage"];
    assert!(
        usage["input_tokens"].as_u64().unwrap() > 5 && usage["output_tokens"].as_u64().unwrap() >= 1,
        "{answer}"
    );
    assert!(matches!(answer["finish_reason"].as_str(), Some("stop" | "length")), "{answer}");

    let response =
        run(&lib, &ann, id, json!({"variables": {"country": "Italy"}, "connection": c, "stream": true}))
            .await;
    assert_eq!(response.status(), 200);
    let events = sse_events(&response.text().await.unwrap());
    let deltas: String =
        events.iter().filter(|(e, _)| e == "delta").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done", "{events:?}");
    assert_eq!(done["output"].as_str().unwrap(), deltas);
    assert!(!deltas.trim().is_empty());
    assert!(done["usage"]["output_tokens"].as_u64().unwrap() >= 1, "{done}");
}
