//! Indexes for the per-tenant figures over prompts: by category, by owner, by creation day.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, Prompts); 3] = [
    ("ix_prompts_tenant_category", Prompts::Category),
    ("ix_prompts_tenant_owner", Prompts::UserId),
    ("ix_prompts_tenant_created", Prompts::CreatedAt),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Prompts::Table)
                        .col(Prompts::TenantId)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager.drop_index(Index::drop().name(name).table(Prompts::Table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Prompts {
    Table,
    TenantId,
    UserId,
    Category,
    CreatedAt,
}
