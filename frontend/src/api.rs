//! Every HTTP call the app makes goes through here, with the wire types from `domain`.
//!
//! - The API's address comes from `<meta name="api-base" content="…">` in `index.html`
//!   (empty or absent: the page's own origin), so the app also works served apart from the API.
//! - The session token lives in `sessionStorage` (this browser tab's session) and is sent as
//!   `Authorization: Bearer …`. A `401` to a call that carried it forgets it and tells the
//!   handler registered with [`on_unauthorized`] (the app sends the person to the sign-in page).
//! - A failed call becomes an [`ApiFailure`] carrying the problem document's `code`, `detail`,
//!   per-field `errors` and `current_version`.
//! - A streamed run is read from the response body as it arrives (server-sent events, see
//!   [`run_prompt_streaming`]); an `AbortSignal` stops it.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use chrono::{DateTime, Utc};
use domain::release::ApprovalStatus;
use domain::webhook::DeliveryStatus;
use domain::wire::Analytics;
use domain::wire::{
    AcceptEnhancementRequest, AiPolicy, AiSettingsView, CompareRequest, CompareResult, ConnectionList,
    ConnectionRequest, ConnectionTestResult, ConnectionView, EnhanceRequest, EnhanceResult, ProviderInfo,
    RunAnalytics, RunDelta, RunList, RunRecordView, RunRequest, RunResult, TokenCount, TokenCountRequest,
    UpdateAiSettingsRequest,
};
use domain::wire::{
    ApiTokenList, ApiTokenView, AuditEventList, ChangePasswordRequest, ConflictPolicy, CreateApiTokenRequest,
    CreatePromptRequest, CreateTenantRequest, CreateUserRequest, CreatedApiToken, ErrorCode, FieldError,
    FolderList, Health, ImpactReport, ImportReport, LabelList, LabelMoveList, LabelMoveView,
    LabelReasonRequest, LabelView, LoginRequest, MeResponse, MoveLabelRequest, NameCountList, Problem,
    PromptDiff, PromptExport, PromptList, PromptVersionList, PromptVersionView, PromptView, RenderRequest,
    RenderResponse, ResetPasswordRequest, RestorePromptRequest, SessionResponse, SystemAnalytics, TenantList,
    TenantView, UpdateProfileRequest, UpdatePromptRequest, UpdateTenantRequest, UpdateUserRequest,
    UsedByList, UserList, UserView,
};
use domain::wire::{ApprovalDecisionRequest, ApprovalList, ApprovalView, LabelStats, ReleasePolicyView};
use domain::wire::{
    CreateWebhookRequest, DeliveryDetail, DeliveryList, DeliveryView, UpdateWebhookRequest, WebhookList,
    WebhookView, WebhookWithSecret,
};
use domain::wire::{
    LogoutResponse, SsoExchangeRequest, SsoOptions, SsoSettingsRequest, SsoSettingsView, SsoTestResult,
    SsoTestStarted,
};
use domain::{ApiTokenId, ApprovalId, ConnectionId, PromptId, RunId, TenantId, UserId};
use domain::{DeliveryId, WebhookId};
use gloo_net::http::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, ReadableStreamDefaultReader, ReadableStreamReadResult};

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
    /// The problem's `title` (the same for every occurrence of its code), when there was one.
    pub title: Option<String>,
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
            title: None,
            message: message.into(),
            errors: Vec::new(),
            current_version: None,
            retry_after: None,
        }
    }

    /// Fields checked in the browser and found wrong, named as the server names them, so they
    /// show next to the same inputs as the server's own `validation_failed`.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        Self {
            status: 422,
            code: Some(ErrorCode::ValidationFailed),
            errors,
            ..Self::local("Please correct the marked fields.")
        }
    }

    /// A problem document the server sent inside a successful answer (a streamed run's
    /// `error` event, a failed connection test, one side of a comparison).
    pub fn from_problem(problem: Problem) -> Self {
        Self {
            status: problem.status,
            code: Some(problem.code),
            message: problem.detail.unwrap_or_else(|| problem.title.clone()),
            title: Some(problem.title),
            errors: problem.errors,
            current_version: problem.current_version,
            retry_after: None,
        }
    }

    pub fn is(&self, code: ErrorCode) -> bool {
        self.code == Some(code)
    }

    /// The message for exactly `field`, not for its parts (`messages`, not `messages[2].content`).
    pub fn field_only(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> =
            self.errors.iter().filter(|e| e.field == field).map(|e| e.message.as_str()).collect();
        (!messages.is_empty()).then(|| messages.join("; "))
    }

    /// Whether any error is for `prefix` or one of its parts (`settings` covers `settings.stop[1]`).
    pub fn has_field_under(&self, prefix: &str) -> bool {
        self.errors.iter().any(|e| {
            e.field.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        })
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
        Ok(problem) => ApiFailure { status, retry_after, ..ApiFailure::from_problem(problem) },
        Err(_) => ApiFailure {
            status,
            code: None,
            title: None,
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
    let call = Call { credentials, accept: "application/json", signal: None };
    send_call(call, method, path, query, body).await
}

/// How one request is made: its credentials, what it accepts, and what can abort it.
struct Call<'a> {
    credentials: Credentials,
    accept: &'static str,
    signal: Option<&'a AbortSignal>,
}

