use domain::audit::NewAuditEvent;
use domain::session::{ApiToken, Session};
use domain::tenant::{Subdomain, Tenant};
use domain::user::{Email, User};
use domain::{Secret, SessionId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::{api_tokens, sessions, tenants, users};
use crate::scoped_pool::ScopedPool;
use crate::{Authenticated, StoreError, convert};

/// The lookups that come before anyone is authenticated: resolving a bearer credential, and
/// the steps of a sign-in. The tenant is only known once the credential or the organisation
/// is found, so on PostgreSQL its statements declare system access; its methods are narrow on
/// purpose, and hand out a [`crate::TenantScope`] only inside an [`Authenticated`].
pub struct AuthenticationRepo {
    conn: ScopedPool,
}

/// A user found for a sign-in, before their password is checked.
#[derive(Debug)]
pub struct SignInAccount {
    pub user: User,
    /// `None` for users who sign in only through single sign-on.
    pub password_hash: Option<Secret<String>>,
    tenant: Tenant,
}

impl SignInAccount {
    /// The signed-in principal. Call it only once the password (or the identity provider's
    /// assertion) has been verified: this is where a sign-in gets its tenant scope.
    pub fn verified(self) -> Authenticated {
        Authenticated::new(self.user, self.tenant)
    }
}

impl AuthenticationRepo {
    pub(crate) fn new(conn: ScopedPool) -> Self {
        Self { conn }
    }

    /// The organisation a sign-in names.
    pub async fn tenant_by_subdomain(&self, subdomain: &Subdomain) -> Result<Option<Tenant>, StoreError> {
        crate::query::tenant_by_subdomain(&self.conn, subdomain).await
    }

    /// The user of `tenant` with this email, with their stored password hash.
    pub async fn account(&self, tenant: &Tenant, email: &Email) -> Result<Option<SignInAccount>, StoreError> {
        let Some(row) = users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant.id.as_uuid()))
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let password_hash = row.password_hash.clone().map(Secret::new);
        Ok(Some(SignInAccount { user: convert::user(row)?, password_hash, tenant: tenant.clone() }))
    }

    /// Records a sign-in event in `tenant`'s log, or system-wide when no tenant matched.
    pub async fn record_audit(
        &self,
        tenant: Option<&Tenant>,
        event: NewAuditEvent,
    ) -> Result<(), StoreError> {
        crate::query::insert_audit(&self.conn, tenant.map(|t| t.id), event).await
    }

    /// The API token with this SHA-256 hash, with its user and their tenant, in one query
    /// (the hot path of every integration request).
    pub async fn api_token_credentials(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ApiToken, Authenticated)>, StoreError> {
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::TokenHash.eq(token_hash))
            .find_also_related(users::Entity)
            .find_also(api_tokens::Entity, tenants::Entity)
            .one(&self.conn)
            .await?;
        match row {
            Some((token, Some(user), Some(tenant))) => Ok(Some((
                convert::api_token(token)?,
                Authenticated::new(convert::user(user)?, convert::tenant(tenant)?),
            ))),
            _ => Ok(None),
        }
    }

    /// The session with this id, with its user and their tenant, in one query.
    pub async fn session_credentials(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Authenticated)>, StoreError> {
        let row = sessions::Entity::find_by_id(id.as_uuid())
            .find_also_related(users::Entity)
            .find_also(sessions::Entity, tenants::Entity)
            .one(&self.conn)
            .await?;
        match row {
            Some((session, Some(user), Some(tenant))) => Ok(Some((
                convert::session(session),
                Authenticated::new(convert::user(user)?, convert::tenant(tenant)?),
            ))),
            _ => Ok(None),
        }
    }
}
