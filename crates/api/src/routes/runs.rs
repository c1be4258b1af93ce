//! Running prompts: run (whole or streamed), compare, history, enhance and accept, token counts
//! and run analytics. The calls themselves are in [`crate::runs`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{Days, NaiveDate, Utc};
use domain::ai::{BUILT_IN_ENHANCEMENT_PROMPT, ChatMessage, Run, estimate_cost, fill_enhancement, price_for};
use domain::audit::AuditAction;
use domain::bundle::{ModelSettings, PromptKind};
use domain::prompt::{PromptKey, check_content};
use domain::wire::{
    AcceptEnhancementRequest, CompareItem, CompareRequest, CompareResult, EnhanceRequest, EnhanceResult,
    FieldError, ModelUsage, Problem, PromptView, RunAnalytics, RunDay, RunKind, RunList, RunOutcome,
    RunRecordView, RunRequest, RunResult, TokenCount, TokenCountRequest,
};
use domain::{RunId, UserId, diff};
use persistence::{PromptChange, RunViewer};
use serde::Deserialize;
use utoipa::IntoParams;

use super::acting;
use super::prompts::{
    check_base_version, check_may_edit, commit_message, load, people, person, prompt_response, save, viewer,
};
use crate::access::Principal;
use crate::ai_services::{self, Purpose};
use crate::bundles;
use crate::error::ApiError;
use crate::paging::{LARGE_ROW_PAGE, PageQuery, next_cursor};
use crate::runs::{self, Call};
use crate::state::AppState;

/// Targets of one comparison.
const MAX_COMPARE_TARGETS: usize = 4;
/// How long a suggestion's diff may search for the smallest set of changes.
const DIFF_TIME_BUDGET: Duration = Duration::from_millis(500);
/// The longest period run analytics cover.
const MAX_ANALYTICS_DAYS: u64 = 366;

fn run_viewer(principal: &Principal) -> RunViewer {
    if viewer(principal).is_admin() { RunViewer::Admin } else { RunViewer::User(principal.user.id) }
}

/// Runs the prompt: fills its variables strictly, sends it to the AI service and answers with
/// the output, finish reason, tokens, model and latency — or, with `stream: true`, with
/// server-sent events (`delta`…, then `done` or `error`). Readonly users and read tokens may run
/// (it changes no prompt); each user may start `AI_RUNS_PER_MINUTE` calls a minute.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = RunRequest,
    responses(
        (status = 200, description = "The answer (`application/json`), or with `stream: true` a `text/event-stream` of `delta`, then `done` or `error` events", body = RunResult),
        (status = 403, description = "`user_connections_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt, version or connection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`variables_mismatch`, `no_connection`, `address_not_allowed` or invalid options", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many runs; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The AI service failed: `provider_unreachable`, `provider_unauthorized`, `provider_rate_limited`, `provider_error`, `provider_invalid_response`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many AI calls in flight", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`provider_timeout`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/run")]
pub async fn run_prompt(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<RunRequest>,
) -> Result<HttpResponse, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let body = body.into_inner();
    let version = bundles::version_of(&state, &principal, &prompt, body.version).await?;
    let rendered = bundles::render(&state, &principal, &version, &body.variables, true).await?;
    let policy = ai_services::policy(&state, &principal).await?;
    let connection =
        ai_services::resolve(&state, &principal, &policy, body.connection, Purpose::Execution).await?;
    let settings = &version.bundle.settings;
    let options = runs::options(&connection, settings, body.temperature, body.max_tokens)?;
    let mut permits = state.ai.admit(principal.user.id, 1)?;
    let permit = permits.pop().ok_or_else(|| ApiError::internal(&"no permit"))?;
    let call = Call {
        kind: RunKind::Run,
        prompt_id: Some(prompt.id),
        version: Some(version.number),
        connection,
        model: body.model.filter(|m| !m.trim().is_empty()).or_else(|| settings.model.clone()),
        request: runs::chat_request(rendered.messages, options, settings),
        compare_group: None,
        enhancement_prompt: None,
        policy,
    };
    if body.stream {
        let events = runs::stream(state.clone(), principal, call, permit).await?;
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            // Proxies such as nginx would otherwise hold the events back.
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(events));
    }
    Ok(HttpResponse::Ok().json(runs::complete(&state, &principal, call, permit).await?))
}

