//! The prompt library's hot paths under load from a real HTTP load generator (`wrk`), against
//! 1,000 tenants × 1,000 prompts (1M prompts) on SQLite and on PostgreSQL, next to a bare
//! actix-web route answering a constant in the same run (`cargo xtask bench`).
//!
//! Measured, each for `DURATION` after a warm-up, at `CONNECTIONS` connections:
//! (a) `GET /api/v1/prompts/{name}` with an API token, rotating over the tenant's prompts, with
//!     the read cache on (the default) and off;
//! (a') the same by release label, `?label=production`, which names each prompt's previous
//!     version (so an uncached fetch also reads that version), cache on and off;
//! (b) `GET /api/v1/prompts?q=…`, rotating over search words;
//! (bare) `GET /` on a bare actix-web server with as many workers as the app.
//! Prints a table and writes `target/bench/library_load.json`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use persistence::testing::{operator, scope_of};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use actix_web::{App, HttpServer, web};
use api::config::Settings;
use api::startup::Application;
use chrono::Utc;
use domain::prompt::{NewPrompt, PromptFields, PromptKey, PromptName, Viewer, Visibility};
use domain::release::{LabelName, NewLabelMove};
use domain::session::{NewApiToken, TokenScope};
use domain::tenant::{NewTenant, Subdomain, TenantName};
use domain::user::{Email, NewUser, Role};

use persistence::PromptChange;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};

/// `LIBRARY_BENCH_TENANTS` overrides it for a quick trial run.
const TENANTS: usize = 1_000;
const PROMPTS_PER_TENANT: usize = 1_000;
const CONNECTIONS: usize = 32;
const DURATION: &str = "10s";
const WARM_UP: &str = "2s";
const KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
/// The tenant whose prompts are fetched (any would do; one in the middle).
const MEASURED_TENANT: usize = 500;
const WORDS_PER_PROMPT: usize = 60;
const VOCABULARY: usize = 1_000;
const CATEGORIES: [&str; 8] =
    ["Writing", "Code", "Support", "Sales", "Legal", "Research", "HR", "Uncategorized"];

/// A small deterministic generator (xorshift), so every run seeds the same text.
struct Words(u64);

impl Words {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % VOCABULARY as u64) as usize
    }
}

fn word(i: usize) -> String {
    // Pronounceable, distinct words: "ba", "be", … combined.
    const SYLLABLES: [&str; 20] = [
        "ba", "ke", "lo", "mi", "nu", "ra", "se", "ti", "vo", "za", "do", "fe", "gu", "ha", "ji", "ko", "le",
        "ma", "ne", "po",
    ];
    format!("{}{}{}", SYLLABLES[i % 20], SYLLABLES[(i / 20) % 20], SYLLABLES[(i / 400) % 20])
}

