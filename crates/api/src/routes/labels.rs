//! Release labels: which version of a prompt applications get. A label points at one version;
//! `latest` always names the newest. Moves are kept (history, rollback) and audited with who,
//! from, to and why. Fetching a prompt by label is `GET /api/v1/prompts/{prompt}?label=…`
//! (`prompts::get_prompt`, on the hot read path, through `releases::fetch`).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::Utc;
use domain::prompt::Prompt;
use domain::release::{Approval, LATEST, Label, LabelMove, LabelName, Split, normalize_reason};
use domain::wire::{
    ApprovalView, DayFetches, ErrorCode, FieldError, LabelList, LabelMoveList, LabelMoveView,
    LabelReasonRequest, LabelStats, LabelVersionFetches, LabelView, MoveLabelRequest, Problem,
};
use domain::{LabelMoveId, UserId};
use serde::Deserialize;
use utoipa::IntoParams;

use super::acting;
use super::approvals::approval_view;
use super::prompts::{check_may_edit, load, people, person, prompt_ref};
use crate::access::Principal;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::releases::{LabelChange, Outcome, Undo, change_label, moved_meanwhile, no_label};
use crate::state::AppState;

fn label_name(raw: &str) -> Result<LabelName, ApiError> {
    LabelName::parse_movable(raw)
        .map_err(|reason| ApiError::validation(vec![FieldError::new("label", reason)]))
}

/// The prompt and label a change names, once the caller may change the prompt's labels.
async fn label_to_change(
    state: &AppState,
    principal: &Principal,
    (raw_prompt, raw_label): (String, String),
) -> Result<(Prompt, LabelName), ApiError> {
    let prompt = load(state, principal, &raw_prompt).await?;
    check_may_edit(principal, &prompt)?;
    Ok((prompt, label_name(&raw_label)?))
}

fn label_view(label: &Label, names: &HashMap<UserId, String>) -> LabelView {
    LabelView {
        name: label.name.as_str().to_owned(),
        version: label.version,
        split: label.split.as_ref().map(|s| s.arms().to_vec()),
        automatic: false,
        moved_by: person(names, label.moved_by),
        moved_at: Some(label.moved_at),
    }
}

fn move_view(moved: &LabelMove, names: &HashMap<UserId, String>) -> LabelMoveView {
    LabelMoveView {
        id: moved.id,
        label: moved.label.as_str().to_owned(),
        from_version: moved.from,
        to_version: moved.to,
        split: moved.split.as_ref().map(|s| s.arms().to_vec()),
        reason: moved.reason.clone(),
        rollback_of: moved.rollback_of,
        moved_by: person(names, moved.moved_by),
        approved_by: person(names, moved.approved_by),
        moved_at: moved.moved_at,
    }
}

