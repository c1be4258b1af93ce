//! Throw-away databases for tests: a fresh SQLite file or a fresh PostgreSQL database each,
//! migrated, and removed again when dropped (even when the test panics).
//!
//! PostgreSQL comes from `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`).
//! A test that needs it fails when it is unreachable: a skipped database test proves nothing.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use domain::Secret;
use sea_orm::{ConnectionTrait, Statement};

use domain::tenant::Tenant;

use crate::{Database, DatabaseSettings, SystemAccess, TenantScope};

/// Tests act as the operator: they set up and inspect any tenant.
#[allow(clippy::disallowed_methods)]
pub fn operator() -> SystemAccess {
    SystemAccess::operator()
}

/// The scope of a tenant a test set up.
pub fn scope_of(tenant: &Tenant) -> TenantScope {
    TenantScope::new(tenant.id)
}

pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Runs the listed `async fn(Database)` tests once on SQLite and once on PostgreSQL, as
/// `sqlite::<name>` and `postgres::<name>`.
#[macro_export]
macro_rules! test_on_both_databases {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let db = $crate::testing::TestDatabase::sqlite().await;
                    super::$test(db.database().clone()).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    let db = $crate::testing::TestDatabase::postgres().await;
                    super::$test(db.database().clone()).await;
                }
            )+
        }
    };
}

/// A migrated database that exists for one test.
pub struct TestDatabase {
    database: Database,
    settings: DatabaseSettings,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// A new SQLite file in its own temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let settings = DatabaseSettings::Sqlite { path: dir.path().join("test.db"), pool_size: 5 };
        let database = Database::connect(&settings).await.expect("open the SQLite test database");
        database.migrate().await.expect("migrate the SQLite test database");
        Self { database, settings, cleanup: Cleanup::Sqlite(dir) }
    }

    /// A new database on the test PostgreSQL server.
    pub async fn postgres() -> Self {
        let db = Self::postgres_unmigrated().await;
        db.database.migrate().await.expect("migrate the PostgreSQL test database");
        db
    }

    /// A new, empty database on the test PostgreSQL server, for tests of migrating itself.
    pub async fn postgres_unmigrated() -> Self {
        let admin_url = postgres_admin_url();
        let name = format!("pm_test_{}", uuid::Uuid::new_v4().simple());
        let admin = sea_orm::Database::connect(&admin_url).await.unwrap_or_else(|err| {
            panic!(
                "PostgreSQL at {} is unreachable ({err}). Start it, or point TEST_POSTGRES_URL at one.",
                redact(&admin_url)
            )
        });
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the PostgreSQL test database");
        admin.close().await.ok();

        let dsn = replace_database(&admin_url, &name);
        let settings = DatabaseSettings::Postgres {
            dsn: Secret::new(dsn),
            pool_size: 5,
            statement_timeout: crate::DEFAULT_STATEMENT_TIMEOUT,
        };
        let database = Database::connect(&settings).await.expect("open the PostgreSQL test database");
        Self { database, settings, cleanup: Cleanup::Postgres { admin_url, name } }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The settings that open this database, for code under test that connects by itself.
    pub fn settings(&self) -> &DatabaseSettings {
        &self.settings
    }

    /// Runs raw SQL and returns the first column of the first row as text (for checks such as
    /// `PRAGMA journal_mode`).
    pub async fn query_text(&self, sql: &str) -> Option<String> {
        query_text(&self.database, sql).await
    }

    /// Like [`TestDatabase::query_text`], as the tables' owner: on PostgreSQL the pool acts as
    /// the application's role, which row-level security shows no rows without a tenant.
    pub async fn query_text_as_owner(&self, sql: &str) -> Option<String> {
        let Some(owner) = self.owner().await else {
            return self.query_text(sql).await;
        };
        let row = owner
            .query_one_raw(Statement::from_string(owner.get_database_backend(), sql.to_owned()))
            .await
            .expect("run the query");
        owner.close().await.ok();
        row.and_then(|row| row.try_get_by_index::<String>(0).ok())
    }

    /// Refreshes the planner's statistics (and, on PostgreSQL, merges pending GIN entries)
    /// after a bulk load, as autovacuum or `PRAGMA optimize` would in production.
    pub async fn analyze(&self) {
        match self.owner().await {
            // Only the tables' owner may vacuum them, not the application's role.
            Some(owner) => {
                owner.execute_unprepared("VACUUM ANALYZE").await.expect("analyze");
                owner.close().await.ok();
            }
            None => {
                self.database.connection().execute_unprepared("ANALYZE").await.expect("analyze");
            }
        }
    }

    /// PostgreSQL: a connection as the tables' owner (the DSN's user), outside the
    /// application's role; `None` on SQLite, which has no roles.
    async fn owner(&self) -> Option<sea_orm::DatabaseConnection> {
        let DatabaseSettings::Postgres { dsn, .. } = &self.settings else {
            return None;
        };
        Some(sea_orm::Database::connect(dsn.expose().as_str()).await.expect("connect as the owner"))
    }
}

impl TestDatabase {
    /// Another pool on this database whose PostgreSQL statements time out after `timeout`.
    pub async fn with_statement_timeout(&self, timeout: std::time::Duration) -> Database {
        let settings = match self.settings.clone() {
            DatabaseSettings::Postgres { dsn, pool_size, .. } => {
                DatabaseSettings::Postgres { dsn, pool_size, statement_timeout: timeout }
            }
            sqlite => sqlite,
        };
        Database::connect(&settings).await.expect("open another pool on the test database")
    }
}

/// Runs raw SQL through the pool and discards its rows, keeping the store's error.
pub async fn execute(database: &Database, sql: &str) -> Result<(), crate::StoreError> {
    let conn = database.connection();
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned())).await?;
    Ok(())
}

/// See [`TestDatabase::query_text`].
pub async fn query_text(database: &Database, sql: &str) -> Option<String> {
    let conn = database.connection();
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql.to_owned()))
        .await
        .expect("run the query")?;
    row.try_get_by_index::<String>(0)
        .ok()
        .or_else(|| row.try_get_by_index::<i64>(0).ok().map(|n| n.to_string()))
        .or_else(|| row.try_get_by_index::<i32>(0).ok().map(|n| n.to_string()))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return; // the TempDir removes the SQLite files
        };
        // Drop runs outside async: use a private runtime on its own thread. FORCE ends the
        // test's own pooled connections.
        let (admin_url, name) = (admin_url.clone(), name.clone());
        let drop_sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let admin = sea_orm::Database::connect(&admin_url).await.ok()?;
                admin.execute_unprepared(&drop_sql).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop test database {name}");
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned())
}

/// The same URL pointing at another database on that server.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let server = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |i| i + 2) => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

impl Database {
    /// Counts the statements this handle runs from now on, for tests that bound round trips.
    pub fn count_statements(&mut self) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = count.clone();
        self.conn.set_metric_callback(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_in_urls() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://***@h/db");
    }
}
