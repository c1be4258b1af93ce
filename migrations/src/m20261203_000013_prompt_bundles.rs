//! Prompt bundles: each prompt and each of its versions records its kind (`text` or `chat`),
//! its template format (`basic` or `logic`), its chat messages, its model settings and its
//! variable contract. Existing rows become what they always were: basic text prompts without
//! settings, whose contract is inferred from their content when read.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Prompts {
    Table,
}

#[derive(DeriveIden)]
enum PromptVersions {
    Table,
}

/// The new columns, the same on both tables.
#[derive(DeriveIden, Clone, Copy)]
enum Bundle {
    Kind,
    TemplateFormat,
    /// JSON `[{role, content} | {placeholder}, …]`; NULL for text prompts.
    Messages,
    /// JSON `ModelSettings`; NULL when none.
    Settings,
    /// JSON `[VariableSpec, …]`; NULL for rows saved before contracts existed.
    Contract,
}

fn columns() -> [ColumnDef; 5] {
    [
        ColumnDef::new(Bundle::Kind).string_len(8).not_null().default("text").to_owned(),
        ColumnDef::new(Bundle::TemplateFormat).string_len(8).not_null().default("basic").to_owned(),
        ColumnDef::new(Bundle::Messages).text().null().to_owned(),
        ColumnDef::new(Bundle::Settings).text().null().to_owned(),
        ColumnDef::new(Bundle::Contract).text().null().to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds only one at a time.
        for table in [Prompts::Table.into_iden(), PromptVersions::Table.into_iden()] {
            for mut column in columns() {
                manager
                    .alter_table(Table::alter().table(table.clone()).add_column(&mut column).to_owned())
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Prompts::Table.into_iden(), PromptVersions::Table.into_iden()] {
            for column in
                [Bundle::Kind, Bundle::TemplateFormat, Bundle::Messages, Bundle::Settings, Bundle::Contract]
            {
                manager
                    .alter_table(Table::alter().table(table.clone()).drop_column(column).to_owned())
                    .await?;
            }
        }
        Ok(())
    }
}
