//! Who may call which route: the one table of rules, and the extractor that enforces it.
//!
//! Every route of the API is listed in [`RULES`] with its [`Policy`]. The [`enforce`]
//! middleware runs before any handler or body parsing: it finds the request's route pattern,
//! authenticates the bearer credential (session token or API token), applies the rule and hands
//! the [`Principal`] to the handler. A handler that asks for a `Principal` on a route without a
//! rule gets none and fails closed. The API tests walk this table against every route in the
//! OpenAPI document.

use std::future::{Ready, ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use auth::{api_token, session_token};
use chrono::{DateTime, Utc};
use domain::access::{Caller, Denial, Policy, Via};
use domain::session::TokenScope;
use domain::tenant::Tenant;
use domain::user::User;
use domain::wire::ErrorCode;
use domain::{ApiTokenId, SessionId};
use persistence::{Authenticated, AuthenticationRepo, SystemAccess, TenantScope};

use crate::error::ApiError;
use crate::state::AppState;

/// Every API route and who may call it: (method, path pattern, policy).
pub const RULES: &[(&str, &str, Policy)] = &[
    ("GET", "/healthz", Policy::Public),
    ("GET", "/readyz", Policy::Public),
    ("POST", "/api/v1/auth/login", Policy::Public),
    ("GET", "/api/v1/auth/sso", Policy::Public),
    ("POST", "/api/v1/auth/sso/exchange", Policy::Public),
    ("GET", "/auth/sso/{tenant}", Policy::Public),
    ("GET", "/auth/callback", Policy::Public),
    ("POST", "/auth/saml/acs", Policy::Public),
    ("GET", "/auth/saml/{tenant}", Policy::Public),
    ("GET", "/api/v1/sso", Policy::TenantAdminRead),
    ("PUT", "/api/v1/sso", Policy::TenantAdmin),
    ("DELETE", "/api/v1/sso", Policy::TenantAdmin),
    ("POST", "/api/v1/sso/test", Policy::TenantAdmin),
    ("GET", "/api/v1/sso/test/{code}", Policy::TenantAdminRead),
    ("POST", "/api/v1/auth/logout", Policy::SelfService),
    ("POST", "/api/v1/auth/refresh", Policy::SelfService),
    ("GET", "/api/v1/auth/me", Policy::Reader),
    ("PATCH", "/api/v1/auth/me", Policy::SelfService),
    ("PUT", "/api/v1/auth/password", Policy::SelfService),
    ("GET", "/api/v1/tokens", Policy::SelfService),
    ("POST", "/api/v1/tokens", Policy::SelfService),
    ("DELETE", "/api/v1/tokens/{id}", Policy::SelfService),
    ("GET", "/api/v1/tenants", Policy::SystemAdminRead),
    ("POST", "/api/v1/tenants", Policy::SystemAdmin),
    ("GET", "/api/v1/tenants/{id}", Policy::SystemAdminRead),
    ("PATCH", "/api/v1/tenants/{id}", Policy::SystemAdmin),
    ("DELETE", "/api/v1/tenants/{id}", Policy::SystemAdmin),
    ("GET", "/api/v1/users", Policy::TenantAdminRead),
    ("POST", "/api/v1/users", Policy::TenantAdmin),
    ("GET", "/api/v1/users/{id}", Policy::TenantAdminRead),
    ("PATCH", "/api/v1/users/{id}", Policy::TenantAdmin),
    ("DELETE", "/api/v1/users/{id}", Policy::TenantAdmin),
    ("POST", "/api/v1/users/{id}/password", Policy::TenantAdmin),
    ("GET", "/api/v1/audit-events", Policy::TenantAdminRead),
    ("GET", "/api/v1/audit-events/export", Policy::TenantAdminRead),
    ("GET", "/api/v1/analytics", Policy::TenantAdminRead),
    ("GET", "/api/v1/analytics/system", Policy::SystemAdminRead),
    ("GET", "/api/v1/prompts", Policy::Reader),
    ("POST", "/api/v1/prompts", Policy::Writer),
    ("GET", "/api/v1/prompts/{prompt}", Policy::Reader),
    ("PATCH", "/api/v1/prompts/{prompt}", Policy::Writer),
    ("DELETE", "/api/v1/prompts/{prompt}", Policy::Writer),
    ("GET", "/api/v1/prompts/{prompt}/versions", Policy::Reader),
    ("GET", "/api/v1/prompts/{prompt}/versions/{version}", Policy::Reader),
    ("GET", "/api/v1/prompts/{prompt}/diff", Policy::Reader),
    ("POST", "/api/v1/prompts/{prompt}/versions/{version}/restore", Policy::Writer),
    // Rendering changes nothing: read tokens and read-only users may render.
    ("POST", "/api/v1/prompts/{prompt}/render", Policy::Reader),
    ("GET", "/api/v1/prompts/{prompt}/schema", Policy::Reader),
    ("GET", "/api/v1/prompts/{prompt}/used-by", Policy::Reader),
    // Previewing an edit saves nothing, but only those who may edit prompts preview edits.
    ("POST", "/api/v1/prompts/{prompt}/impact", Policy::Writer),
    // Release labels: moved by those who may edit the prompt (decided per prompt).
    ("GET", "/api/v1/prompts/{prompt}/labels", Policy::Reader),
    ("PUT", "/api/v1/prompts/{prompt}/labels/{label}", Policy::Writer),
    ("DELETE", "/api/v1/prompts/{prompt}/labels/{label}", Policy::Writer),
    ("POST", "/api/v1/prompts/{prompt}/labels/{label}/rollback", Policy::Writer),
    ("GET", "/api/v1/prompts/{prompt}/label-history", Policy::Reader),
    ("GET", "/api/v1/prompts/{prompt}/label-stats", Policy::Reader),
    // Protected labels: who may move them (and change the policy, decide requests) is
    // narrower than the route's rule: `Principal::may_release`, checked in the handler.
    ("GET", "/api/v1/release-policy", Policy::Reader),
    ("PUT", "/api/v1/release-policy", Policy::TenantAdmin),
    ("GET", "/api/v1/approvals", Policy::Reader),
    ("GET", "/api/v1/approvals/{id}", Policy::Reader),
    ("POST", "/api/v1/approvals/{id}/approve", Policy::TenantAdmin),
    ("POST", "/api/v1/approvals/{id}/deny", Policy::TenantAdmin),
    ("POST", "/api/v1/approvals/{id}/cancel", Policy::Writer),
    ("GET", "/api/v1/webhooks", Policy::TenantAdminRead),
    ("POST", "/api/v1/webhooks", Policy::TenantAdmin),
    ("GET", "/api/v1/webhooks/{id}", Policy::TenantAdminRead),
    ("PATCH", "/api/v1/webhooks/{id}", Policy::TenantAdmin),
    ("DELETE", "/api/v1/webhooks/{id}", Policy::TenantAdmin),
    ("POST", "/api/v1/webhooks/{id}/rotate-secret", Policy::TenantAdmin),
    ("POST", "/api/v1/webhooks/{id}/test", Policy::TenantAdmin),
    ("GET", "/api/v1/webhooks/{id}/deliveries", Policy::TenantAdminRead),
    ("GET", "/api/v1/webhooks/{id}/deliveries/{delivery}", Policy::TenantAdminRead),
    ("POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/redeliver", Policy::TenantAdmin),
    ("GET", "/api/v1/categories", Policy::Reader),
    ("GET", "/api/v1/tags", Policy::Reader),
    ("GET", "/api/v1/folders", Policy::Reader),
    ("GET", "/api/v1/exports/prompts", Policy::Reader),
    ("POST", "/api/v1/imports/prompts", Policy::Writer),
    ("GET", "/api/v1/ai/providers", Policy::Reader),
    ("GET", "/api/v1/ai/connections", Policy::Reader),
    ("POST", "/api/v1/ai/connections", Policy::Writer),
    ("GET", "/api/v1/ai/connections/{id}", Policy::Reader),
    ("PUT", "/api/v1/ai/connections/{id}", Policy::Writer),
    ("DELETE", "/api/v1/ai/connections/{id}", Policy::Writer),
    // Testing lists the provider's models: a read (limited like runs).
    ("POST", "/api/v1/ai/connections/{id}/test", Policy::Reader),
    ("GET", "/api/v1/ai/settings", Policy::Reader),
    ("PUT", "/api/v1/ai/settings", Policy::Writer),
    ("GET", "/api/v1/ai/policy", Policy::TenantAdminRead),
    ("PUT", "/api/v1/ai/policy", Policy::TenantAdmin),
    // Running and enhancing change no prompt: read tokens and readonly users may (within the
    // per-user run limit); accepting a suggestion writes a version.
    ("POST", "/api/v1/prompts/{prompt}/run", Policy::Reader),
    ("POST", "/api/v1/prompts/{prompt}/compare", Policy::Reader),
    ("GET", "/api/v1/prompts/{prompt}/runs", Policy::Reader),
    ("GET", "/api/v1/runs/{id}", Policy::Reader),
    ("POST", "/api/v1/prompts/{prompt}/enhance", Policy::Reader),
    ("POST", "/api/v1/enhance", Policy::Reader),
    ("POST", "/api/v1/prompts/{prompt}/enhance/accept", Policy::Writer),
    ("POST", "/api/v1/prompts/{prompt}/tokens", Policy::Reader),
    ("GET", "/api/v1/analytics/runs", Policy::TenantAdminRead),
];

/// Routes that speak another protocol than the REST API's, so the OpenAPI document does not
/// describe them: the MCP endpoint (JSON-RPC over Streamable HTTP). Which MCP calls may
/// write is decided per call ([`Principal::may_write`]); the MCP server clears the read cache
/// after its writes itself.
pub const PROTOCOL_RULES: &[(&str, &str, Policy)] =
    &[("POST", "/mcp", Policy::Reader), ("GET", "/mcp", Policy::Reader), ("DELETE", "/mcp", Policy::Reader)];

/// POST routes that change nothing the read cache holds (prompts, credentials): a successful
/// call does not start a new cache epoch, so rendering and running prompts keep the hot read
/// path warm for everyone.
pub const READ_ONLY_POSTS: &[&str] = &[
    "/mcp",
    "/api/v1/prompts/{prompt}/render",
    "/api/v1/prompts/{prompt}/impact",
    "/api/v1/prompts/{prompt}/run",
    "/api/v1/prompts/{prompt}/compare",
    "/api/v1/prompts/{prompt}/enhance",
    "/api/v1/enhance",
    "/api/v1/prompts/{prompt}/tokens",
    "/api/v1/ai/connections/{id}/test",
];

/// `last_used_at` of an API token is written at most this often, not on every request.
const TOKEN_USE_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

pub fn policy_for(method: &str, pattern: &str) -> Option<Policy> {
    RULES
        .iter()
        .chain(PROTOCOL_RULES)
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map(|(_, _, policy)| *policy)
}

/// An authenticated caller who passed the route's rule.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub tenant: Tenant,
    pub credential: Credential,
    /// The caller's tenant: the only scope a handler gets without [`SystemAccess`].
    scope: TenantScope,
    system_access: Option<SystemAccess>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session(SessionId),
    ApiToken { id: ApiTokenId, scope: TokenScope },
}

