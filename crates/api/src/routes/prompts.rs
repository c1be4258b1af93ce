//! The prompt library: CRUD, fetch by name or id with ETags, search, categories and tags, and
//! the helpers its sibling modules share (`prompt_versions`: history, diff, restore, render;
//! `prompt_files`: import and export).
//!
//! `{prompt}` in a path is a prompt's id or its name (names never look like UUIDs); a name
//! with folders is sent with its slashes percent-encoded (`support%2Fwelcome`). Prompts the
//! caller may not see answer 404 exactly like missing ones.

use std::collections::HashMap;

use actix_web::http::header::{self, ContentType, EntityTag, IfMatch};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::Utc;
use domain::UserId;
use domain::audit::{AuditAction, NewAuditEvent};
use domain::bundle::Bundle;
use domain::prompt::{
    NewPrompt, Prompt, PromptFields, PromptInput, PromptKey, PromptName, PromptPosition, PromptSort, Viewer,
};
use domain::wire::{
    CreatePromptRequest, ErrorCode, FieldError, FolderList, NameCount, NameCountList, PersonRef, Problem,
    PromptList, PromptRef, PromptSummary, PromptView, UpdatePromptRequest,
};
use persistence::{FolderFilter, PromptChange, PromptFilter, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::acting;
use crate::access::Principal;
use crate::admin::Acting;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::read_cache::{CachedPrompt, CachedRelease};
use crate::releases::{self, Pick};
use crate::state::AppState;
use crate::{bundles, client, webhooks};
use domain::webhook::WebhookEvent;

const MAX_COMMIT_MESSAGE_LEN: usize = 500;
/// Characters of content shown in lists.
const PREVIEW_CHARS: usize = 200;

pub(super) fn not_found() -> ApiError {
    ApiError::not_found("No such prompt.")
}

/// A prompt as other answers name it: id, name and title.
pub(crate) fn prompt_ref(prompt: &Prompt) -> PromptRef {
    PromptRef { id: prompt.id, name: prompt.name.as_str().to_owned(), title: prompt.title.clone() }
}

pub(crate) fn viewer(principal: &Principal) -> Viewer {
    Viewer { user: principal.user.id, role: principal.user.role }
}

/// The prompt `raw` names (id or name), if the caller may see it.
pub(crate) async fn load(state: &AppState, principal: &Principal, raw: &str) -> Result<Prompt, ApiError> {
    let key = PromptKey::parse(raw).map_err(|_| not_found())?;
    state.db.tenant(principal.scope()).prompt(&viewer(principal), &key).await?.ok_or_else(not_found)
}

/// Strong, and unique across prompts: a prompt deleted and created again under the same name
/// never matches an old copy.
pub(super) fn etag(prompt: &Prompt) -> EntityTag {
    EntityTag::new_strong(format!("{}.{}", prompt.id, prompt.version))
}

/// A write must say which version it is based on: `If-Match` or the body's `version`.
pub(super) fn check_base_version(
    req: &HttpRequest,
    current: &Prompt,
    body_version: Option<u32>,
) -> Result<(), ApiError> {
    check_base(req.get_header::<IfMatch>(), current, body_version)
}

/// [`check_base_version`] with the `If-Match` header given (MCP has none: `None`).
pub(crate) fn check_base(
    if_match: Option<IfMatch>,
    current: &Prompt,
    body_version: Option<u32>,
) -> Result<(), ApiError> {
    let fresh = match (if_match, body_version) {
        (Some(IfMatch::Any), None) => true,
        (Some(IfMatch::Items(tags)), _) => tags.iter().any(|t| t.strong_eq(&etag(current))),
        (_, Some(version)) => version == current.version,
        (None, None) => {
            return Err(ApiError::new(
                ErrorCode::PreconditionRequired,
                "Send If-Match with the prompt's ETag, or the version your edit is based on.",
            ));
        }
    };
    if fresh { Ok(()) } else { Err(stale(current.version)) }
}

pub(super) fn stale(current_version: u32) -> ApiError {
    ApiError::new(
        ErrorCode::PreconditionFailed,
        format!(
            "Someone saved version {current_version} after the version you edited; reload and try again."
        ),
    )
    .with_current_version(current_version)
}

pub(super) fn check_may_edit(principal: &Principal, prompt: &Prompt) -> Result<(), ApiError> {
    if viewer(principal).may_edit(prompt) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, "Only the prompt's owner or an administrator may change it."))
    }
}

