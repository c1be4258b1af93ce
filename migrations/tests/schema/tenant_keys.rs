//! `m20261202_000010_tenant_keys`: a row can never reference another tenant's row; deletes do
//! what they did; existing databases migrate with every row (and, on SQLite, their full-text
//! search) intact.

use std::collections::{BTreeMap, BTreeSet};

use migrations::{Migrator, MigratorTrait, search_index};
use sea_orm::{ConnectionTrait, DbErr, Value};
use uuid::Uuid;

use crate::support::*;

on_both_databases!(
    cross_tenant_references_are_rejected,
    same_tenant_references_are_accepted,
    existing_rows_survive_the_migration,
    inconsistent_rows_stop_the_migration,
    deletes_keep_their_actions,
    migrations_roll_back_and_reapply,
);

/// Every table with a row per seeded tenant, and the column that identifies its rows.
const TABLES: [(&str, &str); 11] = [
    ("tenants", "id"),
    ("users", "id"),
    ("prompts", "id"),
    ("prompt_versions", "id"),
    ("ai_connections", "id"),
    ("ai_policies", "tenant_id"),
    ("prompt_runs", "id"),
    ("sessions", "id"),
    ("api_tokens", "id"),
    ("config", "id"),
    ("audit_events", "id"),
];

/// Asserts that the write failed on a foreign key; on PostgreSQL, on the named composite key
/// (the single-column key is satisfied: the referenced row exists, in another tenant).
fn assert_rejected(kind: Kind, what: &str, constraint: &str, result: Result<(), DbErr>) {
    let Err(err) = result else { panic!("{what}: accepted") };
    assert!(is_foreign_key_violation(&err), "{what}: {err}");
    if kind == Kind::Postgres {
        assert!(err.to_string().contains(constraint), "{what}: {err} (expected {constraint})");
    }
}

/// `UPDATE table SET column = value WHERE key = id`, expecting one row.
async fn update(
    db: &TestDb,
    table: &str,
    column: &str,
    value: Option<Uuid>,
    key: &str,
    id: Uuid,
) -> Result<(), DbErr> {
    let done = db
        .exec(
            &format!("UPDATE \"{table}\" SET \"{column}\" = ? WHERE \"{key}\" = ?"),
            vec![value.into(), id.into()],
        )
        .await?;
    assert_eq!(done.rows_affected(), 1, "{table}.{column} of {id}");
    Ok(())
}

async fn cross_tenant_references_are_rejected(kind: Kind) {
    let db = TestDb::new(kind, None).await;
    let (a, b) = (seed_tenant(&db.conn, "a").await, seed_tenant(&db.conn, "b").await);
    let c = &db.conn;
    let new = Uuid::now_v7;

    let attempts = [
        (
            "a prompt owned by B's user",
            "fk_prompts_tenant_user_id",
            insert_prompt(c, a.id, new(), Some(b.user), "x").await,
        ),
        (
            "a connection owned by B's user",
            "fk_ai_connections_tenant_owner_id",
            insert_connection(c, a.id, new(), Some(b.user)).await,
        ),
        (
            "a version of B's prompt",
            "fk_prompt_versions_tenant_prompt_id",
            insert_version(c, a.id, new(), b.prompt, 2, Some(a.user)).await,
        ),
        (
            "a version written by B's user",
            "fk_prompt_versions_tenant_author_id",
            insert_version(c, a.id, new(), a.prompt, 3, Some(b.user)).await,
        ),
        (
            "a run by B's user",
            "fk_prompt_runs_tenant_user_id",
            insert_run(c, a.id, new(), Some(b.user), None, None).await,
        ),
        (
            "a run of B's prompt",
            "fk_prompt_runs_tenant_prompt_id",
            insert_run(c, a.id, new(), Some(a.user), Some(b.prompt), None).await,
        ),
        (
            "a run on B's connection",
            "fk_prompt_runs_tenant_connection_id",
            insert_run(c, a.id, new(), Some(a.user), None, Some(b.connection)).await,
        ),
        ("a session of B's user", "fk_sessions_tenant_user_id", insert_session(c, a.id, new(), b.user).await),
        (
            "an API token of B's user",
            "fk_api_tokens_tenant_user_id",
            insert_token(c, a.id, new(), b.user).await,
        ),
        (
            "a setting of B's user",
            "fk_config_tenant_user_id",
            insert_config(c, a.id, new(), Some(b.user)).await,
        ),
        // Updates are checked as inserts are.
        (
            "A's prompt given to B's user",
            "fk_prompts_tenant_user_id",
            update(&db, "prompts", "user_id", Some(b.user), "id", a.prompt).await,
        ),
        (
            "A's policy executing on B's connection",
            "fk_ai_policies_tenant_execution_connection_id",
            update(&db, "ai_policies", "execution_connection_id", Some(b.connection), "tenant_id", a.id)
                .await,
        ),
        (
            "A's policy enhancing on B's connection",
            "fk_ai_policies_tenant_enhancement_connection_id",
            update(&db, "ai_policies", "enhancement_connection_id", Some(b.connection), "tenant_id", a.id)
                .await,
        ),
        (
            "A's session moved to B's user",
            "fk_sessions_tenant_user_id",
            update(&db, "sessions", "user_id", Some(b.user), "id", a.session).await,
        ),
    ];
    for (what, constraint, result) in attempts {
        assert_rejected(kind, what, constraint, result);
    }
    // Nothing was written.
    for (table, _) in TABLES {
        assert_eq!(db.count(table).await, 2, "{table}");
    }
    assert_eq!(db.reference("prompts", "user_id", a.prompt).await, Some(a.user));
    assert_eq!(db.reference("ai_policies", "execution_connection_id", a.id).await, Some(a.connection));
}

