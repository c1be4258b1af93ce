//! The prompt library: CRUD, fetch by name or id with ETags, versions with diff and restore,
//! rendering of `{{variables}}`, search, categories and tags, import and export.
//!
//! `{prompt}` in a path is a prompt's id or its name (names never look like UUIDs); a name
//! with folders is sent with its slashes percent-encoded (`support%2Fwelcome`). Prompts the
//! caller may not see answer 404 exactly like missing ones.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, ContentType, EntityTag, IfMatch, IfNoneMatch};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::prompt::{
    NewPrompt, Prompt, PromptFields, PromptInput, PromptKey, PromptSort, PromptVersion, Viewer, Visibility,
};
use domain::wire::{
    ConflictPolicy, CreatePromptRequest, ErrorCode, ExportedPrompt, FieldChange, FieldError, ImportItem,
    ImportOutcome, ImportReport, NameCount, NameCountList, PROMPT_EXPORT_FORMAT, PersonRef, Problem,
    PromptDiff, PromptExport, PromptList, PromptSummary, PromptVersionList, PromptVersionSummary,
    PromptVersionView, PromptView, RenderRequest, RenderResponse, RestorePromptRequest, UpdatePromptRequest,
};
use domain::{UserId, diff, template};
use persistence::{PromptChange, PromptFilter, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::client;
use crate::error::ApiError;
use crate::read_cache::CachedPrompt;
use crate::state::AppState;

const DEFAULT_PAGE: u64 = 20;
const MAX_PAGE: u64 = 100;
const MAX_COMMIT_MESSAGE_LEN: usize = 500;
/// Most prompts in one export or import file.
pub const MAX_TRANSFER_PROMPTS: usize = 10_000;
/// How long a diff may search for the smallest set of changes before settling for a larger one.
const DIFF_TIME_BUDGET: Duration = Duration::from_millis(500);
/// Characters of content shown in lists.
const PREVIEW_CHARS: usize = 200;

fn not_found() -> ApiError {
    ApiError::not_found("No such prompt.")
}

fn viewer(principal: &Principal) -> Viewer {
    Viewer { user: principal.user.id, role: principal.user.role }
}

/// The prompt `raw` names (id or name), if the caller may see it.
async fn load(state: &AppState, principal: &Principal, raw: &str) -> Result<Prompt, ApiError> {
    let key = PromptKey::parse(raw).map_err(|_| not_found())?;
    state.db.tenant(principal.scope()).prompt(&viewer(principal), &key).await?.ok_or_else(not_found)
}

/// Strong, and unique across prompts: a prompt deleted and created again under the same name
/// never matches an old copy.
fn etag(prompt: &Prompt) -> EntityTag {
    EntityTag::new_strong(format!("{}.{}", prompt.id, prompt.version))
}

/// A write must say which version it is based on: `If-Match` or the body's `version`.
fn check_base_version(
    req: &HttpRequest,
    current: &Prompt,
    body_version: Option<u32>,
) -> Result<(), ApiError> {
    let fresh = match (req.get_header::<IfMatch>(), body_version) {
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

fn stale(current_version: u32) -> ApiError {
    ApiError::new(
        ErrorCode::PreconditionFailed,
        format!(
            "Someone saved version {current_version} after the version you edited; reload and try again."
        ),
    )
    .with_current_version(current_version)
}

fn check_may_edit(principal: &Principal, prompt: &Prompt) -> Result<(), ApiError> {
    if viewer(principal).may_edit(prompt) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, "Only the prompt's owner or an administrator may change it."))
    }
}

fn commit_message(raw: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let message = raw.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
    if message.as_ref().is_some_and(|m| m.chars().count() > MAX_COMMIT_MESSAGE_LEN) {
        errors.push(FieldError::new(
            "commit_message",
            format!("must be at most {MAX_COMMIT_MESSAGE_LEN} characters"),
        ));
    }
    message
}

fn name_taken() -> ApiError {
    ApiError::conflict(FieldError::new("name", "is already used by another prompt"))
}

