//! Request and response bodies shared by the API and the browser app.

use serde::{Deserialize, Serialize};

mod ai;
mod prompts;
mod releases;
mod sso;
mod webhooks;
pub use ai::*;
pub use prompts::*;
pub use releases::*;
pub use sso::*;
pub use webhooks::*;

/// Stable, machine-readable error codes. Clients match on these, never on `title` or `detail`;
/// a released code is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body, query or path failed validation; see `errors` for each field.
    ValidationFailed,
    /// The body is not well-formed JSON or does not match the expected shape.
    InvalidJson,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The request's `Content-Type` is not `application/json`.
    UnsupportedMediaType,
    /// No such resource (or it belongs to another tenant).
    NotFound,
    /// The route exists but not with this HTTP method.
    MethodNotAllowed,
    /// Missing, invalid, expired or revoked credentials.
    Unauthorized,
    /// Sign-in failed. The same answer for an unknown email, a wrong password, an inactive
    /// user or an inactive tenant.
    InvalidCredentials,
    /// The session cannot be refreshed any more: its chain of refreshes has reached the
    /// absolute lifetime since sign-in. Sign in again.
    SessionExpired,
    /// Too many attempts; retry after the `Retry-After` header's seconds.
    RateLimited,
    /// Authenticated, but the caller's role does not allow this.
    Forbidden,
    /// The request conflicts with existing data (for example a duplicate name).
    Conflict,
    /// The tenant has as many active users as its `max_users` allows.
    UserLimitReached,
    /// The tenant's prompt library holds as many prompts, or as many bytes of history, as its
    /// quota allows.
    QuotaExceeded,
    /// The change would leave a tenant (or the system) without an active administrator.
    LastAdmin,
    /// The system tenant cannot be deactivated or deleted.
    SystemTenant,
    /// The tenant still holds data; confirm the deletion to remove it.
    TenantNotEmpty,
    /// Someone saved the resource after you read it; `current_version` says which version
    /// is stored now. Re-read, merge, and send again.
    PreconditionFailed,
    /// The write must say which version it is based on (`If-Match` or `version`).
    PreconditionRequired,
    /// Rendering refused: a variable has no value (or, when strict, a value has no
    /// variable); see `errors`.
    VariablesMismatch,
    /// The prompt's template failed while rendering (a loop over something that is not a
    /// list, an include that is gone or cyclic, a budget spent); `errors` say where, with line
    /// and column.
    TemplateFailed,
    /// No AI connection is configured for this (choose one in the AI settings).
    NoConnection,
    /// The tenant's admins allow only the tenant's own AI connections.
    UserConnectionsDisabled,
    /// The connection's address is one the server may not call (cloud metadata, link-local,
    /// or a private network the operator did not allow).
    AddressNotAllowed,
    /// The AI service could not be reached: its name does not resolve, it refused the
    /// connection, TLS failed, or the connection broke.
    ProviderUnreachable,
    /// The AI service did not answer in time.
    ProviderTimeout,
    /// The AI service refused the connection's key (its 401 or 403).
    ProviderUnauthorized,
    /// The AI service says its own rate limit or quota is exhausted (its 429).
    ProviderRateLimited,
    /// The AI service answered with an error; `detail` carries its message.
    ProviderError,
    /// The AI service's answer was malformed, too large, or ended halfway.
    ProviderInvalidResponse,
    /// The tenant has no single sign-on configured (or it is turned off).
    SsoNotConfigured,
    /// The sign-in's state is unknown, expired, already used, or was started in another browser.
    /// Start the sign-in again.
    SsoInvalidState,
    /// The identity provider refused the sign-in or could not be reached (`detail` says which).
    SsoProviderError,
    /// The provider's token or assertion is not signed by the provider's keys.
    SsoBadSignature,
    /// The provider's token or assertion is meant for another application.
    SsoWrongAudience,
    /// The provider's token or assertion has expired (or is not valid yet).
    SsoExpired,
    /// The provider's code or assertion was used already.
    SsoReplayed,
    /// The provider's answer is malformed or does not match this sign-in (issuer, nonce,
    /// destination, request id, missing subject or email); `detail` says which.
    SsoInvalidResponse,
    /// The user's email domain is not one the tenant accepts for single sign-on.
    SsoEmailNotAllowed,
    /// The user is not known to the tenant and the tenant does not create users at sign-in.
    SsoUserNotProvisioned,
    /// The user or the tenant is deactivated.
    AccountInactive,
    /// The tenant requires single sign-on; password sign-in is closed to this user.
    PasswordSignInDisabled,
    /// Closing password sign-in needs single sign-on turned on and at least one active admin who
    /// holds a password (the break-glass account).
    BreakGlassRequired,
    /// A prompt carries as many release labels as it may; remove one first.
    LabelLimitReached,
    /// The label is protected: moving, removing or rolling it back (and changing which labels
    /// are protected) needs an admin signed in, or an admin's `promote` token.
    LabelProtected,
    /// A request to move this label already waits for a decision; decide or cancel it first.
    ApprovalPending,
    /// The request was decided, cancelled or expired already; `detail` says which.
    ApprovalClosed,
    /// Nobody approves or denies their own request; another person must.
    OwnApproval,
    /// The tenant has as many webhook endpoints as it may (20); delete one first.
    WebhookLimitReached,
    /// A dependency (such as the database) is unavailable; try again later.
    ServiceUnavailable,
    /// The database did not finish the request's query in time (its statement timeout).
    DatabaseTimeout,
    /// Something failed on the server; the response carries no further detail.
    InternalError,
}

