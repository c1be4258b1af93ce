use chrono::{DateTime, Utc};
use domain::audit::{AuditEvent, NewAuditEvent};
use domain::session::{ApiToken, NewApiToken, Session, SessionChain};
use domain::sso::SsoProtocol;
use domain::tenant::Tenant;
use domain::user::{Email, NewUser, Role, User};
use domain::wire::Analytics;
use domain::{ApiTokenId, AuditEventId, Secret, SessionId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entities::{api_tokens, prompts, sessions, tenants, users};
use crate::query::{AuditFilter, Page, UserFilter, contains_ci};
use crate::scoped_pool::ScopedPool;
use crate::{ClientInfo, StoreError, TenantScope, convert};

mod ai;
mod approvals;
mod library;
mod releases;
mod sso;
mod webhooks;

pub(crate) use ai::expire_run_outputs;
pub use ai::{DEFAULT_RUN_RETENTION_DAYS, DayTotal, ModelTotal, RunTotals, RunViewer};
pub use approvals::{ApprovalFilter, MAX_DECIDED_APPROVALS_KEPT};
pub use library::{FolderFilter, PromptChange, PromptFilter, search_terms};
pub use releases::MAX_LABEL_MOVES_KEPT;
pub use webhooks::{ClaimedDelivery, NewWebhook, WebhookChange};
pub(crate) use webhooks::{claim_webhook_deliveries, prune_webhook_deliveries, record_webhook_attempt};

/// Operations on one tenant's data. Every query starts from the scope's builders, so a row of
/// another tenant is indistinguishable from a missing one; on PostgreSQL every statement also
/// runs in a transaction that named the tenant first, and row-level security hides every other
/// tenant's rows from it.
///
/// From [`crate::Database::tenant`] each statement commits on its own; from
/// [`crate::Transaction::tenant`] they are part of that transaction.
pub struct TenantRepo<C = ScopedPool> {
    conn: C,
    scope: TenantScope,
}

impl<C: ConnectionTrait> TenantRepo<C> {
    pub(crate) fn new(conn: C, scope: TenantScope) -> Self {
        Self { conn, scope }
    }

    /// Creates an active user. An email already used in this tenant is [`StoreError::Conflict`].
    pub async fn create_user(&self, new: NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
        let row = users::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            email: Set(new.email.as_str().to_owned()),
            password_hash: Set(new.password_hash.map(|h| h.expose().clone())),
            first_name: Set(new.first_name),
            last_name: Set(new.last_name),
            role: Set(new.role.as_str().to_owned()),
            is_active: Set(true),
            sso_subject: Set(None),
            last_login_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        convert::user(row.insert(&self.conn).await?)
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.scope
            .select::<users::Entity>()
            .filter(users::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?
            .map(convert::user)
            .transpose()
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.scope
            .select::<users::Entity>()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.conn)
            .await?
            .map(convert::user)
            .transpose()
    }

    /// A user's stored password hash (`None` for SSO-only users and missing users).
    pub async fn password_hash(&self, id: UserId) -> Result<Option<Secret<String>>, StoreError> {
        let hash: Option<Option<String>> = self
            .scope
            .select::<users::Entity>()
            .filter(users::Column::Id.eq(id.as_uuid()))
            .select_only()
            .column(users::Column::PasswordHash)
            .into_tuple()
            .one(&self.conn)
            .await?;
        Ok(hash.flatten().map(Secret::new))
    }

    /// The tenant's own row, as stored now.
    pub async fn tenant(&self) -> Result<Option<Tenant>, StoreError> {
        self.scope.select::<tenants::Entity>().one(&self.conn).await?.map(convert::tenant).transpose()
    }

    /// One page of the tenant's users, oldest first, after the user `after`.
    pub async fn list_users_page(
        &self,
        filter: &UserFilter,
        after: Option<UserId>,
        limit: u64,
    ) -> Result<Page<User>, StoreError> {
        let mut query = self.scope.select::<users::Entity>();
        if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            query = query.filter(
                Condition::any()
                    .add(contains_ci(users::Column::Email, q))
                    .add(contains_ci(users::Column::FirstName, q))
                    .add(contains_ci(users::Column::LastName, q)),
            );
        }
        if let Some(role) = filter.role {
            query = query.filter(users::Column::Role.eq(role.as_str()));
        }
        if let Some(active) = filter.active {
            query = query.filter(users::Column::IsActive.eq(active));
        }
        if let Some(after) = after {
            query = query.filter(users::Column::Id.gt(after.as_uuid()));
        }
        let rows = query.order_by_asc(users::Column::Id).limit(limit + 1).all(&self.conn).await?;
        let users = rows.into_iter().map(convert::user).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(users, limit, |u| u.id.as_uuid()))
    }

    /// Takes this tenant's membership lock until the transaction ends: the checks that count
    /// users (the last active admin, `max_users`) then see every concurrent change before
    /// them, on both databases. It is a no-op write to the tenant's row, so it must come first
    /// in the transaction (SQLite then waits for the write lock instead of failing later).
    pub async fn lock_membership(&self) -> Result<(), StoreError> {
        self.scope
            .update::<tenants::Entity>()
            .col_expr(tenants::Column::UpdatedAt, Expr::col(tenants::Column::UpdatedAt))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Active admins of this tenant.
    pub async fn count_active_admins(&self) -> Result<u64, StoreError> {
        Ok(self
            .scope
            .select::<users::Entity>()
            .filter(users::Column::IsActive.eq(true))
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .count(&self.conn)
            .await?)
    }

    /// Deletes a user. Their prompts go to `transfer_to` (a user of this tenant), or keep no
    /// owner ("deleted user") when `None`. Returns whether the user existed.
    pub async fn delete_user(&self, id: UserId, transfer_to: Option<UserId>) -> Result<bool, StoreError> {
        self.scope
            .update::<prompts::Entity>()
            .col_expr(prompts::Column::UserId, transfer_to.map(|u| u.as_uuid()).into())
            .filter(prompts::Column::UserId.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        if let Some(heir) = transfer_to {
            // Private prompts move into the heir's private namespace (a clash is a Conflict).
            self.scope
                .update::<prompts::Entity>()
                .col_expr(prompts::Column::NameScope, heir.as_uuid().to_string().into())
                .filter(prompts::Column::NameScope.eq(id.as_uuid().to_string()))
                .exec(&self.conn)
                .await?;
        }
        let deleted = self
            .scope
            .delete::<users::Entity>()
            .filter(users::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Ends every live session in the tenant (deactivation).
    pub async fn revoke_all_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let result = self
            .scope
            .update::<sessions::Entity>()
            .col_expr(sessions::Column::RevokedAt, now.into())
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected)
    }

    /// Who owns each of the tenant's prompts (`None`: a deleted user), for checks.
    pub async fn prompt_owners(&self) -> Result<Vec<Option<UserId>>, StoreError> {
        let owners: Vec<Option<uuid::Uuid>> = self
            .scope
            .select::<prompts::Entity>()
            .select_only()
            .column(prompts::Column::UserId)
            .order_by_asc(prompts::Column::Id)
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(owners.into_iter().map(|o| o.map(UserId::from_uuid)).collect())
    }

    /// This tenant's usage figures.
    pub async fn analytics(&self, now: DateTime<Utc>) -> Result<Analytics, StoreError> {
        crate::analytics::analytics(&self.conn, Some(self.scope.tenant_id()), now).await
    }

    pub async fn count_active_users(&self) -> Result<u64, StoreError> {
        Ok(self
            .scope
            .select::<users::Entity>()
            .filter(users::Column::IsActive.eq(true))
            .count(&self.conn)
            .await?)
    }

    /// Records a successful sign-in.
    pub async fn record_login(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_user(user_id, |row| row.last_login_at = Set(Some(now)), now).await
    }

    /// Replaces a user's password hash (a PHC string).
    pub async fn set_password_hash(
        &self,
        user_id: UserId,
        hash: Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_user(user_id, |row| row.password_hash = Set(Some(hash.expose().clone())), now).await
    }

    /// Activates or deactivates a user. Callers also end the user's sessions.
    pub async fn set_user_active(
        &self,
        user_id: UserId,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_user(user_id, |row| row.is_active = Set(active), now).await
    }

    /// Changes a user's role. Callers also end the user's sessions.
    pub async fn set_role(&self, user_id: UserId, role: Role, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.update_user(user_id, |row| row.role = Set(role.as_str().to_owned()), now).await
    }

    /// Changes a user's names; `None` keeps a name as it is. Returns the updated user.
    pub async fn update_names(
        &self,
        user_id: UserId,
        first_name: Option<String>,
        last_name: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError> {
        self.update_user(
            user_id,
            |row| {
                if let Some(first) = first_name {
                    row.first_name = Set(first);
                }
                if let Some(last) = last_name {
                    row.last_name = Set(last);
                }
            },
            now,
        )
        .await?;
        self.user_by_id(user_id).await
    }

    async fn update_user(
        &self,
        user_id: UserId,
        change: impl FnOnce(&mut users::ActiveModel),
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut row = users::ActiveModel { updated_at: Set(now), ..Default::default() };
        change(&mut row);
        self.scope
            .update::<users::Entity>()
            .set(row)
            .filter(users::Column::Id.eq(user_id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Opens a session for a user of this tenant: a sign-in, which begins a new chain.
    /// `sso_protocol` names the identity provider's protocol for a single sign-on.
    pub async fn create_session(
        &self,
        user_id: UserId,
        expires_at: DateTime<Utc>,
        sso_protocol: Option<SsoProtocol>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let chain = SessionChain { started_at: now, sso_protocol };
        self.create_session_in_chain(user_id, expires_at, chain, client, now).await
    }

    /// Opens a session continuing a chain of refreshes (its sign-in's time and kind).
    pub async fn create_session_in_chain(
        &self,
        user_id: UserId,
        expires_at: DateTime<Utc>,
        chain: SessionChain,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Session, StoreError> {
        let row = sessions::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            user_id: Set(user_id.as_uuid()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            client_addr: Set(client.addr.clone()),
            user_agent: Set(client.user_agent.clone()),
            chain_started_at: Set(Some(chain.started_at)),
            sso_protocol: Set(chain.sso_protocol.map(|p| p.as_str().to_owned())),
        };
        Ok(convert::session(row.insert(&self.conn).await?))
    }

    pub async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self
            .scope
            .select::<sessions::Entity>()
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?
            .map(convert::session))
    }

    /// Ends one session; returns whether it was live.
    pub async fn revoke_session(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .scope
            .update::<sessions::Entity>()
            .col_expr(sessions::Column::RevokedAt, now.into())
            .filter(sessions::Column::Id.eq(id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Ends every live session of a user, except `keep`; returns how many ended.
    pub async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut update = self
            .scope
            .update::<sessions::Entity>()
            .col_expr(sessions::Column::RevokedAt, now.into())
            .filter(sessions::Column::UserId.eq(user_id.as_uuid()))
            .filter(sessions::Column::RevokedAt.is_null());
        if let Some(keep) = keep {
            update = update.filter(sessions::Column::Id.ne(keep.as_uuid()));
        }
        Ok(update.exec(&self.conn).await?.rows_affected)
    }

    /// Stores a new API token for a user of this tenant.
    pub async fn create_api_token(
        &self,
        new: NewApiToken,
        now: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        let row = api_tokens::ActiveModel {
            id: Set(convert::new_id(now)),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            user_id: Set(new.user_id.as_uuid()),
            name: Set(new.name),
            prefix: Set(new.prefix),
            token_hash: Set(new.token_hash),
            scope: Set(new.scope.as_str().to_owned()),
            created_at: Set(now),
            expires_at: Set(new.expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
        };
        convert::api_token(row.insert(&self.conn).await?)
    }

    /// A user's tokens that still work, newest first.
    pub async fn live_api_tokens(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<ApiToken>, StoreError> {
        self.scope
            .select::<api_tokens::Entity>()
            .filter(api_tokens::Column::UserId.eq(user_id.as_uuid()))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .filter(api_tokens::Column::ExpiresAt.is_null().or(api_tokens::Column::ExpiresAt.gt(now)))
            .order_by_desc(api_tokens::Column::CreatedAt)
            .order_by_desc(api_tokens::Column::Id)
            .all(&self.conn)
            .await?
            .into_iter()
            .map(convert::api_token)
            .collect()
    }

    /// Revokes one of a user's tokens; returns whether a live token was revoked.
    pub async fn revoke_api_token(
        &self,
        user_id: UserId,
        id: ApiTokenId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .scope
            .update::<api_tokens::Entity>()
            .col_expr(api_tokens::Column::RevokedAt, now.into())
            .filter(api_tokens::Column::UserId.eq(user_id.as_uuid()))
            .filter(api_tokens::Column::Id.eq(id.as_uuid()))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&self.conn)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Notes that a token was just used.
    pub async fn touch_api_token(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.scope
            .update::<api_tokens::Entity>()
            .col_expr(api_tokens::Column::LastUsedAt, now.into())
            .filter(api_tokens::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    pub async fn record_audit(&self, event: NewAuditEvent) -> Result<(), StoreError> {
        crate::query::insert_audit(&self.conn, Some(self.scope.tenant_id()), event).await
    }

    /// This tenant's latest audit events, newest first.
    pub async fn list_audit(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self.list_audit_page(&AuditFilter::default(), None, limit).await?.items)
    }

    /// One page of this tenant's audit log, newest first, before the event `before`.
    pub async fn list_audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<AuditEventId>,
        limit: u64,
    ) -> Result<Page<AuditEvent>, StoreError> {
        crate::query::audit_page(&self.conn, Some(self.scope.tenant_id()), filter, before, limit).await
    }
}
