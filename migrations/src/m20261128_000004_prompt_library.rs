//! The prompt library: case-insensitive names with private namespaces, visibility, a version
//! counter and who changed a prompt last; immutable versions; full-text search (SQLite FTS5,
//! PostgreSQL `tsvector` + GIN).
//!
//! Names are unique per `(tenant_id, name_scope, name_key)`: `name_key` is the lowercased name
//! and `name_scope` is empty for prompts the tenant shares and the owner's id for private
//! ones, so a private prompt's name can never surface through another user's uniqueness error.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// SQLite: an FTS5 table whose rows are keyed by an integer that never changes (a `prompts`
/// rowid can change on VACUUM), kept in `prompt_search` by triggers. The repository writes the
/// text: every word prefixed with its tenant's key, so a search reads only its own tenant's
/// postings however large the other tenants grow. Contentless: the text lives in `prompts`.
const SQLITE_SEARCH: &[&str] = &[
    "CREATE TABLE prompt_search (search_id INTEGER PRIMARY KEY, prompt_id uuid_text NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE prompts_fts USING fts5(name, title, content, tags, \
     content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER prompts_search_insert AFTER INSERT ON prompts BEGIN \
       INSERT INTO prompt_search (prompt_id) VALUES (new.id); \
     END",
    "CREATE TRIGGER prompts_search_delete AFTER DELETE ON prompts BEGIN \
       DELETE FROM prompts_fts WHERE rowid = (SELECT search_id FROM prompt_search WHERE prompt_id = old.id); \
       DELETE FROM prompt_search WHERE prompt_id = old.id; \
     END",
    "INSERT INTO prompt_search (prompt_id) SELECT id FROM prompts ORDER BY id",
];

const SQLITE_SEARCH_DOWN: &[&str] = &[
    "DROP TRIGGER prompts_search_delete",
    "DROP TRIGGER prompts_search_insert",
    "DROP TABLE prompts_fts",
    "DROP TABLE prompt_search",
];

/// PostgreSQL: a generated, weighted `tsvector` (name > title, tags > content) with a GIN
/// index. The `simple` configuration: prompts are in any language, so no stemming; prefix
/// matching does the rest. Name separators become spaces so folders and words match. As on
/// SQLite, every word is stored prefixed with its tenant's key (`t<hex id>`), so the index's
/// posting lists — and a search's cost — belong to one tenant.
const POSTGRES_SEARCH: &[&str] = &[
    r"ALTER TABLE prompts ADD COLUMN search tsvector GENERATED ALWAYS AS (
       setweight(to_tsvector('simple', regexp_replace(translate(name, '/-_.', '    '), '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'A') ||
       setweight(to_tsvector('simple', regexp_replace(title, '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'B') ||
       setweight(to_tsvector('simple', regexp_replace(tags, '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'B') ||
       setweight(to_tsvector('simple', regexp_replace(content, '([[:alnum:]]+)', 't' || replace(tenant_id::text, '-', '') || '\1', 'g')), 'D')) STORED",
    "CREATE INDEX ix_prompts_search ON prompts USING GIN (search)",
];

const POSTGRES_SEARCH_DOWN: &[&str] =
    &["DROP INDEX ix_prompts_search", "ALTER TABLE prompts DROP COLUMN search"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        let new_columns = [
            ColumnDef::new(Prompts::NameKey).string_len(255).not_null().default("").to_owned(),
            ColumnDef::new(Prompts::NameScope).string_len(36).not_null().default("").to_owned(),
            ColumnDef::new(Prompts::Visibility).string_len(16).not_null().default("tenant").to_owned(),
            ColumnDef::new(Prompts::Version).integer().not_null().default(1).to_owned(),
            ColumnDef::new(Prompts::UpdatedBy).uuid().null().to_owned(),
        ];
        for column in new_columns {
            manager.alter_table(Table::alter().table(Prompts::Table).add_column(column).to_owned()).await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE prompts SET name_key = lower(name), updated_by = user_id").await?;
        manager
            .drop_index(Index::drop().name("ux_prompts_tenant_name").table(Prompts::Table).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_prompts_tenant_scope_name")
                    .table(Prompts::Table)
                    .col(Prompts::TenantId)
                    .col(Prompts::NameScope)
                    .col(Prompts::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_prompts_tenant_updated")
                    .table(Prompts::Table)
                    .col(Prompts::TenantId)
                    .col(Prompts::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PromptVersions::Table)
                    .col(ColumnDef::new(PromptVersions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PromptVersions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PromptVersions::PromptId).uuid().not_null())
                    .col(ColumnDef::new(PromptVersions::Version).integer().not_null())
                    .col(ColumnDef::new(PromptVersions::Name).string_len(255).not_null())
                    .col(ColumnDef::new(PromptVersions::Title).string_len(255).not_null())
                    .col(ColumnDef::new(PromptVersions::Content).text().not_null())
                    .col(ColumnDef::new(PromptVersions::Category).string_len(100).not_null())
                    .col(ColumnDef::new(PromptVersions::Tags).text().not_null())
                    .col(ColumnDef::new(PromptVersions::AuthorId).uuid().null())
                    .col(ColumnDef::new(PromptVersions::CommitMessage).string_len(500).null())
                    .col(ColumnDef::new(PromptVersions::RestoredFrom).integer().null())
                    .col(ColumnDef::new(PromptVersions::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptVersions::Table, PromptVersions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptVersions::Table, PromptVersions::PromptId)
                            .to(Prompts::Table, Prompts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // A version outlives its author, like the prompt does.
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptVersions::Table, PromptVersions::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_prompt_versions_prompt_version")
                    .table(PromptVersions::Table)
                    .col(PromptVersions::PromptId)
                    .col(PromptVersions::Version)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Prompts stored before versioning get their first version.
        db.execute_unprepared(
            "INSERT INTO prompt_versions \
               (id, tenant_id, prompt_id, version, name, title, content, category, tags, author_id, created_at) \
             SELECT id, tenant_id, id, 1, name, title, content, category, tags, user_id, updated_at FROM prompts",
        )
        .await?;

        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_SEARCH,
            _ => SQLITE_SEARCH,
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_SEARCH_DOWN,
            _ => SQLITE_SEARCH_DOWN,
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        manager.drop_table(Table::drop().table(PromptVersions::Table).to_owned()).await?;
        for name in ["ix_prompts_tenant_updated", "ux_prompts_tenant_scope_name"] {
            manager.drop_index(Index::drop().name(name).table(Prompts::Table).to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_prompts_tenant_name")
                    .table(Prompts::Table)
                    .col(Prompts::TenantId)
                    .col(Prompts::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for column in
            [Prompts::UpdatedBy, Prompts::Version, Prompts::Visibility, Prompts::NameScope, Prompts::NameKey]
        {
            manager.alter_table(Table::alter().table(Prompts::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Prompts {
    Table,
    Id,
    TenantId,
    Name,
    NameKey,
    NameScope,
    Visibility,
    Version,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PromptVersions {
    Table,
    Id,
    TenantId,
    PromptId,
    Version,
    Name,
    Title,
    Content,
    Category,
    Tags,
    AuthorId,
    CommitMessage,
    RestoredFrom,
    CreatedAt,
}