impl ErrorCode {
    /// The HTTP status this code is sent with.
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed => 422,
            ErrorCode::InvalidJson => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Unauthorized => 401,
            ErrorCode::InvalidCredentials => 401,
            ErrorCode::SessionExpired => 401,
            ErrorCode::RateLimited => 429,
            ErrorCode::Forbidden => 403,
            ErrorCode::Conflict => 409,
            ErrorCode::UserLimitReached => 409,
            ErrorCode::QuotaExceeded => 409,
            ErrorCode::LastAdmin => 409,
            ErrorCode::SystemTenant => 409,
            ErrorCode::TenantNotEmpty => 409,
            ErrorCode::PreconditionFailed => 412,
            ErrorCode::PreconditionRequired => 428,
            ErrorCode::VariablesMismatch => 422,
            ErrorCode::TemplateFailed => 422,
            ErrorCode::NoConnection => 422,
            ErrorCode::UserConnectionsDisabled => 403,
            ErrorCode::AddressNotAllowed => 422,
            ErrorCode::ProviderUnreachable => 502,
            ErrorCode::ProviderTimeout => 504,
            ErrorCode::ProviderUnauthorized => 502,
            ErrorCode::ProviderRateLimited => 502,
            ErrorCode::ProviderError => 502,
            ErrorCode::ProviderInvalidResponse => 502,
            ErrorCode::SsoNotConfigured => 404,
            ErrorCode::SsoInvalidState => 400,
            ErrorCode::SsoProviderError => 502,
            ErrorCode::SsoBadSignature => 401,
            ErrorCode::SsoWrongAudience => 401,
            ErrorCode::SsoExpired => 401,
            ErrorCode::SsoReplayed => 401,
            ErrorCode::SsoInvalidResponse => 401,
            ErrorCode::SsoEmailNotAllowed => 403,
            ErrorCode::SsoUserNotProvisioned => 403,
            ErrorCode::AccountInactive => 403,
            ErrorCode::PasswordSignInDisabled => 403,
            ErrorCode::BreakGlassRequired => 409,
            ErrorCode::LabelLimitReached => 409,
            ErrorCode::LabelProtected => 403,
            ErrorCode::ApprovalPending => 409,
            ErrorCode::ApprovalClosed => 409,
            ErrorCode::OwnApproval => 403,
            ErrorCode::WebhookLimitReached => 409,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::DatabaseTimeout => 503,
            ErrorCode::InternalError => 500,
        }
    }

    /// A short human-readable summary, the same for every occurrence of the code.
    pub const fn title(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "The request is not valid",
            ErrorCode::InvalidJson => "The request body is not valid JSON",
            ErrorCode::PayloadTooLarge => "The request body is too large",
            ErrorCode::UnsupportedMediaType => "Unsupported content type",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::Unauthorized => "Authentication required",
            ErrorCode::InvalidCredentials => "Invalid credentials",
            ErrorCode::SessionExpired => "Session expired",
            ErrorCode::RateLimited => "Too many requests",
            ErrorCode::Forbidden => "Not allowed",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::UserLimitReached => "User limit reached",
            ErrorCode::QuotaExceeded => "Quota exceeded",
            ErrorCode::LastAdmin => "Last administrator",
            ErrorCode::SystemTenant => "System tenant",
            ErrorCode::TenantNotEmpty => "Tenant not empty",
            ErrorCode::PreconditionFailed => "Changed since you read it",
            ErrorCode::PreconditionRequired => "Version required",
            ErrorCode::VariablesMismatch => "Variables do not match",
            ErrorCode::TemplateFailed => "The template could not be rendered",
            ErrorCode::NoConnection => "No AI connection",
            ErrorCode::UserConnectionsDisabled => "Personal AI connections are disabled",
            ErrorCode::AddressNotAllowed => "Address not allowed",
            ErrorCode::ProviderUnreachable => "AI service unreachable",
            ErrorCode::ProviderTimeout => "AI service timed out",
            ErrorCode::ProviderUnauthorized => "AI service refused the key",
            ErrorCode::ProviderRateLimited => "AI service rate limit",
            ErrorCode::ProviderError => "AI service error",
            ErrorCode::ProviderInvalidResponse => "Invalid answer from the AI service",
            ErrorCode::SsoNotConfigured => "Single sign-on is not configured",
            ErrorCode::SsoInvalidState => "Sign-in expired or started elsewhere",
            ErrorCode::SsoProviderError => "The identity provider refused the sign-in",
            ErrorCode::SsoBadSignature => "The identity provider's signature is not valid",
            ErrorCode::SsoWrongAudience => "The sign-in was meant for another application",
            ErrorCode::SsoExpired => "The sign-in has expired",
            ErrorCode::SsoReplayed => "The sign-in was used already",
            ErrorCode::SsoInvalidResponse => "The identity provider's answer is not valid",
            ErrorCode::SsoEmailNotAllowed => "Email domain not allowed",
            ErrorCode::SsoUserNotProvisioned => "No account for this user",
            ErrorCode::AccountInactive => "Account deactivated",
            ErrorCode::PasswordSignInDisabled => "Password sign-in is disabled",
            ErrorCode::BreakGlassRequired => "A break-glass administrator is required",
            ErrorCode::LabelLimitReached => "Too many labels",
            ErrorCode::LabelProtected => "The label is protected",
            ErrorCode::ApprovalPending => "A request is already waiting",
            ErrorCode::ApprovalClosed => "The request is closed",
            ErrorCode::OwnApproval => "Another person must decide",
            ErrorCode::WebhookLimitReached => "Too many webhooks",
            ErrorCode::ServiceUnavailable => "Service unavailable",
            ErrorCode::DatabaseTimeout => "Database timed out",
            ErrorCode::InternalError => "Internal server error",
        }
    }

    /// The code as it is sent (`not_found`).
    pub fn name(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }

    /// The `type` URI of the problem document.
    pub fn type_uri(self) -> String {
        format!("/api/problems/{}", self.name())
    }
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field's name as it appears in the request (`email`, `tags[2]`).
    pub field: String,
    /// Why it was refused, for people.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The stable code to match on.
    pub code: ErrorCode,
    /// Per-field validation errors, when `code` is `validation_failed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// With `precondition_failed`: the version stored now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u32>,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            problem_type: code.type_uri(),
            title: code.title().to_owned(),
            status: code.status(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
            current_version: None,
        }
    }
}