fn event(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    action: AuditAction,
    prompt: &Prompt,
    details: serde_json::Value,
    at: DateTime<Utc>,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: Actor::User(principal.user.id),
        action,
        target_type: "prompt",
        target_id: Some(prompt.id.to_string()),
        details,
        client_addr: Some(client::address(req, state.trust_proxy_headers)),
        at,
    }
}

/// Display names of the people a response mentions, in one query.
async fn people(
    state: &AppState,
    principal: &Principal,
    ids: impl IntoIterator<Item = Option<UserId>>,
) -> Result<HashMap<UserId, String>, ApiError> {
    Ok(state.db.tenant(principal.scope()).display_names(ids).await?)
}

fn person(names: &HashMap<UserId, String>, id: Option<UserId>) -> Option<PersonRef> {
    id.map(|id| PersonRef { id, name: names.get(&id).cloned().unwrap_or_else(|| "deleted user".to_owned()) })
}

fn view(prompt: &Prompt, names: &HashMap<UserId, String>) -> PromptView {
    PromptView {
        id: prompt.id,
        name: prompt.name.as_str().to_owned(),
        title: prompt.title.clone(),
        content: prompt.content.clone(),
        category: prompt.category.clone(),
        tags: prompt.tags.clone(),
        is_enhancement_prompt: prompt.is_enhancement_prompt,
        visibility: prompt.visibility,
        version: prompt.version,
        variables: template::variables(&prompt.content),
        owner: person(names, prompt.owner),
        updated_by: person(names, prompt.updated_by),
        created_at: prompt.created_at,
        updated_at: prompt.updated_at,
    }
}

fn summary(prompt: &Prompt, names: &HashMap<UserId, String>) -> PromptSummary {
    PromptSummary {
        id: prompt.id,
        name: prompt.name.as_str().to_owned(),
        title: prompt.title.clone(),
        preview: prompt.content.chars().take(PREVIEW_CHARS).collect(),
        category: prompt.category.clone(),
        tags: prompt.tags.clone(),
        is_enhancement_prompt: prompt.is_enhancement_prompt,
        visibility: prompt.visibility,
        version: prompt.version,
        owner: person(names, prompt.owner),
        updated_at: prompt.updated_at,
    }
}

fn version_view(version: &PromptVersion, names: &HashMap<UserId, String>) -> PromptVersionView {
    PromptVersionView {
        version: version.version,
        name: version.name.clone(),
        title: version.title.clone(),
        content: version.content.clone(),
        category: version.category.clone(),
        tags: version.tags.clone(),
        variables: template::variables(&version.content),
        author: person(names, version.author),
        commit_message: version.commit_message.clone(),
        restored_from: version.restored_from,
        created_at: version.created_at,
    }
}

/// A prompt as a response: its view, with `ETag`.
async fn prompt_response(
    state: &AppState,
    principal: &Principal,
    prompt: &Prompt,
    mut response: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let names = people(state, principal, [prompt.owner, prompt.updated_by]).await?;
    Ok(response
        .insert_header(header::ETag(etag(prompt)))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .json(view(prompt, &names)))
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
    /// `relevance` (default when searching), `updated` (default otherwise), `created` or `name`.
    #[param(value_type = Option<PromptSort>)]
    sort: Option<PromptSort>,
    /// Page size, 1 to 100 (default 20). Ignored by the export.
    limit: Option<u64>,
    /// From the previous page's `next_cursor`. Ignored by the export.
    cursor: Option<String>,
}