async fn same_tenant_references_are_accepted(kind: Kind) {
    let db = TestDb::new(kind, None).await;
    let (a, _b) = (seed_tenant(&db.conn, "a").await, seed_tenant(&db.conn, "b").await);
    let c = &db.conn;
    let new = Uuid::now_v7;
    let (user, prompt, connection) = (new(), new(), new());

    insert_user(c, a.id, user, "second@example.test").await.unwrap();
    insert_prompt(c, a.id, prompt, Some(user), "second").await.unwrap();
    insert_connection(c, a.id, connection, Some(user)).await.unwrap();
    insert_version(c, a.id, new(), prompt, 1, Some(user)).await.unwrap();
    insert_version(c, a.id, new(), a.prompt, 2, Some(user)).await.unwrap();
    insert_run(c, a.id, new(), Some(user), Some(prompt), Some(connection)).await.unwrap();
    insert_session(c, a.id, new(), user).await.unwrap();
    insert_token(c, a.id, new(), user).await.unwrap();
    insert_config(c, a.id, new(), Some(user)).await.unwrap();
    update(&db, "prompts", "user_id", Some(user), "id", a.prompt).await.unwrap();
    update(&db, "ai_policies", "execution_connection_id", Some(connection), "tenant_id", a.id).await.unwrap();
    update(&db, "ai_policies", "enhancement_connection_id", Some(connection), "tenant_id", a.id)
        .await
        .unwrap();
    update(&db, "sessions", "user_id", Some(user), "id", a.session).await.unwrap();

    // A NULL reference is not checked (MATCH SIMPLE): tenant settings, tenant connections,
    // prompts and runs whose user is gone.
    insert_prompt(c, a.id, new(), None, "orphan").await.unwrap();
    insert_connection(c, a.id, new(), None).await.unwrap();
    insert_version(c, a.id, new(), prompt, 2, None).await.unwrap();
    insert_run(c, a.id, new(), None, None, None).await.unwrap();
    insert_config(c, a.id, new(), None).await.unwrap();
    update(&db, "ai_policies", "execution_connection_id", None, "tenant_id", a.id).await.unwrap();

    assert_eq!(db.count_where("prompts", "tenant_id", a.id).await, 3);
    assert_eq!(db.count_where("prompt_versions", "tenant_id", a.id).await, 4);
    assert_eq!(db.count_where("prompt_runs", "tenant_id", a.id).await, 3);
    assert_eq!(db.reference("ai_policies", "enhancement_connection_id", a.id).await, Some(connection));
}

