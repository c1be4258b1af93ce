//! Tenants, users, prompts, per-user config, sessions and the audit log.
//!
//! Every tenant-owned table carries `tenant_id` so the schema can later be distributed by
//! tenant. Audit rows deliberately have no foreign keys: they outlive what they describe.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(uuid_pk(Tenants::Id))
                    .col(ColumnDef::new(Tenants::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Tenants::Subdomain).string_len(63).not_null().unique_key())
                    .col(ColumnDef::new(Tenants::MaxUsers).integer().not_null())
                    .col(ColumnDef::new(Tenants::IsActive).boolean().not_null())
                    .col(timestamp(Tenants::CreatedAt))
                    .col(timestamp(Tenants::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid_pk(Users::Id))
                    .col(ColumnDef::new(Users::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Users::Email).string_len(254).not_null())
                    .col(ColumnDef::new(Users::PasswordHash).string_len(255).null())
                    .col(ColumnDef::new(Users::FirstName).string_len(100).not_null())
                    .col(ColumnDef::new(Users::LastName).string_len(100).not_null())
                    .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                    .col(ColumnDef::new(Users::IsActive).boolean().not_null())
                    .col(ColumnDef::new(Users::SsoSubject).string_len(255).null())
                    .col(ColumnDef::new(Users::LastLoginAt).timestamp_with_time_zone().null())
                    .col(timestamp(Users::CreatedAt))
                    .col(timestamp(Users::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(manager, Users::Table, "ux_users_tenant_email", [Users::TenantId, Users::Email]).await?;
        unique_index(
            manager,
            Users::Table,
            "ux_users_tenant_sso_subject",
            [Users::TenantId, Users::SsoSubject],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Prompts::Table)
                    .col(uuid_pk(Prompts::Id))
                    .col(ColumnDef::new(Prompts::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Prompts::UserId).uuid().null())
                    .col(ColumnDef::new(Prompts::Name).string_len(255).not_null())
                    .col(ColumnDef::new(Prompts::Title).string_len(255).not_null())
                    .col(ColumnDef::new(Prompts::Content).text().not_null())
                    .col(ColumnDef::new(Prompts::Category).string_len(100).not_null())
                    .col(ColumnDef::new(Prompts::Tags).text().not_null())
                    .col(ColumnDef::new(Prompts::IsEnhancementPrompt).boolean().not_null())
                    .col(timestamp(Prompts::CreatedAt))
                    .col(timestamp(Prompts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Prompts::Table, Prompts::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    // Prompts outlive their author; the owner becomes unknown.
                    .foreign_key(
                        ForeignKey::create()
                            .from(Prompts::Table, Prompts::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(manager, Prompts::Table, "ux_prompts_tenant_name", [Prompts::TenantId, Prompts::Name])
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Config::Table)
                    .col(uuid_pk(Config::Id))
                    .col(ColumnDef::new(Config::TenantId).uuid().not_null())
                    // NULL: a tenant-wide setting.
                    .col(ColumnDef::new(Config::UserId).uuid().null())
                    .col(ColumnDef::new(Config::Key).string_len(100).not_null())
                    .col(ColumnDef::new(Config::Value).text().not_null())
                    .col(timestamp(Config::CreatedAt))
                    .col(timestamp(Config::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Config::Table, Config::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Config::Table, Config::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            Config::Table,
            "ux_config_tenant_user_key",
            [Config::TenantId, Config::UserId, Config::Key],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid_pk(Sessions::Id))
                    .col(ColumnDef::new(Sessions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                    .col(timestamp(Sessions::CreatedAt))
                    .col(timestamp(Sessions::ExpiresAt))
                    .col(ColumnDef::new(Sessions::RevokedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Sessions::ClientAddr).string_len(64).null())
                    .col(ColumnDef::new(Sessions::UserAgent).string_len(512).null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        plain_index(
            manager,
            Sessions::Table,
            "ix_sessions_tenant_user",
            [Sessions::TenantId, Sessions::UserId],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid_pk(AuditEvents::Id))
                    // NULL: a system-wide event.
                    .col(ColumnDef::new(AuditEvents::TenantId).uuid().null())
                    // NULL: the system acted (seeding, the admin CLI).
                    .col(ColumnDef::new(AuditEvents::ActorUserId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvents::TargetType).string_len(32).not_null())
                    .col(ColumnDef::new(AuditEvents::TargetId).string_len(255).null())
                    .col(ColumnDef::new(AuditEvents::Details).text().not_null())
                    .col(ColumnDef::new(AuditEvents::ClientAddr).string_len(64).null())
                    .col(timestamp(AuditEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        plain_index(
            manager,
            AuditEvents::Table,
            "ix_audit_events_tenant_created",
            [AuditEvents::TenantId, AuditEvents::CreatedAt],
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            Sessions::Table.into_iden(),
            Config::Table.into_iden(),
            Prompts::Table.into_iden(),
            Users::Table.into_iden(),
            Tenants::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

fn uuid_pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().primary_key().to_owned()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

async fn unique_index<T: IntoIden, C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
    cols: impl IntoIterator<Item = C>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table).unique();
    for col in cols {
        index.col(col);
    }
    manager.create_index(index.to_owned()).await
}

async fn plain_index<T: IntoIden, C: IntoIden>(
    manager: &SchemaManager<'_>,
    table: T,
    name: &str,
    cols: impl IntoIterator<Item = C>,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    manager.create_index(index.to_owned()).await
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Subdomain,
    MaxUsers,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Email,
    PasswordHash,
    FirstName,
    LastName,
    Role,
    IsActive,
    SsoSubject,
    LastLoginAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Prompts {
    Table,
    Id,
    TenantId,
    UserId,
    Name,
    Title,
    Content,
    Category,
    Tags,
    IsEnhancementPrompt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Config {
    Table,
    Id,
    TenantId,
    UserId,
    Key,
    Value,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    TenantId,
    UserId,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    ClientAddr,
    UserAgent,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    ActorUserId,
    Action,
    TargetType,
    TargetId,
    Details,
    ClientAddr,
    CreatedAt,
}
