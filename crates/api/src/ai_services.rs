//! AI service operations shared by every door (REST now; MCP, the CLI and single-user mode
//! later): connections and their sealed keys, the caller's and the tenant's settings, which
//! connection a call uses, the per-user run limit, and how provider failures read.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use ai::{AiClient, AiError, AiErrorKind, Endpoint};
use auth::sealing::Sealer;
use chrono::Utc;
use domain::ai::{
    self as rules, Connection, ConnectionSettings, DEFAULT_TIMEOUT_SECONDS, GenerationOptions, KeyChange,
};
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::user::Role;
use domain::wire::{
    AiPolicy, AiSettingsView, ConnectionRef, ConnectionRequest, ConnectionScope, ConnectionView, ErrorCode,
    FieldError, UpdateAiSettingsRequest,
};
use domain::{ConnectionId, Secret, UserId};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use outbound::ErrorKind as Net;
use persistence::StoreError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::access::Principal;
use crate::admin::Acting;
use crate::config::AiSettings;
use crate::error::ApiError;
use crate::state::AppState;

/// Connections one user (or the tenant) may keep.
pub const MAX_CONNECTIONS_PER_OWNER: u64 = 50;
/// The longest a run's output may be kept.
pub const MAX_RETENTION_DAYS: u32 = 3_650;
/// `config` keys of a user's choices.
const EXECUTION_KEY: &str = "ai.execution_connection";
const ENHANCEMENT_KEY: &str = "ai.enhancement_connection";

/// What calls to AI services need: the client, the key sealer, the per-user run limit and the
/// cap on calls in flight.
pub struct AiRuntime {
    pub client: AiClient,
    pub sealer: Sealer,
    limiter: DefaultKeyedRateLimiter<UserId>,
    in_flight: Arc<Semaphore>,
}

impl AiRuntime {
    pub fn new(client: AiClient, sealer: Sealer, settings: &AiSettings) -> Self {
        let per_minute = NonZeroU32::new(settings.runs_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            client,
            sealer,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            in_flight: Arc::new(Semaphore::new(settings.max_concurrent_calls)),
        }
    }

    /// Drops the allowances of users whose allowance is full again (they are as good as new).
    pub fn forget_idle_users(&self) {
        self.limiter.retain_recent();
    }

    /// Takes `calls` of `user`'s allowance (a comparison costs one per target) and a place
    /// among the calls in flight; 429 with `Retry-After`, or 503 when the server is saturated.
    pub fn admit(&self, user: UserId, calls: u32) -> Result<Vec<OwnedSemaphorePermit>, ApiError> {
        let n = NonZeroU32::new(calls).unwrap_or(NonZeroU32::MIN);
        match self.limiter.check_key_n(&user, n) {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                return Err(ApiError::rate_limited(
                    "You have started too many AI runs; wait a moment.",
                    wait.max(Duration::from_secs(1)),
                ));
            }
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    "More calls than your per-minute allowance.",
                ));
            }
        }
        (0..calls)
            .map(|_| {
                Arc::clone(&self.in_flight).try_acquire_owned().map_err(|_| {
                    ApiError::new(
                        ErrorCode::ServiceUnavailable,
                        "The server is busy with AI calls; try again shortly.",
                    )
                })
            })
            .collect()
    }
}

/// The sealing context of a tenant's keys: a sealed key moved to another tenant does not open.
fn key_context(principal: &Principal) -> String {
    format!("ai_connection:{}", principal.tenant.id)
}

pub fn connection_ref(connection: &Connection, model: &str) -> ConnectionRef {
    ConnectionRef {
        id: connection.id,
        name: connection.settings.name.clone(),
        provider: connection.settings.provider,
        model: model.to_owned(),
    }
}

