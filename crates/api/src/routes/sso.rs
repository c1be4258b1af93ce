//! Single sign-on over HTTP: the sign-in page's options, the browser's trip to the identity
//! provider and back (`/auth/sso/{tenant}` → provider → `/auth/callback` or
//! `/auth/saml/acs`), the one-time code that hands the finished sign-in to the browser app, the
//! tenant admin's settings and "test configuration", and our SAML metadata.
//!
//! A sign-in is tied to the browser that started it by a cookie (only its hash is stored with
//! the flow): a provider answer or a hand-over code from another browser signs nobody in, so a
//! link crafted by someone else cannot sign a victim into the wrong account. Failures of the
//! browser's trip end on the web app's error page (`/login/sso-error?code=…`), and every
//! failure of a sign-in that reached a tenant is audited.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::Utc;
use domain::Secret;
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::sso::{
    FLOW_LIFETIME_MINUTES, MAX_ALLOWED_DOMAINS, MAX_CLAIM_NAME_CHARS, MAX_ROLE_RULES, MAX_RULE_VALUE_CHARS,
    SsoConfig, SsoFlow, SsoPolicy, SsoProtocol, SsoPurpose,
};
use domain::tenant::{Subdomain, Tenant};
use domain::user::Role;
use domain::wire::{
    ErrorCode, FieldError, Problem, SessionResponse, SsoExchangeRequest, SsoOptions, SsoSettingsRequest,
    SsoSettingsView, SsoSource, SsoTestResult, SsoTestStarted,
};
use persistence::{FlowLookup, FlowRefused};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::auth::{issue_session, sign_in};
use crate::access::Principal;
use crate::error::ApiError;
use crate::sso::{MAX_SAML_METADATA_BYTES, Provider, SsoFailure, SsoRuntime, Start, complete};
use crate::state::AppState;
use crate::{client, routes};

/// The cookie that ties a sign-in to its browser.
const BROWSER_COOKIE: &str = "pm_sso";
/// Where the browser app explains a failed sign-in.
const ERROR_PAGE: &str = "/login/sso-error";
/// Where the browser app exchanges the hand-over code for a session.
const SIGNED_IN_PAGE: &str = "/login/sso";
/// Where a tenant admin sees a test's findings.
const TEST_PAGE: &str = "/admin/sso";
/// The longest `login_hint` passed on to the provider.
const MAX_LOGIN_HINT_CHARS: usize = 254;

#[derive(Debug, Deserialize, IntoParams)]
pub struct OptionsQuery {
    /// The organisation's subdomain; default: from the host, as for password sign-in.
    pub tenant: Option<String>,
}

