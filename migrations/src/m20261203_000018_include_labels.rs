//! Includes pinned by release label (`{% include "snippets/tone@production" %}`): which label a
//! prompt includes another by becomes part of the include's key, beside the pinned version.
//!
//! PostgreSQL changes the table in place. SQLite cannot change a primary key, so there the
//! table is built anew and its rows copied over (nothing references it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PromptIncludes {
    Table,
    TenantId,
    PromptId,
    TargetKey,
    PinnedVersion,
    /// The label it is pinned to; `''`: none (so it can be part of the key). Exclusive with
    /// `pinned_version`.
    PinnedLabel,
}

#[derive(DeriveIden)]
enum Prompts {
    Table,
    TenantId,
    Id,
}

/// Where SQLite builds the new table before it takes the old one's name.
const REBUILT: &str = "prompt_includes_rebuilt";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            for statement in [
                "ALTER TABLE prompt_includes ADD COLUMN pinned_label varchar(64) NOT NULL DEFAULT ''",
                "ALTER TABLE prompt_includes DROP CONSTRAINT prompt_includes_pkey",
                "ALTER TABLE prompt_includes \
                 ADD PRIMARY KEY (prompt_id, target_key, pinned_version, pinned_label)",
            ] {
                db.execute_unprepared(statement).await?;
            }
            return Ok(());
        }
        rebuild_on_sqlite(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Label pins have no place in the old key (nor could the old code read them): dropped.
        db.execute_unprepared("DELETE FROM prompt_includes WHERE pinned_label <> ''").await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            for statement in [
                "ALTER TABLE prompt_includes DROP CONSTRAINT prompt_includes_pkey",
                "ALTER TABLE prompt_includes ADD PRIMARY KEY (prompt_id, target_key, pinned_version)",
                "ALTER TABLE prompt_includes DROP COLUMN pinned_label",
            ] {
                db.execute_unprepared(statement).await?;
            }
            return Ok(());
        }
        rebuild_on_sqlite(manager, false).await
    }
}

/// Builds `prompt_includes` with (`with_label`) or without the label column, copying its rows.
async fn rebuild_on_sqlite(manager: &SchemaManager<'_>, with_label: bool) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let rebuilt = Alias::new(REBUILT);
    let mut key = Index::create();
    key.col(PromptIncludes::PromptId).col(PromptIncludes::TargetKey).col(PromptIncludes::PinnedVersion);
    let mut table = Table::create();
    table
        .table(rebuilt.clone())
        .col(ColumnDef::new(PromptIncludes::TenantId).uuid().not_null())
        .col(ColumnDef::new(PromptIncludes::PromptId).uuid().not_null())
        .col(ColumnDef::new(PromptIncludes::TargetKey).string_len(200).not_null())
        .col(ColumnDef::new(PromptIncludes::PinnedVersion).integer().not_null());
    if with_label {
        table.col(ColumnDef::new(PromptIncludes::PinnedLabel).string_len(64).not_null().default(""));
        key.col(PromptIncludes::PinnedLabel);
    }
    table.primary_key(&mut key).foreign_key(
        ForeignKey::create()
            .from(rebuilt.clone(), (PromptIncludes::TenantId, PromptIncludes::PromptId))
            .to(Prompts::Table, (Prompts::TenantId, Prompts::Id))
            .on_delete(ForeignKeyAction::Cascade),
    );
    manager.create_table(table.to_owned()).await?;
    let columns = "tenant_id, prompt_id, target_key, pinned_version";
    db.execute_unprepared(&format!(
        "INSERT INTO {REBUILT} ({columns}) SELECT {columns} FROM prompt_includes"
    ))
    .await?;
    manager.drop_table(Table::drop().table(PromptIncludes::Table).to_owned()).await?;
    db.execute_unprepared(&format!("ALTER TABLE {REBUILT} RENAME TO prompt_includes")).await?;
    manager
        .create_index(
            Index::create()
                .name("ix_prompt_includes_target")
                .table(PromptIncludes::Table)
                .col(PromptIncludes::TenantId)
                .col(PromptIncludes::TargetKey)
                .to_owned(),
        )
        .await
}
