//! The MCP endpoint (`/mcp`) driven by the official MCP TypeScript SDK's client
//! (`e2e/mcp/mcp-client.mjs`) over real HTTP, on both databases: the caller's prompts as MCP
//! prompts with their contract's arguments, rendered (by label too), the tools, and the same
//! walls as REST (private prompts, other tenants, read tokens).

use std::path::{Path, PathBuf};
use std::process::Command;

use domain::session::TokenScope;
use reqwest::Method;
use serde_json::{Value, json};

use crate::prompts::{create, library};
use crate::support::{Backend, expect_problem, on_both_databases};

on_both_databases!(an_mcp_client_lists_renders_and_edits_the_callers_prompts);

/// `e2e/mcp/mcp-client.mjs`, after checking that `cargo xtask` installed the SDK beside it.
fn client_script() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../e2e/mcp");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk/package.json").is_file(),
        "the MCP TypeScript SDK is not installed in {}: run `cargo xtask peers` (or `cargo xtask test`)",
        dir.display()
    );
    dir.join("mcp-client.mjs")
}

fn names(prompts: &Value) -> Vec<&str> {
    prompts.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect()
}

fn text_of(result: &Value) -> &str {
    result["messages"][0]["content"]["text"].as_str().unwrap_or_default()
}

async fn an_mcp_client_lists_renders_and_edits_the_callers_prompts(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let contract = json!([{"name": "customer", "type": "string", "description": "Who is greeted"}]);
    let welcome = create(
        app,
        &ann,
        json!({"name": "support/welcome", "content": "Hello {{customer}}", "contract": contract, "visibility": "tenant"}),
    )
    .await;
    let path = format!("/api/v1/prompts/{}", welcome["id"].as_str().unwrap());
    let edit = json!({"content": "Hi {{customer}}, version two", "version": 1});
    assert_eq!(app.call(Method::PATCH, &path, Some(&ann), Some(edit)).await.status(), 200);
    let production = format!("{path}/labels/production");
    let moved = app.call(Method::PUT, &production, Some(&ann), Some(json!({"version": 1}))).await;
    assert_eq!(moved.status(), 200);
    create(app, &ann, json!({"name": "support/farewell", "content": "Goodbye", "visibility": "tenant"}))
        .await;
    // Invisible to Ann: Ben's private prompt, and another tenant's.
    let ben = app.session_token(&lib.acme, &lib.ben).await;
    create(app, &ben, json!({"name": "private/notes", "content": "Ben's", "visibility": "private"})).await;
    let globex = app.tenant("globex").await;
    let gus = app.user(&globex, "gus@globex.test", domain::user::Role::Admin, "pw-gus-12345").await;
    let gus = app.session_token(&globex, &gus).await;
    create(app, &gus, json!({"name": "support/secret", "content": "Globex's", "visibility": "tenant"})).await;

    let write_token = app.api_token(&lib.acme, &lib.ann, TokenScope::ReadWrite).await;
    let read_token = app.api_token(&lib.acme, &lib.ann, TokenScope::Read).await;
    let mut client = Command::new("node");
    client
        .arg(client_script())
        .env("MCP_URL", format!("{}/mcp", app.address))
        .env("MCP_TOKEN", &write_token)
        .env("MCP_READ_TOKEN", &read_token);
    // Off the test's runtime, which the server's database pool needs to keep running.
    let output = tokio::task::spawn_blocking(move || client.output()).await.unwrap();
    let output = output.expect("the MCP client needs node");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the MCP client failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(report["server"]["name"], "ai-prompt-manager", "{report}");
    assert!(report["capabilities"]["prompts"].is_object() && report["capabilities"]["tools"].is_object());
    // Exactly the prompts Ann sees over REST, with the contract as arguments.
    assert_eq!(names(&report["listed"]["prompts"]), ["support/farewell", "support/welcome"], "{report}");
    let listed_welcome = &report["listed"]["prompts"][1];
    assert_eq!(
        listed_welcome["arguments"],
        json!([{"name": "customer", "description": "Who is greeted", "required": true}])
    );
    assert_eq!(report["listed"]["prompts"][0]["arguments"], json!([]));
    // Rendered: the newest version, or the one the label names.
    assert_eq!(text_of(&report["newest"]), "Hi Ada, version two", "{report}");
    assert_eq!(report["newest"]["messages"][0]["role"], "user");
    assert!(report["newest"]["description"].as_str().unwrap().contains("version 2"));
    assert_eq!(text_of(&report["production"]), "Hello Ada", "{report}");
    for refused in ["missingArgument", "unknownPrompt"] {
        assert_eq!(report[refused]["code"], -32602, "{refused}: {report}");
    }
    assert!(report["missingArgument"]["message"].as_str().unwrap().contains("customer"), "{report}");
    assert!(report["unknownPrompt"]["message"].as_str().unwrap().contains("No such prompt"), "{report}");

    assert_eq!(report["tools"], json!(["search_prompts", "get_prompt", "create_prompt", "update_prompt"]));
    let found = &report["searched"]["structuredContent"]["items"];
    assert_eq!(names(found), ["support/welcome"], "{report}");
    assert_eq!(report["fetched"]["structuredContent"]["version"], 1, "{report}");
    assert_eq!(report["fetched"]["structuredContent"]["content"], "Hello {{customer}}");
    let created = &report["created"]["structuredContent"];
    assert_eq!((created["version"].clone(), created["variables"].clone()), (json!(1), json!(["channel"])));
    assert_eq!(report["updated"]["structuredContent"]["version"], 2, "{report}");
    let stale = &report["stale"];
    assert_eq!(stale["isError"], true, "{report}");
    assert_eq!(stale["structuredContent"]["code"], "precondition_failed");
    assert_eq!(stale["structuredContent"]["current_version"], 2);
    assert_eq!(report["hidden"]["isError"], true);
    assert_eq!(report["hidden"]["structuredContent"]["code"], "not_found", "private prompts stay invisible");

    // A read token lists and reads, and is refused every write.
    let reader_names = names(&report["readerListed"]["prompts"]);
    assert_eq!(reader_names, ["mcp/made", "support/farewell", "support/welcome"], "{report}");
    assert_eq!(report["readerCreate"]["isError"], true);
    assert_eq!(report["readerCreate"]["structuredContent"]["code"], "forbidden", "{report}");
    assert!(report["anonymous"].is_object(), "a client without a token cannot connect: {report}");

    // The writes are real writes: REST sees them, the audit log names them.
    let made = app.get_as("/api/v1/prompts/mcp%2Fmade", &ann).await;
    let made: Value = made.json().await.unwrap();
    assert_eq!((made["version"].clone(), made["content"].clone()), (json!(2), json!("Made again")));
    let refused = app.get_as("/api/v1/prompts/mcp%2Frefused", &ann).await;
    assert_eq!(refused.status(), 404);
    let actions = app.audit_actions(&lib.acme).await;
    assert!(actions.iter().filter(|a| *a == "prompt.created").count() >= 4, "{actions:?}");
    assert!(actions.iter().any(|a| a == "prompt.updated"));

    // Without a credential the endpoint answers as the API does: 401 problem+json.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let anonymous = app.call(Method::POST, "/mcp", None, Some(initialize)).await;
    expect_problem(anonymous, 401, "unauthorized").await;
}