/// Every row of every table, by id, and the references of each.
async fn snapshot(db: &TestDb) -> BTreeMap<String, Vec<Vec<Option<Uuid>>>> {
    let references: [(&str, &[&str]); 11] = [
        ("tenants", &["id"]),
        ("users", &["id", "tenant_id"]),
        ("prompts", &["id", "tenant_id", "user_id", "updated_by"]),
        ("prompt_versions", &["id", "tenant_id", "prompt_id", "author_id"]),
        ("ai_connections", &["id", "tenant_id", "owner_id"]),
        ("ai_policies", &["tenant_id", "execution_connection_id", "enhancement_connection_id"]),
        ("prompt_runs", &["id", "tenant_id", "user_id", "prompt_id", "connection_id"]),
        ("sessions", &["id", "tenant_id", "user_id"]),
        ("api_tokens", &["id", "tenant_id", "user_id"]),
        ("config", &["id", "tenant_id", "user_id"]),
        ("audit_events", &["id", "tenant_id"]),
    ];
    let mut tables = BTreeMap::new();
    for (table, columns) in references {
        let list = columns.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let rows = db.query(&format!("SELECT {list} FROM \"{table}\" ORDER BY 1"), vec![]).await;
        let rows = rows
            .iter()
            .map(|row| (0..columns.len()).map(|i| row.try_get_by_index::<Option<Uuid>>(i).unwrap()).collect())
            .collect();
        tables.insert(table.to_owned(), rows);
    }
    tables
}

async fn applied_migrations(db: &TestDb) -> i64 {
    db.count("seaql_migrations").await
}

async fn existing_rows_survive_the_migration(kind: Kind) {
    let db = TestDb::new(kind, Some(BEFORE_TENANT_KEYS)).await;
    let (a, b) = (seed_tenant(&db.conn, "a").await, seed_tenant(&db.conn, "b").await);
    let c = &db.conn;
    let (prompt, user) = (Uuid::now_v7(), Uuid::now_v7());
    insert_user(c, a.id, user, "second@example.test").await.unwrap();
    insert_prompt(c, a.id, prompt, Some(user), "second").await.unwrap();
    insert_version(c, a.id, Uuid::now_v7(), prompt, 1, Some(user)).await.unwrap();
    insert_version(c, a.id, Uuid::now_v7(), prompt, 2, Some(a.user)).await.unwrap();
    insert_session(c, a.id, Uuid::now_v7(), user).await.unwrap();
    insert_run(c, a.id, Uuid::now_v7(), Some(user), Some(prompt), None).await.unwrap();
    insert_system_event(c).await;
    let before = snapshot(&db).await;
    assert_eq!(applied_migrations(&db).await, i64::from(BEFORE_TENANT_KEYS));

    db.migrate(Some(TENANT_KEYS_STEPS)).await.expect("migrate a database that holds rows");

    assert_eq!(applied_migrations(&db).await, i64::from(BEFORE_TENANT_KEYS + TENANT_KEYS_STEPS));
    assert_eq!(snapshot(&db).await, before);
    let title = db.query("SELECT title FROM prompts WHERE id = ?", vec![prompt.into()]).await;
    assert_eq!(title[0].try_get_by_index::<String>(0).unwrap(), "second title");
    // The migrated database takes new rows and guards them.
    insert_prompt(c, b.id, Uuid::now_v7(), Some(b.user), "after").await.unwrap();
    assert!(is_foreign_key_violation(
        &insert_session(c, b.id, Uuid::now_v7(), a.user).await.expect_err("a cross-tenant session")
    ));
}

async fn inconsistent_rows_stop_the_migration(kind: Kind) {
    let db = TestDb::new(kind, Some(BEFORE_TENANT_KEYS)).await;
    let (a, b) = (seed_tenant(&db.conn, "a").await, seed_tenant(&db.conn, "b").await);
    // Possible before the tenant keys: A's session of B's user.
    let stray = Uuid::now_v7();
    insert_session(&db.conn, a.id, stray, b.user).await.unwrap();

    let err =
        db.migrate(Some(TENANT_KEYS_STEPS)).await.expect_err("a cross-tenant row must stop the migration");
    match kind {
        Kind::Sqlite => assert!(err.to_string().contains("another tenant's row"), "{err}"),
        Kind::Postgres => assert!(err.to_string().contains("fk_sessions_tenant_user_id"), "{err}"),
    }
    // All or nothing: the migration left no constraint behind and is not recorded.
    assert_eq!(applied_migrations(&db).await, i64::from(BEFORE_TENANT_KEYS));
    assert_eq!(constraint_names(&db).await, BTreeSet::new());
    assert_eq!(db.count("sessions").await, 3);

    db.exec("DELETE FROM sessions WHERE id = ?", vec![stray.into()]).await.unwrap();
    db.migrate(Some(TENANT_KEYS_STEPS)).await.expect("migrate once the rows are consistent");
    assert_eq!(constraint_names(&db).await.len(), 15);
}

