//! Tenant keys: a row can never reference another tenant's row.
//!
//! `users`, `prompts` and `ai_connections` become unique on `(tenant_id, id)`, and every
//! reference to them gains a composite foreign key `(tenant_id, <column>)` → `(tenant_id, id)`
//! beside its single-column one. The single-column key keeps doing what it did on delete
//! (`CASCADE` or `SET NULL`); the composite one only guards the tenant. A NULL reference is not
//! checked (`MATCH SIMPLE`), as intended for the nullable columns.
//!
//! The composite keys' delete actions differ by database, for the same behaviour:
//! - SQLite: `NO ACTION`. SQLite counts violations until the end of the statement, so the
//!   single-column action has always run by the time the composite key is checked.
//! - PostgreSQL: the single-column key's own action — `CASCADE`, or `SET NULL (<column>)` so
//!   `tenant_id` is never nulled (PostgreSQL 15). PostgreSQL fires a table's foreign-key
//!   triggers in the order of their names, which embed object ids compared as text; a `NO
//!   ACTION` check that fires before the single-column action would reject deleting a user who
//!   still owns rows. With equal actions the order does not matter.
//!
//! SQLite cannot add a constraint to a table: each table is rebuilt (the steps of
//! <https://www.sqlite.org/lang_altertable.html#otheralter>) from its own `CREATE TABLE` text
//! with the constraints appended, and its indexes and triggers (the full-text ones on
//! `prompts`) are recreated. That needs `PRAGMA foreign_keys = OFF` on the migrating
//! connection — dropping a parent table with foreign keys on would delete its children — so
//! the migration refuses to run otherwise; it runs in one transaction and checks the keys of
//! every rebuilt table before it commits.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What deleting the referenced row does to the referencing one.
#[derive(Clone, Copy)]
enum OnDelete {
    Cascade,
    SetNull,
}

/// A composite key `(tenant_id, column)` of `table` → `parent (tenant_id, id)`.
struct TenantKey {
    table: &'static str,
    column: &'static str,
    parent: &'static str,
    /// The action of the single-column key on the same column.
    on_delete: OnDelete,
}

/// The tables that become unique on `(tenant_id, id)`, so composite keys may reference them.
const PARENTS: [&str; 3] = ["users", "prompts", "ai_connections"];

/// Every reference to a tenant-owned row, in the order SQLite rebuilds the tables.
const KEYS: &[TenantKey] = &[
    TenantKey { table: "prompts", column: "user_id", parent: "users", on_delete: OnDelete::SetNull },
    TenantKey { table: "ai_connections", column: "owner_id", parent: "users", on_delete: OnDelete::Cascade },
    TenantKey {
        table: "prompt_versions",
        column: "prompt_id",
        parent: "prompts",
        on_delete: OnDelete::Cascade,
    },
    TenantKey {
        table: "prompt_versions",
        column: "author_id",
        parent: "users",
        on_delete: OnDelete::SetNull,
    },
    TenantKey { table: "prompt_runs", column: "user_id", parent: "users", on_delete: OnDelete::SetNull },
    TenantKey { table: "prompt_runs", column: "prompt_id", parent: "prompts", on_delete: OnDelete::SetNull },
    TenantKey {
        table: "prompt_runs",
        column: "connection_id",
        parent: "ai_connections",
        on_delete: OnDelete::SetNull,
    },
    TenantKey { table: "sessions", column: "user_id", parent: "users", on_delete: OnDelete::Cascade },
    TenantKey { table: "api_tokens", column: "user_id", parent: "users", on_delete: OnDelete::Cascade },
    TenantKey { table: "config", column: "user_id", parent: "users", on_delete: OnDelete::Cascade },
    TenantKey {
        table: "ai_policies",
        column: "execution_connection_id",
        parent: "ai_connections",
        on_delete: OnDelete::SetNull,
    },
    TenantKey {
        table: "ai_policies",
        column: "enhancement_connection_id",
        parent: "ai_connections",
        on_delete: OnDelete::SetNull,
    },
];

/// `ux_<table>_tenant_id`.
fn unique_name(parent: &str) -> String {
    format!("ux_{parent}_tenant_id")
}

impl TenantKey {
    /// `fk_<table>_tenant_<column>`.
    fn name(&self) -> String {
        format!("fk_{}_tenant_{}", self.table, self.column)
    }

    /// The constraint as a table constraint, as SQLite stores it in the table's definition.
    fn sqlite_constraint(&self) -> String {
        format!(
            "CONSTRAINT \"{}\" FOREIGN KEY (\"tenant_id\", \"{}\") REFERENCES \"{}\" (\"tenant_id\", \"id\") \
             ON DELETE NO ACTION ON UPDATE NO ACTION",
            self.name(),
            self.column,
            self.parent
        )
    }

