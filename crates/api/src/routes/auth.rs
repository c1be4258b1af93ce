//! Sign-in, sessions and self-service.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, patch, post, put, web};
use auth::login_throttle::Gate;
use auth::password::Verification;
use auth::session_token::SessionClaims;
use chrono::Utc;
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::session::Session;
use domain::sso::SsoProtocol;
use domain::tenant::{Subdomain, Tenant};
use domain::user::{Email, User, check_new_password, normalize_name};
use domain::wire::{
    ChangePasswordRequest, ErrorCode, FieldError, LoginRequest, LogoutResponse, MeResponse, Problem,
    SessionResponse, UpdateProfileRequest,
};
use persistence::{Authenticated, AuthenticationRepo, SignInAccount, TenantRepo};

use crate::access::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{client, views};

/// Signs in with email and password. Every failure gets the same `invalid_credentials` answer.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 401, description = "Unknown email, wrong password, or inactive user or tenant", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "Malformed email or tenant", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[post("/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password, tenant } = body.into_inner();
    let tenant_name =
        tenant.unwrap_or_else(|| client::tenant_from_host(req.connection_info().host()).to_owned());
    let mut errors = Vec::new();
    let email = Email::parse(&email).map_err(|e| errors.push(FieldError::new("email", e.to_string()))).ok();
    let subdomain = Subdomain::parse(tenant_name.trim())
        .map_err(|e| errors.push(FieldError::new("tenant", e.to_string())))
        .ok();
    let (Some(email), Some(subdomain)) = (email, subdomain) else {
        return Err(ApiError::validation(errors));
    };

    let addr = client::address(&req, &state.trusted_proxies);
    let throttle_key = format!("{}/{}", subdomain.as_str(), email.as_str());
    let now = Utc::now();
    let audit = |action, target_id: Option<String>, details| NewAuditEvent {
        actor: Actor::System,
        action,
        target_type: "user",
        target_id,
        details,
        client_addr: Some(addr.clone()),
        at: now,
    };

    match state.login_throttle.check(&throttle_key, &addr, Instant::now()) {
        Gate::Closed { retry_after, report } => {
            // A refusal costs no hashing and, but for the first of its bucket and window, no
            // query and no audit row: a flood of them cannot flood the log.
            if report {
                let gate = sign_in(&state);
                let tenant = gate.tenant_by_subdomain(&subdomain).await?;
                let event =
                    audit(AuditAction::LoginThrottled, None, serde_json::json!({ "email": email.as_str() }));
                gate.record_audit(tenant.as_ref(), event).await?;
            }
            let mut response =
                ApiError::new(ErrorCode::RateLimited, "Too many failed sign-ins. Try again later.")
                    .error_response();
            response.headers_mut().insert(header::RETRY_AFTER, retry_after.as_secs().into());
            return Ok(response);
        }
        Gate::Open { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        Gate::Open { .. } => {}
    }

    // The lookups end before hashing, so a flood of sign-ins holds no database connection.
    let (tenant, candidate) = {
        let gate = sign_in(&state);
        let tenant = gate.tenant_by_subdomain(&subdomain).await?;
        let candidate = match &tenant {
            Some(t) if t.is_active => gate.account(t, &email).await?,
            _ => None,
        };
        (tenant, candidate)
    };
    let (account, failure) = match (&tenant, candidate) {
        (None, _) => (None, "unknown_tenant"),
        (Some(t), _) if !t.is_active => (None, "inactive_tenant"),
        (Some(_), None) => (None, "unknown_user"),
        (Some(_), Some(a)) if !a.user.is_active => (None, "inactive_user"),
        (Some(_), Some(a)) if a.password_hash.is_none() => (None, "no_password"),
        (Some(_), Some(a)) => (Some(a), "wrong_password"),
    };
    // Exactly one PBKDF2 verification on every path, so timing does not tell the cases apart.
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let has_hash = stored_hash.is_some();
    let hash = stored_hash.unwrap_or_else(|| state.dummy_password_hash.clone());
    let attempt = password.clone();
    let verification = state.passwords.run(move |hasher| hasher.verify(&attempt, hash.expose())).await?;
    let password_ok = has_hash && matches!(verification, Verification::Valid { .. });

    let Some(signed_in) = account.filter(|_| password_ok).map(SignInAccount::verified) else {
        state.login_throttle.record_failure(&throttle_key, &addr, Instant::now());
        let event = audit(
            AuditAction::LoginFailed,
            None,
            serde_json::json!({ "email": email.as_str(), "reason": failure }),
        );
        let gate = sign_in(&state);
        gate.record_audit(tenant.as_ref(), event).await?;
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "The email, password or organisation is not right.",
        ));
    };

    // Checked only once the password is right, so the answer tells nobody else anything.
    let provider =
        state.sso.provider(&signed_in.tenant, sign_in(&state).sso_config(&signed_in.tenant).await?);
    if let Ok(Some(provider)) = provider
        && provider.enabled
        && !provider.policy.allows_password(signed_in.user.role)
    {
        let details = serde_json::json!({ "email": email.as_str(), "reason": "password_sign_in_disabled" });
        let event = audit(AuditAction::LoginFailed, Some(signed_in.user.id.to_string()), details);
        sign_in(&state).record_audit(Some(&signed_in.tenant), event).await?;
        return Err(ApiError::new(
            ErrorCode::PasswordSignInDisabled,
            "Your organisation signs in with single sign-on; use \"Sign in with single sign-on\".",
        ));
    }
    state.login_throttle.record_success(&throttle_key, &addr);
    let new_hash = match verification {
        Verification::Valid { needs_rehash: true } => {
            match state.passwords.run(move |hasher| hasher.hash(&password)).await? {
                Ok(hash) => Some(hash),
                Err(err) => {
                    tracing::warn!(error = %err, "re-hashing a password at sign-in failed");
                    None
                }
            }
        }
        _ => None,
    };
    let Authenticated { user, tenant, scope, .. } = signed_in;
    let repo = state.db.tenant(scope);
    if let Some(hash) = new_hash {
        repo.set_password_hash(user.id, hash, now).await?;
    }
    repo.record_login(user.id, now).await?;
    let user = User { last_login_at: Some(now), ..user };
    let event = audit(AuditAction::LoginSucceeded, Some(user.id.to_string()), serde_json::json!({}));
    repo.record_audit(NewAuditEvent { actor: Actor::User(user.id), ..event }).await?;
    let session = issue_session(&state, &req, &repo, &tenant, &user, None).await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Ends the current session at once. For a session signed in through the organisation's