pub fn view(connection: &Connection) -> ConnectionView {
    let s = &connection.settings;
    ConnectionView {
        id: connection.id,
        name: s.name.clone(),
        scope: if connection.owner.is_some() { ConnectionScope::Personal } else { ConnectionScope::Tenant },
        provider: s.provider,
        base_url: s.base_url.clone(),
        model: s.model.clone(),
        api_key: connection.api_key_hint.clone(),
        temperature: s.options.temperature,
        max_tokens: s.options.max_tokens,
        timeout_seconds: s.timeout_seconds,
        created_at: connection.created_at,
        updated_at: connection.updated_at,
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("No such AI connection.")
}

/// Checks a connection request; every bad field is reported at once.
fn parse(request: &ConnectionRequest, errors: &mut Vec<FieldError>) -> ConnectionSettings {
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > rules::MAX_CONNECTION_NAME {
        errors
            .push(FieldError::new("name", format!("must be 1 to {} characters", rules::MAX_CONNECTION_NAME)));
    }
    let base_url = match request.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
        None => request.provider.default_base_url().to_owned(),
        Some(raw) => rules::parse_base_url(raw).unwrap_or_else(|reason| {
            errors.push(FieldError::new("base_url", reason));
            String::new()
        }),
    };
    let model = request.model.trim().to_owned();
    if model.is_empty() || model.chars().count() > rules::MAX_MODEL_NAME {
        errors.push(FieldError::new("model", format!("must be 1 to {} characters", rules::MAX_MODEL_NAME)));
    }
    let options =
        GenerationOptions { temperature: request.temperature, max_tokens: request.max_tokens, top_p: None };
    rules::check_options("", &options, errors);
    let timeout_seconds = request.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(rules::MIN_TIMEOUT_SECONDS..=rules::MAX_TIMEOUT_SECONDS).contains(&timeout_seconds) {
        errors.push(FieldError::new(
            "timeout_seconds",
            format!("must be {} to {}", rules::MIN_TIMEOUT_SECONDS, rules::MAX_TIMEOUT_SECONDS),
        ));
    }
    if let Some(key) = &request.api_key
        && (key.trim().is_empty() || key.len() > rules::MAX_API_KEY || key.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "api_key",
            format!("must be 1 to {} printable characters", rules::MAX_API_KEY),
        ));
    }
    ConnectionSettings { name, provider: request.provider, base_url, model, options, timeout_seconds }
}

fn key_change(
    state: &AppState,
    principal: &Principal,
    request: &ConnectionRequest,
) -> Result<KeyChange, ApiError> {
    match (&request.api_key, request.clear_api_key) {
        (Some(key), _) => {
            let key = Secret::new(key.trim().to_owned());
            let sealed =
                state.ai.sealer.seal(&key, &key_context(principal)).map_err(|e| ApiError::internal(&e))?;
            Ok(KeyChange::Set { sealed: Secret::new(sealed), hint: rules::key_hint(key.expose()) })
        }
        (None, true) => Ok(KeyChange::Clear),
        (None, false) => Ok(KeyChange::Keep),
    }
}

/// Whether the caller may change `connection`: their own, or the tenant's if they are an admin.
fn may_manage(principal: &Principal, owner: Option<UserId>) -> bool {
    match owner {
        Some(owner) => owner == principal.user.id,
        None => principal.user.role == Role::Admin,
    }
}

fn audit(
    acting: &Acting,
    action: AuditAction,
    connection: &Connection,
    details: serde_json::Value,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: acting.actor,
        action,
        target_type: "ai_connection",
        target_id: Some(connection.id.to_string()),
        details,
        client_addr: acting.client_addr.clone(),
        at: acting.at,
    }
}

fn audit_details(connection: &Connection) -> serde_json::Value {
    serde_json::json!({
        "name": connection.settings.name,
        "provider": connection.settings.provider.as_str(),
        "base_url": connection.settings.base_url,
        "model": connection.settings.model,
        "scope": if connection.owner.is_some() { "personal" } else { "tenant" },
        "api_key_set": connection.api_key_sealed.is_some(),
    })
}

pub async fn list_connections(
    state: &AppState,
    principal: &Principal,
) -> Result<Vec<ConnectionView>, ApiError> {
    let connections = state.db.tenant(principal.scope()).list_connections(principal.user.id).await?;
    Ok(connections.iter().map(view).collect())
}

pub async fn get_connection(
    state: &AppState,
    principal: &Principal,
    id: ConnectionId,
) -> Result<Connection, ApiError> {
    state.db.tenant(principal.scope()).connection(id, principal.user.id).await?.ok_or_else(not_found)
}

pub async fn create_connection(
    state: &AppState,
    principal: &Principal,
    acting: &Acting,
    request: ConnectionRequest,
) -> Result<Connection, ApiError> {
    let owner = match request.scope {
        ConnectionScope::Tenant if principal.user.role != Role::Admin => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "Only tenant administrators create tenant connections.",
            ));
        }
        ConnectionScope::Tenant => None,
        ConnectionScope::Personal => Some(principal.user.id),
    };
    let repo = state.db.tenant(principal.scope());
    if owner.is_some() && !repo.ai_policy().await?.allow_user_connections {
        return Err(user_connections_disabled());
    }
    let mut errors = Vec::new();
    let settings = parse(&request, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if repo.count_connections(owner).await? >= MAX_CONNECTIONS_PER_OWNER {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            format!("at most {MAX_CONNECTIONS_PER_OWNER} connections; delete one first"),
        )]));
    }
    let key = key_change(state, principal, &request)?;
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let created = match repo.create_connection(owner, settings, key, acting.at).await {
        Err(StoreError::Conflict) => return Err(name_taken()),
        other => other?,
    };
    repo.record_audit(audit(acting, AuditAction::AiConnectionCreated, &created, audit_details(&created)))
        .await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn update_connection(
    state: &AppState,
    principal: &Principal,
    acting: &Acting,
    id: ConnectionId,
    request: ConnectionRequest,
) -> Result<Connection, ApiError> {
    let current = get_connection(state, principal, id).await?;
    if !may_manage(principal, current.owner) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only tenant administrators change tenant connections.",
        ));
    }
    let mut errors = Vec::new();
    let settings = parse(&request, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let key = key_change(state, principal, &request)?;
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let updated = match repo.update_connection(id, settings, key, acting.at).await {
        Err(StoreError::Conflict) => return Err(name_taken()),
        other => other?.ok_or_else(not_found)?,
    };
    repo.record_audit(audit(acting, AuditAction::AiConnectionUpdated, &updated, audit_details(&updated)))
        .await?;
    tx.commit().await?;
    Ok(updated)
}