async fn send_call(
    call: Call<'_>,
    method: Method,
    path: &str,
    query: Query<'_>,
    body: Option<String>,
) -> ApiResult<Response> {
    let credentials = call.credentials;
    let token = if credentials == Credentials::Omit { None } else { session::token() };
    let mut builder = RequestBuilder::new(&url(path))
        .method(method)
        .header("accept", call.accept)
        .abort_signal(call.signal);
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

/// `POST /api/v1/auth/logout`: for a single sign-on session, also where to sign out at the
/// identity provider. (An older server's `204` counts as "nowhere".)
pub async fn logout() -> ApiResult<LogoutResponse> {
    let response = send_with(Credentials::Quiet, Method::POST, "/api/v1/auth/logout", &[], None).await?;
    if response.status() == 204 {
        return Ok(LogoutResponse { end_session_url: None });
    }
    read_json(response).await
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
// Single sign-on
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/auth/sso?tenant=` (anonymous): what the sign-in page offers for an organisation
/// (`None`: the one the server takes from the host).
pub async fn sso_options(tenant: Option<String>) -> ApiResult<SsoOptions> {
    let pairs = params([("tenant", tenant)]);
    read_json(send_with(Credentials::Omit, Method::GET, "/api/v1/auth/sso", &pairs, None).await?).await
}

/// `POST /api/v1/auth/sso/exchange`: the one-time code of a finished single sign-on becomes a
/// session, as a password sign-in gives. Same-origin cookies go along (the browser's default).
pub async fn sso_exchange(request: &SsoExchangeRequest) -> ApiResult<SessionResponse> {
    let body = to_json(request)?;
    read_json(send_with(Credentials::Omit, Method::POST, "/api/v1/auth/sso/exchange", &[], Some(body)).await?)
        .await
}

/// An address the server gave for the whole window to go to (a sign-in path such as
/// `/auth/sso/acme`, an identity provider's page): paths are on the API's origin; only `http`
/// and `https` addresses are followed, never `javascript:` or the like.
pub fn navigable(address: &str) -> Option<String> {
    if address.starts_with('/') && !address.starts_with("//") {
        return Some(url(address));
    }
    let scheme = address.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    matches!(scheme.as_deref(), Some("http" | "https")).then(|| address.to_owned())
}

/// `GET /api/v1/sso` (tenant admins).
pub async fn sso_settings() -> ApiResult<SsoSettingsView> {
    get("/api/v1/sso", &[]).await
}

/// `PUT /api/v1/sso` (tenant admins): no `client_secret` keeps the stored one.
pub async fn update_sso_settings(request: &SsoSettingsRequest) -> ApiResult<SsoSettingsView> {
    with_body(Method::PUT, "/api/v1/sso", request).await
}

/// `DELETE /api/v1/sso` (tenant admins): back to the server's default, or none.
pub async fn delete_sso_settings() -> ApiResult<()> {
    no_content(Method::DELETE, "/api/v1/sso", &[], None).await
}

/// `POST /api/v1/sso/test` (tenant admins): where to send the browser to try the saved settings.
pub async fn start_sso_test() -> ApiResult<SsoTestStarted> {
    read_json(send(Method::POST, "/api/v1/sso/test", &[], None).await?).await
}

/// `GET /api/v1/sso/test/{code}` (tenant admins): what the test sign-in found.
pub async fn sso_test_result(code: &str) -> ApiResult<SsoTestResult> {
    get(&format!("/api/v1/sso/test/{}", js_sys::encode_uri_component(code)), &[]).await
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
    /// Only the prompts in this folder (`a/b`); `/` is the top level (prompts in no folder).
    pub folder: Option<String>,
    /// With `folder`: also the prompts in its subfolders.
    pub subfolders: bool,
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
        ("folder", query.folder.clone()),
        // The top level with its subfolders would be everything.
        (
            "subfolders",
            (query.subfolders && query.folder.as_deref().is_some_and(|f| f != "/"))
                .then(|| "true".to_owned()),
        ),
        ("limit", Some("20".to_owned())),
        ("cursor", cursor),
    ]);
    get("/api/v1/prompts", &pairs).await
}

/// `GET /api/v1/prompts/{id}`.
pub async fn prompt(id: PromptId) -> ApiResult<PromptView> {
    get(&prompt_path(id), &[]).await
}

/// `GET /api/v1/prompts/{name}`: a prompt by its name (an include's target, say).
pub async fn prompt_named(name: &str) -> ApiResult<PromptView> {
    // A name's `/`s stay in its one path segment (`%2F`).
    get(&format!("/api/v1/prompts/{}", js_sys::encode_uri_component(name)), &[]).await
}

/// `GET /api/v1/prompts/{id}/used-by`: the prompts whose current version includes this one.
pub async fn used_by(id: PromptId) -> ApiResult<UsedByList> {
    get(&format!("{}/used-by", prompt_path(id)), &[]).await
}

/// `POST /api/v1/prompts/{id}/impact`: what saving `request` would do to the prompts that
/// include this one. Nothing is saved.
pub async fn preview_impact(id: PromptId, request: &UpdatePromptRequest) -> ApiResult<ImpactReport> {
    with_body(Method::POST, &format!("{}/impact", prompt_path(id)), request).await
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

/// `GET /api/v1/prompts/{id}/versions/{version}`.
pub async fn version(id: PromptId, version: u32) -> ApiResult<PromptVersionView> {
    get(&format!("{}/versions/{version}", prompt_path(id)), &[]).await
}

/// `POST /api/v1/prompts/{id}/render`: the text and the messages a run would send.
pub async fn render(id: PromptId, request: &RenderRequest) -> ApiResult<RenderResponse> {
    with_body(Method::POST, &format!("{}/render", prompt_path(id)), request).await
}

/// `GET /api/v1/prompts/{id}/labels`: `latest` first, then the others A to Z.
pub async fn labels(id: PromptId) -> ApiResult<LabelList> {
    get(&format!("{}/labels", prompt_path(id)), &[]).await
}

fn label_path(id: PromptId, label: &str) -> String {
    format!("{}/labels/{}", prompt_path(id), js_sys::encode_uri_component(label))
}

/// What asking to change a release label did: the change itself, or, for a protected label in a
/// tenant that requires approval, a request waiting for another person (`202 Accepted`).
#[derive(Debug, Clone, PartialEq)]
pub enum LabelChange<T> {
    Done(T),
    Requested(Box<ApprovalView>),
}

/// A label change's answer: `202` carries the approval request, anything else `done`.
async fn label_change<T>(
    response: Response,
    done: impl AsyncFnOnce(Response) -> ApiResult<T>,
) -> ApiResult<LabelChange<T>> {
    if response.status() == 202 {
        return read_json(response).await.map(|approval| LabelChange::Requested(Box::new(approval)));
    }
    done(response).await.map(LabelChange::Done)
}

/// `PUT /api/v1/prompts/{id}/labels/{label}`: points the label at a version (or asks to).
pub async fn move_label(
    id: PromptId,
    label: &str,
    request: &MoveLabelRequest,
) -> ApiResult<LabelChange<LabelView>> {
    let response = send(Method::PUT, &label_path(id, label), &[], Some(to_json(request)?)).await?;
    label_change(response, read_json).await
}

/// `DELETE /api/v1/prompts/{id}/labels/{label}` (or a request to).
pub async fn remove_label(
    id: PromptId,
    label: &str,
    request: &LabelReasonRequest,
) -> ApiResult<LabelChange<()>> {
    let response = send(Method::DELETE, &label_path(id, label), &[], Some(to_json(request)?)).await?;
    label_change(response, async |_| Ok(())).await
}

/// `POST /api/v1/prompts/{id}/labels/{label}/rollback`: undoes the label's last move (or asks to).
pub async fn roll_back_label(
    id: PromptId,
    label: &str,
    request: &LabelReasonRequest,
) -> ApiResult<LabelChange<LabelMoveView>> {
    let path = format!("{}/rollback", label_path(id, label));
    let response = send(Method::POST, &path, &[], Some(to_json(request)?)).await?;
    label_change(response, read_json).await
}

/// `GET /api/v1/prompts/{id}/label-history`: the newest 100 moves of its labels.
pub async fn label_history(id: PromptId) -> ApiResult<LabelMoveList> {
    get(&format!("{}/label-history", prompt_path(id)), &[("limit", "100".to_owned())]).await
}

/// `GET /api/v1/prompts/{id}/label-stats?days=`: fetches by label and version served, per day.
pub async fn label_stats(id: PromptId, days: u32) -> ApiResult<LabelStats> {
    get(&format!("{}/label-stats", prompt_path(id)), &[("days", days.to_string())]).await
}

/// `GET /api/v1/folders`: every folder, in path order, each ancestor listed.
pub async fn folders() -> ApiResult<FolderList> {
    get("/api/v1/folders", &[]).await
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
// Release policy and approvals
// ---------------------------------------------------------------------------------------------

/// `GET /api/v1/release-policy`: which labels are protected, and whether moves need approval.
pub async fn release_policy() -> ApiResult<ReleasePolicyView> {
    get("/api/v1/release-policy", &[]).await
}

/// `PUT /api/v1/release-policy` (admins signed in).
pub async fn update_release_policy(policy: &ReleasePolicyView) -> ApiResult<ReleasePolicyView> {
    with_body(Method::PUT, "/api/v1/release-policy", policy).await
}

/// `GET /api/v1/approvals`: newest first; `status` none: all of them; `prompt`: one prompt's.
pub async fn approvals(
    status: Option<ApprovalStatus>,
    prompt: Option<PromptId>,
    cursor: Option<String>,
) -> ApiResult<ApprovalList> {
    let pairs = params([
        ("status", status.map(|s| s.as_str().to_owned())),
        ("prompt", prompt.map(|p| p.to_string())),
        ("limit", Some("50".to_owned())),
        ("cursor", cursor),
    ]);
    get("/api/v1/approvals", &pairs).await
}

/// What a person does with a request to move a protected label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    /// Only the person who asked.
    Cancel,
}

/// `POST /api/v1/approvals/{id}/approve`, `…/deny` or `…/cancel`.
pub async fn decide(id: ApprovalId, decision: Decision, comment: Option<String>) -> ApiResult<ApprovalView> {
    let action = match decision {
        Decision::Approve => "approve",
        Decision::Deny => "deny",
        Decision::Cancel => "cancel",
    };
    let path = format!("/api/v1/approvals/{id}/{action}");
    with_body(Method::POST, &path, &ApprovalDecisionRequest { comment }).await
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

// ---------------------------------------------------------------------------------------------
// AI services: connections, settings, the tenant's policy
// ---------------------------------------------------------------------------------------------

fn connection_path(id: ConnectionId) -> String {
    format!("/api/v1/ai/connections/{id}")
}

/// `GET /api/v1/ai/providers`: the services the server can talk to, with their usual address.
pub async fn providers() -> ApiResult<Vec<ProviderInfo>> {
    get("/api/v1/ai/providers", &[]).await
}

/// `GET /api/v1/ai/connections`: the tenant's connections, then the caller's own.
pub async fn connections() -> ApiResult<Vec<ConnectionView>> {
    get::<ConnectionList>("/api/v1/ai/connections", &[]).await.map(|list| list.items)
}

/// `GET /api/v1/ai/connections/{id}`.
pub async fn connection(id: ConnectionId) -> ApiResult<ConnectionView> {
    get(&connection_path(id), &[]).await
}

/// `POST /api/v1/ai/connections`.
pub async fn create_connection(request: &ConnectionRequest) -> ApiResult<ConnectionView> {
    with_body(Method::POST, "/api/v1/ai/connections", request).await
}

/// `PUT /api/v1/ai/connections/{id}`: no `api_key` keeps the stored key.
pub async fn update_connection(id: ConnectionId, request: &ConnectionRequest) -> ApiResult<ConnectionView> {
    with_body(Method::PUT, &connection_path(id), request).await
}

/// `DELETE /api/v1/ai/connections/{id}`.
pub async fn delete_connection(id: ConnectionId) -> ApiResult<()> {
    no_content(Method::DELETE, &connection_path(id), &[], None).await
}

/// `POST /api/v1/ai/connections/{id}/test`: a failed test is an answer too (`ok: false`).
pub async fn test_connection(id: ConnectionId) -> ApiResult<ConnectionTestResult> {
    read_json(send(Method::POST, &format!("{}/test", connection_path(id)), &[], None).await?).await
}

/// `GET /api/v1/ai/settings`.
pub async fn ai_settings() -> ApiResult<AiSettingsView> {
    get("/api/v1/ai/settings", &[]).await
}

/// `PUT /api/v1/ai/settings`.
pub async fn update_ai_settings(request: &UpdateAiSettingsRequest) -> ApiResult<AiSettingsView> {
    with_body(Method::PUT, "/api/v1/ai/settings", request).await
}

/// `GET /api/v1/ai/policy` (tenant admins).
pub async fn ai_policy() -> ApiResult<AiPolicy> {
    get("/api/v1/ai/policy", &[]).await
}

/// `PUT /api/v1/ai/policy` (tenant admins).
pub async fn update_ai_policy(policy: &AiPolicy) -> ApiResult<AiPolicy> {
    with_body(Method::PUT, "/api/v1/ai/policy", policy).await
}

// ---------------------------------------------------------------------------------------------
// AI services: running, comparing, enhancing prompts
// ---------------------------------------------------------------------------------------------

/// `POST /api/v1/prompts/{id}/run` with `"stream": true`: `on_delta` receives each piece of
/// the answer as it arrives; the whole result comes last. Aborting `signal` stops the call (the
/// server records the run as cancelled).
pub async fn run_prompt_streaming(
    id: PromptId,
    request: &RunRequest,
    signal: &AbortSignal,
    mut on_delta: impl FnMut(&str),
) -> ApiResult<RunResult> {
    let body = to_json(&RunRequest { stream: true, ..request.clone() })?;
    let call = Call { credentials: Credentials::Session, accept: "text/event-stream", signal: Some(signal) };
    let response =
        send_call(call, Method::POST, &format!("{}/run", prompt_path(id)), &[], Some(body)).await?;
    let streamed = response
        .headers()
        .get("content-type")
        .is_some_and(|t| t.trim_start().starts_with("text/event-stream"));
    if !streamed {
        // Answered in one piece after all: the result itself.
        return read_json(response).await;
    }
    let broken = |_| ApiFailure::local("The connection broke before the answer was complete.");
    let reader: ReadableStreamDefaultReader = response
        .body()
        .ok_or_else(|| ApiFailure::local("The server's answer has no body."))?
        .get_reader()
        .unchecked_into();
    let mut events = EventStream::default();
    loop {
        let chunk: ReadableStreamReadResult =
            JsFuture::from(reader.read()).await.map_err(broken)?.unchecked_into();
        if chunk.get_done().unwrap_or(true) {
            return Err(ApiFailure::local("The answer ended before it was complete."));
        }
        let bytes = js_sys::Uint8Array::new(&chunk.get_value()).to_vec();
        for event in events.push(&bytes) {
            match event.name.as_str() {
                "delta" => on_delta(&event_data::<RunDelta>(&event.data)?.text),
                "done" => return event_data(&event.data),
                "error" => return Err(ApiFailure::from_problem(event_data(&event.data)?)),
                _ => {}
            }
        }
    }
}

fn event_data<T: DeserializeOwned>(data: &str) -> ApiResult<T> {
    serde_json::from_str(data)
        .map_err(|e| ApiFailure::local(format!("The server's answer could not be read ({e}).")))
}

/// One server-sent event.
#[derive(Debug, PartialEq)]
struct Event {
    name: String,
    data: String,
}

/// Server-sent events, parsed as the bytes arrive: a line ends at `\n` (a `\r` before it is
/// dropped), an empty line ends an event, `event:` names it, `data:` lines carry its data and
/// lines starting with `:` are comments (keep-alives).
#[derive(Default)]
struct EventStream {
    pending: Vec<u8>,
    name: String,
    data: Option<String>,
}

impl EventStream {
    /// Takes the next bytes of the body; returns the events they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let end = start + offset;
            let raw = &self.pending[start..end];
            // Lines end at an ASCII byte, so each one is whole UTF-8.
            let line = String::from_utf8_lossy(raw.strip_suffix(b"\r").unwrap_or(raw)).into_owned();
            start = end + 1;
            if line.is_empty() {
                let name = std::mem::take(&mut self.name);
                if let Some(data) = self.data.take() {
                    events.push(Event {
                        name: if name.is_empty() { "message".to_owned() } else { name },
                        data,
                    });
                }
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line.as_str(), ""),
            };
            // Other fields (`id`, `retry`) and comments (`: …`) do not matter here.
            match field {
                "event" => self.name = value.to_owned(),
                "data" => match &mut self.data {
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                    None => self.data = Some(value.to_owned()),
                },
                _ => {}
            }
        }
        self.pending.drain(..start);
        events
    }
}

/// `POST /api/v1/prompts/{id}/compare`: one prompt on 2 to 4 targets, side by side.
pub async fn compare(id: PromptId, request: &CompareRequest) -> ApiResult<CompareResult> {
    with_body(Method::POST, &format!("{}/compare", prompt_path(id)), request).await
}

/// `GET /api/v1/prompts/{id}/runs` (newest first).
pub async fn runs(id: PromptId, cursor: Option<String>) -> ApiResult<RunList> {
    let pairs = params([("limit", Some("20".to_owned())), ("cursor", cursor)]);
    get(&format!("{}/runs", prompt_path(id)), &pairs).await
}

/// `GET /api/v1/runs/{id}`.
pub async fn run(id: RunId) -> ApiResult<RunRecordView> {
    get(&format!("/api/v1/runs/{id}"), &[]).await
}

/// `POST /api/v1/prompts/{id}/enhance`: a suggestion; nothing is saved.
pub async fn enhance(id: PromptId, request: &EnhanceRequest) -> ApiResult<EnhanceResult> {
    with_body(Method::POST, &format!("{}/enhance", prompt_path(id)), request).await
}

/// `POST /api/v1/enhance`: a suggestion for unsaved text (`request.text`).
pub async fn enhance_text(request: &EnhanceRequest) -> ApiResult<EnhanceResult> {
    with_body(Method::POST, "/api/v1/enhance", request).await
}

/// `POST /api/v1/prompts/{id}/enhance/accept`: the suggestion becomes the new version (`412`
/// when someone saved after `request.version`).
pub async fn accept_enhancement(id: PromptId, request: &AcceptEnhancementRequest) -> ApiResult<PromptView> {
    with_body(Method::POST, &format!("{}/enhance/accept", prompt_path(id)), request).await
}

/// `POST /api/v1/prompts/{id}/tokens`.
pub async fn count_tokens(id: PromptId, request: &TokenCountRequest) -> ApiResult<TokenCount> {
    with_body(Method::POST, &format!("{}/tokens", prompt_path(id)), request).await
}

/// `GET /api/v1/analytics/runs?from=&to=` (dates, UTC).
pub async fn run_analytics(from: chrono::NaiveDate, to: chrono::NaiveDate) -> ApiResult<RunAnalytics> {
    let pairs = [("from", from.to_string()), ("to", to.to_string())];
    get("/api/v1/analytics/runs", &pairs).await
}

// ---------------------------------------------------------------------------------------------
// Webhooks (tenant admins): endpoints, their secrets, the delivery log
// ---------------------------------------------------------------------------------------------

fn webhook_path(id: WebhookId) -> String {
    format!("/api/v1/webhooks/{id}")
}

/// `GET /api/v1/webhooks`: the tenant's endpoints, oldest first.
pub async fn webhooks() -> ApiResult<Vec<WebhookView>> {
    get::<WebhookList>("/api/v1/webhooks", &[]).await.map(|list| list.items)
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn webhook(id: WebhookId) -> ApiResult<WebhookView> {
    get(&webhook_path(id), &[]).await
}

/// `POST /api/v1/webhooks`: the signing secret is in the answer, this once.
pub async fn create_webhook(request: &CreateWebhookRequest) -> ApiResult<WebhookWithSecret> {
    with_body(Method::POST, "/api/v1/webhooks", request).await
}

/// `PATCH /api/v1/webhooks/{id}`: what is set in `request` changes.
pub async fn update_webhook(id: WebhookId, request: &UpdateWebhookRequest) -> ApiResult<WebhookView> {
    with_body(Method::PATCH, &webhook_path(id), request).await
}

/// `DELETE /api/v1/webhooks/{id}`, with its delivery log.
pub async fn delete_webhook(id: WebhookId) -> ApiResult<()> {
    no_content(Method::DELETE, &webhook_path(id), &[], None).await
}

/// `POST /api/v1/webhooks/{id}/rotate-secret`: the new secret, this once (the old one still
/// signs until `previous_secret_until`).
pub async fn rotate_webhook_secret(id: WebhookId) -> ApiResult<WebhookWithSecret> {
    read_json(send(Method::POST, &format!("{}/rotate-secret", webhook_path(id)), &[], None).await?).await
}

/// `POST /api/v1/webhooks/{id}/test`: queues a `webhook.test` delivery.
pub async fn test_webhook(id: WebhookId) -> ApiResult<DeliveryView> {
    read_json(send(Method::POST, &format!("{}/test", webhook_path(id)), &[], None).await?).await
}

/// `GET /api/v1/webhooks/{id}/deliveries`: newest first, `limit` a page; `status` none: all.
pub async fn deliveries(
    id: WebhookId,
    status: Option<DeliveryStatus>,
    limit: u32,
    cursor: Option<String>,
) -> ApiResult<DeliveryList> {
    let pairs = params([
        ("status", status.map(|s| s.as_str().to_owned())),
        ("limit", Some(limit.to_string())),
        ("cursor", cursor),
    ]);
    get(&format!("{}/deliveries", webhook_path(id)), &pairs).await
}

/// `GET /api/v1/webhooks/{id}/deliveries/{delivery}`: the body as sent and every try.
pub async fn delivery(id: WebhookId, delivery: DeliveryId) -> ApiResult<DeliveryDetail> {
    get(&format!("{}/deliveries/{delivery}", webhook_path(id)), &[]).await
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery}/redeliver`: the new delivery queued.
pub async fn redeliver(id: WebhookId, delivery: DeliveryId) -> ApiResult<DeliveryView> {
    let path = format!("{}/deliveries/{delivery}/redeliver", webhook_path(id));
    read_json(send(Method::POST, &path, &[], None).await?).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> Event {
        Event { name: name.to_owned(), data: data.to_owned() }
    }

    #[test]
    fn events_are_parsed_across_chunk_boundaries() {
        let body =
            "event: delta\ndata: {\"text\":\"H\u{e9}\"}\n\n: keep-alive\n\nevent: done\r\ndata: {}\r\n\r\n";
        let bytes = body.as_bytes();
        // Split everywhere, including inside the two-byte "é".
        for cut in 0..bytes.len() {
            let mut stream = EventStream::default();
            let mut events = stream.push(&bytes[..cut]);
            events.extend(stream.push(&bytes[cut..]));
            assert_eq!(
                events,
                vec![event("delta", "{\"text\":\"H\u{e9}\"}"), event("done", "{}")],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn data_lines_join_and_unnamed_events_are_messages() {
        let mut stream = EventStream::default();
        assert_eq!(stream.push(b"data: a\ndata:b\n\n"), vec![event("message", "a\nb")]);
        assert_eq!(stream.push(b"event: x\n\n"), vec![]);
    }
}