impl Principal {
    fn new(authenticated: Authenticated, credential: Credential) -> Self {
        let Authenticated { user, tenant, scope, system_access } = authenticated;
        Self { user, tenant, credential, scope, system_access }
    }

    pub fn scope(&self) -> TenantScope {
        self.scope
    }

    /// Present for a system administrator: what system-administration routes work with.
    pub fn system_access(&self) -> Option<SystemAccess> {
        self.system_access
    }

    pub fn is_system_admin(&self) -> bool {
        self.system_access.is_some()
    }

    /// The caller's system access, on routes whose rule admits only system administrators.
    pub fn require_system_access(&self) -> Result<SystemAccess, ApiError> {
        self.system_access
            .ok_or_else(|| ApiError::new(ErrorCode::Forbidden, "Only system administrators may do this."))
    }

    /// The session behind this request; `SelfService` routes always have one.
    pub fn session_id(&self) -> Option<SessionId> {
        match self.credential {
            Credential::Session(id) => Some(id),
            Credential::ApiToken { .. } => None,
        }
    }

    /// May change the tenant's content (prompts), as [`Policy::Writer`] routes ask: a session
    /// or a read-write token. For calls whose route admits readers too (`/mcp`).
    pub fn may_write(&self) -> bool {
        Policy::Writer.check(Some(&self.caller())).is_ok()
    }

