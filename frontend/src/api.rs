//! Every HTTP call the app makes goes through here, with the wire types from `domain`.
//!
//! - The API's address comes from `<meta name="api-base" content="…">` in `index.html`
//!   (empty or absent: the page's own origin), so the app also works served apart from the API.
//! - The session token lives in `sessionStorage` (this browser tab's session) and is sent as
//!   `Authorization: Bearer …`. A `401` to a call that carried it forgets it and tells the
//!   handler registered with [`on_unauthorized`] (the app sends the person to the sign-in page).
//! - A failed call becomes an [`ApiFailure`] carrying the problem document's `code`, `detail`,
//!   per-field `errors` and `current_version`.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use domain::wire::Analytics;
use domain::wire::{
    ApiTokenList, ApiTokenView, AuditEventList, ChangePasswordRequest, ConflictPolicy, CreateApiTokenRequest,
    CreatePromptRequest, CreateTenantRequest, CreateUserRequest, CreatedApiToken, ErrorCode, FieldError,
    Health, ImportReport, LoginRequest, MeResponse, NameCountList, Problem, PromptDiff, PromptExport,
    PromptList, PromptVersionList, PromptView, ResetPasswordRequest, RestorePromptRequest, SessionResponse,
    SystemAnalytics, TenantList, TenantView, UpdateProfileRequest, UpdatePromptRequest, UpdateTenantRequest,
    UpdateUserRequest, UserList, UserView,
};
use domain::{ApiTokenId, PromptId, TenantId, UserId};
use gloo_net::http::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

// ---------------------------------------------------------------------------------------------
// Failures
// ---------------------------------------------------------------------------------------------

/// A failed call, ready to show to a person and to match on.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    /// The HTTP status; `0` when the server could not be reached.
    pub status: u16,
    /// The problem's stable code, when the server sent a problem document.
    pub code: Option<ErrorCode>,
    /// What went wrong, for people (the problem's `detail`, else its `title`).
    pub message: String,
    /// Per-field validation errors.
    pub errors: Vec<FieldError>,
    /// With `precondition_failed`: the version stored now.
    pub current_version: Option<u32>,
    /// With `rate_limited`: seconds to wait (`Retry-After`).
    pub retry_after: Option<u32>,
}

impl ApiFailure {
    /// A failure that happened in the browser (a file that is not JSON, a clipboard refusal…).
    pub fn local(message: impl Into<String>) -> Self {
        Self {
            status: 0,
            code: None,
            message: message.into(),
            errors: Vec::new(),
            current_version: None,
            retry_after: None,
        }
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == Some(code)
    }