pub async fn delete_connection(
    state: &AppState,
    principal: &Principal,
    acting: &Acting,
    id: ConnectionId,
) -> Result<(), ApiError> {
    let current = get_connection(state, principal, id).await?;
    if !may_manage(principal, current.owner) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only tenant administrators delete tenant connections.",
        ));
    }
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    repo.delete_connection(id).await?;
    repo.record_audit(audit(acting, AuditAction::AiConnectionDeleted, &current, audit_details(&current)))
        .await?;
    tx.commit().await?;
    Ok(())
}

fn name_taken() -> ApiError {
    ApiError::conflict(FieldError::new("name", "is already used by another connection"))
}

fn user_connections_disabled() -> ApiError {
    ApiError::new(
        ErrorCode::UserConnectionsDisabled,
        "Your organisation's administrators allow only the organisation's own AI connections.",
    )
}

/// What a connection is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Execution,
    Enhancement,
}

/// The connection a call uses: the one asked for, else the caller's choice, else the tenant's
/// default (for enhancement, falling back to the execution connection). A personal connection
/// is refused while the tenant forbids them.
pub async fn resolve(
    state: &AppState,
    principal: &Principal,
    policy: &AiPolicy,
    requested: Option<ConnectionId>,
    purpose: Purpose,
) -> Result<Connection, ApiError> {
    let repo = state.db.tenant(principal.scope());
    let usable = |c: &Connection| c.owner.is_none() || policy.allow_user_connections;
    if let Some(id) = requested {
        let connection = get_connection(state, principal, id).await?;
        return if usable(&connection) { Ok(connection) } else { Err(user_connections_disabled()) };
    }
    let choices = match purpose {
        Purpose::Execution => vec![EXECUTION_KEY],
        Purpose::Enhancement => vec![ENHANCEMENT_KEY, EXECUTION_KEY],
    };
    for key in &choices {
        let chosen =
            repo.user_setting(principal.user.id, key).await?.and_then(|v| v.parse::<ConnectionId>().ok());
        if let Some(id) = chosen
            && let Some(connection) = repo.connection(id, principal.user.id).await?
            && usable(&connection)
        {
            return Ok(connection);
        }
        let default = if *key == ENHANCEMENT_KEY {
            policy.default_enhancement_connection
        } else {
            policy.default_execution_connection
        };
        if let Some(id) = default
            && let Some(connection) = repo.connection(id, principal.user.id).await?
        {
            return Ok(connection);
        }
    }
    Err(ApiError::new(
        ErrorCode::NoConnection,
        "No AI connection is set up for you. Add one in the AI settings, or ask an administrator for a tenant connection.",
    ))
}

/// The address, model and key of one call on `connection` (`model` overrides its model).
pub fn endpoint(
    state: &AppState,
    principal: &Principal,
    connection: &Connection,
    model: Option<&str>,
) -> Result<Endpoint, ApiError> {
    let api_key = match &connection.api_key_sealed {
        None => None,
        Some(sealed) => Some(state.ai.sealer.open(sealed.expose(), &key_context(principal)).map_err(|_| {
            ApiError::new(
                ErrorCode::ProviderUnauthorized,
                "The connection's stored key cannot be read (the server's SECRET_KEY changed?); enter the key again.",
            )
        })?),
    };
    Ok(Endpoint {
        provider: connection.settings.provider,
        base_url: connection.settings.base_url.clone(),
        model: model.map_or_else(|| connection.settings.model.clone(), str::to_owned),
        api_key,
        timeout: Duration::from_secs(u64::from(connection.settings.timeout_seconds)),
    })
}