fn tenants() -> usize {
    std::env::var("LIBRARY_BENCH_TENANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(TENANTS)
}

fn prompt_name(i: usize) -> String {
    format!("folder-{}/prompt-{i}", i % 10)
}

struct Target {
    /// The server with its read cache (the default).
    address: String,
    /// The same database served without the read cache: every request reaches the database.
    uncached_address: String,
    token: String,
    seed_seconds: f64,
    _db: TestDatabase,
}

async fn seed(db: TestDatabase) -> Target {
    let started = Instant::now();
    let now = Utc::now();
    let mut words = Words(0x2545_F491_4F6C_DD1D);
    let mut token = None;
    for t in 0..tenants() {
        let tx = db.database().begin().await.unwrap();
        let new_tenant = NewTenant {
            name: TenantName::parse(&format!("Tenant {t}")).unwrap(),
            subdomain: Subdomain::parse(&format!("tenant-{t}")).unwrap(),
            max_users: 10,
        };
        let tenant = tx.system(operator()).await.unwrap().create_tenant(new_tenant, now).await.unwrap();
        let repo = tx.tenant(scope_of(&tenant)).await.unwrap();
        let new_user = NewUser {
            email: Email::parse(&format!("owner@tenant-{t}.test")).unwrap(),
            first_name: "Owner".into(),
            last_name: format!("{t}"),
            role: Role::User,
            password_hash: None,
        };
        let owner = repo.create_user(new_user, now).await.unwrap();
        let prompts = (0..PROMPTS_PER_TENANT)
            .map(|i| {
                let text: Vec<String> = (0..WORDS_PER_PROMPT).map(|_| word(words.next())).collect();
                let content = format!("{} {{{{input}}}} {}.", text[2..30].join(" "), text[30..].join(" "));
                NewPrompt {
                    owner: owner.id,
                    fields: PromptFields {
                        name: PromptName::parse(&prompt_name(i)).unwrap(),
                        title: format!("{} {}", text[0], text[1]),
                        bundle: domain::bundle::Bundle::basic_text(&content),
                        content,
                        category: CATEGORIES[i % CATEGORIES.len()].into(),
                        tags: vec![text[3].clone(), text[4].clone()],
                        is_enhancement_prompt: i % 50 == 0,
                        visibility: Visibility::Tenant,
                    },
                    commit_message: None,
                }
            })
            .collect();
        repo.seed_prompts(prompts, now).await.unwrap();
        if t == MEASURED_TENANT.min(tenants() / 2) {
            release_previous_versions(&repo, owner.id, now).await;
            let generated = auth::api_token::generate();
            let new = NewApiToken {
                user_id: owner.id,
                name: "bench".into(),
                prefix: generated.prefix,
                token_hash: generated.hash,
                scope: TokenScope::Read,
                expires_at: None,
            };
            repo.create_api_token(new, now).await.unwrap();
            token = Some(generated.secret.expose().clone());
        }
        tx.commit().await.unwrap();
    }
    db.analyze().await;
    let seed_seconds = started.elapsed().as_secs_f64();

    let serve = |read_cache_ttl: std::time::Duration| {
        // Load, not the general rate limit, is measured.
        let vars = [
            ("SECRET_KEY", KEY),
            ("SERVER_HOST", "127.0.0.1"),
            ("SERVER_PORT", "0"),
            ("RATE_LIMIT_PER_MINUTE", "0"),
            ("RATE_LIMIT_ANONYMOUS_PER_MINUTE", "0"),
        ];
        let mut settings =
            Settings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        settings.database = db.settings().clone();
        settings.web_dist_dir = Some(std::env::temp_dir().join("no-web-app"));
        settings.read_cache_ttl = read_cache_ttl;
        async move {
            let app = Application::build(settings).await.unwrap();
            let address = format!("http://127.0.0.1:{}", app.port());
            tokio::spawn(app.run_until_stopped());
            address
        }
    };
    let address = serve(std::time::Duration::from_secs(2)).await;
    let uncached_address = serve(std::time::Duration::ZERO).await;
    Target { address, uncached_address, token: token.unwrap(), seed_seconds, _db: db }
}

/// Gives each of the tenant's prompts a second version, and points `production` at the first.
async fn release_previous_versions<C: sea_orm::ConnectionTrait>(
    repo: &persistence::TenantRepo<C>,
    owner: domain::UserId,
    now: chrono::DateTime<Utc>,
) {
    let viewer = Viewer { user: owner, role: Role::User };
    let production = LabelName::parse("production").unwrap();
    for i in 0..PROMPTS_PER_TENANT {
        let key = PromptKey::Name(PromptName::parse(&prompt_name(i)).unwrap());
        let current = repo.prompt(&viewer, &key).await.unwrap().unwrap();
        let content = format!("{} Then check it twice.", current.content);
        let fields = PromptFields {
            bundle: domain::bundle::Bundle::basic_text(&content),
            content,
            ..current.fields()
        };
        let change = PromptChange { author: owner, commit_message: None, restored_from: None };
        repo.update_prompt(&current, fields, change, now).await.unwrap().unwrap();
        let release = NewLabelMove {
            label: production.clone(),
            to: Some(1),
            split: None,
            reason: None,
            rollback_of: None,
            moved_by: owner,
            approved_by: None,
        };
        repo.move_label(current.id, None, release, now).await.unwrap().unwrap();
    }
}

/// A wrk script that rotates over `paths` and prints its summary as one JSON line.
fn script(dir: &Path, name: &str, paths: &[String]) -> PathBuf {
    let list = paths.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(",");
    let lua = format!(
        r#"local paths = {{{list}}}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{{"requests":%d,"duration_us":%d,"socket_errors":%d,"non_2xx":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d}}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"#
    );
    let path = dir.join(format!("{name}.lua"));
    std::fs::write(&path, lua).unwrap();
    path
}

/// Runs wrk (a warm-up, then the measurement) and returns its summary.
fn wrk(base: &str, script: &Path, token: Option<&str>) -> Value {
    let run = |duration: &str| {
        let mut command = Command::new("wrk");
        command.args(["-t2", &format!("-c{CONNECTIONS}"), &format!("-d{duration}"), "--timeout", "5s", "-s"]);
        command.arg(script);
        if let Some(token) = token {
            command.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        let output = command.arg(base).output().expect("wrk runs (cargo xtask bench installs it)");
        assert!(output.status.success(), "wrk failed: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let line = stdout.lines().rev().find(|l| l.starts_with('{')).expect("wrk printed its summary");
        serde_json::from_str::<Value>(line).unwrap()
    };
    run(WARM_UP);
    let summary = run(DURATION);
    assert_eq!(summary["non_2xx"], 0, "every measured response was a success: {summary}");
    assert_eq!(summary["socket_errors"], 0, "no socket errors: {summary}");
    let seconds = summary["duration_us"].as_f64().unwrap() / 1e6;
    json!({
        "requests_per_second": summary["requests"].as_f64().unwrap() / seconds,
        "p50_ms": summary["p50_us"].as_f64().unwrap() / 1e3,
        "p95_ms": summary["p95_us"].as_f64().unwrap() / 1e3,
        "p99_ms": summary["p99_us"].as_f64().unwrap() / 1e3,
    })
}

fn bare_server() -> String {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = HttpServer::new(|| App::new().route("/", web::get().to(|| async { "ok" })))
        .workers(workers)
        .bind(("127.0.0.1", 0))
        .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    format!("http://127.0.0.1:{port}")
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fetch_paths: Vec<String> = (0..PROMPTS_PER_TENANT)
        .map(|i| format!("/api/v1/prompts/{}", prompt_name(i).replace('/', "%2F")))
        .collect();
    let mut words = Words(0x9E37_79B9_7F4A_7C15);
    let search_paths: Vec<String> =
        (0..200).map(|_| format!("/api/v1/prompts?q={}", word(words.next()))).collect();
    let label_paths: Vec<String> = fetch_paths.iter().map(|p| format!("{p}?label=production")).collect();
    let fetch_script = script(dir.path(), "fetch", &fetch_paths);
    let label_script = script(dir.path(), "label", &label_paths);
    let search_script = script(dir.path(), "search", &search_paths);
    let bare_script = script(dir.path(), "bare", &["/".to_owned()]);

    let mut results = serde_json::Map::new();
    runtime.block_on(async {
        let bare = bare_server();
        for backend in ["sqlite", "postgres"] {
            let db = if backend == "sqlite" {
                TestDatabase::sqlite().await
            } else {
                TestDatabase::postgres().await
            };
            eprintln!("seeding {backend}: {} tenants × {PROMPTS_PER_TENANT} prompts…", tenants());
            let target = seed(db).await;
            eprintln!("seeded {backend} in {:.0} s", target.seed_seconds);
            // wrk blocks; the servers run on their own threads.
            let run = |address: &str, script: &PathBuf| {
                let (address, token, script) = (address.to_owned(), target.token.clone(), script.clone());
                tokio::task::spawn_blocking(move || wrk(&address, &script, Some(&token)))
            };
            let fetch = run(&target.address, &fetch_script).await.unwrap();
            let fetch_uncached = run(&target.uncached_address, &fetch_script).await.unwrap();
            let label = run(&target.address, &label_script).await.unwrap();
            let label_uncached = run(&target.uncached_address, &label_script).await.unwrap();
            let search = run(&target.address, &search_script).await.unwrap();
            let bare_run = tokio::task::spawn_blocking({
                let (bare, script) = (bare.clone(), bare_script.clone());
                move || wrk(&bare, &script, None)
            })
            .await
            .unwrap();
            results.insert(
                backend.to_owned(),
                json!({
                    "seed_seconds": target.seed_seconds,
                    "fetch_by_name": fetch,
                    "fetch_by_name_uncached": fetch_uncached,
                    "fetch_by_label": label,
                    "fetch_by_label_uncached": label_uncached,
                    "search": search,
                    "bare": bare_run,
                }),
            );
            drop(target);
        }
    });

    println!(
        "\n{CONNECTIONS} connections, {DURATION} each, {} tenants × {PROMPTS_PER_TENANT} prompts",
        tenants()
    );
    println!("| database | endpoint | requests/s | p50 ms | p95 ms | p99 ms | throughput vs bare |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (backend, result) in &results {
        let bare_rps = result["bare"]["requests_per_second"].as_f64().unwrap();
        for (label, key) in [
            ("(a) fetch by name", "fetch_by_name"),
            ("(a) fetch by name, read cache off", "fetch_by_name_uncached"),
            ("(a') fetch by label", "fetch_by_label"),
            ("(a') fetch by label, read cache off", "fetch_by_label_uncached"),
            ("(b) search", "search"),
            ("bare actix route", "bare"),
        ] {
            let run = &result[key];
            let rps = run["requests_per_second"].as_f64().unwrap();
            println!(
                "| {backend} | {label} | {rps:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                run["p50_ms"].as_f64().unwrap(),
                run["p95_ms"].as_f64().unwrap(),
                run["p99_ms"].as_f64().unwrap(),
                rps / bare_rps
            );
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from);
    let out = target.join("bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("library_load.json"),
        serde_json::to_string_pretty(&Value::Object(results)).unwrap(),
    )
    .unwrap();
}
