//! The sign-in page in headless Chromium, at desktop width and on a 375 px phone: the form is
//! there, labelled, fits the screen and has no serious accessibility problems.

use std::time::Duration;

use crate::browser::{Browser, Impact, Viewport};
use crate::server;

/// Opens `/` at `viewport` and checks the sign-in form the way a person would meet it: signed
/// out, the app sends them from `/` to `/login`.
async fn check_sign_in_page(viewport: Viewport, screenshot: &str) {
    let server = server::start();
    let browser = Browser::launch(&server.url, viewport).await;
    browser.goto("/").await;
    browser.wait_for_path("/login").await;

    for id in ["tenant", "email", "password"] {
        let field = browser.wait_for(&format!("input#{id}")).await;
        assert!(field.is_displayed().await.unwrap(), "#{id} is visible");
        let labelled = browser
            .execute("return document.getElementById(arguments[0]).labels.length > 0;", vec![id.into()])
            .await;
        assert_eq!(labelled, true, "#{id} has a <label>");
    }
    browser.wait_for_text("Sign in").await;

    let size = browser
        .execute(
            "const root = document.documentElement; \
             return [window.innerWidth, window.innerHeight, root.scrollWidth, root.lang];",
            vec![],
        )
        .await;
    assert_eq!((&size[0], &size[1]), (&viewport.width.into(), &viewport.height.into()), "the viewport");
    assert!(
        size[2].as_u64() <= size[0].as_u64(),
        "nothing overflows sideways at {} px: the page is {} px wide",
        viewport.width,
        size[2]
    );
    assert_eq!(size[3], "en", "the page declares its language");

    browser.assert_accessible().await;
    browser.screenshot(screenshot).await;
}

#[tokio::test]
async fn the_sign_in_page_works_at_desktop_width() {
    check_sign_in_page(Viewport::DESKTOP, "login").await;
}

#[tokio::test]
async fn the_sign_in_page_works_on_a_375px_phone() {
    check_sign_in_page(Viewport::PHONE, "login-phone").await;
}

/// The helpers later tests build on, against a small page of our own inserted into the app's
/// document (so this test does not change when the screens do): a button that appears late,
/// typing into a field, navigation by `history.pushState`, and the message a failed wait gives.
#[tokio::test]
async fn the_browser_helpers_wait_type_click_and_explain_failures() {
    let server = server::start();
    let mut browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    browser.set_wait(Duration::from_secs(5));
    browser.goto("/").await;
    browser.wait_for("input#email").await;
    assert!(browser.client().title().await.unwrap().contains("AI Prompt Manager"));
    browser
        .execute(
            r#"
            const form = document.createElement('form');
            form.innerHTML = '<label for="fixture-name">Name</label><input id="fixture-name" value="old">';
            form.onsubmit = event => {
                event.preventDefault();
                const name = document.getElementById('fixture-name').value;
                history.pushState(null, '', '/fixture/done');
                const done = document.createElement('p');
                done.id = 'fixture-greeting';
                done.textContent = 'Hello, ' + name + '!';
                done.onclick = () => done.remove();
                document.body.append(done);
            };
            document.body.append(form);
            setTimeout(() => {
                const button = document.createElement('button');
                button.innerHTML = '  Say <b>hello</b>  ';
                form.append(button);
            }, 300);
            "#,
            vec![],
        )
        .await;

    browser.fill("fixture-name", "Ada \"quoted\" O'Neil").await;
    browser.click_button("Say hello").await;
    browser.wait_for_text("Hello, Ada \"quoted\" O'Neil!").await;
    browser.wait_for_path("/fixture/done").await;
    assert_eq!(browser.path().await, "/fixture/done");

    let failure =
        browser.try_wait_for_text("Not on this page", Duration::from_millis(300)).await.unwrap_err();
    assert!(failure.starts_with("waited 300ms for the text \"Not on this page\""), "{failure}");
    assert!(failure.contains("/fixture/done"), "the failure names the URL: {failure}");
    assert!(failure.contains("input#fixture-name[type=text]"), "and lists the fields: {failure}");
    assert!(failure.contains("\"Say hello\""), "and the buttons: {failure}");
    assert!(failure.contains("Hello, Ada"), "and the visible text: {failure}");
    let failure = browser.try_wait_for("#missing", Duration::from_millis(300)).await.unwrap_err();
    assert!(failure.contains("an element matching `#missing`"), "{failure}");

    // axe-core finds a real problem: a field without a label.
    browser
        .execute(
            "document.body.append(Object.assign(document.createElement('input'), {id: 'unlabelled'}));",
            vec![],
        )
        .await;
    let violations = browser.axe_violations(Impact::Serious).await;
    let label = violations.iter().find(|v| v.id == "label").unwrap_or_else(|| panic!("{violations:?}"));
    assert_eq!(label.impact, Impact::Critical);
    assert_eq!(label.targets, ["#unlabelled"]);
    assert!(label.help_url.starts_with("https://dequeuniversity.com/rules/axe/4.14/label"), "{label}");

    browser.click("#fixture-greeting").await;
    assert!(!browser.text().await.contains("Hello, Ada"), "the greeting went away when clicked");
}

/// A sign-in link can never send someone off the app's origin: `next=/%5Cevil.example/x` (a
/// backslash, which browsers read as `/`) once sent a person who signed in to
/// `http://evil.example/x`. Now they land on the prompt list, here — and nothing the signed-in
/// app draws breaks its Content-Security-Policy.
#[tokio::test]
async fn a_hostile_next_link_keeps_the_person_on_the_app() {
    use crate::api::{ADMIN_EMAIL, ADMIN_PASSWORD, TENANT};
    use crate::app::wait_until;

    let server = server::start();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    browser.goto("/login?next=/%5Cevil.example/x").await;
    browser.wait_for("input#email").await;
    browser
        .execute(
            "window.cspViolations = []; \
             document.addEventListener('securitypolicyviolation', e => \
                 window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));",
            vec![],
        )
        .await;
    browser.fill("tenant", TENANT).await;
    browser.fill("email", ADMIN_EMAIL).await;
    browser.fill("password", ADMIN_PASSWORD).await;
    browser.click_button("Sign in").await;
    wait_until(
        &browser,
        "return location.origin !== arguments[0] || location.pathname !== '/login';",
        vec![server.url.clone().into()],
        "leaving the sign-in page",
    )
    .await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.origin().ascii_serialization(), server.url, "still on the app's origin: {url}");
    browser.wait_for_path("/prompts").await;
    browser.wait_for("header.topbar .user-menu").await;
    let violations = browser.execute("return window.cspViolations;", vec![]).await;
    assert_eq!(violations, serde_json::json!([]), "the signed-in app keeps to its CSP");
}