/// What the sign-in page offers for an organisation. An unknown organisation gets the same
/// answer as one without single sign-on.
#[utoipa::path(
    tag = "sso",
    params(OptionsQuery),
    responses((status = 200, description = "The organisation's sign-in options", body = SsoOptions))
)]
#[get("/auth/sso")]
pub async fn sso_options(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<OptionsQuery>,
) -> Result<web::Json<SsoOptions>, ApiError> {
    let none = SsoOptions { sso: false, protocol: None, sign_in_url: None, password_sign_in: true };
    let raw = query
        .tenant
        .clone()
        .unwrap_or_else(|| client::tenant_from_host(req.connection_info().host()).to_owned());
    let Ok(subdomain) = Subdomain::parse(raw.trim()) else {
        return Ok(web::Json(none));
    };
    let gate = sign_in(&state);
    let Some(tenant) = gate.tenant_by_subdomain(&subdomain).await?.filter(|t| t.is_active) else {
        return Ok(web::Json(none));
    };
    let stored = gate.sso_config(&tenant).await?;
    let Ok(Some(provider)) = state.sso.provider(&tenant, stored) else {
        return Ok(web::Json(none));
    };
    Ok(web::Json(SsoOptions {
        sso: provider.enabled,
        protocol: provider.enabled.then_some(provider.protocol),
        sign_in_url: provider
            .enabled
            .then(|| format!("{}/auth/sso/{}", state.sso.origin(), subdomain.as_str())),
        password_sign_in: !provider.enabled || provider.policy.password_sign_in,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StartQuery {
    /// The user's email, passed to the provider so it can skip asking for it.
    pub login_hint: Option<String>,
}

/// Starts a sign-in with the organisation's identity provider: redirects the browser there
/// (OpenID Connect authorization request, or SAML AuthnRequest over the redirect binding).
#[utoipa::path(
    tag = "sso",
    params(("tenant" = String, Path, description = "The organisation's subdomain"), StartQuery),
    responses(
        (status = 302, description = "To the identity provider (or to this server's public origin first)"),
        (status = 303, description = "To the web app's error page: `/login/sso-error?code=…`"),
    )
)]
#[get("/sso/{tenant}")]
pub async fn start_sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    tenant: web::Path<String>,
    query: web::Query<StartQuery>,
) -> HttpResponse {
    let tenant = tenant.into_inner();
    // The flow's cookie must live where the provider sends the browser back.
    let origin = state.sso.origin();
    if !on_origin_host(&req, origin) {
        return redirect(&format!("{origin}{}", req.uri()), 302);
    }
    let now = Utc::now();
    let login_hint = query
        .login_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty() && h.chars().count() <= MAX_LOGIN_HINT_CHARS);
    let browser = browser_secret(&req);
    let started = async {
        let subdomain = Subdomain::parse(tenant.trim()).map_err(|_| not_configured())?;
        let gate = sign_in(&state);
        let tenant = gate.tenant_by_subdomain(&subdomain).await?.ok_or_else(not_configured)?;
        if !tenant.is_active {
            return Err(SsoFailure::new(ErrorCode::AccountInactive, "the organisation is deactivated").into());
        }
        let provider = state.sso.provider(&tenant, gate.sso_config(&tenant).await?)?.filter(|p| p.enabled);
        let provider = provider.ok_or_else(not_configured)?;
        let (flow, url) =
            state.sso.begin(&tenant, &provider, Start::sign_in(login_hint), &browser, now).await?;
        gate.begin_sso_flow(&tenant, &flow, now).await?.map_err(too_many)?;
        Ok::<_, ApiError>(url)
    };
    match started.await {
        Ok(url) => with_browser_cookie(redirect(&url, 302), &state.sso, &browser),
        Err(err) => error_page(&err),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …), instead of a code.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The OpenID Connect redirect URI (`SSO_REDIRECT_URI`): redeems the code, verifies the ID
/// token and signs the user in (or records a test), then sends the browser to the web app.
#[utoipa::path(
    tag = "sso",
    params(CallbackQuery),
    responses(
        (status = 303, description = "To the web app: `/login/sso#code=…` (signed in), `/admin/sso?test=…` \
            (a test), or `/login/sso-error?code=…`"),
    )
)]
#[get("/callback")]
pub async fn oidc_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let query = query.into_inner();
    let now = Utc::now();
    let answer = |pending: &persistence::PendingSso, provider: Provider| {
        let state = state.clone();
        let query = &query;
        let flow = pending.flow.clone();
        async move {
            if let Some(error) = &query.error {
                let description = query.error_description.as_deref().unwrap_or_default();
                let text: String = format!("{error}: {description}").chars().take(300).collect();
                return Err(SsoFailure::new(ErrorCode::SsoProviderError, text));
            }
            if flow.protocol != SsoProtocol::Oidc {
                return Err(SsoFailure::new(
                    ErrorCode::SsoInvalidState,
                    "the sign-in was not an OpenID Connect one",
                ));
            }
            let code =
                query.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 4096).ok_or_else(|| {
                    SsoFailure::new(ErrorCode::SsoInvalidResponse, "the provider sent no authorization code")
                })?;
            state.sso.verify_oidc(&provider, &flow, code, now).await.map(|identity| (identity, None))
        }
    };
    finish(&state, &req, query.state.as_deref(), now, answer).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(non_snake_case)]
pub struct SamlPost {
    /// The IdP's response, base64 (POST binding).
    pub SAMLResponse: String,
    pub RelayState: Option<String>,
}

/// The SAML assertion consumer service (POST binding): verifies the IdP's response and signs
/// the user in (or records a test), then sends the browser to the web app.
#[utoipa::path(
    tag = "sso",
    request_body(content = SamlPost, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "To the web app: `/login/sso#code=…` (signed in), `/admin/sso?test=…` \
            (a test), or `/login/sso-error?code=…`"),
        (status = 400, description = "Not a form with `SAMLResponse`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/saml/acs")]
