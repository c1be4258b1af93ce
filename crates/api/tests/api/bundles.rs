//! Prompt bundles over HTTP, on both databases: chat prompts with placeholders, model settings
//! versioned with the prompt, typed variable contracts and their JSON Schema, bundles in
//! import and export.

use reqwest::Method;
use serde_json::{Value, json};

use std::collections::BTreeMap;

use migrations::{Migrator, MigratorTrait};
use persistence::DatabaseSettings;

use crate::prompts::{create, library};
use crate::provider::Provider;
use crate::support::{Backend, Spawn, TestApp, expect_problem, on_both_databases, spawn, start_server};

on_both_databases!(
    chat_prompts_render_their_messages_and_fill_placeholders,
    settings_are_validated_versioned_and_diffed,
    contracts_are_inferred_editable_and_enforced,
    bundles_survive_export_and_import_and_old_files_still_import,
    prompts_saved_before_bundles_render_identically_after_the_migration,
    runs_send_the_versions_settings_and_messages,
    logic_templates_branch_and_loop_and_report_errors_with_positions,
    includes_compose_prompts_and_edits_show_their_impact,
    includes_pinned_by_label_follow_the_label,
);

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = app.call(method, path, Some(token), Some(body)).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
}

fn support_chat() -> Value {
    json!({
        "name": "support/reply",
        "kind": "chat",
        "messages": [
            {"role": "system", "content": "You answer for {{company}}."},
            {"role": "developer", "content": "Keep it short."},
            {"placeholder": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
    })
}

async fn chat_prompts_render_their_messages_and_fill_placeholders(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let created = create(app, &ann, support_chat()).await;
    assert_eq!(created["kind"], "chat");
    assert_eq!(created["template_format"], "basic");
    assert_eq!(created["messages"][2], json!({"placeholder": "history"}));
    assert_eq!(
        created["content"],
        "[system]\nYou answer for {{company}}.\n\n[developer]\nKeep it short.\n\n[placeholder: history]\n\n[user]\n{{question}}"
    );
    assert_eq!(created["variables"], json!(["company", "history", "question"]));
    assert_eq!(created["contract"][1], json!({"name": "history", "type": "messages", "required": true}));

    let render = "/api/v1/prompts/support%2Freply/render";
    let history = json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]);
    let values =
        json!({"variables": {"company": "Acme", "question": "Where is my order?", "history": history}});
    let (status, rendered) = call(app, Method::POST, render, &ann, values).await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(
        rendered["messages"],
        json!([
            {"role": "system", "content": "You answer for Acme."},
            {"role": "developer", "content": "Keep it short."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Where is my order?"},
        ])
    );
    assert!(rendered["text"].as_str().unwrap().starts_with("[system]\nYou answer for Acme.\n\n[developer]"));

    // A placeholder takes a list of messages, nothing else.
    let bad = json!({"variables": {"company": "A", "question": "Q", "history": "not a list"}});
    let problem = expect_problem(
        app.call(Method::POST, render, Some(&ann), Some(bad)).await,
        422,
        "variables_mismatch",
    )
    .await;
    assert_eq!(fields(&problem), ["variables.history"]);
    let bad_role = json!({"variables": {"company": "A", "question": "Q", "history": [{"role": "tool", "content": "x"}]}});
    expect_problem(
        app.call(Method::POST, render, Some(&ann), Some(bad_role)).await,
        422,
        "variables_mismatch",
    )
    .await;

    // Text prompts stay text prompts: render also lists what a run would send.
    create(app, &ann, json!({"name": "plain", "content": "Hi {{who}}"})).await;
    let (_, plain) =
        call(app, Method::POST, "/api/v1/prompts/plain/render", &ann, json!({"variables": {"who": "you"}}))
            .await;
    assert_eq!(plain["text"], "Hi you");
    assert_eq!(plain["messages"], json!([{"role": "user", "content": "Hi you"}]));

    // Broken chat entries are refused with a clear reason.
    for (entries, field) in [
        (json!([]), "messages"),
        (json!([{"placeholder": "a"}, {"placeholder": "a"}]), "messages[1].placeholder"),
        (json!([{"placeholder": "not-an-identifier"}]), "messages[0].placeholder"),
    ] {
        let body = json!({"name": "broken", "kind": "chat", "messages": entries});
        let problem = expect_problem(
            app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(body)).await,
            422,
            "validation_failed",
        )
        .await;
        assert!(fields(&problem).contains(&field.to_owned()), "{problem}");
    }
    let wrong_role =
        json!({"name": "broken", "kind": "chat", "messages": [{"role": "robot", "content": "x"}]});
    let response = app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(wrong_role)).await;
    assert!(response.status().is_client_error());
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("\"robot\" is not one of system, developer, user, assistant"),
        "{problem}"
    );
    let text_with_messages =
        json!({"name": "broken", "content": "x", "messages": [{"role": "user", "content": "x"}]});
    let problem = expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(text_with_messages)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["messages"]);

    // Editing one message keeps the others; the transcript follows.
    let edit = json!({"version": 1, "messages": [{"role": "system", "content": "Be {{tone}}."}, {"placeholder": "history"}]});
    let (status, edited) = call(app, Method::PATCH, "/api/v1/prompts/support%2Freply", &ann, edit).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["content"], "[system]\nBe {{tone}}.\n\n[placeholder: history]");
    assert_eq!(edited["variables"], json!(["tone", "history"]));
}

