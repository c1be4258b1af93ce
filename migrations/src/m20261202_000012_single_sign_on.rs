//! Single sign-on: each tenant's identity-provider settings, the sign-ins in progress (state,
//! nonce, PKCE verifier or SAML request id, and the one-time code that hands a finished sign-in
//! to the browser app), the SAML assertions already used (replay protection), and how each
//! session was signed in (for the provider's sign-out). A user's link to their provider
//! subject (`users.sso_subject`, unique per tenant) is in the core schema.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::row_security::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SsoConfigs::Table)
                    .col(ColumnDef::new(SsoConfigs::TenantId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SsoConfigs::Protocol).string_len(8).not_null())
                    .col(ColumnDef::new(SsoConfigs::Enabled).boolean().not_null())
                    .col(ColumnDef::new(SsoConfigs::Issuer).text().null())
                    .col(ColumnDef::new(SsoConfigs::ClientId).text().null())
                    // Sealed by the server's key (auth::sealing); never stored in the clear.
                    .col(ColumnDef::new(SsoConfigs::ClientSecretSealed).text().null())
                    .col(ColumnDef::new(SsoConfigs::ClientSecretHint).string_len(40).null())
                    .col(ColumnDef::new(SsoConfigs::SamlMetadataUrl).text().null())
                    .col(ColumnDef::new(SsoConfigs::SamlMetadataXml).text().null())
                    // JSON: ["acme.com", …].
                    .col(ColumnDef::new(SsoConfigs::AllowedDomains).text().not_null())
                    .col(ColumnDef::new(SsoConfigs::DefaultRole).string_len(16).not_null())
                    .col(ColumnDef::new(SsoConfigs::RoleClaim).text().null())
                    // JSON: [{value, role}, …].
                    .col(ColumnDef::new(SsoConfigs::RoleRules).text().not_null())
                    .col(ColumnDef::new(SsoConfigs::CreateUsers).boolean().not_null())
                    .col(ColumnDef::new(SsoConfigs::PasswordSignIn).boolean().not_null())
                    .col(ColumnDef::new(SsoConfigs::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SsoConfigs::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(SsoConfigs::Table, SsoConfigs::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SsoFlows::Table)
                    .col(ColumnDef::new(SsoFlows::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(SsoFlows::TenantId).uuid().not_null())
                    // SHA-256 of the `state` (OIDC) or `RelayState` (SAML) sent to the provider.
                    .col(ColumnDef::new(SsoFlows::StateHash).string_len(64).not_null().unique_key())
                    // SHA-256 of the cookie that ties the sign-in to the browser that started it.
                    .col(ColumnDef::new(SsoFlows::BrowserHash).string_len(64).not_null())
                    .col(ColumnDef::new(SsoFlows::Purpose).string_len(16).not_null())
                    .col(ColumnDef::new(SsoFlows::Protocol).string_len(8).not_null())
                    .col(ColumnDef::new(SsoFlows::Nonce).text().null())
                    .col(ColumnDef::new(SsoFlows::PkceVerifier).text().null())
                    .col(ColumnDef::new(SsoFlows::SamlRequestId).text().null())
                    // The admin who started a test sign-in.
                    .col(ColumnDef::new(SsoFlows::StartedBy).uuid().null())
                    .col(ColumnDef::new(SsoFlows::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SsoFlows::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(SsoFlows::ConsumedAt).timestamp_with_time_zone().null())
                    // SHA-256 of the one-time code handed to the browser app once the provider's
                    // answer is verified; it is exchanged for a session (or a test's result).
                    .col(ColumnDef::new(SsoFlows::HandoffHash).string_len(64).null().unique_key())
                    .col(ColumnDef::new(SsoFlows::HandoffUserId).uuid().null())
                    .col(ColumnDef::new(SsoFlows::HandoffUsedAt).timestamp_with_time_zone().null())
                    // A test sign-in's findings (JSON `SsoTestResult`).
                    .col(ColumnDef::new(SsoFlows::TestResult).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(SsoFlows::Table, SsoFlows::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sso_flows_tenant_handoff_user_id")
                            .from(SsoFlows::Table, (SsoFlows::TenantId, SsoFlows::HandoffUserId))
                            .to(Users::Table, (Users::TenantId, Users::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sso_flows_tenant_started_by")
                            .from(SsoFlows::Table, (SsoFlows::TenantId, SsoFlows::StartedBy))
                            .to(Users::Table, (Users::TenantId, Users::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sso_flows_expires_at")
                    .table(SsoFlows::Table)
                    .col(SsoFlows::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sso_flows_tenant_expires_at")
                    .table(SsoFlows::Table)
                    .col(SsoFlows::TenantId)
                    .col(SsoFlows::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SsoAssertions::Table)
                    .col(ColumnDef::new(SsoAssertions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(SsoAssertions::AssertionId).string_len(256).not_null())
                    // Kept until the assertion itself expires; a replay after that fails anyway.
                    .col(ColumnDef::new(SsoAssertions::ExpiresAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(SsoAssertions::TenantId).col(SsoAssertions::AssertionId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SsoAssertions::Table, SsoAssertions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // `oidc` or `saml` for a session signed in through the provider; NULL for a password.
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(ColumnDef::new(Sessions::SsoProtocol).string_len(8).null())
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            let db = manager.get_connection();
            for table in ["sso_configs", "sso_flows", "sso_assertions"] {
                for statement in protect_table(table, "tenant_id") {
                    db.execute_unprepared(&statement).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::SsoProtocol).to_owned())
            .await?;
        for table in
            [SsoAssertions::Table.into_iden(), SsoFlows::Table.into_iden(), SsoConfigs::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SsoConfigs {
    Table,
    TenantId,
    Protocol,
    Enabled,
    Issuer,
    ClientId,
    ClientSecretSealed,
    ClientSecretHint,
    SamlMetadataUrl,
    SamlMetadataXml,
    AllowedDomains,
    DefaultRole,
    RoleClaim,
    RoleRules,
    CreateUsers,
    PasswordSignIn,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SsoFlows {
    Table,
    Id,
    TenantId,
    StateHash,
    BrowserHash,
    Purpose,
    Protocol,
    Nonce,
    PkceVerifier,
    SamlRequestId,
    StartedBy,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
    HandoffHash,
    HandoffUserId,
    HandoffUsedAt,
    TestResult,
}

#[derive(DeriveIden)]
enum SsoAssertions {
    Table,
    TenantId,
    AssertionId,
    ExpiresAt,
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
    TenantId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    SsoProtocol,
}