pub async fn saml_acs(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SamlPost>,
) -> HttpResponse {
    let form = form.into_inner();
    let now = Utc::now();
    let answer = |pending: &persistence::PendingSso, provider: Provider| {
        let state = state.clone();
        let flow = pending.flow.clone();
        let tenant = pending.tenant.clone();
        let response = form.SAMLResponse.clone();
        async move {
            if flow.protocol != SsoProtocol::Saml {
                return Err(SsoFailure::new(ErrorCode::SsoInvalidState, "the sign-in was not a SAML one"));
            }
            let (identity, assertion_id, expires_at) =
                state.sso.verify_saml(&tenant, &provider, &flow, &response, now).await?;
            Ok((identity, Some((assertion_id, expires_at))))
        }
    };
    finish(&state, &req, form.RelayState.as_deref(), now, answer).await
}

/// The provider's answer, from the state it names to where the browser goes next. `verify`
/// checks the answer for its flow and returns the identity (and, for SAML, the assertion to
/// record against replay).
async fn finish<F, Fut>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    flow_state: Option<&str>,
    now: chrono::DateTime<Utc>,
    verify: F,
) -> HttpResponse
where
    F: FnOnce(&persistence::PendingSso, Provider) -> Fut,
    Fut: std::future::Future<
            Output = Result<(domain::sso::Identity, Option<(String, chrono::DateTime<Utc>)>), SsoFailure>,
        >,
{
    let client_addr = client::address(req, &state.trusted_proxies);
    let gate = sign_in(state);
    let lookup = match flow_state.filter(|s| !s.is_empty() && s.len() <= 512) {
        Some(flow_state) => gate.take_sso_flow(&auth::sso::stored_form(flow_state), now).await,
        None => Ok(FlowLookup::Unknown),
    };
    let pending = match lookup {
        Ok(FlowLookup::Pending(pending)) => pending,
        Ok(FlowLookup::AlreadyUsed) => {
            let replayed = SsoFailure::new(ErrorCode::SsoReplayed, "this sign-in was finished already");
            return unattributed_failure(state, &client_addr, replayed, now).await;
        }
        Ok(FlowLookup::Unknown) => {
            return unattributed_failure(state, &client_addr, invalid_state(), now).await;
        }
        Err(err) => return error_page(&err.into()),
    };
    let tenant = pending.tenant.clone();
    let flow = pending.flow.clone();
    let outcome = async {
        if browser_hash(req).as_deref() != Some(flow.browser_hash.as_str()) {
            return Err(SsoFailure::new(
                ErrorCode::SsoInvalidState,
                "the answer came to another browser than the one that started the sign-in",
            )
            .into());
        }
        let provider = provider_for_flow(state, &tenant, &flow).await?;
        let (identity, assertion) = verify(&pending, provider.clone()).await?;
        let (flow, scope) = (*pending).verified();
        if let Some((assertion_id, expires_at)) = assertion {
            let repo = state.db.tenant(scope);
            if !repo.record_sso_assertion(&assertion_id, expires_at, now).await? {
                return Err(SsoFailure::new(ErrorCode::SsoReplayed, "this assertion was used already").into());
            }
        }
        complete(state, &client_addr, &flow, scope, &provider, identity, now).await
    };
    match outcome.await {
        Ok(landing) => match landing.purpose {
            SsoPurpose::SignIn => {
                redirect(&format!("{SIGNED_IN_PAGE}#code={}", landing.handoff.expose()), 303)
            }
            SsoPurpose::Test => redirect(&format!("{TEST_PAGE}?test={}", landing.handoff.expose()), 303),
        },
        Err(err) => {
            let problem = err.problem();
            let details = json!({
                "method": flow.protocol,
                "purpose": flow.purpose.as_str(),
                "reason": problem.code,
                "detail": problem.detail,
            });
            let event = NewAuditEvent {
                actor: flow.started_by.map_or(Actor::System, Actor::User),
                action: if flow.purpose == SsoPurpose::Test {
                    AuditAction::SsoTested
                } else {
                    AuditAction::LoginFailed
                },
                target_type: "sso",
                target_id: None,
                details,
                client_addr: Some(client_addr.clone()),
                at: now,
            };
            record_failure(state, Some(&tenant), event).await;
            if flow.purpose == SsoPurpose::Test && err.is_client_error() {
                return record_failed_test(state, &tenant, &flow, &err, now).await;
            }
            error_page(&err)
        }
    }
}

