//! Release labels: a label (`production`, `staging`, any name a tenant uses) points at one
//! version of a prompt, and every move of a label is kept, so a label's history can be listed
//! and a move rolled back. (`latest` is not stored: it always names the newest version.)

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::row_security::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PromptLabels {
    Table,
    TenantId,
    PromptId,
    /// The label's name, lower case.
    Name,
    /// The version it points at.
    Version,
    MovedBy,
    MovedAt,
}

#[derive(DeriveIden)]
enum PromptLabelMoves {
    Table,
    Id,
    TenantId,
    PromptId,
    Label,
    /// Where it pointed before; NULL: it did not exist.
    FromVersion,
    /// Where it points after; NULL: it was removed.
    ToVersion,
    /// Why, in the mover's words.
    Reason,
    /// The move this one undid, for a rollback.
    RollbackOf,
    MovedBy,
    MovedAt,
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
                    .table(PromptLabels::Table)
                    .col(ColumnDef::new(PromptLabels::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PromptLabels::PromptId).uuid().not_null())
                    .col(ColumnDef::new(PromptLabels::Name).string_len(64).not_null())
                    .col(ColumnDef::new(PromptLabels::Version).integer().not_null())
                    .col(ColumnDef::new(PromptLabels::MovedBy).uuid().null())
                    .col(ColumnDef::new(PromptLabels::MovedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(PromptLabels::PromptId).col(PromptLabels::Name))
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptLabels::Table, (PromptLabels::TenantId, PromptLabels::PromptId))
                            .to(Prompts::Table, (Prompts::TenantId, Prompts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PromptLabelMoves::Table)
                    .col(ColumnDef::new(PromptLabelMoves::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PromptLabelMoves::TenantId).uuid().not_null())
                    .col(ColumnDef::new(PromptLabelMoves::PromptId).uuid().not_null())
                    .col(ColumnDef::new(PromptLabelMoves::Label).string_len(64).not_null())
                    .col(ColumnDef::new(PromptLabelMoves::FromVersion).integer().null())
                    .col(ColumnDef::new(PromptLabelMoves::ToVersion).integer().null())
                    .col(ColumnDef::new(PromptLabelMoves::Reason).string_len(500).null())
                    .col(ColumnDef::new(PromptLabelMoves::RollbackOf).uuid().null())
                    .col(ColumnDef::new(PromptLabelMoves::MovedBy).uuid().null())
                    .col(ColumnDef::new(PromptLabelMoves::MovedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                PromptLabelMoves::Table,
                                (PromptLabelMoves::TenantId, PromptLabelMoves::PromptId),
                            )
                            .to(Prompts::Table, (Prompts::TenantId, Prompts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A label's history, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_prompt_label_moves_label")
                    .table(PromptLabelMoves::Table)
                    .col(PromptLabelMoves::PromptId)
                    .col(PromptLabelMoves::Label)
                    .col(PromptLabelMoves::MovedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            for table in ["prompt_labels", "prompt_label_moves"] {
                for statement in protect_table(table, "tenant_id") {
                    db.execute_unprepared(&statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PromptLabelMoves::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(PromptLabels::Table).to_owned()).await?;
        Ok(())
    }
}