    /// May move protected release labels and decide requests to: see [`Caller::may_release`].
    pub fn may_release(&self) -> bool {
        self.caller().may_release()
    }

    fn caller(&self) -> Caller {
        Caller {
            role: self.user.role,
            is_system_admin: self.is_system_admin(),
            via: match self.credential {
                Credential::Session(_) => Via::Session,
                Credential::ApiToken { scope, .. } => Via::ApiToken(scope),
            },
        }
    }
}

/// Applies the route's rule before the request reaches its handler.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The pattern comes from the app's resource map, so it is known before routing.
    let pattern = req.match_pattern().unwrap_or_default();
    let policy = match policy_for(req.method().as_str(), &pattern) {
        // No rule: not an API route (or not this method); routing answers 404.
        None | Some(Policy::Public) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Some(policy) => policy,
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(req.error_response(ApiError::internal(&"application state missing")));
    };
    match authorize(&state, req.request(), policy).await {
        Ok(principal) => {
            // A system administrator's change can touch any tenant; anyone else's only their own.
            let changed_tenant = (!principal.is_system_admin()).then_some(principal.tenant.id);
            req.extensions_mut().insert(principal);
            let changes = match *req.method() {
                Method::GET | Method::HEAD => false,
                Method::POST => !READ_ONLY_POSTS.contains(&pattern.as_str()),
                _ => true,
            };
            let response = next.call(req).await?;
            if changes && response.status().is_success() {
                // Whatever was cached of that tenant before this change may be stale now.
                state.read_cache.invalidate(changed_tenant);
            }
            Ok(response.map_into_boxed_body())
        }
        Err(err) => Ok(req.error_response(err)),
    }
}

