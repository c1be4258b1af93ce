//! AI services: connections (the tenant's and each user's), the tenant's AI policy, and the
//! record of every call made (runs, comparisons, enhancements). A user's choice of execution
//! and enhancement connection lives in the seed's per-user `config` table.
//!
//! Connection names are unique per `(tenant_id, name_scope, name_key)`, like prompt names: the
//! scope is empty for tenant connections and the owner's id for personal ones.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AiConnections::Table)
                    .col(ColumnDef::new(AiConnections::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AiConnections::TenantId).uuid().not_null())
                    // NULL: a tenant connection.
                    .col(ColumnDef::new(AiConnections::OwnerId).uuid().null())
                    .col(ColumnDef::new(AiConnections::NameScope).string_len(36).not_null())
                    .col(ColumnDef::new(AiConnections::Name).string_len(100).not_null())
                    .col(ColumnDef::new(AiConnections::NameKey).string_len(100).not_null())
                    .col(ColumnDef::new(AiConnections::Provider).string_len(32).not_null())
                    .col(ColumnDef::new(AiConnections::BaseUrl).text().not_null())
                    .col(ColumnDef::new(AiConnections::Model).string_len(200).not_null())
                    // Sealed by the server's key (auth::sealing); never stored in the clear.
                    .col(ColumnDef::new(AiConnections::ApiKeySealed).text().null())
                    .col(ColumnDef::new(AiConnections::ApiKeyHint).string_len(40).null())
                    .col(ColumnDef::new(AiConnections::Temperature).double().null())
                    .col(ColumnDef::new(AiConnections::MaxTokens).integer().null())
                    .col(ColumnDef::new(AiConnections::TimeoutSeconds).integer().not_null())
                    .col(ColumnDef::new(AiConnections::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(AiConnections::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiConnections::Table, AiConnections::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiConnections::Table, AiConnections::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_ai_connections_tenant_scope_name")
                    .table(AiConnections::Table)
                    .col(AiConnections::TenantId)
                    .col(AiConnections::NameScope)
                    .col(AiConnections::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AiPolicies::Table)
                    .col(ColumnDef::new(AiPolicies::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AiPolicies::AllowUserConnections).boolean().not_null())
                    .col(ColumnDef::new(AiPolicies::ExecutionConnectionId).uuid().null())
                    .col(ColumnDef::new(AiPolicies::EnhancementConnectionId).uuid().null())
                    .col(ColumnDef::new(AiPolicies::RunRetentionDays).integer().not_null())
                    // JSON: [{model, input_per_million, output_per_million}].
                    .col(ColumnDef::new(AiPolicies::Prices).text().not_null())
                    .col(ColumnDef::new(AiPolicies::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiPolicies::Table, AiPolicies::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiPolicies::Table, AiPolicies::ExecutionConnectionId)
                            .to(AiConnections::Table, AiConnections::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiPolicies::Table, AiPolicies::EnhancementConnectionId)
                            .to(AiConnections::Table, AiConnections::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PromptRuns::Table)
                    .col(ColumnDef::new(PromptRuns::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(PromptRuns::TenantId).uuid().not_null())
                    // The record outlives the user, the prompt and the connection.
                    .col(ColumnDef::new(PromptRuns::UserId).uuid().null())
                    .col(ColumnDef::new(PromptRuns::PromptId).uuid().null())
                    .col(ColumnDef::new(PromptRuns::PromptVersion).integer().null())
                    .col(ColumnDef::new(PromptRuns::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(PromptRuns::CompareGroup).uuid().null())
                    // For enhancements: the enhancement prompt (NULL: the built-in one).
                    .col(ColumnDef::new(PromptRuns::EnhancementPrompt).string_len(255).null())
                    .col(ColumnDef::new(PromptRuns::ConnectionId).uuid().null())
                    .col(ColumnDef::new(PromptRuns::ConnectionName).string_len(100).not_null())
                    .col(ColumnDef::new(PromptRuns::Provider).string_len(32).not_null())
                    .col(ColumnDef::new(PromptRuns::Model).string_len(200).not_null())
                    .col(ColumnDef::new(PromptRuns::Outcome).string_len(16).not_null())
                    .col(ColumnDef::new(PromptRuns::ErrorCode).string_len(64).null())
                    .col(ColumnDef::new(PromptRuns::FinishReason).string_len(64).null())
                    .col(ColumnDef::new(PromptRuns::InputTokens).integer().null())
                    .col(ColumnDef::new(PromptRuns::OutputTokens).integer().null())
                    .col(ColumnDef::new(PromptRuns::LatencyMs).big_integer().not_null())
                    .col(ColumnDef::new(PromptRuns::EstimatedCost).double().null())
                    .col(ColumnDef::new(PromptRuns::Output).text().null())
                    .col(ColumnDef::new(PromptRuns::OutputExpiresAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(PromptRuns::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptRuns::Table, PromptRuns::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptRuns::Table, PromptRuns::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptRuns::Table, PromptRuns::PromptId)
                            .to(Prompts::Table, Prompts::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PromptRuns::Table, PromptRuns::ConnectionId)
                            .to(AiConnections::Table, AiConnections::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // A prompt's history, newest first (ids are time-ordered).
            (
                "ix_prompt_runs_tenant_prompt",
                vec![PromptRuns::TenantId, PromptRuns::PromptId, PromptRuns::Id],
            ),
            // Analytics by day, and the retention sweep.
            ("ix_prompt_runs_tenant_created", vec![PromptRuns::TenantId, PromptRuns::CreatedAt]),
            ("ix_prompt_runs_output_expiry", vec![PromptRuns::OutputExpiresAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(PromptRuns::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PromptRuns::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AiPolicies::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(AiConnections::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum AiConnections {
    Table,
    Id,
    TenantId,
    OwnerId,
    NameScope,
    Name,
    NameKey,
    Provider,
    BaseUrl,
    Model,
    ApiKeySealed,
    ApiKeyHint,
    Temperature,
    MaxTokens,
    TimeoutSeconds,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AiPolicies {
    Table,
    TenantId,
    AllowUserConnections,
    ExecutionConnectionId,
    EnhancementConnectionId,
    RunRetentionDays,
    Prices,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PromptRuns {
    Table,
    Id,
    TenantId,
    UserId,
    PromptId,
    PromptVersion,
    Kind,
    CompareGroup,
    EnhancementPrompt,
    ConnectionId,
    ConnectionName,
    Provider,
    Model,
    Outcome,
    ErrorCode,
    FinishReason,
    InputTokens,
    OutputTokens,
    LatencyMs,
    EstimatedCost,
    Output,
    OutputExpiresAt,
    CreatedAt,
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
}
