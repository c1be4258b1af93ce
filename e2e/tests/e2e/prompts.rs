//! The prompt library in a real browser: write a prompt, find it by searching, edit it, compare
//! its versions and restore an old one; a save that lost a race against someone else; and the
//! library and editor on a 375 px phone.

use serde_json::json;

use crate::api::{self, ADMIN_EMAIL, ADMIN_PASSWORD, Api};
use crate::app::{self, wait_for_count, wait_until};
use crate::browser::{Browser, Viewport};
use crate::server;

const DRAFT: &str = "Hello {{customer}},\n\
                     To reset your password, open {{reset_link}}.\n\
                     If you did not ask for this, ignore this email.";
const EDITED: &str = "Hello {{customer}},\n\
                      To reset your password, open {{reset_link}} within 24 hours.\n\
                      If you did not ask for this, ignore this email.\n\
                      Questions? Reply to {{agent}}.";

/// Waits until the library lists exactly the prompts titled `titles`, in this order (a count alone
/// could be the answer to the previous search).
async fn wait_for_titles(browser: &Browser, titles: &[&str]) {
    let script = "const titles = [...document.querySelectorAll('li.prompt-item .prompt-title')] \
                  .map(e => e.innerText.trim()); \
                  return JSON.stringify(titles) === JSON.stringify(arguments[0]);";
    wait_until(browser, script, vec![json!(titles)], &format!("the library to list {titles:?}")).await;
}

/// Waits until the app shows a prompt's own page (`/prompts/<uuid>`) and returns its id.
async fn wait_for_prompt_page(browser: &Browser) -> String {
    let script = r"return /^\/prompts\/[0-9a-f-]{36}$/.test(location.pathname);";
    wait_until(browser, script, vec![], "a prompt's page").await;
    browser.path().await.trim_start_matches("/prompts/").to_owned()
}

