//! Protected release labels over HTTP, on both databases: a tenant's release policy protects
//! label names; only an admin signed in, or an admin's `promote` token, moves them (no other
//! token, whatever its owner's role); when the tenant requires approval a move is a request
//! that another admin approves or denies before it expires, and the label moves only then.

use domain::session::TokenScope;
use domain::user::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::prompts::{create, library};
use crate::support::{Backend, TestApp, on_both_databases};

on_both_databases!(
    protected_labels_move_only_for_admins_and_promote_tokens,
    protected_moves_wait_for_another_admins_decision,
    requests_expire_conflict_and_stay_in_their_tenant,
);

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let response = app.call(method, path, Some(token), body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts a problem's status and code.
fn refused((status, body): (u16, Value), expected: u16, code: &str) {
    assert_eq!((status, body["code"].as_str()), (expected, Some(code)), "{body}");
}

/// A prompt `name` with three versions, owned by `token`'s user; its path.
async fn three_versions(app: &TestApp, token: &str, name: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "content": "v1 {{x}}"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let created = create(app, token, body).await;
    let path = format!("/api/v1/prompts/{}", created["id"].as_str().unwrap());
    for version in 1..=2 {
        let change = json!({"content": format!("v{} {{{{x}}}}", version + 1), "version": version});
        let (status, body) = call(app, Method::PATCH, &path, token, Some(change)).await;
        assert_eq!(status, 200, "{body}");
    }
    path
}

async fn set_policy(app: &TestApp, token: &str, policy: Value) -> (u16, Value) {
    call(app, Method::PUT, "/api/v1/release-policy", token, Some(policy)).await
}

async fn put_label(app: &TestApp, token: &str, path: &str, label: &str, version: u32) -> (u16, Value) {
    call(app, Method::PUT, &format!("{path}/labels/{label}"), token, Some(json!({"version": version}))).await
}

/// The version `label` names, `None` when it is not set.
async fn served(app: &TestApp, token: &str, path: &str, label: &str) -> Option<u64> {
    let (status, body) = call(app, Method::GET, &format!("{path}?label={label}"), token, None).await;
    (status == 200).then(|| body["version"].as_u64().unwrap())
}

async fn decide(app: &TestApp, token: &str, id: &Value, decision: &str, body: Option<Value>) -> (u16, Value) {
    let path = format!("/api/v1/approvals/{}/{decision}", id.as_str().unwrap());
    call(app, Method::POST, &path, token, body).await
}

async fn protected_labels_move_only_for_admins_and_promote_tokens(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let boss_write_token = app.api_token(&lib.acme, &lib.admin, TokenScope::ReadWrite).await;
    let boss_promote_token = app.api_token(&lib.acme, &lib.admin, TokenScope::Promote).await;
    let ann_promote_token = app.api_token(&lib.acme, &lib.ann, TokenScope::Promote).await;
    let reader = app.session_token(&lib.acme, &lib.reader).await;
    let path = three_versions(app, &ann, "support/welcome", json!({})).await;

    // No label is protected until an admin says so.
    let (status, policy) = call(app, Method::GET, "/api/v1/release-policy", &reader, None).await;
    assert_eq!(
        (status, policy),
        (200, json!({"protected_labels": [], "require_approval": false, "approval_hours": 72}))
    );
    assert_eq!(put_label(app, &ann, &path, "production", 1).await.0, 200);

    // Bad policies are refused field by field; a user may not set one, nor may an admin's
    // token without the promote scope: unprotecting would bypass the protection.
    let policy = json!({"protected_labels": ["Production", "staging", "production"], "require_approval": false, "approval_hours": 24});
    refused(set_policy(app, &ann, policy.clone()).await, 403, "forbidden");
    refused(set_policy(app, &boss_write_token, policy.clone()).await, 403, "label_protected");
    for (bad, field) in [
        (
            json!({"protected_labels": ["latest"], "require_approval": false, "approval_hours": 24}),
            "protected_labels",
        ),
        (
            json!({"protected_labels": ["no spaces"], "require_approval": false, "approval_hours": 24}),
            "protected_labels",
        ),
        (json!({"protected_labels": [], "require_approval": false, "approval_hours": 0}), "approval_hours"),
        (json!({"protected_labels": [], "require_approval": false, "approval_hours": 721}), "approval_hours"),
    ] {
        let (status, body) = set_policy(app, &boss, bad.clone()).await;
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some(field)), "{bad} {body}");
    }
    let (status, body) = set_policy(
        app,
        &boss,
        json!({"protected_labels": ["x"], "require_approval": false, "approval_hours": 24, "bypass": true}),
    )
    .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
    let (status, saved) = set_policy(app, &boss, policy).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["protected_labels"], json!(["production", "staging"]));
    let (_, seen) = call(app, Method::GET, "/api/v1/release-policy", &reader, None).await;
    assert_eq!(seen, saved);
    assert!(app.audit_actions(&lib.acme).await.contains(&"release_policy.updated".to_owned()));

    // Unprotected labels move as before; protected ones only for an admin signed in or an
    // admin's promote token — not for the owner, nor any other token.
    assert_eq!(put_label(app, &ann, &path, "canary", 3).await.0, 200);
    refused(put_label(app, &ann, &path, "production", 2).await, 403, "label_protected");
    refused(put_label(app, &ann, &path, "Staging", 2).await, 403, "label_protected");
    refused(put_label(app, &ann_promote_token, &path, "production", 2).await, 403, "label_protected");
    refused(put_label(app, &boss_write_token, &path, "production", 2).await, 403, "label_protected");
    let remove = format!("{path}/labels/production");
    refused(call(app, Method::DELETE, &remove, &ann, None).await, 403, "label_protected");
    let rollback = format!("{path}/labels/production/rollback");
    refused(call(app, Method::POST, &rollback, &boss_write_token, None).await, 403, "label_protected");
    assert_eq!(served(app, &ann, &path, "production").await, Some(1));
    let (status, moved) = put_label(app, &boss_promote_token, &path, "production", 2).await;
    assert_eq!((status, moved["version"].clone()), (200, json!(2)), "{moved}");
    let (status, undone) = call(app, Method::POST, &rollback, &boss, None).await;
    assert_eq!((status, undone["to_version"].clone()), (200, json!(1)), "{undone}");

    // Deleting the prompt would take its protected label with it: the owner may not.
    refused(call(app, Method::DELETE, &path, &ann, None).await, 403, "label_protected");
    assert_eq!(served(app, &ann, &path, "production").await, Some(1));

    // Only admins mint promote tokens.
    let token = json!({"name": "deploy", "scope": "promote"});
    let (status, body) = call(app, Method::POST, "/api/v1/tokens", &ann, Some(token.clone())).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("scope")), "{body}");
    let (status, body) = call(app, Method::POST, "/api/v1/tokens", &boss, Some(token)).await;
    assert_eq!((status, body["scope"].as_str()), (201, Some("promote")), "{body}");
    let minted = body["token"].as_str().unwrap().to_owned();
    assert_eq!(put_label(app, &minted, &path, "production", 3).await.0, 200);
    // A promote token that outlives its owner's admin role promotes nothing.
    let own = three_versions(app, &boss, "ops/boss", json!({})).await;
    let (status, _) = call(
        app,
        Method::PATCH,
        &format!("/api/v1/users/{}", lib.admin.id),
        &app.session_token(
            &lib.acme,
            &app.user(&lib.acme, "other@acme.test", Role::Admin, "pw-other-123").await,
        )
        .await,
        Some(json!({"role": "user"})),
    )
    .await;
    assert_eq!(status, 200);
    refused(put_label(app, &minted, &own, "production", 2).await, 403, "label_protected");
    assert_eq!(put_label(app, &minted, &own, "canary", 2).await.0, 200, "it still writes as a user");
}