/// OpenID Connect provider, the answer carries the provider's sign-out page (when it publishes
/// one), so the browser can end the provider's session too.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Signed out", body = LogoutResponse),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
) -> Result<web::Json<LogoutResponse>, ApiError> {
    let now = Utc::now();
    let repo = state.db.tenant(principal.scope());
    let mut signed_in_with = None;
    if let Some(id) = principal.session_id() {
        signed_in_with = repo.session(id).await?.and_then(|s| s.sso_protocol);
        repo.revoke_session(id, now).await?;
    }
    repo.record_audit(self_event(&state, &req, &principal, AuditAction::Logout, serde_json::json!({}), now))
        .await?;
    let end_session_url = match signed_in_with {
        Some(_) => match state.sso.provider(&principal.tenant, repo.sso_config().await?) {
            Ok(Some(provider)) => state.sso.end_session_url(&provider).await,
            _ => None,
        },
        None => None,
    };
    Ok(web::Json(LogoutResponse { end_session_url }))
}

/// Replaces the current session with a new one; the old token stops working.
///
/// The new session continues the old one's chain, which ends `SESSION_ABSOLUTE_LIFETIME` after
/// the sign-in: no session outlives that, and once the current one ends there, refreshing
/// answers `session_expired` (sign in again).
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new session", body = SessionResponse),
        (status = 401, description = "Not signed in (`unauthorized`), or the session's chain of refreshes has \
            reached its absolute lifetime (`session_expired`)", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let ended = || ApiError::new(ErrorCode::Unauthorized, "The session has ended.");
    let old_id = principal.session_id().ok_or_else(ended)?;
    let now = Utc::now();
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let old = repo.session(old_id).await?.filter(|s| s.is_live(now)).ok_or_else(ended)?;
    let expires_at = old.refreshed_expiry(now, state.session_lifetimes).ok_or_else(|| {
        ApiError::new(
            ErrorCode::SessionExpired,
            "This session has reached its longest lifetime since sign-in. Sign in again.",
        )
    })?;
    // Only one refresh of a session wins: a concurrent one finds it revoked and gets a 401.
    if !repo.revoke_session(old_id, now).await? {
        return Err(ended());
    }
    let client = client::info(&req, &state.trusted_proxies);
    let session =
        repo.create_session_in_chain(principal.user.id, expires_at, old.chain(), &client, now).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(sign_session(&state, &principal.tenant, &principal.user, &session)?))
}

/// The signed-in user and their tenant.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/me")]
pub async fn me(principal: Principal) -> web::Json<MeResponse> {
    web::Json(MeResponse {
        user: views::user(&principal.user, &principal.tenant),
        tenant: views::tenant(&principal.tenant),
    })
}

