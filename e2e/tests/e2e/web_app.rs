//! The built WASM app: served with the right types, and rendering in a real browser.

use std::process::Command;

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

/// Chromium loads the page, runs the WASM app, and the app calls the API: the rendered DOM
/// shows the sign-in form and the server version fetched from `/healthz`.
#[test]
fn the_app_renders_in_headless_chromium() {
    let server = server::start();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("{}/", server.url))
        .output()
        .expect("chromium runs (cargo xtask test installs it)");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains("AI Prompt Manager"), "{dom}");
    assert!(dom.contains(r#"<label for="email">Email</label>"#), "the WASM app rendered the form: {dom}");
    let version = env!("CARGO_PKG_VERSION");
    assert!(dom.contains(&format!("Server {version} is up.")), "the app reached the API: {dom}");
}
