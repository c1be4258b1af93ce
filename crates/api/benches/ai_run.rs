//! What running a prompt through the server costs on top of the AI service itself, and what
//! streamed runs cost in memory (`cargo xtask bench`).
//!
//! Everything runs in this process: a minimal, fast OpenAI-compatible provider on loopback
//! (actix-web, `POST /v1/chat/completions`), the app (`Application::build` on a fresh SQLite
//! file) and one keep-alive HTTP client.
//!
//! 1. Added latency. Sequential requests, `SAMPLES` of each after `WARM_UP`, interleaved in
//!    blocks of `BLOCK` so that noise on the shared machine hits every kind alike:
//!    - (a) `POST /v1/chat/completions` on the provider directly;
//!    - (b) `POST /api/v1/prompts/{id}/run` with an API token, which renders the prompt, calls
//!      the same provider and writes a `prompt_runs` row (on SQLite; that write is part of the
//!      real cost);
//!    - to see where the difference goes, (c) the same run against a connection whose provider
//!      is down (refused at once: everything but the provider call, the row included) and
//!      (d) `GET /api/v1/prompts/{id}` with the same token (authentication, routing and a
//!      cached read: the floor of any API request).
//!
//!    Judged: p50(b) − p50(a) ≤ 2 ms.
//! 2. Memory. This process's RSS (`VmRSS`; it holds the server, the provider and the client,
//!    whose share is small) at rest after a warm-up, at its peak while `STREAMS` streamed runs
//!    are open at once (the provider sends one delta every `DRIP_EVERY`, `DRIP_DELTAS` of
//!    them), and once they have all finished and RSS has settled; then a second such round,
//!    which tells memory kept for reuse by the allocator from memory lost.
//!
//!    Judged: peak − baseline ≤ 50 MB.
//!
//! Prints a table and writes `target/bench/ai_run.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use persistence::testing::{operator, scope_of};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use api::config::Settings;
use api::startup::Application;
use chrono::Utc;
use domain::session::{NewApiToken, TokenScope};
use domain::tenant::{NewTenant, Subdomain, TenantName};
use domain::user::{Email, NewUser, Role};
use futures_util::stream;

use persistence::testing::TestDatabase;
use serde_json::{Value, json};

const KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
const WARM_UP: usize = 200;
const SAMPLES: usize = 2_000;
const BLOCK: usize = 50;
const STREAMS: usize = 50;
const DRIP_DELTAS: usize = 60;
const DRIP_EVERY: Duration = Duration::from_millis(50);
/// How often RSS is read while the streams are open.
const RSS_EVERY: Duration = Duration::from_millis(10);
/// RSS counts as settled when it moved less than this over `SETTLE_WINDOW`…
const SETTLE_TOLERANCE_KB: u64 = 256;
const SETTLE_WINDOW: usize = 6;
const SETTLE_EVERY: Duration = Duration::from_millis(250);
/// …or after this long, whichever comes first.
const SETTLE_MAX: Duration = Duration::from_secs(10);

const TARGET_ADDED_P50_MS: f64 = 2.0;
const TARGET_GROWTH_MB: f64 = 50.0;

/// The provider's whole answer: small, fixed, with usage.
const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"fast","choices":[{"index":0,"message":{"role":"assistant","content":"Hello, Ada! Nice to meet you."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}"#;

fn chunk(model: &str, delta: &Value, finish: Option<&str>) -> Bytes {
    let event = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {event}\n\n"))
}

fn stream_end(model: &str) -> Vec<Bytes> {
    let usage = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": model,
        "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": DRIP_DELTAS, "total_tokens": 12 + DRIP_DELTAS}});
    vec![
        chunk(model, &json!({}), Some("stop")),
        Bytes::from(format!("data: {usage}\n\n")),
        Bytes::from_static(b"data: [DONE]\n\n"),
    ]
}

/// `POST /v1/chat/completions`: the fixed answer; streamed, a few quick deltas, or with the
/// model `drip` one delta every `DRIP_EVERY`.
async fn chat(body: web::Json<Value>) -> HttpResponse {
    if !body["stream"].as_bool().unwrap_or(false) {
        return HttpResponse::Ok().content_type("application/json").body(COMPLETION);
    }
    let model = body["model"].as_str().unwrap_or("fast").to_owned();
    let mut sse = HttpResponse::Ok();
    sse.content_type("text/event-stream");
    if model == "drip" {
        let deltas = stream::unfold(0usize, |i| async move {
            if i == DRIP_DELTAS {
                return None;
            }
            tokio::time::sleep(DRIP_EVERY).await;
            let delta = if i == 0 {
                json!({"role": "assistant", "content": "word "})
            } else {
                json!({"content": "word "})
            };
            Some((Ok::<_, actix_web::Error>(chunk("drip", &delta, None)), i + 1))
        });
        let end = stream::iter(stream_end("drip").into_iter().map(Ok::<_, actix_web::Error>));
        return sse.streaming(futures_util::StreamExt::chain(deltas, end));
    }
    let mut chunks: Vec<Bytes> = ["Hello, ", "Ada! ", "Nice ", "to ", "meet ", "you."]
        .iter()
        .map(|word| chunk(&model, &json!({"content": word}), None))
        .collect();
    chunks.extend(stream_end(&model));
    sse.streaming(stream::iter(chunks.into_iter().map(Ok::<_, actix_web::Error>)))
}