async fn authorize(state: &AppState, req: &HttpRequest, policy: Policy) -> Result<Principal, ApiError> {
    let principal = match bearer(req)? {
        Some(credential) => Some(authenticate(state, credential, Utc::now()).await?),
        None => None,
    };
    match policy.check(principal.as_ref().map(Principal::caller).as_ref()) {
        Ok(()) => {
            principal.ok_or_else(|| ApiError::internal(&"a non-public rule let an anonymous caller in"))
        }
        Err(Denial::Unauthenticated) => Err(unauthorized("Sign in, or send an API token.")),
        Err(Denial::Forbidden) => {
            Err(ApiError::new(ErrorCode::Forbidden, "Your role or token does not allow this."))
        }
    }
}

/// The caller that [`enforce`] authorised for this request.
impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Principal>().cloned().ok_or_else(|| {
            ApiError::internal(&format!("no access rule for {} {}", req.method(), req.path()))
        }))
    }
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

/// The bearer credential, if any. A malformed `Authorization` header is a 401, not anonymous.
fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = header.to_str().map_err(|_| unauthorized("The Authorization header is malformed."))?;
    match value.split_once(' ') {
        Some((scheme, credential))
            if scheme.eq_ignore_ascii_case("bearer") && !credential.trim().is_empty() =>
        {
            Ok(Some(credential.trim()))
        }
        _ => Err(unauthorized("Use `Authorization: Bearer <token>`.")),
    }
}

/// Resolves a credential to a live user of an active tenant, or 401: from the read cache when
/// this credential was checked moments ago, otherwise from the database.
async fn authenticate(state: &AppState, credential: &str, now: DateTime<Utc>) -> Result<Principal, ApiError> {
    let key = api_token::hash(credential);
    if let Some(principal) = state.read_cache.principal(&key, now) {
        return Ok(principal);
    }
    let epoch = state.read_cache.epoch();
    let (principal, expires_at) = authenticate_in_database(state, credential, &key, now).await?;
    state.read_cache.keep_principal(epoch, key, &principal, expires_at);
    Ok(principal)
}

/// One query either way: the token or session row joined with its user and tenant. Also says
/// when the credential expires. `credential_hash` is its SHA-256 (how API tokens are stored).
async fn authenticate_in_database(
    state: &AppState,
    credential: &str,
    credential_hash: &str,
    now: DateTime<Utc>,
) -> Result<(Principal, Option<DateTime<Utc>>), ApiError> {
    let invalid = || unauthorized("The token is invalid, expired or revoked.");
    let live = |who: &Authenticated| {
        who.user.is_active && who.tenant.is_active && who.user.tenant_id == who.tenant.id
    };
    if api_token::is_api_token(credential) {
        let (token, who) =
            authentication(state).api_token_credentials(credential_hash).await?.ok_or_else(invalid)?;
        if !token.is_live(now) || !live(&who) {
            return Err(invalid());
        }
        if token.last_used_at.is_none_or(|used| now - used >= TOKEN_USE_RESOLUTION) {
            state.db.tenant(who.scope).touch_api_token(token.id, now).await?;
        }
        let credential = Credential::ApiToken { id: token.id, scope: token.scope };
        return Ok((Principal::new(who, credential), token.expires_at));
    }
    if !session_token::looks_like_jwt(credential) {
        return Err(invalid());
    }
    let claims = state.session_tokens.verify(credential).map_err(|_| invalid())?;
    let (session, who) = authentication(state).session_credentials(claims.jti).await?.ok_or_else(invalid)?;
    // A role change ends sessions issued under the old role.
    let matches_claims =
        session.user_id == claims.sub && who.tenant.id == claims.tid && who.user.role == claims.role;
    if !session.is_live(now) || !matches_claims || !live(&who) {
        return Err(invalid());
    }
    Ok((Principal::new(who, Credential::Session(session.id)), Some(session.expires_at)))
}

/// The pre-authentication lookups (allowed here and in sign-in only).
#[allow(clippy::disallowed_methods)]
fn authentication(state: &AppState) -> AuthenticationRepo {
    state.db.authentication()
}