/// A prompt's labels: `latest` first, then the others A to Z.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)")),
    responses(
        (status = 200, description = "Its labels and the versions they name", body = LabelList),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/labels")]
pub async fn list_labels(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<web::Json<LabelList>, ApiError> {
    let prompt = load(&state, &principal, &path).await?;
    let labels = state.db.tenant(principal.scope()).labels(prompt.id).await?;
    let names = people(&state, &principal, labels.iter().map(|l| l.moved_by)).await?;
    let latest = LabelView {
        name: LATEST.to_owned(),
        version: prompt.version,
        split: None,
        automatic: true,
        moved_by: None,
        moved_at: None,
    };
    Ok(web::Json(LabelList {
        items: std::iter::once(latest).chain(labels.iter().map(|l| label_view(l, &names))).collect(),
    }))
}

/// Points a label at a version, creating the label if it is new. Moving it where it is
/// already changes nothing (and records nothing). A protected label is moved only by an admin
/// signed in or an admin's `promote` token; when the tenant requires approval, the move is
/// asked for instead (`202`) and made once another person approves.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(
        ("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"),
        ("label" = String, Path, description = "Letters, digits, - _ and .; not `latest`"),
    ),
    request_body = MoveLabelRequest,
    responses(
        (status = 200, description = "Where the label points now", body = LabelView),
        (status = 202, description = "A protected label in a tenant that requires approval: the request now waiting", body = ApprovalView),
        (status = 403, description = "Not your prompt (`forbidden`), or a protected label you may not move (`label_protected`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Other moves of the label kept landing first (`conflict`), the prompt has 50 labels (`label_limit_reached`), or a request for the label already waits (`approval_pending`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid label name, version the prompt does not have, or reason too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/prompts/{prompt}/labels/{label}")]
pub async fn move_label(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: web::Json<MoveLabelRequest>,
) -> Result<HttpResponse, ApiError> {
    let (prompt, name) = label_to_change(&state, &principal, path.into_inner()).await?;
    let body = body.into_inner();
    let (to, split, reason) = ApiError::check(|errors| {
        let (to, split) = match (body.version, body.split) {
            (Some(version), None) if (1..=prompt.version).contains(&version) => (version, None),
            (Some(_), None) => {
                errors.push(FieldError::new(
                    "version",
                    format!("the prompt has versions 1 to {}", prompt.version),
                ));
                (0, None)
            }
            (None, Some(arms)) => match Split::new(arms, prompt.version) {
                Ok(split) => (split.primary(), Some(split)),
                Err(reason) => {
                    errors.push(FieldError::new("split", reason));
                    (0, None)
                }
            },
            _ => {
                errors.push(FieldError::new("version", "send a version or a split"));
                (0, None)
            }
        };
        let reason = checked_reason(body.reason.as_deref()).map_err(|e| errors.push(e)).ok().flatten();
        (to, split, reason)
    })?;
    let change = LabelChange { label: name.clone(), to: Some(to), split, reason, undo: None };
    let acting = acting(&state, &req, &principal);
    if let Outcome::Requested(approval) = change_label(&state, &acting, &principal, &prompt, change).await? {
        return requested(&state, &principal, &prompt, &approval).await;
    }
    let label = state.db.tenant(principal.scope()).label(prompt.id, &name).await?;
    // Removed again by someone else since: as if it never was.
    let label = label.ok_or_else(|| no_label(&name))?;
    let names = people(&state, &principal, [label.moved_by]).await?;
    Ok(HttpResponse::Ok().json(label_view(&label, &names)))
}

/// `202 Accepted` with the request a change of a protected label became.
async fn requested(
    state: &AppState,
    principal: &Principal,
    prompt: &Prompt,
    approval: &Approval,
) -> Result<HttpResponse, ApiError> {
    let names = people(state, principal, [approval.requested_by, approval.decided_by]).await?;
    Ok(HttpResponse::Accepted().json(approval_view(approval, prompt_ref(prompt), &names, Utc::now())))
}

/// Removes a label; applications fetching by it get 404 until it is set again. Protected
/// labels as for moves.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(
        ("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"),
        ("label" = String, Path, description = "The label"),
    ),
    request_body(content = LabelReasonRequest, description = "Optional: why"),
    responses(
        (status = 202, description = "A protected label in a tenant that requires approval: the request now waiting", body = ApprovalView),
        (status = 204, description = "Removed"),
        (status = 403, description = "Not your prompt (`forbidden`), or a protected label you may not remove (`label_protected`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you, or no such label", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A request for the label already waits (`approval_pending`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid label name or reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/prompts/{prompt}/labels/{label}")]
pub async fn remove_label(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (prompt, name) = label_to_change(&state, &principal, path.into_inner()).await?;
    let reason = reason_of(&body)?;
    let change = LabelChange { label: name.clone(), to: None, split: None, reason, undo: None };
    let acting = acting(&state, &req, &principal);
    match change_label(&state, &acting, &principal, &prompt, change).await? {
        Outcome::Requested(approval) => requested(&state, &principal, &prompt, &approval).await,
        Outcome::Done(Some(_)) => Ok(HttpResponse::NoContent().finish()),
        // Removing a label that is not there moves nothing.
        Outcome::Done(None) => Err(no_label(&name)),
    }
}

/// The optional body's reason: no body is no reason; a body that is not a
/// [`LabelReasonRequest`] is refused, never ignored.
fn reason_of(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: LabelReasonRequest =
        serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.to_string()))?;
    checked_reason(request.reason.as_deref()).map_err(|e| ApiError::validation(vec![e]))
}

pub(super) fn checked_reason(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    normalize_reason(raw).map_err(|reason| FieldError::new("reason", reason))
}

/// Undoes a label's last move: it points where it pointed before (or is removed again, if the
/// last move created it). Rolling back a rollback redoes the move. Protected labels as for
/// moves.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(
        ("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"),
        ("label" = String, Path, description = "The label"),
    ),
    request_body(content = LabelReasonRequest, description = "Optional: why"),
    responses(
        (status = 200, description = "The move the rollback made", body = LabelMoveView),
        (status = 202, description = "A protected label in a tenant that requires approval: the request now waiting", body = ApprovalView),
        (status = 403, description = "Not your prompt (`forbidden`), or a protected label you may not roll back (`label_protected`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you, or the label was never set", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The label moved meanwhile (`conflict`), or a request for it already waits (`approval_pending`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid label name or reason", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/prompts/{prompt}/labels/{label}/rollback")]
pub async fn roll_back_label(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (prompt, name) = label_to_change(&state, &principal, path.into_inner()).await?;
    let reason = reason_of(&body)?;
    let moves = state.db.tenant(principal.scope()).label_moves(prompt.id, Some(&name), None, 2).await?;
    let mut moves = moves.items.into_iter();
    let Some(last) = moves.next() else { return Err(no_label(&name)) };
    // The move before it left the label as it was, split included (once pruned from the
    // history, the version is all that is known).
    let split = moves.next().filter(|before| before.to == last.from).and_then(|before| before.split);
    // Undo exactly that move: the label must still be where it put it.
    let undo = Undo { of: last.id, expected: last.to };
    let change = LabelChange { label: name, to: last.from, split, reason, undo: Some(undo) };
    let acting = acting(&state, &req, &principal);
    match change_label(&state, &acting, &principal, &prompt, change).await? {
        Outcome::Requested(approval) => requested(&state, &principal, &prompt, &approval).await,
        Outcome::Done(moved) => {
            let moved = moved.ok_or_else(moved_meanwhile)?;
            let names = people(&state, &principal, [moved.moved_by, moved.approved_by]).await?;
            Ok(HttpResponse::Ok().json(move_view(&moved, &names)))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this label's moves.
    pub label: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

const LABEL_HISTORY: &str = "label-history";

/// Every move of a prompt's labels (or of one), newest first; the last 1,000 per prompt are
/// kept (the audit log keeps them all).
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), HistoryQuery),
    responses(
        (status = 200, description = "One page of moves", body = LabelMoveList),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid label, limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/label-history")]
pub async fn label_history(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<LabelMoveList>, ApiError> {
    let query = query.into_inner();
    let (page, label) = ApiError::check(|errors| {
        let paging = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
        let page = paging.parse::<LabelMoveId>(LABEL_HISTORY, LIST_PAGE, errors);
        let label = query.label.as_deref().and_then(|raw| {
            LabelName::parse(raw).map_err(|reason| errors.push(FieldError::new("label", reason))).ok()
        });
        (page, label)
    })?;
    let prompt = load(&state, &principal, &path).await?;
    let moves = state
        .db
        .tenant(principal.scope())
        .label_moves(prompt.id, label.as_ref(), page.after, page.limit)
        .await?;
    let ids = moves.items.iter().flat_map(|m| [m.moved_by, m.approved_by]);
    let names = people(&state, &principal, ids).await?;
    Ok(web::Json(LabelMoveList {
        items: moves.items.iter().map(|m| move_view(m, &names)).collect(),
        next_cursor: next_cursor(LABEL_HISTORY, moves.next_cursor.map(LabelMoveId::from_uuid)),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Days counted back from today (UTC), today included: 1 to 366; 30 when absent.
    pub days: Option<u32>,
}

/// The longest period the fetch counts are asked for, in days.
const MAX_STATS_DAYS: u32 = 366;

/// How often each version was served by each label (`?label=` fetches), per UTC day: how an
/// A/B split is doing. This server's latest counts are included at once; other instances'
/// within seconds.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"), StatsQuery),
    responses(
        (status = 200, description = "Fetches by label and version", body = LabelStats),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid days", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/prompts/{prompt}/label-stats")]
pub async fn label_stats(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<StatsQuery>,
) -> Result<web::Json<LabelStats>, ApiError> {
    let days = query.days.unwrap_or(30);
    if !(1..=MAX_STATS_DAYS).contains(&days) {
        return Err(ApiError::validation(vec![FieldError::new(
            "days",
            format!("must be 1 to {MAX_STATS_DAYS}"),
        )]));
    }
    let prompt = load(&state, &principal, &path).await?;
    state.fetch_counts.flush(&state.db).await?;
    let from = Utc::now().date_naive() - chrono::Days::new(u64::from(days - 1));
    let counts = state.db.tenant(principal.scope()).label_fetches(prompt.id, from).await?;
    let mut items: Vec<LabelVersionFetches> = Vec::new();
    for (label, version, day, fetches) in counts {
        let same = items.last().is_some_and(|i| i.label == label.as_str() && i.version == version);
        if !same {
            items.push(LabelVersionFetches {
                label: label.as_str().to_owned(),
                version,
                fetches: 0,
                days: Vec::new(),
            });
        }
        if let Some(item) = items.last_mut() {
            item.fetches += fetches;
            item.days.push(DayFetches { day, fetches });
        }
    }
    Ok(web::Json(LabelStats { from, items }))
}
