//! One tenant's single sign-on: its settings (managed by its admins), users' links to their
//! provider subject, test sign-ins, and the SAML assertions already used.

use chrono::Duration;
use chrono::{DateTime, Utc};
use domain::UserId;
use domain::sso::{FLOW_LIFETIME_MINUTES, NewSsoFlow, SsoConfig};
use domain::user::{Email, Role, User};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::TenantRepo;
use crate::entities::{sso_assertions, sso_configs, sso_flows, users};
use crate::sso::FlowRefused;
use crate::{StoreError, convert};

impl<C: ConnectionTrait> TenantRepo<C> {
    /// The tenant's own SSO settings (`None`: it has none; the server-wide default may apply).
    pub async fn sso_config(&self) -> Result<Option<SsoConfig>, StoreError> {
        crate::sso::config(&self.conn, self.scope.tenant_id()).await
    }

    /// Stores the tenant's SSO settings, replacing any (the config's `tenant_id` is ignored:
    /// the scope decides).
    pub async fn save_sso_config(&self, config: &SsoConfig, now: DateTime<Utc>) -> Result<(), StoreError> {
        let config = SsoConfig { tenant_id: self.scope.tenant_id(), ..config.clone() };
        let row = crate::sso::config_row(&config, now)?;
        let mut upsert = OnConflict::column(sso_configs::Column::TenantId);
        upsert.update_columns([
            sso_configs::Column::Protocol,
            sso_configs::Column::Enabled,
            sso_configs::Column::Issuer,
            sso_configs::Column::ClientId,
            sso_configs::Column::ClientSecretSealed,
            sso_configs::Column::ClientSecretHint,
            sso_configs::Column::SamlMetadataUrl,
            sso_configs::Column::SamlMetadataXml,
            sso_configs::Column::AllowedDomains,
            sso_configs::Column::DefaultRole,
            sso_configs::Column::RoleClaim,
            sso_configs::Column::RoleRules,
            sso_configs::Column::CreateUsers,
            sso_configs::Column::PasswordSignIn,
            sso_configs::Column::UpdatedAt,
        ]);
        sso_configs::Entity::insert(row).on_conflict(upsert).exec_without_returning(&self.conn).await?;
        Ok(())
    }

    /// Removes the tenant's own SSO settings; returns whether there were any.
    pub async fn delete_sso_config(&self) -> Result<bool, StoreError> {
        Ok(self.scope.delete::<sso_configs::Entity>().exec(&self.conn).await?.rows_affected > 0)
    }

    /// Active admins who can sign in with a password: the tenant's break-glass accounts.
    pub async fn count_break_glass_admins(&self) -> Result<u64, StoreError> {
        Ok(self
            .scope
            .select::<users::Entity>()
            .filter(users::Column::IsActive.eq(true))
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .filter(users::Column::PasswordHash.is_not_null())
            .count(&self.conn)
            .await?)
    }

    /// Whether `user` is the tenant's last break-glass account: password sign-in is closed by the
    /// tenant's enabled SSO settings, and no other active admin holds a password.
    pub async fn is_last_break_glass_admin(&self, user: &User) -> Result<bool, StoreError> {
        if !(user.is_active && user.role == Role::Admin && user.has_password) {
            return Ok(false);
        }
        let closed = self.sso_config().await?.is_some_and(|c| c.enabled && !c.policy.password_sign_in);
        Ok(closed && self.count_break_glass_admins().await? <= 1)
    }

    /// The user linked to this provider subject.
    pub async fn user_by_sso_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        self.scope
            .select::<users::Entity>()
            .filter(users::Column::SsoSubject.eq(subject))
            .one(&self.conn)
            .await?
            .map(convert::user)
            .transpose()
    }

    /// The users a provider identity may be: the one linked to its subject, and (only when none
    /// is) the one with its email.
    pub async fn sso_candidates(
        &self,
        subject: &str,
        email: Option<&Email>,
    ) -> Result<(Option<User>, Option<User>), StoreError> {
        let by_subject = self.user_by_sso_subject(subject).await?;
        let by_email = match (&by_subject, email) {
            (None, Some(email)) => self.user_by_email(email).await?,
            _ => None,
        };
        Ok((by_subject, by_email))
    }

    /// Links a user to their provider subject (once: their email found them the first time).
    /// A subject already linked to another user is [`StoreError::Conflict`].
    pub async fn link_sso_subject(
        &self,
        user_id: UserId,
        subject: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.scope
            .update::<users::Entity>()
            .col_expr(users::Column::SsoSubject, Expr::value(subject))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user_id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Starts a sign-in with the provider from inside the tenant (an admin's test).
    pub async fn begin_sso_flow(
        &self,
        flow: &NewSsoFlow,
        now: DateTime<Utc>,
    ) -> Result<Result<(), FlowRefused>, StoreError> {
        crate::sso::insert_flow(&self.conn, self.scope.tenant_id(), flow, now).await
    }

    /// Records the outcome of a verified provider answer on its flow: the hash of the one-time
    /// code handed to the browser, and the user signed in or the test's findings (JSON). The
    /// flow then lasts another [`FLOW_LIFETIME_MINUTES`], so its code outlives it being swept.
    pub async fn finish_sso_flow(
        &self,
        flow_id: uuid::Uuid,
        handoff_hash: &str,
        user: Option<UserId>,
        test_result: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.scope
            .update::<sso_flows::Entity>()
            .col_expr(
                sso_flows::Column::ExpiresAt,
                Expr::value(now + Duration::minutes(FLOW_LIFETIME_MINUTES)),
            )
            .col_expr(sso_flows::Column::HandoffHash, Expr::value(handoff_hash))
            .col_expr(sso_flows::Column::HandoffUserId, Expr::value(user.map(|u| u.as_uuid())))
            .col_expr(sso_flows::Column::TestResult, Expr::value(test_result))
            .filter(sso_flows::Column::Id.eq(flow_id))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// A test sign-in's findings (JSON), while its flow lasts, for the admin who started it.
    pub async fn sso_test_result(
        &self,
        handoff_hash: &str,
        admin: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .scope
            .select::<sso_flows::Entity>()
            .filter(sso_flows::Column::HandoffHash.eq(handoff_hash))
            .filter(sso_flows::Column::StartedBy.eq(admin.as_uuid()))
            .filter(sso_flows::Column::ExpiresAt.gt(now))
            .one(&self.conn)
            .await?
            .and_then(|row| row.test_result))
    }

    /// Records a SAML assertion as used until it expires; `false` when it was used already (a
    /// replay). Expired records of the tenant are cleared first.
    pub async fn record_sso_assertion(
        &self,
        assertion_id: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.scope
            .delete::<sso_assertions::Entity>()
            .filter(sso_assertions::Column::ExpiresAt.lte(now))
            .exec(&self.conn)
            .await?;
        let row = sso_assertions::ActiveModel {
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            assertion_id: Set(assertion_id.to_owned()),
            expires_at: Set(expires_at),
        };
        // ON CONFLICT DO NOTHING rather than a failed insert: inside a PostgreSQL transaction a
        // unique violation would abort the rest of it.
        let mut once =
            OnConflict::columns([sso_assertions::Column::TenantId, sso_assertions::Column::AssertionId]);
        once.do_nothing();
        let inserted =
            sso_assertions::Entity::insert(row).on_conflict(once).exec_without_returning(&self.conn).await?;
        Ok(inserted == 1)
    }
}
