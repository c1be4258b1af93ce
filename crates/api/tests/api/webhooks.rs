//! Webhooks over HTTP, on both databases, against a real receiver on loopback that verifies
//! every delivery with the Standard Webhooks reference library: events are queued in the
//! transaction of the change, signed, retried with backoff until the receiver takes them,
//! logged with every try, redelivered on request and signed by both secrets during a rotation.
//! A server killed with deliveries waiting delivers them once it is back.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use domain::session::TokenScope;
use domain::user::Role;
use persistence::DatabaseSettings;
use reqwest::Method;
use serde_json::{Value, json};

use crate::prompts::{create, library};
use crate::receiver::Receiver;
use crate::support::{Backend, Spawn, TEST_SECRET_KEY, TestApp, on_both_databases};

on_both_databases!(
    events_are_signed_retried_logged_and_redelivered,
    endpoints_are_checked_limited_and_stay_in_their_tenant,
    deliveries_waiting_when_the_server_is_killed_are_sent_after_restart,
);

/// Private addresses allowed (the receiver is on loopback), retries after 1 s, 6 s, …
const VARS: &[(&str, &str)] =
    &[("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"), ("WEBHOOK_RETRY_BASE_SECONDS", "1")];

const WITHIN: Duration = Duration::from_secs(20);

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let response = app.call(method, path, Some(token), body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers an endpoint for `events` at the receiver; its id and secret.
async fn register(app: &TestApp, token: &str, receiver: &Receiver, events: Value) -> (String, String) {
    let body = json!({"url": receiver.url, "events": events, "description": "tests"});
    let (status, created) = call(app, Method::POST, "/api/v1/webhooks", token, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (created["webhook"]["id"].as_str().unwrap().to_owned(), secret)
}

fn of_type<'a>(received: &'a [Value], event: &str) -> Vec<&'a Value> {
    received.iter().filter(|r| r["body"]["type"] == event).collect()
}