/// Changes the caller's own first and last name.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses(
        (status = 200, description = "Updated", body = MeResponse),
        (status = 422, description = "A name is too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/auth/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<UpdateProfileRequest>,
) -> Result<web::Json<MeResponse>, ApiError> {
    let UpdateProfileRequest { first_name, last_name } = body.into_inner();
    let mut errors = Vec::new();
    let mut check = |field: &str, value: Option<String>| {
        value.and_then(|v| normalize_name(&v).map_err(|m| errors.push(FieldError::new(field, m))).ok())
    };
    let first_name = check("first_name", first_name);
    let last_name = check("last_name", last_name);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let now = Utc::now();
    let before =
        serde_json::json!({ "first_name": principal.user.first_name, "last_name": principal.user.last_name });
    let repo = state.db.tenant(principal.scope());
    let user = repo
        .update_names(principal.user.id, first_name, last_name, now)
        .await?
        .ok_or_else(|| ApiError::not_found("Your account no longer exists."))?;
    let after = serde_json::json!({ "first_name": user.first_name, "last_name": user.last_name });
    if before != after {
        let details = serde_json::json!({ "before": before, "after": after });
        repo.record_audit(self_event(&state, &req, &principal, AuditAction::ProfileUpdated, details, now))
            .await?;
    }
    Ok(web::Json(MeResponse {
        user: views::user(&user, &principal.tenant),
        tenant: views::tenant(&principal.tenant),
    }))
}

/// Changes the caller's password. Needs the current one; ends every other session.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; other sessions ended"),
        (status = 422, description = "Current password wrong, or new password unacceptable", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[put("/auth/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let ChangePasswordRequest { current_password, new_password } = body.into_inner();
    let stored = state.db.tenant(principal.scope()).password_hash(principal.user.id).await?;
    let has_hash = stored.is_some();
    let stored = stored.unwrap_or_else(|| state.dummy_password_hash.clone());
    let current = current_password.clone();
    let verification = state.passwords.run(move |hasher| hasher.verify(&current, stored.expose())).await?;
    let mut errors = Vec::new();
    if !has_hash || verification == Verification::Invalid {
        errors.push(FieldError::new("current_password", "is not your current password"));
    }
    if let Err(reason) = check_new_password(&new_password, &principal.user.email) {
        errors.push(FieldError::new("new_password", reason));
    } else if new_password == current_password {
        errors.push(FieldError::new("new_password", "must differ from the current password"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let hash = state
        .passwords
        .run(move |hasher| hasher.hash(&new_password))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let now = Utc::now();
    let repo = state.db.tenant(principal.scope());
    repo.set_password_hash(principal.user.id, hash, now).await?;
    let ended = repo.revoke_user_sessions(principal.user.id, principal.session_id(), now).await?;
    let details = serde_json::json!({ "other_sessions_ended": ended });
    repo.record_audit(self_event(&state, &req, &principal, AuditAction::PasswordChanged, details, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Opens a session (the start of a chain of refreshes) and signs its token.
/// Opens a session for a verified sign-in (`sso_protocol` for one through the identity provider).
pub(crate) async fn issue_session(
    state: &AppState,
    req: &HttpRequest,
    repo: &TenantRepo,
    tenant: &Tenant,
    user: &User,
    sso_protocol: Option<SsoProtocol>,
) -> Result<SessionResponse, ApiError> {
    let now = Utc::now();
    let expires_at = state.session_lifetimes.expiry(now, now);
    let client = client::info(req, &state.trusted_proxies);
    let session = repo.create_session(user.id, expires_at, sso_protocol, &client, now).await?;
    sign_session(state, tenant, user, &session)
}

/// The signed token for a stored session, and who it is for.
fn sign_session(
    state: &AppState,
    tenant: &Tenant,
    user: &User,
    session: &Session,
) -> Result<SessionResponse, ApiError> {
    let claims =
        SessionClaims::new(user.id, tenant.id, user.role, session.id, session.created_at, session.expires_at);
    let token = state.session_tokens.sign(&claims).map_err(|e| ApiError::internal(&e))?;
    Ok(SessionResponse {
        token,
        token_type: "Bearer".to_owned(),
        expires_at: session.expires_at,
        user: views::user(user, tenant),
        tenant: views::tenant(tenant),
    })
}

/// An audit event about the caller's own account.
pub fn self_event(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    action: AuditAction,
    details: serde_json::Value,
    at: chrono::DateTime<Utc>,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: Actor::User(principal.user.id),
        action,
        target_type: "user",
        target_id: Some(principal.user.id.to_string()),
        details,
        client_addr: Some(client::address(req, &state.trusted_proxies)),
        at,
    }
}

/// The lookups of a sign-in, before anyone is authenticated (allowed here and in `access`; the
/// single sign-on routes use this one).
#[allow(clippy::disallowed_methods)]
pub(crate) fn sign_in(state: &AppState) -> AuthenticationRepo {
    state.db.authentication()
}
