//! Entity ⇄ domain conversions. A row that breaks a domain rule is reported as corrupt rather
//! than passed on.

use chrono::{DateTime, Utc};
use domain::audit::{Actor, AuditEvent, NewAuditEvent};
use domain::bundle::{Bundle, PromptKind};
use domain::prompt::{Prompt, PromptName, PromptVersion};
use domain::session::{ApiToken, Session};
use domain::sso::SsoProtocol;
use domain::template::TemplateFormat;
use domain::tenant::{Subdomain, Tenant, TenantName, TenantQuota, TenantUsage};
use domain::user::{Email, User};
use domain::{ApiTokenId, AuditEventId, PromptId, SessionId, TenantId, UserId};
use sea_orm::ActiveValue::Set;

use crate::StoreError;
use crate::entities::{api_tokens, audit_events, prompt_versions, prompts, sessions, tenants, users};
use crate::error::corrupt;

/// Keeps ids minted in the same millisecond in creation order (a counter in the v7 layout).
static ID_CONTEXT: std::sync::Mutex<uuid::ContextV7> = std::sync::Mutex::new(uuid::ContextV7::new());

/// A new time-ordered (v7) id whose timestamp is `now`, so ids sort like creation times and
/// keyset pages by id list items in creation order.
pub(crate) fn new_id(now: DateTime<Utc>) -> uuid::Uuid {
    let secs = u64::try_from(now.timestamp()).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(&ID_CONTEXT, secs, now.timestamp_subsec_nanos()))
}

pub(crate) fn tenant(m: tenants::Model) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId::from_uuid(m.id),
        name: TenantName::parse(&m.name).map_err(|e| corrupt("tenants.name", e))?,
        subdomain: Subdomain::parse(&m.subdomain).map_err(|e| corrupt("tenants.subdomain", e))?,
        max_users: u32::try_from(m.max_users).map_err(|e| corrupt("tenants.max_users", e))?,
        quota: TenantQuota {
            max_prompts: u64::try_from(m.max_prompts).map_err(|e| corrupt("tenants.max_prompts", e))?,
            max_stored_bytes: u64::try_from(m.max_stored_bytes)
                .map_err(|e| corrupt("tenants.max_stored_bytes", e))?,
        },
        // Totals never go below zero; a negative one would be a bookkeeping bug, shown as 0.
        usage: TenantUsage {
            prompts: u64::try_from(m.prompt_count).unwrap_or(0),
            stored_bytes: u64::try_from(m.stored_bytes).unwrap_or(0),
        },
        is_active: m.is_active,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub(crate) fn user(m: users::Model) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(m.id),
        tenant_id: TenantId::from_uuid(m.tenant_id),
        email: Email::parse(&m.email).map_err(|e| corrupt("users.email", e))?,
        first_name: m.first_name,
        last_name: m.last_name,
        role: m.role.parse().map_err(|e| corrupt("users.role", e))?,
        is_active: m.is_active,
        has_password: m.password_hash.is_some(),
        sso_subject: m.sso_subject,
        last_login_at: m.last_login_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub(crate) fn session(m: sessions::Model) -> Session {
    Session {
        id: SessionId::from_uuid(m.id),
        tenant_id: TenantId::from_uuid(m.tenant_id),
        user_id: UserId::from_uuid(m.user_id),
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
        chain_started_at: m.chain_started_at.unwrap_or(m.created_at),
        sso_protocol: m.sso_protocol.as_deref().and_then(SsoProtocol::parse),
    }
}

pub(crate) fn api_token(m: api_tokens::Model) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(m.id),
        tenant_id: TenantId::from_uuid(m.tenant_id),
        user_id: UserId::from_uuid(m.user_id),
        name: m.name,
        prefix: m.prefix,
        scope: m.scope.parse().map_err(|e| corrupt("api_tokens.scope", e))?,
        created_at: m.created_at,
        expires_at: m.expires_at,
        last_used_at: m.last_used_at,
        revoked_at: m.revoked_at,
    })
}

pub(crate) fn new_audit_row(tenant_id: Option<TenantId>, event: NewAuditEvent) -> audit_events::ActiveModel {
    audit_events::ActiveModel {
        id: Set(new_id(event.at)),
        tenant_id: Set(tenant_id.map(|t| t.as_uuid())),
        actor_user_id: Set(event.actor.user_id().map(|id| id.as_uuid())),
        action: Set(event.action.as_str().to_owned()),
        target_type: Set(event.target_type.to_owned()),
        target_id: Set(event.target_id),
        details: Set(event.details.to_string()),
        client_addr: Set(event.client_addr),
        created_at: Set(event.at),
    }
}

pub(crate) fn audit_event(m: audit_events::Model) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(m.id),
        tenant_id: m.tenant_id.map(TenantId::from_uuid),
        actor: m.actor_user_id.map_or(Actor::System, |id| Actor::User(UserId::from_uuid(id))),
        action: m.action.parse().map_err(|e| corrupt("audit_events.action", e))?,
        target_type: m.target_type,
        target_id: m.target_id,
        details: serde_json::from_str(&m.details).map_err(|e| corrupt("audit_events.details", e))?,
        client_addr: m.client_addr,
        created_at: m.created_at,
    })
}