async fn protected_moves_wait_for_another_admins_decision(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let ben = app.session_token(&lib.acme, &lib.ben).await;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let boss_write_token = app.api_token(&lib.acme, &lib.admin, TokenScope::ReadWrite).await;
    let second = app.user(&lib.acme, "second@acme.test", Role::Admin, "pw-second-12").await;
    let second_promote = app.api_token(&lib.acme, &second, TokenScope::Promote).await;
    let reader = app.api_token(&lib.acme, &lib.reader, TokenScope::Read).await;
    let path = three_versions(app, &ann, "support/welcome", json!({})).await;
    let policy = json!({"protected_labels": ["production"], "require_approval": true, "approval_hours": 24});
    assert_eq!(set_policy(app, &boss, policy).await.0, 200);

    // The owner asks: 202 with the request; nothing moves yet.
    let asked_at = chrono::Utc::now();
    let (status, request) = put_label(app, &ann, &path, "production", 2).await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(
        (
            request["status"].as_str(),
            request["label"].as_str(),
            request["from_version"].clone(),
            request["to_version"].clone()
        ),
        (Some("pending"), Some("production"), json!(null), json!(2))
    );
    assert_eq!(request["requested_by"]["id"], json!(lib.ann.id));
    assert_eq!(request["prompt"]["name"], "support/welcome");
    let expires: chrono::DateTime<chrono::Utc> = request["expires_at"].as_str().unwrap().parse().unwrap();
    let day = chrono::Duration::hours(24);
    assert!(asked_at + day <= expires && expires <= chrono::Utc::now() + day, "{expires}");
    assert_eq!(served(app, &reader, &path, "production").await, None);
    // One request per label waits at a time.
    refused(put_label(app, &ann, &path, "production", 3).await, 409, "approval_pending");
    // Unprotected labels still move at once.
    assert_eq!(put_label(app, &ann, &path, "canary", 3).await.0, 200);

    // The inbox shows it to every member.
    let (status, inbox) = call(app, Method::GET, "/api/v1/approvals?status=pending", &reader, None).await;
    assert_eq!(status, 200);
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["items"][0]["id"], request["id"]);
    let (status, _) = call(app, Method::GET, "/api/v1/approvals?status=maybe", &reader, None).await;
    assert_eq!(status, 422);

    // Nobody but another admin — signed in or with a promote token — decides it.
    let id = &request["id"];
    refused(decide(app, &ann, id, "approve", None).await, 403, "forbidden");
    refused(decide(app, &ben, id, "deny", None).await, 403, "forbidden");
    refused(decide(app, &boss_write_token, id, "approve", None).await, 403, "forbidden");
    refused(decide(app, &ben, id, "cancel", None).await, 403, "forbidden");
    let (status, _) = decide(app, &boss, id, "approve", Some(json!({"comment": "ok", "extra": 1}))).await;
    assert_eq!(status, 400, "a body that is not a decision is refused");
    let (status, approved) = decide(app, &boss, id, "approve", Some(json!({"comment": "Looks right"}))).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(
        (approved["status"].as_str(), approved["decided_by"]["id"].clone(), approved["comment"].as_str()),
        (Some("approved"), json!(lib.admin.id), Some("Looks right"))
    );
    assert_eq!(served(app, &reader, &path, "production").await, Some(2));
    refused(decide(app, &second_promote, id, "deny", None).await, 409, "approval_closed");
    // The move is the requester's, approved by the admin, in history and audit log.
    let (_, history) =
        call(app, Method::GET, &format!("{path}/label-history?label=production"), &reader, None).await;
    let last = &history["items"][0];
    assert_eq!(
        (last["moved_by"]["id"].clone(), last["approved_by"]["id"].clone()),
        (json!(lib.ann.id), json!(lib.admin.id))
    );
    let actions = app.audit_actions(&lib.acme).await;
    for action in ["approval.requested", "approval.approved", "label.moved"] {
        assert!(actions.contains(&action.to_owned()), "{action} in {actions:?}");
    }

    // Admins ask too, and never decide their own request; another admin's promote token denies.
    let rollback = format!("{path}/labels/production/rollback");
    let (status, asked) =
        call(app, Method::POST, &rollback, &boss, Some(json!({"reason": "too early"}))).await;
    assert_eq!(
        (status, asked["to_version"].clone(), asked["from_version"].clone()),
        (202, json!(null), json!(2)),
        "{asked}"
    );
    assert!(asked["rollback_of"].is_string());
    refused(decide(app, &boss, &asked["id"], "approve", None).await, 403, "own_approval");
    refused(decide(app, &boss, &asked["id"], "deny", None).await, 403, "own_approval");
    let (status, denied) =
        decide(app, &second_promote, &asked["id"], "deny", Some(json!({"comment": "keep it"}))).await;
    assert_eq!((status, denied["status"].as_str()), (200, Some("denied")), "{denied}");
    assert_eq!(served(app, &reader, &path, "production").await, Some(2));
    assert!(app.audit_actions(&lib.acme).await.contains(&"approval.denied".to_owned()));

    // The requester withdraws theirs; removal is asked for like a move.
    let remove = format!("{path}/labels/production");
    let (status, asked) = call(app, Method::DELETE, &remove, &ann, None).await;
    assert_eq!((status, asked["to_version"].clone()), (202, json!(null)), "{asked}");
    let (status, cancelled) = decide(app, &ann, &asked["id"], "cancel", None).await;
    assert_eq!((status, cancelled["status"].as_str()), (200, Some("cancelled")), "{cancelled}");
    refused(decide(app, &boss, &asked["id"], "approve", None).await, 409, "approval_closed");
    assert_eq!(served(app, &reader, &path, "production").await, Some(2));

    // Two admins approving at once: exactly one decision lands, the label moves once.
    let (_, asked) = put_label(app, &ann, &path, "production", 3).await;
    let third = app.user(&lib.acme, "third@acme.test", Role::Admin, "pw-third-123").await;
    let third = app.session_token(&lib.acme, &third).await;
    let (a, b) = tokio::join!(
        decide(app, &boss, &asked["id"], "approve", None),
        decide(app, &third, &asked["id"], "approve", None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    assert_eq!(served(app, &reader, &path, "production").await, Some(3));
    let (_, history) =
        call(app, Method::GET, &format!("{path}/label-history?label=production"), &reader, None).await;
    assert_eq!(history["items"].as_array().unwrap().len(), 2, "one move per approval: {history}");

    // Lists filter by status and prompt; one request by id.
    let (_, decided) =
        call(app, Method::GET, "/api/v1/approvals?status=approved&prompt=support%2Fwelcome", &reader, None)
            .await;
    assert_eq!(decided["items"].as_array().unwrap().len(), 2, "{decided}");
    let (_, all) = call(app, Method::GET, "/api/v1/approvals?limit=2", &reader, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (_, rest) = call(
        app,
        Method::GET,
        &format!("/api/v1/approvals?limit=2&cursor={}", all["next_cursor"].as_str().unwrap()),
        &reader,
        None,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");
    assert!(rest.get("next_cursor").is_none());
    let (status, one) = call(
        app,
        Method::GET,
        &format!("/api/v1/approvals/{}", asked["id"].as_str().unwrap()),
        &reader,
        None,
    )
    .await;
    assert_eq!((status, one["status"].as_str()), (200, Some("approved")));
}

async fn requests_expire_conflict_and_stay_in_their_tenant(backend: Backend) {
    let lib = library(backend).await;
    let app = &lib.app;
    let ann = app.session_token(&lib.acme, &lib.ann).await;
    let ben = app.session_token(&lib.acme, &lib.ben).await;
    let boss = app.session_token(&lib.acme, &lib.admin).await;
    let path = three_versions(app, &ann, "support/welcome", json!({})).await;
    let approval = json!({"protected_labels": ["production"], "require_approval": true, "approval_hours": 1});
    assert_eq!(set_policy(app, &boss, approval.clone()).await.0, 200);

    // A request nobody decided in time is expired: it cannot be approved, and a new one may wait.
    let (status, stale) = put_label(app, &ann, &path, "production", 2).await;
    assert_eq!(status, 202);
    app.db.query_text_as_owner("UPDATE label_approvals SET expires_at = requested_at").await;
    let (_, seen) =
        call(app, Method::GET, &format!("/api/v1/approvals/{}", stale["id"].as_str().unwrap()), &ann, None)
            .await;
    assert_eq!(seen["status"], "expired");
    let (status, problem) = decide(app, &boss, &stale["id"], "approve", None).await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("approval_closed")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("expired"), "{problem}");
    let (_, expired) = call(app, Method::GET, "/api/v1/approvals?status=expired", &ann, None).await;
    assert_eq!(expired["items"].as_array().unwrap().len(), 1);
    let (status, fresh) = put_label(app, &ann, &path, "production", 2).await;
    assert_eq!(status, 202, "{fresh}");
    let (_, pending) = call(app, Method::GET, "/api/v1/approvals?status=pending", &ann, None).await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);

    // The label moved since the request was made: approving refuses, the request still waits.
    let direct = json!({"protected_labels": ["production"], "require_approval": false, "approval_hours": 1});
    assert_eq!(set_policy(app, &boss, direct).await.0, 200);
    assert_eq!(put_label(app, &boss, &path, "production", 1).await.0, 200);
    assert_eq!(set_policy(app, &boss, approval).await.0, 200);
    refused(decide(app, &boss, &fresh["id"], "approve", None).await, 409, "conflict");
    assert_eq!(served(app, &ann, &path, "production").await, Some(1));
    let (_, still) =
        call(app, Method::GET, &format!("/api/v1/approvals/{}", fresh["id"].as_str().unwrap()), &ann, None)
            .await;
    assert_eq!(still["status"], "pending");
    assert_eq!(decide(app, &boss, &fresh["id"], "deny", None).await.0, 200);

    // Requests on a private prompt are as invisible as the prompt.
    let private = three_versions(app, &ann, "drafts/secret", json!({"visibility": "private"})).await;
    let (status, hidden) = put_label(app, &ann, &private, "production", 2).await;
    assert_eq!(status, 202, "{hidden}");
    let hidden_path = format!("/api/v1/approvals/{}", hidden["id"].as_str().unwrap());
    let (_, bens) = call(app, Method::GET, "/api/v1/approvals?status=pending", &ben, None).await;
    assert_eq!(bens["items"], json!([]), "{bens}");
    assert_eq!(call(app, Method::GET, &hidden_path, &ben, None).await.0, 404);
    assert_eq!(call(app, Method::GET, &hidden_path, &ann, None).await.0, 200);

    // Another tenant's admin sees nothing of them: 404, never 403.
    let globex = app.tenant("globex").await;
    let intruder = app.user(&globex, "admin@globex.test", Role::Admin, "pw-globex-12").await;
    let intruder = app.session_token(&globex, &intruder).await;
    assert_eq!(call(app, Method::GET, &hidden_path, &intruder, None).await.0, 404);
    refused(decide(app, &intruder, &hidden["id"], "approve", None).await, 404, "not_found");
    refused(decide(app, &intruder, &hidden["id"], "deny", None).await, 404, "not_found");
    let (_, theirs) = call(app, Method::GET, "/api/v1/approvals", &intruder, None).await;
    assert_eq!(theirs["items"], json!([]));
    let (_, policy) = call(app, Method::GET, "/api/v1/release-policy", &intruder, None).await;
    assert_eq!(policy["protected_labels"], json!([]), "policies are per tenant");
    assert_eq!(call(app, Method::GET, "/api/v1/approvals/not-an-id", &ann, None).await.0, 422);
}