/// The names of the tenant-key constraints the database has: `ux_*_tenant_id`, `fk_*_tenant_*`.
async fn constraint_names(db: &TestDb) -> BTreeSet<String> {
    let names: Vec<String> = match db.kind() {
        Kind::Postgres => db
            .query(
                "SELECT conname::text FROM pg_constraint WHERE conname LIKE 'ux\\_%\\_tenant\\_id' \
                 OR conname LIKE 'fk\\_%\\_tenant\\_%'",
                vec![],
            )
            .await
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect(),
        Kind::Sqlite => {
            let mut names = Vec::new();
            for row in
                db.query("SELECT name, type, sql FROM sqlite_master WHERE sql IS NOT NULL", vec![]).await
            {
                let (name, kind, sql): (String, String, String) = (
                    row.try_get_by_index(0).unwrap(),
                    row.try_get_by_index(1).unwrap(),
                    row.try_get_by_index(2).unwrap(),
                );
                if kind == "index" && name.starts_with("ux_") && name.ends_with("_tenant_id") {
                    names.push(name);
                }
                if kind == "table" {
                    let mut rest = sql.as_str();
                    while let Some(at) = rest.find("CONSTRAINT \"fk_") {
                        let start = at + "CONSTRAINT \"".len();
                        let end = start + rest[start..].find('"').unwrap();
                        names.push(rest[start..end].to_owned());
                        rest = &rest[end..];
                    }
                }
            }
            names
        }
    };
    names.into_iter().collect()
}

async fn deletes_keep_their_actions(kind: Kind) {
    let db = TestDb::new(kind, None).await;
    let (a, b) = (seed_tenant(&db.conn, "a").await, seed_tenant(&db.conn, "b").await);
    let c = &db.conn;
    let new = Uuid::now_v7;
    // A second user of A who owns something of every kind.
    let (user, prompt, version, connection, run, session, token, setting) =
        (new(), new(), new(), new(), new(), new(), new(), new());
    insert_user(c, a.id, user, "leaver@example.test").await.unwrap();
    insert_prompt(c, a.id, prompt, Some(user), "leavers").await.unwrap();
    insert_version(c, a.id, version, a.prompt, 2, Some(user)).await.unwrap();
    insert_connection(c, a.id, connection, Some(user)).await.unwrap();
    insert_run(c, a.id, run, Some(user), Some(prompt), Some(connection)).await.unwrap();
    insert_session(c, a.id, session, user).await.unwrap();
    insert_token(c, a.id, token, user).await.unwrap();
    insert_config(c, a.id, setting, Some(user)).await.unwrap();
    update(&db, "ai_policies", "execution_connection_id", Some(connection), "tenant_id", a.id).await.unwrap();

    // A user: what they wrote stays without its author; what was theirs goes.
    db.exec("DELETE FROM users WHERE id = ?", vec![user.into()]).await.expect("delete a user");
    assert_eq!(db.reference("prompts", "user_id", prompt).await, None);
    assert_eq!(db.reference("prompts", "tenant_id", prompt).await, Some(a.id));
    assert_eq!(db.reference("prompt_versions", "author_id", version).await, None);
    assert_eq!(db.reference("prompt_runs", "user_id", run).await, None);
    assert_eq!(db.reference("prompt_runs", "tenant_id", run).await, Some(a.id));
    for (table, id) in
        [("sessions", session), ("api_tokens", token), ("config", setting), ("ai_connections", connection)]
    {
        assert_eq!(db.count_where(table, "id", id).await, 0, "{table} of the deleted user");
    }
    // …and their connection's going let go of the policy and the run.
    assert_eq!(db.reference("ai_policies", "execution_connection_id", a.id).await, None);
    assert_eq!(db.reference("prompt_runs", "connection_id", run).await, None);

    // A prompt: its versions go, its runs stay.
    db.exec("DELETE FROM prompts WHERE id = ?", vec![a.prompt.into()]).await.expect("delete a prompt");
    assert_eq!(db.count_where("prompt_versions", "prompt_id", a.prompt).await, 0);
    assert_eq!(db.reference("prompt_runs", "prompt_id", a.run).await, None);

    // A connection: the policy and the runs forget it.
    db.exec("DELETE FROM ai_connections WHERE id = ?", vec![a.connection.into()])
        .await
        .expect("delete a connection");
    assert_eq!(db.reference("ai_policies", "enhancement_connection_id", a.id).await, None);
    assert_eq!(db.reference("prompt_runs", "connection_id", a.run).await, None);

    // A tenant: everything of it goes (but its audit trail, which has no keys), and nothing else.
    db.exec("DELETE FROM tenants WHERE id = ?", vec![a.id.into()]).await.expect("delete a tenant");
    for (table, _) in TABLES {
        let column = if table == "tenants" { "id" } else { "tenant_id" };
        let left = if table == "audit_events" { 1 } else { 0 };
        assert_eq!(db.count_where(table, column, a.id).await, left, "{table} of the deleted tenant");
        assert_eq!(db.count_where(table, column, b.id).await, 1, "{table} of the other tenant");
    }
}

