//! Which prompts include which: one row per prompt and prompt it includes in its current
//! version, so every prompt can list what uses it ("used by") and an edit can show what it
//! would change. The included prompt is named, as templates name it (`lower(name)`), with the
//! version it is pinned to (0 when it follows the current version).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::row_security::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PromptIncludes {
    Table,
    TenantId,
    /// The including prompt.
    PromptId,
    /// `lower(name)` of the included prompt.
    TargetKey,
    /// The version it is pinned to; 0 (versions start at 1): follows its current version. Not
    /// NULL, so it can be part of the key.
    PinnedVersion,
}

#[derive(DeriveIden)]
enum Prompts {
    Table,
    TenantId,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PromptIncludes::Table)
                    .col(ColumnDef::new(PromptIncludes::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PromptIncludes::PromptId).uuid().not_null())
                    .col(ColumnDef::new(PromptIncludes::TargetKey).string_len(200).not_null())
                    .col(ColumnDef::new(PromptIncludes::PinnedVersion).integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(PromptIncludes::PromptId)
                            .col(PromptIncludes::TargetKey)
                            .col(PromptIncludes::PinnedVersion),
                    )
                    // The including prompt, in the same tenant; its rows go with it.
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptIncludes::Table, (PromptIncludes::TenantId, PromptIncludes::PromptId))
                            .to(Prompts::Table, (Prompts::TenantId, Prompts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_prompt_includes_target")
                    .table(PromptIncludes::Table)
                    .col(PromptIncludes::TenantId)
                    .col(PromptIncludes::TargetKey)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            for statement in protect_table("prompt_includes", "tenant_id") {
                db.execute_unprepared(&statement).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PromptIncludes::Table).to_owned()).await?;
        Ok(())
    }
}
