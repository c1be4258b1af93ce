//! API tokens for integrations: create (secret shown once), list, revoke.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::Utc;
use domain::ApiTokenId;
use domain::audit::AuditAction;
use domain::session::{NewApiToken, TokenScope};
use domain::user::Role;
use domain::wire::{ApiTokenList, CreateApiTokenRequest, CreatedApiToken, FieldError, Problem};

use crate::access::Principal;
use crate::error::ApiError;
use crate::routes::auth::self_event;
use crate::state::AppState;
use crate::views;

const MAX_TOKEN_NAME_LEN: usize = 100;
const MAX_TOKEN_DAYS: u32 = 3650;

/// The caller's tokens that still work, newest first (never their secrets).
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's live tokens", body = ApiTokenList),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tokens")]
pub async fn list_tokens(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<ApiTokenList>, ApiError> {
    let tokens = state.db.tenant(principal.scope()).live_api_tokens(principal.user.id, Utc::now()).await?;
    Ok(web::Json(ApiTokenList { items: tokens.iter().map(views::api_token).collect() }))
}

/// Creates a token that acts as the caller, within its scope and never beyond the caller's
/// role. The secret is in this response only.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    request_body = CreateApiTokenRequest,
    responses(
        (status = 201, description = "Created; keep `token`, it is not shown again", body = CreatedApiToken),
        (status = 422, description = "Invalid name, scope or expiry", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tokens")]
pub async fn create_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<CreateApiTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let CreateApiTokenRequest { name, scope, expires_in_days } = body.into_inner();
    let name = name.trim().to_owned();
    let mut errors = Vec::new();
    if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME_LEN {
        errors.push(FieldError {
            field: "name".into(),
            message: format!("must be 1 to {MAX_TOKEN_NAME_LEN} characters"),
        });
    }
    if principal.user.role == Role::Readonly && scope != TokenScope::Read {
        errors.push(FieldError {
            field: "scope".into(),
            message: "read-only users can create read tokens only".into(),
        });
    }
    if principal.user.role == Role::User && scope == TokenScope::Promote {
        errors.push(FieldError {
            field: "scope".into(),
            message: "only administrators can create promote tokens".into(),
        });
    }
    if expires_in_days.is_some_and(|days| !(1..=MAX_TOKEN_DAYS).contains(&days)) {
        errors.push(FieldError {
            field: "expires_in_days".into(),
            message: format!("must be 1 to {MAX_TOKEN_DAYS}"),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }

    let now = Utc::now();
    let generated = auth::api_token::generate();
    let repo = state.db.tenant(principal.scope());
    let token = repo
        .create_api_token(
            NewApiToken {
                user_id: principal.user.id,
                name,
                prefix: generated.prefix,
                token_hash: generated.hash,
                scope,
                expires_at: expires_in_days.map(|days| now + chrono::Duration::days(i64::from(days))),
            },
            now,
        )
        .await?;
    let details = serde_json::json!({ "token_id": token.id, "name": token.name, "prefix": token.prefix, "scope": token.scope });
    repo.record_audit(self_event(&state, &req, &principal, AuditAction::ApiTokenCreated, details, now))
        .await?;
    Ok(HttpResponse::Created().json(CreatedApiToken {
        token: generated.secret.expose().clone(),
        details: views::api_token(&token),
    }))
}

/// Revokes one of the caller's tokens at once.
#[utoipa::path(
    tag = "tokens",
    security(("bearer" = [])),
    params(("id" = ApiTokenId, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such live token of yours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<ApiTokenId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let now = Utc::now();
    let repo = state.db.tenant(principal.scope());
    if !repo.revoke_api_token(principal.user.id, id, now).await? {
        return Err(ApiError::not_found("You have no live token with this id."));
    }
    let details = serde_json::json!({ "token_id": id });
    repo.record_audit(self_event(&state, &req, &principal, AuditAction::ApiTokenRevoked, details, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