async fn settings_are_validated_versioned_and_diffed(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let settings = json!({
        "model": "gpt-4o-mini",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 300,
        "stop": ["\n\n"],
        "response_format": {"type": "json_schema", "name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}},
        "tools": [{"name": "lookup_order", "description": "Find an order",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}],
    });
    let created =
        create(app, &ann, json!({"name": "tuned", "content": "Answer {{q}}", "settings": settings})).await;
    assert_eq!(created["settings"], settings);

    let edit = json!({"version": 1, "settings": {"model": "gpt-4o", "temperature": 0.7}});
    let (status, edited) = call(app, Method::PATCH, "/api/v1/prompts/tuned", &ann, edit).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["settings"], json!({"model": "gpt-4o", "temperature": 0.7}));
    assert_eq!(edited["version"], 2);
    // Each version keeps its own settings, and the diff shows the change.
    let old = app.get_as("/api/v1/prompts/tuned/versions/1", &ann).await.json::<Value>().await.unwrap();
    assert_eq!(old["settings"], settings);
    let diff =
        app.get_as("/api/v1/prompts/tuned/diff?from=1&to=2", &ann).await.json::<Value>().await.unwrap();
    let changed: Vec<&str> =
        diff["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(changed, ["settings"]);
    assert!(diff["changes"][0]["from"].as_str().unwrap().contains("lookup_order"));
    // Leaving settings out of an edit keeps them.
    let (_, kept) =
        call(app, Method::PATCH, "/api/v1/prompts/tuned", &ann, json!({"version": 2, "title": "T"})).await;
    assert_eq!(kept["settings"], json!({"model": "gpt-4o", "temperature": 0.7}));

    let bad = json!({
        "name": "bad",
        "content": "x",
        "settings": {
            "temperature": 3,
            "top_p": 0,
            "stop": ["a", "b", "c", "d", "e"],
            "tools": [{"name": "has space", "parameters": {"type": "object"}}, {"name": "f", "parameters": {"type": "array"}}],
        },
    });
    let problem = expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(bad)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        fields(&problem),
        [
            "settings.temperature",
            "settings.top_p",
            "settings.stop",
            "settings.tools[0].name",
            "settings.tools[1].parameters"
        ]
    );
    // A schema must be valid JSON Schema, checked on save.
    let invalid_schema = json!({"name": "bad", "content": "x", "settings": {"tools": [
        {"name": "f", "parameters": {"type": "object", "properties": {"id": {"type": "strnig"}}}}]}});
    let problem = expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(invalid_schema)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["settings.tools[0].parameters"]);
    assert!(problem["errors"][0]["message"].as_str().unwrap().starts_with("is not a valid JSON Schema"));
}