pub(super) fn commit_message(raw: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let message = raw.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    if message.as_ref().is_some_and(|m| m.chars().count() > MAX_COMMIT_MESSAGE_LEN) {
        errors.push(FieldError::new(
            "commit_message",
            format!("must be at most {MAX_COMMIT_MESSAGE_LEN} characters"),
        ));
    }
    message
}

pub(super) fn name_taken() -> ApiError {
    ApiError::conflict(FieldError::new("name", "is already used by another prompt"))
}

/// The audit event of a change to `prompt`.
fn event(acting: &Acting, action: AuditAction, prompt: &Prompt, details: serde_json::Value) -> NewAuditEvent {
    acting.event(action, "prompt", prompt.id.to_string(), details)
}

/// Display names of the people a response mentions, in one query.
pub(crate) async fn people(
    state: &AppState,
    principal: &Principal,
    ids: impl IntoIterator<Item = Option<UserId>>,
) -> Result<HashMap<UserId, String>, ApiError> {
    Ok(state.db.tenant(principal.scope()).display_names(ids).await?)
}

pub(super) fn person(names: &HashMap<UserId, String>, id: Option<UserId>) -> Option<PersonRef> {
    id.map(|id| PersonRef { id, name: names.get(&id).cloned().unwrap_or_else(|| "deleted user".to_owned()) })
}

pub(crate) fn view(prompt: &Prompt, names: &HashMap<UserId, String>) -> PromptView {
    PromptView {
        id: prompt.id,
        name: prompt.name.as_str().to_owned(),
        title: prompt.title.clone(),
        content: prompt.content.clone(),
        kind: prompt.bundle.kind,
        template_format: prompt.bundle.format,
        messages: prompt.bundle.messages.clone(),
        settings: prompt.bundle.settings.clone(),
        contract: prompt.bundle.contract.clone(),
        category: prompt.category.clone(),
        tags: prompt.tags.clone(),
        is_enhancement_prompt: prompt.is_enhancement_prompt,
        visibility: prompt.visibility,
        version: prompt.version,
        variables: prompt.bundle.variable_names(),
        owner: person(names, prompt.owner),
        updated_by: person(names, prompt.updated_by),
        created_at: prompt.created_at,
        updated_at: prompt.updated_at,
    }
}

pub(crate) fn summary(prompt: &Prompt, names: &HashMap<UserId, String>) -> PromptSummary {
    PromptSummary {
        id: prompt.id,
        name: prompt.name.as_str().to_owned(),
        title: prompt.title.clone(),
        preview: prompt.content.chars().take(PREVIEW_CHARS).collect(),
        kind: prompt.bundle.kind,
        category: prompt.category.clone(),
        tags: prompt.tags.clone(),
        is_enhancement_prompt: prompt.is_enhancement_prompt,
        visibility: prompt.visibility,
        version: prompt.version,
        owner: person(names, prompt.owner),
        updated_at: prompt.updated_at,
    }
}

/// A prompt as a response: its view, with `ETag`.
pub(super) async fn prompt_response(
    state: &AppState,
    principal: &Principal,
    prompt: &Prompt,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let names = people(state, principal, [prompt.owner, prompt.updated_by]).await?;
    Ok(with_validator(&mut response, etag(prompt)).json(view(prompt, &names)))
}

/// The headers every prompt answer carries: its ETag, and that a client must revalidate.
fn with_validator(
    response: &mut actix_web::HttpResponseBuilder,
    etag: EntityTag,
) -> &mut actix_web::HttpResponseBuilder {
    response.insert_header(header::ETag(etag)).insert_header((header::CACHE_CONTROL, "private, no-cache"))
}

/// List and search filters shared by the list and the export.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromptQuery {
    /// Full-text search over name, title, content and tags; every word must match (as a
    /// prefix), case-insensitively. Results are ranked by relevance unless `sort` says otherwise.
    q: Option<String>,
    /// Exact category.
    category: Option<String>,
    /// A tag the prompt has.
    tag: Option<String>,
    /// The owner's user id, or `me`.
    owner: Option<String>,
    /// Only enhancement prompts (`true`) or only ordinary ones (`false`).
    enhancement: Option<bool>,
    /// Only the prompts in this folder (`marketing/emails`, case-insensitively): those named
    /// `marketing/emails/…` without a further `/`. Empty: the top level, prompts without a
    /// folder.
    folder: Option<String>,
    /// With `folder`: also the prompts in its subfolders.
    #[serde(default)]
    subfolders: bool,
    /// `relevance` (default when searching), `updated` (default otherwise), `created` or `name`.
    /// The export ignores it: it is always newest first.
    #[param(value_type = Option<PromptSort>)]
    pub(super) sort: Option<PromptSort>,
}

