use std::path::PathBuf;
use std::time::Duration;

use domain::Secret;
use migrations::row_security::APP_ROLE;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseExecutor, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};

use crate::scoped_pool::{RowScope, ScopedPool, name_in_transaction};
use crate::{AuthenticationRepo, StoreError, SystemAccess, SystemRepo, TenantRepo, TenantScope};

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a PostgreSQL statement may run before the server cancels it
/// (`DATABASE_STATEMENT_TIMEOUT`).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database to open.
#[derive(Debug, Clone)]
pub enum DatabaseSettings {
    Sqlite {
        path: PathBuf,
        pool_size: u32,
    },
    /// `statement_timeout`: PostgreSQL cancels any statement of the pool that runs longer
    /// ([`StoreError::Timeout`]); zero: no limit. Migrations run without it.
    Postgres {
        dsn: Secret<String>,
        pool_size: u32,
        statement_timeout: Duration,
    },
}

/// The kind of database behind a [`Database`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A pool of connections to the application's database.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) conn: DatabaseConnection,
    /// How [`Database::migrate`] connects: on PostgreSQL as the owner (the DSN's user).
    migration_options: ConnectOptions,
}

impl Database {
    /// Opens the pool. SQLite files are created when missing and run with WAL, foreign keys
    /// and a busy timeout; both backends use a bounded pool.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = match settings {
            DatabaseSettings::Sqlite { path, pool_size } => sqlite_options(path, *pool_size, true),
            DatabaseSettings::Postgres { dsn, pool_size, statement_timeout } => {
                let mut options = ConnectOptions::new(dsn.expose().clone());
                // Every pooled connection works as the application's role, which owns nothing
                // and is subject to row-level security. The role is made by a migration, so
                // the pool connects lazily: `migrate` (as the owner) runs first.
                options
                    .max_connections(*pool_size)
                    .statement_timeout(*statement_timeout)
                    .connect_lazy(true)
                    .map_sqlx_postgres_pool_opts(|pool| {
                        pool.after_connect(|conn, _| {
                            Box::pin(async move {
                                let set_role = sea_orm::sqlx::AssertSqlSafe(format!("SET ROLE {APP_ROLE}"));
                                sea_orm::sqlx::Executor::execute(conn, set_role).await.map(|_| ())
                            })
                        })
                    });
                options
            }
        };
        let mut options = options;
        options.acquire_timeout(ACQUIRE_TIMEOUT).connect_timeout(ACQUIRE_TIMEOUT).sqlx_logging(false);
        let conn = sea_orm::Database::connect(options).await?;
        let mut migration_options = match settings {
            DatabaseSettings::Postgres { dsn, .. } => ConnectOptions::new(dsn.expose().clone()),
            DatabaseSettings::Sqlite { path, .. } => sqlite_options(path, 1, false),
        };
        migration_options
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_timeout(ACQUIRE_TIMEOUT)
            .sqlx_logging(false);
        Ok(Self { conn, migration_options })
    }

    /// Brings the schema up to date. Safe to run at every start. Migrations run on a
    /// connection of their own: on PostgreSQL as the owner, free of the statement timeout and
    /// of row-level security; on SQLite with foreign keys off, because adding a constraint
    /// there means rebuilding a table, which with them on would cascade-delete its children.
    /// Afterwards SQLite checks every foreign key, so a migration cannot leave one broken.
    /// Instances that start at once on one PostgreSQL take turns: each migrates under a
    /// session lock, so the first does the work and the others find nothing left to do.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // One connection (the options allow no more), so the lock and the migrations share it;
        // closing it, or the process dying, releases the lock.
        let conn = sea_orm::Database::connect(self.migration_options.clone()).await?;
        let migrated = match conn.get_database_backend() {
            DbBackend::Postgres => migrate_locked(&conn).await,
            _ => migrate_on(&conn).await,
        };
        conn.close().await.ok();
        migrated
    }

    /// Answers whether the database can serve a query right now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.conn.ping().await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.conn.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// Cross-tenant operations; each statement commits on its own.
    pub fn system(&self, _access: SystemAccess) -> SystemRepo {
        SystemRepo::new(ScopedPool::new(&self.conn, RowScope::System))
    }

    /// Operations on one tenant's data; each statement commits on its own.
    pub fn tenant(&self, scope: TenantScope) -> TenantRepo {
        TenantRepo::new(ScopedPool::new(&self.conn, RowScope::Tenant(scope)), scope)
    }

    /// The lookups that come before a principal exists: sign-in and bearer credentials.
    pub fn authentication(&self) -> AuthenticationRepo {
        AuthenticationRepo::new(ScopedPool::new(&self.conn, RowScope::System))
    }

    /// Starts a transaction; repositories taken from it see and write the same snapshot, and
    /// nothing is kept unless [`Transaction::commit`] is called.
    pub async fn begin(&self) -> Result<Transaction, StoreError> {
        Ok(Transaction { tx: self.conn.begin().await? })
    }

    #[cfg(feature = "test-support")]
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes every pooled connection (used at shutdown and by tests that drop databases).
    pub async fn close(self) -> Result<(), StoreError> {
        self.conn.close().await?;
        Ok(())
    }
}

