//! The general request rate limit: per credential when signed in or using an API token, per
//! client address otherwise; 429 `rate_limited` with `Retry-After` beyond it.

use std::net::{IpAddr, Ipv4Addr};

use domain::session::TokenScope;
use domain::user::Role;

use crate::support::{Spawn, TestApp, expect_problem, spawn};

/// A client whose connections come from `addr` (any 127.x.y.z is this machine).
fn client_from(addr: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(Ipv4Addr::from(addr))).build().unwrap()
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    app.get_as("/api/v1/auth/me", token).await
}

/// Asserts a 429 `rate_limited` problem with a sensible `Retry-After`.
async fn expect_rate_limited(response: reqwest::Response) {
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    expect_problem(response, 429, "rate_limited").await;
}

#[tokio::test]
async fn each_credential_has_its_own_allowance() {
    let app = spawn(Spawn { vars: vec![("RATE_LIMIT_PER_MINUTE", "5")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "pw-alice-1").await;
    let bob = app.user(&acme, "bob@acme.test", Role::User, "pw-bob-12").await;
    let alice_session = app.session_token(&acme, &alice).await;
    let alice_api_token = app.api_token(&acme, &alice, TokenScope::Read).await;
    let bob_session = app.session_token(&acme, &bob).await;

    for _ in 0..5 {
        assert_eq!(me(&app, &alice_session).await.status(), 200);
    }
    expect_rate_limited(me(&app, &alice_session).await).await;
    // Other credentials, even the same user's API token, keep their own allowance.
    assert_eq!(me(&app, &bob_session).await.status(), 200);
    assert_eq!(me(&app, &alice_api_token).await.status(), 200);
    // Anonymous requests are limited separately.
    assert_eq!(app.get("/api/openapi.json").await.status(), 200);
}

#[tokio::test]
async fn anonymous_requests_are_limited_per_address() {
    let app = spawn(Spawn { vars: vec![("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "3")], ..Spawn::default() }).await;
    let get = |client: &reqwest::Client, path: &str| client.get(format!("{}{path}", app.address)).send();
    let first = client_from([127, 0, 0, 1]);
    for _ in 0..3 {
        assert_eq!(get(&first, "/api/openapi.json").await.unwrap().status(), 200);
    }
    expect_rate_limited(get(&first, "/api/openapi.json").await.unwrap()).await;
    // Sign-in is anonymous too, with or without a stray credential.
    let body = serde_json::json!({ "tenant": "acme", "email": "alice@acme.test", "password": "guess" });
    let login = first.post(format!("{}/api/v1/auth/login", app.address)).json(&body);
    expect_rate_limited(login.send().await.unwrap()).await;
    let login = first.post(format!("{}/api/v1/auth/login", app.address)).bearer_auth("stale").json(&body);
    expect_rate_limited(login.send().await.unwrap()).await;
    // Health checks and the web app are not limited.
    assert_eq!(get(&first, "/healthz").await.unwrap().status(), 200);
    assert_eq!(get(&first, "/").await.unwrap().status(), 200);

    // Another address has its own allowance.
    let second = client_from([127, 0, 0, 2]);
    assert_eq!(get(&second, "/api/openapi.json").await.unwrap().status(), 200);
}

#[tokio::test]
async fn guessing_tokens_is_charged_to_the_address() {
    let app = spawn(Spawn { vars: vec![("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "3")], ..Spawn::default() }).await;
    let acme = app.tenant("acme").await;
    let alice = app.user(&acme, "alice@acme.test", Role::User, "pw-alice-1").await;
    let guesser = client_from([127, 0, 0, 3]);
    let guess = |n: u32| {
        guesser.get(format!("{}/api/v1/auth/me", app.address)).bearer_auth(format!("pmt_guess{n}")).send()
    };
    // Each guess is a fresh credential, but after the first failure they count per address.
    let mut statuses = Vec::new();
    for n in 0..6 {
        statuses.push(guess(n).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses[..4], [401, 401, 401, 401], "{statuses:?}");
    expect_rate_limited(guess(99).await.unwrap()).await;
    // A working credential from elsewhere is unaffected.
    assert_eq!(me(&app, &app.session_token(&acme, &alice).await).await.status(), 200);
}
