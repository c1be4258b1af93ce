use chrono::{DateTime, Utc};
use domain::audit::{AuditEvent, NewAuditEvent};
use domain::tenant::{DEFAULT_QUOTA, NewTenant, Subdomain, Tenant, TenantName, TenantQuota};
use domain::wire::{Analytics, TenantUsage};
use domain::{AuditEventId, TenantId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::entities::{prompts, tenants, users};
use crate::error::corrupt;
use crate::query::{AuditFilter, Page, contains_ci};
use crate::scoped_pool::ScopedPool;
use crate::{StoreError, TenantScope, convert};

/// Cross-tenant operations, for holders of [`crate::SystemAccess`]: system administrators and
/// the operator's own processes. Anything a tenant's own users do goes through
/// [`crate::TenantRepo`]. On PostgreSQL its statements run in transactions that declare system
/// access, which the row-level security policies let see every tenant.
pub struct SystemRepo<C = ScopedPool> {
    conn: C,
}

impl<C: ConnectionTrait> SystemRepo<C> {
    pub(crate) fn new(conn: C) -> Self {
        Self { conn }
    }

    /// The scope to act inside one tenant, as a system administrator may.
    pub fn scope(&self, tenant: &Tenant) -> TenantScope {
        TenantScope::new(tenant.id)
    }

    /// Creates an active tenant. A taken subdomain is [`StoreError::Conflict`].
    pub async fn create_tenant(&self, new: NewTenant, now: DateTime<Utc>) -> Result<Tenant, StoreError> {
        let row = tenants::ActiveModel {
            id: Set(convert::new_id(now)),
            name: Set(new.name.as_str().to_owned()),
            subdomain: Set(new.subdomain.as_str().to_owned()),
            max_users: Set(i32::try_from(new.max_users).map_err(|e| corrupt("tenants.max_users", e))?),
            max_prompts: Set(stored_count(DEFAULT_QUOTA.max_prompts)),
            max_stored_bytes: Set(stored_count(DEFAULT_QUOTA.max_stored_bytes)),
            prompt_count: Set(0),
            stored_bytes: Set(0),
            is_active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        };
        convert::tenant(row.insert(&self.conn).await?)
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
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn tenant_by_subdomain(&self, subdomain: &Subdomain) -> Result<Option<Tenant>, StoreError> {
        crate::query::tenant_by_subdomain(&self.conn, subdomain).await
    }

    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        tenants::Entity::find_by_id(id.as_uuid()).one(&self.conn).await?.map(convert::tenant).transpose()
    }

    pub async fn count_tenants(&self) -> Result<u64, StoreError> {
        Ok(tenants::Entity::find().count(&self.conn).await?)
    }

    /// One page of tenants, oldest first, after the tenant `after`; `q` matches name or
    /// subdomain case-insensitively.
    pub async fn list_tenants(
        &self,
        q: Option<&str>,
        after: Option<TenantId>,
        limit: u64,
    ) -> Result<Page<Tenant>, StoreError> {
        let mut query = tenants::Entity::find();
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            query = query.filter(
                Condition::any()
                    .add(contains_ci(tenants::Column::Name, q))
                    .add(contains_ci(tenants::Column::Subdomain, q)),
            );
        }
        if let Some(after) = after {
            query = query.filter(tenants::Column::Id.gt(after.as_uuid()));
        }
        let rows = query.order_by_asc(tenants::Column::Id).limit(limit + 1).all(&self.conn).await?;
        let tenants = rows.into_iter().map(convert::tenant).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(tenants, limit, |t| t.id.as_uuid()))
    }

    /// Changes a tenant; `None` keeps a field as it is. Returns the updated tenant.
    pub async fn update_tenant(
        &self,
        id: TenantId,
        name: Option<TenantName>,
        max_users: Option<u32>,
        quota: Option<TenantQuota>,
        is_active: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<Option<Tenant>, StoreError> {
        let mut row = tenants::ActiveModel { updated_at: Set(now), ..Default::default() };
        if let Some(quota) = quota {
            row.max_prompts = Set(stored_count(quota.max_prompts));
            row.max_stored_bytes = Set(stored_count(quota.max_stored_bytes));
        }
        if let Some(name) = name {
            row.name = Set(name.as_str().to_owned());
        }
        if let Some(max_users) = max_users {
            row.max_users = Set(i32::try_from(max_users).map_err(|e| corrupt("tenants.max_users", e))?);
        }
        if let Some(active) = is_active {
            row.is_active = Set(active);
        }
        tenants::Entity::update_many()
            .set(row)
            .filter(tenants::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        self.tenant_by_id(id).await
    }

    /// Deletes a tenant and, through the schema's cascades, everything it owns (users, prompts,
    /// settings, sessions, tokens). Audit events stay. Returns whether it existed.
    pub async fn delete_tenant(&self, id: TenantId) -> Result<bool, StoreError> {
        let result = tenants::Entity::delete_by_id(id.as_uuid()).exec(&self.conn).await?;
        Ok(result.rows_affected > 0)
    }

    /// How many users and prompts a tenant holds.
    pub async fn tenant_contents(&self, id: TenantId) -> Result<(u64, u64), StoreError> {
        let users =
            users::Entity::find().filter(users::Column::TenantId.eq(id.as_uuid())).count(&self.conn).await?;
        let prompts = prompts::Entity::find()
            .filter(prompts::Column::TenantId.eq(id.as_uuid()))
            .count(&self.conn)
            .await?;
        Ok((users, prompts))
    }

    /// The tenant a user belongs to: how a system administrator's request for a user by id
    /// finds the tenant scope to work in.
    pub async fn tenant_of_user(&self, user: UserId) -> Result<Option<TenantId>, StoreError> {
        let tenant: Option<uuid::Uuid> = users::Entity::find_by_id(user.as_uuid())
            .select_only()
            .column(users::Column::TenantId)
            .into_tuple()
            .one(&self.conn)
            .await?;
        Ok(tenant.map(TenantId::from_uuid))
    }

    /// Every tenant's figures summed, and one row per tenant.
    pub async fn analytics(&self, now: DateTime<Utc>) -> Result<(Analytics, Vec<TenantUsage>), StoreError> {
        let totals = crate::analytics::analytics(&self.conn, None, now).await?;
        Ok((totals, crate::analytics::tenant_usage(&self.conn, now).await?))
    }

    /// Records an event; `tenant_id` is `None` for system-wide events.
    pub async fn record_audit(
        &self,
        tenant_id: Option<TenantId>,
        event: NewAuditEvent,
    ) -> Result<(), StoreError> {
        crate::query::insert_audit(&self.conn, tenant_id, event).await
    }

    /// The latest audit events across tenants, newest first.
    pub async fn list_audit(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.list_audit_page(None, &AuditFilter::default(), None, limit).await?.items)
    }

    /// One page of the audit log across tenants (or of `tenant`), newest first.
    pub async fn list_audit_page(
        &self,
        tenant: Option<TenantId>,
        filter: &AuditFilter,
        before: Option<AuditEventId>,
        limit: u64,
    ) -> Result<Page<AuditEvent>, StoreError> {
        crate::query::audit_page(&self.conn, tenant, filter, before, limit).await
    }

    /// Clears run outputs whose tenant's retention has passed, in every tenant (the periodic
    /// sweep). Returns how many were cleared.
    pub async fn expire_run_outputs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        crate::tenant::expire_run_outputs(&self.conn, now).await
    }

    /// The webhook workers' queue, across tenants: takes up to `limit` due deliveries for
    /// `lease` (see [`crate::ClaimedDelivery`]).
    pub async fn claim_webhook_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<crate::ClaimedDelivery>, StoreError> {
        crate::tenant::claim_webhook_deliveries(&self.conn, now, lease, limit).await
    }

    /// Records a try of a claimed delivery; `false` when its claim was lost meanwhile.
    pub async fn record_webhook_attempt(
        &self,
        claimed: &crate::ClaimedDelivery,
        outcome: &domain::webhook::AttemptOutcome,
        duration_ms: u32,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        crate::tenant::record_webhook_attempt(&self.conn, claimed, outcome, duration_ms, retry_at, now).await
    }

    /// Drops delivered and failed deliveries made before `before`, in every tenant.
    pub async fn prune_webhook_deliveries(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        crate::tenant::prune_webhook_deliveries(&self.conn, before).await
    }
}

/// A count as the database stores it (counts beyond `i64::MAX` do not occur; they saturate).
fn stored_count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
