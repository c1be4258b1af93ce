//! Single sign-on storage: a tenant's settings, the sign-ins in progress and the SAML
//! assertions already used. The pieces shared by [`crate::TenantRepo`] (the tenant admin's
//! settings and test sign-ins) and [`crate::AuthenticationRepo`] (the anonymous steps of a
//! sign-in) live here, so both write the same rows the same way.

use chrono::{DateTime, Utc};
use domain::sso::{
    MAX_PENDING_FLOWS_PER_TENANT, NewSsoFlow, RoleRule, SsoConfig, SsoFlow, SsoPolicy, SsoProtocol,
    SsoPurpose,
};
use domain::{Secret, TenantId, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::entities::{sso_configs, sso_flows};
use crate::error::corrupt;
use crate::{StoreError, convert};

/// Why a sign-in could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRefused {
    /// The tenant already has [`MAX_PENDING_FLOWS_PER_TENANT`] sign-ins in progress.
    TooManyPending,
}

/// Stores a new sign-in in progress, after clearing every expired one (of any tenant: the
/// index on `expires_at` keeps that cheap), so the table holds at most ten minutes of
/// sign-ins. Refused when the tenant has too many pending.
pub(crate) async fn insert_flow<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
    flow: &NewSsoFlow,
    now: DateTime<Utc>,
) -> Result<Result<(), FlowRefused>, StoreError> {
    sso_flows::Entity::delete_many().filter(sso_flows::Column::ExpiresAt.lte(now)).exec(conn).await?;
    let pending = sso_flows::Entity::find()
        .filter(sso_flows::Column::TenantId.eq(tenant.as_uuid()))
        .count(conn)
        .await?;
    if pending >= MAX_PENDING_FLOWS_PER_TENANT {
        return Ok(Err(FlowRefused::TooManyPending));
    }
    let row = sso_flows::ActiveModel {
        id: Set(convert::new_id(now)),
        tenant_id: Set(tenant.as_uuid()),
        state_hash: Set(flow.state_hash.clone()),
        browser_hash: Set(flow.browser_hash.clone()),
        purpose: Set(flow.purpose.as_str().to_owned()),
        protocol: Set(flow.protocol.as_str().to_owned()),
        nonce: Set(flow.nonce.clone()),
        pkce_verifier: Set(flow.pkce_verifier.as_ref().map(|v| v.expose().clone())),
        saml_request_id: Set(flow.saml_request_id.clone()),
        started_by: Set(flow.started_by.map(|u| u.as_uuid())),
        created_at: Set(now),
        expires_at: Set(flow.expires_at),
        consumed_at: Set(None),
        handoff_hash: Set(None),
        handoff_user_id: Set(None),
        handoff_used_at: Set(None),
        test_result: Set(None),
    };
    sso_flows::Entity::insert(row).exec_without_returning(conn).await?;
    Ok(Ok(()))
}

/// What a provider's answer finds by its state.
pub(crate) enum Taken {
    Flow(SsoFlow),
    /// The flow was used already: the answer is a replay.
    AlreadyUsed,
    /// No such flow, or it expired.
    Unknown,
}

/// Marks the live, unused flow with this state as used and returns it.
pub(crate) async fn take_flow<C: ConnectionTrait>(
    conn: &C,
    state_hash: &str,
    now: DateTime<Utc>,
) -> Result<Taken, StoreError> {
    let Some(row) = sso_flows::Entity::find()
        .filter(sso_flows::Column::StateHash.eq(state_hash))
        .filter(sso_flows::Column::ExpiresAt.gt(now))
        .one(conn)
        .await?
    else {
        return Ok(Taken::Unknown);
    };
    if row.consumed_at.is_some() {
        return Ok(Taken::AlreadyUsed);
    }
    // Only one of two concurrent answers with the same state wins the update.
    let taken = sso_flows::Entity::update_many()
        .col_expr(sso_flows::Column::ConsumedAt, sea_orm::sea_query::Expr::value(now))
        .filter(sso_flows::Column::Id.eq(row.id))
        .filter(sso_flows::Column::ConsumedAt.is_null())
        .exec(conn)
        .await?;
    if taken.rows_affected != 1 {
        return Ok(Taken::AlreadyUsed);
    }
    flow(row).map(Taken::Flow)
}