async fn migrations_roll_back_and_reapply(kind: Kind) {
    let db = TestDb::new(kind, Some(BEFORE_TENANT_KEYS + TENANT_KEYS_STEPS)).await;
    let (a, b) = (seed_tenant(&db.conn, "a").await, seed_tenant(&db.conn, "b").await);
    assert_eq!(constraint_names(&db).await.len(), 15);

    db.roll_back(2).await.expect("roll back the tenant keys and row-level security");
    assert_eq!(applied_migrations(&db).await, i64::from(BEFORE_TENANT_KEYS));
    assert_eq!(constraint_names(&db).await, BTreeSet::new());
    let stray = Uuid::now_v7();
    insert_session(&db.conn, a.id, stray, b.user).await.expect("no tenant keys once rolled back");
    db.exec("DELETE FROM sessions WHERE id = ?", vec![stray.into()]).await.unwrap();

    db.migrate(Some(TENANT_KEYS_STEPS)).await.expect("migrate again");
    assert_eq!(constraint_names(&db).await.len(), 15);
    assert!(is_foreign_key_violation(
        &insert_session(&db.conn, a.id, Uuid::now_v7(), b.user).await.expect_err("tenant keys again")
    ));
    assert_eq!(db.count("prompts").await, 2);
}

#[tokio::test]
async fn sqlite_migration_refuses_foreign_keys_on() {
    let db = TestDb::new(Kind::Sqlite, Some(BEFORE_TENANT_KEYS)).await;
    seed_tenant(&db.conn, "a").await;
    let definitions = sqlite_schema(&db).await;
    let on = db.sqlite_connection(true).await;

    let err = Migrator::up(&on, None).await.expect_err("the rebuild must refuse foreign keys on");
    on.close().await.ok();
    assert!(matches!(err, DbErr::Migration(_)), "{err:?}");
    assert!(err.to_string().contains("PRAGMA foreign_keys = OFF"), "{err}");
    assert_eq!(applied_migrations(&db).await, i64::from(BEFORE_TENANT_KEYS));
    assert_eq!(sqlite_schema(&db).await, definitions);
    assert_eq!(db.count("prompts").await, 1);
}

