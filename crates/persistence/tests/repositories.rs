//! Repository behaviour, run against a fresh SQLite file and a fresh PostgreSQL database each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::ai::{ConnectionSettings, GenerationOptions, KeyChange, ModelPrice, NewRun, Provider, Usage};
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::prompt::NewPrompt;
use domain::prompt::{PromptFields, PromptKey, PromptName, PromptSort, Viewer, Visibility};
use domain::tenant::{NewTenant, Subdomain, Tenant, TenantName};
use domain::user::{Email, NewUser, Role};
use domain::wire::{AiPolicy, RunKind, RunOutcome};
use persistence::testing::{operator, query_text, scope_of};
use persistence::{
    Backend, Database, DayTotal, ModelTotal, PromptChange, PromptFilter, RunViewer, StoreError, TenantScope,
    UserFilter,
};

persistence::test_on_both_databases!(
    migrations_create_every_table_and_are_idempotent,
    tenants_are_created_and_found_by_subdomain,
    duplicate_subdomain_is_a_conflict,
    users_are_scoped_to_their_tenant,
    emails_are_unique_per_tenant_only,
    audit_events_are_scoped_to_their_tenant,
    dropped_transaction_keeps_nothing,
    foreign_keys_are_enforced,
    lists_page_by_cursor_and_search_literally,
    deleting_a_user_keeps_or_transfers_their_prompts,
    analytics_are_counted_by_the_database,
    prompt_search_is_ranked_prefixed_and_stays_in_its_tenant,
    search_gives_the_same_results_on_both_databases,
    huge_prompts_are_indexed_within_the_databases_limits,
    prompt_updates_are_versioned_and_refuse_stale_writes,
    private_prompt_names_live_in_their_owners_namespace,
    a_free_name_for_a_renamed_import_is_found_in_one_query,
    prompt_categories_and_tags_are_counted_for_the_viewer,
    ai_connections_are_scoped_to_tenant_and_owner,
    ai_policy_and_user_settings_round_trip,
    runs_are_recorded_listed_expired_and_counted,
);

/// On PostgreSQL the pool acts as the application's role under row-level security: a query
/// that names no tenant sees no tenant's rows and may write none, however it is written; the
/// repositories, which name their tenant in every transaction, see their own rows only.
#[tokio::test]
async fn postgres_row_security_hides_every_row_from_a_query_without_a_tenant() {
    let test_db = persistence::testing::TestDatabase::postgres().await;
    let db = test_db.database();
    let (acme, globex) = (tenant(db, "acme").await, tenant(db, "globex").await);
    let (acme_scope, globex_scope) = (scope_of(&acme), scope_of(&globex));
    let ann = db.tenant(acme_scope).create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let new = NewPrompt {
        owner: ann.id,
        fields: fields("memo", "Memo", "text", &[], Visibility::Tenant),
        commit_message: None,
    };
    db.tenant(acme_scope).create_prompt(new, at(2)).await.unwrap();

    assert_eq!(query_text(db, "SELECT current_user").await.as_deref(), Some("prompt_manager_app"));
    for table in ["tenants", "users", "prompts", "prompt_versions", "audit_events"] {
        let count = query_text(db, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(count.as_deref(), Some("0"), "{table} without a tenant");
    }
    let forged = format!(
        "INSERT INTO audit_events (id, tenant_id, action, target_type, details, created_at) \
         VALUES ('{}', '{}', 'login_failed', 'user', '{{}}', now())",
        uuid::Uuid::now_v7(),
        acme.id.as_uuid()
    );
    let refused = persistence::testing::execute(db, &forged).await;
    assert!(refused.is_err(), "a write without a tenant must be refused: {refused:?}");

    // Through the repositories each tenant sees exactly its own.
    let visible = |scope| async move { db.tenant(scope).prompt_owners().await.unwrap().len() };
    assert_eq!(visible(acme_scope).await, 1);
    assert_eq!(visible(globex_scope).await, 0);
}

/// Instances that start together on an empty PostgreSQL all migrate at once: they take turns,
/// every one succeeds, and the schema is there once.
#[tokio::test]
async fn postgres_instances_starting_together_migrate_in_turn() {
    let test_db = persistence::testing::TestDatabase::postgres_unmigrated().await;
    let mut migrating = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let instance = Database::connect(test_db.settings()).await.unwrap();
        migrating.spawn(async move { instance.migrate().await });
    }
    while let Some(result) = migrating.join_next().await {
        result.unwrap().expect("every instance migrates");
    }
    let applied = test_db.query_text_as_owner("SELECT count(*)::text FROM seaql_migrations").await;
    let expected = <migrations::Migrator as migrations::MigratorTrait>::migrations().len().to_string();
    assert_eq!(applied.as_deref(), Some(expected.as_str()), "every migration applied once");
    let db = test_db.database();
    let acme = tenant(db, "acme").await;
    assert_eq!(
        db.system(operator()).tenant_by_subdomain(&acme.subdomain).await.unwrap().map(|t| t.id),
        Some(acme.id)
    );
}

/// A library with two prompts, one of them at version 2, in tenant `acme`; what
/// [`library_snapshot`] of it reads.
async fn library_to_back_up(db: &Database) -> (TenantScope, Viewer) {
    let acme = tenant(db, "acme").await;
    let scope = scope_of(&acme);
    let repo = db.tenant(scope);
    let ann = repo.create_user(new_user("ann@acme.test", Role::Admin), at(1)).await.unwrap();
    for (name, content) in [("support/welcome", "Hello {{customer}}"), ("notes", "Plain")] {
        let new = NewPrompt {
            owner: ann.id,
            fields: fields(name, name, content, &["kept"], Visibility::Tenant),
            commit_message: None,
        };
        repo.create_prompt(new, at(2)).await.unwrap();
    }
    let viewer = Viewer { user: ann.id, role: Role::Admin };
    let welcome = repo.prompt(&viewer, &PromptKey::Name(PromptName::parse("support/welcome").unwrap())).await;
    let change = PromptChange { author: ann.id, commit_message: Some("second".into()), restored_from: None };
    let edited = fields("support/welcome", "Welcome", "Hi {{customer}}", &["kept"], Visibility::Tenant);
    repo.update_prompt(&welcome.unwrap().unwrap(), edited, change, at(3)).await.unwrap().unwrap();
    (scope, viewer)
}

/// Every prompt with its versions' contents, newest first, as the restored copy must show them.
async fn library_snapshot(db: &Database, scope: TenantScope, viewer: &Viewer) -> Vec<(String, Vec<String>)> {
    let repo = db.tenant(scope);
    let prompts =
        repo.search_prompts(viewer, &PromptFilter::default(), PromptSort::Name, None, 50).await.unwrap();
    let mut snapshot = Vec::new();
    for prompt in prompts.items {
        let versions = repo.prompt_versions(prompt.id, None, 50).await.unwrap();
        snapshot
            .push((prompt.name.as_str().to_owned(), versions.items.into_iter().map(|v| v.content).collect()));
    }
    snapshot
}

