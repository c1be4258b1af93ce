//! Prompts in and out of the library as files: export (all or filtered) and import with a dry
//! run and a conflict policy, all or nothing.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, get, http::header, post, web};
use chrono::{DateTime, Utc};
use domain::audit::{Actor, AuditAction, NewAuditEvent};
use domain::bundle::{Bundle, BundleInput, PromptKind, VariableSpec};
use domain::prompt::{NewPrompt, Prompt, PromptFields, PromptInput, PromptPosition, PromptSort, Visibility};
use domain::webhook::WebhookEvent;
use domain::wire::{
    BundleRequest, ConflictPolicy, ExportedPrompt, FieldError, ImportItem, ImportOutcome, ImportReport,
    PROMPT_EXPORT_FORMAT, PROMPT_EXPORT_FORMAT_V1, Problem, PromptExport,
};
use futures_util::StreamExt as _;
use persistence::{PromptChange, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::prompts::{PromptQuery, stale, viewer};
use crate::access::Principal;
use crate::error::ApiError;
use crate::paging;
use crate::state::AppState;
use crate::{bundles, client};

/// Most prompts in one import file.
pub const MAX_TRANSFER_PROMPTS: usize = 10_000;

/// Prompts read per query while an export streams.
const EXPORT_BATCH: u64 = 500;

/// The prompts the caller may see (all, or those matching the filters) as an import file,
/// newest first, streamed a batch at a time ([`paging::stream_pages`]): an export of any size
/// takes little memory, and a failure midway cuts the response off instead of ending it
/// short. A prompt created while it streams is not in it.
#[utoipa::path(
    tag = "prompts",
    security(("bearer" = [])),
    params(PromptQuery),
    responses(
        (status = 200, description = "The export file (every matching prompt; an import file takes up to 10,000)", body = PromptExport),
        (status = 422, description = "Invalid filter", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/exports/prompts")]
pub async fn export_prompts(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<PromptQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = ApiError::check(|errors| query.filter(&principal, errors))?;
    let now = Utc::now();
    let head = serde_json::json!({ "format": PROMPT_EXPORT_FORMAT, "exported_at": now }).to_string();
    // `{"format":…,"exported_at":…` then `,"prompts":[` and the prompts, then `]}`.
    let opening = format!("{},\"prompts\":[", head.trim_end_matches('}'));
    let filename =
        format!("prompts-{}-{}.json", principal.tenant.subdomain.as_str(), now.format("%Y%m%d-%H%M%S"));
    let (scope, viewer) = (principal.scope(), viewer(&principal));
    // Creation order: ids never change, so a prompt edited while the export runs is neither
    // skipped nor written twice.
    let fetch = move |after: Option<PromptPosition>| {
        let (state, viewer, filter) = (state.clone(), viewer, filter.clone());
        async move {
            let repo = state.db.tenant(scope);
            Ok(repo
                .search_prompts(&viewer, &filter, PromptSort::Created, after.as_ref(), EXPORT_BATCH)
                .await?)
        }
    };
    let mut first = true;
    let write = move |out: &mut Vec<u8>, prompt: Prompt| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        serde_json::to_writer(out, &exported(prompt)).map_err(|e| ApiError::internal(&e))
    };
    let body = futures_util::stream::once(async move { Ok(web::Bytes::from(opening)) })
        .chain(paging::stream_pages(fetch, write))
        .chain(futures_util::stream::once(async { Ok(web::Bytes::from_static(b"]}")) }));
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .streaming(body))
}

fn exported(p: Prompt) -> ExportedPrompt {
    ExportedPrompt {
        name: p.name.as_str().to_owned(),
        title: Some(p.title),
        content: p.content,
        bundle: BundleRequest {
            kind: Some(p.bundle.kind),
            template_format: Some(p.bundle.format),
            messages: (p.bundle.kind == PromptKind::Chat).then_some(p.bundle.messages),
            settings: (!p.bundle.settings.is_empty()).then_some(p.bundle.settings),
            contract: Some(p.bundle.contract),
        },
        category: Some(p.category),
        tags: p.tags,
        is_enhancement_prompt: p.is_enhancement_prompt,
        visibility: p.visibility,
    }
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
    let repo = tx.tenant(principal.scope()).await?;
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
                let created = repo.create_prompt(new, now).await?;
                notify(&repo, WebhookEvent::PromptCreated, &created, &principal, now).await?;
                (ImportOutcome::Created, Some(created.name))
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
                    notify(&repo, WebhookEvent::PromptUpdated, &updated, &principal, now).await?;
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
                let created = repo.create_prompt(new, now).await?;
                notify(&repo, WebhookEvent::PromptCreated, &created, &principal, now).await?;
                (ImportOutcome::Renamed, Some(created.name))
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
            client_addr: Some(client::address(&req, &state.trusted_proxies)),
            at: now,
        })
        .await?;
        tx.commit().await?;
    }
    // A dry run drops the transaction here, which rolls every write back.
    Ok(web::Json(report))
}

/// The specs of a file's contract whose variables its templates still use: a file's content
/// may have been edited by hand since it was exported, and a spec left over is no reason to
/// refuse it. (Templates that do not parse are reported by the import's validation.)
fn used_specs(prompt: &ExportedPrompt, specs: &[VariableSpec]) -> Vec<VariableSpec> {
    let kind = prompt.bundle.kind.unwrap_or_default();
    let messages = prompt.bundle.messages.as_deref().unwrap_or_default();
    let format = prompt.bundle.template_format.unwrap_or_default();
    match domain::bundle::variable_uses(format, kind, &prompt.content, messages) {
        Ok(uses) => {
            specs.iter().filter(|spec| uses.iter().any(|(name, _)| *name == spec.name)).cloned().collect()
        }
        Err(_) => specs.to_vec(),
    }
}

/// Every prompt of an import file, validated; all the reasons when any is invalid.
fn validate_import(file: &PromptExport) -> Result<Vec<PromptFields>, ApiError> {
    let mut errors = Vec::new();
    if file.format != PROMPT_EXPORT_FORMAT && file.format != PROMPT_EXPORT_FORMAT_V1 {
        errors.push(FieldError::new(
            "format",
            format!("must be {PROMPT_EXPORT_FORMAT:?} (or the older {PROMPT_EXPORT_FORMAT_V1:?})"),
        ));
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
            bundle: &BundleInput {
                contract: prompt.bundle.contract.as_ref().map(|specs| used_specs(prompt, specs)),
                ..prompt.bundle.clone().into()
            },
            previous: &Bundle::default(),
        });
        let schema_errors = bundles::checked(&parsed);
        let parsed = match parsed {
            Ok(_) if !schema_errors.is_empty() => Err(schema_errors),
            other => other,
        };
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

/// Queues the event of one imported prompt, in the import's transaction (a dry run rolls it
/// back with the rest).
async fn notify(
    repo: &persistence::TransactionRepo<'_>,
    event: WebhookEvent,
    prompt: &Prompt,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let body = crate::webhooks::prompt_payload(event, prompt, principal.user.id, now);
    repo.enqueue_webhooks(event, &body, now).await.map(|_| ())
}
