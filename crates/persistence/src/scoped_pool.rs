//! The pool as a repository outside an explicit transaction sees it.

use migrations::row_security::{SYSTEM_SETTING, TENANT_SETTING};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, Statement,
    TransactionTrait,
};

use crate::TenantScope;

/// The pool seen through one scope. On PostgreSQL every statement runs in a transaction of its
/// own that first names the scope (a tenant, or system access), because the pooled connection
/// acts as the application role, which row-level security shows nothing without one; so each
/// statement commits on its own, exactly as it would on the bare pool. SQLite has no row-level
/// security: there it is the bare pool.
#[derive(Debug, Clone)]
pub struct ScopedPool {
    pool: DatabaseConnection,
    scope: RowScope,
}

/// What a PostgreSQL transaction names before its statements, for the row-level security
/// policies (see `migrations::row_security`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowScope {
    Tenant(TenantScope),
    System,
}

impl RowScope {
    /// The setting and its value.
    fn setting(self) -> (&'static str, String) {
        match self {
            RowScope::Tenant(scope) => (TENANT_SETTING, scope.tenant_id().as_uuid().to_string()),
            RowScope::System => (SYSTEM_SETTING, "on".to_owned()),
        }
    }
}

impl ScopedPool {
    pub(crate) fn new(pool: &DatabaseConnection, scope: RowScope) -> Self {
        Self { pool: pool.clone(), scope }
    }
}

/// One statement: on the bare pool for SQLite; on PostgreSQL in a transaction of its own
/// that first names the scope.
macro_rules! scoped_statement {
    ($self:ident . $method:ident ( $arg:expr )) => {{
        if $self.pool.get_database_backend() != DbBackend::Postgres {
            return $self.pool.$method($arg).await;
        }
        let tx = $self.pool.begin().await?;
        name_in_transaction(&tx, $self.scope).await?;
        let out = tx.$method($arg).await?;
        tx.commit().await?;
        Ok(out)
    }};
}

#[sea_orm::prelude::async_trait::async_trait]
impl ConnectionTrait for ScopedPool {
    fn get_database_backend(&self) -> DbBackend {
        self.pool.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        scoped_statement!(self.execute_raw(stmt))
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        scoped_statement!(self.execute_unprepared(sql))
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        scoped_statement!(self.query_one_raw(stmt))
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        scoped_statement!(self.query_all_raw(stmt))
    }

    fn support_returning(&self) -> bool {
        self.pool.support_returning()
    }
}

/// Names `scope` for the rest of the transaction `conn`. A no-op on SQLite.
pub(crate) async fn name_in_transaction(conn: &impl ConnectionTrait, scope: RowScope) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        let (setting, value) = scope.setting();
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [setting.into(), value.into()],
        ))
        .await?;
    }
    Ok(())
}