    /// The message for `field` (a request field name such as `name`; `tags[2]` counts as `tags`).
    pub fn field(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|e| {
                e.field == field || e.field.strip_prefix(field).is_some_and(|rest| rest.starts_with('['))
            })
            .map(|e| e.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(seconds) = self.retry_after {
            write!(f, " Try again in {seconds} s.")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

pub type ApiResult<T> = Result<T, ApiFailure>;

fn network_failure(err: gloo_net::Error) -> ApiFailure {
    ApiFailure::local(format!("The server cannot be reached ({err})."))
}

async fn failure_from(response: Response) -> ApiFailure {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.trim().parse().ok());
    match response.json::<Problem>().await {
        Ok(problem) => ApiFailure {
            status,
            code: Some(problem.code),
            message: problem.detail.unwrap_or(problem.title),
            errors: problem.errors,
            current_version: problem.current_version,
            retry_after,
        },
        Err(_) => ApiFailure {
            status,
            code: None,
            message: format!("The server answered {status} {}.", response.status_text()),
            errors: Vec::new(),
            current_version: None,
            retry_after,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Where the API is, and the session token
// ---------------------------------------------------------------------------------------------

thread_local! {
    static API_BASE: String = read_api_base();
    static ON_UNAUTHORIZED: RefCell<Option<Rc<dyn Fn()>>> = const { RefCell::new(None) };
}

fn read_api_base() -> String {
    let content = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("meta[name='api-base']").ok().flatten())
        .and_then(|meta| meta.get_attribute("content"))
        .unwrap_or_default();
    content.trim().trim_end_matches('/').to_owned()
}

/// The absolute or root-relative address of an API path (`/api/v1/…`).
pub fn url(path: &str) -> String {
    API_BASE.with(|base| format!("{base}{path}"))
}

/// Registers what happens when the server refuses the session (`401`): the app shell sends
/// the person to the sign-in page, remembering where they were.
pub fn on_unauthorized(handler: impl Fn() + 'static) {
    ON_UNAUTHORIZED.with(|slot| *slot.borrow_mut() = Some(Rc::new(handler)));
}

fn notify_unauthorized() {
    if let Some(handler) = ON_UNAUTHORIZED.with(|slot| slot.borrow().clone()) {
        handler();
    }
}

/// The session token, kept in `sessionStorage` so it lasts as long as the browser tab.
pub mod session {
    use super::*;

    const KEY: &str = "prompt-manager.session";

    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    struct Stored {
        token: String,
        expires_at: DateTime<Utc>,
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.session_storage().ok().flatten()
    }

    fn load() -> Option<Stored> {
        let raw = storage()?.get_item(KEY).ok().flatten()?;
        serde_json::from_str(&raw).ok()
    }

    pub fn store(session: &SessionResponse) {
        let stored = Stored { token: session.token.clone(), expires_at: session.expires_at };
        if let (Some(storage), Ok(raw)) = (storage(), serde_json::to_string(&stored)) {
            let _ = storage.set_item(KEY, &raw);
        }
    }

    pub fn clear() {
        if let Some(storage) = storage() {
            let _ = storage.remove_item(KEY);
        }
    }

    /// The stored token (expired or not: the server decides).
    pub fn token() -> Option<String> {
        load().map(|stored| stored.token)
    }

    /// Whether the stored token's time is up (true when there is none).
    pub fn is_expired() -> bool {
        load().is_none_or(|stored| stored.expires_at.timestamp_millis() as f64 <= now_ms())
    }

    /// When the stored token expires, if there is one.
    pub fn expires_at() -> Option<DateTime<Utc>> {
        load().map(|s| s.expires_at)
    }

    /// Milliseconds since the epoch, from the browser's clock.
    pub fn now_ms() -> f64 {
        js_sys::Date::now()
    }
}

// ---------------------------------------------------------------------------------------------
// The one place requests are made
// ---------------------------------------------------------------------------------------------

type Query<'a> = &'a [(&'a str, String)];

fn to_json<T: Serialize>(body: &T) -> ApiResult<String> {
    serde_json::to_string(body).map_err(|e| ApiFailure::local(format!("Cannot encode the request ({e}).")))
}

/// Whether a call carries the session token, and whether its refusal ends the session.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// Sent; a `401` ends the session.
    Session,
    /// Sent; a `401` is only this call's failure (signing out).
    Quiet,
    /// Not sent (signing in).
    Omit,
}

async fn send(method: Method, path: &str, query: Query<'_>, body: Option<String>) -> ApiResult<Response> {
    send_with(Credentials::Session, method, path, query, body).await
}

async fn send_with(
    credentials: Credentials,
    method: Method,
    path: &str,
    query: Query<'_>,
    body: Option<String>,
) -> ApiResult<Response> {
    let token = if credentials == Credentials::Omit { None } else { session::token() };
    let mut builder = RequestBuilder::new(&url(path)).method(method).header("accept", "application/json");
    if !query.is_empty() {
        builder = builder.query(query.iter().map(|(k, v)| (*k, v.as_str())));
    }
    if let Some(token) = &token {
        builder = builder.header("authorization", &format!("Bearer {token}"));
    }
    let request = match body {
        Some(json) => builder.header("content-type", "application/json").body(json),
        None => builder.build(),
    }
    .map_err(network_failure)?;
    let response = request.send().await.map_err(network_failure)?;
    if response.ok() {
        return Ok(response);
    }
    // A refused session: forget it (unless it was already replaced) and let the app react.
    if response.status() == 401 && credentials == Credentials::Session && session::token() == token {
        session::clear();
        notify_unauthorized();
    }
    Err(failure_from(response).await)
}

async fn read_json<T: DeserializeOwned>(response: Response) -> ApiResult<T> {
    response.json::<T>().await.map_err(|e| ApiFailure {
        status: response.status(),
        ..ApiFailure::local(format!("The server's answer could not be read ({e})."))
    })
}

async fn get<T: DeserializeOwned>(path: &str, query: Query<'_>) -> ApiResult<T> {
    read_json(send(Method::GET, path, query, None).await?).await
}

async fn with_body<B: Serialize, T: DeserializeOwned>(method: Method, path: &str, body: &B) -> ApiResult<T> {
    read_json(send(method, path, &[], Some(to_json(body)?)).await?).await
}

async fn no_content(method: Method, path: &str, query: Query<'_>, body: Option<String>) -> ApiResult<()> {
    send(method, path, query, body).await.map(drop)
}

/// `key=value` pairs for the values that are set.
fn params<'a>(pairs: impl IntoIterator<Item = (&'a str, Option<String>)>) -> Vec<(&'a str, String)> {
    pairs.into_iter().filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v))).collect()
}