/// Runs a backup or restore command as README's Deployment section gives it, off the runtime.
async fn run_tool(program: &str, args: Vec<String>) {
    let program = program.to_owned();
    let output =
        tokio::task::spawn_blocking(move || std::process::Command::new(&program).args(&args).output())
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("the backup test needs its command: {e}"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// SQLite: `sqlite3 prompts.db ".backup 'backup.db'"` while the server runs; the copy opened as
/// a database of its own holds the same prompts and versions.
#[tokio::test]
async fn sqlite_backups_restore_with_the_same_prompts() {
    let source = persistence::testing::TestDatabase::sqlite().await;
    let (scope, viewer) = library_to_back_up(source.database()).await;
    let persistence::DatabaseSettings::Sqlite { path, .. } = source.settings() else { unreachable!() };
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    run_tool("sqlite3", vec![path.display().to_string(), format!(".backup '{}'", backup.display())]).await;

    let restored = persistence::DatabaseSettings::Sqlite { path: backup, pool_size: 2 };
    let restored = Database::connect(&restored).await.unwrap();
    restored.migrate().await.unwrap();
    let expected = library_snapshot(source.database(), scope, &viewer).await;
    assert_eq!(expected.len(), 2);
    assert_eq!(expected[1].1, ["Hi {{customer}}", "Hello {{customer}}"], "{expected:?}");
    assert_eq!(library_snapshot(&restored, scope, &viewer).await, expected);
}

/// PostgreSQL: `pg_dump --format=custom` of the live database, `pg_restore --no-owner` into a
/// fresh, empty one; the server's role reads the same prompts and versions there, row-level
/// security and grants included.
#[tokio::test]
async fn postgres_backups_restore_into_a_fresh_database_with_the_same_prompts() {
    let source = persistence::testing::TestDatabase::postgres().await;
    let (scope, viewer) = library_to_back_up(source.database()).await;
    let target = persistence::testing::TestDatabase::postgres_unmigrated().await;
    let dsn = |db: &persistence::testing::TestDatabase| match db.settings() {
        persistence::DatabaseSettings::Postgres { dsn, .. } => dsn.expose().clone(),
        _ => unreachable!(),
    };
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.dump").display().to_string();
    run_tool("pg_dump", vec!["--format=custom".into(), format!("--file={backup}"), dsn(&source)]).await;
    let restore =
        vec!["--no-owner".into(), "--exit-on-error".into(), format!("--dbname={}", dsn(&target)), backup];
    run_tool("pg_restore", restore).await;

    let restored = Database::connect(target.settings()).await.unwrap();
    restored.migrate().await.expect("a restored database is up to date");
    let expected = library_snapshot(source.database(), scope, &viewer).await;
    assert_eq!(expected.len(), 2);
    assert_eq!(library_snapshot(&restored, scope, &viewer).await, expected);
}

/// A statement that runs past `statement_timeout` is cancelled by PostgreSQL and reads as a
/// timeout; the pool stays usable.
#[tokio::test]
async fn postgres_statements_time_out() {
    let test_db = persistence::testing::TestDatabase::postgres().await;
    let db = test_db.with_statement_timeout(std::time::Duration::from_millis(100)).await;
    let result = persistence::testing::execute(&db, "SELECT pg_sleep(1)").await;
    assert!(matches!(result, Err(StoreError::Timeout(_))), "{result:?}");
    assert_eq!(query_text(&db, "SELECT 'still here'").await.as_deref(), Some("still here"));
    assert_eq!(query_text(&db, "SHOW statement_timeout").await.as_deref(), Some("100ms"));
    // The default pool has the default timeout.
    assert_eq!(query_text(test_db.database(), "SHOW statement_timeout").await.as_deref(), Some("30s"));
    db.close().await.unwrap();
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn new_tenant(subdomain: &str) -> NewTenant {
    NewTenant {
        name: TenantName::parse(&format!("Tenant {subdomain}")).unwrap(),
        subdomain: Subdomain::parse(subdomain).unwrap(),
        max_users: 10,
    }
}

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        role,
        password_hash: Some("$pbkdf2-sha256$i=1000,l=32$c2FsdA$aGFzaA".to_owned().into()),
    }
}

async fn tenant(db: &Database, subdomain: &str) -> Tenant {
    db.system(operator()).create_tenant(new_tenant(subdomain), at(0)).await.unwrap()
}

async fn migrations_create_every_table_and_are_idempotent(db: Database) {
    db.migrate().await.expect("a second run changes nothing and succeeds");
    let table_query = match db.backend() {
        Backend::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN",
        Backend::Postgres => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN"
        }
    };
    let found = query_text(
        &db,
        &format!("{table_query} ('tenants','users','prompts','config','sessions','audit_events','ai_connections','ai_policies','prompt_runs')"),
    )
    .await;
    assert_eq!(found.as_deref(), Some("9"));
}

async fn tenants_are_created_and_found_by_subdomain(db: Database) {
    let created = tenant(&db, "acme").await;
    assert!(created.is_active);
    assert_eq!(created.max_users, 10);
    assert_eq!(created.created_at, at(0));

    let subdomain = Subdomain::parse("acme").unwrap();
    let found = db.system(operator()).tenant_by_subdomain(&subdomain).await.unwrap();
    assert_eq!(found.as_ref(), Some(&created));
    assert_eq!(db.system(operator()).tenant_by_id(created.id).await.unwrap(), Some(created));
    let missing = Subdomain::parse("nobody").unwrap();
    assert_eq!(db.system(operator()).tenant_by_subdomain(&missing).await.unwrap(), None);
    assert_eq!(db.system(operator()).count_tenants().await.unwrap(), 1);
}

async fn duplicate_subdomain_is_a_conflict(db: Database) {
    tenant(&db, "acme").await;
    let err = db.system(operator()).create_tenant(new_tenant("acme"), at(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(db.system(operator()).list_tenants(None, None, 10).await.unwrap().items.len(), 1);
}

#[allow(clippy::disallowed_methods)] // checks the sign-in lookup too
async fn users_are_scoped_to_their_tenant(db: Database) {
    let (acme_tenant, globex_tenant) = (tenant(&db, "acme").await, tenant(&db, "globex").await);
    let (acme, globex) = (scope_of(&acme_tenant), scope_of(&globex_tenant));

    let alice = db.tenant(acme).create_user(new_user("Alice@Acme.test", Role::Admin), at(1)).await.unwrap();
    assert_eq!(alice.email.as_str(), "alice@acme.test");
    assert_eq!(alice.tenant_id, acme.tenant_id());
    assert!(alice.has_password);
    db.tenant(globex).create_user(new_user("bob@globex.test", Role::User), at(2)).await.unwrap();

    let email = Email::parse("ALICE@acme.test").unwrap();
    assert_eq!(db.tenant(acme).user_by_email(&email).await.unwrap().as_ref(), Some(&alice));
    assert_eq!(db.tenant(acme).user_by_id(alice.id).await.unwrap().as_ref(), Some(&alice));

    // From another tenant, Alice does not exist.
    assert_eq!(db.tenant(globex).user_by_email(&email).await.unwrap(), None);
    assert_eq!(db.tenant(globex).user_by_id(alice.id).await.unwrap(), None);
    let globex_users =
        db.tenant(globex).list_users_page(&UserFilter::default(), None, 10).await.unwrap().items;
    assert_eq!(globex_users.len(), 1);
    assert_eq!(globex_users[0].email.as_str(), "bob@globex.test");
    assert_eq!(db.tenant(acme).count_active_users().await.unwrap(), 1);

    let hash = db.tenant(acme).password_hash(alice.id).await.unwrap();
    assert_eq!(hash.unwrap().expose(), "$pbkdf2-sha256$i=1000,l=32$c2FsdA$aGFzaA");
    assert!(db.tenant(globex).password_hash(alice.id).await.unwrap().is_none());

    // Sign-in finds Alice only in her own organisation, and her scope only once verified.
    let account = db.authentication().account(&acme_tenant, &email).await.unwrap().unwrap();
    assert_eq!(account.user, alice);
    assert!(account.password_hash.is_some());
    assert_eq!(account.verified().scope, acme);
    assert!(db.authentication().account(&globex_tenant, &email).await.unwrap().is_none());
}

async fn emails_are_unique_per_tenant_only(db: Database) {
    let acme = scope_of(&tenant(&db, "acme").await);
    let globex = scope_of(&tenant(&db, "globex").await);
    db.tenant(acme).create_user(new_user("sam@example.test", Role::User), at(1)).await.unwrap();

    let duplicate = db.tenant(acme).create_user(new_user("SAM@example.test", Role::Readonly), at(2)).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict)), "{duplicate:?}");
    db.tenant(globex)
        .create_user(new_user("sam@example.test", Role::User), at(3))
        .await
        .expect("the same address may exist in another tenant");
}