/// A prompt's or version's stored bundle columns, as one value.
pub(crate) struct BundleColumns {
    pub kind: String,
    pub template_format: String,
    pub messages: Option<String>,
    pub settings: Option<String>,
    pub contract: Option<String>,
}

impl BundleColumns {
    pub fn of(bundle: &Bundle) -> Self {
        let json = |value: serde_json::Value| value.to_string();
        Self {
            kind: bundle.kind.as_str().to_owned(),
            template_format: bundle.format.as_str().to_owned(),
            messages: (bundle.kind == PromptKind::Chat).then(|| json(serde_json::json!(bundle.messages))),
            settings: (!bundle.settings.is_empty()).then(|| json(serde_json::json!(bundle.settings))),
            contract: Some(json(serde_json::json!(bundle.contract))),
        }
    }

    /// Bytes these columns add to a row.
    pub fn len(&self) -> usize {
        [&self.messages, &self.settings, &self.contract]
            .iter()
            .map(|c| c.as_ref().map_or(0, String::len))
            .sum()
    }

    /// `names` are the columns' qualified names, for errors: kind, template format, messages,
    /// settings, contract.
    fn bundle(self, names: [&'static str; 5], content: &str) -> Result<Bundle, StoreError> {
        let [kind_column, format_column, messages_column, settings_column, contract_column] = names;
        let kind = PromptKind::parse(&self.kind).ok_or_else(|| corrupt(kind_column, &self.kind))?;
        let format = TemplateFormat::parse(&self.template_format)
            .ok_or_else(|| corrupt(format_column, &self.template_format))?;
        let Some(contract) = self.contract else {
            // Saved before contracts existed, so a basic text prompt.
            return Ok(Bundle::basic_text(content));
        };
        Ok(Bundle {
            kind,
            format,
            messages: self
                .messages
                .map(|m| serde_json::from_str(&m))
                .transpose()
                .map_err(|e| corrupt(messages_column, e))?
                .unwrap_or_default(),
            settings: self
                .settings
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(|e| corrupt(settings_column, e))?
                .unwrap_or_default(),
            contract: serde_json::from_str(&contract).map_err(|e| corrupt(contract_column, e))?,
        })
    }
}

pub(crate) fn prompt(m: prompts::Model) -> Result<Prompt, StoreError> {
    let columns = BundleColumns {
        kind: m.kind,
        template_format: m.template_format,
        messages: m.messages,
        settings: m.settings,
        contract: m.contract,
    };
    let bundle = columns.bundle(
        [
            "prompts.kind",
            "prompts.template_format",
            "prompts.messages",
            "prompts.settings",
            "prompts.contract",
        ],
        &m.content,
    )?;
    Ok(Prompt {
        bundle,
        id: PromptId::from_uuid(m.id),
        tenant_id: TenantId::from_uuid(m.tenant_id),
        owner: m.user_id.map(UserId::from_uuid),
        name: PromptName::parse(&m.name).map_err(|e| corrupt("prompts.name", e))?,
        title: m.title,
        content: m.content,
        category: m.category,
        tags: serde_json::from_str(&m.tags).map_err(|e| corrupt("prompts.tags", e))?,
        is_enhancement_prompt: m.is_enhancement_prompt,
        visibility: m.visibility.parse().map_err(|e| corrupt("prompts.visibility", e))?,
        version: u32::try_from(m.version).map_err(|e| corrupt("prompts.version", e))?,
        updated_by: m.updated_by.map(UserId::from_uuid),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

pub(crate) fn prompt_version(m: prompt_versions::Model) -> Result<PromptVersion, StoreError> {
    let columns = BundleColumns {
        kind: m.kind,
        template_format: m.template_format,
        messages: m.messages,
        settings: m.settings,
        contract: m.contract,
    };
    let bundle = columns.bundle(
        [
            "prompt_versions.kind",
            "prompt_versions.template_format",
            "prompt_versions.messages",
            "prompt_versions.settings",
            "prompt_versions.contract",
        ],
        &m.content,
    )?;
    Ok(PromptVersion {
        bundle,
        prompt_id: PromptId::from_uuid(m.prompt_id),
        version: u32::try_from(m.version).map_err(|e| corrupt("prompt_versions.version", e))?,
        name: m.name,
        title: m.title,
        content: m.content,
        category: m.category,
        tags: serde_json::from_str(&m.tags).map_err(|e| corrupt("prompt_versions.tags", e))?,
        author: m.author_id.map(UserId::from_uuid),
        commit_message: m.commit_message,
        restored_from: m
            .restored_from
            .map(u32::try_from)
            .transpose()
            .map_err(|e| corrupt("prompt_versions.restored_from", e))?,
        created_at: m.created_at,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn new_ids_are_v7_and_time_ordered() {
        let earlier = new_id(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let later = new_id(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap());
        assert!(earlier < later);
        assert_eq!(earlier.get_version_num(), 7);
    }
}
