//! `GET /api/v1/analytics` for a tenant with 1,000 users and 100,000 prompts, on SQLite and on
//! PostgreSQL (`cargo xtask bench`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use api::config::Settings;
use api::startup::Application;
use auth::session_token::{SessionClaims, SessionTokens};
use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use domain::Secret;
use domain::prompt::{NewPrompt, PromptFields, PromptName, Visibility};
use domain::tenant::{NewTenant, Subdomain, TenantName};
use domain::user::{Email, NewUser, Role};
use persistence::ClientInfo;
use persistence::testing::TestDatabase;
use persistence::testing::{operator, scope_of};

const USERS: usize = 1_000;
const PROMPTS: usize = 100_000;
const KEY: &str = "bench-secret-key-0123456789abcdef0123456789";
const CATEGORIES: [&str; 8] =
    ["Writing", "Code", "Support", "Sales", "Legal", "Research", "HR", "Uncategorized"];

struct Seeded {
    address: String,
    token: String,
    _db: TestDatabase,
}

async fn seed(db: TestDatabase) -> Seeded {
    let now = Utc::now();
    let tx = db.database().begin().await.unwrap();
    let new_tenant = NewTenant {
        name: TenantName::parse("Bench").unwrap(),
        subdomain: Subdomain::parse("bench").unwrap(),
        max_users: 10_000,
    };
    let tenant = tx.system(operator()).await.unwrap().create_tenant(new_tenant, now).await.unwrap();
    let repo = tx.tenant(scope_of(&tenant)).await.unwrap();
    let mut users = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let role = if i == 0 { Role::Admin } else { [Role::User, Role::Readonly][i % 2] };
        let new = NewUser {
            email: Email::parse(&format!("user{i}@bench.test")).unwrap(),
            first_name: "Bench".into(),
            last_name: format!("{i}"),
            role,
            password_hash: None,
        };
        users.push(repo.create_user(new, now).await.unwrap());
    }
    for i in 0..PROMPTS {
        let prompt = NewPrompt {
            owner: users[i % USERS].id,
            fields: PromptFields {
                name: PromptName::parse(&format!("prompt-{i}")).unwrap(),
                title: format!("Prompt {i}"),
                content: "Summarise {{text}} in {{words}} words.".into(),
                category: CATEGORIES[i % CATEGORIES.len()].into(),
                tags: vec!["bench".into()],
                is_enhancement_prompt: false,
                visibility: Visibility::Tenant,
                bundle: domain::bundle::Bundle::basic_text("Summarise {{text}} in {{words}} words."),
            },
            commit_message: None,
        };
        repo.create_prompt(prompt, now - Duration::minutes((i % (60 * 24 * 60)) as i64)).await.unwrap();
    }
    tx.commit().await.unwrap();

    let admin = &users[0];
    let expires = now + Duration::hours(2);
    let session = db
        .database()
        .tenant(scope_of(&tenant))
        .create_session(admin.id, expires, None, &ClientInfo::default(), now)
        .await
        .unwrap();
    let claims = SessionClaims::new(admin.id, tenant.id, admin.role, session.id, now, expires);
    let token = SessionTokens::new(&Secret::new(KEY.to_owned())).unwrap().sign(&claims).unwrap();

    let vars = [
        ("SECRET_KEY", KEY),
        ("SERVER_HOST", "127.0.0.1"),
        ("SERVER_PORT", "0"),
        ("RATE_LIMIT_PER_MINUTE", "0"),
    ];
    let mut settings = Settings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
    settings.database = db.settings().clone();
    settings.web_dist_dir = Some(std::env::temp_dir().join("no-web-app"));
    let app = Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Seeded { address, token, _db: db }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let client = reqwest::Client::new();
    let mut group = c.benchmark_group("analytics");
    group.sample_size(20);
    for backend in ["sqlite", "postgres"] {
        let seeded = runtime.block_on(async {
            let db = if backend == "sqlite" {
                TestDatabase::sqlite().await
            } else {
                TestDatabase::postgres().await
            };
            seed(db).await
        });
        group.bench_function(format!("tenant_100k_prompts_1k_users/{backend}"), |b| {
            b.to_async(&runtime).iter(|| async {
                let response = client
                    .get(format!("{}/api/v1/analytics", seeded.address))
                    .bearer_auth(&seeded.token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["prompts_total"], PROMPTS);
            });
        });
        drop(seeded);
    }
    group.finish();
}

criterion_group!(analytics, benches);
criterion_main!(analytics);