/// `GET /healthz`: is the server up, and which version is it?
pub async fn health() -> ApiResult<Health> {
    get("/healthz", &[]).await
}

// ---------------------------------------------------------------------------------------------
// Authentication and the signed-in person
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/auth/login`.
pub async fn login(request: &LoginRequest) -> ApiResult<SessionResponse> {
    let body = to_json(request)?;
    read_json(send_with(Credentials::Omit, Method::POST, "/api/v1/auth/login", &[], Some(body)).await?).await
}

/// `POST /api/v1/auth/refresh`: a new token replacing the current one.
pub async fn refresh() -> ApiResult<SessionResponse> {
    read_json(send(Method::POST, "/api/v1/auth/refresh", &[], None).await?).await
}

/// `POST /api/v1/auth/logout`.
pub async fn logout() -> ApiResult<()> {
    send_with(Credentials::Quiet, Method::POST, "/api/v1/auth/logout", &[], None).await.map(drop)
}

/// `GET /api/v1/auth/me`.
pub async fn me() -> ApiResult<MeResponse> {
    get("/api/v1/auth/me", &[]).await
}

/// `PATCH /api/v1/auth/me`.
pub async fn update_me(request: &UpdateProfileRequest) -> ApiResult<MeResponse> {
    with_body(Method::PATCH, "/api/v1/auth/me", request).await
}

/// `PUT /api/v1/auth/password`.
pub async fn change_password(request: &ChangePasswordRequest) -> ApiResult<()> {
    no_content(Method::PUT, "/api/v1/auth/password", &[], Some(to_json(request)?)).await
}

// ---------------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------------

/// The prompt list's filters, as `GET /api/v1/prompts` takes them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptQuery {
    pub q: String,
    pub category: String,
    pub tag: String,
    pub mine: bool,
    /// `Some(true)`: only enhancement prompts; `Some(false)`: only ordinary ones.
    pub enhancement: Option<bool>,
    /// `relevance`, `updated`, `created` or `name`; empty: the server's default.
    pub sort: String,
}

fn prompt_path(id: PromptId) -> String {
    format!("/api/v1/prompts/{id}")
}

/// `GET /api/v1/prompts`.
pub async fn list_prompts(query: &PromptQuery, cursor: Option<String>) -> ApiResult<PromptList> {
    let pairs = params([
        ("q", Some(query.q.trim().to_owned())),
        ("category", Some(query.category.clone())),
        ("tag", Some(query.tag.clone())),
        ("owner", query.mine.then(|| "me".to_owned())),
        ("enhancement", query.enhancement.map(|e| e.to_string())),
        ("sort", Some(query.sort.clone())),
        ("limit", Some("20".to_owned())),
        ("cursor", cursor),
    ]);
    get("/api/v1/prompts", &pairs).await
}

/// `GET /api/v1/prompts/{id}`.
pub async fn prompt(id: PromptId) -> ApiResult<PromptView> {
    get(&prompt_path(id), &[]).await
}

/// `POST /api/v1/prompts`.
pub async fn create_prompt(request: &CreatePromptRequest) -> ApiResult<PromptView> {
    with_body(Method::POST, "/api/v1/prompts", request).await
}

/// `PATCH /api/v1/prompts/{id}`; `request.version` says which version the edit is based on.
pub async fn update_prompt(id: PromptId, request: &UpdatePromptRequest) -> ApiResult<PromptView> {
    with_body(Method::PATCH, &prompt_path(id), request).await
}

/// `DELETE /api/v1/prompts/{id}`.
pub async fn delete_prompt(id: PromptId) -> ApiResult<()> {
    no_content(Method::DELETE, &prompt_path(id), &[], None).await
}

/// `GET /api/v1/prompts/{id}/versions` (newest first).
pub async fn versions(id: PromptId, cursor: Option<String>) -> ApiResult<PromptVersionList> {
    let pairs = params([("limit", Some("100".to_owned())), ("cursor", cursor)]);
    get(&format!("{}/versions", prompt_path(id)), &pairs).await
}

/// `GET /api/v1/prompts/{id}/diff?from=&to=`.
pub async fn diff(id: PromptId, from: u32, to: u32) -> ApiResult<PromptDiff> {
    let pairs = [("from", from.to_string()), ("to", to.to_string())];
    get(&format!("{}/diff", prompt_path(id)), &pairs).await
}

/// `POST /api/v1/prompts/{id}/versions/{version}/restore`, based on `current` version.
pub async fn restore(id: PromptId, version: u32, request: &RestorePromptRequest) -> ApiResult<PromptView> {
    with_body(Method::POST, &format!("{}/versions/{version}/restore", prompt_path(id)), request).await
}

/// `GET /api/v1/categories`.
pub async fn categories() -> ApiResult<NameCountList> {
    get("/api/v1/categories", &[]).await
}

/// `GET /api/v1/tags`.
pub async fn tags() -> ApiResult<NameCountList> {
    get("/api/v1/tags", &[]).await
}

/// `GET /api/v1/exports/prompts`: every prompt the caller may see, as an export file.
pub async fn export_prompts() -> ApiResult<PromptExport> {
    get("/api/v1/exports/prompts", &[]).await
}

/// `POST /api/v1/imports/prompts`.
pub async fn import_prompts(
    file: &PromptExport,
    policy: ConflictPolicy,
    dry_run: bool,
) -> ApiResult<ImportReport> {
    let policy = match policy {
        ConflictPolicy::Skip => "skip",
        ConflictPolicy::Overwrite => "overwrite",
        ConflictPolicy::Rename => "rename",
    };
    let query = [("dry_run", dry_run.to_string()), ("on_conflict", policy.to_owned())];
    read_json(send(Method::POST, "/api/v1/imports/prompts", &query, Some(to_json(file)?)).await?).await
}

// ---------------------------------------------------------------------------------------------
// API tokens
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/tokens`.
pub async fn tokens() -> ApiResult<Vec<ApiTokenView>> {
    get::<ApiTokenList>("/api/v1/tokens", &[]).await.map(|list| list.items)
}