/// A provider answer that names no live sign-in (so no tenant): audited system-wide, once a
/// minute per client address, since anyone can send these at will.
async fn unattributed_failure(
    state: &AppState,
    client_addr: &str,
    failure: SsoFailure,
    now: chrono::DateTime<Utc>,
) -> HttpResponse {
    if state.sso.first_unattributed_failure(client_addr) {
        let event = NewAuditEvent {
            actor: Actor::System,
            action: AuditAction::LoginFailed,
            target_type: "sso",
            target_id: None,
            details: json!({ "reason": failure.code, "detail": failure.detail }),
            client_addr: Some(client_addr.to_owned()),
            at: now,
        };
        record_failure(state, None, event).await;
    }
    error_page(&failure.into())
}

/// Audits a failed sign-in; the browser's answer does not wait on it succeeding.
async fn record_failure(state: &AppState, tenant: Option<&Tenant>, event: NewAuditEvent) {
    if let Err(e) = sign_in(state).record_audit(tenant, event).await {
        tracing::warn!(error = %e, "recording a failed single sign-on failed");
    }
}

/// A test whose provider answer was refused still shows the admin why.
async fn record_failed_test(
    state: &AppState,
    tenant: &Tenant,
    flow: &SsoFlow,
    err: &ApiError,
    now: chrono::DateTime<Utc>,
) -> HttpResponse {
    let result = SsoTestResult {
        protocol: flow.protocol,
        subject: None,
        email: None,
        claims: Default::default(),
        mapped_role: None,
        existing_user: false,
        outcome: Some(err.problem().code),
        detail: err.problem().detail.clone(),
        tested_at: now,
    };
    let handoff = auth::sso::random_secret();
    let stored = async {
        let json = serde_json::to_string(&result).map_err(|e| ApiError::internal(&e))?;
        let gate = sign_in(state);
        gate.record_sso_test_failure(tenant, flow.id, &auth::sso::stored_form(handoff.expose()), json, now)
            .await?;
        Ok::<_, ApiError>(())
    };
    match stored.await {
        Ok(()) => redirect(&format!("{TEST_PAGE}?test={}", handoff.expose()), 303),
        Err(e) => error_page(&e),
    }
}

/// The provider a flow was started with: a test may try settings that are not enabled yet.
async fn provider_for_flow(state: &AppState, tenant: &Tenant, flow: &SsoFlow) -> Result<Provider, ApiError> {
    let stored = sign_in(state).sso_config(tenant).await?;
    let provider = state.sso.provider(tenant, stored)?.ok_or_else(not_configured)?;
    if flow.purpose == SsoPurpose::SignIn && !provider.enabled {
        return Err(not_configured().into());
    }
    Ok(provider)
}

/// Exchanges the one-time code of a finished sign-in for a session, in the browser that
/// started the sign-in, once, within two minutes.
#[utoipa::path(
    tag = "sso",
    request_body = SsoExchangeRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionResponse),
        (status = 400, description = "Unknown, used or expired code, or another browser (`sso_invalid_state`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The user or organisation was deactivated meanwhile (`account_inactive`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/sso/exchange")]
pub async fn exchange(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SsoExchangeRequest>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let browser = browser_hash(&req).ok_or_else(invalid_state)?;
    let code = body.into_inner().code;
    if code.is_empty() || code.len() > 128 {
        return Err(invalid_state().into());
    }
    let gate = sign_in(&state);
    let (protocol, signed_in) = gate
        .take_sso_handoff(&auth::sso::stored_form(&code), &browser, now)
        .await?
        .ok_or_else(invalid_state)?;
    if !signed_in.user.is_active || !signed_in.tenant.is_active {
        return Err(SsoFailure::new(ErrorCode::AccountInactive, "the account was deactivated").into());
    }
    let repo = state.db.tenant(signed_in.scope);
    let session =
        issue_session(&state, &req, &repo, &signed_in.tenant, &signed_in.user, Some(protocol)).await?;
    let mut response = HttpResponse::Ok().json(session);
    let mut gone = browser_cookie(&state.sso, "");
    gone.make_removal();
    response.add_cookie(&gone).map_err(|e| ApiError::internal(&e))?;
    Ok(response)
}