impl PromptQuery {
    fn filter(&self, principal: &Principal, errors: &mut Vec<FieldError>) -> PromptFilter {
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
        PromptFilter {
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
    params(PromptQuery),
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
) -> Result<web::Json<PromptList>, ApiError> {
    let mut errors = Vec::new();
    let filter = query.filter(&principal, &mut errors);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        errors.push(FieldError::new("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    // The cursor is the number of items already listed; clients treat it as opaque.
    let offset = match query.cursor.as_deref() {
        None => 0,
        Some(raw) => raw.parse::<u64>().unwrap_or_else(|_| {
            errors.push(FieldError::new("cursor", "is not a cursor of this list"));
            0
        }),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let sort =
        query.sort.unwrap_or(if filter.q.is_some() { PromptSort::Relevance } else { PromptSort::Updated });
    let repo = state.db.tenant(principal.scope());
    let (prompts, more) = repo.search_prompts(&viewer(&principal), &filter, sort, offset, limit).await?;
    let names = people(&state, &principal, prompts.iter().map(|p| p.owner)).await?;
    Ok(web::Json(PromptList {
        items: prompts.iter().map(|p| summary(p, &names)).collect(),
        next_cursor: more.then(|| (offset + prompts.len() as u64).to_string()),
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
    let body = body.into_inner();
    let parsed = PromptFields::parse(PromptInput {
        name: &body.name,
        title: body.title.as_deref(),
        content: &body.content,
        category: body.category.as_deref(),
        tags: &body.tags,
        is_enhancement_prompt: body.is_enhancement_prompt,
        visibility: body.visibility,
    });
    let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
    let commit_message = commit_message(body.commit_message, &mut errors);
    let fields = match parsed {
        Ok(fields) if errors.is_empty() => fields,
        _ => return Err(ApiError::validation(errors)),
    };
    let now = Utc::now();
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope());
    let prompt =
        match repo.create_prompt(NewPrompt { owner: principal.user.id, fields, commit_message }, now).await {
            Err(StoreError::Conflict) => return Err(name_taken()),
            other => other?,
        };
    let details = serde_json::json!({ "name": prompt.name, "version": 1, "visibility": prompt.visibility });
    repo.record_audit(event(&state, &req, &principal, AuditAction::PromptCreated, &prompt, details, now))
        .await?;
    tx.commit().await?;
    let mut response = HttpResponse::Created();
    response.insert_header((header::LOCATION, format!("/api/v1/prompts/{}", prompt.id)));
    prompt_response(&state, &principal, &prompt, response).await
}

/// Fetches a prompt by name or id. Answers 304 when `If-None-Match` holds its current ETag.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    responses(
        (status = 200, description = "The prompt; `ETag` header", body = PromptView),
        (status = 304, description = "Unchanged since the ETag in `If-None-Match`"),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}")]
pub async fn get_prompt(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // The hot path of integrations: served from the read cache when it was read moments ago.
    let cached = match state.read_cache.prompt(principal.user.id, &path) {
        Some(cached) => cached,
        None => {
            let epoch = state.read_cache.epoch();
            let prompt = load(&state, &principal, &path).await?;
            let names = people(&state, &principal, [prompt.owner, prompt.updated_by]).await?;
            let body = serde_json::to_vec(&view(&prompt, &names)).map_err(|e| ApiError::internal(&e))?;
            let cached = CachedPrompt { etag: etag(&prompt).to_string(), body: body.into() };
            state.read_cache.keep_prompt(epoch, principal.user.id, &path, cached.clone());
            cached
        }
    };
    let current: EntityTag =
        cached.etag.parse().map_err(|_| ApiError::internal(&"an ETag that does not parse"))?;
    let unchanged = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|t| t.weak_eq(&current)),
        None => false,
    };
    if unchanged {
        return Ok(HttpResponse::NotModified().insert_header(header::ETag(current)).finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header(header::ETag(current))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
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
    let current = load(&state, &principal, &path).await?;
    check_may_edit(&principal, &current)?;
    let body = body.into_inner();
    check_base_version(&req, &current, body.version)?;
    let tags = body.tags.unwrap_or_else(|| current.tags.clone());
    let parsed = PromptFields::parse(PromptInput {
        name: body.name.as_deref().unwrap_or(current.name.as_str()),
        title: Some(body.title.as_deref().unwrap_or(&current.title)),
        content: body.content.as_deref().unwrap_or(&current.content),
        category: Some(body.category.as_deref().unwrap_or(&current.category)),
        tags: &tags,
        is_enhancement_prompt: body.is_enhancement_prompt.unwrap_or(current.is_enhancement_prompt),
        visibility: body.visibility.unwrap_or(current.visibility),
    });
    let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
    let commit_message = commit_message(body.commit_message, &mut errors);
    let fields = match parsed {
        Ok(fields) if errors.is_empty() => fields,
        _ => return Err(ApiError::validation(errors)),
    };
    if fields == current.fields() {
        return prompt_response(&state, &principal, &current, HttpResponse::Ok()).await;
    }
    let change = PromptChange { author: principal.user.id, commit_message, restored_from: None };
    let details = changed_fields(&current.fields(), &fields);
    let updated =
        save(&state, &req, &principal, &current, fields, change, AuditAction::PromptUpdated, details).await?;
    prompt_response(&state, &principal, &updated, HttpResponse::Ok()).await
}

/// Saves a new version with its audit event, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn save(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    current: &Prompt,
    fields: PromptFields,
    change: PromptChange,
    action: AuditAction,
    details: serde_json::Value,
) -> Result<Prompt, ApiError> {
    let now = Utc::now();
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope());
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
    repo.record_audit(event(state, req, principal, action, &updated, details, now)).await?;
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
    serde_json::json!({ "changed": changed })
}

/// Deletes a prompt with all its versions. `If-Match`, when sent, must hold the current ETag.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
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
    let now = Utc::now();
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope());
    if !repo.delete_prompt(prompt.id).await? {
        return Err(not_found());
    }
    let details = serde_json::json!({ "name": prompt.name, "version": prompt.version });
    repo.record_audit(event(&state, &req, &principal, AuditAction::PromptDeleted, &prompt, details, now))
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionPage {
    /// Page size, 1 to 100 (default 20).
    limit: Option<u64>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
}

/// A prompt's versions, newest first (without their content).
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), VersionPage),
    responses(
        (status = 200, description = "One page of versions", body = PromptVersionList),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/versions")]
pub async fn list_versions(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<VersionPage>,
) -> Result<web::Json<PromptVersionList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    let mut errors = Vec::new();
    if !(1..=MAX_PAGE).contains(&limit) {
        errors.push(FieldError::new("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let before = query.cursor.as_deref().and_then(|raw| {
        raw.parse::<u32>()
            .map_err(|_| errors.push(FieldError::new("cursor", "is not a cursor of this list")))
            .ok()
    });
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let prompt = load(&state, &principal, &path).await?;
    let repo = state.db.tenant(principal.scope());
    let (versions, more) = repo.prompt_versions(prompt.id, before, limit).await?;
    let names = people(&state, &principal, versions.iter().map(|v| v.author)).await?;
    Ok(web::Json(PromptVersionList {
        next_cursor: more.then(|| versions.last().map(|v| v.version.to_string())).flatten(),
        items: versions
            .iter()
            .map(|v| PromptVersionSummary {
                version: v.version,
                title: v.title.clone(),
                author: person(&names, v.author),
                commit_message: v.commit_message.clone(),
                restored_from: v.restored_from,
                created_at: v.created_at,
            })
            .collect(),
    }))
}

async fn load_version(
    state: &AppState,
    principal: &Principal,
    prompt: &Prompt,
    version: u32,
) -> Result<PromptVersion, ApiError> {
    state
        .db
        .tenant(principal.scope())
        .prompt_version(prompt.id, version)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("The prompt has no version {version}.")))
}

