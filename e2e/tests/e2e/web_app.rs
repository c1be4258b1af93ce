//! The built WASM app: served with the right types, and rendering in a real browser.

use crate::browser::{Browser, Viewport};
use crate::server;

#[tokio::test]
async fn the_bundle_is_served_with_the_right_types() {
    let server = server::start();
    let client = reqwest::Client::new();

    let index = client.get(format!("{}/", server.url)).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let html = index.text().await.unwrap();
    assert!(html.contains("<title>AI Prompt Manager</title>"), "{html}");
    assert!(!html.contains("https://"), "no CDN: the app must work offline");

    let wasm = client.get(format!("{}/app_bg.wasm", server.url)).send().await.unwrap();
    assert_eq!(wasm.status(), 200);
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    let bytes = wasm.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"\0asm");

    for script in ["/app.js", "/boot.js"] {
        let response = client.get(format!("{}{script}", server.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{script}");
        assert!(response.headers()["content-type"].to_str().unwrap().contains("javascript"), "{script}");
    }
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