/// A tenant repository inside a [`Transaction`].
pub type TransactionRepo<'a> = crate::TenantRepo<DatabaseExecutor<'a>>;

/// An open transaction; dropped without [`Transaction::commit`], it rolls back.
pub struct Transaction {
    tx: DatabaseTransaction,
}

impl Transaction {
    /// Cross-tenant operations inside this transaction.
    pub async fn system(
        &self,
        _access: SystemAccess,
    ) -> Result<SystemRepo<DatabaseExecutor<'_>>, StoreError> {
        name_in_transaction(&self.tx, RowScope::System).await?;
        Ok(SystemRepo::new(DatabaseExecutor::from(&self.tx)))
    }

    /// Operations on one tenant's data inside this transaction, which works in that tenant
    /// from here on.
    pub async fn tenant(&self, scope: TenantScope) -> Result<TenantRepo<DatabaseExecutor<'_>>, StoreError> {
        name_in_transaction(&self.tx, RowScope::Tenant(scope)).await?;
        Ok(TenantRepo::new(DatabaseExecutor::from(&self.tx), scope))
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// A SQLite file's options; `foreign_keys` is off only for migrations.
fn sqlite_options(path: &std::path::Path, pool_size: u32, foreign_keys: bool) -> ConnectOptions {
    let mut options = ConnectOptions::new(format!("sqlite://{}", path.display()));
    let path = path.to_path_buf();
    options.max_connections(pool_size).map_sqlx_sqlite_opts(move |opts| {
        opts.filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(foreign_keys)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
    });
    options
}

/// The PostgreSQL advisory lock migrations run under (any constant the schema owns; "pm-migr").
const MIGRATION_LOCK: i64 = 0x0070_6d2d_6d69_6772;

async fn migrate_locked(conn: &DatabaseConnection) -> Result<(), StoreError> {
    let lock = |function: &str| {
        Statement::from_string(DbBackend::Postgres, format!("SELECT {function}({MIGRATION_LOCK})::text"))
    };
    conn.query_one_raw(lock("pg_advisory_lock")).await?;
    let migrated = migrate_on(conn).await;
    conn.query_one_raw(lock("pg_advisory_unlock")).await?;
    migrated
}

async fn migrate_on(conn: &DatabaseConnection) -> Result<(), StoreError> {
    Migrator::up(conn, None).await?;
    if conn.get_database_backend() == DbBackend::Sqlite {
        let broken =
            conn.query_all_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA foreign_key_check")).await?;
        if !broken.is_empty() {
            let reason = format!("{} rows break a foreign key after migrating", broken.len());
            return Err(sea_orm::DbErr::Migration(reason).into());
        }
    }
    Ok(())
}