#[tokio::test]
async fn a_writer_creates_finds_edits_and_restores_a_prompt() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let seeded = api::seed_library(&admin).await.len();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The library lists everything the administrator may see.
    wait_for_count(&browser, "li.prompt-item", seeded).await;
    browser.wait_for_text("Welcome a new customer").await;

    // Write a new prompt.
    browser.click(r#".page-header a[href="/prompts/new"]"#).await;
    browser.wait_for_path("/prompts/new").await;
    browser.fill("prompt-name", "support/password-reset").await;
    browser.fill("prompt-title", "Help with a password reset").await;
    browser.fill("prompt-category", "Customer support").await;
    browser.fill("prompt-tags", "accounts, email").await;
    browser.fill("prompt-content", DRAFT).await;
    browser.fill("prompt-commit-message", "First draft").await;
    browser.assert_accessible().await;
    browser.click_button("Save").await;
    let id = wait_for_prompt_page(&browser).await;
    browser.wait_for(r#"a.button[href$="/history"]"#).await;
    browser.wait_for_text("version 1").await;
    assert_eq!(app::value_of(&browser, "prompt-content").await, DRAFT);
    // The variables are detected and the preview fills them in.
    assert_eq!(app::texts(&browser, "ul.variables code").await, ["{{customer}}", "{{reset_link}}"]);
    browser.fill("var-customer", "Ada").await;
    wait_until(
        &browser,
        "return document.getElementById('render-output').innerText.startsWith('Hello Ada,');",
        vec![],
        "the preview to say “Hello Ada,”",
    )
    .await;

    // Back in the library it is there, and searching finds it alone.
    browser.click(r#"nav.main-nav a[href="/prompts"]"#).await;
    wait_for_count(&browser, "li.prompt-item", seeded + 1).await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "library").await;
    browser.fill("prompt-search", "password").await;
    wait_for_titles(&browser, &["Help with a password reset"]).await;
    wait_until(&browser, "return location.search === '?q=password';", vec![], "the search in the address")
        .await;
    browser.fill("prompt-search", "refund").await;
    wait_for_titles(&browser, &["Reply to a refund request"]).await;
    browser.fill("prompt-search", "reset").await;
    wait_for_titles(&browser, &["Help with a password reset"]).await;

    // Edit it.
    browser.click("li.prompt-item a.prompt-link").await;
    browser.wait_for_path(&format!("/prompts/{id}")).await;
    wait_until(
        &browser,
        "const c = document.getElementById('prompt-content'); return !!c && c.value === arguments[0];",
        vec![json!(DRAFT)],
        "the editor to hold the draft",
    )
    .await;
    browser.fill("prompt-content", EDITED).await;
    browser.fill("prompt-commit-message", "Mention the 24-hour limit").await;
    browser.click_button("Save").await;
    browser.wait_for_text("Saved as version 2.").await;
    browser.wait_for_text("version 2").await;
    assert_eq!(
        app::texts(&browser, "ul.variables code").await,
        ["{{customer}}", "{{reset_link}}", "{{agent}}"]
    );
    browser.assert_accessible().await;
    app::screenshot(&browser, "editor").await;

    // Its history shows what changed between the versions.
    browser.click(r#"a.button[href$="/history"]"#).await;
    browser.wait_for_path(&format!("/prompts/{id}/history")).await;
    browser.wait_for_text("Changes from version 1 to version 2").await;
    // Not asserted exactly: the draft's last line ("If you did not ask…") had no line ending and
    // gained one, so the line diff shows it removed and added again with the same visible text.
    let inserted = app::texts(&browser, "section.diff ins.diff-insert .text").await;
    let deleted = app::texts(&browser, "section.diff del.diff-delete .text").await;
    assert!(deleted.iter().any(|l| l == "To reset your password, open {{reset_link}}."), "{deleted:?}");
    for line in
        ["To reset your password, open {{reset_link}} within 24 hours.", "Questions? Reply to {{agent}}."]
    {
        assert!(inserted.iter().any(|l| l == line), "{line:?} is marked as added: {inserted:?}");
    }
    assert!(!deleted.iter().any(|l| l.starts_with("Hello")), "the unchanged first line is not: {deleted:?}");
    assert_eq!(app::texts(&browser, "table.versions tbody tr").await.len(), 2);
    browser.wait_for_text("Mention the 24-hour limit").await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "history-diff").await;

    // Restore the draft: it comes back as version 3, identical in content to version 1.
    browser.click_button("Restore").await;
    browser.wait_for_text("Version 1 restored as version 3.").await;
    wait_for_count(&browser, "table.versions tbody tr", 3).await;
    browser.click("#diff-from-1").await;
    browser.click("#diff-to-3").await;
    browser.wait_for_text("Changes from version 1 to version 3").await;
    wait_for_count(&browser, "section.diff .diff-insert, section.diff .diff-delete", 0).await;
    browser.assert_accessible().await;

    browser.click(&format!(r#".page-header a[href="/prompts/{id}"]"#)).await;
    browser.wait_for_path(&format!("/prompts/{id}")).await;
    browser.wait_for_text("version 3").await;
    assert_eq!(app::value_of(&browser, "prompt-content").await, DRAFT);
    let (status, prompt) = admin.get(&format!("/api/v1/prompts/{id}")).await;
    assert_eq!((status, &prompt["version"], &prompt["content"]), (200, &json!(3), &json!(DRAFT)));
}

/// Two people edit the same prompt: the one who saves second is told, keeps their text, reloads
/// the latest version and saves a merge.
#[tokio::test]
async fn a_save_that_lost_a_race_is_explained_and_can_be_merged() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let original = "Summarise the meeting notes below in five bullet points.\n\n{{notes}}";
    let prompt = admin
        .create_prompt(json!({
            "name": "meetings/summary",
            "title": "Summarise meeting notes",
            "category": "Productivity",
            "tags": ["meetings"],
            "content": original,
        }))
        .await;
    let id = prompt["id"].as_str().unwrap().to_owned();

    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    browser.goto(&format!("/prompts/{id}")).await;
    wait_until(
        &browser,
        "const c = document.getElementById('prompt-content'); return !!c && c.value === arguments[0];",
        vec![json!(original)],
        "the editor to hold the prompt",
    )
    .await;

    // Someone else saves first, through the API.
    let theirs =
        "Summarise the meeting notes below in five bullet points, with owners and dates.\n\n{{notes}}";
    let (status, answer) = admin
        .patch(
            &format!("/api/v1/prompts/{id}"),
            json!({ "content": theirs, "version": 1, "commit_message": "Ask for owners and dates" }),
        )
        .await;
    assert_eq!((status, &answer["version"]), (200, &json!(2)), "{answer}");

    // This editor still holds version 1: saving is refused, clearly.
    let mine =
        "Summarise the meeting notes below in five bullet points.\nEnd with the decisions.\n\n{{notes}}";
    browser.fill("prompt-content", mine).await;
    browser.click_button("Save").await;
    browser.wait_for_text("Someone else saved version 2 while you were editing.").await;
    let alert = app::texts(&browser, ".alert-warning[role=alert]").await;
    assert!(alert.len() == 1 && alert[0].contains("Your changes are not saved."), "{alert:?}");
    assert_eq!(app::value_of(&browser, "prompt-content").await, mine, "the typed text is still there");
    browser.assert_accessible().await;
    app::screenshot(&browser, "editor-conflict").await;

    // Reload the latest version; what was typed is kept aside to merge from.
    browser.click_button("Reload latest version").await;
    wait_until(
        &browser,
        "const c = document.getElementById('prompt-content'); return !!c && c.value === arguments[0];",
        vec![json!(theirs)],
        "the editor to hold the latest version",
    )
    .await;
    let stash = app::texts(&browser, "details.stash pre").await;
    let collapsed = mine.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(stash, [collapsed], "the unsaved text is kept aside");
    let merged = "Summarise the meeting notes below in five bullet points, with owners and dates.\n\
                  End with the decisions.\n\n{{notes}}";
    browser.fill("prompt-content", merged).await;
    browser.click_button("Save").await;
    browser.wait_for_text("Saved as version 3.").await;
    let (status, prompt) = admin.get(&format!("/api/v1/prompts/{id}")).await;
    assert_eq!((status, &prompt["version"], &prompt["content"]), (200, &json!(3), &json!(merged)));
}

#[tokio::test]
async fn the_library_and_editor_work_on_a_375px_phone() {
    let server = server::start();
    let admin = Api::admin(&server.url).await;
    let seeded = api::seed_library(&admin).await;
    let browser = Browser::launch(&server.url, Viewport::PHONE).await;
    app::sign_in(&browser, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    wait_for_count(&browser, "li.prompt-item", seeded.len()).await;
    browser.wait_for_text("Welcome a new customer").await;
    app::assert_fits_sideways(&browser).await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "library-phone").await;

    browser.fill("prompt-search", "refund").await;
    wait_for_titles(&browser, &["Reply to a refund request"]).await;
    browser.click("li.prompt-item a.prompt-link").await;
    let refund = seeded[1]["id"].as_str().unwrap();
    browser.wait_for_path(&format!("/prompts/{refund}")).await;
    browser.wait_for("#prompt-content").await;
    browser.wait_for_text("Reply to a refund request").await;
    app::assert_fits_sideways(&browser).await;
    browser.assert_accessible().await;
    app::screenshot(&browser, "editor-phone").await;
}