/// The prompt as it was at one version.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(
        ("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"),
        ("version" = u32, Path, description = "The version number"),
    ),
    responses(
        (status = 200, description = "The version", body = PromptVersionView),
        (status = 404, description = "No such prompt or version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/versions/{version}")]
pub async fn get_version(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(String, u32)>,
) -> Result<web::Json<PromptVersionView>, ApiError> {
    let (raw, number) = path.into_inner();
    let prompt = load(&state, &principal, &raw).await?;
    let version = load_version(&state, &principal, &prompt, number).await?;
    let names = people(&state, &principal, [version.author]).await?;
    Ok(web::Json(version_view(&version, &names)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version (default: the one before `to`).
    from: Option<u32>,
    /// The newer version (default: the current one).
    to: Option<u32>,
}

/// What changed between two versions: the content line by line, and the other fields.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), DiffQuery),
    responses(
        (status = 200, description = "The differences", body = PromptDiff),
        (status = 404, description = "No such prompt or version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/diff")]
pub async fn diff_versions(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<DiffQuery>,
) -> Result<web::Json<PromptDiff>, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let to = query.to.unwrap_or(prompt.version);
    let from = query.from.unwrap_or(to.saturating_sub(1).max(1));
    let old = load_version(&state, &principal, &prompt, from).await?;
    let new = load_version(&state, &principal, &prompt, to).await?;
    let mut changes = Vec::new();
    for (field, before, after) in [
        ("name", old.name.clone(), new.name.clone()),
        ("title", old.title.clone(), new.title.clone()),
        ("category", old.category.clone(), new.category.clone()),
        ("tags", old.tags.join(", "), new.tags.join(", ")),
    ] {
        if before != after {
            changes.push(FieldChange { field: field.to_owned(), from: before, to: after });
        }
    }
    // Diffing is CPU work that can take a while on large texts: off the executor, bounded.
    let (lines, unified) = web::block(move || {
        let deadline = Some(Instant::now() + DIFF_TIME_BUDGET);
        let lines = diff::line_diff(&old.content, &new.content, deadline);
        let unified =
            diff::unified(&old.content, &new.content, &format!("v{from}"), &format!("v{to}"), deadline);
        (lines, unified)
    })
    .await?;
    Ok(web::Json(PromptDiff { from, to, lines, unified, changes }))
}

/// Makes an old version current again, as a new version (history is never rewritten). The
/// name, visibility and enhancement flag stay as they are.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(
        ("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"),
        ("version" = u32, Path, description = "The version to restore"),
    ),
    request_body = RestorePromptRequest,
    responses(
        (status = 200, description = "Restored as a new version; `ETag` header", body = PromptView),
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt or version", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Someone saved first", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Neither If-Match nor version was sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/versions/{version}/restore")]
pub async fn restore_version(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, u32)>,
    body: web::Json<RestorePromptRequest>,
) -> Result<HttpResponse, ApiError> {
    let (raw, number) = path.into_inner();
    let current = load(&state, &principal, &raw).await?;
    check_may_edit(&principal, &current)?;
    let body = body.into_inner();
    check_base_version(&req, &current, body.version)?;
    let old = load_version(&state, &principal, &current, number).await?;
    let mut errors = Vec::new();
    let commit_message = commit_message(body.commit_message, &mut errors)
        .or_else(|| Some(format!("Restored version {number}")));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let fields = PromptFields {
        title: old.title,
        content: old.content,
        category: old.category,
        tags: old.tags,
        ..current.fields()
    };
    let change = PromptChange { author: principal.user.id, commit_message, restored_from: Some(number) };
    let details = serde_json::json!({ "restored_from": number });
    let restored =
        save(&state, &req, &principal, &current, fields, change, AuditAction::PromptRestored, details)
            .await?;
    prompt_response(&state, &principal, &restored, HttpResponse::Ok()).await
}

