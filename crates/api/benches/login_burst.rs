//! Sign-in cost and its effect on everyone else (`cargo xtask bench`).
//!
//! - `password/hash_600k`: one PBKDF2-HMAC-SHA256 hash at the production cost.
//! - `sign_in/one`: one `POST /api/v1/auth/login` end to end over loopback.
//! - `me/idle` and `me/during_20_sign_ins`: latency of `GET /api/v1/auth/me` alone, and while 20
//!   sign-ins are continuously in flight. `cargo xtask bench` prints their ratio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api::config::Settings;
use api::startup::Application;
use auth::password::PasswordHasher;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const CONCURRENT_SIGN_INS: usize = 20;

struct Server {
    address: String,
    client: reqwest::Client,
    token: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("LOCAL_DEV_MODE", "true".to_owned()),
        ("SERVER_HOST", "127.0.0.1".to_owned()),
        ("SERVER_PORT", "0".to_owned()),
        ("DB_PATH", dir.path().join("bench.db").display().to_string()),
        ("WEB_DIST_DIR", dir.path().join("dist").display().to_string()),
        // The burst signs in one account from one address; throttling is not what is measured.
        ("LOGIN_MAX_FAILURES", "1000".to_owned()),
        // Nor is the general rate limit.
        ("RATE_LIMIT_PER_MINUTE", "0".to_owned()),
        ("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "0".to_owned()),
    ];
    let settings = Settings::from_vars(vars.into_iter().map(|(k, v)| (k.to_owned(), v))).unwrap();
    let app = Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let token = sign_in(&client, &address).await;
    Server { address, client, token, _dir: dir }
}

async fn sign_in(client: &reqwest::Client, address: &str) -> String {
    let body = json!({ "tenant": "localhost", "email": "admin@localhost", "password": "admin123" });
    let response = client.post(format!("{address}/api/v1/auth/login")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn me(server: &Server) {
    let response = server
        .client
        .get(format!("{}/api/v1/auth/me", server.address))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let server = Arc::new(runtime.block_on(start()));

    let mut password = c.benchmark_group("password");
    password.sample_size(10);
    let hasher = PasswordHasher::default();
    password.bench_function("hash_600k", |b| b.iter(|| hasher.hash("correct horse battery staple").unwrap()));
    password.finish();

    let mut sign_in_group = c.benchmark_group("sign_in");
    sign_in_group.sample_size(10);
    sign_in_group.bench_function("one", |b| {
        b.to_async(&runtime).iter(|| sign_in(&server.client, &server.address));
    });
    sign_in_group.finish();

    let mut me_group = c.benchmark_group("me");
    me_group.bench_function("idle", |b| b.to_async(&runtime).iter(|| me(&server)));

    // Keep CONCURRENT_SIGN_INS sign-ins in flight for as long as the measurement runs.
    let running = Arc::new(AtomicBool::new(true));
    let burst: Vec<_> = (0..CONCURRENT_SIGN_INS)
        .map(|_| {
            let (server, running) = (server.clone(), running.clone());
            runtime.spawn(async move {
                while running.load(Ordering::Relaxed) {
                    sign_in(&server.client, &server.address).await;
                }
            })
        })
        .collect();
    runtime.block_on(async { tokio::time::sleep(Duration::from_secs(1)).await }); // let the burst build up
    me_group.bench_function("during_20_sign_ins", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let server = server.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    me(&server).await;
                }
                start.elapsed()
            }
        });
    });
    me_group.finish();
    running.store(false, Ordering::Relaxed);
    for task in burst {
        runtime.block_on(task).unwrap();
    }
}

criterion_group!(login_burst, benches);
criterion_main!(login_burst);