/// `POST /api/v1/tokens`: the secret is in the answer, this once.
pub async fn create_token(request: &CreateApiTokenRequest) -> ApiResult<CreatedApiToken> {
    with_body(Method::POST, "/api/v1/tokens", request).await
}

/// `DELETE /api/v1/tokens/{id}`.
pub async fn revoke_token(id: ApiTokenId) -> ApiResult<()> {
    no_content(Method::DELETE, &format!("/api/v1/tokens/{id}"), &[], None).await
}

// ---------------------------------------------------------------------------------------------
// Administration
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/users`.
pub async fn users(q: &str, tenant: Option<TenantId>, cursor: Option<String>) -> ApiResult<UserList> {
    let pairs = params([
        ("q", Some(q.trim().to_owned())),
        ("tenant_id", tenant.map(|t| t.to_string())),
        ("limit", Some("50".to_owned())),
        ("cursor", cursor),
    ]);
    get("/api/v1/users", &pairs).await
}

/// `POST /api/v1/users`.
pub async fn create_user(request: &CreateUserRequest) -> ApiResult<UserView> {
    with_body(Method::POST, "/api/v1/users", request).await
}

/// `PATCH /api/v1/users/{id}`.
pub async fn update_user(id: UserId, request: &UpdateUserRequest) -> ApiResult<UserView> {
    with_body(Method::PATCH, &format!("/api/v1/users/{id}"), request).await
}

/// `POST /api/v1/users/{id}/password`.
pub async fn reset_password(id: UserId, request: &ResetPasswordRequest) -> ApiResult<()> {
    no_content(Method::POST, &format!("/api/v1/users/{id}/password"), &[], Some(to_json(request)?)).await
}

/// `GET /api/v1/tenants`.
pub async fn tenants(q: &str, cursor: Option<String>) -> ApiResult<TenantList> {
    let pairs =
        params([("q", Some(q.trim().to_owned())), ("limit", Some("50".to_owned())), ("cursor", cursor)]);
    get("/api/v1/tenants", &pairs).await
}

/// `POST /api/v1/tenants`.
pub async fn create_tenant(request: &CreateTenantRequest) -> ApiResult<TenantView> {
    with_body(Method::POST, "/api/v1/tenants", request).await
}

/// `PATCH /api/v1/tenants/{id}`.
pub async fn update_tenant(id: TenantId, request: &UpdateTenantRequest) -> ApiResult<TenantView> {
    with_body(Method::PATCH, &format!("/api/v1/tenants/{id}"), request).await
}

/// `DELETE /api/v1/tenants/{id}?confirm=<subdomain>`.
pub async fn delete_tenant(id: TenantId, confirm: &str) -> ApiResult<()> {
    let query = params([("confirm", Some(confirm.to_owned()))]);
    no_content(Method::DELETE, &format!("/api/v1/tenants/{id}"), &query, None).await
}

/// The audit log's filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// RFC 3339 timestamps.
    pub from: String,
    pub to: String,
}

impl AuditFilter {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        params([
            ("actor", Some(self.actor.trim().to_owned())),
            ("action", Some(self.action.clone())),
            ("target_type", Some(self.target_type.trim().to_owned())),
            ("target_id", Some(self.target_id.trim().to_owned())),
            ("from", Some(self.from.clone())),
            ("to", Some(self.to.clone())),
        ])
    }
}

/// `GET /api/v1/audit-events`.
pub async fn audit_events(filter: &AuditFilter, cursor: Option<String>) -> ApiResult<AuditEventList> {
    let mut pairs = filter.pairs();
    pairs.push(("limit", "50".to_owned()));
    if let Some(cursor) = cursor {
        pairs.push(("cursor", cursor));
    }
    get("/api/v1/audit-events", &pairs).await
}

/// `GET /api/v1/audit-events/export`: the filtered log as CSV text.
pub async fn audit_csv(filter: &AuditFilter) -> ApiResult<String> {
    let response = send(Method::GET, "/api/v1/audit-events/export", &filter.pairs(), None).await?;
    response.text().await.map_err(network_failure)
}

/// `GET /api/v1/analytics`.
pub async fn analytics() -> ApiResult<Analytics> {
    get("/api/v1/analytics", &[]).await
}

/// `GET /api/v1/analytics/system`.
pub async fn system_analytics() -> ApiResult<SystemAnalytics> {
    get("/api/v1/analytics/system", &[]).await
}
