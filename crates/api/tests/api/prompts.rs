//! The prompt library over HTTP, on both databases.

use domain::session::TokenScope;
use domain::tenant::Tenant;
use domain::user::{Role, User};
use persistence::testing::scope_of;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, Spawn, TestApp, expect_problem, on_both_databases, spawn};

on_both_databases!(
    prompts_are_created_and_fetched_by_name_or_id_with_etags,
    edits_need_the_current_version_and_stale_writes_get_412,
    owners_and_admins_edit_users_create_readonly_users_read,
    private_prompts_stay_private_even_through_name_clashes,
    versions_are_listed_diffed_and_restored,
    rendering_fills_variables_and_names_what_is_missing,
    search_filters_sorts_pages_and_counts,
    pages_keep_their_place_while_prompts_change_between_them,
    import_and_export_round_trip_with_dry_run_and_conflict_policies,
    an_export_holds_every_prompt_however_many,
    another_tenants_prompts_do_not_exist,
    the_read_cache_sees_changes_here_at_once_and_elsewhere_within_its_lifetime,
    the_read_cache_outlives_reads_and_other_tenants_changes,
    folders_are_browsed_by_path,
);

pub struct Library {
    pub app: TestApp,
    pub acme: Tenant,
    pub admin: User,
    pub ann: User,
    pub ben: User,
    pub reader: User,
}

pub async fn library(backend: Backend) -> Library {
    library_with(Spawn { backend, ..Spawn::default() }).await
}

/// [`library`] on a server started with `options`.
pub async fn library_with(options: Spawn) -> Library {
    let app = spawn(options).await;
    let acme = app.tenant("acme").await;
    let admin = app.user(&acme, "boss@acme.test", Role::Admin, "pw-boss-123").await;
    let ann = app.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let ben = app.user(&acme, "ben@acme.test", Role::User, "pw-ben-1234").await;
    let reader = app.user(&acme, "reader@acme.test", Role::Readonly, "pw-read-123").await;
    Library { app, acme, admin, ann, ben, reader }
}

impl Library {
    async fn token(&self, user: &User) -> String {
        self.app.session_token(&self.acme, user).await
    }
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.call(Method::POST, "/api/v1/prompts", Some(token), Some(body.clone())).await;
    assert_eq!(response.status(), 201, "{body}");
    response.json().await.unwrap()
}

/// A request with extra headers.
async fn call_with(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}{path}", app.address)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn prompts_are_created_and_fetched_by_name_or_id_with_etags(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    let body = json!({
        "name": "support/Welcome-Email",
        "content": "Hello {{ customer }}, welcome to {{product}}! Literal {{{{braces}}.",
        "tags": [" Onboarding ", "EMAIL", "onboarding", "first contact"],
        "commit_message": "first draft",
    });
    let response = app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(body)).await;
    assert_eq!(response.status(), 201);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "support/Welcome-Email");
    assert_eq!(created["title"], "support/Welcome-Email", "title defaults to the name");
    assert_eq!(created["category"], "Uncategorized");
    assert_eq!(created["tags"], json!(["onboarding", "email", "first-contact"]));
    assert_eq!(created["variables"], json!(["customer", "product"]));
    assert_eq!(created["version"], 1);
    assert_eq!(created["visibility"], "tenant");
    assert_eq!(created["owner"]["id"], lib.ann.id.to_string());
    assert_eq!(created["owner"]["name"], "Test user");
    assert_eq!(created["updated_by"]["id"], lib.ann.id.to_string());
    assert_eq!(location, format!("/api/v1/prompts/{}", created["id"].as_str().unwrap()));

    // By name (any case, folders percent-encoded), by id; the same ETag each time.
    let reader = lib.token(&lib.reader).await;
    for path in
        ["/api/v1/prompts/support%2Fwelcome-email", "/api/v1/prompts/SUPPORT%2FWELCOME-EMAIL", &location]
    {
        let response = app.get_as(path, &reader).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert_eq!(response.headers()["cache-control"], "private, no-cache");
        let fetched: Value = response.json().await.unwrap();
        assert_eq!(fetched["id"], created["id"]);
        assert_eq!(fetched["content"], created["content"]);
    }
    let unchanged = call_with(app, Method::GET, &location, &reader, &[("if-none-match", &etag)], None).await;
    assert_eq!(unchanged.status(), 304);
    assert_eq!(unchanged.headers()["etag"], etag.as_str());
    let stale_tag = "\"00000000-0000-0000-0000-000000000000.1\"";
    let changed =
        call_with(app, Method::GET, &location, &reader, &[("if-none-match", stale_tag)], None).await;
    assert_eq!(changed.status(), 200);

    // Same name in another case: 409 on the name field. Invalid fields: one error each.
    let clash = json!({ "name": "SUPPORT/welcome-email", "content": "x" });
    let body = expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(clash)).await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
    let invalid = json!({
        "name": "bad name!",
        "content": " ",
        "tags": ["ok", "no<script>"],
        "category": "c".repeat(101),
        "title": "t".repeat(201),
    });
    let body = expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(invalid)).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "title", "content", "category", "tags[1]"]);
    let uuid_name = json!({ "name": uuid::Uuid::new_v4().to_string(), "content": "x" });
    expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(uuid_name)).await,
        422,
        "validation_failed",
    )
    .await;
    let too_big = json!({ "name": "big", "content": "x".repeat(100 * 1024 + 1) });
    expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&ann), Some(too_big)).await,
        422,
        "validation_failed",
    )
    .await;
    let just_fits = json!({ "name": "big", "content": "x".repeat(100 * 1024) });
    create(app, &ann, just_fits).await;

    for path in [
        "/api/v1/prompts/nope",
        "/api/v1/prompts/not%20a%20name",
        &format!("/api/v1/prompts/{}", uuid::Uuid::new_v4()),
    ] {
        expect_problem(app.get_as(path, &reader).await, 404, "not_found").await;
    }
    assert!(app.audit_actions(&lib.acme).await.contains(&"prompt.created".to_owned()));
}

