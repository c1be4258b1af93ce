//! Search tokens: both databases index the tokens of `domain::search` (see
//! [`crate::search_index`]) instead of tokenizing by themselves, so accents, e-mail addresses,
//! hyphenated words, digits and CJK are searched alike on SQLite and PostgreSQL.
//!
//! SQLite: the FTS5 table is rebuilt with the `ascii` tokenizer (it only splits the stored
//! texts at spaces). PostgreSQL: `prompts.search` becomes a plain `tsvector` column that the
//! repository writes. Every existing prompt is reindexed here.

use domain::search::SearchDocument;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use crate::search_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Prompts read and written per statement while reindexing.
const BATCH: i64 = 200;

const SQLITE_FTS: &str = "CREATE VIRTUAL TABLE prompts_fts USING fts5(name, title, content, tags, \
     content='', contentless_delete=1, tokenize='ascii')";
/// The table as `m20261128_000004_prompt_library` made it.
const SQLITE_FTS_DOWN: &str = "CREATE VIRTUAL TABLE prompts_fts USING fts5(name, title, content, tags, \
     content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')";

/// The generated column as `m20261128_000004_prompt_library` made it.
const POSTGRES_GENERATED_SEARCH: &str = r"ALTER TABLE prompts ADD COLUMN search tsvector GENERATED ALWAYS AS (
       setweight(to_tsvector('simple', regexp_replace(translate(name, '/-_.', '    '), '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'A') ||
       setweight(to_tsvector('simple', regexp_replace(title, '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'B') ||
       setweight(to_tsvector('simple', regexp_replace(tags, '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'B') ||
       setweight(to_tsvector('simple', regexp_replace(content, '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'D')) STORED";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP INDEX ix_prompts_search").await?;
                db.execute_unprepared("ALTER TABLE prompts DROP COLUMN search").await?;
                db.execute_unprepared("ALTER TABLE prompts ADD COLUMN search tsvector NOT NULL DEFAULT ''")
                    .await?;
                reindex_postgres(db).await?;
                db.execute_unprepared("CREATE INDEX ix_prompts_search ON prompts USING GIN (search)").await?;
            }
            _ => {
                db.execute_unprepared("DROP TABLE prompts_fts").await?;
                db.execute_unprepared(SQLITE_FTS).await?;
                reindex_sqlite(db).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP INDEX ix_prompts_search").await?;
                db.execute_unprepared("ALTER TABLE prompts DROP COLUMN search").await?;
                db.execute_unprepared(POSTGRES_GENERATED_SEARCH).await?;
                db.execute_unprepared("CREATE INDEX ix_prompts_search ON prompts USING GIN (search)").await?;
            }
            _ => {
                db.execute_unprepared("DROP TABLE prompts_fts").await?;
                db.execute_unprepared(SQLITE_FTS_DOWN).await?;
                // The tokens are plain words, which the older tokenizer reads as they are.
                reindex_sqlite(db).await?;
            }
        }
        Ok(())
    }
}

/// A prompt's tenant key and document, from a row of `(row key, tenant id, name, title, content,
/// tags)`.
fn document(row: &QueryResult) -> Result<(String, SearchDocument), DbErr> {
    let key = search_index::tenant_key(&row.try_get_by_index::<String>(1)?);
    let tags: Vec<String> = serde_json::from_str(&row.try_get_by_index::<String>(5)?).unwrap_or_default();
    let doc = SearchDocument::new(
        &row.try_get_by_index::<String>(2)?,
        &row.try_get_by_index::<String>(3)?,
        &tags,
        &row.try_get_by_index::<String>(4)?,
    );
    Ok((key, doc))
}

async fn reindex_sqlite<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut after = 0_i64;
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "SELECT ps.search_id, \
                   CASE typeof(p.tenant_id) WHEN 'blob' THEN hex(p.tenant_id) ELSE p.tenant_id END, p.name, p.title, p.content, p.tags \
                 FROM prompt_search ps JOIN prompts p ON p.id = ps.prompt_id \
                 WHERE ps.search_id > ? ORDER BY ps.search_id LIMIT ?",
                [after.into(), BATCH.into()],
            ))
            .await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.try_get_by_index::<i64>(0)?;
        let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 5);
        for row in &rows {
            let (key, doc) = document(row)?;
            values.push(row.try_get_by_index::<i64>(0)?.into());
            values.extend(search_index::sqlite_columns(&key, &doc).map(Value::from));
        }
        let sql = format!(
            "INSERT INTO prompts_fts (rowid, name, title, content, tags) VALUES {}",
            vec!["(?, ?, ?, ?, ?)"; rows.len()].join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)).await?;
    }
}

async fn reindex_postgres<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let mut after = "00000000-0000-0000-0000-000000000000".to_owned();
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id::text, tenant_id::text, name, title, content, tags FROM prompts \
                 WHERE id > CAST($1 AS uuid) ORDER BY id LIMIT $2",
                [after.clone().into(), BATCH.into()],
            ))
            .await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.try_get_by_index::<String>(0)?;
        let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 2);
        let mut tuples = Vec::with_capacity(rows.len());
        for row in &rows {
            let (key, doc) = document(row)?;
            tuples.push(format!("(CAST(${} AS uuid), ${})", values.len() + 1, values.len() + 2));
            values.push(row.try_get_by_index::<String>(0)?.into());
            values.push(search_index::postgres_tsvector(&key, &doc).into());
        }
        let sql = format!(
            "UPDATE prompts SET search = CAST(v.search AS tsvector) FROM (VALUES {}) AS v(id, search) \
             WHERE prompts.id = v.id",
            tuples.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values)).await?;
    }
}