async fn contracts_are_inferred_editable_and_enforced(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let contract = json!([
        {"name": "count", "type": "integer", "description": "How many", "example": 3},
        {"name": "tone", "type": "enum", "values": ["formal", "casual"], "default": "formal"},
    ]);
    let created = create(
        app,
        &ann,
        json!({"name": "list", "content": "Write {{count}} {{tone}} lines about {{topic}}.", "contract": contract}),
    )
    .await;
    assert_eq!(
        created["contract"],
        json!([
            {"name": "count", "type": "integer", "required": true, "description": "How many", "example": 3},
            {"name": "tone", "type": "enum", "required": true, "default": "formal", "values": ["formal", "casual"]},
            {"name": "topic", "type": "string", "required": true},
        ])
    );
    let render = "/api/v1/prompts/list/render";
    let (status, rendered) =
        call(app, Method::POST, render, &ann, json!({"variables": {"count": "4", "topic": "tea"}})).await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(rendered["text"], "Write 4 formal lines about tea.");
    // One field error per problem.
    let bad = json!({"variables": {"count": "many", "tone": "rude", "extra": 1}, "strict": true});
    let problem = expect_problem(
        app.call(Method::POST, render, Some(&ann), Some(bad)).await,
        422,
        "variables_mismatch",
    )
    .await;
    assert_eq!(
        problem["errors"],
        json!([
            {"field": "variables.count", "message": "must be a whole number"},
            {"field": "variables.tone", "message": "must be one of: formal, casual"},
            {"field": "variables.topic", "message": "has no value"},
            {"field": "variables.extra", "message": "is not a variable of this prompt"},
        ])
    );

    // The contract as JSON Schema.
    let response = app.get_as("/api/v1/prompts/list/schema", &ann).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/schema+json"));
    let schema: Value = response.json().await.unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["required"], json!(["count", "topic"]));
    assert_eq!(
        schema["properties"]["count"],
        json!({"type": "integer", "description": "How many", "examples": [3]})
    );
    assert_eq!(schema["properties"]["tone"]["enum"], json!(["formal", "casual"]));
    assert_eq!(schema["additionalProperties"], false);
    let missing = app.get_as("/api/v1/prompts/list/schema?version=9", &ann).await;
    assert_eq!(missing.status(), 404);

    // Specs carry over to the next version for the variables it keeps.
    let edit = json!({"version": 1, "content": "Write {{count}} lines about {{subject}}."});
    let (_, edited) = call(app, Method::PATCH, "/api/v1/prompts/list", &ann, edit).await;
    assert_eq!(edited["contract"][0]["type"], "integer");
    assert_eq!(edited["contract"][1], json!({"name": "subject", "type": "string", "required": true}));
    // The old version keeps its contract.
    let old = app.get_as("/api/v1/prompts/list/schema?version=1", &ann).await.json::<Value>().await.unwrap();
    assert!(old["properties"]["tone"].is_object());

    // A spec must name a variable and fit how it is used.
    let wrong = json!({"version": 2, "contract": [{"name": "nope", "type": "string"}, {"name": "count", "type": "messages"}]});
    let problem = expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/list", Some(&ann), Some(wrong)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["contract[0].name", "contract[1].type"]);
    let bad_default =
        json!({"version": 2, "contract": [{"name": "count", "type": "integer", "default": "lots"}]});
    let problem = expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/list", Some(&ann), Some(bad_default)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["contract[0].default"]);

    // An optional variable without a value renders as nothing.
    let optional =
        json!({"version": 2, "contract": [{"name": "subject", "type": "string", "required": false}]});
    let (status, _) = call(app, Method::PATCH, "/api/v1/prompts/list", &ann, optional).await;
    assert_eq!(status, 200);
    let (_, rendered) = call(app, Method::POST, render, &ann, json!({"variables": {"count": 2}})).await;
    assert_eq!(rendered["text"], "Write 2 lines about .");
}

