//! Indexes for keyset pages of prompts in every order: each is `(tenant_id, sort key, id)`, so
//! a page (and each batch of a streamed export) reads its rows in order from the index instead
//! of sorting every remaining prompt of the tenant. The `(tenant_id, updated_at, id)` index
//! takes the place of `(tenant_id, updated_at)`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, Prompts); 3] = [
    ("ix_prompts_tenant_id", Prompts::Id),
    ("ix_prompts_tenant_updated_id", Prompts::UpdatedAt),
    ("ix_prompts_tenant_name_key", Prompts::NameKey),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, key) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Prompts::Table).col(Prompts::TenantId).col(key);
            if !matches!(key, Prompts::Id) {
                index.col(Prompts::Id);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .drop_index(Index::drop().name("ix_prompts_tenant_updated").table(Prompts::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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
    Id,
    UpdatedAt,
    NameKey,
}