/// `(type, name) → sql` of every table, index and trigger.
async fn sqlite_schema(db: &TestDb) -> BTreeMap<(String, String), Option<String>> {
    db.query("SELECT type, name, sql FROM sqlite_master", vec![])
        .await
        .iter()
        .map(|row| {
            (
                (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap()),
                row.try_get_by_index(2).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn sqlite_rebuild_keeps_every_index_and_trigger() {
    let db = TestDb::new(Kind::Sqlite, Some(BEFORE_TENANT_KEYS)).await;
    let before = sqlite_schema(&db).await;
    db.migrate(Some(TENANT_KEYS_STEPS)).await.unwrap();
    let after = sqlite_schema(&db).await;

    for ((kind, name), sql) in &before {
        match kind.as_str() {
            // Tables keep their definitions, with the constraints added.
            "table" => {
                let now = after
                    .get(&(kind.clone(), name.clone()))
                    .unwrap_or_else(|| panic!("table {name} is gone"));
                let (sql, now) = (sql.clone().unwrap_or_default(), now.clone().unwrap_or_default());
                let kept = sql.trim_end().trim_end_matches(')').trim_end();
                assert!(now.starts_with(kept), "{name}: {sql}\nbecame {now}");
            }
            _ => assert_eq!(after.get(&(kind.clone(), name.clone())), Some(sql), "{kind} {name}"),
        }
    }
    let added: BTreeSet<_> =
        after.keys().filter(|key| !before.contains_key(key)).map(|(_, name)| name.as_str()).collect();
    assert_eq!(
        added,
        BTreeSet::from(["ux_ai_connections_tenant_id", "ux_prompts_tenant_id", "ux_users_tenant_id"])
    );
    for trigger in ["prompts_search_insert", "prompts_search_delete"] {
        assert!(after.contains_key(&("trigger".to_owned(), trigger.to_owned())), "{trigger}");
    }
}

/// The ids of the tenant's prompts that the SQLite full-text index finds for `q`.
async fn search(db: &TestDb, tenant: Uuid, q: &str) -> BTreeSet<Uuid> {
    let key = search_index::tenant_key(&tenant.simple().to_string());
    let phrases = search_index::sqlite_match(&key, &domain::search::query_terms(q));
    db.query(
        "SELECT prompts.id FROM prompts_fts CROSS JOIN prompt_search CROSS JOIN prompts \
         WHERE prompt_search.search_id = prompts_fts.rowid AND prompts.id = prompt_search.prompt_id \
         AND prompts.tenant_id = ? AND prompts_fts MATCH ?",
        vec![tenant.into(), phrases.into()],
    )
    .await
    .iter()
    .map(|row| row.try_get_by_index::<Uuid>(0).unwrap())
    .collect()
}

/// Writes a prompt's full-text entry as the repository does (replacing the old one).
async fn index_prompt<C: ConnectionTrait>(
    db: &C,
    tenant: Uuid,
    prompt: Uuid,
    name: &str,
    title: &str,
    content: &str,
) {
    let key = search_index::tenant_key(&tenant.simple().to_string());
    let doc = domain::search::SearchDocument::new(name, title, &[], content);
    exec(
        db,
        "DELETE FROM prompts_fts WHERE rowid = (SELECT search_id FROM prompt_search WHERE prompt_id = ?)",
        vec![prompt.into()],
    )
    .await
    .unwrap();
    let mut values: Vec<Value> = vec![prompt.into()];
    values.extend(search_index::sqlite_columns(&key, &doc).map(Value::from));
    exec(
        db,
        "INSERT INTO prompts_fts (rowid, name, title, content, tags) \
         VALUES ((SELECT search_id FROM prompt_search WHERE prompt_id = ?), ?, ?, ?, ?)",
        values,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn sqlite_search_survives_the_rebuild() {
    let db = TestDb::new(Kind::Sqlite, Some(BEFORE_TENANT_KEYS)).await;
    let a = seed_tenant(&db.conn, "a").await;
    index_prompt(&db.conn, a.id, a.prompt, "a-prompt", "walrus", "tusks").await;
    assert_eq!(search(&db, a.id, "walrus").await, BTreeSet::from([a.prompt]));

    db.migrate(Some(TENANT_KEYS_STEPS)).await.unwrap();
    assert_eq!(search(&db, a.id, "walrus").await, BTreeSet::from([a.prompt]), "indexed before the rebuild");

    // A new prompt gets its search row from the recreated insert trigger.
    let fresh = Uuid::now_v7();
    insert_prompt(&db.conn, a.id, fresh, Some(a.user), "fresh").await.unwrap();
    assert_eq!(db.count_where("prompt_search", "prompt_id", fresh).await, 1, "prompts_search_insert");
    index_prompt(&db.conn, a.id, fresh, "fresh", "narwhal", "tusks").await;
    assert_eq!(search(&db, a.id, "narwhal").await, BTreeSet::from([fresh]));
    assert_eq!(search(&db, a.id, "tusks").await, BTreeSet::from([a.prompt, fresh]));

    // An edit replaces the entry.
    db.exec("UPDATE prompts SET title = 'dugong' WHERE id = ?", vec![a.prompt.into()]).await.unwrap();
    index_prompt(&db.conn, a.id, a.prompt, "a-prompt", "dugong", "flippers").await;
    assert_eq!(search(&db, a.id, "dugong").await, BTreeSet::from([a.prompt]));
    assert_eq!(search(&db, a.id, "walrus").await, BTreeSet::new());

    // A deleted prompt leaves the index through the recreated delete trigger.
    db.exec("DELETE FROM prompts WHERE id = ?", vec![fresh.into()]).await.unwrap();
    assert_eq!(db.count_where("prompt_search", "prompt_id", fresh).await, 0, "prompts_search_delete");
    assert_eq!(search(&db, a.id, "tusks").await, BTreeSet::new());
    assert_eq!(
        db.number("SELECT COUNT(*) FROM prompts_fts WHERE prompts_fts MATCH 'narwhal*'", vec![]).await,
        0
    );
}

/// PostgreSQL fires a table's foreign-key triggers in the order of their names (which embed
/// object ids, compared as text). Recreating the single-column keys after the composite ones
/// puts their triggers last; deletes must still do what they did.
#[tokio::test]
async fn postgres_delete_actions_do_not_depend_on_trigger_order() {
    let db = TestDb::new(Kind::Postgres, None).await;
    let a = seed_tenant(&db.conn, "a").await;
    let singles = db
        .query(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE contype = 'f' AND confrelid IN ('users'::regclass, 'prompts'::regclass, 'ai_connections'::regclass) \
             AND cardinality(conkey) = 1",
            vec![],
        )
        .await;
    assert_eq!(singles.len(), 12, "the single-column keys to users, prompts and connections");
    // Recreated keys get newer ids, which sort last unless the ids just gained a digit: then
    // once more.
    for _ in 0..3 {
        if composites_fire_first(&db).await {
            break;
        }
        for row in &singles {
            let (table, name, definition): (String, String, String) = (
                row.try_get_by_index(0).unwrap(),
                row.try_get_by_index(1).unwrap(),
                row.try_get_by_index(2).unwrap(),
            );
            db.exec(
                &format!(
                    "ALTER TABLE {table} DROP CONSTRAINT \"{name}\", ADD CONSTRAINT \"{name}\" {definition}"
                ),
                vec![],
            )
            .await
            .unwrap();
        }
    }
    assert!(composites_fire_first(&db).await, "every composite key's triggers should now fire first");

    db.exec("DELETE FROM ai_connections WHERE id = ?", vec![a.connection.into()])
        .await
        .expect("delete a connection");
    assert_eq!(db.reference("prompt_runs", "connection_id", a.run).await, None);
    db.exec("DELETE FROM prompts WHERE id = ?", vec![a.prompt.into()]).await.expect("delete a prompt");
    assert_eq!(db.count_where("prompt_versions", "prompt_id", a.prompt).await, 0);
    assert_eq!(db.reference("prompt_runs", "prompt_id", a.run).await, None);
    db.exec("DELETE FROM users WHERE id = ?", vec![a.user.into()]).await.expect("delete a user");
    assert_eq!(db.reference("prompt_runs", "user_id", a.run).await, None);
    assert_eq!(db.count_where("sessions", "user_id", a.user).await, 0);
    db.exec("DELETE FROM tenants WHERE id = ?", vec![a.id.into()]).await.expect("delete a tenant");
    assert_eq!(db.count_where("prompt_runs", "tenant_id", a.id).await, 0);
}

/// Whether every composite key's triggers on the referenced table sort (and so fire) before
/// those of the single-column key on the same column.
async fn composites_fire_first(db: &TestDb) -> bool {
    db.number(
        "SELECT COUNT(*) FROM pg_constraint s \
         JOIN pg_constraint c ON c.conrelid = s.conrelid AND c.confrelid = s.confrelid \
           AND cardinality(c.conkey) = 2 AND c.conkey[2] = s.conkey[1] \
         JOIN pg_trigger single ON single.tgconstraint = s.oid AND single.tgrelid = s.confrelid \
         JOIN pg_trigger composite ON composite.tgconstraint = c.oid AND composite.tgrelid = c.confrelid \
         WHERE s.contype = 'f' AND c.contype = 'f' AND cardinality(s.conkey) = 1 \
           AND single.tgname < composite.tgname",
        vec![],
    )
    .await
        == 0
}