async fn bundles_survive_export_and_import_and_old_files_still_import(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let mut chat = support_chat();
    chat["settings"] = json!({"model": "m1", "temperature": 0.1});
    chat["contract"] = json!([{"name": "company", "type": "string", "default": "Acme"}]);
    let original = create(app, &ann, chat).await;
    let export = app.get_as("/api/v1/exports/prompts", &ann).await.json::<Value>().await.unwrap();
    assert_eq!(export["format"], "prompt-manager/prompts@2");
    let exported = &export["prompts"][0];
    assert_eq!(exported["kind"], "chat");
    assert_eq!(exported["messages"], original["messages"]);
    assert_eq!(exported["settings"], original["settings"]);
    assert_eq!(exported["contract"], original["contract"]);

    // Into another tenant: the same bundle.
    let other = app.tenant("globex").await;
    let gina = app.user(&other, "gina@globex.test", domain::user::Role::User, "pw-gina-1234").await;
    let gina = app.session_token(&other, &gina).await;
    let (status, report) = call(app, Method::POST, "/api/v1/imports/prompts", &gina, export.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["created"], 1);
    let imported = app.get_as("/api/v1/prompts/support%2Freply", &gina).await.json::<Value>().await.unwrap();
    for field in ["kind", "template_format", "messages", "settings", "contract", "content", "variables"] {
        assert_eq!(imported[field], original[field], "{field}");
    }

    // A file of the first format imports exactly as it did.
    let v1 = json!({"format": "prompt-manager/prompts@1", "prompts": [
        {"name": "old", "title": "Old", "content": "Hi {{name}}", "category": "Mail", "tags": ["a"]}]});
    let (status, report) = call(app, Method::POST, "/api/v1/imports/prompts", &gina, v1).await;
    assert_eq!(status, 200, "{report}");
    let old = app.get_as("/api/v1/prompts/old", &gina).await.json::<Value>().await.unwrap();
    assert_eq!((old["kind"].as_str(), old["template_format"].as_str()), (Some("text"), Some("basic")));
    assert_eq!(old["contract"], json!([{"name": "name", "type": "string", "required": true}]));
    assert_eq!(old["settings"], json!({}));
    // An unknown format is named.
    let unknown = json!({"format": "prompt-manager/prompts@9", "prompts": []});
    let problem = expect_problem(
        app.call(Method::POST, "/api/v1/imports/prompts", Some(&gina), Some(unknown)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["format"]);
}

/// Contents that stress the basic syntax: escapes, near-variables, odd braces, multibyte text,
/// plus pseudo-random mixes of those pieces.
fn tricky_contents() -> Vec<String> {
    let fixed = [
        "plain text",
        "Dear {{ name }},\n{{body}}\n— {{name}} ✓",
        "{{{{escaped}} and {{real}}",
        "{{{{{{six}}",
        "{{{three}}}",
        "{{ not a variable }} {{}} {{a b}} {{1abc}}",
        "{\"json\": {\"x\": 1}} {{x}}",
        "{% if x %}not logic in basic{% endif %} {{x}}",
        "{{team.lead-1}} {{_under}} {{\tTab\t}}",
        "东京 {{城}} {{city}} 😀",
    ];
    let pieces =
        ["{{", "}}", "{", "}", " ", "a", "{{a}}", "{{ b }}", "{{{{", "é", "\n", "{%", "%}", "x.y", "{{x.y}}"];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let random = (0..40).map(|_| {
        let len = next() % 30;
        (0..len).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect::<String>()
    });
    // Today's API refuses empty content.
    fixed.iter().map(|s| (*s).to_owned()).chain(random).filter(|c| !c.trim().is_empty()).collect()
}

/// Rows written before bundles existed lack the bundle columns' values: taking the bundle
/// migration back and forth gives exactly such rows, and each must render as it did.
async fn prompts_saved_before_bundles_render_identically_after_the_migration(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let mut before = Vec::new();
    for (i, content) in tricky_contents().into_iter().enumerate() {
        let name = format!("p{i}");
        let created = create(app, &ann, json!({"name": name, "content": content})).await;
        let names: Vec<String> = serde_json::from_value(created["variables"].clone()).unwrap();
        assert_eq!(names, domain::template::variables(&content), "{content:?}");
        let values: BTreeMap<String, String> = names.iter().map(|n| (n.clone(), format!("<{n}>"))).collect();
        let expected = domain::template::render(&content, &values, true).unwrap();
        let (status, rendered) = call(
            app,
            Method::POST,
            &format!("/api/v1/prompts/{name}/render"),
            &ann,
            json!({"variables": values, "strict": true}),
        )
        .await;
        assert_eq!((status, rendered["text"].as_str()), (200, Some(expected.as_str())), "{content:?}");
        before.push((name, values, expected));
    }

    let url = match app.db.settings() {
        DatabaseSettings::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
        DatabaseSettings::Postgres { dsn, .. } => dsn.expose().clone(),
    };
    let mut options = sea_orm::ConnectOptions::new(url);
    options.max_connections(1).map_sqlx_sqlite_opts(|o| o.foreign_keys(false));
    let conn = sea_orm::Database::connect(options).await.unwrap();
    let since = Migrator::migrations()
        .iter()
        .rev()
        .position(|m| m.name() == "m20261203_000013_prompt_bundles")
        .expect("the bundle migration");
    Migrator::down(&conn, Some(u32::try_from(since + 1).unwrap())).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    conn.close().await.unwrap();

    // A fresh server (no read cache) on the migrated rows.
    let address = start_server(&app.db, app.dir.path(), false).await;
    let client = reqwest::Client::new();
    for (name, values, expected) in before {
        let response = client
            .post(format!("{address}/api/v1/prompts/{name}/render"))
            .bearer_auth(&ann)
            .json(&json!({"variables": values, "strict": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let rendered: Value = response.json().await.unwrap();
        assert_eq!(rendered["text"].as_str(), Some(expected.as_str()), "{name}");
        let prompt: Value = client
            .get(format!("{address}/api/v1/prompts/{name}"))
            .bearer_auth(&ann)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (prompt["kind"].as_str(), prompt["template_format"].as_str()),
            (Some("text"), Some("basic"))
        );
        let names: Vec<&String> = values.keys().collect();
        let mut contract_names: Vec<&str> =
            prompt["contract"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        contract_names.sort_unstable();
        assert_eq!(contract_names, names);
    }
}

/// A run sends the rendered messages with the version's settings; the request's options win
/// over the version's, the version's over the connection's, and the model asks for tools.
async fn runs_send_the_versions_settings_and_messages(backend: Backend) {
    let provider = Provider::start();
    let app =
        spawn(Spawn { backend, vars: vec![("AI_ALLOW_PRIVATE_NETWORKS", "true")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let ann = app.user(&acme, "ann@acme.test", domain::user::Role::User, "pw-ann-1234").await;
    let ann = app.session_token(&acme, &ann).await;
    let connection = json!({"name": "Echo", "provider": "openai_compatible", "base_url": provider.base_url,
        "model": "connection-model", "temperature": 1.0, "max_tokens": 50});
    let (status, connection) = call(&app, Method::POST, "/api/v1/ai/connections", &ann, connection).await;
    assert_eq!(status, 201, "{connection}");
    let mut chat = support_chat();
    chat["settings"] = json!({"model": "echo-tuned", "temperature": 0.2, "top_p": 0.5, "stop": ["END"],
        "response_format": {"type": "json_object"},
        "tools": [{"name": "lookup_order", "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}]});
    create(&app, &ann, chat).await;
    let variables =
        json!({"company": "Acme", "question": "Where?", "history": [{"role": "assistant", "content": "Hi"}]});
    let body = json!({"variables": variables, "connection": connection["id"], "max_tokens": 20});
    let (status, answer) = call(&app, Method::POST, "/api/v1/prompts/support%2Freply/run", &ann, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output"], "echo: Where?");
    let sent = provider.seen.last_body.lock().unwrap().clone().unwrap();
    assert_eq!(sent["model"], "echo-tuned");
    assert_eq!((sent["temperature"].as_f64(), sent["max_tokens"].as_u64()), (Some(0.2), Some(20)));
    assert_eq!(sent["top_p"].as_f64(), Some(0.5));
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["response_format"], json!({"type": "json_object"}));
    assert_eq!(sent["tools"][0]["function"]["name"], "lookup_order");
    // A compatible server has no developer role: it gets a system message.
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "You answer for Acme."},
            {"role": "system", "content": "Keep it short."},
            {"role": "assistant", "content": "Hi"},
            {"role": "user", "content": "Where?"},
        ])
    );

    // A model that calls a tool: the call comes back, whole and streamed.
    let variables = json!({"company": "A", "question": "Q", "history": []});
    let body = json!({"variables": variables, "connection": connection["id"], "model": "tools"});
    let (status, answer) =
        call(&app, Method::POST, "/api/v1/prompts/support%2Freply/run", &ann, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["tool_calls"],
        json!([{"id": "call_1", "name": "lookup_order", "arguments": "{\"id\": \"42\"}"}])
    );
    assert_eq!(answer["finish_reason"], "tool_calls");
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let response =
        app.call(Method::POST, "/api/v1/prompts/support%2Freply/run", Some(&ann), Some(streamed)).await;
    let text = response.text().await.unwrap();
    let done = text.split("event: done\ndata: ").nth(1).and_then(|rest| rest.lines().next()).expect(&text);
    let done: Value = serde_json::from_str(done).unwrap();
    assert_eq!(done["tool_calls"][0]["arguments"], "{\"id\": \"42\"}");
}

async fn logic_templates_branch_and_loop_and_report_errors_with_positions(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let content = "Hello {{ name }}{% if vip %}, our valued customer{% endif %}.\n\
                   {% for item in items %}\n\
                   - {{ item.title }} x{{ item.qty }}{% if loop.last %} (last){% endif %}\n\
                   {% else %}\n\
                   Nothing ordered.\n\
                   {% endfor %}\n\
                   {{{{ stays literal }}";
    let created =
        create(app, &ann, json!({"name": "order", "template_format": "logic", "content": content})).await;
    assert_eq!(
        created["contract"],
        json!([
            {"name": "name", "type": "string", "required": true},
            {"name": "vip", "type": "boolean", "required": false},
            {"name": "items", "type": "json", "required": true},
        ])
    );
    let render = "/api/v1/prompts/order/render";
    let items = json!([{"title": "Tea", "qty": 2}, {"title": "Cake", "qty": 1}]);
    let (status, rendered) = call(
        app,
        Method::POST,
        render,
        &ann,
        json!({"variables": {"name": "Ada", "vip": "true", "items": items}}),
    )
    .await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(
        rendered["text"],
        "Hello Ada, our valued customer.\n- Tea x2\n- Cake x1 (last)\n{{ stays literal }}"
    );
    let (_, rendered) =
        call(app, Method::POST, render, &ann, json!({"variables": {"name": "Bo", "items": []}})).await;
    assert_eq!(rendered["text"], "Hello Bo.\nNothing ordered.\n{{ stays literal }}");
    // A value that is not a list fails where it is looped over.
    let problem = expect_problem(
        app.call(
            Method::POST,
            render,
            Some(&ann),
            Some(json!({"variables": {"name": "C", "items": {"a": 1}}})),
        )
        .await,
        422,
        "template_failed",
    )
    .await;
    assert_eq!(fields(&problem), ["content"]);
    assert!(problem["errors"][0]["message"].as_str().unwrap().starts_with("line 2, column 1:"), "{problem}");

    // Template errors are refused at save, with line and column.
    for (broken, position) in [
        ("ok\n{% if x %}never closed", "line 2, column 1"),
        ("a {% endif %}", "line 1, column 3"),
        ("{% for in items %}{% endfor %}", "line 1, column 1"),
        ("x\ny\n  {% if a == %}{% endif %}", "line 3, column 3"),
    ] {
        let body = json!({"name": "broken", "template_format": "logic", "content": broken});
        let problem = expect_problem(
            app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(body)).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(fields(&problem), ["content"], "{broken:?}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(position), "{broken:?}: {message}");
    }
    // The same text as a basic template is just text.
    let basic = create(app, &ann, json!({"name": "literal", "content": "a {% endif %} {{x}}"})).await;
    assert_eq!(basic["variables"], json!(["x"]));
}

async fn includes_compose_prompts_and_edits_show_their_impact(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let ben = app.session_token(&lib.acme, &lib.ben).await;
    create(app, &ann, json!({"name": "snippets/tone", "content": "Write in a {{tone}} tone."})).await;
    create(
        app,
        &ann,
        json!({"name": "mail/offer", "template_format": "logic",
            "content": "{% include \"snippets/tone\" %}\nOffer for {{ name }}."}),
    )
    .await;
    create(
        app,
        &ann,
        json!({"name": "mail/pinned", "template_format": "logic", "content": "{% include 'snippets/tone@1' %} Pinned."}),
    )
    .await;
    create(
        app,
        &ann,
        json!({"name": "mail/digest", "template_format": "logic", "content": "Digest: {% include \"mail/offer\" %}"}),
    )
    .await;

    // The included prompt's variables are the includer's too.
    let render = "/api/v1/prompts/mail%2Foffer/render";
    let problem = expect_problem(
        app.call(Method::POST, render, Some(&ann), Some(json!({"variables": {"name": "Ada"}}))).await,
        422,
        "variables_mismatch",
    )
    .await;
    assert_eq!(fields(&problem), ["variables.tone"]);
    let (status, rendered) =
        call(app, Method::POST, render, &ann, json!({"variables": {"name": "Ada", "tone": "warm"}})).await;
    assert_eq!((status, rendered["text"].as_str()), (200, Some("Write in a warm tone.\nOffer for Ada.")));

    let used =
        app.get_as("/api/v1/prompts/snippets%2Ftone/used-by", &ann).await.json::<Value>().await.unwrap();
    let listed: Vec<(&str, Value)> = used["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["prompt"]["name"].as_str().unwrap(), u["pinned_version"].clone()))
        .collect();
    assert_eq!(listed, [("mail/offer", Value::Null), ("mail/pinned", json!(1))]);

    // An edit that needs a new variable breaks the prompts that follow the snippet, directly
    // or through another prompt; the pinned one is not reached.
    let impact = "/api/v1/prompts/snippets%2Ftone/impact";
    let edit = json!({"content": "Write in a {{tone}} tone for {{audience}}."});
    let (status, report) = call(app, Method::POST, impact, &ann, edit).await;
    assert_eq!(status, 200, "{report}");
    let outcomes: Vec<(&str, &str, Option<&str>)> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["prompt"]["name"].as_str().unwrap(), i["outcome"].as_str().unwrap(), i["via"].as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("mail/offer", "breaks", None),
            ("mail/pinned", "pinned", None),
            ("mail/digest", "breaks", Some("mail/offer"))
        ]
    );
    assert_eq!(report["items"][0]["problem"]["errors"][0]["field"], "variables.audience");
    assert_eq!(report["items"][0]["before"], "Write in a <tone> tone.\nOffer for <name>.");
    // One that only rewords changes them; nothing is saved by a preview.
    let (_, report) = call(app, Method::POST, impact, &ann, json!({"content": "Be {{tone}}."})).await;
    assert_eq!(report["items"][0]["outcome"], "changed");
    assert_eq!(report["items"][0]["after"], "Be <tone>.\nOffer for <name>.");
    let snippet = app.get_as("/api/v1/prompts/snippets%2Ftone", &ann).await.json::<Value>().await.unwrap();
    assert_eq!(snippet["version"], 1);
    // A read-only user may not preview edits.
    let reader = app.session_token(&lib.acme, &lib.reader).await;
    let response = app.call(Method::POST, impact, Some(&reader), Some(json!({"content": "x"}))).await;
    assert_eq!(response.status(), 403);

    // Saved: followers render the new text, the pinned one the old.
    let (status, _) = call(
        app,
        Method::PATCH,
        "/api/v1/prompts/snippets%2Ftone",
        &ann,
        json!({"version": 1, "content": "Be {{tone}}."}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, rendered) =
        call(app, Method::POST, render, &ann, json!({"variables": {"name": "Ada", "tone": "warm"}})).await;
    assert_eq!(rendered["text"], "Be warm.\nOffer for Ada.");
    let (_, pinned) = call(
        app,
        Method::POST,
        "/api/v1/prompts/mail%2Fpinned/render",
        &ann,
        json!({"variables": {"tone": "dry"}}),
    )
    .await;
    assert_eq!(pinned["text"], "Write in a dry tone. Pinned.");

    // Includes that cannot be put together are refused at save.
    let cases = [
        (
            json!({"name": "x1", "template_format": "logic", "content": "{% include \"nope\" %}"}),
            "does not exist",
        ),
        (
            json!({"name": "x2", "template_format": "logic", "content": "{% include \"snippets/tone@9\" %}"}),
            "does not exist",
        ),
        (json!({"name": "x3", "template_format": "logic", "content": "{% include \"x3\" %}"}), "cycl"),
        (json!({"name": "x4", "template_format": "logic", "content": "{% include \"bad name\" %}"}), "name"),
    ];
    for (body, reason) in cases {
        let problem = expect_problem(
            app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(body.clone())).await,
            422,
            "validation_failed",
        )
        .await;
        let message = problem["errors"][0]["message"].as_str().unwrap().to_lowercase();
        assert!(message.contains(reason), "{body}: {message}");
    }
    // A cycle through another prompt: the snippet may not include what includes it.
    let cycle = json!({"version": 2, "template_format": "logic", "content": "{% include \"mail/offer\" %}"});
    let problem = expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/snippets%2Ftone", Some(&ann), Some(cycle)).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem["errors"][0]["message"].as_str().unwrap().to_lowercase().contains("cycl"), "{problem}");
    // Chat prompts are not includable; others' private prompts are not there at all.
    create(
        app,
        &ann,
        json!({"name": "chatty", "kind": "chat", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    create(app, &ben, json!({"name": "bens/secret", "content": "secret", "visibility": "private"})).await;
    for (target, reason) in [("chatty", "chat prompt"), ("bens/secret", "does not exist")] {
        let body = json!({"name": "inc", "template_format": "logic", "content": format!("{{% include \"{target}\" %}}")});
        let problem = expect_problem(
            app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(body)).await,
            422,
            "validation_failed",
        )
        .await;
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains(reason), "{problem}");
    }
    // Another tenant cannot see the snippet, so cannot include it either.
    let other = app.tenant("globex").await;
    let gus = app.user(&other, "gus@globex.test", domain::user::Role::User, "pw-gus-12345").await;
    let gus = app.session_token(&other, &gus).await;
    let body =
        json!({"name": "steal", "template_format": "logic", "content": "{% include \"snippets/tone\" %}"});
    let problem = expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&gus), Some(body)).await,
        422,
        "validation_failed",
    )
    .await;
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("does not exist"));
    let missing = app.get_as("/api/v1/prompts/snippets%2Ftone/used-by", &gus).await;
    assert_eq!(missing.status(), 404);
}

async fn includes_pinned_by_label_follow_the_label(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let snippet = "/api/v1/prompts/snippets%2Ftone";
    create(app, &ann, json!({"name": "snippets/tone", "content": "One {{tone}}."})).await;
    for (version, content) in [(1, "Two {{tone}}."), (2, "Three {{tone}}.")] {
        let (status, _) =
            call(app, Method::PATCH, snippet, &ann, json!({"version": version, "content": content})).await;
        assert_eq!(status, 200);
    }
    let production = format!("{snippet}/labels/production");
    let move_to = |version: u32| call(app, Method::PUT, &production, &ann, json!({"version": version}));
    assert_eq!(move_to(1).await.0, 200);

    // Refused at save: a label the prompt lacks, or one that is not a label's name.
    for (content, reason) in [
        ("{% include 'snippets/tone@staging' %}", "has no label staging"),
        ("{% include 'snippets/tone@Prod' %}", "label"),
    ] {
        let body = json!({"name": "mail/bad", "template_format": "logic", "content": content});
        let problem = expect_problem(
            app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(body)).await,
            422,
            "validation_failed",
        )
        .await;
        assert!(problem["errors"][0]["message"].as_str().unwrap().contains(reason), "{problem}");
    }
    for (name, pin) in [("mail/released", "production"), ("mail/latest", "latest")] {
        let content = format!("{{% include 'snippets/tone@{pin}' %}} End.");
        create(app, &ann, json!({"name": name, "template_format": "logic", "content": content})).await;
    }
    let token = ann.as_str();
    let render_of = move |name: &'static str| {
        let path = format!("/api/v1/prompts/{}/render", name.replace('/', "%2F"));
        async move { call(app, Method::POST, &path, token, json!({"variables": {"tone": "dry"}})).await }
    };
    let render = || render_of("mail/released");
    let (status, rendered) = render().await;
    assert_eq!((status, rendered["text"].as_str()), (200, Some("One dry. End.")), "{rendered}");
    assert_eq!(
        render_of("mail/latest").await.1["text"],
        "Three dry. End.",
        "`@latest` is the current version"
    );

    // Listed as following the label, or (`@latest`) the current version.
    let used = app.get_as(&format!("{snippet}/used-by"), &ann).await.json::<Value>().await.unwrap();
    let pins: Vec<(Value, Value)> = used["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["pinned_version"].clone(), u.get("pinned_label").cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(pins, [(Value::Null, Value::Null), (Value::Null, json!("production"))], "{used}");
    assert_eq!(used["items"][1]["prompt"]["name"], "mail/released");
    // An edit reaches the `@latest` include, not the label's.
    let (_, report) =
        call(app, Method::POST, &format!("{snippet}/impact"), &ann, json!({"content": "Four {{tone}}."}))
            .await;
    let outcomes: Vec<(&str, Value)> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["outcome"].as_str().unwrap(), i.get("pinned_label").cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(outcomes, [("changed", Value::Null), ("pinned", json!("production"))], "{report}");

    // Moving the label moves what the includer renders; a split renders its primary version.
    assert_eq!(move_to(2).await.0, 200);
    assert_eq!(render().await.1["text"], "Two dry. End.");
    let split = json!({"split": [{"version": 1, "weight": 1}, {"version": 3, "weight": 4}]});
    let (status, _) = call(app, Method::PUT, &production, &ann, split).await;
    assert_eq!(status, 200);
    for _ in 0..5 {
        assert_eq!(render().await.1["text"], "Three dry. End.", "never a draw");
    }
    // Without the label the includer no longer renders, and says why.
    let (status, _) = call(app, Method::DELETE, &production, &ann, json!({"reason": "gone"})).await;
    assert_eq!(status, 204);
    let (status, problem) = render().await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"][0]["message"].as_str().unwrap().contains("has no label production"),
        "{problem}"
    );
}