    fn postgres_add(&self) -> String {
        let on_delete = match self.on_delete {
            OnDelete::Cascade => "CASCADE".to_owned(),
            OnDelete::SetNull => format!("SET NULL (\"{}\")", self.column),
        };
        format!(
            "ALTER TABLE \"{}\" ADD CONSTRAINT \"{}\" FOREIGN KEY (\"tenant_id\", \"{}\") \
             REFERENCES \"{}\" (\"tenant_id\", \"id\") ON DELETE {on_delete} ON UPDATE NO ACTION",
            self.table,
            self.name(),
            self.column,
            self.parent
        )
    }
}

/// The tables SQLite rebuilds, each once, in the order of [`KEYS`].
fn rebuilt_tables() -> Vec<&'static str> {
    let mut tables: Vec<&'static str> = Vec::new();
    for key in KEYS {
        if !tables.contains(&key.table) {
            tables.push(key.table);
        }
    }
    tables
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                require_postgres_15(db).await?;
                for parent in PARENTS {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE \"{parent}\" ADD CONSTRAINT \"{}\" UNIQUE (\"tenant_id\", \"id\")",
                        unique_name(parent)
                    ))
                    .await?;
                }
                for key in KEYS {
                    db.execute_unprepared(&key.postgres_add()).await?;
                }
            }
            _ => {
                require_foreign_keys_off(db).await?;
                // An index, not a table constraint, so these tables need no rebuild for it; a
                // foreign key may reference the columns of any unique index.
                for parent in PARENTS {
                    db.execute_unprepared(&format!(
                        "CREATE UNIQUE INDEX \"{}\" ON \"{parent}\" (\"tenant_id\", \"id\")",
                        unique_name(parent)
                    ))
                    .await?;
                }
                for table in rebuilt_tables() {
                    let constraints: Vec<String> = KEYS
                        .iter()
                        .filter(|key| key.table == table)
                        .map(TenantKey::sqlite_constraint)
                        .collect();
                    rebuild_sqlite_table(db, table, |sql| add_constraints(sql, &constraints)).await?;
                }
                check_sqlite_keys(db).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for key in KEYS.iter().rev() {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE \"{}\" DROP CONSTRAINT \"{}\"",
                        key.table,
                        key.name()
                    ))
                    .await?;
                }
                for parent in PARENTS.iter().rev() {
                    db.execute_unprepared(&format!(
                        "ALTER TABLE \"{parent}\" DROP CONSTRAINT \"{}\"",
                        unique_name(parent)
                    ))
                    .await?;
                }
            }
            _ => {
                require_foreign_keys_off(db).await?;
                for table in rebuilt_tables().into_iter().rev() {
                    let constraints: Vec<String> = KEYS
                        .iter()
                        .filter(|key| key.table == table)
                        .map(TenantKey::sqlite_constraint)
                        .collect();
                    rebuild_sqlite_table(db, table, |sql| remove_constraints(sql, &constraints)).await?;
                }
                for parent in PARENTS.iter().rev() {
                    db.execute_unprepared(&format!("DROP INDEX \"{}\"", unique_name(parent))).await?;
                }
                check_sqlite_keys(db).await?;
            }
        }
        Ok(())
    }

    /// SQLite: a failure part-way must leave the old tables, not half-rebuilt ones.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// `ON DELETE SET NULL (<column>)` is PostgreSQL 15's.
async fn require_postgres_15<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let version = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_setting('server_version_num')::int",
        ))
        .await?
        .map(|row| row.try_get_by_index::<i32>(0))
        .transpose()?
        .unwrap_or(0);
    if version < 150_000 {
        return Err(DbErr::Migration(format!(
            "{}: tenant keys need PostgreSQL 15 or later (this server reports {version})",
            Migration.name()
        )));
    }
    Ok(())
}

/// SQLite: the rebuild drops parent tables, which with foreign keys on would delete (or null)
/// every row that references them. The pragma cannot change inside a transaction, so the
/// connection must arrive with it off.
async fn require_foreign_keys_off<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let enabled = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA foreign_keys"))
        .await?
        .map(|row| row.try_get_by_index::<i32>(0))
        .transpose()?
        .unwrap_or(0);
    if enabled != 0 {
        return Err(DbErr::Migration(format!(
            "{}: SQLite tables are rebuilt, which needs PRAGMA foreign_keys = OFF on the migrating \
             connection (it is ON); migrate on a connection opened with foreign keys off and run \
             PRAGMA foreign_key_check afterwards",
            Migration.name()
        )));
    }
    Ok(())
}

