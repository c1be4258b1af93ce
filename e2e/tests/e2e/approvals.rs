//! Protected release labels in a real browser: with approval required, an administrator's move
//! of `production` becomes a request that waits (the label stays); another administrator
//! approves it on the Approvals page and the label moves, its history saying who approved; a
//! denied or cancelled request leaves the label where it was. The person who asked cannot
//! approve their own, only cancel it.

use serde_json::{Value, json};

use crate::api::{ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, select, wait_for_count, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

const ADA_EMAIL: &str = "ada@example.test";
const ADA_PASSWORD: &str = "ada-password-1";

/// Waits until the version rows carrying label `label` are exactly `versions`.
async fn wait_for_badge(browser: &Browser, label: &str, versions: &[u32]) {
    let script = "const rows = [...document.querySelectorAll('table.versions tr[data-version]')] \
                  .filter(r => r.querySelector(`[data-label=\"${arguments[0]}\"]`)) \
                  .map(r => Number(r.dataset.version)); \
                  return JSON.stringify(rows) === JSON.stringify(arguments[1]);";
    let what = format!("{label} on versions {versions:?}");
    wait_until(browser, script, vec![json!(label), json!(versions)], &what).await;
}

/// The requests in `status`, as the API lists them.
async fn approvals(api: &Api, status: &str) -> Vec<Value> {
    let (code, list) = api.get(&format!("/api/v1/approvals?status={status}")).await;
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// Where `production` points, as an application fetching by the label gets it.
async fn served_version(api: &Api) -> Value {
    let (code, served) = api.get("/api/v1/prompts/release%2Fcheckout?label=production").await;
    assert_eq!(code, 200, "{served}");
    served["version"].clone()
}

#[tokio::test]
async fn protected_labels_wait_for_another_admins_approval() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let (_, me) = admin.get("/api/v1/auth/me").await;
    let admin_id = me["user"]["id"].as_str().unwrap().to_owned();
    let prompt = admin
        .create_prompt(
            json!({"name": "release/checkout", "title": "Checkout assistant", "content": "v1 Help {{name}} pay"}),
        )
        .await;
    let id = prompt["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/prompts/{id}");
    let (status, body) =
        admin.patch(&path, json!({"content": "v2 Help {{name}} check out", "version": 1})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin
        .send(reqwest::Method::PUT, &format!("{path}/labels/production"), Some(json!({"version": 1})))
        .await;
    assert_eq!(status, 200, "{body}");
    admin.create_user(ADA_EMAIL, "Ada", "Lovelace", "admin", ADA_PASSWORD).await;
    let policy = json!({"protected_labels": ["production"], "require_approval": true, "approval_hours": 24});
    let (status, body) = admin.send(reqwest::Method::PUT, "/api/v1/release-policy", Some(policy)).await;
    assert_eq!(status, 200, "{body}");
    let ada = Api::login(&server.url, ADA_EMAIL, ADA_PASSWORD).await;

    // Ada, an administrator, sees production marked as protected and asks to promote version 2.
    let requester = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&requester, ADA_EMAIL, ADA_PASSWORD).await;
    requester.goto(&format!("/prompts/{id}/history")).await;
    wait_for_badge(&requester, "production", &[1]).await;
    requester.wait_for(r#"table.labels [data-label="production"][data-protected="true"]"#).await;
    requester.wait_for(r#"table.versions [data-label="production"][data-protected="true"]"#).await;
    requester.fill("promote-label", "production").await;
    requester
        .wait_for_text("production is protected: moving it waits for another administrator's approval.")
        .await;
    select(&requester, "promote-version", "2").await;
    requester.fill("promote-reason", "ready for launch").await;
    requester.click("#promote-submit").await;
    requester.wait_for_text("Approval requested: waiting for another administrator.").await;
    requester.wait_for(r#"[data-testid="approval-requested"] a[href="/approvals"]"#).await;
    // Nothing moved yet: the request waits, and is listed with the prompt's labels.
    wait_for_count(&requester, r#"ul.label-pending li[data-status="pending"]"#, 1).await;
    wait_for_badge(&requester, "production", &[1]).await;
    assert_eq!(served_version(&admin).await, 1);
    requester.assert_accessible().await;
    // The labels panel is below the versions: the picture shows it.
    let show_panel = "if (document.activeElement) document.activeElement.blur(); \
                      document.getElementById('labels-title').scrollIntoView();";
    requester.execute(show_panel, vec![]).await;
    requester.screenshot("approval-requested").await;

    let pending = approvals(&admin, "pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let approval = pending[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(pending[0]["from_version"], 1);
    assert_eq!(pending[0]["to_version"], 2);
    let row = format!(r#"tr[data-approval="{approval}"]"#);

    // Her own request offers her only to cancel it.
    requester.goto("/approvals").await;
    requester.wait_for(&format!(r#"{row}[data-status="pending"]"#)).await;
    requester.wait_for(&format!("#cancel-{approval}")).await;
    let own = requester
        .execute(
            "return document.querySelectorAll(`#approve-${arguments[0]}, #deny-${arguments[0]}`).length;",
            vec![json!(approval)],
        )
        .await;
    assert_eq!(own, json!(0), "the requester is offered no approve or deny button");
    assert!(!app::button_texts(&requester).await.iter().any(|t| t == "Approve"));
    requester.assert_accessible().await;

    // The other administrator sees it waiting (the count in the navigation too) and approves.
    let approver = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&approver, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    wait_until(
        &approver,
        "const n = document.querySelector('[data-testid=\"nav-pending\"]'); return !!n && n.innerText === '1';",
        vec![],
        "one request counted in the navigation",
    )
    .await;
    approver.click(r#"nav.main-nav a[href="/approvals"]"#).await;
    approver.wait_for_path("/approvals").await;
    approver.wait_for(&format!(r#"table.approvals-waiting {row}[data-status="pending"]"#)).await;
    let texts = app::texts(&approver, &format!("table.approvals-waiting {row}")).await;
    for part in
        ["Checkout assistant", "production", "version 1 → version 2", "ready for launch", "Ada Lovelace"]
    {
        assert!(texts[0].contains(part), "{part:?} in {texts:?}");
    }
    approver.assert_accessible().await;
    app::screenshot(&approver, "approvals").await;
    approver.fill(&format!("approval-comment-{approval}"), "checked on staging").await;
    approver.click(&format!("#approve-{approval}")).await;
    approver.wait_for_text("Approved: production on Checkout assistant now names version 2.").await;
    approver.wait_for(&format!(r#"table.approvals-decided {row}[data-status="approved"]"#)).await;
    let decided = app::texts(&approver, &format!("table.approvals-decided {row}")).await;
    assert!(decided[0].contains("Local Admin") && decided[0].contains("checked on staging"), "{decided:?}");
    wait_for_count(&approver, "table.approvals-waiting tr[data-approval]", 0).await;
    approver.assert_accessible().await;
    assert_eq!(served_version(&admin).await, 2);

    // On the history page production now names version 2, moved on the approval.
    requester.goto(&format!("/prompts/{id}/history")).await;
    wait_for_badge(&requester, "production", &[2]).await;
    requester.wait_for_text("production moved from version 1 to 2").await;
    requester.wait_for_text("by Ada Lovelace, approved by Local Admin").await;
    wait_for_count(&requester, "ul.label-pending li", 0).await;
    let (_, history) = ada.get(&format!("{path}/label-history")).await;
    assert_eq!(history["items"][0]["approved_by"]["id"], json!(admin_id), "{history}");

    // A rollback waits too; denied, it leaves the label where it is.
    requester.click("#label-production-rollback").await;
    requester.wait_for_text("Approval requested: waiting for another administrator.").await;
    wait_for_count(&requester, r#"ul.label-pending li[data-status="pending"]"#, 1).await;
    let pending = approvals(&ada, "pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let rollback = pending[0]["id"].as_str().unwrap().to_owned();
    let rollback_row = format!(r#"tr[data-approval="{rollback}"]"#);
    approver.goto("/approvals").await;
    approver.wait_for(&format!(r#"table.approvals-waiting {rollback_row}[data-status="pending"]"#)).await;
    let texts = app::texts(&approver, &format!("table.approvals-waiting {rollback_row}")).await;
    assert!(texts[0].contains("version 2 → version 1 (rollback)"), "{texts:?}");
    approver.fill(&format!("approval-comment-{rollback}"), "keep version 2").await;
    approver.click(&format!("#deny-{rollback}")).await;
    approver.wait_for_text("Denied: production on Checkout assistant stays where it is.").await;
    approver.wait_for(&format!(r#"table.approvals-decided {rollback_row}[data-status="denied"]"#)).await;
    let denied = app::texts(&approver, &format!("table.approvals-decided {rollback_row}")).await;
    assert!(denied[0].contains("Denied") && denied[0].contains("keep version 2"), "{denied:?}");
    approver.assert_accessible().await;
    assert_eq!(approvals(&admin, "denied").await.len(), 1);
    assert_eq!(served_version(&admin).await, 2);
    requester.goto(&format!("/prompts/{id}/history")).await;
    wait_for_badge(&requester, "production", &[2]).await;
    wait_for_count(&requester, "ul.label-pending li", 0).await;

    // Ada asks again and thinks better of it: cancelled, it leaves the label too.
    requester.fill("promote-label", "production").await;
    select(&requester, "promote-version", "1").await;
    requester.click("#promote-submit").await;
    requester.wait_for_text("Approval requested: waiting for another administrator.").await;
    requester.click(r#"[data-testid="approval-requested"] a[href="/approvals"]"#).await;
    requester.wait_for_path("/approvals").await;
    let pending = approvals(&ada, "pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let withdrawn = pending[0]["id"].as_str().unwrap().to_owned();
    requester.click(&format!("#cancel-{withdrawn}")).await;
    requester.wait_for_text("Cancelled your request for production on Checkout assistant.").await;
    requester
        .wait_for(&format!(
            r#"table.approvals-decided tr[data-approval="{withdrawn}"][data-status="cancelled"]"#
        ))
        .await;
    requester.assert_accessible().await;
    assert_eq!(served_version(&admin).await, 2);

    // The release policy page shows the policy and marks what the server would refuse.
    approver.click(r#"nav.main-nav a[href="/admin/releases"]"#).await;
    approver.wait_for_path("/admin/releases").await;
    approver.wait_for("input#release-protected-labels").await;
    assert_eq!(app::value_of(&approver, "release-protected-labels").await, "production");
    assert_eq!(app::value_of(&approver, "release-approval-hours").await, "24");
    let checked =
        approver.execute("return document.getElementById('release-require-approval').checked;", vec![]).await;
    assert_eq!(checked, json!(true));
    approver.fill("release-protected-labels", "production, latest").await;
    approver.click("#release-policy-save").await;
    wait_until(
        &approver,
        "return document.getElementById('release-protected-labels').getAttribute('aria-invalid') === 'true';",
        vec![],
        "the label names marked",
    )
    .await;
    approver.fill("release-protected-labels", "production staging").await;
    approver.fill("release-approval-hours", "48").await;
    approver.click("#release-policy-save").await;
    approver.wait_for_text("Release policy saved.").await;
    approver.assert_accessible().await;
    let (_, saved) = admin.get("/api/v1/release-policy").await;
    assert_eq!(saved["protected_labels"], json!(["production", "staging"]));
    assert_eq!(saved["approval_hours"], 48);

    // Administrators may mint tokens that promote protected labels.
    approver.goto("/tokens").await;
    approver.wait_for(r#"select#token-scope option[value="promote"]"#).await;
}
