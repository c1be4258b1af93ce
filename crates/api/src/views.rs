//! Domain values as the API shows them.

use domain::audit::AuditEvent;
use domain::session::ApiToken;
use domain::tenant::Tenant;
use domain::user::{Role, User};
use domain::wire::{ApiTokenView, AuditEventView, TenantView, UserView};

pub fn user(user: &User, tenant: &Tenant) -> UserView {
    UserView {
        id: user.id,
        tenant_id: user.tenant_id,
        email: user.email.as_str().to_owned(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        role: user.role,
        is_active: user.is_active,
        is_system_admin: tenant.subdomain.is_system() && user.role == Role::Admin,
        last_login_at: user.last_login_at,
        created_at: user.created_at,
    }
}

pub fn tenant(tenant: &Tenant) -> TenantView {
    TenantView {
        id: tenant.id,
        name: tenant.name.as_str().to_owned(),
        subdomain: tenant.subdomain.as_str().to_owned(),
        max_users: tenant.max_users,
        max_prompts: tenant.quota.max_prompts,
        max_stored_bytes: tenant.quota.max_stored_bytes,
        prompt_count: tenant.usage.prompts,
        stored_bytes: tenant.usage.stored_bytes,
        is_active: tenant.is_active,
        created_at: tenant.created_at,
    }
}

pub fn api_token(token: &ApiToken) -> ApiTokenView {
    ApiTokenView {
        id: token.id,
        name: token.name.clone(),
        prefix: token.prefix.clone(),
        scope: token.scope,
        created_at: token.created_at,
        expires_at: token.expires_at,
        last_used_at: token.last_used_at,
    }
}

pub fn audit_event(event: AuditEvent) -> AuditEventView {
    AuditEventView {
        id: event.id,
        tenant_id: event.tenant_id,
        actor_user_id: event.actor.user_id(),
        action: event.action.as_str().to_owned(),
        target_type: event.target_type,
        target_id: event.target_id,
        details: event.details,
        client_addr: event.client_addr,
        created_at: event.created_at,
    }
}
