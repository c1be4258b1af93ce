use chrono::{DateTime, Utc};
use domain::audit::{AuditEvent, NewAuditEvent};
use domain::user::{Email, NewUser, User};
use domain::{Secret, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entities::{audit_events, users};
use crate::{StoreError, TenantScope, convert};

/// Operations on one tenant's data. Every query filters on the scope's tenant, so a row of
/// another tenant is indistinguishable from a missing one.
pub struct TenantRepo<'a, C> {
    conn: &'a C,
    scope: TenantScope,
}

impl<'a, C: ConnectionTrait> TenantRepo<'a, C> {
    pub(crate) fn new(conn: &'a C, scope: TenantScope) -> Self {
        Self { conn, scope }
    }

    pub fn scope(&self) -> TenantScope {
        self.scope
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
        convert::user(row.insert(self.conn).await?)
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.users()
            .filter(users::Column::Id.eq(id.as_uuid()))
            .one(self.conn)
            .await?
            .map(convert::user)
            .transpose()
    }

    pub async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.users()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.conn)
            .await?
            .map(convert::user)
            .transpose()
    }

    /// A user with their stored password hash (`None` for SSO-only users), for sign-in.
    pub async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, Option<Secret<String>>)>, StoreError> {
        let Some(row) = self
            .users()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(self.conn)
            .await?
        else {
            return Ok(None);
        };
        let hash = row.password_hash.clone().map(Secret::new);
        Ok(Some((convert::user(row)?, hash)))
    }

    /// The tenant's users, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.users()
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(convert::user)
            .collect()
    }

    pub async fn count_active_users(&self) -> Result<u64, StoreError> {
        Ok(self
            .users()
            .filter(users::Column::IsActive.eq(true))
            .count(self.conn)
            .await?)
    }

    pub async fn record_audit(&self, event: NewAuditEvent) -> Result<(), StoreError> {
        audit_events::Entity::insert(convert::new_audit_row(Some(self.scope.tenant_id()), event))
            .exec_without_returning(self.conn)
            .await?;
        Ok(())
    }

    /// This tenant's audit log, newest first.
    pub async fn list_audit(&self, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        audit_events::Entity::find()
            .filter(audit_events::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
            .order_by_desc(audit_events::Column::CreatedAt)
            .order_by_desc(audit_events::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(convert::audit_event)
            .collect()
    }

    fn users(&self) -> sea_orm::Select<users::Entity> {
        users::Entity::find().filter(users::Column::TenantId.eq(self.scope.tenant_id().as_uuid()))
    }
}
