use chrono::{DateTime, Utc};
use domain::TenantId;
use domain::audit::{AuditEvent, NewAuditEvent};
use domain::session::ApiToken;
use domain::tenant::{NewTenant, Subdomain, Tenant};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};

use crate::entities::{api_tokens, audit_events, tenants};
use crate::error::corrupt;
use crate::{StoreError, convert};

/// Cross-tenant operations. Only system-administration paths (and start-up) may use these;
/// anything a tenant's own users do goes through [`crate::TenantRepo`].
pub struct SystemRepo<'a, C> {
    conn: &'a C,
}

impl<'a, C: ConnectionTrait> SystemRepo<'a, C> {
    pub(crate) fn new(conn: &'a C) -> Self {
        Self { conn }
    }

    /// Creates an active tenant. A taken subdomain is [`StoreError::Conflict`].
    pub async fn create_tenant(&self, new: NewTenant, now: DateTime<Utc>) -> Result<Tenant, StoreError> {
        let row = tenants::ActiveModel {
            id: Set(convert::new_id(now)),
            name: Set(new.name.as_str().to_owned()),
            subdomain: Set(new.subdomain.as_str().to_owned()),
            max_users: Set(i32::try_from(new.max_users).map_err(|e| corrupt("tenants.max_users", e))?),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        };
        convert::tenant(row.insert(self.conn).await?)
    }

    /// Activates or deactivates a tenant; its users cannot sign in or use sessions meanwhile.
    pub async fn set_tenant_active(
        &self,
        id: TenantId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tenants::Entity::update_many()
            .col_expr(tenants::Column::IsActive, active.into())
            .col_expr(tenants::Column::UpdatedAt, now.into())
            .filter(tenants::Column::Id.eq(id.as_uuid()))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    pub async fn tenant_by_subdomain(&self, subdomain: &Subdomain) -> Result<Option<Tenant>, StoreError> {
        tenants::Entity::find()
            .filter(tenants::Column::Subdomain.eq(subdomain.as_str()))
            .one(self.conn)
            .await?
            .map(convert::tenant)
            .transpose()
    }

    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        tenants::Entity::find_by_id(id.as_uuid()).one(self.conn).await?.map(convert::tenant).transpose()
    }

    pub async fn count_tenants(&self) -> Result<u64, StoreError> {
        Ok(tenants::Entity::find().count(self.conn).await?)
    }

    /// Every tenant, oldest first.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        tenants::Entity::find()
            .order_by_asc(tenants::Column::CreatedAt)
            .order_by_asc(tenants::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(convert::tenant)
            .collect()
    }

    /// The API token with this SHA-256 hash, in whichever tenant it lives. This is the
    /// authentication path for integrations: the tenant is only known once the token is found.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError> {
        api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(token_hash))
            .one(self.conn)
            .await?
            .map(convert::api_token)
            .transpose()
    }

    /// Records an event; `tenant_id` is `None` for system-wide events.
    pub async fn record_audit(
        &self,
        tenant_id: Option<TenantId>,
        event: NewAuditEvent,
    ) -> Result<(), StoreError> {
        audit_events::Entity::insert(convert::new_audit_row(tenant_id, event))
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    /// The whole audit log, newest first, across tenants.
    pub async fn list_audit(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        use sea_orm::QuerySelect;
        audit_events::Entity::find()
            .order_by_desc(audit_events::Column::CreatedAt)
            .order_by_desc(audit_events::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(convert::audit_event)
            .collect()
    }
}
