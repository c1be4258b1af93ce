//! Release labels over HTTP, on both databases: a label names one version, applications fetch
//! it with `?label=` (its own ETag, 304s, the read cache), every move is kept and audited, and
//! one call rolls a label back.

use domain::session::TokenScope;
use reqwest::Method;
use serde_json::{Value, json};

use crate::prompts::{create, library};
use crate::support::{Backend, TestApp, expect_problem, on_both_databases};

on_both_databases!(
    labels_name_versions_that_applications_fetch,
    label_moves_are_kept_audited_and_rolled_back,
    labels_are_checked_and_limited_and_stay_in_their_tenant,
    split_labels_serve_versions_by_weight_sticky_by_key_and_count_them,
);

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let response = app.call(method, path, Some(token), body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A prompt `support/welcome` with three versions ("v1", "v2", "v3" in its text).
async fn three_versions(app: &TestApp, token: &str) -> String {
    let created =
        create(app, token, json!({"name": "support/welcome", "content": "v1 Hello {{name}}"})).await;
    let path = format!("/api/v1/prompts/{}", created["id"].as_str().unwrap());
    for (version, text) in [(1, "v2 Hi {{name}}"), (2, "v3 Hey {{name}} from {{team}}")] {
        let (status, body) =
            call(app, Method::PATCH, &path, token, Some(json!({"content": text, "version": version}))).await;
        assert_eq!(status, 200, "{body}");
    }
    path
}

/// The status of a conditional `GET path` with `If-None-Match: etag`.
async fn revalidate(app: &TestApp, path: &str, token: &str, etag: &str) -> u16 {
    let request = app.client.get(format!("{}{path}", app.address)).bearer_auth(token);
    request.header("if-none-match", etag).send().await.unwrap().status().as_u16()
}

async fn move_label(app: &TestApp, token: &str, path: &str, label: &str, body: Value) -> (u16, Value) {
    call(app, Method::PUT, &format!("{path}/labels/{label}"), token, Some(body)).await
}

async fn labels_name_versions_that_applications_fetch(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let path = three_versions(app, &ann).await;
    let (status, label) = move_label(app, &ann, &path, "Production", json!({"version": 2})).await;
    assert_eq!(status, 200, "{label}");
    assert_eq!((label["name"].clone(), label["version"].clone()), (json!("production"), json!(2)));
    assert_eq!(label["moved_by"]["id"], json!(lib.ann.id));

    // An application with a read token fetches by name and label: version 2, whole.
    let reader = app.api_token(&lib.acme, &lib.reader, TokenScope::Read).await;
    let by_label = "/api/v1/prompts/support%2Fwelcome?label=production";
    let response = app.get_as(by_label, &reader).await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let served: Value = response.json().await.unwrap();
    assert_eq!((served["version"].clone(), served["content"].clone()), (json!(2), json!("v2 Hi {{name}}")));
    assert_eq!(served["variables"], json!(["name"]));
    assert_eq!(served["updated_by"]["id"], json!(lib.ann.id));
    // Its ETag is version 2's: the same as asking for version 2, not the current one's.
    let by_number = app.get_as("/api/v1/prompts/support%2Fwelcome?version=2", &reader).await;
    assert_eq!(by_number.headers()["etag"].to_str().unwrap(), etag);
    let current = app.get_as("/api/v1/prompts/support%2Fwelcome", &reader).await;
    let current_etag = current.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(current_etag, etag);
    assert_eq!(current.json::<Value>().await.unwrap()["version"], 3);
    let latest = app.get_as("/api/v1/prompts/support%2Fwelcome?label=latest", &reader).await;
    assert_eq!(latest.headers()["etag"].to_str().unwrap(), current_etag);
    assert_eq!(revalidate(app, by_label, &reader, &etag).await, 304);

    // Moving the label is seen at once, though the answer was cached a moment ago.
    let (status, _) = move_label(app, &ann, &path, "production", json!({"version": 3})).await;
    assert_eq!(status, 200);
    let moved: Value = app.get_as(by_label, &reader).await.json().await.unwrap();
    assert_eq!(moved["version"], 3);
    assert_eq!(revalidate(app, by_label, &reader, &etag).await, 200, "the old ETag no longer matches");

    // Unknown labels and versions are 404; malformed ones 422.
    let missing = app.get_as("/api/v1/prompts/support%2Fwelcome?label=staging", &reader).await;
    let problem = expect_problem(missing, 404, "not_found").await;
    assert!(problem["detail"].as_str().unwrap().contains("staging"), "{problem}");
    expect_problem(
        app.get_as("/api/v1/prompts/support%2Fwelcome?version=9", &reader).await,
        404,
        "not_found",
    )
    .await;
    for bad in ["?label=no%20spaces", "?version=0", "?label=production&version=2", "?version=two"] {
        let response = app.get_as(&format!("/api/v1/prompts/support%2Fwelcome{bad}"), &reader).await;
        assert_eq!(response.status(), 422, "{bad}");
    }

    // The list: `latest` first, following the newest version, then the others.
    let (status, list) = call(app, Method::GET, &format!("{path}/labels"), &reader, None).await;
    assert_eq!(status, 200);
    let names: Vec<(&str, u64, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (l["name"].as_str().unwrap(), l["version"].as_u64().unwrap(), l["automatic"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(names, [("latest", 3, true), ("production", 3, false)]);
}

async fn label_moves_are_kept_audited_and_rolled_back(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let path = three_versions(app, &ann).await;
    assert_eq!(move_label(app, &ann, &path, "production", json!({"version": 1})).await.0, 200);
    let (status, _) =
        move_label(app, &boss, &path, "production", json!({"version": 3, "reason": "  tested on staging "}))
            .await;
    assert_eq!(status, 200, "an admin may move anyone's labels");
    // Moving it where it is records nothing.
    assert_eq!(move_label(app, &ann, &path, "production", json!({"version": 3})).await.0, 200);
    assert_eq!(move_label(app, &ann, &path, "staging", json!({"version": 2})).await.0, 200);

    let history = |query: &'static str| {
        let path = path.clone();
        let ann = ann.clone();
        async move {
            let (status, body) =
                call(app, Method::GET, &format!("{path}/label-history{query}"), &ann, None).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let moves = history("?label=production").await;
    let items = moves["items"].as_array().unwrap();
    let steps: Vec<(Value, Value)> =
        items.iter().map(|m| (m["from_version"].clone(), m["to_version"].clone())).collect();
    assert_eq!(steps, [(json!(1), json!(3)), (json!(null), json!(1))], "newest first");
    assert_eq!(items[0]["reason"], "tested on staging");
    assert_eq!(items[0]["moved_by"]["id"], json!(lib.admin.id));
    assert_eq!(history("").await["items"].as_array().unwrap().len(), 3, "all labels");
    // Pages.
    let first = history("?limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) =
        call(app, Method::GET, &format!("{path}/label-history?limit=2&cursor={cursor}"), &ann, None).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());

    // Every move is in the audit log with who, from, to and why.
    let moved = app.audit_actions(&lib.acme).await.iter().filter(|a| *a == "label.moved").count();
    assert_eq!(moved, 3);
    let (_, events) =
        call(app, Method::GET, "/api/v1/audit-events?action=label.moved&limit=1", &boss, None).await;
    let details = &events["items"][0]["details"];
    assert_eq!(
        (details["label"].clone(), details["from"].clone(), details["to"].clone()),
        (json!("staging"), json!(null), json!(2))
    );

    // Rolling back: to where it pointed before, in one call; then back again.
    let rollback = format!("{path}/labels/production/rollback");
    let (status, undone) =
        call(app, Method::POST, &rollback, &ann, Some(json!({"reason": "broke checkout"}))).await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!((undone["from_version"].clone(), undone["to_version"].clone()), (json!(3), json!(1)));
    assert_eq!(undone["rollback_of"], items[0]["id"]);
    let served: Value =
        app.get_as("/api/v1/prompts/support%2Fwelcome?label=production", &ann).await.json().await.unwrap();
    assert_eq!(served["version"], 1);
    let (_, redone) = call(app, Method::POST, &rollback, &ann, None).await;
    assert_eq!((redone["from_version"].clone(), redone["to_version"].clone()), (json!(1), json!(3)));

    // Rolling back a label's creation removes it; rolling back the removal brings it back.
    let staging = format!("{path}/labels/staging/rollback");
    assert_eq!(call(app, Method::POST, &staging, &ann, None).await.0, 200);
    let gone = app.get_as("/api/v1/prompts/support%2Fwelcome?label=staging", &ann).await;
    expect_problem(gone, 404, "not_found").await;
    let (status, back) = call(app, Method::POST, &staging, &ann, None).await;
    assert_eq!((status, back["to_version"].clone()), (200, json!(2)));
    assert!(app.audit_actions(&lib.acme).await.iter().any(|a| a == "label.removed"));

    // Removing, with a reason; a label never set cannot be rolled back.
    let (status, _) =
        call(app, Method::DELETE, &format!("{path}/labels/staging"), &ann, Some(json!({"reason": "unused"})))
            .await;
    assert_eq!(status, 204);
    let (status, _) = call(app, Method::DELETE, &format!("{path}/labels/staging"), &ann, None).await;
    assert_eq!(status, 404);
    let garbled = app
        .call(Method::DELETE, &format!("{path}/labels/production"), Some(&ann), Some(json!({"reason": 5})))
        .await;
    expect_problem(garbled, 400, "invalid_json").await;
    assert_eq!(
        app.get_as(&format!("{path}?label=production"), &ann).await.status(),
        200,
        "a refused removal removes nothing"
    );
    let never = app.call(Method::POST, &format!("{path}/labels/canary/rollback"), Some(&ann), None).await;
    expect_problem(never, 404, "not_found").await;
    let last = history("?label=staging&limit=1").await;
    assert_eq!(
        (last["items"][0]["to_version"].clone(), last["items"][0]["reason"].clone()),
        (json!(null), json!("unused"))
    );

    // Concurrent moves of one label still make one chain: each move starts where the one
    // before it ended.
    let moves = (0..12u32).map(|i| {
        let (path, ann) = (path.clone(), ann.clone());
        async move { move_label(app, &ann, &path, "race", json!({"version": i % 3 + 1})).await.0 }
    });
    let statuses = futures_util::future::join_all(moves).await;
    assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
    let chain = history("?label=race").await;
    let chain: Vec<(Value, Value)> = chain["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|m| (m["from_version"].clone(), m["to_version"].clone()))
        .collect();
    assert_eq!(chain[0].0, json!(null));
    for pair in chain.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "{chain:?}");
    }

    // Deleting the prompt takes its labels and their history with it.
    assert_eq!(call(app, Method::DELETE, &path, &ann, None).await.0, 204);
    let again = three_versions(app, &ann).await;
    let (_, fresh) = call(app, Method::GET, &format!("{again}/label-history"), &ann, None).await;
    assert_eq!(fresh["items"], json!([]));
}

async fn labels_are_checked_and_limited_and_stay_in_their_tenant(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let ben = app.session_token(&lib.acme, &lib.ben).await;
    let path = three_versions(app, &ann).await;

    // Who may move: the owner and admins; not another user, a reader or a read token.
    let reader = app.session_token(&lib.acme, &lib.reader).await;
    let read_token = app.api_token(&lib.acme, &lib.ann, TokenScope::Read).await;
    for (token, status) in [(&ben, 403), (&reader, 403), (&read_token, 403)] {
        assert_eq!(move_label(app, token, &path, "production", json!({"version": 1})).await.0, status);
    }
    let write_token = app.api_token(&lib.acme, &lib.ann, TokenScope::ReadWrite).await;
    assert_eq!(move_label(app, &write_token, &path, "production", json!({"version": 1})).await.0, 200);

    // Bad input: one field error each.
    let cases = [
        ("latest", json!({"version": 1}), "label"),
        ("9lives", json!({"version": 1}), "label"),
        ("production", json!({"version": 4}), "version"),
        ("production", json!({"version": 0}), "version"),
        ("production", json!({"version": 1, "reason": "x".repeat(501)}), "reason"),
    ];
    for (label, body, field) in cases {
        let response = app.call(Method::PUT, &format!("{path}/labels/{label}"), Some(&ann), Some(body)).await;
        let problem = expect_problem(response, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let response =
        app.call(Method::PUT, &format!("{path}/labels/x"), Some(&ann), Some(json!({"to": 1}))).await;
    let problem = expect_problem(response, 400, "invalid_json").await;
    assert!(problem["detail"].as_str().unwrap().contains("unknown field `to`"), "{problem}");

    // At most 50 labels per prompt (latest aside).
    for n in 1..50 {
        assert_eq!(move_label(app, &ann, &path, &format!("canary-{n}"), json!({"version": 1})).await.0, 200);
    }
    let response = app
        .call(Method::PUT, &format!("{path}/labels/one-too-many"), Some(&ann), Some(json!({"version": 1})))
        .await;
    expect_problem(response, 409, "label_limit_reached").await;
    // Moving an existing one is still fine.
    assert_eq!(move_label(app, &ann, &path, "canary-1", json!({"version": 2})).await.0, 200);

    // Another tenant sees no such prompt, by label or otherwise, and cannot move its labels.
    let globex = app.tenant("globex").await;
    let gina = app.user(&globex, "gina@globex.test", domain::user::Role::Admin, "pw-gina-123").await;
    let gina = app.session_token(&globex, &gina).await;
    for (method, suffix, body) in [
        (Method::GET, "?label=production", None),
        (Method::GET, "/labels", None),
        (Method::GET, "/label-history", None),
        (Method::PUT, "/labels/production", Some(json!({"version": 1}))),
        (Method::POST, "/labels/production/rollback", None),
        (Method::DELETE, "/labels/production", None),
    ] {
        let response = app.call(method.clone(), &format!("{path}{suffix}"), Some(&gina), body).await;
        expect_problem(response, 404, "not_found").await;
    }
    // A private prompt's labels are as invisible as the prompt.
    let private =
        create(app, &ben, json!({"name": "ben/notes", "content": "mine", "visibility": "private"})).await;
    let private_path = format!("/api/v1/prompts/{}", private["id"].as_str().unwrap());
    assert_eq!(move_label(app, &ben, &private_path, "production", json!({"version": 1})).await.0, 200);
    let response = app.get_as(&format!("{private_path}/labels"), &ann).await;
    expect_problem(response, 404, "not_found").await;
}

/// The version a fetch served: the `X-Prompt-Version` header, checked against the body.
async fn served_version(app: &TestApp, path: &str, token: &str) -> u64 {
    let response = app.get_as(path, token).await;
    assert_eq!(response.status(), 200, "{path}");
    let header: u64 = response.headers()["x-prompt-version"].to_str().unwrap().parse().unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["version"], header, "the body says the same version");
    header
}

async fn split_labels_serve_versions_by_weight_sticky_by_key_and_count_them(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let reader = app.api_token(&lib.acme, &lib.reader, TokenScope::Read).await;
    let path = three_versions(app, &ann).await;

    // Bad splits are refused field by field.
    for bad in [
        json!({"split": [{"version": 2, "weight": 1}]}),
        json!({"split": [{"version": 2, "weight": 1}, {"version": 9, "weight": 1}]}),
        json!({"split": [{"version": 2, "weight": 0}, {"version": 3, "weight": 1}]}),
        json!({"split": [{"version": 2, "weight": 1}, {"version": 2, "weight": 1}]}),
    ] {
        let (status, body) = move_label(app, &ann, &path, "production", bad.clone()).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("split")), "{bad} {body}");
    }
    for bad in [
        json!({}),
        json!({"version": 2, "split": [{"version": 2, "weight": 1}, {"version": 3, "weight": 1}]}),
    ] {
        let (status, body) = move_label(app, &ann, &path, "production", bad.clone()).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("version")), "{bad} {body}");
    }

    // A 1:3 split of versions 2 and 3; the label names its larger share.
    assert_eq!(move_label(app, &ann, &path, "production", json!({"version": 1})).await.0, 200);
    let split = json!([{"version": 2, "weight": 1}, {"version": 3, "weight": 3}]);
    let (status, label) = move_label(app, &ann, &path, "production", json!({"split": split})).await;
    assert_eq!(status, 200, "{label}");
    assert_eq!((label["version"].clone(), label["split"].clone()), (json!(3), split.clone()));

    // Each key gets one version, always the same; the keys spread by weight.
    let by_label = "/api/v1/prompts/support%2Fwelcome?label=production";
    let mut served = std::collections::BTreeMap::<u64, u64>::new();
    let mut first_pick = Vec::new();
    for user in 0..200 {
        let version = served_version(app, &format!("{by_label}&key=user-{user}"), &reader).await;
        *served.entry(version).or_default() += 1;
        first_pick.push(version);
    }
    for user in [0, 7, 42, 199] {
        let again = served_version(app, &format!("{by_label}&key=user-{user}"), &reader).await;
        assert_eq!(again, first_pick[user], "user-{user} keeps their version");
        *served.entry(again).or_default() += 1;
    }
    assert_eq!(served.keys().copied().collect::<Vec<_>>(), [2, 3], "{served:?}");
    assert!((20..=85).contains(&served[&2]), "about a quarter of 204 fetches get version 2: {served:?}");
    // Without a key each fetch draws; what it gets is one of the split's versions, with that
    // version's own ETag.
    let response = app.get_as(by_label, &reader).await;
    let version = response.headers()["x-prompt-version"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(["2", "3"].contains(&version.as_str()), "{version}");
    let by_number =
        app.get_as(&format!("/api/v1/prompts/support%2Fwelcome?version={version}"), &reader).await;
    assert_eq!(by_number.headers()["etag"].to_str().unwrap(), etag);
    *served.entry(version.parse().unwrap()).or_default() += 1;
    let (status, _) =
        call(app, Method::GET, &format!("{by_label}&key={}", "k".repeat(257)), &reader, None).await;
    assert_eq!(status, 422, "keys are capped");

    // Every fetch by the label is counted per version served (this instance's at once).
    let (status, stats) = call(app, Method::GET, &format!("{path}/label-stats?days=7"), &reader, None).await;
    assert_eq!(status, 200, "{stats}");
    let counted: std::collections::BTreeMap<u64, u64> = stats["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["label"] == "production")
        .map(|i| (i["version"].as_u64().unwrap(), i["fetches"].as_u64().unwrap()))
        .collect();
    assert_eq!(counted, served, "{stats}");
    assert_eq!(stats["items"][0]["days"][0]["day"], json!(chrono::Utc::now().date_naive()), "counted today");
    let (status, _) = call(app, Method::GET, &format!("{path}/label-stats?days=0"), &reader, None).await;
    assert_eq!(status, 422);
    // Counts of a prompt deleted before they were written are dropped; the rest still land.
    let gone = create(app, &ann, json!({"name": "support/gone", "content": "bye"})).await;
    let gone_path = format!("/api/v1/prompts/{}", gone["id"].as_str().unwrap());
    assert_eq!(move_label(app, &ann, &gone_path, "production", json!({"version": 1})).await.0, 200);
    assert_eq!(served_version(app, &format!("{gone_path}?label=production"), &reader).await, 1);
    let again = served_version(app, &format!("{by_label}&key=user-0"), &reader).await;
    *served.entry(again).or_default() += 1;
    assert_eq!(call(app, Method::DELETE, &gone_path, &ann, None).await.0, 204);
    let (status, stats) = call(app, Method::GET, &format!("{path}/label-stats?days=7"), &reader, None).await;
    assert_eq!(status, 200, "{stats}");
    let total: u64 = stats["items"].as_array().unwrap().iter().map(|i| i["fetches"].as_u64().unwrap()).sum();
    assert_eq!(total, served.values().sum::<u64>(), "{stats}");

    // The history keeps the split; a move away and a rollback bring it back whole.
    let (_, history) =
        call(app, Method::GET, &format!("{path}/label-history?label=production"), &reader, None).await;
    assert_eq!(history["items"][0]["split"], split);
    assert_eq!(move_label(app, &ann, &path, "production", json!({"version": 1})).await.0, 200);
    assert_eq!(served_version(app, &format!("{by_label}&key=user-0"), &reader).await, 1);
    let (status, undone) =
        call(app, Method::POST, &format!("{path}/labels/production/rollback"), &ann, None).await;
    assert_eq!((status, undone["split"].clone()), (200, split.clone()), "{undone}");
    assert_eq!(served_version(app, &format!("{by_label}&key=user-0"), &reader).await, first_pick[0]);
    // Setting the same split again records nothing.
    let (status, _) = move_label(app, &ann, &path, "production", json!({"split": split})).await;
    assert_eq!(status, 200);
    let (_, again) =
        call(app, Method::GET, &format!("{path}/label-history?label=production"), &reader, None).await;
    assert_eq!(again["items"].as_array().unwrap().len(), history["items"].as_array().unwrap().len() + 2);
}
