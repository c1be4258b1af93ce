//! Tenant and user administration, analytics and the audit log, through the API.

use domain::user::Role;
use persistence::testing::{operator, scope_of};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Backend, Spawn, TestApp, expect_problem, on_both_databases, spawn};

on_both_databases!(
    system_admins_manage_tenants,
    tenants_are_deleted_only_when_empty_or_confirmed,
    tenant_admins_manage_their_users_within_limits,
    the_last_admin_cannot_be_demoted_deactivated_or_deleted,
    membership_limits_hold_under_concurrent_requests,
    prompt_quotas_refuse_growth_past_them_and_count_every_write,
    deleted_users_prompts_stay_or_move,
    other_tenants_are_invisible_to_tenant_admins,
    audit_log_filters_pages_and_exports_csv,
    analytics_are_served_per_tenant_and_system_wide,
);

struct Setup {
    app: TestApp,
    root: String,
    acme_admin: String,
    acme: domain::tenant::Tenant,
}

async fn setup(backend: Backend) -> Setup {
    let app = spawn(Spawn { backend, ..Spawn::default() }).await;
    let system = app.tenant("localhost").await;
    let root_user = app.user(&system, "root@localhost", Role::Admin, "pw-root-123").await;
    let acme = app.tenant("acme").await;
    let admin = app.user(&acme, "admin@acme.test", Role::Admin, "pw-admin-12").await;
    let root = app.session_token(&system, &root_user).await;
    let acme_admin = app.session_token(&acme, &admin).await;
    Setup { app, root, acme_admin, acme }
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    app.call(method, path, Some(token), body).await
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    response.json().await.unwrap()
}

