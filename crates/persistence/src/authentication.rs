use chrono::{DateTime, Utc};
use domain::audit::NewAuditEvent;
use domain::session::{ApiToken, Session};
use domain::sso::{
    FLOW_LIFETIME_MINUTES, HANDOFF_LIFETIME_SECONDS, NewSsoFlow, SsoConfig, SsoFlow, SsoProtocol, SsoPurpose,
};
use domain::tenant::{Subdomain, Tenant};
use domain::user::{Email, User};
use domain::{Secret, SessionId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::entities::{api_tokens, sessions, sso_flows, tenants, users};
use crate::scoped_pool::ScopedPool;
use crate::sso::{FlowRefused, Taken};
use crate::{Authenticated, StoreError, TenantScope, convert};

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

/// What a provider's answer finds by its state.
#[derive(Debug)]
pub enum FlowLookup {
    Pending(Box<PendingSso>),
    /// The sign-in was finished already: the answer is a replay.
    AlreadyUsed,
    /// No such sign-in, or it expired.
    Unknown,
}

/// A sign-in with the provider whose state came back: its flow is used up, but the provider's
/// answer is not verified yet.
#[derive(Debug)]
pub struct PendingSso {
    pub flow: SsoFlow,
    pub tenant: Tenant,
}

impl PendingSso {
    /// The tenant's scope for the rest of the sign-in. Call it only once the provider's answer
    /// (ID token or assertion) has been verified against the tenant's settings: the tenant's
    /// own identity provider vouches for the user, as a password would.
    pub fn verified(self) -> (SsoFlow, TenantScope) {
        (self.flow, TenantScope::new(self.tenant.id))
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

    /// A tenant's own SSO settings, for the anonymous steps of a sign-in.
    pub async fn sso_config(&self, tenant: &Tenant) -> Result<Option<SsoConfig>, StoreError> {
        crate::sso::config(&self.conn, tenant.id).await
    }

    /// Stores a sign-in that is about to go to `tenant`'s provider.
    pub async fn begin_sso_flow(
        &self,
        tenant: &Tenant,
        flow: &NewSsoFlow,
        now: DateTime<Utc>,
    ) -> Result<Result<(), FlowRefused>, StoreError> {
        crate::sso::insert_flow(&self.conn, tenant.id, flow, now).await
    }

    /// The sign-in a provider's answer names by its state, used up at once (a second answer with
    /// the same state finds it used), with its tenant.
    pub async fn take_sso_flow(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<FlowLookup, StoreError> {
        let flow = match crate::sso::take_flow(&self.conn, state_hash, now).await? {
            Taken::Flow(flow) => flow,
            Taken::AlreadyUsed => return Ok(FlowLookup::AlreadyUsed),
            Taken::Unknown => return Ok(FlowLookup::Unknown),
        };
        let Some(tenant) = tenants::Entity::find_by_id(flow.tenant_id.as_uuid()).one(&self.conn).await?
        else {
            return Ok(FlowLookup::Unknown);
        };
        Ok(FlowLookup::Pending(Box::new(PendingSso { flow, tenant: convert::tenant(tenant)? })))
    }

    /// Exchanges the one-time code of a finished sign-in for its user, once, within its
    /// lifetime, and only in the browser that started the sign-in. Returns how they signed in.
    pub async fn take_sso_handoff(
        &self,
        handoff_hash: &str,
        browser_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(SsoProtocol, Authenticated)>, StoreError> {
        let handoff_deadline = now - chrono::Duration::seconds(HANDOFF_LIFETIME_SECONDS);
        let Some(row) = sso_flows::Entity::find()
            .filter(sso_flows::Column::HandoffHash.eq(handoff_hash))
            .filter(sso_flows::Column::BrowserHash.eq(browser_hash))
            .filter(sso_flows::Column::Purpose.eq(SsoPurpose::SignIn.as_str()))
            .filter(sso_flows::Column::HandoffUsedAt.is_null())
            .filter(sso_flows::Column::ConsumedAt.gt(handoff_deadline))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let used = sso_flows::Entity::update_many()
            .col_expr(sso_flows::Column::HandoffUsedAt, Expr::value(now))
            .filter(sso_flows::Column::Id.eq(row.id))
            .filter(sso_flows::Column::HandoffUsedAt.is_null())
            .exec(&self.conn)
            .await?;
        let (true, Some(user_id)) = (used.rows_affected == 1, row.handoff_user_id) else {
            return Ok(None);
        };
        let flow = crate::sso::flow(row)?;
        let user = users::Entity::find_by_id(user_id)
            .filter(users::Column::TenantId.eq(flow.tenant_id.as_uuid()))
            .one(&self.conn)
            .await?;
        let tenant = tenants::Entity::find_by_id(flow.tenant_id.as_uuid()).one(&self.conn).await?;
        match (user, tenant) {
            (Some(user), Some(tenant)) => {
                Ok(Some((flow.protocol, Authenticated::new(convert::user(user)?, convert::tenant(tenant)?))))
            }
            _ => Ok(None),
        }
    }

    /// Records a test sign-in that the provider's answer failed: the findings (JSON) under a
    /// new hand-over code, for the admin who started it.
    pub async fn record_sso_test_failure(
        &self,
        tenant: &Tenant,
        flow_id: uuid::Uuid,
        handoff_hash: &str,
        test_result: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let expires_at = now + chrono::Duration::minutes(FLOW_LIFETIME_MINUTES);
        sso_flows::Entity::update_many()
            .col_expr(sso_flows::Column::HandoffHash, Expr::value(handoff_hash))
            .col_expr(sso_flows::Column::TestResult, Expr::value(test_result))
            .col_expr(sso_flows::Column::ExpiresAt, Expr::value(expires_at))
            .filter(sso_flows::Column::Id.eq(flow_id))
            .filter(sso_flows::Column::TenantId.eq(tenant.id.as_uuid()))
            .filter(sso_flows::Column::Purpose.eq(SsoPurpose::Test.as_str()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }
}
