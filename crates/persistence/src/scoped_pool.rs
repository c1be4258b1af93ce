//! The pool as a repository outside an explicit transaction sees it.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult,
    Statement, TransactionTrait,
};

/// The pool seen through one scope. On PostgreSQL every statement runs in a transaction of its
/// own that first names the scope (a tenant, or system access), because the pooled connection
/// acts as the application role, which row-level security shows nothing without one; so each
/// statement commits on its own, exactly as it would on the bare pool. SQLite has no row-level
/// security: there it is the bare pool.
#[derive(Debug, Clone)]
pub struct ScopedPool {
    pool: DatabaseConnection,
    setting: &'static str,
    value: String,
}

impl ScopedPool {
    pub(crate) fn new(pool: &DatabaseConnection, setting: &'static str, value: String) -> Self {
        Self { pool: pool.clone(), setting, value }
    }

    fn on_postgres(&self) -> bool {
        self.pool.get_database_backend() == DbBackend::Postgres
    }

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        let tx = self.pool.begin().await?;
        name_in_transaction(&tx, self.setting, &self.value).await?;
        Ok(tx)
    }
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for ScopedPool {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if !self.on_postgres() {
            return self.pool.execute_raw(stmt).await;
        }
        let tx = self.begin().await?;
        let result = tx.execute_raw(stmt).await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        if !self.on_postgres() {
            return self.pool.execute_unprepared(sql).await;
        }
        let tx = self.begin().await?;
        let result = tx.execute_unprepared(sql).await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if !self.on_postgres() {
            return self.pool.query_one_raw(stmt).await;
        }
        let tx = self.begin().await?;
        let row = tx.query_one_raw(stmt).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if !self.on_postgres() {
            return self.pool.query_all_raw(stmt).await;
        }
        let tx = self.begin().await?;
        let rows = tx.query_all_raw(stmt).await?;
        tx.commit().await?;
        Ok(rows)
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

/// Names `value` under `setting` (one of `migrations::row_security`'s, which the PostgreSQL
/// policies read) for the rest of the transaction `conn`. A no-op on SQLite.
pub(crate) async fn name_in_transaction(
    conn: &impl ConnectionTrait,
    setting: &str,
    value: &str,
) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [setting.into(), value.into()],
        ))
        .await?;
    }
    Ok(())
}
