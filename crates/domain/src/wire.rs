//! Request and response bodies shared by the API and the browser app.

use serde::{Deserialize, Serialize};

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
    /// Too many attempts; retry after the `Retry-After` header's seconds.
    RateLimited,
    /// Authenticated, but the caller's role does not allow this.
    Forbidden,
    /// The request conflicts with existing data (for example a duplicate name).
    Conflict,
    /// A dependency (such as the database) is unavailable; try again later.
    ServiceUnavailable,
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
            ErrorCode::RateLimited => 429,
            ErrorCode::Forbidden => 403,
            ErrorCode::Conflict => 409,
            ErrorCode::ServiceUnavailable => 503,
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
            ErrorCode::RateLimited => "Too many requests",
            ErrorCode::Forbidden => "Not allowed",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::ServiceUnavailable => "Service unavailable",
            ErrorCode::InternalError => "Internal server error",
        }
    }

    /// The `type` URI of the problem document.
    pub fn type_uri(self) -> String {
        let name =
            serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        format!("/api/problems/{name}")
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
}

/// `GET /api/v1/tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantList {
    pub items: Vec<TenantView>,
}
