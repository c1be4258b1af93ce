//! The built WASM app: built into the binary, served with the right types wherever the server
//! is started, and rendering in a real browser.

use crate::browser::{Browser, Viewport};
use crate::server;

#[tokio::test]
async fn the_bundle_is_served_from_the_binary_with_the_right_types() {
    // Started in an empty folder without WEB_DIST_DIR: the app comes from the binary.
    let server = server::start();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let index = client.get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let html = index.text().await.unwrap();
    assert!(html.contains("<title>AI Prompt Manager</title>"), "{html}");
    assert!(!html.contains("https://"), "no CDN: the app must work offline");

    let wasm = client.get(format!("{}/app_bg.wasm", server.url)).send().await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let etag = wasm.headers()["etag"].clone();
    assert_eq!(wasm.headers()["cache-control"], "no-cache", "unversioned names: always revalidate");
    let bytes = wasm.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"\0asm");
    let built = std::fs::read(server::workspace_root().join("frontend/dist/app_bg.wasm")).unwrap();
    assert!(bytes[..] == built[..], "the binary serves the app as `cargo xtask frontend` built it");
    // Revalidation by the content hash: nothing is sent again while the binary is the same.
    let again = client
        .get(format!("{}/app_bg.wasm", server.url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    for script in ["/app.js", "/boot.js"] {
        let response = client.get(format!("{}{script}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{script}");
        assert!(response.headers()["content-type"].to_str().unwrap().contains("javascript"), "{script}");
    }
    // A deep link gets the shell; a missing asset is a 404, not the shell.
    let deep = client.get(format!("{}/prompts/new", server.url)).send().await.unwrap();
    assert_eq!(deep.status(), 200);
    assert_eq!(deep.text().await.unwrap(), html);
    let missing = client.get(format!("{}/nothing-here.js", server.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // `/api/docs` without its slash is where people type it.
    let docs = client.get(format!("{}/api/docs", server.url)).send().await.unwrap();
    assert_eq!(docs.status(), 308);
    assert_eq!(docs.headers()["location"], "/api/docs/");
    let ui = client.get(format!("{}/api/docs/", server.url)).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"), "the Swagger UI");
}

/// Chromium loads the page, runs the WASM app, and the app calls the API: the page shows the
/// sign-in form and the server version fetched from `/healthz`.
#[tokio::test]
async fn the_app_renders_in_headless_chromium() {
    let server = server::start();
    let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
    browser.goto("/").await;
    browser.wait_for(r#"label[for="email"]"#).await;
    browser.wait_for_text("AI Prompt Manager").await;
    let version = env!("CARGO_PKG_VERSION");
    browser.wait_for_text(&format!("Server {version} is up.")).await;
}
