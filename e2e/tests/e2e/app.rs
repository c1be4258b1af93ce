//! Steps through the web app that several flows share: signing in, waiting on the page's state,
//! choosing from a `<select>`, reading what the app keeps for the session.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::TENANT;
use crate::browser::{Browser, WAIT};

/// Fills in the sign-in form on the current page and submits it; waits until the app has left
/// the sign-in page and shows the signed-in top bar.
pub async fn sign_in_here(browser: &Browser, email: &str, password: &str) {
    browser.fill("tenant", TENANT).await;
    browser.fill("email", email).await;
    browser.fill("password", password).await;
    browser.click_button("Sign in").await;
    browser.wait_for("header.topbar .user-menu").await;
    wait_until(browser, "return location.pathname !== '/login';", vec![], "leaving the sign-in page").await;
}

/// Opens the sign-in page, signs in as `email` and waits for the prompt library.
pub async fn sign_in(browser: &Browser, email: &str, password: &str) {
    browser.goto("/login").await;
    browser.wait_for("input#email").await;
    sign_in_here(browser, email, password).await;
    browser.wait_for_path("/prompts").await;
}

/// Waits until `script` (a function body) returns `true`, for at most [`WAIT`]; fails with what
/// was awaited, the script's last answer and the page's text.
pub async fn wait_until(browser: &Browser, script: &str, args: Vec<Value>, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = browser.execute(script, args.clone()).await;
        if answer == true {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "waited {WAIT:?} for {what} (last answer {answer}) on {}:\n{}",
                browser.path().await,
                browser.text().await
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page shows exactly `count` elements matching `css`.
pub async fn wait_for_count(browser: &Browser, css: &str, count: usize) {
    let script = "return document.querySelectorAll(arguments[0]).length === arguments[1];";
    let what = format!("{count} element(s) matching `{css}`");
    wait_until(browser, script, vec![json!(css), json!(count)], &what).await;
}

/// Chooses `value` in the `<select>` with id `id`, as a person picking an option does (the
/// element's `change` event fires).
pub async fn select(browser: &Browser, id: &str, value: &str) {
    browser.wait_for(&format!("select#{id}")).await;
    let script = "const s = document.getElementById(arguments[0]); \
                  if (![...s.options].some(o => o.value === arguments[1])) return false; \
                  s.value = arguments[1]; s.dispatchEvent(new Event('change', { bubbles: true })); return true;";
    let chose = browser.execute(script, vec![json!(id), json!(value)]).await;
    assert_eq!(chose, true, "#{id} has an option {value:?}");
}

/// The value of the form control with id `id`.
pub async fn value_of(browser: &Browser, id: &str) -> String {
    let value = browser.execute("return document.getElementById(arguments[0]).value;", vec![json!(id)]).await;
    value.as_str().unwrap_or_else(|| panic!("#{id} has no value: {value}")).to_owned()
}

/// The texts of the elements matching `css`, whitespace collapsed.
pub async fn texts(browser: &Browser, css: &str) -> Vec<String> {
    let script = "return [...document.querySelectorAll(arguments[0])]\
                  .map(e => e.innerText.replace(/\\s+/g, ' ').trim());";
    let texts = browser.execute(script, vec![json!(css)]).await;
    texts.as_array().unwrap().iter().map(|t| t.as_str().unwrap_or_default().to_owned()).collect()
}

/// The texts of the page's buttons.
pub async fn button_texts(browser: &Browser) -> Vec<String> {
    texts(browser, "button, [role=button], input[type=submit]").await
}

/// The bearer token the web app keeps for this tab's session, if any.
pub async fn session_token(browser: &Browser) -> Option<String> {
    let script = "const raw = sessionStorage.getItem('prompt-manager.session'); \
                  return raw ? JSON.parse(raw).token : null;";
    browser.execute(script, vec![]).await.as_str().map(str::to_owned)
}

/// Fails when the page is wider than the viewport (something would scroll sideways).
pub async fn assert_fits_sideways(browser: &Browser) {
    let size =
        browser.execute("return [window.innerWidth, document.documentElement.scrollWidth];", vec![]).await;
    assert!(
        size[1].as_u64() <= size[0].as_u64(),
        "nothing overflows sideways on {}: the page is {} px wide in a {} px viewport",
        browser.path().await,
        size[1],
        size[0]
    );
}

/// Scrolls to the top and saves a screenshot of the viewport as `name` (see
/// [`Browser::screenshot`]); the focus outline of the last click is removed first, so the
/// picture shows the screen as it looks at rest.
pub async fn screenshot(browser: &Browser, name: &str) {
    browser
        .execute("if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0);", vec![])
        .await;
    browser.screenshot(name).await;
}