pub(crate) fn flow(m: sso_flows::Model) -> Result<SsoFlow, StoreError> {
    Ok(SsoFlow {
        id: m.id,
        tenant_id: TenantId::from_uuid(m.tenant_id),
        browser_hash: m.browser_hash,
        purpose: SsoPurpose::parse(&m.purpose).ok_or_else(|| corrupt("sso_flows.purpose", &m.purpose))?,
        protocol: SsoProtocol::parse(&m.protocol)
            .ok_or_else(|| corrupt("sso_flows.protocol", &m.protocol))?,
        nonce: m.nonce,
        pkce_verifier: m.pkce_verifier.map(Secret::new),
        saml_request_id: m.saml_request_id,
        started_by: m.started_by.map(UserId::from_uuid),
        expires_at: m.expires_at,
    })
}

pub(crate) async fn config<C: ConnectionTrait>(
    conn: &C,
    tenant: TenantId,
) -> Result<Option<SsoConfig>, StoreError> {
    sso_configs::Entity::find_by_id(tenant.as_uuid()).one(conn).await?.map(config_from_row).transpose()
}

fn config_from_row(m: sso_configs::Model) -> Result<SsoConfig, StoreError> {
    let allowed_domains: Vec<String> =
        serde_json::from_str(&m.allowed_domains).map_err(|e| corrupt("sso_configs.allowed_domains", e))?;
    let role_rules: Vec<RoleRule> =
        serde_json::from_str(&m.role_rules).map_err(|e| corrupt("sso_configs.role_rules", e))?;
    Ok(SsoConfig {
        tenant_id: TenantId::from_uuid(m.tenant_id),
        protocol: SsoProtocol::parse(&m.protocol)
            .ok_or_else(|| corrupt("sso_configs.protocol", &m.protocol))?,
        enabled: m.enabled,
        issuer: m.issuer,
        client_id: m.client_id,
        client_secret_sealed: m.client_secret_sealed.map(Secret::new),
        client_secret_hint: m.client_secret_hint,
        saml_metadata_url: m.saml_metadata_url,
        saml_metadata_xml: m.saml_metadata_xml,
        policy: SsoPolicy {
            allowed_domains,
            default_role: m.default_role.parse().map_err(|e| corrupt("sso_configs.default_role", e))?,
            role_claim: m.role_claim,
            role_rules,
            create_users: m.create_users,
            password_sign_in: m.password_sign_in,
        },
        updated_at: m.updated_at,
    })
}

pub(crate) fn config_row(
    c: &SsoConfig,
    created_at: DateTime<Utc>,
) -> Result<sso_configs::ActiveModel, StoreError> {
    Ok(sso_configs::ActiveModel {
        tenant_id: Set(c.tenant_id.as_uuid()),
        protocol: Set(c.protocol.as_str().to_owned()),
        enabled: Set(c.enabled),
        issuer: Set(c.issuer.clone()),
        client_id: Set(c.client_id.clone()),
        client_secret_sealed: Set(c.client_secret_sealed.as_ref().map(|s| s.expose().clone())),
        client_secret_hint: Set(c.client_secret_hint.clone()),
        saml_metadata_url: Set(c.saml_metadata_url.clone()),
        saml_metadata_xml: Set(c.saml_metadata_xml.clone()),
        allowed_domains: Set(to_json(&c.policy.allowed_domains)?),
        default_role: Set(c.policy.default_role.as_str().to_owned()),
        role_claim: Set(c.policy.role_claim.clone()),
        role_rules: Set(to_json(&c.policy.role_rules)?),
        create_users: Set(c.policy.create_users),
        password_sign_in: Set(c.policy.password_sign_in),
        created_at: Set(created_at),
        updated_at: Set(c.updated_at),
    })
}

/// The JSON text of a list column.
fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt("sso_configs", e))
}