const PROMPTS: &str = "prompts";

impl PromptQuery {
    /// The order used: as asked, else by relevance when searching and by last change otherwise.
    pub(super) fn sort(&self, filter: &PromptFilter) -> PromptSort {
        let searching = filter.q.as_deref().is_some_and(|q| !persistence::search_terms(q).is_empty());
        self.sort.unwrap_or(PromptSort::Relevance).effective(searching)
    }

    pub(super) fn filter(&self, principal: &Principal, errors: &mut Vec<FieldError>) -> PromptFilter {
        let owner = match self.owner.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("me") => Some(principal.user.id),
            Some(raw) => uuid::Uuid::parse_str(raw)
                .map(UserId::from_uuid)
                .map_err(|_| errors.push(FieldError::new("owner", "must be a user id or `me`")))
                .ok(),
        };
        let tag = self.tag.as_deref().map(|t| match domain::prompt::normalize_tags(&[t.to_owned()]) {
            Ok(tags) => tags.into_iter().next().unwrap_or_default(),
            Err((_, reason)) => {
                errors.push(FieldError::new("tag", reason));
                String::new()
            }
        });
        let folder = self.folder.as_deref().map(|raw| {
            let key = raw.trim().trim_matches('/').to_lowercase();
            if !key.is_empty() && PromptName::parse(&key).is_err() {
                errors
                    .push(FieldError::new("folder", "is not a folder path (names like `marketing/emails`)"));
            }
            FolderFilter { key, recursive: self.subfolders }
        });
        PromptFilter {
            folder,
            q: self.q.clone(),
            category: self.category.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned),
            tag: tag.filter(|t| !t.is_empty()),
            owner,
            enhancement: self.enhancement,
        }
    }
}

/// Lists and searches the prompts the caller may see.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(PromptQuery, PageQuery),
    responses(
        (status = 200, description = "One page of prompts", body = PromptList),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts")]
pub async fn list_prompts(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PromptQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<PromptList>, ApiError> {
    let (filter, sort, page) = ApiError::check(|errors| {
        let filter = query.filter(&principal, errors);
        let sort = query.sort(&filter);
        let page = page.parse::<PromptPosition>(PROMPTS, LIST_PAGE, errors);
        if page.after.as_ref().is_some_and(|after| after.sort() != sort) {
            errors.push(FieldError::new("cursor", "is from another sort order or search"));
        }
        (filter, sort, page)
    })?;
    let repo = state.db.tenant(principal.scope());
    let prompts =
        repo.search_prompts(&viewer(&principal), &filter, sort, page.after.as_ref(), page.limit).await?;
    let names = people(&state, &principal, prompts.items.iter().map(|p| p.owner)).await?;
    Ok(web::Json(PromptList {
        items: prompts.items.iter().map(|p| summary(p, &names)).collect(),
        next_cursor: next_cursor(PROMPTS, prompts.next_cursor),
    }))
}

/// Creates a prompt (version 1), owned by the caller.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    request_body = CreatePromptRequest,
    responses(
        (status = 201, description = "Created; `ETag` and `Location` headers", body = PromptView),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts")]
pub async fn create_prompt(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<CreatePromptRequest>,
) -> Result<HttpResponse, ApiError> {
    let prompt = create(&state, &acting(&state, &req, &principal), &principal, body.into_inner()).await?;
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, format!("/api/v1/prompts/{}", prompt.id)));
    prompt_response(&state, &principal, &prompt, response).await
}

/// Creates a prompt owned by the caller, with its audit event and webhooks (REST and MCP).
pub(crate) async fn create(
    state: &AppState,
    acting: &Acting,
    principal: &Principal,
    body: CreatePromptRequest,
) -> Result<Prompt, ApiError> {
    let parsed = PromptFields::parse(PromptInput {
        name: &body.name,
        title: body.title.as_deref(),
        content: &body.content,
        category: body.category.as_deref(),
        tags: &body.tags,
        is_enhancement_prompt: body.is_enhancement_prompt,
        visibility: body.visibility,
        bundle: &body.bundle.into(),
        previous: &Bundle::default(),
    });
    let mut errors = bundles::checked(&parsed);
    let commit_message = commit_message(body.commit_message, &mut errors);
    let fields = match parsed {
        Ok(fields) if errors.is_empty() => fields,
        _ => return Err(ApiError::validation(errors)),
    };
    let fields = bundles::check_includes(state, principal, fields).await?;
    let now = acting.at;
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let prompt =
        match repo.create_prompt(NewPrompt { owner: principal.user.id, fields, commit_message }, now).await {
            Err(StoreError::Conflict) => return Err(name_taken()),
            other => other?,
        };
    let details = serde_json::json!({ "name": prompt.name, "version": 1, "visibility": prompt.visibility });
    repo.record_audit(event(acting, AuditAction::PromptCreated, &prompt, details)).await?;
    let notice = webhooks::prompt_payload(WebhookEvent::PromptCreated, &prompt, principal.user.id, now);
    repo.enqueue_webhooks(WebhookEvent::PromptCreated, &notice, now).await?;
    tx.commit().await?;
    Ok(prompt)
}

/// Which version `GET /api/v1/prompts/{prompt}` serves.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FetchQuery {
    /// The version a release label names (`production`…; `latest`: the newest).
    pub label: Option<String>,
    /// A version number. Not with `label`.
    pub version: Option<u32>,
    /// For a label that splits its traffic (A/B): the caller's key (a user id, a session…;
    /// at most 256 characters). The same key gets the same version while the split stands;
    /// without one, each fetch draws by the weights.
    pub key: Option<String>,
}

