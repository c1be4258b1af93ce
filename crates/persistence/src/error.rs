use sea_orm::{DbErr, SqlErr};

/// What can go wrong in storage, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (duplicate subdomain, email, name…). The caller
    /// knows which value it wrote and turns this into a field error.
    #[error("a unique constraint refused the write")]
    Conflict,
    /// No connection could be had (server down, pool exhausted): worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    /// The database refused or failed the statement.
    #[error("database error: {0}")]
    Database(DbErr),
    /// A stored value no longer satisfies the domain's rules (hand-edited row, bad migration).
    #[error("stored {column} is invalid: {reason}")]
    Corrupt { column: &'static str, reason: String },
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        // The one place where unique violations are recognised, for both backends.
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict,
            _ if matches!(err, DbErr::ConnectionAcquire(_) | DbErr::Conn(_)) => StoreError::Unavailable(err),
            _ => StoreError::Database(err),
        }
    }
}

pub(crate) fn corrupt(column: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt { column, reason: reason.to_string() }
}