async fn edits_need_the_current_version_and_stale_writes_get_412(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    let created = create(app, &ann, json!({ "name": "greet", "content": "Hello" })).await;
    let path = "/api/v1/prompts/greet";
    let v1_tag = format!("\"{}.1\"", created["id"].as_str().unwrap());

    let edit = json!({ "content": "Hello there", "commit_message": "friendlier" });
    expect_problem(
        app.call(Method::PATCH, path, Some(&ann), Some(edit.clone())).await,
        428,
        "precondition_required",
    )
    .await;
    let response = call_with(app, Method::PATCH, path, &ann, &[("if-match", &v1_tag)], Some(edit)).await;
    assert_eq!(response.status(), 200);
    let v2_tag = response.headers()["etag"].to_str().unwrap().to_owned();
    let saved: Value = response.json().await.unwrap();
    assert_eq!((saved["version"].as_u64(), saved["content"].as_str()), (Some(2), Some("Hello there")));

    // A second editor still on version 1 is refused, with the version to reload.
    let lost = json!({ "content": "Overwrite!" });
    let response =
        call_with(app, Method::PATCH, path, &ann, &[("if-match", &v1_tag)], Some(lost.clone())).await;
    let problem = expect_problem(response, 412, "precondition_failed").await;
    assert_eq!(problem["current_version"], 2);
    let with_version = json!({ "content": "Overwrite!", "version": 1 });
    expect_problem(
        app.call(Method::PATCH, path, Some(&ann), Some(with_version)).await,
        412,
        "precondition_failed",
    )
    .await;
    let current: Value = app.get_as(path, &ann).await.json().await.unwrap();
    assert_eq!(current["content"], "Hello there");

    // `version` in the body works like If-Match; nothing changed → no new version.
    let same = json!({ "content": "Hello there", "version": 2 });
    let response = app.call(Method::PATCH, path, Some(&ann), Some(same)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], v2_tag.as_str());
    let renamed = json!({ "name": "greeting", "category": "  Customer   care ", "version": 2 });
    let saved: Value = app.call(Method::PATCH, path, Some(&ann), Some(renamed)).await.json().await.unwrap();
    assert_eq!(
        (saved["name"].as_str(), saved["category"].as_str()),
        (Some("greeting"), Some("Customer care"))
    );
    assert_eq!(saved["version"], 3);
    expect_problem(app.get_as(path, &ann).await, 404, "not_found").await;
    let bad = json!({ "name": "a//b", "version": 3 });
    expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/greeting", Some(&ann), Some(bad)).await,
        422,
        "validation_failed",
    )
    .await;

    // Delete honours If-Match too, then the prompt is gone.
    let response =
        call_with(app, Method::DELETE, "/api/v1/prompts/greeting", &ann, &[("if-match", &v1_tag)], None)
            .await;
    expect_problem(response, 412, "precondition_failed").await;
    let response = app.call(Method::DELETE, "/api/v1/prompts/greeting", Some(&ann), None).await;
    assert_eq!(response.status(), 204);
    expect_problem(app.get_as("/api/v1/prompts/greeting", &ann).await, 404, "not_found").await;
    let actions = app.audit_actions(&lib.acme).await;
    for action in ["prompt.created", "prompt.updated", "prompt.deleted"] {
        assert!(actions.contains(&action.to_owned()), "{action}: {actions:?}");
    }
}