/// Fetches a prompt by name or id: its newest version, or the one `label` or `version` names
/// (that version's content, settings and number; its own ETag). A label that splits its
/// traffic serves one of its versions by weight, sticky by `key`. `X-Prompt-Version` (and the
/// body's `version`) say which version was served. Answers 304 when `If-None-Match` holds
/// the ETag of what it would send.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), FetchQuery),
    responses(
        (status = 200, description = "The prompt (as of the version served); `ETag` and `X-Prompt-Version` headers", body = PromptView,
            headers(("X-Prompt-Version" = u32, description = "The version served"))),
        (status = 304, description = "Unchanged since the ETag in `If-None-Match`"),
        (status = 404, description = "No such prompt visible to you, or no such label or version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid label, version 0, both label and version, or a key too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}")]
pub async fn get_prompt(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<FetchQuery>,
) -> Result<HttpResponse, ApiError> {
    let pick = ApiError::check(|errors| {
        if query.key.as_ref().is_some_and(|k| k.chars().count() > releases::MAX_SPLIT_KEY) {
            errors.push(FieldError::new(
                "key",
                format!("must be at most {} characters", releases::MAX_SPLIT_KEY),
            ));
        }
        Pick::parse(query.label.as_deref(), query.version, errors)
    })?;
    let cache_key = pick.cache_key(&path);
    // The hot path of integrations: served from the read cache when it was read moments ago.
    let release = match state.read_cache.prompt(principal.tenant.id, principal.user.id, &cache_key) {
        Some(cached) => cached,
        None => {
            let epoch = state.read_cache.epoch();
            let release = releases::fetch(&state, &principal, &path, &pick).await?;
            let ids = release.versions.iter().flat_map(|p| [p.owner, p.updated_by]);
            let names = people(&state, &principal, ids).await?;
            let mut answers = Vec::with_capacity(release.versions.len());
            for prompt in &release.versions {
                let body = serde_json::to_vec(&view(prompt, &names)).map_err(|e| ApiError::internal(&e))?;
                answers.push(CachedPrompt {
                    etag: etag(prompt),
                    body: body.into(),
                    prompt_id: prompt.id,
                    version: prompt.version,
                });
            }
            let cached = CachedRelease { answers: answers.into(), split: release.split };
            state.read_cache.keep_prompt(epoch, principal.user.id, &cache_key, cached.clone());
            cached
        }
    };
    let first = &release.answers[0];
    let cached = match &pick {
        Pick::Label(label) => {
            let served =
                releases::serve(release.split.as_ref(), first.prompt_id, label, query.key.as_deref());
            let cached = release.answers.get(served).unwrap_or(first);
            let today = Utc::now().date_naive();
            state.fetch_counts.count(principal.scope(), cached.prompt_id, label, cached.version, today);
            cached
        }
        Pick::Current | Pick::Version(_) => first,
    }
    .clone();
    let served_version = (header::HeaderName::from_static("x-prompt-version"), cached.version.to_string());
    if client::holds(&req, &cached.etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header(header::ETag(cached.etag))
            .insert_header(served_version)
            .finish());
    }
    Ok(with_validator(&mut HttpResponse::Ok(), cached.etag)
        .insert_header(served_version)
        .content_type(ContentType::json())
        .body(cached.body))
}