/// Rebuilds `table` from its current definition as changed by `change`: creates `<table>_new`,
/// copies every row, drops the old table, renames the new one and recreates the old table's
/// indexes and triggers (dropped with it). Foreign keys must be off.
async fn rebuild_sqlite_table<C: ConnectionTrait>(
    db: &C,
    table: &str,
    change: impl Fn(&str) -> Result<String, DbErr>,
) -> Result<(), DbErr> {
    let definition = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
            [table.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("{}: no table {table}", Migration.name())))?
        .try_get_by_index::<String>(0)?;
    // Indexes before triggers, each kind in the order it was made; automatic indexes (of
    // UNIQUE and PRIMARY KEY columns) have no SQL and come back with the table.
    let dependents = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger') \
             AND sql IS NOT NULL ORDER BY type = 'trigger', rowid",
            [table.into()],
        ))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<Vec<_>, _>>()?;

    let new_table = format!("{table}_new");
    let created = change(&rename_definition(&definition, &new_table)?)?;
    db.execute_unprepared(&created).await?;
    db.execute_unprepared(&format!("INSERT INTO \"{new_table}\" SELECT * FROM \"{table}\"")).await?;
    db.execute_unprepared(&format!("DROP TABLE \"{table}\"")).await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{new_table}\" RENAME TO \"{table}\"")).await?;
    for sql in dependents {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// `CREATE TABLE "x" (…)` as `CREATE TABLE "<name>" (…)`.
fn rename_definition(definition: &str, name: &str) -> Result<String, DbErr> {
    let columns = definition.find('(').filter(|_| definition.starts_with("CREATE TABLE "));
    let Some(columns) = columns else {
        return Err(DbErr::Migration(format!(
            "{}: unexpected table definition: {definition}",
            Migration.name()
        )));
    };
    Ok(format!("CREATE TABLE \"{name}\" {}", &definition[columns..]))
}

/// The definition with these table constraints appended to its list of columns and constraints.
fn add_constraints(definition: &str, constraints: &[String]) -> Result<String, DbErr> {
    let end = closing_paren(definition)?;
    let added: String = constraints.iter().map(|c| format!(", {c}")).collect();
    Ok(format!("{}{added}{}", &definition[..end], &definition[end..]))
}

/// The definition without these table constraints, which [`add_constraints`] appended.
fn remove_constraints(definition: &str, constraints: &[String]) -> Result<String, DbErr> {
    let mut definition = definition.to_owned();
    for constraint in constraints {
        let text = format!(", {constraint}");
        let Some(at) = definition.find(&text) else {
            return Err(DbErr::Migration(format!(
                "{}: the table has no constraint {constraint}",
                Migration.name()
            )));
        };
        definition.replace_range(at..at + text.len(), "");
    }
    Ok(definition)
}

/// Where the definition's list of columns and constraints ends: its last `)`, after which only
/// white space may follow (no table options such as `WITHOUT ROWID`, which would need care).
fn closing_paren(definition: &str) -> Result<usize, DbErr> {
    definition.rfind(')').filter(|&end| definition[end + 1..].trim().is_empty()).ok_or_else(|| {
        DbErr::Migration(format!("{}: unexpected table definition: {definition}", Migration.name()))
    })
}

/// SQLite checks no key while foreign keys are off: look at every rebuilt table's keys before
/// the transaction commits, so rows that reference another tenant's rows stop the migration.
async fn check_sqlite_keys<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut violations = Vec::new();
    for table in rebuilt_tables() {
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("PRAGMA foreign_key_check(\"{table}\")"),
            ))
            .await?;
        for row in rows {
            // (table, rowid, parent, index of the key)
            let rowid = row.try_get_by_index::<Option<i64>>(1)?;
            let parent = row.try_get_by_index::<String>(2)?;
            violations.push(format!("{table} rowid {} → {parent}", rowid.unwrap_or_default()));
        }
    }
    if violations.is_empty() {
        return Ok(());
    }
    let shown = violations.iter().take(10).cloned().collect::<Vec<_>>().join("; ");
    Err(DbErr::Migration(format!(
        "{}: {} rows reference a missing row or another tenant's row: {shown}",
        Migration.name(),
        violations.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_removes_constraints() -> Result<(), DbErr> {
        let definition = "CREATE TABLE \"t\" ( \"id\" uuid_text NOT NULL PRIMARY KEY, FOREIGN KEY (\"id\") REFERENCES \"p\" (\"id\") )";
        let renamed = rename_definition(definition, "t_new")?;
        assert!(renamed.starts_with("CREATE TABLE \"t_new\" ( \"id\""));
        let constraints = vec!["CONSTRAINT \"c\" CHECK (1)".to_owned()];
        let added = add_constraints(definition, &constraints)?;
        assert!(added.ends_with("(\"id\") , CONSTRAINT \"c\" CHECK (1))"), "{added}");
        assert_eq!(remove_constraints(&added, &constraints)?, definition);
        assert!(remove_constraints(definition, &constraints).is_err());
        assert!(add_constraints("CREATE TABLE t (a) WITHOUT ROWID", &constraints).is_err());
        Ok(())
    }
}