/// `GET /healthz`: the process is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// Always `ok` when the server answers.
    pub status: String,
    /// The server's version.
    pub version: String,
}

/// `GET /readyz`: the process can serve requests (its database answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serialises_as_rfc9457_with_code() {
        let p = Problem::new(ErrorCode::NotFound, Some("no such prompt".to_owned()));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "/api/problems/not_found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["code"], "not_found");
        assert_eq!(v["title"], "Not found");
        assert_eq!(v["detail"], "no such prompt");
        assert!(v.get("errors").is_none());
    }
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The organisation's subdomain. When absent, it is taken from the request's host
    /// (`acme.prompts.example.com` → `acme`), else `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// A user as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: crate::UserId,
    pub tenant_id: crate::TenantId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: crate::user::Role,
    pub is_active: bool,
    /// An admin of the system tenant, who manages every tenant.
    pub is_system_admin: bool,
    pub last_login_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantView {
    pub id: crate::TenantId,
    pub name: String,
    pub subdomain: String,
    pub max_users: u32,
    /// Prompts the tenant may keep.
    pub max_prompts: u64,
    /// Bytes of prompt history (every version's title and content) the tenant may keep.
    pub max_stored_bytes: u64,
    /// Prompts it keeps now.
    pub prompt_count: u64,
    /// Bytes of prompt history it keeps now.
    pub stored_bytes: u64,
    pub is_active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new session: send `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionResponse {
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub user: UserView,
    pub tenant: TenantView,
}

/// `GET /api/v1/auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeResponse {
    pub user: UserView,
    pub tenant: TenantView,
}

/// `PATCH /api/v1/auth/me`: absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateProfileRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
}

