use sea_orm::{DbErr, RuntimeErr, SqlErr};

/// What can go wrong in storage, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (duplicate subdomain, email, name…). The caller
    /// knows which value it wrote and turns this into a field error.
    #[error("a unique constraint refused the write")]
    Conflict,
    /// The write would take the tenant past its prompt count or stored bytes quota.
    #[error("the tenant's prompt quota is used up")]
    QuotaExceeded,
    /// No connection could be had (server down, pool exhausted): worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    /// PostgreSQL cancelled the statement: it ran past the statement timeout.
    #[error("database statement timed out: {0}")]
    Timeout(DbErr),
    /// A value the database cannot hold: PostgreSQL refuses NUL characters in text and JSON.
    /// The input is at fault, not the database.
    #[error("the database cannot store this text: {0}")]
    UnstorableText(DbErr),
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
            _ if is_query_canceled(&err) => StoreError::Timeout(err),
            _ if is_unstorable_text(&err) => StoreError::UnstorableText(err),
            _ => StoreError::Database(err),
        }
    }
}

/// PostgreSQL's SQLSTATE 57014 `query_canceled`: what `statement_timeout` ends a statement with.
fn is_query_canceled(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause))) = err else {
        return false;
    };
    matches!(&**cause, sea_orm::sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"))
}

/// PostgreSQL's SQLSTATE 22021 `character_not_in_repertoire` (a NUL in a text value) and
/// 22P05 `untranslatable_character` (`\u0000` in a JSON value).
fn is_unstorable_text(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause))) = err else {
        return false;
    };
    matches!(&**cause, sea_orm::sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")))
}

pub(crate) fn corrupt(column: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt { column, reason: reason.to_string() }
}
