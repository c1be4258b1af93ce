//! PostgreSQL row-level security: the application's role sees and writes only the rows its
//! transaction is scoped to, so a query that forgets its tenant filter returns nothing rather
//! than another tenant's data. SQLite has no row-level security; there this does nothing.
//!
//! - The role [`APP_ROLE`] (cluster-wide, `NOLOGIN`) may use every table but the migration
//!   record, including tables of later migrations (default privileges). The migrating user, if
//!   it is not a superuser, becomes a member so that its connections may `SET ROLE` to it.
//! - Every table with a `tenant_id` column, and `tenants`, gets row-level security with two
//!   permissive policies: [`TENANT_POLICY`] admits the rows of the tenant in [`crate::row_security::TENANT_SETTING`]
//!   and [`SYSTEM_POLICY`] admits every row when [`crate::row_security::SYSTEM_SETTING`] is `on`. Neither set: no
//!   rows. Rows without a tenant (system-wide audit events) are for system work only.
//! - Not `FORCE`d: the tables' owner — the migrations — is exempt. Foreign-key checks and
//!   actions bypass row security by design.
//!
//! A later migration that adds a tenant table must enable row-level security and create both
//! policies on it (the schema tests check every table with a `tenant_id`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::row_security::{APP_ROLE, SYSTEM_POLICY, TENANT_POLICY, protect_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The record of applied migrations: the application never migrates.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

/// The table whose rows are tenants: scoped by `id` rather than `tenant_id`.
const TENANTS_TABLE: &str = "tenants";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // Roles belong to the whole server and several databases may migrate at once: whoever
        // loses the race to create the role finds it made.
        db.execute_unprepared(&format!(
            "DO $$ BEGIN \
               IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{APP_ROLE}') THEN \
                 CREATE ROLE \"{APP_ROLE}\" NOLOGIN; \
               END IF; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; \
             END $$"
        ))
        .await?;
        // A superuser may SET ROLE to any role; granting it anyway would update the server-wide
        // memberships from every database migrating at once. Otherwise another database's
        // migration may grant the same membership first (unique_violation): then it exists.
        // PostgreSQL 16 separates being a member from being allowed to SET ROLE (a role's
        // creator is a member that may not).
        db.execute_unprepared(&format!(
            "DO $$ BEGIN \
               IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN \
                 RETURN; \
               END IF; \
               IF current_setting('server_version_num')::int >= 160000 THEN \
                 IF NOT pg_catalog.pg_has_role(current_user, '{APP_ROLE}', 'SET') THEN \
                   EXECUTE format('GRANT %I TO %I WITH SET TRUE', '{APP_ROLE}', current_user); \
                 END IF; \
               ELSIF NOT pg_catalog.pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN \
                 EXECUTE format('GRANT %I TO %I', '{APP_ROLE}', current_user); \
               END IF; \
             EXCEPTION WHEN unique_violation THEN NULL; \
             END $$"
        ))
        .await?;
        for statement in [
            format!("GRANT USAGE ON SCHEMA public TO \"{APP_ROLE}\""),
            format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{APP_ROLE}\""),
            format!("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \"{APP_ROLE}\""),
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public \
                 GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO \"{APP_ROLE}\""
            ),
            format!(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO \"{APP_ROLE}\""
            ),
            format!("REVOKE ALL ON \"{MIGRATIONS_TABLE}\" FROM \"{APP_ROLE}\""),
        ] {
            db.execute_unprepared(&statement).await?;
        }

        for table in tenant_tables(db).await? {
            let column = if table == TENANTS_TABLE { "id" } else { "tenant_id" };
            for statement in protect_table(&table, column) {
                db.execute_unprepared(&statement).await?;
            }
        }
        Ok(())
    }

    /// Leaves the role: other databases of the server may use it.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for table in tenant_tables(db).await? {
            let table = quote(&table);
            for statement in [
                format!("DROP POLICY IF EXISTS \"{SYSTEM_POLICY}\" ON {table}"),
                format!("DROP POLICY IF EXISTS \"{TENANT_POLICY}\" ON {table}"),
                format!("ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"),
            ] {
                db.execute_unprepared(&statement).await?;
            }
        }
        for statement in [
            format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM \"{APP_ROLE}\""),
            format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM \"{APP_ROLE}\""),
            format!("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM \"{APP_ROLE}\""),
            format!("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM \"{APP_ROLE}\""),
            format!("REVOKE USAGE ON SCHEMA public FROM \"{APP_ROLE}\""),
        ] {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}

/// The tables of `public` that hold tenants' rows: `tenants` and every one with a `tenant_id`.
async fn tenant_tables<C: ConnectionTrait>(db: &C) -> Result<Vec<String>, DbErr> {
    db.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT c.relname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
           AND (c.relname = $1 OR EXISTS (SELECT FROM pg_catalog.pg_attribute a \
                WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)) \
         ORDER BY c.relname",
        [TENANTS_TABLE.into()],
    ))
    .await?
    .iter()
    .map(|row| row.try_get_by_index::<String>(0))
    .collect()
}

/// An identifier, quoted.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