/// How a provider failure is answered: never a 500, always what failed.
pub fn provider_error(error: &AiError) -> ApiError {
    let code = match error.kind() {
        AiErrorKind::Outbound(Net::AddressNotAllowed) => ErrorCode::AddressNotAllowed,
        AiErrorKind::Outbound(Net::InvalidUrl | Net::InvalidRequest) => ErrorCode::ValidationFailed,
        AiErrorKind::Outbound(Net::Timeout) => ErrorCode::ProviderTimeout,
        AiErrorKind::Outbound(Net::TooLarge) => ErrorCode::ProviderInvalidResponse,
        AiErrorKind::Outbound(_) => ErrorCode::ProviderUnreachable,
        AiErrorKind::Unauthorized => ErrorCode::ProviderUnauthorized,
        AiErrorKind::RateLimited => ErrorCode::ProviderRateLimited,
        AiErrorKind::Provider => ErrorCode::ProviderError,
        AiErrorKind::Malformed | AiErrorKind::StreamCut => ErrorCode::ProviderInvalidResponse,
    };
    ApiError::new(code, error.to_string())
}

pub async fn settings(state: &AppState, principal: &Principal) -> Result<AiSettingsView, ApiError> {
    let repo = state.db.tenant(principal.scope());
    let policy = repo.ai_policy().await?;
    let user = principal.user.id;
    let parse = |value: Option<String>| value.and_then(|v| v.parse::<ConnectionId>().ok());
    let execution_connection = parse(repo.user_setting(user, EXECUTION_KEY).await?);
    let enhancement_connection = parse(repo.user_setting(user, ENHANCEMENT_KEY).await?);
    let policy = &policy;
    let effective = |purpose| async move {
        match resolve(state, principal, policy, None, purpose).await {
            Ok(c) => Ok(Some(connection_ref(&c, &c.settings.model))),
            Err(e) if e.problem().code == ErrorCode::NoConnection => Ok(None),
            Err(e) => Err(e),
        }
    };
    Ok(AiSettingsView {
        execution_connection,
        enhancement_connection,
        effective_execution: effective(Purpose::Execution).await?,
        effective_enhancement: effective(Purpose::Enhancement).await?,
        user_connections_allowed: policy.allow_user_connections,
    })
}

pub async fn update_settings(
    state: &AppState,
    principal: &Principal,
    request: UpdateAiSettingsRequest,
) -> Result<AiSettingsView, ApiError> {
    let repo = state.db.tenant(principal.scope());
    let mut errors = Vec::new();
    for (field, id) in [
        ("execution_connection", request.execution_connection),
        ("enhancement_connection", request.enhancement_connection),
    ] {
        if let Some(id) = id
            && repo.connection(id, principal.user.id).await?.is_none()
        {
            errors.push(FieldError::new(field, "is not a connection you may use"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = Utc::now();
    let value = |id: Option<ConnectionId>| id.map(|c| c.to_string());
    repo.set_user_setting(
        principal.user.id,
        EXECUTION_KEY,
        value(request.execution_connection).as_deref(),
        now,
    )
    .await?;
    repo.set_user_setting(
        principal.user.id,
        ENHANCEMENT_KEY,
        value(request.enhancement_connection).as_deref(),
        now,
    )
    .await?;
    settings(state, principal).await
}

pub async fn policy(state: &AppState, principal: &Principal) -> Result<AiPolicy, ApiError> {
    Ok(state.db.tenant(principal.scope()).ai_policy().await?)
}

pub async fn update_policy(
    state: &AppState,
    principal: &Principal,
    acting: &Acting,
    policy: AiPolicy,
) -> Result<AiPolicy, ApiError> {
    let repo = state.db.tenant(principal.scope());
    let mut errors = Vec::new();
    if policy.run_retention_days > MAX_RETENTION_DAYS {
        errors.push(FieldError::new("run_retention_days", format!("must be 0 to {MAX_RETENTION_DAYS}")));
    }
    rules::check_prices(&policy.prices, &mut errors);
    for (field, id) in [
        ("default_execution_connection", policy.default_execution_connection),
        ("default_enhancement_connection", policy.default_enhancement_connection),
    ] {
        if let Some(id) = id {
            match repo.connection(id, principal.user.id).await? {
                Some(c) if c.owner.is_none() => {}
                _ => errors.push(FieldError::new(field, "is not a tenant connection")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    repo.set_ai_policy(&policy, acting.at).await?;
    repo.record_audit(NewAuditEvent {
        actor: Actor::User(principal.user.id),
        action: AuditAction::AiPolicyUpdated,
        target_type: "tenant",
        target_id: Some(principal.tenant.id.to_string()),
        details: serde_json::json!({
            "allow_user_connections": policy.allow_user_connections,
            "run_retention_days": policy.run_retention_days,
            "prices": policy.prices.len(),
        }),
        client_addr: acting.client_addr.clone(),
        at: acting.at,
    })
    .await?;
    tx.commit().await?;
    Ok(policy)
}
