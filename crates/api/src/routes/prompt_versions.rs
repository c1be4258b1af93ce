//! A prompt's history: its versions, the diff between two, restoring an old one, and rendering
//! its `{{variables}}` (of the current or any older version).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use domain::audit::AuditAction;
use domain::prompt::{Prompt, PromptFields, PromptVersion};
use domain::wire::{
    FieldChange, Problem, PromptDiff, PromptVersionList, PromptVersionSummary, PromptVersionView, PromptView,
    RenderRequest, RenderResponse, RestorePromptRequest,
};
use domain::{UserId, diff};
use persistence::PromptChange;
use serde::Deserialize;
use utoipa::IntoParams;

use super::acting;
use super::prompts::{
    check_base_version, check_may_edit, commit_message, load, people, person, prompt_response, save,
};
use crate::access::Principal;
use crate::bundles;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::state::AppState;

/// How long a diff may search for the smallest set of changes before settling for a larger one.
const DIFF_TIME_BUDGET: Duration = Duration::from_millis(500);

fn version_view(version: &PromptVersion, names: &HashMap<UserId, String>) -> PromptVersionView {
    PromptVersionView {
        version: version.version,
        name: version.name.clone(),
        title: version.title.clone(),
        content: version.content.clone(),
        kind: version.bundle.kind,
        template_format: version.bundle.format,
        messages: version.bundle.messages.clone(),
        settings: version.bundle.settings.clone(),
        contract: version.bundle.contract.clone(),
        category: version.category.clone(),
        tags: version.tags.clone(),
        variables: version.bundle.variable_names(),
        author: person(names, version.author),
        commit_message: version.commit_message.clone(),
        restored_from: version.restored_from,
        created_at: version.created_at,
    }
}

const VERSIONS: &str = "versions";

/// A prompt's versions, newest first (without their content).
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), PageQuery),
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
    query: web::Query<PageQuery>,
) -> Result<web::Json<PromptVersionList>, ApiError> {
    let page = ApiError::check(|errors| query.parse::<u32>(VERSIONS, LIST_PAGE, errors))?;
    let prompt = load(&state, &principal, &path).await?;
    let repo = state.db.tenant(principal.scope());
    let versions = repo.prompt_versions(prompt.id, page.after, page.limit).await?;
    let names = people(&state, &principal, versions.items.iter().map(|v| v.author)).await?;
    Ok(web::Json(PromptVersionList {
        next_cursor: next_cursor(VERSIONS, versions.next_cursor),
        items: versions
            .items
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
        ("kind", old.bundle.kind.as_str().to_owned(), new.bundle.kind.as_str().to_owned()),
        ("template_format", old.bundle.format.as_str().to_owned(), new.bundle.format.as_str().to_owned()),
        ("settings", json_text(&old.bundle.settings), json_text(&new.bundle.settings)),
        ("contract", json_text(&old.bundle.contract), json_text(&new.bundle.contract)),
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

/// A bundle part as indented JSON, so a diff viewer can show what changed line by line.
fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
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
        bundle: old.bundle,
        ..current.fields()
    };
    let change = PromptChange { author: principal.user.id, commit_message, restored_from: Some(number) };
    let details = serde_json::json!({ "restored_from": number });
    let restored = save(
        &state,
        &acting(&state, &req, &principal),
        &principal,
        &current,
        fields,
        change,
        AuditAction::PromptRestored,
        details,
    )
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
        (status = 422, description = "`variables_mismatch`: each missing or unexpected variable in `errors`; `validation_failed` when the result would exceed 1 MB", body = Problem, content_type = "application/problem+json"),
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
    let version = bundles::version_of(&state, &principal, &prompt, body.version).await?;
    let rendered = bundles::render(&state, &principal, &version, &body.variables, body.strict).await?;
    Ok(web::Json(RenderResponse {
        text: rendered.text,
        messages: rendered.messages,
        version: version.number,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SchemaQuery {
    /// The version whose contract to give (default: the current one).
    version: Option<u32>,
}

/// The prompt's variable contract as a JSON Schema (draft 2020-12) of the `variables` object
/// that render and run take: each variable's type, description, default and example, and
/// which are required.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), SchemaQuery),
    responses(
        (status = 200, description = "A JSON Schema (`application/schema+json`)", body = Object, content_type = "application/schema+json"),
        (status = 404, description = "No such prompt or version", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/schema")]
pub async fn variables_schema(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<SchemaQuery>,
) -> Result<HttpResponse, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let version = bundles::version_of(&state, &principal, &prompt, query.version).await?;
    let mut schema = domain::bundle::json_schema(&version.bundle.contract);
    schema["title"] = format!("Variables of {} (version {})", prompt.name, version.number).into();
    Ok(HttpResponse::Ok().content_type("application/schema+json").json(schema))
}