async fn events_are_signed_retried_logged_and_redelivered(backend: Backend) {
    let lib = crate::prompts::library_with(Spawn { backend, vars: VARS.to_vec(), ..Spawn::default() }).await;
    let app = &lib.app;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let receiver = Receiver::start();
    let (id, secret) =
        register(app, &boss, &receiver, json!(["prompt.created", "prompt.updated", "label.moved"])).await;
    receiver.set_secrets(&[&secret]);

    // The receiver is down for a moment: the first try fails, the retry a second later lands.
    receiver.answer(503);
    let prompt = create(app, &ann, json!({"name": "hooks/first", "content": "Hello {{name}}"})).await;
    let received = receiver.wait_for(WITHIN, |r| !r.is_empty()).await;
    assert_eq!(received[0]["verified"], json!([true]), "{received:?}");
    receiver.answer(204);
    let received = receiver.wait_for(WITHIN, |r| r.len() >= 2).await;
    let (first, retry) = (&received[0], &received[1]);
    assert_eq!(first["id"], retry["id"], "a retry keeps its webhook-id");
    assert_eq!(retry["verified"], json!([true]));
    let body = &retry["body"];
    assert_eq!(body["type"], "prompt.created");
    assert_eq!(body["data"]["prompt"]["id"], prompt["id"]);
    assert_eq!(body["data"]["prompt"]["version"], 1);
    assert_eq!(body["data"]["actor"]["id"], json!(lib.ann.id));

    // The log shows both tries.
    let log = format!("/api/v1/webhooks/{id}/deliveries");
    let delivery_id = first["id"].as_str().unwrap().to_owned();
    let detail =
        eventually(app, &boss, &format!("{log}/{delivery_id}"), |d| d["delivery"]["status"] == "delivered")
            .await;
    let codes: Vec<&Value> =
        detail["attempts"].as_array().unwrap().iter().map(|a| &a["status_code"]).collect();
    assert_eq!(codes, [&json!(503), &json!(204)], "{detail}");
    assert_eq!(detail["delivery"]["attempts"], 2);
    assert_eq!(detail["payload"], retry["body"]);

    // Edits and label moves are sent; deletions are not subscribed to.
    let path = format!("/api/v1/prompts/{}", prompt["id"].as_str().unwrap());
    let (status, _) =
        call(app, Method::PATCH, &path, &ann, Some(json!({"content": "Hi {{name}}", "version": 1}))).await;
    assert_eq!(status, 200);
    let (status, _) =
        call(app, Method::PUT, &format!("{path}/labels/production"), &ann, Some(json!({"version": 2}))).await;
    assert_eq!(status, 200);
    let received = receiver.wait_for(WITHIN, |r| !of_type(r, "label.moved").is_empty()).await;
    assert_eq!(of_type(&received, "prompt.updated")[0]["body"]["data"]["prompt"]["version"], 2);
    let moved = &of_type(&received, "label.moved")[0]["body"]["data"];
    assert_eq!(
        (moved["move"]["label"].clone(), moved["move"]["to"].clone()),
        (json!("production"), json!(2))
    );
    let other = create(app, &ann, json!({"name": "hooks/second", "content": "x"})).await;
    let (status, _) =
        call(app, Method::DELETE, &format!("/api/v1/prompts/{}", other["id"].as_str().unwrap()), &ann, None)
            .await;
    assert_eq!(status, 204);
    receiver
        .wait_for(WITHIN, |r| r.iter().any(|d| d["body"]["data"]["prompt"]["name"] == "hooks/second"))
        .await;
    assert!(of_type(&receiver.received(), "prompt.deleted").is_empty());
    assert!(receiver.received().iter().all(|r| r["verified"] == json!([true])));

    // Imports report each prompt they create; a dry run nothing.
    let created_ids = |r: &[Value]| {
        let mut ids: Vec<String> = of_type(r, "prompt.created").iter().map(|d| d["id"].to_string()).collect();
        ids.sort();
        ids.dedup();
        ids.len()
    };
    assert_eq!(created_ids(&receiver.received()), 2);
    let export: Value = app.get_as("/api/v1/exports/prompts", &ann).await.json().await.unwrap();
    let import = "/api/v1/imports/prompts?on_conflict=rename";
    let (status, _) =
        call(app, Method::POST, &format!("{import}&dry_run=true"), &ann, Some(export.clone())).await;
    assert_eq!(status, 200);
    let (status, report) = call(app, Method::POST, import, &ann, Some(export)).await;
    assert_eq!((status, report["renamed"].clone()), (200, json!(1)), "{report}");
    receiver.wait_for(WITHIN, |r| created_ids(r) == 3).await;

    // A redelivery is a new delivery of the same event.
    let (status, again) =
        call(app, Method::POST, &format!("{log}/{delivery_id}/redeliver"), &boss, None).await;
    assert_eq!((status, again["redelivery_of"].as_str()), (202, Some(delivery_id.as_str())), "{again}");
    let again_id = again["id"].as_str().unwrap().to_owned();
    let received = receiver.wait_for(WITHIN, |r| r.iter().any(|d| d["id"] == again_id.as_str())).await;
    let redelivered = received.iter().find(|d| d["id"] == again_id.as_str()).unwrap();
    assert_eq!(redelivered["body"], retry["body"]);

    // A rotation: for a day deliveries carry signatures by the new and the old secret.
    let (status, rotated) =
        call(app, Method::POST, &format!("/api/v1/webhooks/{id}/rotate-secret"), &boss, None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated["webhook"]["previous_secret_until"].is_string());
    receiver.set_secrets(&[&new_secret, &secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
    let (status, test) = call(app, Method::POST, &format!("/api/v1/webhooks/{id}/test"), &boss, None).await;
    assert_eq!(status, 202, "{test}");
    let test_id = test["id"].as_str().unwrap().to_owned();
    let received = receiver.wait_for(WITHIN, |r| r.iter().any(|d| d["id"] == test_id.as_str())).await;
    let tested = received.iter().find(|d| d["id"] == test_id.as_str()).unwrap();
    assert_eq!(tested["body"]["type"], "webhook.test");
    assert_eq!(tested["verified"], json!([true, true, false]), "both secrets sign; a stranger's does not");
    assert_eq!(tested["signature"].as_str().unwrap().split(' ').count(), 2);

    // Filters and paging of the log; audit.
    let (_, delivered) =
        call(app, Method::GET, &format!("{log}?status=delivered&limit=2"), &boss, None).await;
    assert_eq!(delivered["items"].as_array().unwrap().len(), 2);
    assert!(delivered["next_cursor"].is_string());
    let (status, _) = call(app, Method::GET, &format!("{log}?status=lost"), &boss, None).await;
    assert_eq!(status, 422);
    let actions = app.audit_actions(&lib.acme).await;
    for action in ["webhook.created", "webhook.secret_rotated", "webhook.redelivered"] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }

    // A disabled endpoint gets nothing new.
    let (status, _) =
        call(app, Method::PATCH, &format!("/api/v1/webhooks/{id}"), &boss, Some(json!({"enabled": false})))
            .await;
    assert_eq!(status, 200);
    let before = receiver.received().len();
    create(app, &ann, json!({"name": "hooks/quiet", "content": "x"})).await;
    let (_, pending) = call(app, Method::GET, &format!("{log}?status=pending"), &boss, None).await;
    assert_eq!(pending["items"], json!([]), "nothing queued for a disabled endpoint");
    assert_eq!(receiver.received().len(), before);
}

async fn endpoints_are_checked_limited_and_stay_in_their_tenant(backend: Backend) {
    // Private networks not allowed: plain http is refused, and a loopback endpoint is never
    // called (the address rule is checked after DNS, at every try).
    let lib = library(backend).await;
    let app = &lib.app;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let boss_read = app.api_token(&lib.acme, &lib.admin, TokenScope::Read).await;
    let receiver = Receiver::start();
    for (bad, field) in [
        (json!({"url": receiver.url, "events": ["prompt.created"]}), "url"),
        (json!({"url": "ftp://example.test/x", "events": ["prompt.created"]}), "url"),
        (json!({"url": "https://user:pw@example.test/x", "events": ["prompt.created"]}), "url"),
        (json!({"url": "https://example.test/x", "events": []}), "events"),
        (json!({"url": "https://example.test/x", "events": ["webhook.test"]}), "events"),
    ] {
        let (status, body) = call(app, Method::POST, "/api/v1/webhooks", &boss, Some(bad.clone())).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some(field)), "{bad} {body}");
    }
    let (status, _) = call(
        app,
        Method::POST,
        "/api/v1/webhooks",
        &boss,
        Some(json!({"url": "https://example.test/x", "events": ["prompt.exploded"]})),
    )
    .await;
    assert_eq!(status, 400, "unknown events are refused");
    let loopback = receiver.url.replace("http://", "https://");
    let body = json!({"url": loopback, "events": ["prompt.created"]});
    let (status, created) = call(app, Method::POST, "/api/v1/webhooks", &boss, Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    create(app, &ann, json!({"name": "hooks/private", "content": "x"})).await;
    let log = format!("/api/v1/webhooks/{id}/deliveries");
    let list = eventually(app, &boss, &log, |l| l["items"][0]["attempts"].as_u64().unwrap_or(0) >= 1).await;
    let first = list["items"][0].clone();
    assert!(first["last_error"].as_str().unwrap().contains("may not reach"), "{first}");
    assert_eq!(receiver.received(), Vec::<Value>::new(), "nothing reached the loopback receiver");

    // Admins only; read tokens read; the secret is never listed.
    let (status, _) = call(app, Method::GET, "/api/v1/webhooks", &ann, None).await;
    assert_eq!(status, 403);
    let (status, list) = call(app, Method::GET, "/api/v1/webhooks", &boss_read, None).await;
    assert_eq!(status, 200);
    assert!(!list.to_string().contains("whsec_"), "{list}");
    let (status, _) = call(
        app,
        Method::POST,
        "/api/v1/webhooks",
        &boss_read,
        Some(json!({"url": "https://example.test/y", "events": ["prompt.created"]})),
    )
    .await;
    assert_eq!(status, 403);

    // At most 20 per tenant.
    for n in 1..20 {
        let body = json!({"url": format!("https://example.test/{n}"), "events": ["prompt.deleted"]});
        assert_eq!(call(app, Method::POST, "/api/v1/webhooks", &boss, Some(body)).await.0, 201);
    }
    let body = json!({"url": "https://example.test/21", "events": ["prompt.deleted"]});
    let (status, problem) = call(app, Method::POST, "/api/v1/webhooks", &boss, Some(body)).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("webhook_limit_reached")));

    // Another tenant's admin sees none of it: 404.
    let globex = app.tenant("globex").await;
    let intruder = app.user(&globex, "admin@globex.test", Role::Admin, "pw-globex-12").await;
    let intruder = app.session_token(&globex, &intruder).await;
    let delivery = first["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/api/v1/webhooks/{id}")),
        (Method::PATCH, format!("/api/v1/webhooks/{id}")),
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
        (Method::POST, format!("/api/v1/webhooks/{id}/rotate-secret")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (Method::GET, log.clone()),
        (Method::GET, format!("{log}/{delivery}")),
        (Method::POST, format!("{log}/{delivery}/redeliver")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({"enabled": false}));
        let (status, _) = call(app, method.clone(), &path, &intruder, body).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (_, theirs) = call(app, Method::GET, "/api/v1/webhooks", &intruder, None).await;
    assert_eq!(theirs["items"], json!([]));
    let (status, _) = call(app, Method::DELETE, &format!("/api/v1/webhooks/{id}"), &boss, None).await;
    assert_eq!(status, 204);
    assert_eq!(call(app, Method::GET, &log, &boss, None).await.0, 404);
}