/// Changes a prompt and stores the result as a new version. Send `If-Match` (or `version`);
/// a stale write answers 412 with the current version.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = UpdatePromptRequest,
    responses(
        (status = 200, description = "Saved (or nothing changed); `ETag` header", body = PromptView),
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Someone saved first; `current_version` says which version is stored", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Neither If-Match nor version was sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/prompts/{prompt}")]
pub async fn update_prompt(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<UpdatePromptRequest>,
) -> Result<HttpResponse, ApiError> {
    let if_match = req.get_header::<IfMatch>();
    let acting = acting(&state, &req, &principal);
    let updated = update(&state, &acting, &principal, &path, if_match, body.into_inner()).await?;
    prompt_response(&state, &principal, &updated, HttpResponse::Ok()).await
}

/// Saves an edit of the prompt `raw` names as a new version (unchanged: as it is), based on
/// the version `If-Match` or the body names (REST and MCP).
pub(crate) async fn update(
    state: &AppState,
    acting: &Acting,
    principal: &Principal,
    raw: &str,
    if_match: Option<IfMatch>,
    body: UpdatePromptRequest,
) -> Result<Prompt, ApiError> {
    let current = load(state, principal, raw).await?;
    check_may_edit(principal, &current)?;
    check_base(if_match, &current, body.version)?;
    let mut errors = Vec::new();
    let commit_message = commit_message(body.commit_message.clone(), &mut errors);
    let fields = match edited(&current, body) {
        Ok(fields) if errors.is_empty() => fields,
        Ok(_) => return Err(ApiError::validation(errors)),
        Err(mut invalid) => {
            invalid.extend(errors);
            return Err(ApiError::validation(invalid));
        }
    };
    let fields = bundles::check_includes(state, principal, fields).await?;
    if fields == current.fields() {
        return Ok(current);
    }
    let change = PromptChange { author: principal.user.id, commit_message, restored_from: None };
    let details = changed_fields(&current.fields(), &fields);
    save(state, acting, principal, &current, fields, change, AuditAction::PromptUpdated, details).await
}

/// `current` with the edit `body` asks for, validated (the commit message aside).
pub(super) fn edited(current: &Prompt, body: UpdatePromptRequest) -> Result<PromptFields, Vec<FieldError>> {
    let tags = body.tags.unwrap_or_else(|| current.tags.clone());
    let parsed = PromptFields::parse(PromptInput {
        name: body.name.as_deref().unwrap_or(current.name.as_str()),
        title: Some(body.title.as_deref().unwrap_or(&current.title)),
        content: body.content.as_deref().unwrap_or(&current.content),
        category: Some(body.category.as_deref().unwrap_or(&current.category)),
        tags: &tags,
        is_enhancement_prompt: body.is_enhancement_prompt.unwrap_or(current.is_enhancement_prompt),
        visibility: body.visibility.unwrap_or(current.visibility),
        bundle: &body.bundle.into(),
        previous: &current.bundle,
    });
    let errors = bundles::checked(&parsed);
    if errors.is_empty() { parsed } else { Err(errors) }
}