/// Fills the prompt's `{{variables}}` with the values given. Refuses, listing them, when a
/// variable has no value — and with `strict`, when a value has no variable. `{{{{` is a
/// literal `{{`.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = RenderRequest,
    responses(
        (status = 200, description = "The filled-in text", body = RenderResponse),
        (status = 404, description = "No such prompt or version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`variables_mismatch`: each missing or unexpected variable in `errors`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/render")]
pub async fn render_prompt(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<RenderRequest>,
) -> Result<web::Json<RenderResponse>, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let body = body.into_inner();
    let (content, version) = match body.version {
        Some(number) if number != prompt.version => {
            (load_version(&state, &principal, &prompt, number).await?.content, number)
        }
        _ => (prompt.content, prompt.version),
    };
    match template::render(&content, &body.variables, body.strict) {
        Ok(text) => Ok(web::Json(RenderResponse { text, version })),
        Err(mismatch) => {
            let missing = mismatch
                .missing
                .iter()
                .map(|name| FieldError::new(format!("variables.{name}"), "has no value"));
            let unexpected = mismatch
                .unexpected
                .iter()
                .map(|name| FieldError::new(format!("variables.{name}"), "is not a variable of this prompt"));
            let detail = match (mismatch.missing.is_empty(), mismatch.unexpected.is_empty()) {
                (false, true) => format!("Missing values for: {}.", mismatch.missing.join(", ")),
                (true, false) => format!("Not variables of this prompt: {}.", mismatch.unexpected.join(", ")),
                _ => format!(
                    "Missing values for: {}. Not variables of this prompt: {}.",
                    mismatch.missing.join(", "),
                    mismatch.unexpected.join(", ")
                ),
            };
            Err(ApiError::new(ErrorCode::VariablesMismatch, detail)
                .with_errors(missing.chain(unexpected).collect()))
        }
    }
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