/// The provider; returns its base URL (`http://127.0.0.1:<port>/v1`).
fn provider() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| App::new().route("/v1/chat/completions", web::post().to(chat)))
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/v1")
}

/// A base URL nothing listens on: a port bound, then released.
fn nobody() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}/v1")
}

struct Target {
    address: String,
    token: String,
    prompt: String,
    connection: String,
    down_connection: String,
    _db: TestDatabase,
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: Value) -> Value {
    let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "POST {url}: {answer}");
    answer
}

/// The app on a fresh SQLite file, with a tenant, a user, an API token, a prompt with one
/// variable and connections to the provider and to nobody.
async fn app(client: &reqwest::Client, provider_url: &str) -> Target {
    let db = TestDatabase::sqlite().await;
    let now = Utc::now();
    let tx = db.database().begin().await.unwrap();
    let new_tenant = NewTenant {
        name: TenantName::parse("Bench").unwrap(),
        subdomain: Subdomain::parse("bench").unwrap(),
        max_users: 10,
    };
    let tenant = tx.system(operator()).await.unwrap().create_tenant(new_tenant, now).await.unwrap();
    let repo = tx.tenant(scope_of(&tenant)).await.unwrap();
    let new_user = NewUser {
        email: Email::parse("ada@bench.test").unwrap(),
        first_name: "Ada".into(),
        last_name: "Bench".into(),
        role: Role::User,
        password_hash: None,
    };
    let user = repo.create_user(new_user, now).await.unwrap();
    let generated = auth::api_token::generate();
    let new_token = NewApiToken {
        user_id: user.id,
        name: "bench".into(),
        prefix: generated.prefix,
        token_hash: generated.hash,
        scope: TokenScope::ReadWrite,
        expires_at: None,
    };
    repo.create_api_token(new_token, now).await.unwrap();
    tx.commit().await.unwrap();
    let token = generated.secret.expose().clone();

    let vars = [
        ("SECRET_KEY", KEY),
        ("SERVER_HOST", "127.0.0.1"),
        ("SERVER_PORT", "0"),
        ("AI_ALLOW_PRIVATE_NETWORKS", "true"),
        // The maximum: the limiter never refuses a measured run.
        ("AI_RUNS_PER_MINUTE", "10000"),
        // Load, not the general rate limit, is measured.
        ("RATE_LIMIT_PER_MINUTE", "0"),
    ];
    let mut settings = Settings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
    settings.database = db.settings().clone();
    settings.web_dist_dir = Some(std::env::temp_dir().join("no-web-app"));
    // No tracing subscriber is installed: the server logs nothing.
    let application = Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    tokio::spawn(application.run_until_stopped());

    let prompt = post(
        client,
        &format!("{address}/api/v1/prompts"),
        &token,
        json!({"name": "greet", "title": "Greet", "content": "Say hello to {{name}} in one short sentence."}),
    )
    .await;
    let connection = |name: &str, base_url: &str| {
        json!({"name": name, "provider": "openai_compatible", "base_url": base_url, "model": "fast",
            "api_key": "sk-bench-0123456789abcdef"})
    };
    let url = format!("{address}/api/v1/ai/connections");
    let up = post(client, &url, &token, connection("Fast", provider_url)).await;
    let down = post(client, &url, &token, connection("Down", &nobody())).await;
    Target {
        address,
        token,
        prompt: prompt["id"].as_str().unwrap().to_owned(),
        connection: up["id"].as_str().unwrap().to_owned(),
        down_connection: down["id"].as_str().unwrap().to_owned(),
        _db: db,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Provider,
    Run,
    RunProviderDown,
    AuthenticatedGet,
}

const KINDS: [Kind; 4] = [Kind::Provider, Kind::Run, Kind::RunProviderDown, Kind::AuthenticatedGet];

/// One request of `kind`, answered and read to the end; its latency in microseconds.
async fn once(client: &reqwest::Client, target: &Target, provider_url: &str, kind: Kind) -> f64 {
    let request = match kind {
        Kind::Provider => client.post(format!("{provider_url}/chat/completions")).json(&json!({
            "model": "fast",
            "messages": [{"role": "user", "content": "Say hello to Ada in one short sentence."}],
        })),
        Kind::Run | Kind::RunProviderDown => {
            let connection =
                if matches!(kind, Kind::Run) { &target.connection } else { &target.down_connection };
            client
                .post(format!("{}/api/v1/prompts/{}/run", target.address, target.prompt))
                .bearer_auth(&target.token)
                .json(&json!({"connection": connection, "variables": {"name": "Ada"}}))
        }
        Kind::AuthenticatedGet => client
            .get(format!("{}/api/v1/prompts/{}", target.address, target.prompt))
            .bearer_auth(&target.token),
    };
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    let micros = started.elapsed().as_secs_f64() * 1e6;
    let expected = if matches!(kind, Kind::RunProviderDown) { 502 } else { 200 };
    assert_eq!(status, expected, "{}", String::from_utf8_lossy(&body));
    micros
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn summary(mut micros: Vec<f64>) -> Value {
    micros.sort_by(f64::total_cmp);
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    json!({
        "samples": micros.len(),
        "p50_ms": percentile(&micros, 50.0) / 1e3,
        "p90_ms": percentile(&micros, 90.0) / 1e3,
        "p99_ms": percentile(&micros, 99.0) / 1e3,
        "mean_ms": mean / 1e3,
    })
}

async fn latency(client: &reqwest::Client, target: &Target, provider_url: &str) -> Value {
    for _ in 0..WARM_UP {
        for kind in KINDS {
            once(client, target, provider_url, kind).await;
        }
    }
    let mut samples: Vec<Vec<f64>> = KINDS.iter().map(|_| Vec::with_capacity(SAMPLES)).collect();
    for _ in 0..SAMPLES / BLOCK {
        for (k, kind) in KINDS.into_iter().enumerate() {
            for _ in 0..BLOCK {
                samples[k].push(once(client, target, provider_url, kind).await);
            }
        }
    }
    let mut samples = samples.into_iter().map(summary);
    let (provider, run, down, get) =
        (samples.next().unwrap(), samples.next().unwrap(), samples.next().unwrap(), samples.next().unwrap());
    let p50 = |v: &Value| v["p50_ms"].as_f64().unwrap();
    json!({
        "warm_up": WARM_UP,
        "block": BLOCK,
        "provider_direct": provider,
        "run": run,
        "run_provider_down": down,
        "authenticated_get": get,
        "added_p50_ms": p50(&run) - p50(&provider),
        "target_added_p50_ms": TARGET_ADDED_P50_MS,
    })
}

/// This process's resident set, in KiB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Waits until RSS stops moving (or `SETTLE_MAX`) and returns it.
async fn settled_rss() -> u64 {
    let started = Instant::now();
    let mut window = std::collections::VecDeque::new();
    loop {
        window.push_back(rss_kb());
        if window.len() > SETTLE_WINDOW {
            window.pop_front();
        }
        let (low, high) = (window.iter().min().unwrap(), window.iter().max().unwrap());
        if (window.len() == SETTLE_WINDOW && high - low < SETTLE_TOLERANCE_KB)
            || started.elapsed() > SETTLE_MAX
        {
            return *window.back().unwrap();
        }
        tokio::time::sleep(SETTLE_EVERY).await;
    }
}

/// One streamed run with `model`, read to the end; the number of deltas. `opened` counts
/// streams that have received their first delta.
async fn streamed_run(
    client: reqwest::Client,
    target: Arc<Target>,
    model: &str,
    opened: Arc<AtomicUsize>,
) -> usize {
    let response = client
        .post(format!("{}/api/v1/prompts/{}/run", target.address, target.prompt))
        .bearer_auth(&target.token)
        .json(&json!({"connection": target.connection, "variables": {"name": "Ada"}, "model": model, "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut response = response;
    let mut body = Vec::new();
    let mut counted = false;
    while let Some(bytes) = response.chunk().await.unwrap() {
        body.extend_from_slice(&bytes);
        if !counted && body.windows(12).any(|w| w == b"event: delta") {
            counted = true;
            opened.fetch_add(1, Ordering::SeqCst);
        }
    }
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("event: done"), "the stream ended with its run: {text}");
    text.matches("event: delta").count()
}

async fn memory(client: &reqwest::Client, target: Target) -> Value {
    let target = Arc::new(target);
    // Warm-up: the streaming paths, a few at a time.
    let opened = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                tokio::spawn(streamed_run(client.clone(), Arc::clone(&target), "fast", Arc::clone(&opened)))
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    }
    let baseline = settled_rss().await;

    let first = round(client, &target, baseline).await;
    let after = settled_rss().await;
    // A second round: were the first round's pages kept for reuse (the peak stays put) or lost
    // (it climbs again)?
    let second = round(client, &target, after).await;
    let after_second = settled_rss().await;
    json!({
        "streams": STREAMS,
        "deltas_per_stream": DRIP_DELTAS,
        "delta_interval_ms": DRIP_EVERY.as_millis(),
        "all_open_after_ms": first.all_open_after.as_secs_f64() * 1e3,
        "streamed_seconds": first.seconds,
        "baseline_mb": mb(baseline),
        "peak_mb": mb(first.peak),
        "growth_mb": mb(first.peak) - mb(baseline),
        "after_mb": mb(after),
        "second_round_peak_mb": mb(second.peak),
        "second_round_after_mb": mb(after_second),
        "target_growth_mb": TARGET_GROWTH_MB,
    })
}

struct Round {
    /// The highest RSS seen from the launch to the last stream's end, in KiB.
    peak: u64,
    /// When every stream had received its first delta (before any had finished).
    all_open_after: Duration,
    seconds: f64,
}

/// `STREAMS` slow streamed runs at once, with RSS sampled until they have all finished.
async fn round(client: &reqwest::Client, target: &Arc<Target>, baseline: u64) -> Round {
    let opened = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..STREAMS)
        .map(|_| {
            let run = streamed_run(client.clone(), Arc::clone(target), "drip", Arc::clone(&opened));
            tokio::spawn(run)
        })
        .collect();
    let mut peak = baseline;
    let mut all_open_after = None;
    let mut ticker = tokio::time::interval(RSS_EVERY);
    while !handles.iter().all(tokio::task::JoinHandle::is_finished) {
        ticker.tick().await;
        peak = peak.max(rss_kb());
        if all_open_after.is_none() && opened.load(Ordering::SeqCst) == STREAMS {
            assert!(
                !handles.iter().any(tokio::task::JoinHandle::is_finished),
                "all {STREAMS} streams were open at once"
            );
            all_open_after = Some(started.elapsed());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut deltas = 0;
    for handle in handles {
        deltas += handle.await.unwrap();
    }
    assert_eq!(deltas, STREAMS * DRIP_DELTAS, "every delta of every stream arrived");
    Round { peak, all_open_after: all_open_after.expect("all streams were open at once"), seconds }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let results = runtime.block_on(async {
        let provider_url = provider();
        let client = reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(300)).build().unwrap();
        let target = app(&client, &provider_url).await;
        eprintln!("measuring latency: {WARM_UP} + {SAMPLES} requests of each of {} kinds…", KINDS.len());
        let latency = latency(&client, &target, &provider_url).await;
        eprintln!("measuring memory: {STREAMS} concurrent streams…");
        let memory = memory(&client, target).await;
        json!({"latency": latency, "streams": memory})
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut results = results;
    results["bench_seconds"] = json!(seconds);

    let latency = &results["latency"];
    let f = |v: &Value, key: &str| v[key].as_f64().unwrap();
    println!(
        "\nsequential requests over one keep-alive connection, {SAMPLES} of each after {WARM_UP} warm-up"
    );
    println!("| request | p50 ms | p90 ms | p99 ms | mean ms |");
    println!("|---|---:|---:|---:|---:|");
    for (label, key) in [
        ("(a) provider directly", "provider_direct"),
        ("(b) run endpoint (writes a prompt_runs row)", "run"),
        ("(c) run endpoint, provider down (502)", "run_provider_down"),
        ("(d) GET the prompt (auth + cached read)", "authenticated_get"),
    ] {
        let s = &latency[key];
        println!(
            "| {label} | {:.3} | {:.3} | {:.3} | {:.3} |",
            f(s, "p50_ms"),
            f(s, "p90_ms"),
            f(s, "p99_ms"),
            f(s, "mean_ms")
        );
    }
    println!(
        "added latency at p50: {:.3} ms (target ≤ {TARGET_ADDED_P50_MS} ms)",
        f(latency, "added_p50_ms")
    );
    let streams = &results["streams"];
    println!(
        "\n{STREAMS} concurrent streams ({DRIP_DELTAS} deltas, one every {} ms; all open after {:.0} ms)",
        DRIP_EVERY.as_millis(),
        f(streams, "all_open_after_ms")
    );
    println!("| RSS baseline MB | peak MB | growth MB | after MB | 2nd round: peak MB | after MB |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
        f(streams, "baseline_mb"),
        f(streams, "peak_mb"),
        f(streams, "growth_mb"),
        f(streams, "after_mb"),
        f(streams, "second_round_peak_mb"),
        f(streams, "second_round_after_mb")
    );
    println!("(RSS of this process: server, provider and client together)\nbench took {seconds:.0} s");

    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from);
    let out = target.join("bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("ai_run.json"), serde_json::to_string_pretty(&results).unwrap()).unwrap();
}