async fn audit_events_are_scoped_to_their_tenant(db: Database) {
    let acme = scope_of(&tenant(&db, "acme").await);
    let globex = scope_of(&tenant(&db, "globex").await);
    let event = |target: &str, seconds| NewAuditEvent {
        actor: Actor::System,
        action: AuditAction::UserCreated,
        target_type: "user",
        target_id: Some(target.to_owned()),
        details: serde_json::json!({ "email": target }),
        client_addr: Some("127.0.0.1".into()),
        at: at(seconds),
    };
    db.tenant(acme).record_audit(event("first", 1)).await.unwrap();
    db.tenant(acme).record_audit(event("second", 2)).await.unwrap();
    db.tenant(globex).record_audit(event("other", 3)).await.unwrap();
    db.system(operator()).record_audit(None, event("system-wide", 4)).await.unwrap();

    let acme_log = db.tenant(acme).list_audit(10).await.unwrap();
    let targets: Vec<_> = acme_log.iter().filter_map(|e| e.target_id.as_deref()).collect();
    assert_eq!(targets, ["second", "first"], "newest first, own tenant only");
    assert_eq!(acme_log[0].details["email"], "second");
    assert_eq!(acme_log[0].actor, Actor::System);
    assert_eq!(acme_log[0].created_at, at(2));

    assert_eq!(db.system(operator()).list_audit(10).await.unwrap().len(), 4);
    assert_eq!(
        db.system(operator()).list_audit(1).await.unwrap()[0].target_id.as_deref(),
        Some("system-wide")
    );
}