async fn owners_and_admins_edit_users_create_readonly_users_read(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let (ann, ben, admin, reader) = (
        lib.token(&lib.ann).await,
        lib.token(&lib.ben).await,
        lib.token(&lib.admin).await,
        lib.token(&lib.reader).await,
    );
    create(app, &ann, json!({ "name": "anns", "content": "A" })).await;
    let edit = json!({ "content": "changed", "version": 1 });
    expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/anns", Some(&ben), Some(edit.clone())).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        app.call(Method::DELETE, "/api/v1/prompts/anns", Some(&ben), None).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/anns", Some(&reader), Some(edit.clone())).await,
        403,
        "forbidden",
    )
    .await;
    let readonly_create = json!({ "name": "r", "content": "r" });
    expect_problem(
        app.call(Method::POST, "/api/v1/prompts", Some(&reader), Some(readonly_create)).await,
        403,
        "forbidden",
    )
    .await;
    // Readers read and render; a read token of a writer cannot write.
    assert_eq!(app.get_as("/api/v1/prompts/anns", &reader).await.status(), 200);
    let render = app.call(Method::POST, "/api/v1/prompts/anns/render", Some(&reader), Some(json!({}))).await;
    assert_eq!(render.status(), 200);
    let read_token = app.api_token(&lib.acme, &lib.ann, TokenScope::Read).await;
    expect_problem(
        app.call(Method::PATCH, "/api/v1/prompts/anns", Some(&read_token), Some(edit.clone())).await,
        403,
        "forbidden",
    )
    .await;
    // The admin edits anyone's prompt; the owner stays, the editor is recorded.
    let saved: Value =
        app.call(Method::PATCH, "/api/v1/prompts/anns", Some(&admin), Some(edit)).await.json().await.unwrap();
    assert_eq!(saved["owner"]["id"], lib.ann.id.to_string());
    assert_eq!(saved["updated_by"]["id"], lib.admin.id.to_string());
    // A read-write API token of the owner writes.
    let write_token = app.api_token(&lib.acme, &lib.ann, TokenScope::ReadWrite).await;
    let edit = json!({ "title": "Ann's", "version": 2 });
    assert_eq!(
        app.call(Method::PATCH, "/api/v1/prompts/anns", Some(&write_token), Some(edit)).await.status(),
        200
    );
    assert_eq!(app.call(Method::DELETE, "/api/v1/prompts/anns", Some(&admin), None).await.status(), 204);
}

async fn private_prompts_stay_private_even_through_name_clashes(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let (ann, ben, admin) =
        (lib.token(&lib.ann).await, lib.token(&lib.ben).await, lib.token(&lib.admin).await);
    let private =
        create(app, &ann, json!({ "name": "plan", "content": "ann's secret plan", "visibility": "private" }))
            .await;
    let private_path = format!("/api/v1/prompts/{}", private["id"].as_str().unwrap());
    expect_problem(app.get_as("/api/v1/prompts/plan", &ben).await, 404, "not_found").await;
    expect_problem(app.get_as(&private_path, &ben).await, 404, "not_found").await;
    expect_problem(app.get_as(&format!("{private_path}/versions"), &ben).await, 404, "not_found").await;
    let edit = json!({ "content": "x", "version": 1 });
    expect_problem(app.call(Method::PATCH, &private_path, Some(&ben), Some(edit)).await, 404, "not_found")
        .await;
    // Ben can use the name: nothing reveals that Ann has a private prompt called that.
    let shared = create(app, &ben, json!({ "name": "PLAN", "content": "ben's public plan" })).await;
    let ann_view: Value = app.get_as("/api/v1/prompts/plan", &ann).await.json().await.unwrap();
    assert_eq!(ann_view["id"], private["id"], "the owner's private prompt comes first");
    let ben_view: Value = app.get_as("/api/v1/prompts/plan", &ben).await.json().await.unwrap();
    assert_eq!(ben_view["id"], shared["id"]);
    for (token, expected) in [(&ben, 0), (&ann, 1), (&admin, 1)] {
        let list: Value = app.get_as("/api/v1/prompts?q=secret", token).await.json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), expected);
        let export = app.get_as("/api/v1/exports/prompts", token).await.text().await.unwrap();
        assert_eq!(export.contains("secret plan"), expected == 1);
    }
    assert_eq!(app.get_as(&private_path, &admin).await.status(), 200);
}

