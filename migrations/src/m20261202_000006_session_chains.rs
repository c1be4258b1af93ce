//! Session chains: every session remembers when its chain of refreshes began (the sign-in), so
//! refreshing can stop at an absolute lifetime (`SESSION_ABSOLUTE_LIFETIME`).
//!
//! The column is nullable only because SQLite cannot add a `NOT NULL` column without a constant
//! default; existing sessions are backfilled with their own creation time (each was its own
//! chain's start as far as anyone can tell), and every new session row sets it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::ChainStartedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE sessions SET chain_started_at = created_at WHERE chain_started_at IS NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Sessions::Table).drop_column(Sessions::ChainStartedAt).to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ChainStartedAt,
}
