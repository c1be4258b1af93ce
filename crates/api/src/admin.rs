//! Administration operations, shared by the HTTP handlers and the `prompt-manager` command
//! line: validation, limits, last-admin protection, session revocation and audit all happen here,
//! once.

use chrono::{DateTime, Utc};
use domain::UserId;
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::tenant::{DEFAULT_MAX_USERS, MAX_QUOTA, NewTenant, Subdomain, Tenant, TenantName, TenantQuota};
use domain::user::{Email, NewUser, Role, User, check_new_password, normalize_name};
use domain::wire::{
    CreateTenantRequest, CreateUserRequest, ErrorCode, FieldError, UpdateTenantRequest, UpdateUserRequest,
};
use persistence::{Database, StoreError, SystemAccess, TenantScope};
use serde_json::json;

use crate::error::ApiError;
use crate::state::Passwords;

const MAX_USERS_LIMIT: u32 = 1_000_000;

/// A tenant an operation acts in, with the scope to act there: the caller's own, or (for
/// holders of [`SystemAccess`]) any.
#[derive(Debug, Clone)]
pub struct TenantTarget {
    pub tenant: Tenant,
    pub scope: TenantScope,
}

/// Who performs an operation, for the audit log.
#[derive(Debug, Clone)]
pub struct Acting {
    pub actor: Actor,
    pub client_addr: Option<String>,
    pub at: DateTime<Utc>,
}

impl Acting {
    pub fn event(
        &self,
        action: AuditAction,
        target_type: &'static str,
        target: String,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            actor: self.actor,
            action,
            target_type,
            target_id: Some(target),
            details,
            client_addr: self.client_addr.clone(),
            at: self.at,
        }
    }
}