/// The prompts the caller may see (all, or those matching the filters) as an import file.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(PromptQuery),
    responses(
        (status = 200, description = "The export file (up to 10,000 prompts)", body = PromptExport),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/exports/prompts")]
pub async fn export_prompts(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PromptQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let filter = query.filter(&principal, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let repo = state.db.tenant(principal.scope());
    let sort = query.sort.unwrap_or(PromptSort::Name);
    let (prompts, _) =
        repo.search_prompts(&viewer(&principal), &filter, sort, 0, MAX_TRANSFER_PROMPTS as u64).await?;
    let now = Utc::now();
    let export = PromptExport {
        format: PROMPT_EXPORT_FORMAT.to_owned(),
        exported_at: Some(now),
        prompts: prompts
            .into_iter()
            .map(|p| ExportedPrompt {
                name: p.name.as_str().to_owned(),
                title: Some(p.title),
                content: p.content,
                category: Some(p.category),
                tags: p.tags,
                is_enhancement_prompt: p.is_enhancement_prompt,
                visibility: p.visibility,
            })
            .collect(),
    };
    let filename =
        format!("prompts-{}-{}.json", principal.tenant.subdomain.as_str(), now.format("%Y%m%d-%H%M%S"));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .json(export))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Report what would happen without writing anything.
    #[serde(default)]
    dry_run: bool,
    /// What to do with a name that is taken: `skip` (default), `overwrite` (as a new version)
    /// or `rename`.
    #[serde(default)]
    #[param(value_type = Option<ConflictPolicy>)]
    on_conflict: ConflictPolicy,
}

/// Imports an export file in one transaction: all of it or, if any prompt is invalid, none of
/// it (every reason is listed).
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body = PromptExport,
    responses(
        (status = 200, description = "What was done (or, with dry_run, would be done)", body = ImportReport),
        (status = 400, description = "Not JSON, or not an export file", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid prompts; nothing was imported", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts")]
pub async fn import_prompts(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    query: web::Query<ImportQuery>,
    body: web::Json<PromptExport>,
) -> Result<web::Json<ImportReport>, ApiError> {
    let file = body.into_inner();
    let items = validate_import(&file)?;
    let viewer = viewer(&principal);
    let now = Utc::now();
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope());
    let mut report = ImportReport {
        dry_run: query.dry_run,
        on_conflict: query.on_conflict,
        created: 0,
        updated: 0,
        unchanged: 0,
        skipped: 0,
        renamed: 0,
        items: Vec::with_capacity(items.len()),
    };
    let mut refused = Vec::new();
    for (index, fields) in items.into_iter().enumerate() {
        let name = fields.name.as_str().to_owned();
        let existing = repo.prompt_in_namespace(&fields.name, fields.visibility, principal.user.id).await?;
        let (outcome, stored_as) = match (existing, query.on_conflict) {
            (None, _) => {
                let new =
                    NewPrompt { owner: principal.user.id, fields, commit_message: Some("Imported".into()) };
                (ImportOutcome::Created, Some(repo.create_prompt(new, now).await?.name))
            }
            (Some(_), ConflictPolicy::Skip) => (ImportOutcome::Skipped, None),
            (Some(existing), ConflictPolicy::Overwrite) => {
                if !viewer.may_see(&existing) || !viewer.may_edit(&existing) {
                    refused.push(FieldError::new(
                        format!("prompts[{index}].name"),
                        "belongs to someone else; only its owner or an administrator may overwrite it",
                    ));
                    continue;
                }
                if fields == existing.fields() {
                    (ImportOutcome::Unchanged, Some(existing.name))
                } else {
                    let change = PromptChange {
                        author: principal.user.id,
                        commit_message: Some("Imported".into()),
                        restored_from: None,
                    };
                    let updated = repo
                        .update_prompt(&existing, fields, change, now)
                        .await?
                        .ok_or_else(|| stale(existing.version))?;
                    (ImportOutcome::Updated, Some(updated.name))
                }
            }
            (Some(_), ConflictPolicy::Rename) => {
                let Some(free) =
                    repo.free_prompt_name(&fields.name, fields.visibility, principal.user.id).await?
                else {
                    refused.push(FieldError::new(format!("prompts[{index}].name"), "has no free variant"));
                    continue;
                };
                let new = NewPrompt {
                    owner: principal.user.id,
                    fields: PromptFields { name: free, ..fields },
                    commit_message: Some("Imported".into()),
                };
                (ImportOutcome::Renamed, Some(repo.create_prompt(new, now).await?.name))
            }
        };
        match outcome {
            ImportOutcome::Created => report.created += 1,
            ImportOutcome::Updated => report.updated += 1,
            ImportOutcome::Unchanged => report.unchanged += 1,
            ImportOutcome::Skipped => report.skipped += 1,
            ImportOutcome::Renamed => report.renamed += 1,
        }
        report.items.push(ImportItem {
            index,
            name,
            outcome,
            stored_as: stored_as.map(|n| n.as_str().to_owned()),
        });
    }
    if !refused.is_empty() {
        return Err(ApiError::validation(refused));
    }
    if !query.dry_run {
        let details = serde_json::json!({
            "on_conflict": report.on_conflict,
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "renamed": report.renamed,
        });
        repo.record_audit(NewAuditEvent {
            actor: Actor::User(principal.user.id),
            action: AuditAction::PromptsImported,
            target_type: "prompt",
            target_id: None,
            details,
            client_addr: Some(client::address(&req, state.trust_proxy_headers)),
            at: now,
        })
        .await?;
        tx.commit().await?;
    }
    // A dry run drops the transaction here, which rolls every write back.
    Ok(web::Json(report))
}