async fn dropped_transaction_keeps_nothing(db: Database) {
    {
        let tx = db.begin().await.unwrap();
        let t = tx.system(operator()).await.unwrap().create_tenant(new_tenant("ghost"), at(0)).await.unwrap();
        tx.tenant(scope_of(&t))
            .await
            .unwrap()
            .create_user(new_user("a@ghost.test", Role::Admin), at(0))
            .await
            .unwrap();
        // dropped without commit
    }
    assert_eq!(db.system(operator()).count_tenants().await.unwrap(), 0);

    let tx = db.begin().await.unwrap();
    tx.system(operator()).await.unwrap().create_tenant(new_tenant("kept"), at(0)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(db.system(operator()).count_tenants().await.unwrap(), 1);
}

async fn foreign_keys_are_enforced(db: Database) {
    // A scope for a tenant that was rolled back: the row it points at does not exist.
    let tx = db.begin().await.unwrap();
    let vanished = scope_of(
        &tx.system(operator()).await.unwrap().create_tenant(new_tenant("gone"), at(0)).await.unwrap(),
    );
    drop(tx);

    let result = db.tenant(vanished).create_user(new_user("x@gone.test", Role::User), at(1)).await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
}

mod sqlite_settings {
    use persistence::testing::TestDatabase;

    #[tokio::test]
    async fn sqlite_runs_with_wal_foreign_keys_and_busy_timeout() {
        let db = TestDatabase::sqlite().await;
        assert_eq!(db.query_text("PRAGMA journal_mode").await.as_deref(), Some("wal"));
        assert_eq!(db.query_text("PRAGMA foreign_keys").await.as_deref(), Some("1"));
        assert_eq!(db.query_text("PRAGMA busy_timeout").await.as_deref(), Some("5000"));
    }
}

async fn lists_page_by_cursor_and_search_literally(db: Database) {
    for name in ["alpha", "beta", "gamma", "delta", "per-cent"] {
        tenant(&db, name).await;
    }
    let first = db.system(operator()).list_tenants(None, None, 2).await.unwrap();
    assert_eq!(first.items.len(), 2);
    let cursor = first.next_cursor.expect("more pages");
    let second = db
        .system(operator())
        .list_tenants(None, Some(domain::TenantId::from_uuid(cursor)), 10)
        .await
        .unwrap();
    assert_eq!(second.items.len(), 3);
    assert_eq!(second.next_cursor, None);
    let all: Vec<_> =
        first.items.iter().chain(&second.items).map(|t| t.subdomain.as_str().to_owned()).collect();
    assert_eq!(all, ["alpha", "beta", "gamma", "delta", "per-cent"], "creation order, no overlap");

    let found = db.system(operator()).list_tenants(Some("ELT"), None, 10).await.unwrap();
    assert_eq!(found.items.iter().map(|t| t.subdomain.as_str()).collect::<Vec<_>>(), ["delta"]);
    // LIKE wildcards in the search text are matched literally.
    assert!(db.system(operator()).list_tenants(Some("%"), None, 10).await.unwrap().items.is_empty());
    assert!(db.system(operator()).list_tenants(Some("_"), None, 10).await.unwrap().items.is_empty());

    let scope = scope_of(&first.items[0]);
    db.tenant(scope).create_user(new_user("Zed@x.test", Role::Admin), at(1)).await.unwrap();
    db.tenant(scope).create_user(new_user("amy@x.test", Role::Readonly), at(2)).await.unwrap();
    let filter = UserFilter { q: Some("zed".into()), ..UserFilter::default() };
    let zed = db.tenant(scope).list_users_page(&filter, None, 10).await.unwrap();
    assert_eq!(zed.items.len(), 1);
    let readonly = UserFilter { role: Some(Role::Readonly), ..UserFilter::default() };
    assert_eq!(
        db.tenant(scope).list_users_page(&readonly, None, 10).await.unwrap().items[0].email.as_str(),
        "amy@x.test"
    );
}

fn prompt(owner: domain::UserId, name: &str, category: &str) -> NewPrompt {
    NewPrompt {
        owner,
        fields: domain::prompt::PromptFields {
            name: domain::prompt::PromptName::parse(name).unwrap(),
            title: name.into(),
            content: "Hello {{name}}".into(),
            category: category.into(),
            tags: vec!["t".into()],
            is_enhancement_prompt: false,
            visibility: domain::prompt::Visibility::Tenant,
            bundle: domain::bundle::Bundle::basic_text("Hello {{name}}"),
        },
        commit_message: None,
    }
}

async fn deleting_a_user_keeps_or_transfers_their_prompts(db: Database) {
    let scope = scope_of(&tenant(&db, "acme").await);
    let repo = db.tenant(scope);
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let ben = repo.create_user(new_user("ben@acme.test", Role::User), at(2)).await.unwrap();
    let cat = repo.create_user(new_user("cat@acme.test", Role::User), at(3)).await.unwrap();
    repo.create_prompt(prompt(ann.id, "a", "x"), at(4)).await.unwrap();
    repo.create_prompt(prompt(ben.id, "b", "x"), at(5)).await.unwrap();

    assert!(repo.delete_user(ann.id, Some(cat.id)).await.unwrap());
    assert!(repo.delete_user(ben.id, None).await.unwrap());
    assert_eq!(repo.prompt_owners().await.unwrap(), [Some(cat.id), None]);
    assert!(!repo.delete_user(ann.id, None).await.unwrap(), "already gone");
}

async fn analytics_are_counted_by_the_database(db: Database) {
    let acme = tenant(&db, "acme").await;
    let other = tenant(&db, "other").await;
    let repo = db.tenant(scope_of(&acme));
    let now = Utc::now();
    let ann = repo.create_user(new_user("ann@acme.test", Role::Admin), now).await.unwrap();
    let ben = repo.create_user(new_user("ben@acme.test", Role::User), now).await.unwrap();
    repo.create_user(new_user("cy@acme.test", Role::User), now).await.unwrap();
    repo.set_user_active(ben.id, false, now).await.unwrap();
    for (i, category) in ["Writing", "Writing", "Code"].iter().enumerate() {
        repo.create_prompt(prompt(ann.id, &format!("p{i}"), category), now - Duration::days(i as i64))
            .await
            .unwrap();
    }
    repo.create_prompt(prompt(ben.id, "old", "Code"), now - Duration::days(40)).await.unwrap();
    let login = |at| NewAuditEvent {
        actor: Actor::User(ann.id),
        action: AuditAction::LoginSucceeded,
        target_type: "user",
        target_id: None,
        details: serde_json::json!({}),
        client_addr: None,
        at,
    };
    repo.record_audit(login(now - Duration::days(1))).await.unwrap();
    repo.record_audit(login(now - Duration::days(10))).await.unwrap();
    repo.record_audit(login(now - Duration::days(60))).await.unwrap();
    let other_admin =
        db.tenant(scope_of(&other)).create_user(new_user("o@o.test", Role::Admin), now).await.unwrap();
    db.tenant(scope_of(&other)).create_prompt(prompt(other_admin.id, "o", "Other"), now).await.unwrap();

    let a = repo.analytics(now).await.unwrap();
    assert_eq!((a.users_total, a.users_active), (3, 2));
    let roles: Vec<_> = a.users_by_role.iter().map(|c| (c.key.as_str(), c.count)).collect();
    assert_eq!(roles, [("admin", 1), ("user", 2)]);
    assert_eq!((a.logins_last_7_days, a.logins_last_30_days), (1, 2));
    assert_eq!(a.prompts_total, 4);
    let categories: Vec<_> = a.prompts_by_category.iter().map(|c| (c.key.as_str(), c.count)).collect();
    assert_eq!(categories, [("Code", 2), ("Writing", 2)]);
    let days: Vec<_> = a.prompts_per_day.iter().map(|c| (c.key.clone(), c.count)).collect();
    let day = |d: i64| (now - Duration::days(d)).format("%Y-%m-%d").to_string();
    assert_eq!(days, [(day(2), 1), (day(1), 1), (day(0), 1)], "the 40-day-old prompt is outside the window");
    assert_eq!(a.top_contributors.len(), 2);
    assert_eq!((a.top_contributors[0].email.as_str(), a.top_contributors[0].prompts), ("ann@acme.test", 3));

    let (totals, tenants) = db.system(operator()).analytics(now).await.unwrap();
    assert_eq!((totals.users_total, totals.prompts_total), (4, 5));
    let acme_row = tenants.iter().find(|t| t.tenant_id == acme.id).unwrap();
    assert_eq!(
        (acme_row.users_total, acme_row.users_active, acme_row.prompts_total, acme_row.logins_last_30_days),
        (3, 2, 4, 2)
    );
}

fn fields(name: &str, title: &str, content: &str, tags: &[&str], visibility: Visibility) -> PromptFields {
    PromptFields {
        name: PromptName::parse(name).unwrap(),
        title: title.into(),
        content: content.into(),
        category: "General".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        is_enhancement_prompt: false,
        visibility,
        bundle: domain::bundle::Bundle::basic_text(content),
    }
}

fn search(q: &str) -> PromptFilter {
    PromptFilter { q: Some(q.into()), ..PromptFilter::default() }
}

async fn names_found(
    db: &Database,
    scope: TenantScope,
    viewer: &Viewer,
    filter: &PromptFilter,
) -> Vec<String> {
    let page =
        db.tenant(scope).search_prompts(viewer, filter, PromptSort::Relevance, None, 50).await.unwrap();
    page.items.into_iter().map(|p| p.name.as_str().to_owned()).collect()
}

async fn prompt_search_is_ranked_prefixed_and_stays_in_its_tenant(db: Database) {
    let acme = scope_of(&tenant(&db, "acme").await);
    let globex = scope_of(&tenant(&db, "globex").await);
    let ann = db.tenant(acme).create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let gus = db.tenant(globex).create_user(new_user("gus@globex.test", Role::User), at(1)).await.unwrap();
    let repo = db.tenant(acme);
    for (i, f) in [
        fields(
            "support/welcome-email",
            "Welcome",
            "Greet the customer warmly.",
            &["support"],
            Visibility::Tenant,
        ),
        fields(
            "code-review",
            "Review code",
            "Review this code; welcome the customer only once.",
            &[],
            Visibility::Tenant,
        ),
        fields(
            "percent",
            "100% literal",
            "Match 50%_off and O'Brien \"quoted\"",
            &["sales"],
            Visibility::Tenant,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewPrompt { owner: ann.id, fields: f, commit_message: None };
        repo.create_prompt(new, at(10 + i as i64)).await.unwrap();
    }
    let other = NewPrompt {
        owner: gus.id,
        fields: fields("globex-customer", "Customer", "customer customer customer", &[], Visibility::Tenant),
        commit_message: None,
    };
    db.tenant(globex).create_prompt(other, at(20)).await.unwrap();
    let viewer = Viewer { user: ann.id, role: Role::User };

    // Prefix, case-insensitive, every word; the name (weighted highest) ranks first.
    let mut both = names_found(&db, acme, &viewer, &search("CUSTOM")).await;
    both.sort();
    assert_eq!(both, ["code-review", "support/welcome-email"]);
    assert_eq!(
        names_found(&db, acme, &viewer, &search("welc")).await,
        ["support/welcome-email", "code-review"]
    );
    assert_eq!(names_found(&db, acme, &viewer, &search("review customer")).await, ["code-review"]);
    assert_eq!(names_found(&db, acme, &viewer, &search("support")).await, ["support/welcome-email"]);
    // Tags are searched; punctuation and quotes are only separators, never syntax.
    assert_eq!(names_found(&db, acme, &viewer, &search("sales")).await, ["percent"]);
    for hostile in ["50%_off", "o'brien", "\"quoted", "AND OR NOT", "tenant:x", "* ) (", "' OR 1=1 --"] {
        let found = names_found(&db, acme, &viewer, &search(hostile)).await;
        assert!(found.iter().all(|n| n != "globex-customer"), "{hostile}: {found:?}");
    }
    assert_eq!(names_found(&db, acme, &viewer, &search("o'brien")).await, ["percent"]);
    assert!(names_found(&db, acme, &viewer, &search("nothing-like-this")).await.is_empty());
    // The other tenant sees only its own.
    let gus_view = Viewer { user: gus.id, role: Role::User };
    assert_eq!(names_found(&db, globex, &gus_view, &search("customer")).await, ["globex-customer"]);
    // Updates and deletes keep the index in step.
    let code = repo
        .prompt(&viewer, &PromptKey::Name(PromptName::parse("code-review").unwrap()))
        .await
        .unwrap()
        .unwrap();
    let change = PromptChange { author: ann.id, commit_message: None, restored_from: None };
    let edited = fields("code-review", "Review code", "Look for bugs.", &[], Visibility::Tenant);
    repo.update_prompt(&code, edited, change, at(30)).await.unwrap().unwrap();
    assert_eq!(names_found(&db, acme, &viewer, &search("customer")).await, ["support/welcome-email"]);
    assert_eq!(names_found(&db, acme, &viewer, &search("bugs")).await, ["code-review"]);
    assert!(repo.delete_prompt(code.id).await.unwrap());
    assert!(names_found(&db, acme, &viewer, &search("bugs")).await.is_empty());
}

/// The prompts of the search parity table: one per kind of text.
const PARITY_PROMPTS: &[(&str, &str, &str)] = &[
    ("t-accent", "Café menu", "A naïve barista serves crème brûlée."),
    ("t-mail", "Contact", "Write to Ann.Lee@Example.com for access."),
    ("t-hyphen", "Workflow", "A state-of-the-art e-mail workflow."),
    ("t-digits", "Models", "Compare gpt4 with gpt-4o, released 2024."),
    ("t-zh", "Chinese", "这是一个中文提示词"),
    ("t-ja", "Japanese", "ユーザーガイドをひらがなで書く"),
    ("t-ko", "Korean", "한국어 프롬프트 예시"),
    ("t-plain", "Plain", "Nothing special here."),
];

/// Stores [`PARITY_PROMPTS`] in a new tenant; returns its scope and a viewer in it.
async fn parity_library(db: &Database) -> (TenantScope, Viewer) {
    let scope = scope_of(&tenant(db, "parity").await);
    let ann = db.tenant(scope).create_user(new_user("ann@parity.test", Role::User), at(1)).await.unwrap();
    for (i, (name, title, content)) in PARITY_PROMPTS.iter().enumerate() {
        let new = NewPrompt {
            owner: ann.id,
            fields: fields(name, title, content, &[], Visibility::Tenant),
            commit_message: None,
        };
        db.tenant(scope).create_prompt(new, at(10 + i as i64)).await.unwrap();
    }
    (scope, Viewer { user: ann.id, role: Role::User })
}

/// Each query with the prompts it must find (any order), the same on SQLite and PostgreSQL.
fn parity_table() -> Vec<(String, Vec<&'static str>)> {
    let all: Vec<&str> = PARITY_PROMPTS.iter().map(|(name, _, _)| *name).collect();
    let mut table: Vec<(String, Vec<&str>)> = [
        // Accents and case fold both ways.
        ("café", vec!["t-accent"]),
        ("cafe", vec!["t-accent"]),
        ("CAFÉ", vec!["t-accent"]),
        ("naive", vec!["t-accent"]),
        ("naïve", vec!["t-accent"]),
        ("NAÏVE creme brulee", vec!["t-accent"]),
        // E-mail addresses: whole, parts, runs of parts.
        ("ann.lee@example.com", vec!["t-mail"]),
        ("ANN.LEE@EXAMPLE.COM", vec!["t-mail"]),
        ("ann", vec!["t-mail"]),
        ("lee", vec!["t-mail"]),
        ("example.com", vec!["t-mail"]),
        ("lee@example", vec!["t-mail"]),
        ("bob@example.com", vec![]),
        ("example.org", vec![]),
        // Hyphenated words: whole (with or without hyphens) and parts.
        ("state-of-the-art", vec!["t-hyphen"]),
        ("stateoftheart", vec!["t-hyphen"]),
        ("state", vec!["t-hyphen"]),
        ("art", vec!["t-hyphen"]),
        ("e-mail", vec!["t-hyphen"]),
        ("email", vec!["t-hyphen"]),
        ("art-state", vec![]),
        // Digits are words; a word is found by its start.
        ("gpt4", vec!["t-digits"]),
        ("gpt-4", vec!["t-digits"]),
        ("gpt-4o", vec!["t-digits"]),
        ("4o", vec!["t-digits"]),
        ("2024", vec!["t-digits"]),
        ("2025", vec![]),
        ("gpt5", vec![]),
        // CJK: a two-character word is found inside a run.
        ("中文", vec!["t-zh"]),
        ("提示", vec!["t-zh"]),
        ("提示词", vec!["t-zh"]),
        ("中", vec!["t-zh"]),
        ("英文", vec![]),
        ("ガイド", vec!["t-ja"]),
        ("ひらがな", vec!["t-ja"]),
        ("ｶﾞｲﾄﾞ", vec!["t-ja"]),
        ("カイト", vec![]),
        ("한국", vec!["t-ko"]),
        ("국어", vec!["t-ko"]),
        ("프롬프트", vec!["t-ko"]),
        ("영어", vec![]),
        // Query syntax of either database is only separation.
        ("\"", all.clone()),
        ("*", all.clone()),
        ("&|!", all.clone()),
        (":", all.clone()),
        ("!!! ... --- ''' \\\\", all.clone()),
        ("NEAR", vec![]),
        ("AND", vec![]),
        ("NEAR(cafe naive)", vec![]),
        ("cafe AND naive", vec![]),
        ("cafe* naive:*", vec!["t-accent"]),
        ("\"cafe\" OR \"plain\"", vec![]),
        ("-cafe ^naive", vec!["t-accent"]),
        ("cafe & !naive | plain", vec![]),
        ("t-accent:*", vec!["t-accent"]),
        ("' OR 1=1 --", vec![]),
        ("nothing\\ special", vec!["t-plain"]),
    ]
    .into_iter()
    .map(|(q, found)| (q.to_owned(), found))
    .collect();
    table.push(("cafe ".repeat(2_000), vec!["t-accent"]));
    table.push(("x".repeat(10_000), vec![]));
    table.push((format!("{}中文", "(\"*:&|!".repeat(500)), vec!["t-zh"]));
    table
}

/// The rows of [`parity_table`] this database answers otherwise, as `query: found, expected`.
async fn parity_mismatches(db: &Database, scope: TenantScope, viewer: &Viewer) -> Vec<String> {
    let mut mismatches = Vec::new();
    for (q, expected) in parity_table() {
        let mut found = names_found(db, scope, viewer, &search(&q)).await;
        found.sort();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        if found != expected {
            let q: String = q.chars().take(40).collect();
            mismatches.push(format!("{q:?}: found {found:?}, expected {expected:?}"));
        }
    }
    mismatches
}

async fn search_gives_the_same_results_on_both_databases(db: Database) {
    let (scope, viewer) = parity_library(&db).await;
    let mismatches = parity_mismatches(&db, scope, &viewer).await;
    assert!(
        mismatches.is_empty(),
        "{} of {}:\n{}",
        mismatches.len(),
        parity_table().len(),
        mismatches.join("\n")
    );
}

/// Prompts stored before the search tokens migration are reindexed by it.
mod search_migration {
    use migrations::{Migrator, MigratorTrait};
    use persistence::testing::TestDatabase;
    use persistence::{Database, DatabaseSettings};

    async fn existing_prompts_are_reindexed(test: TestDatabase) {
        let (scope, viewer) = super::parity_library(test.database()).await;
        let url = match test.settings() {
            DatabaseSettings::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            DatabaseSettings::Postgres { dsn, .. } => dsn.expose().clone(),
        };
        // One connection with foreign keys off, as migrations run (SQLite rebuilds tables).
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(1).map_sqlx_sqlite_opts(|o| o.foreign_keys(false));
        let conn = sea_orm::Database::connect(options).await.unwrap();
        // Back to the schema before it (each database indexing its own way), and forward again.
        let since = Migrator::migrations()
            .iter()
            .rev()
            .position(|m| m.name() == "m20261202_000008_search_tokens")
            .expect("the search tokens migration");
        Migrator::down(&conn, Some(u32::try_from(since + 1).unwrap())).await.unwrap();
        conn.close().await.unwrap();
        let db = Database::connect(test.settings()).await.unwrap();
        db.migrate().await.unwrap();
        let mismatches = super::parity_mismatches(&db, scope, &viewer).await;
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[tokio::test]
    async fn sqlite_prompts_are_reindexed() {
        existing_prompts_are_reindexed(TestDatabase::sqlite().await).await;
    }

    #[tokio::test]
    async fn postgres_prompts_are_reindexed() {
        existing_prompts_are_reindexed(TestDatabase::postgres().await).await;
    }
}

async fn huge_prompts_are_indexed_within_the_databases_limits(db: Database) {
    let scope = scope_of(&tenant(&db, "huge").await);
    let ann = db.tenant(scope).create_user(new_user("ann@huge.test", Role::User), at(1)).await.unwrap();
    // The largest content allowed, as one compound (pasted data): every part starts a distinct
    // 64-character token, far beyond what one PostgreSQL tsvector can hold.
    let mut content = String::from("start ");
    let mut part = 0_u32;
    while content.len() + 8 < domain::prompt::MAX_CONTENT_BYTES {
        content.push_str(&format!("{part:x}-"));
        part += 1;
    }
    content.push_str(" 东京都");
    let new = NewPrompt {
        owner: ann.id,
        fields: fields("huge", "Huge", &content, &[], Visibility::Tenant),
        commit_message: None,
    };
    db.tenant(scope).create_prompt(new, at(2)).await.expect("indexed within the caps");
    let viewer = Viewer { user: ann.id, role: Role::User };
    assert_eq!(names_found(&db, scope, &viewer, &search("start")).await, ["huge"]);
    assert_eq!(names_found(&db, scope, &viewer, &search("abc-abd")).await, ["huge"]);
    // Past the cap, words are not searchable (the same on both databases).
    assert!(names_found(&db, scope, &viewer, &search("东京")).await.is_empty());
}

async fn prompt_updates_are_versioned_and_refuse_stale_writes(db: Database) {
    let scope = scope_of(&tenant(&db, "acme").await);
    let repo = db.tenant(scope);
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let new = NewPrompt {
        owner: ann.id,
        fields: fields("greet", "Greet", "Hello", &[], Visibility::Tenant),
        commit_message: Some("first".into()),
    };
    let v1 = repo.create_prompt(new, at(2)).await.unwrap();
    let change = |message: &str| PromptChange {
        author: ann.id,
        commit_message: Some(message.into()),
        restored_from: None,
    };
    let v2 = repo
        .update_prompt(
            &v1,
            fields("greet", "Greet", "Hello there", &[], Visibility::Tenant),
            change("second"),
            at(3),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v2.version, 2);
    // A writer still holding version 1 is refused and changes nothing.
    let stale = repo
        .update_prompt(
            &v1,
            fields("greet", "Greet", "Overwrite!", &[], Visibility::Tenant),
            change("lost"),
            at(4),
        )
        .await
        .unwrap();
    assert_eq!(stale, None);
    let viewer = Viewer { user: ann.id, role: Role::User };
    let stored = repo.prompt(&viewer, &PromptKey::Id(v1.id)).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.content.as_str()), (2, "Hello there"));
    let versions = repo.prompt_versions(v1.id, None, 10).await.unwrap();
    assert_eq!(versions.next_cursor, None);
    let versions = versions.items;
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(versions[1].commit_message.as_deref(), Some("first"));
    assert_eq!(repo.prompt_version(v1.id, 1).await.unwrap().unwrap().content, "Hello");
    let older = repo.prompt_versions(v1.id, Some(2), 10).await.unwrap();
    assert_eq!(older.items.len(), 1);
    // Deleting the prompt deletes its versions.
    assert!(repo.delete_prompt(v1.id).await.unwrap());
    assert_eq!(repo.prompt_version(v1.id, 1).await.unwrap(), None);
}

async fn private_prompt_names_live_in_their_owners_namespace(db: Database) {
    let scope = scope_of(&tenant(&db, "acme").await);
    let repo = db.tenant(scope);
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let ben = repo.create_user(new_user("ben@acme.test", Role::User), at(1)).await.unwrap();
    let boss = repo.create_user(new_user("boss@acme.test", Role::Admin), at(1)).await.unwrap();
    let private = NewPrompt {
        owner: ann.id,
        fields: fields("Draft", "Ann's draft", "secret plan", &[], Visibility::Private),
        commit_message: None,
    };
    let ann_draft = repo.create_prompt(private, at(2)).await.unwrap();
    // Ben can take the same name for a shared prompt: nothing tells him Ann's exists.
    let shared = NewPrompt {
        owner: ben.id,
        fields: fields("draft", "Ben's", "public text", &[], Visibility::Tenant),
        commit_message: None,
    };
    let ben_draft = repo.create_prompt(shared, at(3)).await.unwrap();
    // Names are unique case-insensitively within a namespace.
    let again = NewPrompt {
        owner: ben.id,
        fields: fields("DRAFT", "dup", "x", &[], Visibility::Tenant),
        commit_message: None,
    };
    assert!(matches!(repo.create_prompt(again, at(4)).await, Err(StoreError::Conflict)));
    let by_name = PromptKey::Name(PromptName::parse("draft").unwrap());
    let ann_view = Viewer { user: ann.id, role: Role::User };
    let ben_view = Viewer { user: ben.id, role: Role::User };
    let boss_view = Viewer { user: boss.id, role: Role::Admin };
    assert_eq!(repo.prompt(&ann_view, &by_name).await.unwrap().unwrap().id, ann_draft.id);
    assert_eq!(repo.prompt(&ben_view, &by_name).await.unwrap().unwrap().id, ben_draft.id);
    assert_eq!(repo.prompt(&ben_view, &PromptKey::Id(ann_draft.id)).await.unwrap(), None);
    assert!(repo.prompt(&boss_view, &PromptKey::Id(ann_draft.id)).await.unwrap().is_some());
    assert_eq!(names_found(&db, scope, &ben_view, &search("secret")).await, Vec::<String>::new());
    assert_eq!(names_found(&db, scope, &boss_view, &search("secret")).await, ["Draft"]);
    assert_eq!(names_found(&db, scope, &ann_view, &search("secret")).await, ["Draft"]);
}

async fn a_free_name_for_a_renamed_import_is_found_in_one_query(mut db: Database) {
    let scope = scope_of(&tenant(&db, "acme").await);
    let ann = db.tenant(scope).create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let taken: Vec<NewPrompt> = std::iter::once("memo".to_owned())
        .chain((2..=700).map(|n| format!("memo-{n}")))
        .map(|name| NewPrompt {
            owner: ann.id,
            fields: fields(&name, &name, "text", &[], Visibility::Tenant),
            commit_message: None,
        })
        .collect();
    db.tenant(scope).seed_prompts(taken, at(2)).await.unwrap();
    let name = PromptName::parse("memo").unwrap();
    let statements = db.count_statements();
    let free = db.tenant(scope).free_prompt_name(&name, Visibility::Tenant, ann.id).await.unwrap();
    assert_eq!(free.map(|n| n.as_str().to_owned()).as_deref(), Some("memo-701"));
    // One query, not one per candidate (PostgreSQL first names the tenant for row-level security).
    let expected = if db.backend() == Backend::Postgres { 2 } else { 1 };
    assert_eq!(statements.load(std::sync::atomic::Ordering::Relaxed), expected);
    // Private names are another namespace: `memo-2` is free there.
    let private = db.tenant(scope).free_prompt_name(&name, Visibility::Private, ann.id).await.unwrap();
    assert_eq!(private.map(|n| n.as_str().to_owned()).as_deref(), Some("memo-2"));
}

async fn prompt_categories_and_tags_are_counted_for_the_viewer(db: Database) {
    let scope = scope_of(&tenant(&db, "acme").await);
    let repo = db.tenant(scope);
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let ben = repo.create_user(new_user("ben@acme.test", Role::User), at(1)).await.unwrap();
    for (i, (name, tags, visibility)) in [
        ("a", vec!["x", "y"], Visibility::Tenant),
        ("b", vec!["y"], Visibility::Tenant),
        ("c", vec!["y", "z"], Visibility::Private),
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewPrompt {
            owner: ann.id,
            fields: fields(name, name, "text", &tags, visibility),
            commit_message: None,
        };
        repo.create_prompt(new, at(2 + i as i64)).await.unwrap();
    }
    let ann_view = Viewer { user: ann.id, role: Role::User };
    let ben_view = Viewer { user: ben.id, role: Role::User };
    let counted =
        |rows: Vec<(String, u64)>| rows.into_iter().map(|(n, c)| format!("{n}:{c}")).collect::<Vec<_>>();
    assert_eq!(counted(repo.prompt_tags(&ann_view).await.unwrap()), ["x:1", "y:3", "z:1"]);
    assert_eq!(counted(repo.prompt_tags(&ben_view).await.unwrap()), ["x:1", "y:2"]);
    assert_eq!(counted(repo.prompt_categories(&ben_view).await.unwrap()), ["General:2"]);
    let tagged = PromptFilter { tag: Some("y".into()), ..PromptFilter::default() };
    let found = repo.search_prompts(&ben_view, &tagged, PromptSort::Name, None, 10).await.unwrap().items;
    assert_eq!(found.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
}

fn connection_settings(name: &str) -> ConnectionSettings {
    ConnectionSettings {
        name: name.to_owned(),
        provider: Provider::Lmstudio,
        base_url: "http://localhost:1234/v1".to_owned(),
        model: "smollm2".to_owned(),
        options: GenerationOptions { temperature: Some(0.5), max_tokens: Some(128), top_p: None },
        timeout_seconds: 30,
    }
}

async fn ai_connections_are_scoped_to_tenant_and_owner(db: Database) {
    let (acme, other) = (tenant(&db, "acme").await, tenant(&db, "other").await);
    let repo = db.tenant(scope_of(&acme));
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let ben = repo.create_user(new_user("ben@acme.test", Role::User), at(1)).await.unwrap();
    let sealed =
        KeyChange::Set { sealed: "v1:sealed".to_owned().into(), hint: "set, ends in …1a2b".into() };
    let shared = repo.create_connection(None, connection_settings("Shared"), sealed, at(2)).await.unwrap();
    let mine = repo
        .create_connection(Some(ann.id), connection_settings("Mine"), KeyChange::Keep, at(3))
        .await
        .unwrap();
    assert_eq!(shared.api_key_hint.as_deref(), Some("set, ends in …1a2b"));
    assert_eq!(mine.settings.options.temperature, Some(0.5));
    // The same name in another scope is fine; in the same scope (any case) it is a conflict.
    repo.create_connection(Some(ben.id), connection_settings("mine"), KeyChange::Keep, at(4)).await.unwrap();
    let clash =
        repo.create_connection(Some(ann.id), connection_settings("MINE"), KeyChange::Keep, at(4)).await;
    assert!(matches!(clash, Err(StoreError::Conflict)));
    let names =
        |list: Vec<domain::ai::Connection>| list.into_iter().map(|c| c.settings.name).collect::<Vec<_>>();
    assert_eq!(names(repo.list_connections(ann.id).await.unwrap()), ["Shared", "Mine"]);
    assert_eq!(names(repo.list_connections(ben.id).await.unwrap()), ["Shared", "mine"]);
    // Ben cannot see Ann's personal connection; another tenant sees neither.
    assert!(repo.connection(mine.id, ben.id).await.unwrap().is_none());
    let other_repo = db.tenant(scope_of(&other));
    assert!(other_repo.connection(shared.id, ann.id).await.unwrap().is_none());
    assert!(
        other_repo
            .update_connection(shared.id, connection_settings("x"), KeyChange::Clear, at(5))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!other_repo.delete_connection(shared.id).await.unwrap());
    assert_eq!(repo.count_connections(None).await.unwrap(), 1);
    assert_eq!(repo.count_connections(Some(ann.id)).await.unwrap(), 1);
    // Keep leaves the key; Clear removes it.
    let kept = repo
        .update_connection(shared.id, connection_settings("Shared 2"), KeyChange::Keep, at(6))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.api_key_sealed.as_ref().map(|k| k.expose().as_str()), Some("v1:sealed"));
    assert_eq!(kept.settings.name, "Shared 2");
    let cleared = repo
        .update_connection(shared.id, connection_settings("Shared 2"), KeyChange::Clear, at(7))
        .await
        .unwrap()
        .unwrap();
    assert!(cleared.api_key_sealed.is_none() && cleared.api_key_hint.is_none());
    assert!(repo.delete_connection(mine.id).await.unwrap());
    assert!(repo.connection(mine.id, ann.id).await.unwrap().is_none());
}

async fn ai_policy_and_user_settings_round_trip(db: Database) {
    let acme = tenant(&db, "acme").await;
    let repo = db.tenant(scope_of(&acme));
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let default = repo.ai_policy().await.unwrap();
    assert!(default.allow_user_connections);
    assert_eq!(default.run_retention_days, persistence::DEFAULT_RUN_RETENTION_DAYS);
    let shared =
        repo.create_connection(None, connection_settings("Shared"), KeyChange::Keep, at(2)).await.unwrap();
    let policy = AiPolicy {
        allow_user_connections: false,
        default_execution_connection: Some(shared.id),
        default_enhancement_connection: None,
        run_retention_days: 7,
        prices: vec![ModelPrice {
            model: "gpt-4o*".into(),
            input_per_million: 2.5,
            output_per_million: 10.0,
        }],
    };
    repo.set_ai_policy(&policy, at(3)).await.unwrap();
    assert_eq!(repo.ai_policy().await.unwrap(), policy);
    let changed = AiPolicy { run_retention_days: 0, ..policy.clone() };
    repo.set_ai_policy(&changed, at(4)).await.unwrap();
    assert_eq!(repo.ai_policy().await.unwrap(), changed);
    // Deleting the default connection clears it from the policy.
    repo.delete_connection(shared.id).await.unwrap();
    assert_eq!(repo.ai_policy().await.unwrap().default_execution_connection, None);

    assert_eq!(repo.user_setting(ann.id, "ai.execution_connection").await.unwrap(), None);
    repo.set_user_setting(ann.id, "ai.execution_connection", Some("a"), at(5)).await.unwrap();
    repo.set_user_setting(ann.id, "ai.execution_connection", Some("b"), at(6)).await.unwrap();
    assert_eq!(repo.user_setting(ann.id, "ai.execution_connection").await.unwrap().as_deref(), Some("b"));
    let other = tenant(&db, "other").await;
    assert_eq!(
        db.tenant(scope_of(&other)).user_setting(ann.id, "ai.execution_connection").await.unwrap(),
        None
    );
    repo.set_user_setting(ann.id, "ai.execution_connection", None, at(7)).await.unwrap();
    assert_eq!(repo.user_setting(ann.id, "ai.execution_connection").await.unwrap(), None);
}

fn new_run(
    user: domain::UserId,
    prompt: Option<domain::PromptId>,
    outcome: RunOutcome,
    expires: Option<DateTime<Utc>>,
) -> NewRun {
    NewRun {
        user_id: user,
        prompt_id: prompt,
        prompt_version: Some(1),
        kind: RunKind::Run,
        compare_group: None,
        enhancement_prompt: None,
        connection_id: None,
        connection_name: "Local".into(),
        provider: Provider::Llamacpp,
        model: "smollm2".into(),
        outcome,
        error_code: (outcome == RunOutcome::Error).then(|| "provider_timeout".to_owned()),
        finish_reason: Some("stop".into()),
        usage: Some(Usage { input_tokens: 10, output_tokens: 5 }),
        latency_ms: 42,
        estimated_cost: None,
        output: Some("an answer".into()),
        output_expires_at: expires,
    }
}

async fn runs_are_recorded_listed_expired_and_counted(db: Database) {
    let (acme, other) = (tenant(&db, "acme").await, tenant(&db, "other").await);
    let repo = db.tenant(scope_of(&acme));
    let ann = repo.create_user(new_user("ann@acme.test", Role::User), at(1)).await.unwrap();
    let ben = repo.create_user(new_user("ben@acme.test", Role::User), at(1)).await.unwrap();
    let p = repo.create_prompt(prompt(ann.id, "p", "x"), at(2)).await.unwrap();
    let day = Duration::days(1);
    let first = repo
        .record_run(new_run(ann.id, Some(p.id), RunOutcome::Ok, Some(at(10) + day)), at(10))
        .await
        .unwrap();
    repo.record_run(new_run(ann.id, Some(p.id), RunOutcome::Error, None), at(11)).await.unwrap();
    repo.record_run(new_run(ben.id, Some(p.id), RunOutcome::Ok, Some(at(12) + day)), at(12) + day)
        .await
        .unwrap();
    // Admins see all three, newest first; Ann her own two; pages follow the cursor.
    let all = repo.prompt_runs(p.id, RunViewer::Admin, None, 10, at(20)).await.unwrap();
    assert_eq!((all.items.len(), all.next_cursor), (3, None));
    assert_eq!(all.items[0].run.user_id, ben.id);
    let page = repo.prompt_runs(p.id, RunViewer::User(ann.id), None, 1, at(20)).await.unwrap();
    assert_eq!(page.next_cursor, Some(page.items[0].id));
    let rest = repo.prompt_runs(p.id, RunViewer::User(ann.id), page.next_cursor, 1, at(20)).await.unwrap();
    assert_eq!((rest.items[0].id, rest.next_cursor), (first.id, None));
    assert!(repo.run(first.id, RunViewer::User(ben.id), at(20)).await.unwrap().is_none());
    assert!(db.tenant(scope_of(&other)).run(first.id, RunViewer::Admin, at(20)).await.unwrap().is_none());
    // Output is hidden once expired, then cleared by the sweep; the record stays.
    let output_at = async |now| repo.run(first.id, RunViewer::Admin, now).await.unwrap().unwrap().run.output;
    assert_eq!(output_at(at(20)).await.as_deref(), Some("an answer"));
    assert_eq!(output_at(at(11) + day).await, None);
    assert_eq!(db.system(operator()).expire_run_outputs(at(11) + day).await.unwrap(), 1);
    assert_eq!(db.system(operator()).expire_run_outputs(at(11) + day).await.unwrap(), 0);
    let record = repo.run(first.id, RunViewer::Admin, at(20)).await.unwrap().unwrap();
    assert_eq!(
        (record.run.output, record.run.usage),
        (None, Some(Usage { input_tokens: 10, output_tokens: 5 }))
    );
    // Per day and per model, counted by the database, only this tenant and period.
    db.tenant(scope_of(&other)).create_user(new_user("zed@other.test", Role::User), at(1)).await.unwrap();
    let totals = repo.run_totals(at(0), at(0) + Duration::days(3)).await.unwrap();
    let d0 = at(0).date_naive();
    let day = |day, runs, failed, input_tokens, output_tokens| DayTotal {
        day,
        runs,
        failed,
        input_tokens,
        output_tokens,
    };
    assert_eq!(totals.days, vec![day(d0, 2, 1, 20, 10), day(d0 + Duration::days(1), 1, 0, 10, 5)]);
    let model = ModelTotal {
        provider: Provider::Llamacpp,
        model: "smollm2".into(),
        runs: 3,
        input_tokens: 30,
        output_tokens: 15,
    };
    assert_eq!(totals.models, vec![model]);
    let none = repo.run_totals(at(0) + Duration::days(5), at(0) + Duration::days(6)).await.unwrap();
    assert!(none.days.is_empty() && none.models.is_empty());
}
