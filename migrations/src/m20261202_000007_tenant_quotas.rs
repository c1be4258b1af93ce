//! Per-tenant quotas: how many prompts a tenant may keep and how many bytes its prompt
//! history may hold, with running totals kept beside them (updated in the same transaction
//! as every prompt write, so a check is one row, not a scan of the library).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// 100,000 prompts and 1 GiB of prompt history per tenant unless an operator says otherwise.
const DEFAULT_MAX_PROMPTS: i64 = 100_000;
const DEFAULT_MAX_STORED_BYTES: i64 = 1 << 30;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            ColumnDef::new(Tenants::MaxPrompts)
                .big_integer()
                .not_null()
                .default(DEFAULT_MAX_PROMPTS)
                .to_owned(),
            ColumnDef::new(Tenants::MaxStoredBytes)
                .big_integer()
                .not_null()
                .default(DEFAULT_MAX_STORED_BYTES)
                .to_owned(),
            ColumnDef::new(Tenants::PromptCount).big_integer().not_null().default(0).to_owned(),
            ColumnDef::new(Tenants::StoredBytes).big_integer().not_null().default(0).to_owned(),
        ] {
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned()).await?;
        }
        // The totals of the libraries that exist already: bytes of every version's title and
        // content (octets on both databases).
        let bytes = match manager.get_database_backend() {
            sea_orm::DbBackend::Sqlite => "length(CAST(v.title AS BLOB)) + length(CAST(v.content AS BLOB))",
            _ => "octet_length(v.title) + octet_length(v.content)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE tenants SET \
                 prompt_count = (SELECT COUNT(*) FROM prompts p WHERE p.tenant_id = tenants.id), \
                 stored_bytes = (SELECT COALESCE(SUM({bytes}), 0) FROM prompt_versions v WHERE v.tenant_id = tenants.id)"
            ))
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    MaxPrompts,
    MaxStoredBytes,
    PromptCount,
    StoredBytes,
}