/// Every prompt of an import file, validated; all the reasons when any is invalid.
fn validate_import(file: &PromptExport) -> Result<Vec<PromptFields>, ApiError> {
    let mut errors = Vec::new();
    if file.format != PROMPT_EXPORT_FORMAT {
        errors.push(FieldError::new("format", format!("must be {PROMPT_EXPORT_FORMAT:?}")));
    }
    if file.prompts.len() > MAX_TRANSFER_PROMPTS {
        errors.push(FieldError::new("prompts", format!("must hold at most {MAX_TRANSFER_PROMPTS} prompts")));
    }
    let mut fields = Vec::with_capacity(file.prompts.len());
    // Two prompts of one file must not claim the same name in the same namespace.
    let mut seen: HashMap<(String, Visibility), usize> = HashMap::new();
    for (index, prompt) in file.prompts.iter().enumerate() {
        let parsed = PromptFields::parse(PromptInput {
            name: &prompt.name,
            title: prompt.title.as_deref(),
            content: &prompt.content,
            category: prompt.category.as_deref(),
            tags: &prompt.tags,
            is_enhancement_prompt: prompt.is_enhancement_prompt,
            visibility: prompt.visibility,
        });
        match parsed {
            Ok(parsed) => {
                if let Some(first) = seen.insert((parsed.name.key(), parsed.visibility), index) {
                    errors.push(FieldError::new(
                        format!("prompts[{index}].name"),
                        format!("is the same name as prompts[{first}]"),
                    ));
                }
                fields.push(parsed);
            }
            Err(field_errors) => errors.extend(
                field_errors
                    .into_iter()
                    .map(|e| FieldError::new(format!("prompts[{index}].{}", e.field), e.message)),
            ),
        }
    }
    if errors.is_empty() { Ok(fields) } else { Err(ApiError::validation(errors)) }
}