/// `PUT /api/v1/auth/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateApiTokenRequest {
    /// A label to recognise the token by (1–100 characters).
    pub name: String,
    /// Defaults to `read`.
    #[serde(default = "default_scope")]
    pub scope: crate::session::TokenScope,
    /// Days until the token stops working (1–3650); absent: it does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
}

fn default_scope() -> crate::session::TokenScope {
    crate::session::TokenScope::Read
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenView {
    pub id: crate::ApiTokenId,
    pub name: String,
    /// The token's first characters, to tell tokens apart.
    pub prefix: String,
    pub scope: crate::session::TokenScope,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A just-created API token. `token` is shown this once and cannot be retrieved again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiToken {
    pub token: String,
    #[serde(flatten)]
    pub details: ApiTokenView,
}

/// `GET /api/v1/tokens`: the caller's live tokens, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiTokenList {
    pub items: Vec<ApiTokenView>,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    pub id: crate::AuditEventId,
    pub tenant_id: Option<crate::TenantId>,
    /// The acting user; absent when the system acted.
    pub actor_user_id: Option<crate::UserId>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub details: serde_json::Value,
    pub client_addr: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /api/v1/audit-events`, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEventList {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/tenants`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantList {
    pub items: Vec<TenantView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateTenantRequest {
    pub name: String,
    /// Lowercase letters, digits and inner hyphens; unique.
    pub subdomain: String,
    /// Active users allowed (1–1,000,000); default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<u32>,
}

/// `PATCH /api/v1/tenants/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateTenantRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_users: Option<u32>,
    /// Prompts the tenant may keep (1–100,000,000; default 100,000). Lowering it below what
    /// the tenant holds refuses new prompts until it is under again; nothing is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prompts: Option<u64>,
    /// Bytes of prompt history the tenant may keep (1 KiB–1 TiB; default 1 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stored_bytes: Option<u64>,
    /// `false` deactivates: its users can no longer sign in and their sessions end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// `GET /api/v1/users`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateUserRequest {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    pub role: crate::user::Role,
    /// The initial password (8–1024 characters); absent for a user who signs in by SSO only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// System administrators only: the tenant to create the user in (default: their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<crate::TenantId>,
}

/// `PATCH /api/v1/users/{id}`: absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateUserRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// A role change ends the user's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::user::Role>,
    /// `false` deactivates (sessions end); `true` reactivates (within the tenant's `max_users`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// `POST /api/v1/users/{id}/password`: an administrator sets a new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetPasswordRequest {
    pub new_password: String,
}

/// Counts by a key (a role, a category, a day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Count {
    pub key: String,
    pub count: u64,
}

/// A user and how many prompts they own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contributor {
    pub user_id: crate::UserId,
    pub email: String,
    pub prompts: u64,
}

/// Usage of one tenant, or of the whole system summed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Analytics {
    pub users_total: u64,
    pub users_active: u64,
    pub users_by_role: Vec<Count>,
    pub logins_last_7_days: u64,
    pub logins_last_30_days: u64,
    pub prompts_total: u64,
    pub prompts_by_category: Vec<Count>,
    /// Prompts created per UTC day over the last 30 days (days without any are omitted).
    pub prompts_per_day: Vec<Count>,
    /// The five users owning the most prompts.
    pub top_contributors: Vec<Contributor>,
}

/// One tenant's row in the system-wide analytics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantUsage {
    pub tenant_id: crate::TenantId,
    pub subdomain: String,
    pub users_total: u64,
    pub users_active: u64,
    pub prompts_total: u64,
    pub logins_last_30_days: u64,
}

/// `GET /api/v1/analytics/system`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemAnalytics {
    pub totals: Analytics,
    pub tenants: Vec<TenantUsage>,
}
