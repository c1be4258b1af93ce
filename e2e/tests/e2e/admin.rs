//! The administration screens in a real browser, over a library with some history: an admin
//! creates a user, then reads the audit log, analytics, tenants, and exports the prompts.

use crate::api::{self, ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, wait_for_count, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

#[tokio::test]
async fn an_admin_creates_a_user_and_uses_the_admin_screens() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let seeded = api::seed_library(&admin).await.len();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        app::texts(&browser, "nav.main-nav a").await,
        [
            "Prompts",
            "Import/Export",
            "AI settings",
            "Approvals",
            "Users",
            "Audit log",
            "Analytics",
            "Single sign-on",
            "Release labels",
            "Webhooks",
            "Tenants"
        ]
    );

    // Users: the seeded administrator and Lin; add Grace.
    browser.click(r#"nav.main-nav a[href="/admin/users"]"#).await;
    browser.wait_for_path("/admin/users").await;
    wait_for_count(&browser, "table.users tbody tr", 2).await;
    browser.fill("user-email", "grace.hopper@example.com").await;
    browser.fill("user-first-name", "Grace").await;
    browser.fill("user-last-name", "Hopper").await;
    app::select(&browser, "user-role", "user").await;
    browser.fill("user-password", "grace-secret-1").await;
    browser.click_button("Create user").await;
    browser.wait_for_text("User grace.hopper@example.com created.").await;
    wait_for_count(&browser, "table.users tbody tr", 3).await;
    let rows = app::texts(&browser, "table.users tbody tr").await;
    assert!(
        rows.iter().any(|r| r.contains("grace.hopper@example.com") && r.contains("Grace Hopper")),
        "{rows:?}"
    );
    wait_until(
        &browser,
        "return [...document.querySelectorAll('table.users select')].some(s => s.value === 'user' \
         && s.closest('tr').innerText.includes('grace.hopper@example.com'));",
        vec![],
        "Grace's row to show the role User",
    )
    .await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "users").await;
    // She can sign in with the password she was given.
    Api::login(&server.url, "grace.hopper@example.com", "grace-secret-1").await;

    // The audit log has the user's creation (and the prompts' and sign-ins before it).
    browser.click(r#"nav.main-nav a[href="/admin/audit"]"#).await;
    browser.wait_for_path("/admin/audit").await;
    browser.wait_for("table.audit tbody tr").await;
    for action in ["user.created", "prompt.created", "auth.login_succeeded"] {
        browser.wait_for_text(action).await;
    }
    browser.assert_accessible().await;
    app::screenshot(&browser, "audit").await;

    // Analytics count the same library.
    browser.click(r#"nav.main-nav a[href="/admin/analytics"]"#).await;
    browser.wait_for_path("/admin/analytics").await;
    browser.wait_for_text("Prompts created per day").await;
    let prompts = app::texts(&browser, ".stats .stat").await;
    assert!(prompts.iter().any(|s| s == &format!("{seeded} Prompts")), "{prompts:?}");
    for category in ["Customer support", "Engineering", "Marketing"] {
        browser.wait_for_text(category).await;
    }
    browser.assert_accessible().await;
    app::screenshot(&browser, "analytics").await;

    // Tenants (the seeded administrator is a system administrator).
    browser.click(r#"nav.main-nav a[href="/admin/tenants"]"#).await;
    browser.wait_for_path("/admin/tenants").await;
    browser.wait_for("input#tenant-subdomain").await;
    browser.wait_for_text("localhost").await;
    // Each tenant's library against its quotas (the seeded ones use the defaults).
    browser.wait_for_text("of 100000 prompts").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "tenants").await;

    // Import/Export: exporting counts every prompt the admin sees.
    browser.click(r#"nav.main-nav a[href="/import-export"]"#).await;
    browser.wait_for_path("/import-export").await;
    browser.click("#export-button").await;
    browser.wait_for_text(&format!("Exported {seeded} prompts.")).await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "import-export").await;
}