async fn versions_are_listed_diffed_and_restored(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    create(
        app,
        &ann,
        json!({ "name": "story", "title": "Story", "content": "one\ntwo\nthree\n", "tags": ["a"] }),
    )
    .await;
    let path = "/api/v1/prompts/story";
    let edit = json!({ "content": "one\n2\nthree\nfour\n", "version": 1, "commit_message": "numbers" });
    assert_eq!(app.call(Method::PATCH, path, Some(&ann), Some(edit)).await.status(), 200);
    let edit = json!({ "title": "Tale", "tags": ["b"], "version": 2 });
    assert_eq!(app.call(Method::PATCH, path, Some(&ann), Some(edit)).await.status(), 200);

    let list: Value = app.get_as(&format!("{path}/versions"), &ann).await.json().await.unwrap();
    let versions: Vec<u64> =
        list["items"].as_array().unwrap().iter().map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(list["items"][1]["commit_message"], "numbers");
    assert_eq!(list["items"][0]["author"]["id"], lib.ann.id.to_string());
    let page: Value = app.get_as(&format!("{path}/versions?limit=2"), &ann).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let rest: Value = app
        .get_as(&format!("{path}/versions?limit=2&cursor={}", page["next_cursor"].as_str().unwrap()), &ann)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["version"], 1);
    assert!(rest.get("next_cursor").is_none());

    let v1: Value = app.get_as(&format!("{path}/versions/1"), &ann).await.json().await.unwrap();
    assert_eq!((v1["content"].as_str(), v1["title"].as_str()), (Some("one\ntwo\nthree\n"), Some("Story")));
    expect_problem(app.get_as(&format!("{path}/versions/9"), &ann).await, 404, "not_found").await;

    let diff: Value = app.get_as(&format!("{path}/diff?from=1&to=3"), &ann).await.json().await.unwrap();
    let ops: Vec<String> = diff["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}:{}", l["op"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert_eq!(ops, ["equal:one", "delete:two", "insert:2", "equal:three", "insert:four"]);
    assert!(diff["unified"].as_str().unwrap().contains("-two\n+2\n"));
    let changed: Vec<&str> =
        diff["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(changed, ["title", "tags"]);
    let default_diff: Value = app.get_as(&format!("{path}/diff"), &ann).await.json().await.unwrap();
    assert_eq!((default_diff["from"].as_u64(), default_diff["to"].as_u64()), (Some(2), Some(3)));

    // Restoring makes version 1's text current as version 4; history stays.
    let restore = format!("{path}/versions/1/restore");
    expect_problem(
        app.call(Method::POST, &restore, Some(&ann), Some(json!({}))).await,
        428,
        "precondition_required",
    )
    .await;
    expect_problem(
        app.call(Method::POST, &restore, Some(&ann), Some(json!({ "version": 2 }))).await,
        412,
        "precondition_failed",
    )
    .await;
    let response = app.call(Method::POST, &restore, Some(&ann), Some(json!({ "version": 3 }))).await;
    assert_eq!(response.status(), 200);
    let restored: Value = response.json().await.unwrap();
    assert_eq!(restored["version"], 4);
    assert_eq!(
        (restored["content"].as_str(), restored["title"].as_str()),
        (Some("one\ntwo\nthree\n"), Some("Story"))
    );
    assert_eq!(restored["tags"], json!(["a"]));
    let v4: Value = app.get_as(&format!("{path}/versions/4"), &ann).await.json().await.unwrap();
    assert_eq!(v4["restored_from"], 1);
    assert_eq!(v4["commit_message"], "Restored version 1");
    let ben = lib.token(&lib.ben).await;
    expect_problem(
        app.call(Method::POST, &restore, Some(&ben), Some(json!({ "version": 4 }))).await,
        403,
        "forbidden",
    )
    .await;
    assert!(app.audit_actions(&lib.acme).await.contains(&"prompt.restored".to_owned()));
}

async fn rendering_fills_variables_and_names_what_is_missing(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    create(
        app,
        &ann,
        json!({ "name": "mail", "content": "Dear {{name}}, about {{ topic }}: {{{{not_a_var}}" }),
    )
    .await;
    let render = "/api/v1/prompts/mail/render";
    let values = json!({ "variables": { "name": "Ada", "topic": "{{name}} engines" } });
    let response: Value =
        app.call(Method::POST, render, Some(&ann), Some(values)).await.json().await.unwrap();
    assert_eq!(response["text"], "Dear Ada, about {{name}} engines: {{not_a_var}}");
    assert_eq!(response["version"], 1);

    let missing = json!({ "variables": { "name": "Ada", "extra": "x" } });
    let problem = expect_problem(
        app.call(Method::POST, render, Some(&ann), Some(missing.clone())).await,
        422,
        "variables_mismatch",
    )
    .await;
    assert_eq!(problem["errors"], json!([{ "field": "variables.topic", "message": "has no value" }]));
    assert!(problem["detail"].as_str().unwrap().contains("topic"));
    let strict = json!({ "variables": { "name": "Ada", "extra": "x" }, "strict": true });
    let problem = expect_problem(
        app.call(Method::POST, render, Some(&ann), Some(strict)).await,
        422,
        "variables_mismatch",
    )
    .await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["variables.topic", "variables.extra"]);
    // An older version renders on request.
    let edit = json!({ "content": "Hi {{who}}", "version": 1 });
    app.call(Method::PATCH, "/api/v1/prompts/mail", Some(&ann), Some(edit)).await;
    let old = json!({ "variables": { "name": "A", "topic": "B" }, "version": 1 });
    let response: Value = app.call(Method::POST, render, Some(&ann), Some(old)).await.json().await.unwrap();
    assert_eq!(response["text"], "Dear A, about B: {{not_a_var}}");
    let current = json!({ "variables": { "who": "you" } });
    let response: Value =
        app.call(Method::POST, render, Some(&ann), Some(current)).await.json().await.unwrap();
    assert_eq!(response["text"], "Hi you");
}

async fn search_filters_sorts_pages_and_counts(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let (ann, ben) = (lib.token(&lib.ann).await, lib.token(&lib.ben).await);
    for (token, name, category, tags, enhancement, content) in [
        (&ann, "alpha", "Writing", vec!["blog"], false, "Draft a blog post about rust"),
        (&ann, "beta", "Writing", vec!["blog", "seo"], false, "Improve search ranking"),
        (&ben, "gamma", "Code", vec!["review"], false, "Review rust code for safety"),
        (&ben, "delta", "Code", vec![], true, "Rewrite the prompt to be clearer"),
    ] {
        let body = json!({ "name": name, "category": category, "tags": tags, "is_enhancement_prompt": enhancement, "content": content });
        create(app, token, body).await;
    }
    let names = |list: &Value| -> Vec<String> {
        list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
    };
    let get = |path: String| {
        let ann = ann.clone();
        async move {
            let response = app.get_as(&path, &ann).await;
            assert_eq!(response.status(), 200, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    let mut rust = names(&get("/api/v1/prompts?q=Rus".into()).await);
    rust.sort();
    assert_eq!(rust, ["alpha", "gamma"]);
    assert_eq!(names(&get("/api/v1/prompts?q=rust%20review".into()).await), ["gamma"]);
    assert_eq!(names(&get("/api/v1/prompts?category=Code&sort=name".into()).await), ["delta", "gamma"]);
    assert_eq!(names(&get("/api/v1/prompts?tag=SEO".into()).await), ["beta"]);
    assert_eq!(names(&get("/api/v1/prompts?owner=me&sort=name".into()).await), ["alpha", "beta"]);
    assert_eq!(
        names(&get(format!("/api/v1/prompts?owner={}&sort=name", lib.ben.id)).await),
        ["delta", "gamma"]
    );
    assert_eq!(names(&get("/api/v1/prompts?enhancement=true".into()).await), ["delta"]);
    assert_eq!(
        names(&get("/api/v1/prompts".into()).await),
        ["delta", "gamma", "beta", "alpha"],
        "newest change first"
    );
    let first = get("/api/v1/prompts?sort=name&limit=3".into()).await;
    assert_eq!(names(&first), ["alpha", "beta", "delta"]);
    assert!(first["items"][0]["preview"].as_str().unwrap().starts_with("Draft a blog"));
    let second =
        get(format!("/api/v1/prompts?sort=name&limit=3&cursor={}", first["next_cursor"].as_str().unwrap()))
            .await;
    assert_eq!(names(&second), ["gamma"]);
    assert!(second.get("next_cursor").is_none());
    for bad in [
        "limit=0",
        "limit=501",
        "cursor=abc",
        "owner=someone",
        "sort=random",
        "enhancement=maybe",
        "tag=%3Cx%3E",
    ] {
        expect_problem(app.get_as(&format!("/api/v1/prompts?{bad}"), &ben).await, 422, "validation_failed")
            .await;
    }
    let categories = get("/api/v1/categories".into()).await;
    assert_eq!(
        categories["items"],
        json!([{ "name": "Code", "count": 2 }, { "name": "Writing", "count": 2 }])
    );
    let tags = get("/api/v1/tags".into()).await;
    assert_eq!(
        tags["items"],
        json!([{ "name": "blog", "count": 2 }, { "name": "review", "count": 1 }, { "name": "seo", "count": 1 }])
    );
}

async fn pages_keep_their_place_while_prompts_change_between_them(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    let edit = |name: String, content: String| {
        let ann = ann.clone();
        async move {
            let path = format!("/api/v1/prompts/{name}");
            let response = app.get_as(&path, &ann).await;
            assert_eq!(response.status(), 200, "{path}");
            let current: Value = response.json().await.unwrap();
            let tag = format!("\"{}.{}\"", current["id"].as_str().unwrap(), current["version"]);
            let body = json!({ "content": content });
            let response =
                call_with(app, Method::PATCH, &path, &ann, &[("if-match", &tag)], Some(body)).await;
            assert_eq!(response.status(), 200, "{name}");
        }
    };
    // SQLite's relevance (bm25) weighs words by their frequency in the whole index, so every
    // insert moves every score: its relevance pages are keyset pages over a moving order, and
    // only PostgreSQL's per-document ts_rank keeps them in place (see ARCHITECTURE.md).
    let orders: &[&str] = match backend {
        Backend::Sqlite => &["updated", "created", "name"],
        Backend::Postgres => &["updated", "created", "name", "relevance"],
    };
    for (run, order) in orders.iter().enumerate() {
        let name = |n: usize| format!("p{run}-{n:02}");
        for n in 1..=9 {
            create(app, &ann, json!({ "name": name(n), "content": format!("keyset{run} body {n}") })).await;
        }
        let query = format!("sort={order}&limit=3&q=keyset{run}");
        let mut seen: Vec<String> = Vec::new();
        let mut changed = Vec::new();
        let mut cursor: Option<String> = None;
        for step in 0..20 {
            assert!(step < 19, "{order}: paging did not end: {seen:?}");
            let path = match &cursor {
                None => format!("/api/v1/prompts?{query}"),
                Some(c) => format!("/api/v1/prompts?{query}&cursor={c}"),
            };
            let response = app.get_as(&path, &ann).await;
            assert_eq!(response.status(), 200, "{path}");
            let page: Value = response.json().await.unwrap();
            let names: Vec<String> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().into())
                .collect();
            seen.extend(names.iter().cloned());
            let Some(next) = page["next_cursor"].as_str() else { break };
            cursor = Some(next.to_owned());
            // Between pages: a prompt already listed is edited (it moves to the top of
            // "updated") and new ones are inserted at the top and the start of every order.
            edit(names[0].clone(), format!("keyset{run} edited at step {step}")).await;
            changed.push(names[0].clone());
            for extra in [format!("p{run}-00-{step}"), format!("p{run}-99-{step}")] {
                create(app, &ann, json!({ "name": extra, "content": format!("keyset{run} late") })).await;
                changed.push(extra);
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{order}: a prompt was listed twice: {seen:?}");
        for n in 1..=9 {
            let n = name(n);
            assert!(seen.contains(&n) || changed.contains(&n), "{order}: {n} was skipped: {seen:?}");
        }
    }
    // A cursor only continues the order and search it came from.
    let first: Value = app.get_as("/api/v1/prompts?sort=name&limit=2", &ann).await.json().await.unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    for other in ["sort=updated", "sort=created", "q=keyset0", ""] {
        let response = app.get_as(&format!("/api/v1/prompts?{other}&cursor={cursor}"), &ann).await;
        expect_problem(response, 422, "validation_failed").await;
    }
    let users_cursor = json!(["users"]).to_string();
    expect_problem(
        app.get_as(&format!("/api/v1/prompts?cursor={users_cursor}"), &ann).await,
        422,
        "validation_failed",
    )
    .await;
}

async fn import_and_export_round_trip_with_dry_run_and_conflict_policies(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    create(app, &ann, json!({ "name": "one", "content": "First {{x}}", "tags": ["t"], "category": "Cat" }))
        .await;
    create(app, &ann, json!({ "name": "two", "content": "Second" })).await;
    let response = app.get_as("/api/v1/exports/prompts", &ann).await;
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"prompts-acme-")
    );
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["format"], "prompt-manager/prompts@2");
    assert_eq!(export["prompts"].as_array().unwrap().len(), 2);
    let filtered: Value =
        app.get_as("/api/v1/exports/prompts?category=Cat", &ann).await.json().await.unwrap();
    assert_eq!(filtered["prompts"].as_array().unwrap().len(), 1);

    // Into another tenant: a dry run reports and writes nothing; the real run creates.
    let globex = app.tenant("globex").await;
    let gus = app.user(&globex, "gus@globex.test", Role::User, "pw-gus-1234").await;
    let gus = app.session_token(&globex, &gus).await;
    let import = "/api/v1/imports/prompts";
    let report: Value = app
        .call(Method::POST, &format!("{import}?dry_run=true"), Some(&gus), Some(export.clone()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((report["dry_run"].as_bool(), report["created"].as_u64()), (Some(true), Some(2)));
    let list: Value = app.get_as("/api/v1/prompts", &gus).await.json().await.unwrap();
    assert!(list["items"].as_array().unwrap().is_empty(), "a dry run writes nothing");
    let report: Value =
        app.call(Method::POST, import, Some(&gus), Some(export.clone())).await.json().await.unwrap();
    assert_eq!(report["created"], 2);
    let one: Value = app.get_as("/api/v1/prompts/one", &gus).await.json().await.unwrap();
    assert_eq!((one["content"].as_str(), one["category"].as_str()), (Some("First {{x}}"), Some("Cat")));
    assert_eq!(one["tags"], json!(["t"]));

    // Again, with each conflict policy.
    let mut changed = export.clone();
    let one_index = export["prompts"].as_array().unwrap().iter().position(|p| p["name"] == "one").unwrap();
    changed["prompts"][one_index]["content"] = json!("First, revised");
    let report: Value =
        app.call(Method::POST, import, Some(&gus), Some(changed.clone())).await.json().await.unwrap();
    assert_eq!((report["skipped"].as_u64(), report["created"].as_u64()), (Some(2), Some(0)));
    let report: Value = app
        .call(Method::POST, &format!("{import}?on_conflict=overwrite"), Some(&gus), Some(changed.clone()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((report["updated"].as_u64(), report["unchanged"].as_u64()), (Some(1), Some(1)));
    let one: Value = app.get_as("/api/v1/prompts/one", &gus).await.json().await.unwrap();
    assert_eq!((one["content"].as_str(), one["version"].as_u64()), (Some("First, revised"), Some(2)));
    let report: Value = app
        .call(Method::POST, &format!("{import}?on_conflict=rename"), Some(&gus), Some(changed))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["renamed"], 2);
    assert_eq!(report["items"][one_index]["stored_as"], "one-2");
    assert_eq!(app.get_as("/api/v1/prompts/two-2", &gus).await.status(), 200);

    // A file with any invalid prompt is refused whole, with every reason.
    let bad = json!({ "format": "prompt-manager/prompts@1", "prompts": [
        { "name": "fine", "content": "ok" },
        { "name": "bad name", "content": "" },
        { "name": "FINE", "content": "duplicate" },
    ]});
    let problem =
        expect_problem(app.call(Method::POST, import, Some(&gus), Some(bad)).await, 422, "validation_failed")
            .await;
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["prompts[1].name", "prompts[1].content", "prompts[2].name"]);
    expect_problem(app.get_as("/api/v1/prompts/fine", &gus).await, 404, "not_found").await;
    let wrong_format = json!({ "format": "something-else", "prompts": [] });
    expect_problem(
        app.call(Method::POST, import, Some(&gus), Some(wrong_format)).await,
        422,
        "validation_failed",
    )
    .await;
    let not_a_file = json!({ "prompts": "nope" });
    expect_problem(app.call(Method::POST, import, Some(&gus), Some(not_a_file)).await, 400, "invalid_json")
        .await;
    // Overwriting someone else's prompt needs the owner or an admin: refused whole.
    let gwen = app.user(&globex, "gwen@globex.test", Role::User, "pw-gwen-123").await;
    let gwen = app.session_token(&globex, &gwen).await;
    let problem = expect_problem(
        app.call(Method::POST, &format!("{import}?on_conflict=overwrite"), Some(&gwen), Some(export)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "prompts[0].name");
    assert!(app.audit_actions(&globex).await.contains(&"prompts.imported".to_owned()));
}

async fn another_tenants_prompts_do_not_exist(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    let created =
        create(app, &ann, json!({ "name": "internal", "content": "acme only", "tags": ["acme-tag"] })).await;
    let globex = app.tenant("globex").await;
    let intruder = app.user(&globex, "admin@globex.test", Role::Admin, "pw-admin-12").await;
    let intruder = app.session_token(&globex, &intruder).await;
    let id = created["id"].as_str().unwrap();
    for path in [
        "/api/v1/prompts/internal".to_owned(),
        format!("/api/v1/prompts/{id}"),
        format!("/api/v1/prompts/{id}/versions"),
        format!("/api/v1/prompts/{id}/versions/1"),
        format!("/api/v1/prompts/{id}/diff"),
    ] {
        expect_problem(app.get_as(&path, &intruder).await, 404, "not_found").await;
    }
    let edit = json!({ "content": "pwned", "version": 1 });
    expect_problem(
        app.call(Method::PATCH, &format!("/api/v1/prompts/{id}"), Some(&intruder), Some(edit)).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.call(Method::DELETE, &format!("/api/v1/prompts/{id}"), Some(&intruder), None).await,
        404,
        "not_found",
    )
    .await;
    let render = app
        .call(Method::POST, &format!("/api/v1/prompts/{id}/render"), Some(&intruder), Some(json!({})))
        .await;
    expect_problem(render, 404, "not_found").await;
    let restore = json!({ "version": 1 });
    let response = app
        .call(
            Method::POST,
            &format!("/api/v1/prompts/{id}/versions/1/restore"),
            Some(&intruder),
            Some(restore),
        )
        .await;
    expect_problem(response, 404, "not_found").await;
    // The same name is free in the other tenant.
    create(app, &intruder, json!({ "name": "internal", "content": "globex" })).await;
    for path in ["/api/v1/prompts?q=acme", "/api/v1/tags", "/api/v1/categories", "/api/v1/exports/prompts"] {
        let body = app.get_as(path, &intruder).await.text().await.unwrap();
        assert!(!body.contains("acme"), "{path}: {body}");
    }
    let still: Value = app.get_as("/api/v1/prompts/internal", &ann).await.json().await.unwrap();
    assert_eq!(still["content"], "acme only");
}

async fn the_read_cache_sees_changes_here_at_once_and_elsewhere_within_its_lifetime(backend: Backend) {
    let app = spawn(Spawn { backend, vars: vec![("READ_CACHE_SECONDS", "1")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let ann = app.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let reader = app.user(&acme, "reader@acme.test", Role::Readonly, "pw-read-123").await;
    let ann_token = app.session_token(&acme, &ann).await;
    let reader_token = app.api_token(&acme, &reader, TokenScope::Read).await;
    create(&app, &ann_token, json!({ "name": "cached", "content": "one" })).await;
    let content = |app: &TestApp, token: String| {
        let app = app.address.clone();
        async move {
            let response = reqwest::Client::new()
                .get(format!("{app}/api/v1/prompts/cached"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert!(content(&app, reader_token.clone()).await.1.contains("\"one\""));

    // A change through this server is seen at once, even though the answer was cached.
    let edit = json!({ "content": "two", "version": 1 });
    assert_eq!(
        app.call(Method::PATCH, "/api/v1/prompts/cached", Some(&ann_token), Some(edit)).await.status(),
        200
    );
    assert!(content(&app, reader_token.clone()).await.1.contains("\"two\""));

    // A change made elsewhere (straight in the database) is seen within the cache's lifetime.
    let repo = app.db.database().tenant(scope_of(&acme));
    let viewer = domain::prompt::Viewer { user: ann.id, role: Role::User };
    let key = domain::prompt::PromptKey::parse("cached").unwrap();
    let current = repo.prompt(&viewer, &key).await.unwrap().unwrap();
    let fields = domain::prompt::PromptFields { content: "three".into(), ..current.fields() };
    let change = persistence::PromptChange { author: ann.id, commit_message: None, restored_from: None };
    repo.update_prompt(&current, fields, change, chrono::Utc::now()).await.unwrap().unwrap();
    repo.set_user_active(reader.id, false, chrono::Utc::now()).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (status, _) = content(&app, reader_token.clone()).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(std::time::Instant::now() < deadline, "a deactivated user was still served after 5 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(content(&app, ann_token).await.1.contains("\"three\""));
}

async fn the_read_cache_outlives_reads_and_other_tenants_changes(backend: Backend) {
    let app = spawn(Spawn { backend, vars: vec![("READ_CACHE_SECONDS", "300")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let ann = app.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let ann_token = app.session_token(&acme, &ann).await;
    let globex = app.tenant("globex").await;
    let gus = app.user(&globex, "gus@globex.test", Role::User, "pw-gus-1234").await;
    let gus_token = app.session_token(&globex, &gus).await;
    create(&app, &ann_token, json!({ "name": "cached", "content": "one {{x}}" })).await;
    create(&app, &ann_token, json!({ "name": "other", "content": "x" })).await;
    create(&app, &gus_token, json!({ "name": "theirs", "content": "g" })).await;
    let content = |token: String| {
        let app = &app;
        async move {
            let body: Value = app.get_as("/api/v1/prompts/cached", &token).await.json().await.unwrap();
            body["content"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(content(ann_token.clone()).await, "one {{x}}");

    // The prompt changes behind this server's back (as another replica would change it): the
    // cached answer stays until this server itself sees a change of the tenant.
    let repo = app.db.database().tenant(scope_of(&acme));
    let viewer = domain::prompt::Viewer { user: ann.id, role: Role::User };
    let current =
        repo.prompt(&viewer, &domain::prompt::PromptKey::parse("cached").unwrap()).await.unwrap().unwrap();
    let fields = domain::prompt::PromptFields { content: "two {{x}}".into(), ..current.fields() };
    let change = persistence::PromptChange { author: ann.id, commit_message: None, restored_from: None };
    repo.update_prompt(&current, fields, change, chrono::Utc::now()).await.unwrap().unwrap();

    // Reads that are POSTs, and another tenant's edits, leave it cached.
    let render = json!({ "variables": { "x": "y" } });
    let rendered =
        app.call(Method::POST, "/api/v1/prompts/cached/render", Some(&ann_token), Some(render)).await;
    assert_eq!(rendered.status(), 200);
    let edit = json!({ "content": "g2", "version": 1 });
    assert_eq!(
        app.call(Method::PATCH, "/api/v1/prompts/theirs", Some(&gus_token), Some(edit)).await.status(),
        200
    );
    assert_eq!(content(ann_token.clone()).await, "one {{x}}", "globex's edit must not empty acme's cache");

    // A change in the same tenant ends it.
    let edit = json!({ "content": "x2", "version": 1 });
    assert_eq!(
        app.call(Method::PATCH, "/api/v1/prompts/other", Some(&ann_token), Some(edit)).await.status(),
        200
    );
    assert_eq!(content(ann_token).await, "two {{x}}");
}

async fn an_export_holds_every_prompt_however_many(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    // One more than the export used to stop at without saying so.
    let count = 10_001;
    let prompts = (0..count)
        .map(|n| domain::prompt::NewPrompt {
            owner: lib.ann.id,
            fields: domain::prompt::PromptFields::parse(domain::prompt::PromptInput {
                name: &format!("bulk-{n:05}"),
                title: None,
                content: "Some text",
                category: None,
                tags: &[],
                is_enhancement_prompt: false,
                visibility: domain::prompt::Visibility::Tenant,
                bundle: &Default::default(),
                previous: &Default::default(),
            })
            .unwrap(),
            commit_message: None,
        })
        .collect();
    let repo = app.db.database().tenant(scope_of(&lib.acme));
    repo.seed_prompts(prompts, chrono::Utc::now()).await.unwrap();
    let ann = lib.token(&lib.ann).await;
    let response = app.get_as("/api/v1/exports/prompts", &ann).await;
    assert_eq!(response.status(), 200);
    let export: Value = response.json().await.unwrap();
    let mut names: Vec<&str> =
        export["prompts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), count);
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "every prompt once");
    assert_eq!(export["format"], "prompt-manager/prompts@2");
}

async fn folders_are_browsed_by_path(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = lib.token(&lib.ann).await;
    let ben = lib.token(&lib.ben).await;
    for name in ["top", "Mail/welcome", "mail/bye", "mail/b_2/deep", "mail/b.2/odd", "mailbox/x"] {
        create(app, &ann, json!({ "name": name, "content": "x" })).await;
    }
    create(app, &ben, json!({ "name": "mail/secret", "content": "x", "visibility": "private" })).await;
    // Sorted here: the databases' collations order punctuation differently.
    let names = |list: Value| -> Vec<String> {
        let mut names: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort_by_key(|n| n.to_lowercase());
        names
    };
    let list = |query: &str| {
        let path = format!("/api/v1/prompts?sort=name&{query}");
        let token = ann.clone();
        async move { app.get_as(&path, &token).await.json::<Value>().await.unwrap() }
    };
    assert_eq!(names(list("folder=mail").await), ["mail/bye", "Mail/welcome"]);
    assert_eq!(names(list("folder=MAIL/").await), ["mail/bye", "Mail/welcome"]);
    // `_` in a folder is itself, not a wildcard: `mail/b.2` is another folder.
    assert_eq!(names(list("folder=mail/b_2").await), ["mail/b_2/deep"]);
    assert_eq!(names(list("folder=mail/b.2").await), ["mail/b.2/odd"]);
    assert_eq!(
        names(list("folder=mail&subfolders=true").await),
        ["mail/b.2/odd", "mail/b_2/deep", "mail/bye", "Mail/welcome"]
    );
    assert_eq!(names(list("folder=").await), ["top"]);
    let problem =
        expect_problem(app.get_as("/api/v1/prompts?folder=a//b", &ann).await, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "folder");

    let folders = app.get_as("/api/v1/folders", &ann).await.json::<Value>().await.unwrap();
    assert_eq!(
        folders["items"],
        json!([
            {"path": "mail", "prompts": 2, "total": 4},
            {"path": "mail/b.2", "prompts": 1, "total": 1},
            {"path": "mail/b_2", "prompts": 1, "total": 1},
            {"path": "mailbox", "prompts": 1, "total": 1},
        ])
    );
    // Ben sees his private prompt in the tree; Ann does not.
    let bens = app.get_as("/api/v1/folders", &ben).await.json::<Value>().await.unwrap();
    assert_eq!(bens["items"][0], json!({"path": "mail", "prompts": 3, "total": 5}));
}