/// Saves a new version with its audit event, in one transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn save(
    state: &AppState,
    acting: &Acting,
    principal: &Principal,
    current: &Prompt,
    fields: PromptFields,
    change: PromptChange,
    action: AuditAction,
    details: serde_json::Value,
) -> Result<Prompt, ApiError> {
    let now = acting.at;
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let updated = match repo.update_prompt(current, fields, change, now).await {
        Err(StoreError::Conflict) => return Err(name_taken()),
        other => other?,
    };
    let Some(updated) = updated else {
        // Someone saved between our read and our write.
        drop(tx);
        let latest = load(state, principal, &current.id.to_string()).await?;
        return Err(stale(latest.version));
    };
    let mut details = details;
    details["version"] = updated.version.into();
    repo.record_audit(event(acting, action, &updated, details)).await?;
    let notice = webhooks::prompt_payload(WebhookEvent::PromptUpdated, &updated, principal.user.id, now);
    repo.enqueue_webhooks(WebhookEvent::PromptUpdated, &notice, now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// The fields that differ, for the audit log (content changes are named, not copied).
fn changed_fields(before: &PromptFields, after: &PromptFields) -> serde_json::Value {
    let mut changed = serde_json::Map::new();
    if before.name != after.name {
        changed.insert("name".into(), serde_json::json!({ "from": before.name, "to": after.name }));
    }
    if before.title != after.title {
        changed.insert("title".into(), serde_json::json!({ "from": before.title, "to": after.title }));
    }
    if before.category != after.category {
        changed
            .insert("category".into(), serde_json::json!({ "from": before.category, "to": after.category }));
    }
    if before.tags != after.tags {
        changed.insert("tags".into(), serde_json::json!({ "from": before.tags, "to": after.tags }));
    }
    if before.visibility != after.visibility {
        changed.insert(
            "visibility".into(),
            serde_json::json!({ "from": before.visibility, "to": after.visibility }),
        );
    }
    if before.is_enhancement_prompt != after.is_enhancement_prompt {
        changed.insert("is_enhancement_prompt".into(), after.is_enhancement_prompt.into());
    }
    if before.content != after.content {
        changed.insert("content".into(), "changed".into());
    }
    let (from, to) = (&before.bundle, &after.bundle);
    if from.kind != to.kind {
        changed.insert("kind".into(), serde_json::json!({ "from": from.kind, "to": to.kind }));
    }
    if from.format != to.format {
        changed.insert("template_format".into(), serde_json::json!({ "from": from.format, "to": to.format }));
    }
    if from.settings != to.settings {
        changed.insert("settings".into(), "changed".into());
    }
    if from.contract != to.contract {
        changed.insert("contract".into(), "changed".into());
    }
    serde_json::json!({ "changed": changed })
}

/// Deletes a prompt with all its versions. `If-Match`, when sent, must hold the current ETag.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not your prompt (`forbidden`), or it carries a protected label you may not remove (`label_protected`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since the ETag in If-Match", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/prompts/{prompt}")]
pub async fn delete_prompt(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    check_may_edit(&principal, &prompt)?;
    if req.get_header::<IfMatch>().is_some() {
        check_base_version(&req, &prompt, None)?;
    }
    // Deleting a prompt takes its labels with it: a protected one only as its moves allow.
    releases::check_may_drop_labels(&state, &principal, &prompt).await?;
    let acting = acting(&state, &req, &principal);
    let now = acting.at;
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    if !repo.delete_prompt(prompt.id).await? {
        return Err(not_found());
    }
    let details = serde_json::json!({ "name": prompt.name, "version": prompt.version });
    repo.record_audit(event(&acting, AuditAction::PromptDeleted, &prompt, details)).await?;
    let notice = webhooks::prompt_payload(WebhookEvent::PromptDeleted, &prompt, principal.user.id, now);
    repo.enqueue_webhooks(WebhookEvent::PromptDeleted, &notice, now).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

fn counts(rows: Vec<(String, u64)>) -> web::Json<NameCountList> {
    web::Json(NameCountList {
        items: rows.into_iter().map(|(name, count)| NameCount { name, count }).collect(),
    })
}

/// Every category in use among the prompts the caller may see, with its count.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    responses((status = 200, description = "Categories A to Z", body = NameCountList))
)]
#[get("/categories")]
pub async fn list_categories(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<NameCountList>, ApiError> {
    Ok(counts(state.db.tenant(principal.scope()).prompt_categories(&viewer(&principal)).await?))
}

/// Every tag in use among the prompts the caller may see, with its count.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    responses((status = 200, description = "Tags A to Z", body = NameCountList))
)]
#[get("/tags")]
pub async fn list_tags(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<NameCountList>, ApiError> {
    Ok(counts(state.db.tenant(principal.scope()).prompt_tags(&viewer(&principal)).await?))
}

/// Every folder holding prompts the caller may see, as a flat list in path order (the tree is
/// in the paths: `a`, `a/b`, …), each with the prompts directly in it and in it and below.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    responses((status = 200, description = "Folders A to Z", body = FolderList))
)]
#[get("/folders")]
pub async fn list_folders(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<FolderList>, ApiError> {
    let names = state.db.tenant(principal.scope()).foldered_prompt_names(&viewer(&principal)).await?;
    Ok(web::Json(FolderList { items: domain::prompt::folders(names.iter().map(String::as_str)) }))
}