/// The tenant's single sign-on settings (its own, or the server-wide provider's).
#[utoipa::path(
    tag = "sso",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings; the client secret only as a hint", body = SsoSettingsView),
    )
)]
#[get("/sso")]
pub async fn get_sso_settings(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<SsoSettingsView>, ApiError> {
    let stored = state.db.tenant(principal.scope()).sso_config().await?;
    Ok(web::Json(settings_view(&state.sso, &principal.tenant, stored)))
}

/// Replaces the tenant's single sign-on settings. Closing password sign-in needs single
/// sign-on enabled and at least one active admin with a password (the break-glass account).
#[utoipa::path(
    tag = "sso",
    security(("bearer" = [])),
    request_body = SsoSettingsRequest,
    responses(
        (status = 200, description = "Saved", body = SsoSettingsView),
        (status = 409, description = "No break-glass admin (`break_glass_required`)", body = Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "Invalid settings; see `errors`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/sso")]
pub async fn put_sso_settings(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<SsoSettingsRequest>,
) -> Result<web::Json<SsoSettingsView>, ApiError> {
    let request = body.into_inner();
    let tenant = &principal.tenant;
    let now = Utc::now();
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    repo.lock_membership().await?;
    let existing = repo.sso_config().await?;
    let config = parse_settings(&state.sso, tenant, request, existing.as_ref(), now)?;
    if !config.policy.password_sign_in {
        if !config.enabled {
            return Err(ApiError::new(
                ErrorCode::BreakGlassRequired,
                "Password sign-in can only be closed while single sign-on is enabled.",
            ));
        }
        if repo.count_break_glass_admins().await? == 0 {
            return Err(ApiError::new(
                ErrorCode::BreakGlassRequired,
                "Give at least one active admin a password first: admins keep password sign-in as a break-glass \
                 account when it is closed to everyone else.",
            ));
        }
    }
    repo.save_sso_config(&config, now).await?;
    let acting = routes::acting(&state, &req, &principal);
    let details = json!({
        "protocol": config.protocol,
        "enabled": config.enabled,
        "issuer": config.issuer,
        "client_id": config.client_id,
        "client_secret_changed": existing.as_ref().map(|e| &e.client_secret_sealed) != Some(&config.client_secret_sealed),
        "allowed_domains": config.policy.allowed_domains,
        "default_role": config.policy.default_role,
        "role_claim": config.policy.role_claim,
        "role_rules": config.policy.role_rules.len(),
        "create_users": config.policy.create_users,
        "password_sign_in": config.policy.password_sign_in,
    });
    repo.record_audit(acting.event(AuditAction::SsoSettingsUpdated, "sso", tenant.id.to_string(), details))
        .await?;
    tx.commit().await?;
    Ok(web::Json(settings_view(&state.sso, tenant, Some(config))))
}

/// Removes the tenant's own settings: the server-wide provider (if any) applies again.
#[utoipa::path(
    tag = "sso",
    security(("bearer" = [])),
    responses((status = 204, description = "Removed (or there were none)"))
)]
#[delete("/sso")]
pub async fn delete_sso_settings(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let repo = state.db.tenant(principal.scope());
    if repo.delete_sso_config().await? {
        let acting = routes::acting(&state, &req, &principal);
        let event =
            acting.event(AuditAction::SsoSettingsDeleted, "sso", principal.tenant.id.to_string(), json!({}));
        repo.record_audit(event).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Starts a test sign-in with the saved settings (enabled or not): the admin's browser goes to
/// `authorize_url`, and comes back to `/admin/sso?test=<code>`. Nobody is created or signed in.
#[utoipa::path(
    tag = "sso",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Where to send the browser", body = SsoTestStarted),
        (status = 404, description = "No settings to test (`sso_not_configured`)", body = Problem,
            content_type = "application/problem+json"),
        (status = 502, description = "The provider's metadata could not be fetched (`sso_provider_error`)", body = Problem,
            content_type = "application/problem+json"),
    )
)]
#[post("/sso/test")]
pub async fn start_test(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    // The test's cookie is set on this host; the provider sends the browser back to the origin.
    if !on_origin_host(&req, state.sso.origin()) {
        return Err(ApiError::new(
            ErrorCode::SsoNotConfigured,
            format!(
                "Open the web app at {} to test single sign-on (SSO_REDIRECT_URI's address).",
                state.sso.origin()
            ),
        ));
    }
    let now = Utc::now();
    let repo = state.db.tenant(principal.scope());
    let provider =
        state.sso.provider(&principal.tenant, repo.sso_config().await?)?.ok_or_else(not_configured)?;
    let browser = browser_secret(&req);
    let (flow, url) =
        state.sso.begin(&principal.tenant, &provider, Start::test(&principal.user), &browser, now).await?;
    repo.begin_sso_flow(&flow, now).await?.map_err(too_many)?;
    Ok(with_browser_cookie(
        HttpResponse::Ok().json(SsoTestStarted { authorize_url: url }),
        &state.sso,
        &browser,
    ))
}

