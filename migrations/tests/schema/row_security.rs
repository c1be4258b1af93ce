//! `m20261202_000011_row_level_security`: on PostgreSQL the application's role sees and writes
//! only the rows its transaction is scoped to.

use migrations::row_security::{APP_ROLE, SYSTEM_POLICY, SYSTEM_SETTING, TENANT_POLICY, TENANT_SETTING};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};
use uuid::Uuid;

use crate::support::*;

/// A migrated PostgreSQL database with two tenants' rows (one in every tenant table) and a
/// system-wide audit event.
async fn two_tenants() -> (TestDb, Tenant, Tenant) {
    let db = TestDb::new(Kind::Postgres, None).await;
    let a = seed_tenant(&db.conn, "a").await;
    let b = seed_tenant(&db.conn, "b").await;
    seed_sso(&db.conn, &a).await;
    seed_sso(&db.conn, &b).await;
    seed_library_links(&db.conn, &a).await;
    seed_library_links(&db.conn, &b).await;
    insert_system_event(&db.conn).await;
    (db, a, b)
}

/// `tenants` and every table with a `tenant_id` column, from the catalog as it is now, with
/// the column that names the tenant.
async fn tenant_tables(db: &TestDb) -> Vec<(String, &'static str)> {
    let mut tables: Vec<(String, &'static str)> = db
        .query(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY table_name",
            vec![],
        )
        .await
        .iter()
        .map(|row| (row.try_get_by_index::<String>(0).unwrap(), "tenant_id"))
        .collect();
    tables.push(("tenants".to_owned(), "id"));
    assert!(tables.len() >= 11, "tenant tables: {tables:?}");
    tables
}

async fn count_in<C: sea_orm::ConnectionTrait>(db: &C, table: &str) -> Result<i64, DbErr> {
    number(db, &format!("SELECT COUNT(*) FROM \"{table}\""), vec![]).await
}

/// The app role's count of every tenant table's rows in one transaction with `setting`.
async fn app_counts(
    app: &DatabaseConnection,
    tables: &[(String, &str)],
    setting: Option<(&str, &str)>,
) -> Vec<i64> {
    in_transaction_with(app, setting, async |txn: &DatabaseTransaction| {
        let mut counts = Vec::new();
        for (table, _) in tables {
            counts.push(count_in(txn, table).await.unwrap_or_else(|err| panic!("count {table}: {err}")));
        }
        counts
    })
    .await
}

#[tokio::test]
async fn app_role_without_a_scope_sees_no_rows() {
    let (db, _a, _b) = two_tenants().await;
    let tables = tenant_tables(&db).await;
    let app = db.postgres_connection_as(APP_ROLE).await;

    for (table, _) in &tables {
        assert!(db.count(table).await >= 2, "{table} holds rows");
        // Outside a transaction, and in one that sets nothing.
        assert_eq!(count_in(&app, table).await.unwrap(), 0, "{table} without a scope");
    }
    assert_eq!(app_counts(&app, &tables, None).await, vec![0; tables.len()]);
}

#[tokio::test]
async fn tenant_scope_sees_only_its_tenants_rows() {
    let (db, a, b) = two_tenants().await;
    let tables = tenant_tables(&db).await;
    let app = db.postgres_connection_as(APP_ROLE).await;

    for tenant in [a.id, b.id] {
        let scope = tenant.to_string();
        let seen = app_counts(&app, &tables, Some((TENANT_SETTING, &scope))).await;
        for ((table, column), seen) in tables.iter().zip(seen) {
            let own = db.count_where(table, column, tenant).await;
            assert!(own >= 1, "{table} has rows of {tenant}");
            assert_eq!(seen, own, "{table} scoped to {tenant}");
        }
    }
    // The rows are the tenant's own, not just as many.
    let scope = a.id.to_string();
    let users =
        in_transaction_with(&app, Some((TENANT_SETTING, &scope)), async |txn: &DatabaseTransaction| {
            query(txn, "SELECT id FROM users", vec![]).await.unwrap()
        })
        .await;
    let users: Vec<Uuid> = users.iter().map(|row| row.try_get_by_index::<Uuid>(0).unwrap()).collect();
    assert_eq!(users, vec![a.user]);
}

#[tokio::test]
async fn system_scope_sees_every_row() {
    let (db, _a, _b) = two_tenants().await;
    let tables = tenant_tables(&db).await;
    let app = db.postgres_connection_as(APP_ROLE).await;

    let seen = app_counts(&app, &tables, Some((SYSTEM_SETTING, "on"))).await;
    for ((table, _), seen) in tables.iter().zip(seen) {
        assert_eq!(seen, db.count(table).await, "{table} with system access");
    }
    // Only "on" opens it.
    let seen = app_counts(&app, &tables, Some((SYSTEM_SETTING, "off"))).await;
    assert_eq!(seen, vec![0; tables.len()]);
}

#[tokio::test]
async fn tenant_scope_cannot_write_another_tenants_rows() {
    let (db, a, b) = two_tenants().await;
    let app = db.postgres_connection_as(APP_ROLE).await;
    let scope = a.id.to_string();
    let as_a = Some((TENANT_SETTING, scope.as_str()));

    // A row of tenant B, written while scoped to A: the policy's check refuses it.
    let err = in_transaction_with(&app, as_a, async |txn: &DatabaseTransaction| {
        insert_session(txn, b.id, Uuid::now_v7(), b.user).await.expect_err("a row of another tenant")
    })
    .await;
    assert!(err.to_string().contains("violates row-level security policy"), "{err}");
    // Moving one's own row to another tenant is refused alike.
    let err = in_transaction_with(&app, as_a, async |txn: &DatabaseTransaction| {
        exec(txn, "UPDATE config SET tenant_id = ? WHERE id = ?", vec![b.id.into(), a.config.into()])
            .await
            .expect_err("a row moved to another tenant")
    })
    .await;
    assert!(err.to_string().contains("violates row-level security policy"), "{err}");
    // B's rows cannot be seen, so they are neither updated nor deleted.
    let (updated, deleted) = in_transaction_with(&app, as_a, async |txn: &DatabaseTransaction| {
        let updated =
            exec(txn, "UPDATE prompts SET title = 'mine' WHERE id = ?", vec![b.prompt.into()]).await.unwrap();
        let deleted = exec(txn, "DELETE FROM sessions WHERE id = ?", vec![b.session.into()]).await.unwrap();
        (updated.rows_affected(), deleted.rows_affected())
    })
    .await;
    assert_eq!((updated, deleted), (0, 0));
    assert_eq!(db.count_where("sessions", "id", b.session).await, 1);
    // The tenant's own rows are written as ever.
    let session = Uuid::now_v7();
    in_transaction_with(&app, as_a, async |txn: &DatabaseTransaction| {
        insert_session(txn, a.id, session, a.user).await.expect("a row of its own tenant");
        let updated =
            exec(txn, "UPDATE prompts SET title = 'mine' WHERE id = ?", vec![a.prompt.into()]).await.unwrap();
        assert_eq!(updated.rows_affected(), 1);
    })
    .await;
    assert_eq!(db.count_where("sessions", "id", session).await, 1);
    // Unscoped, it writes nothing at all.
    let err = insert_session(&app, a.id, Uuid::now_v7(), a.user).await.expect_err("a row without a scope");
    assert!(err.to_string().contains("violates row-level security policy"), "{err}");
}

#[tokio::test]
async fn scope_ends_with_its_transaction() {
    let (db, a, _b) = two_tenants().await;
    let app = db.postgres_connection_as(APP_ROLE).await;
    let scope = a.id.to_string();

    let during =
        in_transaction_with(&app, Some((TENANT_SETTING, &scope)), async |txn: &DatabaseTransaction| {
            count_in(txn, "users").await.unwrap()
        })
        .await;
    assert_eq!(during, 1);
    // The same connection now reads the setting as '' (not NULL), which must mean no tenant.
    let setting = query(&app, "SELECT current_setting(?, true)", vec![TENANT_SETTING.into()]).await.unwrap();
    assert_eq!(setting[0].try_get_by_index::<Option<String>>(0).unwrap().as_deref(), Some(""));
    assert_eq!(count_in(&app, "users").await.unwrap(), 0);
    in_transaction_with(&app, Some((SYSTEM_SETTING, "on")), async |_: &DatabaseTransaction| ()).await;
    assert_eq!(count_in(&app, "users").await.unwrap(), 0);
}

#[tokio::test]
async fn app_role_cannot_read_the_migration_record() {
    let (db, _a, _b) = two_tenants().await;
    let app = db.postgres_connection_as(APP_ROLE).await;
    for setting in [None, Some((SYSTEM_SETTING, "on"))] {
        let err = in_transaction_with(&app, setting, async |txn: &DatabaseTransaction| {
            count_in(txn, "seaql_migrations").await.expect_err("the migration record is the owner's")
        })
        .await;
        assert!(err.to_string().contains("permission denied"), "{err}");
    }
    let err = exec(&app, "DELETE FROM seaql_migrations", vec![]).await.expect_err("no deleting it either");
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn every_tenant_table_has_row_level_security() {
    let db = TestDb::new(Kind::Postgres, None).await;
    for (table, _) in tenant_tables(&db).await {
        let rows = db
            .query(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class \
                 WHERE oid = CAST(? AS regclass)",
                vec![format!("public.\"{table}\"").into()],
            )
            .await;
        let (enabled, forced): (bool, bool) =
            (rows[0].try_get_by_index(0).unwrap(), rows[0].try_get_by_index(1).unwrap());
        assert!(enabled, "{table}: row-level security");
        assert!(!forced, "{table}: the owner (migrations) stays exempt");
        let policies = db
            .query(
                "SELECT policyname::text, permissive, cmd FROM pg_policies \
                 WHERE schemaname = 'public' AND tablename = ? ORDER BY policyname",
                vec![table.clone().into()],
            )
            .await;
        let policies: Vec<(String, String, String)> = policies
            .iter()
            .map(|row| {
                (
                    row.try_get_by_index(0).unwrap(),
                    row.try_get_by_index(1).unwrap(),
                    row.try_get_by_index(2).unwrap(),
                )
            })
            .collect();
        let expected =
            [SYSTEM_POLICY, TENANT_POLICY].map(|p| (p.to_owned(), "PERMISSIVE".to_owned(), "ALL".to_owned()));
        assert_eq!(policies, expected.to_vec(), "{table}: policies");
    }
}

#[tokio::test]
async fn app_role_may_use_every_table_but_the_migration_record() {
    let db = TestDb::new(Kind::Postgres, None).await;
    // Default privileges reach tables made by later migrations.
    db.exec("CREATE TABLE later_table (id uuid PRIMARY KEY)", vec![]).await.unwrap();
    let tables = db
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", vec![])
        .await;
    assert!(tables.len() >= 13);
    for row in tables {
        let table: String = row.try_get_by_index(0).unwrap();
        for privilege in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
            let granted = db
                .number(
                    "SELECT has_table_privilege(?, CAST(? AS regclass), ?)::int::int8",
                    vec![APP_ROLE.into(), format!("public.\"{table}\"").into(), privilege.into()],
                )
                .await;
            assert_eq!(granted == 1, table != "seaql_migrations", "{privilege} on {table}");
        }
    }
    let role = db
        .number("SELECT COUNT(*) FROM pg_roles WHERE rolname = ? AND NOT rolcanlogin", vec![APP_ROLE.into()])
        .await;
    assert_eq!(role, 1, "a NOLOGIN role");
}

#[tokio::test]
async fn rolling_back_removes_policies_and_grants() {
    let (db, _a, _b) = two_tenants().await;
    db.roll_back(steps_through_row_security()).await.expect("roll back row-level security");
    for (table, _) in tenant_tables(&db).await {
        let secured = db
            .number(
                "SELECT relrowsecurity::int::int8 FROM pg_class WHERE oid = CAST(? AS regclass)",
                vec![format!("public.\"{table}\"").into()],
            )
            .await;
        assert_eq!(secured, 0, "{table}");
        let granted = db
            .number(
                "SELECT has_table_privilege(?, CAST(? AS regclass), 'SELECT')::int::int8",
                vec![APP_ROLE.into(), format!("public.\"{table}\"").into()],
            )
            .await;
        assert_eq!(granted, 0, "{table}");
    }
    assert_eq!(db.number("SELECT COUNT(*) FROM pg_policies WHERE schemaname = 'public'", vec![]).await, 0);
    // The role stays: other databases of the server may use it.
    assert_eq!(db.number("SELECT COUNT(*) FROM pg_roles WHERE rolname = ?", vec![APP_ROLE.into()]).await, 1);

    db.migrate(None).await.expect("migrate again");
    let app = db.postgres_connection_as(APP_ROLE).await;
    assert_eq!(count_in(&app, "users").await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_has_no_row_level_security() {
    let db = TestDb::new(Kind::Sqlite, None).await;
    assert_eq!(db.count("seaql_migrations").await, migrations_count());
    seed_tenant(&db.conn, "a").await;
    db.roll_back(steps_through_row_security()).await.expect("a no-op to roll back as well");
    assert_eq!(db.count("users").await, 1);
}

/// How many steps back undo row-level security: it and every later migration.
fn steps_through_row_security() -> u32 {
    use migrations::MigratorTrait;
    let all = migrations::Migrator::migrations();
    let at = all.iter().position(|m| m.name() == "m20261202_000011_row_level_security").unwrap();
    (all.len() - at) as u32
}

fn migrations_count() -> i64 {
    use migrations::MigratorTrait;
    migrations::Migrator::migrations().len() as i64
}
