//! Protected release labels and A/B splits: a tenant's release policy (which label names only
//! an admin may move, and whether a move needs another person's approval), the requests to
//! move protected labels with their decisions, who approved a move in the label history; a
//! label's split of traffic between versions (on the label, its moves and requests), and the
//! count of fetches by label per version served and day.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::row_security::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReleasePolicies {
    Table,
    TenantId,
    /// A JSON array of label names.
    ProtectedLabels,
    RequireApproval,
    ApprovalHours,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LabelApprovals {
    Table,
    Id,
    TenantId,
    PromptId,
    Label,
    FromVersion,
    ToVersion,
    Split,
    RollbackOf,
    Reason,
    RequestedBy,
    RequestedAt,
    ExpiresAt,
    /// pending | approved | denied | cancelled | expired.
    Status,
    /// The label's name while the request is pending, NULL after: a unique index on it lets
    /// one request per label wait at a time (NULLs never collide).
    OpenLabel,
    DecidedBy,
    DecidedAt,
    Comment,
}

#[derive(DeriveIden)]
enum PromptLabelMoves {
    Table,
    ApprovedBy,
    /// JSON array of `{version, weight}`: the split the move set.
    Split,
}

#[derive(DeriveIden)]
enum PromptLabels {
    Table,
    /// JSON array of `{version, weight}`; NULL: the label names one version.
    Split,
}

#[derive(DeriveIden)]
enum LabelFetchCounts {
    Table,
    TenantId,
    PromptId,
    Label,
    Version,
    /// The UTC day, `YYYY-MM-DD`.
    Day,
    Fetches,
}

#[derive(DeriveIden)]
enum Prompts {
    Table,
    TenantId,
    Id,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReleasePolicies::Table)
                    .col(ColumnDef::new(ReleasePolicies::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ReleasePolicies::ProtectedLabels).text().not_null())
                    .col(ColumnDef::new(ReleasePolicies::RequireApproval).boolean().not_null())
                    .col(ColumnDef::new(ReleasePolicies::ApprovalHours).integer().not_null())
                    .col(ColumnDef::new(ReleasePolicies::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ReleasePolicies::Table, ReleasePolicies::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LabelApprovals::Table)
                    .col(ColumnDef::new(LabelApprovals::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(LabelApprovals::TenantId).uuid().not_null())
                    .col(ColumnDef::new(LabelApprovals::PromptId).uuid().not_null())
                    .col(ColumnDef::new(LabelApprovals::Label).string_len(64).not_null())
                    .col(ColumnDef::new(LabelApprovals::FromVersion).integer().null())
                    .col(ColumnDef::new(LabelApprovals::ToVersion).integer().null())
                    .col(ColumnDef::new(LabelApprovals::Split).text().null())
                    .col(ColumnDef::new(LabelApprovals::RollbackOf).uuid().null())
                    .col(ColumnDef::new(LabelApprovals::Reason).string_len(500).null())
                    .col(ColumnDef::new(LabelApprovals::RequestedBy).uuid().null())
                    .col(ColumnDef::new(LabelApprovals::RequestedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LabelApprovals::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LabelApprovals::Status).string_len(16).not_null())
                    .col(ColumnDef::new(LabelApprovals::OpenLabel).string_len(64).null())
                    .col(ColumnDef::new(LabelApprovals::DecidedBy).uuid().null())
                    .col(ColumnDef::new(LabelApprovals::DecidedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(LabelApprovals::Comment).string_len(500).null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(LabelApprovals::Table, (LabelApprovals::TenantId, LabelApprovals::PromptId))
                            .to(Prompts::Table, (Prompts::TenantId, Prompts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_label_approvals_open")
                    .table(LabelApprovals::Table)
                    .col(LabelApprovals::PromptId)
                    .col(LabelApprovals::OpenLabel)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // The tenant's inbox, newest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_label_approvals_tenant")
                    .table(LabelApprovals::Table)
                    .col(LabelApprovals::TenantId)
                    .col(LabelApprovals::Id)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new(PromptLabelMoves::ApprovedBy).uuid().null().to_owned(),
            ColumnDef::new(PromptLabelMoves::Split).text().null().to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(PromptLabelMoves::Table).add_column(column).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(PromptLabels::Table)
                    .add_column(ColumnDef::new(PromptLabels::Split).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LabelFetchCounts::Table)
                    .col(ColumnDef::new(LabelFetchCounts::TenantId).uuid().not_null())
                    .col(ColumnDef::new(LabelFetchCounts::PromptId).uuid().not_null())
                    .col(ColumnDef::new(LabelFetchCounts::Label).string_len(64).not_null())
                    .col(ColumnDef::new(LabelFetchCounts::Version).integer().not_null())
                    .col(ColumnDef::new(LabelFetchCounts::Day).string_len(10).not_null())
                    .col(ColumnDef::new(LabelFetchCounts::Fetches).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(LabelFetchCounts::PromptId)
                            .col(LabelFetchCounts::Label)
                            .col(LabelFetchCounts::Version)
                            .col(LabelFetchCounts::Day),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                LabelFetchCounts::Table,
                                (LabelFetchCounts::TenantId, LabelFetchCounts::PromptId),
                            )
                            .to(Prompts::Table, (Prompts::TenantId, Prompts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            for table in ["release_policies", "label_approvals", "label_fetch_counts"] {
                for statement in protect_table(table, "tenant_id") {
                    db.execute_unprepared(&statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LabelFetchCounts::Table).to_owned()).await?;
        manager
            .alter_table(
                Table::alter().table(PromptLabels::Table).drop_column(PromptLabels::Split).to_owned(),
            )
            .await?;
        for column in [PromptLabelMoves::Split, PromptLabelMoves::ApprovedBy] {
            manager
                .alter_table(Table::alter().table(PromptLabelMoves::Table).drop_column(column).to_owned())
                .await?;
        }
        manager.drop_table(Table::drop().table(LabelApprovals::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ReleasePolicies::Table).to_owned()).await?;
        Ok(())
    }
}