pub async fn create_tenant(
    db: &Database,
    access: SystemAccess,
    request: CreateTenantRequest,
    acting: &Acting,
) -> Result<Tenant, ApiError> {
    let mut errors = Vec::new();
    let name = TenantName::parse(&request.name)
        .map_err(|e| errors.push(FieldError::new("name", e.to_string())))
        .ok();
    let subdomain = Subdomain::parse(request.subdomain.trim())
        .map_err(|e| errors.push(FieldError::new("subdomain", e.to_string())))
        .ok();
    let max_users = request.max_users.unwrap_or(DEFAULT_MAX_USERS);
    if !(1..=MAX_USERS_LIMIT).contains(&max_users) {
        errors.push(FieldError::new("max_users", format!("must be 1 to {MAX_USERS_LIMIT}")));
    }
    let (Some(name), Some(subdomain), true) = (name, subdomain, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let tx = db.begin().await?;
    let system = tx.system(access).await?;
    let tenant = match system.create_tenant(NewTenant { name, subdomain, max_users }, acting.at).await {
        Err(StoreError::Conflict) => {
            return Err(ApiError::conflict(FieldError::new("subdomain", "is already taken")));
        }
        other => other?,
    };
    let details = json!({ "name": tenant.name.as_str(), "subdomain": tenant.subdomain.as_str(), "max_users": max_users });
    let event = acting.event(AuditAction::TenantCreated, "tenant", tenant.id.to_string(), details);
    system.record_audit(Some(tenant.id), event).await?;
    tx.commit().await?;
    Ok(tenant)
}

pub async fn update_tenant(
    db: &Database,
    access: SystemAccess,
    tenant: &Tenant,
    request: UpdateTenantRequest,
    acting: &Acting,
) -> Result<Tenant, ApiError> {
    let mut errors = Vec::new();
    let name = match request.name.as_deref().map(TenantName::parse) {
        Some(Err(e)) => {
            errors.push(FieldError::new("name", e.to_string()));
            None
        }
        Some(Ok(name)) => Some(name),
        None => None,
    };
    if request.max_users.is_some_and(|m| !(1..=MAX_USERS_LIMIT).contains(&m)) {
        errors.push(FieldError::new("max_users", format!("must be 1 to {MAX_USERS_LIMIT}")));
    }
    if request.max_prompts.is_some_and(|m| !(1..=MAX_QUOTA.max_prompts).contains(&m)) {
        errors.push(FieldError::new("max_prompts", format!("must be 1 to {}", MAX_QUOTA.max_prompts)));
    }
    if request.max_stored_bytes.is_some_and(|m| !(1024..=MAX_QUOTA.max_stored_bytes).contains(&m)) {
        errors.push(FieldError::new(
            "max_stored_bytes",
            format!("must be 1024 to {}", MAX_QUOTA.max_stored_bytes),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let quota = (request.max_prompts.is_some() || request.max_stored_bytes.is_some()).then(|| TenantQuota {
        max_prompts: request.max_prompts.unwrap_or(tenant.quota.max_prompts),
        max_stored_bytes: request.max_stored_bytes.unwrap_or(tenant.quota.max_stored_bytes),
    });
    if request.is_active == Some(false) && tenant.subdomain.is_system() {
        return Err(ApiError::new(ErrorCode::SystemTenant, "The system tenant cannot be deactivated."));
    }
    let tx = db.begin().await?;
    let system = tx.system(access).await?;
    let updated = system
        .update_tenant(tenant.id, name, request.max_users, quota, request.is_active, acting.at)
        .await?
        .ok_or_else(|| ApiError::not_found("No such tenant."))?;
    if tenant.is_active && !updated.is_active {
        tx.tenant(system.scope(&updated)).await?.revoke_all_sessions(acting.at).await?;
    }
    let (before, after) = changes(&[
        ("name", json!(tenant.name.as_str()), json!(updated.name.as_str())),
        ("max_users", json!(tenant.max_users), json!(updated.max_users)),
        ("max_prompts", json!(tenant.quota.max_prompts), json!(updated.quota.max_prompts)),
        ("max_stored_bytes", json!(tenant.quota.max_stored_bytes), json!(updated.quota.max_stored_bytes)),
        ("is_active", json!(tenant.is_active), json!(updated.is_active)),
    ]);
    if !after.is_empty() {
        let event = acting.event(
            AuditAction::TenantUpdated,
            "tenant",
            tenant.id.to_string(),
            json!({ "before": before, "after": after }),
        );
        system.record_audit(Some(tenant.id), event).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// Deletes an empty tenant, or a non-empty one when `confirm` repeats its subdomain.
pub async fn delete_tenant(
    db: &Database,
    access: SystemAccess,
    tenant: &Tenant,
    confirm: Option<&str>,
    acting: &Acting,
) -> Result<(), ApiError> {
    if tenant.subdomain.is_system() {
        return Err(ApiError::new(ErrorCode::SystemTenant, "The system tenant cannot be deleted."));
    }
    let tx = db.begin().await?;
    let system = tx.system(access).await?;
    let (users, prompts) = system.tenant_contents(tenant.id).await?;
    if (users > 0 || prompts > 0) && confirm != Some(tenant.subdomain.as_str()) {
        return Err(ApiError::new(
            ErrorCode::TenantNotEmpty,
            format!(
                "The tenant has {users} users and {prompts} prompts. Pass confirm={} to delete them with it.",
                tenant.subdomain.as_str()
            ),
        ));
    }
    system.delete_tenant(tenant.id).await?;
    let details =
        json!({ "subdomain": tenant.subdomain.as_str(), "users_removed": users, "prompts_removed": prompts });
    let event = acting.event(AuditAction::TenantDeleted, "tenant", tenant.id.to_string(), details);
    system.record_audit(Some(tenant.id), event).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_user(
    db: &Database,
    passwords: &Passwords,
    target: &TenantTarget,
    request: CreateUserRequest,
    acting: &Acting,
) -> Result<User, ApiError> {
    let mut errors = Vec::new();
    let email =
        Email::parse(&request.email).map_err(|e| errors.push(FieldError::new("email", e.to_string()))).ok();
    let mut name =
        |field: &str, raw: &str| normalize_name(raw).map_err(|m| errors.push(FieldError::new(field, m))).ok();
    let first_name = name("first_name", &request.first_name);
    let last_name = name("last_name", &request.last_name);
    if let (Some(email), Some(password)) = (&email, &request.password)
        && let Err(reason) = check_new_password(password, email)
    {
        errors.push(FieldError::new("password", reason));
    }
    let (Some(email), Some(first_name), Some(last_name), true) =
        (email, first_name, last_name, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };
    let password_hash = match request.password {
        Some(password) => Some(
            passwords.run(move |hasher| hasher.hash(&password)).await?.map_err(|e| ApiError::internal(&e))?,
        ),
        None => None,
    };

    let tx = db.begin().await?;
    let repo = tx.tenant(target.scope).await?;
    repo.lock_membership().await?;
    let tenant = &repo.tenant().await?.ok_or_else(no_tenant)?;
    if repo.count_active_users().await? >= u64::from(tenant.max_users) {
        return Err(user_limit(tenant));
    }
    let new = NewUser { email, first_name, last_name, role: request.role, password_hash };
    let user = match repo.create_user(new, acting.at).await {
        Err(StoreError::Conflict) => {
            return Err(ApiError::conflict(FieldError::new("email", "is already used in this tenant")));
        }
        other => other?,
    };
    let details = json!({ "email": user.email.as_str(), "role": user.role, "sso_only": !user.has_password });
    repo.record_audit(acting.event(AuditAction::UserCreated, "user", user.id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn update_user(
    db: &Database,
    target: &TenantTarget,
    user: &User,
    request: UpdateUserRequest,
    acting: &Acting,
) -> Result<User, ApiError> {
    let mut errors = Vec::new();
    let mut name = |field: &str, raw: Option<String>| {
        raw.and_then(|raw| normalize_name(&raw).map_err(|m| errors.push(FieldError::new(field, m))).ok())
    };
    let first_name = name("first_name", request.first_name);
    let last_name = name("last_name", request.last_name);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let role = request.role.unwrap_or(user.role);
    let active = request.is_active.unwrap_or(user.is_active);

    let tx = db.begin().await?;
    let repo = tx.tenant(target.scope).await?;
    repo.lock_membership().await?;
    // Read again under the lock: a concurrent change may have come first.
    let tenant = &repo.tenant().await?.ok_or_else(no_tenant)?;
    let user = &repo.user_by_id(user.id).await?.ok_or_else(|| ApiError::not_found("No such user."))?;
    let loses_admin = user.is_active && user.role == Role::Admin && (role != Role::Admin || !active);
    if loses_admin && repo.count_active_admins().await? <= 1 {
        return Err(last_admin(tenant));
    }
    if loses_admin && repo.is_last_break_glass_admin(user).await? {
        return Err(last_break_glass());
    }
    if !user.is_active && active && repo.count_active_users().await? >= u64::from(tenant.max_users) {
        return Err(user_limit(tenant));
    }
    repo.update_names(user.id, first_name, last_name, acting.at).await?;
    if role != user.role {
        repo.set_role(user.id, role, acting.at).await?;
    }
    if active != user.is_active {
        repo.set_user_active(user.id, active, acting.at).await?;
    }
    if role != user.role || !active {
        repo.revoke_user_sessions(user.id, None, acting.at).await?;
    }
    let updated = repo.user_by_id(user.id).await?.ok_or_else(|| ApiError::not_found("No such user."))?;
    let (before, after) = changes(&[
        ("first_name", json!(user.first_name), json!(updated.first_name)),
        ("last_name", json!(user.last_name), json!(updated.last_name)),
        ("role", json!(user.role), json!(updated.role)),
        ("is_active", json!(user.is_active), json!(updated.is_active)),
    ]);
    if !after.is_empty() {
        let details = json!({ "email": user.email.as_str(), "before": before, "after": after });
        repo.record_audit(acting.event(AuditAction::UserUpdated, "user", user.id.to_string(), details))
            .await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// Sets a new password chosen by an administrator and ends the user's sessions.
pub async fn reset_password(
    db: &Database,
    passwords: &Passwords,
    target: &TenantTarget,
    user: &User,
    new_password: String,
    acting: &Acting,
) -> Result<(), ApiError> {
    if let Err(reason) = check_new_password(&new_password, &user.email) {
        return Err(ApiError::validation(vec![FieldError::new("new_password", reason)]));
    }
    let hash =
        passwords.run(move |hasher| hasher.hash(&new_password)).await?.map_err(|e| ApiError::internal(&e))?;
    let tx = db.begin().await?;
    let repo = tx.tenant(target.scope).await?;
    repo.set_password_hash(user.id, hash, acting.at).await?;
    let ended = repo.revoke_user_sessions(user.id, None, acting.at).await?;
    let details = json!({ "email": user.email.as_str(), "sessions_ended": ended });
    repo.record_audit(acting.event(AuditAction::PasswordReset, "user", user.id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a user; their prompts go to `transfer_to` or stay without an owner.
pub async fn delete_user(
    db: &Database,
    target: &TenantTarget,
    user: &User,
    transfer_to: Option<UserId>,
    acting: &Acting,
) -> Result<(), ApiError> {
    let tx = db.begin().await?;
    let repo = tx.tenant(target.scope).await?;
    repo.lock_membership().await?;
    let user = &repo.user_by_id(user.id).await?.ok_or_else(|| ApiError::not_found("No such user."))?;
    if user.is_active && user.role == Role::Admin && repo.count_active_admins().await? <= 1 {
        return Err(last_admin(&target.tenant));
    }
    if repo.is_last_break_glass_admin(user).await? {
        return Err(last_break_glass());
    }
    if let Some(heir) = transfer_to {
        let heir_exists = heir != user.id && repo.user_by_id(heir).await?.is_some();
        if !heir_exists {
            return Err(ApiError::validation(vec![FieldError::new(
                "transfer_to",
                "must be another user of the same tenant",
            )]));
        }
    }
    repo.delete_user(user.id, transfer_to).await?;
    let details = json!({ "email": user.email.as_str(), "prompts_transferred_to": transfer_to });
    repo.record_audit(acting.event(AuditAction::UserDeleted, "user", user.id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(())
}

fn user_limit(tenant: &Tenant) -> ApiError {
    ApiError::new(
        ErrorCode::UserLimitReached,
        format!("The tenant already has its maximum of {} active users.", tenant.max_users),
    )
}

fn last_break_glass() -> ApiError {
    ApiError::new(
        ErrorCode::BreakGlassRequired,
        "This is the last admin who can sign in with a password while single sign-on is required; \
         give another admin a password, or reopen password sign-in, first.",
    )
}

fn last_admin(tenant: &Tenant) -> ApiError {
    let what = if tenant.subdomain.is_system() {
        "the last system administrator"
    } else {
        "the tenant's last active admin"
    };
    ApiError::new(ErrorCode::LastAdmin, format!("This is {what}; promote another admin first."))
}

/// The fields that changed, as `before` and `after` objects.
fn changes(
    fields: &[(&str, serde_json::Value, serde_json::Value)],
) -> (serde_json::Map<String, serde_json::Value>, serde_json::Map<String, serde_json::Value>) {
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    for (name, old, new) in fields {
        if old != new {
            before.insert((*name).to_owned(), old.clone());
            after.insert((*name).to_owned(), new.clone());
        }
    }
    (before, after)
}

/// The tenant is gone (deleted while the request ran).
fn no_tenant() -> ApiError {
    ApiError::not_found("No such tenant.")
}
