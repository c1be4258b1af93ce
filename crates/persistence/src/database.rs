use std::path::PathBuf;
use std::time::Duration;

use domain::Secret;
use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait};

use crate::{StoreError, SystemRepo, TenantRepo, TenantScope};

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
    /// PostgreSQL: migrations open their own connection, free of the statement timeout (a
    /// migration may rewrite a large table in one statement).
    migration_dsn: Option<Secret<String>>,
}

impl Database {
    /// Opens the pool. SQLite files are created when missing and run with WAL, foreign keys
    /// and a busy timeout; both backends use a bounded pool.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = match settings {
            DatabaseSettings::Sqlite { path, pool_size } => {
                let mut options = ConnectOptions::new(format!("sqlite://{}", path.display()));
                let path = path.clone();
                options.max_connections(*pool_size).map_sqlx_sqlite_opts(move |opts| {
                    opts.filename(&path)
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .foreign_keys(true)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                });
                options
            }
            DatabaseSettings::Postgres { dsn, pool_size, statement_timeout } => {
                let mut options = ConnectOptions::new(dsn.expose().clone());
                options.max_connections(*pool_size).statement_timeout(*statement_timeout);
                options
            }
        };
        let mut options = options;
        options.acquire_timeout(ACQUIRE_TIMEOUT).connect_timeout(ACQUIRE_TIMEOUT).sqlx_logging(false);
        let conn = sea_orm::Database::connect(options).await?;
        let migration_dsn = match settings {
            DatabaseSettings::Postgres { dsn, .. } => Some(dsn.clone()),
            DatabaseSettings::Sqlite { .. } => None,
        };
        Ok(Self { conn, migration_dsn })
    }

    /// Brings the schema up to date. Safe to run at every start.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let Some(dsn) = &self.migration_dsn else {
            Migrator::up(&self.conn, None).await?;
            return Ok(());
        };
        let mut options = ConnectOptions::new(dsn.expose().clone());
        options
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_timeout(ACQUIRE_TIMEOUT)
            .sqlx_logging(false);
        let conn = sea_orm::Database::connect(options).await?;
        let migrated = Migrator::up(&conn, None).await;
        conn.close().await.ok();
        migrated?;
        Ok(())
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

    /// Cross-tenant operations, for system administration paths only.
    pub fn system(&self) -> SystemRepo<'_, DatabaseConnection> {
        SystemRepo::new(&self.conn)
    }

    /// Operations on one tenant's data.
    pub fn tenant(&self, scope: TenantScope) -> TenantRepo<'_, DatabaseConnection> {
        TenantRepo::new(&self.conn, scope)
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

/// An open transaction; dropped without [`Transaction::commit`], it rolls back.
pub struct Transaction {
    tx: DatabaseTransaction,
}

impl Transaction {
    pub fn system(&self) -> SystemRepo<'_, DatabaseTransaction> {
        SystemRepo::new(&self.tx)
    }

    pub fn tenant(&self, scope: TenantScope) -> TenantRepo<'_, DatabaseTransaction> {
        TenantRepo::new(&self.tx, scope)
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}