async fn system_admins_manage_tenants(backend: Backend) {
    let Setup { app, root, acme_admin, .. } = setup(backend).await;
    let created = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &root,
        Some(json!({ "name": " Globex ", "subdomain": "globex", "max_users": 3 })),
    )
    .await;
    let globex = json_of(created, 201).await;
    assert_eq!((globex["name"].as_str(), globex["max_users"].as_u64()), (Some("Globex"), Some(3)));

    let taken = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &root,
        Some(json!({ "name": "x", "subdomain": "globex" })),
    )
    .await;
    assert_eq!(expect_problem(taken, 409, "conflict").await["errors"][0]["field"], "subdomain");
    let bad = send(
        &app,
        Method::POST,
        "/api/v1/tenants",
        &root,
        Some(json!({ "name": "", "subdomain": "Bad_One", "max_users": 0 })),
    )
    .await;
    assert_eq!(expect_problem(bad, 422, "validation_failed").await["errors"].as_array().unwrap().len(), 3);
    expect_problem(
        send(
            &app,
            Method::POST,
            "/api/v1/tenants",
            &acme_admin,
            Some(json!({ "name": "x", "subdomain": "x" })),
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    let page = json_of(send(&app, Method::GET, "/api/v1/tenants?limit=2", &root, None).await, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = json_of(
        send(&app, Method::GET, &format!("/api/v1/tenants?limit=2&cursor={cursor}"), &root, None).await,
        200,
    )
    .await;
    assert_eq!(rest["items"][0]["subdomain"], "globex");
    let search = json_of(send(&app, Method::GET, "/api/v1/tenants?q=GLOB", &root, None).await, 200).await;
    assert_eq!(search["items"].as_array().unwrap().len(), 1);

    let id = globex["id"].as_str().unwrap();
    let path = format!("/api/v1/tenants/{id}");
    let updated = json_of(
        send(&app, Method::PATCH, &path, &root, Some(json!({ "name": "Globex Corp", "max_users": 5 }))).await,
        200,
    )
    .await;
    assert_eq!(updated["name"], "Globex Corp");

    // Deactivation ends the tenant's sessions and blocks sign-in.
    let globex_tenant = app.tenant("globex").await;
    let member = app.user(&globex_tenant, "m@globex.test", Role::User, "pw-member-1").await;
    let member_token = app.session_token(&globex_tenant, &member).await;
    json_of(send(&app, Method::PATCH, &path, &root, Some(json!({ "is_active": false }))).await, 200).await;
    assert_eq!(app.get_as("/api/v1/auth/me", &member_token).await.status(), 401);
    expect_problem(app.login("globex", "m@globex.test", "pw-member-1").await, 401, "invalid_credentials")
        .await;

    let system_id = app.tenant("localhost").await.id;
    let refused = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/tenants/{system_id}"),
        &root,
        Some(json!({ "is_active": false })),
    )
    .await;
    expect_problem(refused, 409, "system_tenant").await;
    let refused = send(&app, Method::DELETE, &format!("/api/v1/tenants/{system_id}"), &root, None).await;
    expect_problem(refused, 409, "system_tenant").await;

    let audit = app.db.database().system(operator()).list_audit(50).await.unwrap();
    let update = audit.iter().find(|e| e.action.as_str() == "tenant.updated").unwrap();
    assert_eq!(update.details["after"]["is_active"], false);
    assert_eq!(update.details["before"]["is_active"], true);
}

async fn tenants_are_deleted_only_when_empty_or_confirmed(backend: Backend) {
    let Setup { app, root, .. } = setup(backend).await;
    let empty = json_of(
        send(
            &app,
            Method::POST,
            "/api/v1/tenants",
            &root,
            Some(json!({ "name": "E", "subdomain": "empty" })),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/api/v1/tenants/{}", empty["id"].as_str().unwrap());
    assert_eq!(send(&app, Method::DELETE, &path, &root, None).await.status(), 204);
    expect_problem(send(&app, Method::GET, &path, &root, None).await, 404, "not_found").await;

    let full = app.tenant("full").await;
    app.user(&full, "u@full.test", Role::User, "pw-user-123").await;
    let path = format!("/api/v1/tenants/{}", full.id);
    let refused =
        expect_problem(send(&app, Method::DELETE, &path, &root, None).await, 409, "tenant_not_empty").await;
    assert!(refused["detail"].as_str().unwrap().contains("1 users"));
    expect_problem(
        send(&app, Method::DELETE, &format!("{path}?confirm=wrong"), &root, None).await,
        409,
        "tenant_not_empty",
    )
    .await;
    assert_eq!(send(&app, Method::DELETE, &format!("{path}?confirm=full"), &root, None).await.status(), 204);
    let (users, prompts) = app.db.database().system(operator()).tenant_contents(full.id).await.unwrap();
    assert_eq!((users, prompts), (0, 0));
    let deleted = app.db.database().system(operator()).list_audit(10).await.unwrap();
    assert!(
        deleted.iter().any(|e| e.action.as_str() == "tenant.deleted" && e.tenant_id == Some(full.id)),
        "the audit trail outlives the tenant"
    );
}

async fn tenant_admins_manage_their_users_within_limits(backend: Backend) {
    let Setup { app, root, acme_admin, acme } = setup(backend).await;
    let limit = format!("/api/v1/tenants/{}", acme.id);
    json_of(send(&app, Method::PATCH, &limit, &root, Some(json!({ "max_users": 4 }))).await, 200).await;

    let create = |email: &str, role: &str, password: Option<&str>| json!({ "email": email, "first_name": "New", "last_name": "Person", "role": role, "password": password });
    let bob = json_of(
        send(
            &app,
            Method::POST,
            "/api/v1/users",
            &acme_admin,
            Some(create("Bob@Acme.test", "user", Some("bob-password"))),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(bob["email"], "bob@acme.test");
    let sso = json_of(
        send(
            &app,
            Method::POST,
            "/api/v1/users",
            &acme_admin,
            Some(create("sso@acme.test", "readonly", None)),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(sso["role"], "readonly");
    assert_eq!(app.login("acme", "bob@acme.test", "bob-password").await.status(), 200);
    expect_problem(app.login("acme", "sso@acme.test", "").await, 401, "invalid_credentials").await;

    let dup = send(
        &app,
        Method::POST,
        "/api/v1/users",
        &acme_admin,
        Some(create("BOB@acme.test", "user", Some("another-pass"))),
    )
    .await;
    assert_eq!(expect_problem(dup, 409, "conflict").await["errors"][0]["field"], "email");
    let four = Some(create("four@acme.test", "user", Some("password-4")));
    json_of(send(&app, Method::POST, "/api/v1/users", &acme_admin, four).await, 201).await;
    let five = || Some(create("five@acme.test", "user", Some("password-5")));
    let full = send(&app, Method::POST, "/api/v1/users", &acme_admin, five()).await;
    expect_problem(full, 409, "user_limit_reached").await;
    let weak = send(
        &app,
        Method::POST,
        "/api/v1/users",
        &acme_admin,
        Some(create("weak@acme.test", "user", Some("short"))),
    )
    .await;
    assert_eq!(expect_problem(weak, 422, "validation_failed").await["errors"][0]["field"], "password");

    // Deactivation frees a seat; reactivation needs one.
    let bob_path = format!("/api/v1/users/{}", bob["id"].as_str().unwrap());
    let bob_token = app.token_for("acme", "bob@acme.test", "bob-password").await;
    json_of(
        send(&app, Method::PATCH, &bob_path, &acme_admin, Some(json!({ "is_active": false }))).await,
        200,
    )
    .await;
    assert_eq!(app.get_as("/api/v1/auth/me", &bob_token).await.status(), 401, "deactivation ends sessions");
    json_of(send(&app, Method::POST, "/api/v1/users", &acme_admin, five()).await, 201).await;
    let back = send(&app, Method::PATCH, &bob_path, &acme_admin, Some(json!({ "is_active": true }))).await;
    expect_problem(back, 409, "user_limit_reached").await;

    // Role change and password reset end sessions too.
    let four = app.token_for("acme", "four@acme.test", "password-4").await;
    let four_id = json_of(app.get_as("/api/v1/auth/me", &four).await, 200).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let four_path = format!("/api/v1/users/{four_id}");
    let promoted = json_of(
        send(
            &app,
            Method::PATCH,
            &four_path,
            &acme_admin,
            Some(json!({ "role": "admin", "last_name": "Four" })),
        )
        .await,
        200,
    )
    .await;
    assert_eq!((promoted["role"].as_str(), promoted["last_name"].as_str()), (Some("admin"), Some("Four")));
    assert_eq!(app.get_as("/api/v1/auth/me", &four).await.status(), 401);
    let four = app.token_for("acme", "four@acme.test", "password-4").await;
    let reset = send(
        &app,
        Method::POST,
        &format!("{four_path}/password"),
        &acme_admin,
        Some(json!({ "new_password": "a-new-password" })),
    )
    .await;
    assert_eq!(reset.status(), 204);
    assert_eq!(app.get_as("/api/v1/auth/me", &four).await.status(), 401);
    assert_eq!(app.login("acme", "four@acme.test", "a-new-password").await.status(), 200);

    // Listing with filters.
    let admins =
        json_of(send(&app, Method::GET, "/api/v1/users?role=admin", &acme_admin, None).await, 200).await;
    assert_eq!(admins["items"].as_array().unwrap().len(), 2);
    let inactive =
        json_of(send(&app, Method::GET, "/api/v1/users?active=false&q=bob", &acme_admin, None).await, 200)
            .await;
    assert_eq!(inactive["items"][0]["email"], "bob@acme.test");

    let actions = app.audit_actions(&acme).await;
    for action in ["user.created", "user.updated", "user.password_reset"] {
        assert!(actions.contains(&action.to_owned()), "{action} in {actions:?}");
    }
    let events = app.db.database().tenant(scope_of(&acme)).list_audit(100).await.unwrap();
    assert!(!format!("{events:?}").contains("a-new-password"), "no secrets in the audit log");
}

async fn the_last_admin_cannot_be_demoted_deactivated_or_deleted(backend: Backend) {
    let Setup { app, root, acme_admin, acme } = setup(backend).await;
    let me = json_of(app.get_as("/api/v1/auth/me", &acme_admin).await, 200).await;
    let path = format!("/api/v1/users/{}", me["user"]["id"].as_str().unwrap());
    expect_problem(
        send(&app, Method::PATCH, &path, &acme_admin, Some(json!({ "role": "user" }))).await,
        409,
        "last_admin",
    )
    .await;
    expect_problem(
        send(&app, Method::PATCH, &path, &acme_admin, Some(json!({ "is_active": false }))).await,
        409,
        "last_admin",
    )
    .await;
    expect_problem(send(&app, Method::DELETE, &path, &root, None).await, 409, "last_admin").await;

    let root_me = json_of(app.get_as("/api/v1/auth/me", &root).await, 200).await;
    let root_path = format!("/api/v1/users/{}", root_me["user"]["id"].as_str().unwrap());
    let refused = expect_problem(
        send(&app, Method::PATCH, &root_path, &root, Some(json!({ "role": "readonly" }))).await,
        409,
        "last_admin",
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("system administrator"));

    // With a second admin, the first may step down.
    app.user(&acme, "second@acme.test", Role::Admin, "pw-second-1").await;
    json_of(send(&app, Method::PATCH, &path, &acme_admin, Some(json!({ "role": "user" }))).await, 200).await;
}

async fn deleted_users_prompts_stay_or_move(backend: Backend) {
    let Setup { app, acme_admin, acme, .. } = setup(backend).await;
    let ann = app.user(&acme, "ann@acme.test", Role::User, "pw-ann-1234").await;
    let ben = app.user(&acme, "ben@acme.test", Role::User, "pw-ben-1234").await;
    let cy = app.user(&acme, "cy@acme.test", Role::User, "pw-cy-12345").await;
    let repo = app.db.database().tenant(scope_of(&acme));
    for (owner, name) in [(&ann, "a"), (&ben, "b")] {
        let prompt = domain::prompt::NewPrompt {
            owner: owner.id,
            fields: domain::prompt::PromptFields {
                name: domain::prompt::PromptName::parse(name).unwrap(),
                title: name.into(),
                content: "x".into(),
                category: "General".into(),
                tags: vec![],
                is_enhancement_prompt: false,
                visibility: domain::prompt::Visibility::Tenant,
                bundle: domain::bundle::Bundle::basic_text("x"),
            },
            commit_message: None,
        };
        repo.create_prompt(prompt, chrono::Utc::now()).await.unwrap();
    }
    let transfer = format!("/api/v1/users/{}?transfer_to={}", ann.id, cy.id);
    assert_eq!(send(&app, Method::DELETE, &transfer, &acme_admin, None).await.status(), 204);
    let plain = format!("/api/v1/users/{}", ben.id);
    assert_eq!(send(&app, Method::DELETE, &plain, &acme_admin, None).await.status(), 204);
    assert_eq!(repo.prompt_owners().await.unwrap(), [Some(cy.id), None]);
    let self_transfer = format!("/api/v1/users/{}?transfer_to={}", cy.id, cy.id);
    let refused = send(&app, Method::DELETE, &self_transfer, &acme_admin, None).await;
    assert_eq!(expect_problem(refused, 422, "validation_failed").await["errors"][0]["field"], "transfer_to");
}

async fn other_tenants_are_invisible_to_tenant_admins(backend: Backend) {
    let Setup { app, root, acme_admin, .. } = setup(backend).await;
    let globex = app.tenant("globex").await;
    let victim = app.user(&globex, "v@globex.test", Role::Admin, "pw-victim-1").await;
    let path = format!("/api/v1/users/{}", victim.id);
    expect_problem(send(&app, Method::GET, &path, &acme_admin, None).await, 404, "not_found").await;
    expect_problem(
        send(&app, Method::PATCH, &path, &acme_admin, Some(json!({ "role": "user" }))).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(send(&app, Method::DELETE, &path, &acme_admin, None).await, 404, "not_found").await;
    expect_problem(
        send(
            &app,
            Method::POST,
            &format!("{path}/password"),
            &acme_admin,
            Some(json!({ "new_password": "hijacked-pass" })),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let other = format!("/api/v1/users?tenant_id={}", globex.id);
    expect_problem(send(&app, Method::GET, &other, &acme_admin, None).await, 404, "not_found").await;
    let create = json!({ "email": "x@globex.test", "role": "admin", "tenant_id": globex.id });
    expect_problem(
        send(&app, Method::POST, "/api/v1/users", &acme_admin, Some(create.clone())).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        send(&app, Method::GET, &format!("/api/v1/analytics?tenant_id={}", globex.id), &acme_admin, None)
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        send(&app, Method::GET, &format!("/api/v1/audit-events?tenant_id={}", globex.id), &acme_admin, None)
            .await,
        404,
        "not_found",
    )
    .await;

    // System administrators reach every tenant.
    assert_eq!(send(&app, Method::GET, &path, &root, None).await.status(), 200);
    let listed = json_of(send(&app, Method::GET, &other, &root, None).await, 200).await;
    assert_eq!(listed["items"][0]["email"], "v@globex.test");
    json_of(send(&app, Method::POST, "/api/v1/users", &root, Some(create)).await, 201).await;
}

async fn audit_log_filters_pages_and_exports_csv(backend: Backend) {
    let Setup { app, root, acme_admin, acme } = setup(backend).await;
    for n in 0..3 {
        let body = json!({ "email": format!("u{n}@acme.test"), "role": "user" });
        json_of(send(&app, Method::POST, "/api/v1/users", &acme_admin, Some(body)).await, 201).await;
    }
    app.login("acme", "u0@acme.test", "wrong").await;

    let created = json_of(
        send(&app, Method::GET, "/api/v1/audit-events?action=user.created&limit=2", &acme_admin, None).await,
        200,
    )
    .await;
    assert_eq!(created["items"].as_array().unwrap().len(), 2);
    assert_eq!(created["items"][0]["details"]["email"], "u2@acme.test", "newest first");
    let cursor = created["next_cursor"].as_str().unwrap();
    let next = json_of(
        send(
            &app,
            Method::GET,
            &format!("/api/v1/audit-events?action=user.created&limit=2&cursor={cursor}"),
            &acme_admin,
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(next["items"][0]["details"]["email"], "u0@acme.test");
    assert!(next["next_cursor"].is_null());

    let failed = json_of(
        send(&app, Method::GET, "/api/v1/audit-events?action=auth.login_failed", &acme_admin, None).await,
        200,
    )
    .await;
    assert_eq!(failed["items"][0]["details"]["reason"], "no_password");
    let future = json_of(
        send(&app, Method::GET, "/api/v1/audit-events?from=2999-01-01T00:00:00Z", &acme_admin, None).await,
        200,
    )
    .await;
    assert!(future["items"].as_array().unwrap().is_empty());
    let bad = send(&app, Method::GET, "/api/v1/audit-events?action=nonsense", &acme_admin, None).await;
    assert_eq!(expect_problem(bad, 422, "validation_failed").await["errors"][0]["field"], "action");
    let bad_cursor = send(&app, Method::GET, "/api/v1/audit-events?cursor=xyz", &acme_admin, None).await;
    expect_problem(bad_cursor, 422, "validation_failed").await;

    let csv =
        send(&app, Method::GET, "/api/v1/audit-events/export?action=user.created", &acme_admin, None).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(
        lines[0],
        "id,created_at,tenant_id,actor_user_id,action,target_type,target_id,client_addr,details"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[1].contains("user.created") && lines[1].contains("\"{\"\"email\"\":\"\"u2@acme.test\"\""),
        "{}",
        lines[1]
    );

    // A system administrator can narrow to one tenant; tenant admins never see others.
    let other = app.tenant("other").await;
    let other_admin = app.user(&other, "a@other.test", Role::Admin, "pw-other-12").await;
    let other_token = app.session_token(&other, &other_admin).await;
    let theirs =
        json_of(send(&app, Method::GET, "/api/v1/audit-events?limit=500", &other_token, None).await, 200)
            .await;
    assert!(!theirs.to_string().contains(&acme.id.to_string()));
    let narrowed = json_of(
        send(
            &app,
            Method::GET,
            &format!("/api/v1/audit-events?tenant_id={}&limit=500", acme.id),
            &root,
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(
        narrowed["items"].as_array().unwrap().iter().all(|e| e["tenant_id"] == json!(acme.id.to_string()))
    );

    // The API offers no way to change or remove audit events.
    let id = created["items"][0]["id"].as_str().unwrap();
    for method in [Method::DELETE, Method::PATCH, Method::PUT] {
        let response =
            send(&app, method.clone(), &format!("/api/v1/audit-events/{id}"), &root, Some(json!({}))).await;
        assert_eq!(response.status(), 404, "{method}");
    }
}

async fn analytics_are_served_per_tenant_and_system_wide(backend: Backend) {
    let Setup { app, root, acme_admin, acme } = setup(backend).await;
    app.token_for("acme", "admin@acme.test", "pw-admin-12").await;
    let mine = json_of(send(&app, Method::GET, "/api/v1/analytics", &acme_admin, None).await, 200).await;
    assert_eq!(mine["users_total"], 1);
    assert_eq!(mine["logins_last_7_days"], 1);
    assert_eq!(mine["users_by_role"], json!([{ "key": "admin", "count": 1 }]));
    expect_problem(
        send(&app, Method::GET, "/api/v1/analytics/system", &acme_admin, None).await,
        403,
        "forbidden",
    )
    .await;

    let system = json_of(send(&app, Method::GET, "/api/v1/analytics/system", &root, None).await, 200).await;
    assert_eq!(system["totals"]["users_total"], 2);
    let rows = system["tenants"].as_array().unwrap();
    let acme_row = rows.iter().find(|r| r["tenant_id"] == json!(acme.id.to_string())).unwrap();
    assert_eq!(
        (acme_row["users_total"].as_u64(), acme_row["logins_last_30_days"].as_u64()),
        (Some(1), Some(1))
    );
    let theirs = json_of(
        send(&app, Method::GET, &format!("/api/v1/analytics?tenant_id={}", acme.id), &root, None).await,
        200,
    )
    .await;
    assert_eq!(theirs, mine);
}

async fn membership_limits_hold_under_concurrent_requests(backend: Backend) {
    let Setup { app, root, acme, .. } = setup(backend).await;
    let app = &app;
    // Eight admins each demote the next at the same moment: however the requests interleave,
    // one admin must remain.
    let mut admins = Vec::new();
    for n in 0..8 {
        let user = app.user(&acme, &format!("admin{n}@acme.test"), Role::Admin, "pw-admin-12").await;
        let token = app.session_token(&acme, &user).await;
        admins.push((user, token));
    }
    let active_admins = || async {
        let repo = app.db.database().tenant(scope_of(&acme));
        repo.count_active_admins().await.unwrap()
    };
    for round in 0..3 {
        // Everyone but the eight is demoted first, so the eight are the only admins.
        let list =
            json_of(send(app, Method::GET, "/api/v1/users?role=admin", &admins[0].1, None).await, 200).await;
        for user in list["items"].as_array().unwrap() {
            let id = user["id"].as_str().unwrap();
            if !admins.iter().any(|(a, _)| a.id.to_string() == id) {
                let path = format!("/api/v1/users/{id}?tenant_id={}", acme.id);
                json_of(send(app, Method::PATCH, &path, &root, Some(json!({ "role": "user" }))).await, 200)
                    .await;
            }
        }
        let demotions = (0..admins.len()).map(|n| {
            let (_, token) = &admins[n];
            let (next, _) = &admins[(n + 1) % admins.len()];
            let body = json!({ "role": "user" });
            async move {
                send(app, Method::PATCH, &format!("/api/v1/users/{}", next.id), token, Some(body))
                    .await
                    .status()
            }
        });
        let statuses = futures_util::future::join_all(demotions).await;
        assert!(active_admins().await >= 1, "round {round}: no admin left ({statuses:?})");
        assert!(statuses.iter().all(|s| [200, 401, 403, 409].contains(&s.as_u16())), "{statuses:?}");
        // Back to eight admins, with fresh sessions (a demotion ends the user's sessions).
        for (user, token) in &mut admins {
            let path = format!("/api/v1/users/{}?tenant_id={}", user.id, acme.id);
            json_of(send(app, Method::PATCH, &path, &root, Some(json!({ "role": "admin" }))).await, 200)
                .await;
            *token = app.session_token(&acme, user).await;
        }
    }

    // Twelve users created at once into room for three: exactly three are.
    let limit = acme_active_users(app, &acme).await + 3;
    let path = format!("/api/v1/tenants/{}", acme.id);
    json_of(send(app, Method::PATCH, &path, &root, Some(json!({ "max_users": limit }))).await, 200).await;
    let creations = (0..12).map(|n| {
        let token = &admins[0].1;
        let body = json!({ "email": format!("new{n}@acme.test"), "first_name": "New", "last_name": "User", "role": "user" });
        async move { send(app, Method::POST, "/api/v1/users", token, Some(body)).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(creations).await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(acme_active_users(app, &acme).await, limit);
}

async fn acme_active_users(app: &TestApp, acme: &domain::tenant::Tenant) -> u64 {
    app.db.database().tenant(scope_of(acme)).count_active_users().await.unwrap()
}

async fn prompt_quotas_refuse_growth_past_them_and_count_every_write(backend: Backend) {
    let Setup { app, root, acme_admin, acme } = setup(backend).await;
    let app = &app;
    let tenant_path = format!("/api/v1/tenants/{}", acme.id);
    let quota = json!({ "max_prompts": 3, "max_stored_bytes": 4096 });
    let view = json_of(send(app, Method::PATCH, &tenant_path, &root, Some(quota)).await, 200).await;
    assert_eq!((view["max_prompts"].as_u64(), view["max_stored_bytes"].as_u64()), (Some(3), Some(4096)));
    for bad in [json!({ "max_prompts": 0 }), json!({ "max_stored_bytes": 10 })] {
        expect_problem(
            send(app, Method::PATCH, &tenant_path, &root, Some(bad)).await,
            422,
            "validation_failed",
        )
        .await;
    }
    let admin = &acme_admin;
    let create = |name: &str, content: String| {
        let body = json!({ "name": name, "content": content });
        async move { send(app, Method::POST, "/api/v1/prompts", admin, Some(body)).await }
    };
    for name in ["one", "two", "three"] {
        assert_eq!(create(name, "x".repeat(100)).await.status(), 201);
    }
    expect_problem(create("four", "x".into()).await, 409, "quota_exceeded").await;
    let view = json_of(send(app, Method::GET, &tenant_path, &root, None).await, 200).await;
    // Titles default to the name: 3 + 3 + 5 bytes of titles, 300 of content, and each
    // version's variable contract (`[]`, 2 bytes).
    assert_eq!((view["prompt_count"].as_u64(), view["stored_bytes"].as_u64()), (Some(3), Some(317)));

    // Deleting frees room; history counts, so an edit past the byte quota is refused whole.
    assert_eq!(send(app, Method::DELETE, "/api/v1/prompts/three", &acme_admin, None).await.status(), 204);
    assert_eq!(create("four", "x".repeat(100)).await.status(), 201);
    let edit = json!({ "content": "y".repeat(4000), "version": 1 });
    expect_problem(
        send(app, Method::PATCH, "/api/v1/prompts/one", &acme_admin, Some(edit)).await,
        409,
        "quota_exceeded",
    )
    .await;
    let one = json_of(send(app, Method::GET, "/api/v1/prompts/one", &acme_admin, None).await, 200).await;
    assert_eq!(one["version"], 1);

    // An import that would pass the quota imports nothing.
    json_of(send(app, Method::PATCH, &tenant_path, &root, Some(json!({ "max_prompts": 5 }))).await, 200)
        .await;
    let file = json!({ "format": "prompt-manager/prompts@1", "prompts": (0..4).map(|n| json!({ "name": format!("imp{n}"), "content": "z" })).collect::<Vec<_>>() });
    expect_problem(
        send(app, Method::POST, "/api/v1/imports/prompts", &acme_admin, Some(file)).await,
        409,
        "quota_exceeded",
    )
    .await;
    let view = json_of(send(app, Method::GET, &tenant_path, &root, None).await, 200).await;
    assert_eq!(
        (view["prompt_count"].as_u64(), view["stored_bytes"].as_u64()),
        (Some(3), Some(3 + 3 + 4 + 300 + 3 * 2))
    );
}