/// A test sign-in's findings, for the admin who started it, while its flow lasts (ten minutes).
#[utoipa::path(
    tag = "sso",
    security(("bearer" = [])),
    params(("code" = String, Path, description = "The code the test's redirect carried")),
    responses(
        (status = 200, description = "What the provider returned and what a sign-in would do", body = SsoTestResult),
        (status = 404, description = "No such test (or it expired)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sso/test/{code}")]
pub async fn get_test_result(
    state: web::Data<AppState>,
    principal: Principal,
    code: web::Path<String>,
) -> Result<web::Json<SsoTestResult>, ApiError> {
    let missing = || ApiError::not_found("No such test; it may have expired. Start a new one.");
    let code = code.into_inner();
    if code.len() > 128 {
        return Err(missing());
    }
    let repo = state.db.tenant(principal.scope());
    let json = repo
        .sso_test_result(&auth::sso::stored_form(&code), principal.user.id, Utc::now())
        .await?
        .ok_or_else(missing)?;
    Ok(web::Json(serde_json::from_str(&json).map_err(|e| ApiError::internal(&e))?))
}

/// Our SAML service-provider metadata for an organisation (its entity id is this URL).
#[utoipa::path(
    tag = "sso",
    params(("tenant" = String, Path, description = "The organisation's subdomain")),
    responses(
        (status = 200, description = "SP metadata", content_type = "application/samlmetadata+xml", body = String),
        (status = 404, description = "No such organisation", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/saml/{tenant}")]
pub async fn saml_metadata(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let missing = || ApiError::not_found("No such organisation.");
    let subdomain = Subdomain::parse(tenant.trim()).map_err(|_| missing())?;
    let tenant = sign_in(&state).tenant_by_subdomain(&subdomain).await?.ok_or_else(missing)?;
    Ok(HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(state.sso.saml_service_provider(&tenant).metadata_xml()))
}

/// The settings as a tenant admin sees them.
fn settings_view(sso: &SsoRuntime, tenant: &Tenant, stored: Option<SsoConfig>) -> SsoSettingsView {
    let service_provider = sso.service_provider_info(tenant);
    let updated_at = stored.as_ref().map(|c| c.updated_at);
    let hint = stored.as_ref().and_then(|c| c.client_secret_hint.clone());
    match sso.provider(tenant, stored) {
        Ok(Some(p)) => SsoSettingsView {
            source: p.source,
            protocol: p.protocol,
            enabled: p.enabled,
            issuer: p.issuer,
            client_id: p.client_id,
            client_secret: if p.source == SsoSource::Tenant { hint } else { None },
            saml_metadata_url: p.saml_metadata_url,
            saml_metadata_xml: p.saml_metadata_xml,
            allowed_domains: p.policy.allowed_domains,
            default_role: p.policy.default_role,
            role_claim: p.policy.role_claim,
            role_rules: p.policy.role_rules,
            create_users: p.policy.create_users,
            password_sign_in: p.policy.password_sign_in,
            service_provider,
            updated_at,
        },
        // A stored secret that no longer opens is shown as set; saving a new one fixes it.
        Err(_) | Ok(None) => SsoSettingsView {
            source: SsoSource::None,
            protocol: SsoProtocol::Oidc,
            enabled: false,
            issuer: None,
            client_id: None,
            client_secret: None,
            saml_metadata_url: None,
            saml_metadata_xml: None,
            allowed_domains: Vec::new(),
            default_role: Role::User,
            role_claim: None,
            role_rules: Vec::new(),
            create_users: false,
            password_sign_in: true,
            service_provider,
            updated_at,
        },
    }
}

/// Checks a settings request field by field and seals a new client secret.
fn parse_settings(
    sso: &SsoRuntime,
    tenant: &Tenant,
    request: SsoSettingsRequest,
    existing: Option<&SsoConfig>,
    now: chrono::DateTime<Utc>,
) -> Result<SsoConfig, ApiError> {
    let mut errors = Vec::new();
    let text = |raw: Option<String>| raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let issuer = text(request.issuer);
    let client_id = text(request.client_id);
    let saml_metadata_url = text(request.saml_metadata_url);
    let saml_metadata_xml = text(request.saml_metadata_xml);
    match request.protocol {
        SsoProtocol::Oidc => {
            match issuer.as_deref() {
                None => errors.push(FieldError::new("issuer", "is required for OpenID Connect")),
                Some(issuer) => {
                    if let Err(e) = auth::sso::oidc::issuer_url(issuer, sso.allow_private_networks()) {
                        errors.push(FieldError::new("issuer", e.to_string()));
                    }
                }
            }
            match client_id.as_deref() {
                None => errors.push(FieldError::new("client_id", "is required for OpenID Connect")),
                Some(id) if id.chars().count() > 255 => {
                    errors.push(FieldError::new("client_id", "must be at most 255 characters"))
                }
                Some(_) => {}
            }
        }
        SsoProtocol::Saml => match (&saml_metadata_url, &saml_metadata_xml) {
            (None, None) => {
                errors.push(FieldError::new("saml_metadata_url", "give the IdP's metadata URL or XML"))
            }
            (_, Some(xml)) => {
                if xml.len() > MAX_SAML_METADATA_BYTES {
                    errors.push(FieldError::new("saml_metadata_xml", "must be at most 1 MiB"));
                } else if let Err(e) = auth::sso::saml::IdpMetadata::parse(xml) {
                    errors.push(FieldError::new("saml_metadata_xml", e.to_string()));
                }
            }
            (Some(url), None) => {
                let scheme_ok = url.starts_with("https://")
                    || (url.starts_with("http://") && sso.allow_private_networks());
                if !scheme_ok || outbound::Url::parse(url).is_err() || url.len() > 2048 {
                    errors.push(FieldError::new("saml_metadata_url", "must be an https URL"));
                }
            }
        },
    }
    if request.allowed_domains.len() > MAX_ALLOWED_DOMAINS {
        errors.push(FieldError::new("allowed_domains", format!("at most {MAX_ALLOWED_DOMAINS} domains")));
    }
    let mut allowed_domains = Vec::new();
    for domain in &request.allowed_domains {
        let domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.contains('.')
            && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if valid {
            if !allowed_domains.contains(&domain) {
                allowed_domains.push(domain);
            }
        } else {
            errors.push(FieldError::new(
                "allowed_domains",
                format!("{domain:?} is not a domain like acme.com"),
            ));
        }
    }
    let role_claim = text(request.role_claim);
    if role_claim.as_ref().is_some_and(|c| c.chars().count() > MAX_CLAIM_NAME_CHARS) {
        errors.push(FieldError::new(
            "role_claim",
            format!("must be at most {MAX_CLAIM_NAME_CHARS} characters"),
        ));
    }
    if request.role_rules.len() > MAX_ROLE_RULES {
        errors.push(FieldError::new("role_rules", format!("at most {MAX_ROLE_RULES} rules")));
    }
    if request
        .role_rules
        .iter()
        .any(|r| r.value.trim().is_empty() || r.value.chars().count() > MAX_RULE_VALUE_CHARS)
    {
        errors.push(FieldError::new(
            "role_rules",
            format!("each value must be 1 to {MAX_RULE_VALUE_CHARS} characters"),
        ));
    }
    if !request.role_rules.is_empty() && role_claim.is_none() {
        errors.push(FieldError::new("role_claim", "is required when there are role rules"));
    }
    let secret = request.client_secret.filter(|s| !s.is_empty());
    if secret.as_ref().is_some_and(|s| s.len() > 1024) {
        errors.push(FieldError::new("client_secret", "must be at most 1024 characters"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (client_secret_sealed, client_secret_hint) = match (secret, request.clear_client_secret) {
        (Some(secret), _) => {
            let hint = domain::ai::key_hint(&secret);
            let sealed = sso
                .sealer()
                .seal(&Secret::new(secret), &SsoRuntime::secret_context(tenant))
                .map_err(|e| ApiError::internal(&e))?;
            (Some(Secret::new(sealed)), Some(hint))
        }
        (None, true) => (None, None),
        (None, false) => (
            existing.and_then(|e| e.client_secret_sealed.clone()),
            existing.and_then(|e| e.client_secret_hint.clone()),
        ),
    };
    Ok(SsoConfig {
        tenant_id: tenant.id,
        protocol: request.protocol,
        enabled: request.enabled,
        issuer,
        client_id,
        client_secret_sealed,
        client_secret_hint,
        saml_metadata_url,
        saml_metadata_xml,
        policy: SsoPolicy {
            allowed_domains,
            default_role: request.default_role.unwrap_or(Role::User),
            role_claim,
            role_rules: request
                .role_rules
                .into_iter()
                .map(|r| domain::sso::RoleRule { value: r.value.trim().to_owned(), role: r.role })
                .collect(),
            create_users: request.create_users,
            password_sign_in: request.password_sign_in,
        },
        updated_at: now,
    })
}

fn not_configured() -> SsoFailure {
    SsoFailure::new(ErrorCode::SsoNotConfigured, "this organisation has no single sign-on")
}

fn invalid_state() -> SsoFailure {
    SsoFailure::new(ErrorCode::SsoInvalidState, "the sign-in is unknown or expired; start again")
}

fn too_many(_: FlowRefused) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        "Too many sign-ins are in progress for this organisation; try again shortly.",
    )
}

/// The browser's existing sign-in cookie (so sign-ins in two tabs both work), else a new one.
fn browser_secret(req: &HttpRequest) -> Secret<String> {
    req.cookie(BROWSER_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit()))
        .map_or_else(auth::sso::random_secret, Secret::new)
}

fn browser_hash(req: &HttpRequest) -> Option<String> {
    req.cookie(BROWSER_COOKIE).map(|c| auth::sso::stored_form(c.value()))
}

/// HttpOnly, for the flow's lifetime. `SameSite=None; Secure` over https and on loopback,
/// since the SAML response is a cross-site POST from the IdP; over other plain http `Lax`
/// (OpenID Connect still works: its return is a top-level GET).
fn browser_cookie<'c>(sso: &SsoRuntime, value: &'c str) -> Cookie<'c> {
    let mut cookie = Cookie::build(BROWSER_COOKIE, value)
        .path("/")
        .http_only(true)
        .max_age(actix_web::cookie::time::Duration::minutes(FLOW_LIFETIME_MINUTES))
        .finish();
    if sso.secure() {
        cookie.set_secure(true);
        cookie.set_same_site(SameSite::None);
    } else {
        cookie.set_same_site(SameSite::Lax);
    }
    cookie
}

fn with_browser_cookie(
    mut response: HttpResponse,
    sso: &SsoRuntime,
    browser: &Secret<String>,
) -> HttpResponse {
    if let Err(e) = response.add_cookie(&browser_cookie(sso, browser.expose())) {
        return error_page(&ApiError::internal(&e));
    }
    response
}

fn redirect(location: &str, status: u16) -> HttpResponse {
    let status =
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::SEE_OTHER);
    HttpResponse::build(status)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn error_page(err: &ApiError) -> HttpResponse {
    let code = err.problem().code;
    if !err.is_client_error() {
        tracing::warn!(error = %err.describe(), "a single sign-on step failed");
    }
    redirect(&format!("{ERROR_PAGE}?code={}", code.name()), 303)
}

/// Whether the request came to the host of the flow's origin. Only the host counts: a proxy
/// that terminates TLS without saying so must not send the browser round in circles.
fn on_origin_host(req: &HttpRequest, origin: &str) -> bool {
    let host = origin.split_once("://").map_or(origin, |(_, host)| host);
    req.connection_info().host().eq_ignore_ascii_case(host)
}
