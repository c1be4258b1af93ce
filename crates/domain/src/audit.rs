//! The audit log's vocabulary. Audit rows are append-only.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::{AuditEventId, TenantId, UserId};

/// What happened. Stored by its `as_str` name, which never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    TenantCreated,
    TenantUpdated,
    TenantDeleted,
    UserCreated,
    UserUpdated,
    UserDeleted,
    PasswordReset,
    LoginSucceeded,
    LoginFailed,
    LoginThrottled,
    Logout,
    PasswordChanged,
    ProfileUpdated,
    ApiTokenCreated,
    ApiTokenRevoked,
    PromptCreated,
    PromptUpdated,
    PromptDeleted,
    PromptRestored,
    PromptsImported,
    PromptEnhanced,
    AiConnectionCreated,
    AiConnectionUpdated,
    AiConnectionDeleted,
    AiPolicyUpdated,
    SsoSettingsUpdated,
    SsoSettingsDeleted,
    SsoTested,
    SsoRoleApplied,
    LabelMoved,
    LabelRemoved,
    ReleasePolicyUpdated,
    ApprovalRequested,
    ApprovalApproved,
    ApprovalDenied,
    ApprovalCancelled,
    WebhookCreated,
    WebhookUpdated,
    WebhookDeleted,
    WebhookSecretRotated,
    WebhookRedelivered,
}

impl AuditAction {
    pub const ALL: &[AuditAction] = &[
        AuditAction::TenantCreated,
        AuditAction::TenantUpdated,
        AuditAction::TenantDeleted,
        AuditAction::UserCreated,
        AuditAction::UserUpdated,
        AuditAction::UserDeleted,
        AuditAction::PasswordReset,
        AuditAction::LoginSucceeded,
        AuditAction::LoginFailed,
        AuditAction::LoginThrottled,
        AuditAction::Logout,
        AuditAction::PasswordChanged,
        AuditAction::ProfileUpdated,
        AuditAction::ApiTokenCreated,
        AuditAction::ApiTokenRevoked,
        AuditAction::PromptCreated,
        AuditAction::PromptUpdated,
        AuditAction::PromptDeleted,
        AuditAction::PromptRestored,
        AuditAction::PromptsImported,
        AuditAction::PromptEnhanced,
        AuditAction::AiConnectionCreated,
        AuditAction::AiConnectionUpdated,
        AuditAction::AiConnectionDeleted,
        AuditAction::AiPolicyUpdated,
        AuditAction::SsoSettingsUpdated,
        AuditAction::SsoSettingsDeleted,
        AuditAction::SsoTested,
        AuditAction::SsoRoleApplied,
        AuditAction::LabelMoved,
        AuditAction::LabelRemoved,
        AuditAction::ReleasePolicyUpdated,
        AuditAction::ApprovalRequested,
        AuditAction::ApprovalApproved,
        AuditAction::ApprovalDenied,
        AuditAction::ApprovalCancelled,
        AuditAction::WebhookCreated,
        AuditAction::WebhookUpdated,
        AuditAction::WebhookDeleted,
        AuditAction::WebhookSecretRotated,
        AuditAction::WebhookRedelivered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::TenantCreated => "tenant.created",
            AuditAction::TenantUpdated => "tenant.updated",
            AuditAction::TenantDeleted => "tenant.deleted",
            AuditAction::UserCreated => "user.created",
            AuditAction::UserUpdated => "user.updated",
            AuditAction::UserDeleted => "user.deleted",
            AuditAction::PasswordReset => "user.password_reset",
            AuditAction::LoginSucceeded => "auth.login_succeeded",
            AuditAction::LoginFailed => "auth.login_failed",
            AuditAction::LoginThrottled => "auth.login_throttled",
            AuditAction::Logout => "auth.logout",
            AuditAction::PasswordChanged => "auth.password_changed",
            AuditAction::ProfileUpdated => "auth.profile_updated",
            AuditAction::ApiTokenCreated => "api_token.created",
            AuditAction::ApiTokenRevoked => "api_token.revoked",
            AuditAction::PromptCreated => "prompt.created",
            AuditAction::PromptUpdated => "prompt.updated",
            AuditAction::PromptDeleted => "prompt.deleted",
            AuditAction::PromptRestored => "prompt.restored",
            AuditAction::PromptsImported => "prompts.imported",
            AuditAction::PromptEnhanced => "prompt.enhanced",
            AuditAction::AiConnectionCreated => "ai_connection.created",
            AuditAction::AiConnectionUpdated => "ai_connection.updated",
            AuditAction::AiConnectionDeleted => "ai_connection.deleted",
            AuditAction::AiPolicyUpdated => "ai_policy.updated",
            AuditAction::SsoSettingsUpdated => "sso.settings_updated",
            AuditAction::SsoSettingsDeleted => "sso.settings_deleted",
            AuditAction::SsoTested => "sso.tested",
            // The identity provider's role mapping changed a user's role at sign-in.
            AuditAction::SsoRoleApplied => "sso.role_applied",
            // A release label was set, moved or rolled back; details say from, to and why.
            AuditAction::LabelMoved => "label.moved",
            AuditAction::LabelRemoved => "label.removed",
            // Which labels are protected, and whether moving them needs approval.
            AuditAction::ReleasePolicyUpdated => "release_policy.updated",
            // A move of a protected label asked for; another person approves or denies it.
            AuditAction::ApprovalRequested => "approval.requested",
            AuditAction::ApprovalApproved => "approval.approved",
            AuditAction::ApprovalDenied => "approval.denied",
            AuditAction::ApprovalCancelled => "approval.cancelled",
            AuditAction::WebhookCreated => "webhook.created",
            AuditAction::WebhookUpdated => "webhook.updated",
            AuditAction::WebhookDeleted => "webhook.deleted",
            AuditAction::WebhookSecretRotated => "webhook.secret_rotated",
            AuditAction::WebhookRedelivered => "webhook.redelivered",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAuditAction(pub String);

impl FromStr for AuditAction {
    type Err = UnknownAuditAction;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s).ok_or_else(|| UnknownAuditAction(s.to_owned()))
    }
}

/// Who acted: a user, or the system itself (start-up seeding, the admin CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    System,
}

impl Actor {
    /// The acting user; `None` when the system acted.
    pub fn user_id(self) -> Option<UserId> {
        match self {
            Actor::User(id) => Some(id),
            Actor::System => None,
        }
    }
}

/// A new audit row. `details` holds before/after values and never secrets.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub actor: Actor,
    pub action: AuditAction,
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
    pub client_addr: Option<String>,
    pub at: DateTime<Utc>,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub tenant_id: Option<TenantId>,
    pub actor: Actor,
    pub action: AuditAction,
    pub target_type: String,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
    pub client_addr: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            assert!(seen.insert(action.as_str()), "duplicate name {action}");
            assert_eq!(action.as_str().parse::<AuditAction>().unwrap(), *action);
        }
        assert!("tenant.exploded".parse::<AuditAction>().is_err());
    }
}