/// Runs the prompt on 2 to 4 targets at once (connections, models, versions) and answers with
/// every result side by side; a target that fails carries its problem instead.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = CompareRequest,
    responses(
        (status = 200, body = CompareResult),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad targets, variables or options", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many runs; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many AI calls in flight", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/compare")]
pub async fn compare_prompt(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<CompareRequest>,
) -> Result<web::Json<CompareResult>, ApiError> {
    let body = body.into_inner();
    if !(2..=MAX_COMPARE_TARGETS).contains(&body.targets.len()) {
        return Err(ApiError::validation(vec![FieldError::new(
            "targets",
            format!("must list 2 to {MAX_COMPARE_TARGETS} targets"),
        )]));
    }
    let prompt = load(&state, &principal, &path).await?;
    let group = uuid::Uuid::now_v7();
    let policy = ai_services::policy(&state, &principal).await?;
    // Everything is checked before the first call, so a bad target costs nothing.
    let mut calls = Vec::new();
    for target in &body.targets {
        let version = bundles::version_of(&state, &principal, &prompt, target.version).await?;
        let rendered = bundles::render(&state, &principal, &version, &body.variables, true).await?;
        let connection =
            ai_services::resolve(&state, &principal, &policy, target.connection, Purpose::Execution).await?;
        let settings = &version.bundle.settings;
        let options = runs::options(&connection, settings, body.temperature, body.max_tokens)?;
        calls.push(Call {
            kind: RunKind::Compare,
            prompt_id: Some(prompt.id),
            version: Some(version.number),
            connection,
            model: target.model.clone().filter(|m| !m.trim().is_empty()).or_else(|| settings.model.clone()),
            request: runs::chat_request(rendered.messages, options, settings),
            compare_group: Some(group),
            enhancement_prompt: None,
            policy: policy.clone(),
        });
    }
    let permits = state.ai.admit(principal.user.id, u32::try_from(calls.len()).unwrap_or(u32::MAX))?;
    let answers = futures_util::future::join_all(
        calls.into_iter().zip(permits).map(|(call, permit)| runs::complete(&state, &principal, call, permit)),
    )
    .await;
    let items = body
        .targets
        .into_iter()
        .zip(answers)
        .map(|(target, answer)| match answer {
            Ok(result) => CompareItem { target, result: Some(result), error: None },
            Err(e) => CompareItem { target, result: None, error: Some(e.problem().clone()) },
        })
        .collect();
    Ok(web::Json(CompareResult { compare_group: group, items }))
}

const RUNS: &str = "runs";

fn record_view(run: &Run, names: &HashMap<UserId, String>) -> RunRecordView {
    let r = &run.run;
    RunRecordView {
        id: run.id,
        kind: r.kind,
        prompt_id: r.prompt_id,
        version: r.prompt_version,
        compare_group: r.compare_group,
        user: person(names, Some(r.user_id)),
        connection_name: r.connection_name.clone(),
        provider: r.provider,
        model: r.model.clone(),
        outcome: r.outcome,
        error_code: r.error_code.clone(),
        finish_reason: r.finish_reason.clone(),
        usage: r.usage,
        latency_ms: r.latency_ms,
        estimated_cost: r.estimated_cost,
        output: r.output.clone(),
        created_at: run.created_at,
    }
}

/// The prompt's runs, newest first: all of them for tenant admins, the caller's own otherwise
/// (a run's output can hold what someone typed into its variables).
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), PageQuery),
    responses(
        (status = 200, body = RunList),
        (status = 404, description = "No such prompt", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/runs")]
pub async fn list_runs(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<RunList>, ApiError> {
    let page = ApiError::check(|errors| query.parse::<RunId>(RUNS, LARGE_ROW_PAGE, errors))?;
    let prompt = load(&state, &principal, &path).await?;
    let repo = state.db.tenant(principal.scope());
    let runs =
        repo.prompt_runs(prompt.id, run_viewer(&principal), page.after, page.limit, Utc::now()).await?;
    let names = people(&state, &principal, runs.items.iter().map(|r| Some(r.run.user_id))).await?;
    Ok(web::Json(RunList {
        next_cursor: next_cursor(RUNS, runs.next_cursor),
        items: runs.items.iter().map(|r| record_view(r, &names)).collect(),
    }))
}

/// One recorded run (admins: any of the tenant's; others: their own).
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("id" = RunId, Path)),
    responses(
        (status = 200, body = RunRecordView),
        (status = 404, description = "No such run visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{id}")]
pub async fn get_run(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<RunId>,
) -> Result<web::Json<RunRecordView>, ApiError> {
    let run = state
        .db
        .tenant(principal.scope())
        .run(*id, run_viewer(&principal), Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found("No such run."))?;
    let names = people(&state, &principal, [Some(run.run.user_id)]).await?;
    Ok(web::Json(record_view(&run, &names)))
}

/// Asks the enhancement service to improve `original`; nothing is saved.
async fn enhance(
    state: &AppState,
    principal: &Principal,
    prompt: Option<(&domain::prompt::Prompt, u32)>,
    original: String,
    body: EnhanceRequest,
) -> Result<EnhanceResult, ApiError> {
    let (template_text, enhancement_name) =
        match body.enhancement_prompt.as_deref().filter(|p| !p.trim().is_empty()) {
            None => (BUILT_IN_ENHANCEMENT_PROMPT.to_owned(), None),
            Some(raw) => {
                let key =
                    PromptKey::parse(raw).map_err(|_| ApiError::not_found("No such enhancement prompt."))?;
                let chosen = state
                    .db
                    .tenant(principal.scope())
                    .prompt(&viewer(principal), &key)
                    .await?
                    .ok_or_else(|| ApiError::not_found("No such enhancement prompt."))?;
                if !chosen.is_enhancement_prompt {
                    return Err(ApiError::validation(vec![FieldError::new(
                        "enhancement_prompt",
                        "is not marked as an enhancement prompt",
                    )]));
                }
                (chosen.content.clone(), Some(chosen.name.as_str().to_owned()))
            }
        };
    let filled = fill_enhancement(&template_text, &original);
    if filled.len() > bundles::MAX_RENDERED_BYTES {
        return Err(ApiError::validation(vec![FieldError::new("text", "is too long to enhance")]));
    }
    let policy = ai_services::policy(state, principal).await?;
    let connection =
        ai_services::resolve(state, principal, &policy, body.connection, Purpose::Enhancement).await?;
    let options = runs::options(&connection, &ModelSettings::default(), None, None)?;
    let mut permits = state.ai.admit(principal.user.id, 1)?;
    let permit = permits.pop().ok_or_else(|| ApiError::internal(&"no permit"))?;
    let call = Call {
        kind: RunKind::Enhance,
        prompt_id: prompt.map(|(p, _)| p.id),
        version: prompt.map(|(_, v)| v),
        connection: connection.clone(),
        model: body.model.filter(|m| !m.trim().is_empty()),
        request: runs::chat_request(vec![ChatMessage::user(filled)], options, &ModelSettings::default()),
        compare_group: None,
        enhancement_prompt: enhancement_name.clone(),
        policy,
    };
    let result = runs::complete(state, principal, call, permit).await?;
    let suggestion = result.output.trim().to_owned();
    let (before, after) = (original.clone(), suggestion.clone());
    let (lines, unified) = web::block(move || {
        let deadline = Some(Instant::now() + DIFF_TIME_BUDGET);
        (
            diff::line_diff(&before, &after, deadline),
            diff::unified(&before, &after, "original", "suggestion", deadline),
        )
    })
    .await?;
    Ok(EnhanceResult {
        run_id: result.run_id,
        prompt_id: result.prompt_id,
        version: result.version,
        original,
        suggestion,
        lines,
        unified,
        enhancement_prompt: enhancement_name,
        connection: result.connection,
        model: result.model,
        usage: result.usage,
        latency_ms: result.latency_ms,
    })
}

/// Suggests an improved version of the prompt, using a tenant enhancement prompt (its
/// `{{original_prompt}}` or `{original_prompt}`) or the built-in one, on the caller's
/// enhancement connection. Nothing is saved: accept the suggestion to save it as a version.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = EnhanceRequest,
    responses(
        (status = 200, body = EnhanceResult),
        (status = 404, description = "No such prompt or enhancement prompt", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`no_connection`, or not an enhancement prompt", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many runs; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The AI service failed", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`provider_timeout`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/enhance")]
pub async fn enhance_prompt(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<EnhanceRequest>,
) -> Result<web::Json<EnhanceResult>, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    text_prompt_only(&prompt)?;
    let original = prompt.content.clone();
    Ok(web::Json(
        enhance(&state, &principal, Some((&prompt, prompt.version)), original, body.into_inner()).await?,
    ))
}

/// Enhancement rewrites one text; a chat prompt's messages are edited one by one.
fn text_prompt_only(prompt: &domain::prompt::Prompt) -> Result<(), ApiError> {
    if prompt.bundle.kind == PromptKind::Chat {
        return Err(ApiError::validation(vec![FieldError::new(
            "kind",
            "only text prompts can be enhanced; enhance a chat prompt's messages as unsaved text",
        )]));
    }
    Ok(())
}

/// Suggests an improved version of unsaved text (`text`), as `…/enhance` does for a prompt.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    request_body = EnhanceRequest,
    responses(
        (status = 200, body = EnhanceResult),
        (status = 404, description = "No such enhancement prompt", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No `text`, `no_connection`, or not an enhancement prompt", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many runs; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The AI service failed", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "`provider_timeout`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/enhance")]
pub async fn enhance_text(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<EnhanceRequest>,
) -> Result<web::Json<EnhanceResult>, ApiError> {
    let mut body = body.into_inner();
    let text = body.text.take().unwrap_or_default();
    if let Err(reason) = check_content(&text) {
        return Err(ApiError::validation(vec![FieldError::new("text", reason)]));
    }
    Ok(web::Json(enhance(&state, &principal, None, text, body).await?))
}

/// Saves an enhancement's suggestion as the prompt's new version, with a commit message naming
/// the enhancement prompt and the model. Needs the version the suggestion was made for
/// (`version` or `If-Match`): a prompt saved since gets 412.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = AcceptEnhancementRequest,
    responses(
        (status = 200, description = "Saved as a new version; `ETag` header", body = PromptView),
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt, or no suggestion of yours for it", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Someone saved first", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The suggestion is not valid prompt content", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Neither If-Match nor version was sent", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/enhance/accept")]
pub async fn accept_enhancement(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<AcceptEnhancementRequest>,
) -> Result<HttpResponse, ApiError> {
    let current = load(&state, &principal, &path).await?;
    check_may_edit(&principal, &current)?;
    text_prompt_only(&current)?;
    let body = body.into_inner();
    check_base_version(&req, &current, body.version)?;
    // Only the caller's own, successful suggestion for this prompt.
    let gone = || ApiError::not_found("No such suggestion for this prompt (or it has expired).");
    let run = state
        .db
        .tenant(principal.scope())
        .run(body.run_id, RunViewer::User(principal.user.id), Utc::now())
        .await?
        .ok_or_else(gone)?;
    let r = &run.run;
    if r.kind != RunKind::Enhance || r.prompt_id != Some(current.id) || r.outcome != RunOutcome::Ok {
        return Err(gone());
    }
    let suggestion = r.output.as_deref().map(str::trim).ok_or_else(gone)?.to_owned();
    if let Err(reason) = check_content(&suggestion) {
        return Err(ApiError::validation(vec![FieldError::new("suggestion", reason)]));
    }
    let mut errors = Vec::new();
    let by = r.enhancement_prompt.as_deref().unwrap_or("the built-in enhancement prompt");
    let commit_message = commit_message(body.commit_message, &mut errors)
        .or_else(|| Some(format!("Enhanced with {by} on {}", r.model)));
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let fields = current.fields().with_content(suggestion).map_err(|errors| {
        ApiError::validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(e.field.replace("content", "suggestion"), e.message))
                .collect(),
        )
    })?;
    let change = PromptChange { author: principal.user.id, commit_message, restored_from: None };
    let details = serde_json::json!({
        "run_id": run.id.to_string(),
        "enhancement_prompt": r.enhancement_prompt,
        "model": r.model,
    });
    let saved = save(
        &state,
        &acting(&state, &req, &principal),
        &principal,
        &current,
        fields,
        change,
        AuditAction::PromptEnhanced,
        details,
    )
    .await?;
    prompt_response(&state, &principal, &saved, HttpResponse::Ok()).await
}

/// Counts the prompt's tokens for a model (OpenAI models with their real tokenizer, others with
/// a documented estimate) and what sending them costs by the tenant's price table.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    request_body = TokenCountRequest,
    responses(
        (status = 200, body = TokenCount),
        (status = 404, description = "No such prompt, version or connection", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No model given and no connection set up", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/tokens")]
pub async fn count_tokens(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<TokenCountRequest>,
) -> Result<web::Json<TokenCount>, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let body = body.into_inner();
    let version = bundles::version_of(&state, &principal, &prompt, body.version).await?;
    let policy = ai_services::policy(&state, &principal).await?;
    let model =
        match body.model.filter(|m| !m.trim().is_empty()).or_else(|| version.bundle.settings.model.clone()) {
            Some(model) => model,
            None => {
                ai_services::resolve(&state, &principal, &policy, body.connection, Purpose::Execution)
                    .await?
                    .settings
                    .model
            }
        };
    let text = bundles::render_as_written(&state, &principal, &version, &body.variables).await?.text;
    // Tokenizing 1 MB takes a while: off the executor.
    let (model, counted) = web::block(move || {
        let counted = ai::count_tokens(&model, &text);
        (model, counted)
    })
    .await?;
    let usage = domain::ai::Usage { input_tokens: counted.tokens, output_tokens: 0 };
    Ok(web::Json(TokenCount {
        estimated_input_cost: estimate_cost(&policy.prices, &model, usage),
        price: price_for(&policy.prices, &model).cloned(),
        tokens: counted.tokens,
        method: counted.method.to_owned(),
        model,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsPeriod {
    /// First day (UTC), default 30 days ago.
    from: Option<NaiveDate>,
    /// Last day (UTC, inclusive), default today. At most 366 days after `from`.
    to: Option<NaiveDate>,
}

/// Runs, failures and tokens per day, and runs, tokens and estimated cost per model.
#[utoipa::path(
    tag = "runs",
    security(("bearer" = [])),
    params(AnalyticsPeriod),
    responses(
        (status = 200, body = RunAnalytics),
        (status = 422, description = "A bad period", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/analytics/runs")]
pub async fn run_analytics(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AnalyticsPeriod>,
) -> Result<web::Json<RunAnalytics>, ApiError> {
    let today = Utc::now().date_naive();
    let to = query.to.unwrap_or(today);
    let from = query.from.unwrap_or_else(|| to.checked_sub_days(Days::new(29)).unwrap_or(to));
    let span = (to - from).num_days();
    if span < 0 || span >= i64::try_from(MAX_ANALYTICS_DAYS).unwrap_or(i64::MAX) {
        return Err(ApiError::validation(vec![FieldError::new(
            "to",
            format!("must be on or after `from`, at most {MAX_ANALYTICS_DAYS} days"),
        )]));
    }
    let start = from.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let end = to.checked_add_days(Days::new(1)).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::validation(vec![FieldError::new("from", "is out of range")]));
    };
    let repo = state.db.tenant(principal.scope());
    let totals = repo.run_totals(start, end).await?;
    let policy = repo.ai_policy().await?;
    Ok(web::Json(RunAnalytics {
        from,
        to,
        days: totals
            .days
            .into_iter()
            .map(|d| RunDay {
                day: d.day,
                runs: d.runs,
                failed: d.failed,
                input_tokens: d.input_tokens,
                output_tokens: d.output_tokens,
            })
            .collect(),
        models: totals
            .models
            .into_iter()
            .map(|m| {
                let usage = domain::ai::Usage {
                    input_tokens: u32::try_from(m.input_tokens).unwrap_or(u32::MAX),
                    output_tokens: u32::try_from(m.output_tokens).unwrap_or(u32::MAX),
                };
                ModelUsage {
                    estimated_cost: estimate_cost(&policy.prices, &m.model, usage),
                    provider: m.provider,
                    model: m.model,
                    runs: m.runs,
                    input_tokens: m.input_tokens,
                    output_tokens: m.output_tokens,
                }
            })
            .collect(),
    }))
}