/// `GET path` once its answer satisfies `done` (waiting at most [`WITHIN`]: deliveries are
/// sent in the background).
async fn eventually(app: &TestApp, token: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let (_, answer) = call(app, Method::GET, path, token, None).await;
        if done(&answer) {
            return answer;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the delivery log page at `path` satisfies `done`.
async fn wait_for_log(app: &TestApp, token: &str, path: &str, done: impl Fn(&[Value]) -> bool) {
    eventually(app, token, path, |page| page["items"].as_array().is_some_and(|items| done(items))).await;
}

/// The server binary on the test app's database, sending deliveries.
fn serve(app: &TestApp, backend: Backend) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_prompt-manager"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(app.dir.path())
        .env("SECRET_KEY", TEST_SECRET_KEY)
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .envs(VARS.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match (backend, app.db.settings()) {
        (Backend::Sqlite, DatabaseSettings::Sqlite { path, .. }) => {
            command.env("DB_TYPE", "sqlite").env("DB_PATH", path);
        }
        (_, DatabaseSettings::Postgres { dsn, .. }) => {
            command.env("DB_TYPE", "postgres").env("POSTGRES_DSN", dsn.expose());
        }
        (Backend::Postgres, _) => unreachable!("a PostgreSQL test has PostgreSQL settings"),
    }
    (command.spawn().unwrap(), format!("http://127.0.0.1:{port}"))
}

async fn deliveries_waiting_when_the_server_is_killed_are_sent_after_restart(backend: Backend) {
    // The test app queues but does not send; the binary sends.
    let mut vars = VARS.to_vec();
    vars.push(("WEBHOOK_DELIVERY", "false"));
    let lib = crate::prompts::library_with(Spawn { backend, vars, ..Spawn::default() }).await;
    let app = &lib.app;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let receiver = Receiver::start();
    let (id, secret) = register(app, &boss, &receiver, json!(["prompt.created"])).await;
    receiver.set_secrets(&[&secret]);
    receiver.answer(503);
    let mut names = Vec::new();
    for n in 0..5 {
        let name = format!("hooks/killed-{n}");
        create(app, &ann, json!({"name": name, "content": "x"})).await;
        names.push(name);
    }

    // The sender tries each once (the receiver refuses), and is killed with all five waiting.
    let (mut server, _) = serve(app, backend);
    receiver.wait_for(WITHIN, |r| r.len() >= 5).await;
    // Killed once each failed try is recorded: five deliveries wait for their retry. (One
    // killed mid-try would wait for its 60 s lease to run out first.)
    wait_for_log(app, &boss, &format!("/api/v1/webhooks/{id}/deliveries?status=pending"), |items| {
        items.len() == 5 && items.iter().all(|d| d["attempts"] == 1)
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();
    let log = format!("/api/v1/webhooks/{id}/deliveries?status=delivered");
    assert_eq!(call(app, Method::GET, &log, &boss, None).await.1["items"], json!([]));

    // Back up, with the receiver taking deliveries: every one arrives, verified.
    receiver.answer(200);
    let (mut server, _) = serve(app, backend);
    let received = receiver
        .wait_for(WITHIN, |r| {
            names.iter().all(|n| {
                r.iter().any(|d| {
                    d["body"]["data"]["prompt"]["name"] == n.as_str() && d["verified"] == json!([true])
                })
            })
        })
        .await;
    let mut ids: Vec<&str> = received.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "five deliveries, each retried under its own id");
    // And the log says so once the sender has recorded it.
    wait_for_log(app, &boss, &log, |items| items.len() == 5).await;
    server.kill().unwrap();
    server.wait().unwrap();
}
