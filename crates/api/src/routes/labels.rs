//! Release labels: which version of a prompt applications get. A label points at one version;
//! `latest` always names the newest. Moves are kept (history, rollback) and audited with who,
//! from, to and why. Fetching a prompt by label is `GET /api/v1/prompts/{prompt}?label=…`
//! (`prompts::get_prompt`, on the hot read path, through `releases::fetch`).

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use chrono::Utc;
use domain::audit::AuditAction;
use domain::prompt::Prompt;
use domain::release::{
    LATEST, Label, LabelMove, LabelName, MAX_LABELS_PER_PROMPT, NewLabelMove, normalize_reason,
};
use domain::wire::{
    ErrorCode, FieldError, LabelList, LabelMoveList, LabelMoveView, LabelReasonRequest, LabelView,
    MoveLabelRequest, Problem,
};
use domain::{LabelMoveId, UserId};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::prompts::{check_may_edit, event, load, people, person};
use crate::access::Principal;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::releases::no_label;
use crate::state::AppState;

/// Attempts at a move when other moves of the same label keep landing in between.
const MOVE_ATTEMPTS: usize = 3;

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
        reason: moved.reason.clone(),
        rollback_of: moved.rollback_of,
        moved_by: person(names, moved.moved_by),
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
        automatic: true,
        moved_by: None,
        moved_at: None,
    };
    Ok(web::Json(LabelList {
        items: std::iter::once(latest).chain(labels.iter().map(|l| label_view(l, &names))).collect(),
    }))
}

/// Points a label at a version, creating the label if it is new. Moving it where it is
/// already changes nothing (and records nothing).
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
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Other moves of the label kept landing first (`conflict`), or the prompt has 50 labels (`label_limit_reached`)", body = Problem, content_type = "application/problem+json"),
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
) -> Result<web::Json<LabelView>, ApiError> {
    let (prompt, name) = label_to_change(&state, &principal, path.into_inner()).await?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    if !(1..=prompt.version).contains(&body.version) {
        errors.push(FieldError::new("version", format!("the prompt has versions 1 to {}", prompt.version)));
    }
    let reason = checked_reason(body.reason.as_deref()).map_err(|e| errors.push(e)).ok().flatten();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    shift(&state, &req, &principal, &prompt, &name, Some(body.version), reason, None).await?;
    let label = state.db.tenant(principal.scope()).label(prompt.id, &name).await?;
    // Removed again by someone else since: as if it never was.
    let label = label.ok_or_else(|| no_label(&name))?;
    let names = people(&state, &principal, [label.moved_by]).await?;
    Ok(web::Json(label_view(&label, &names)))
}

/// Removes a label; applications fetching by it get 404 until it is set again.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(
        ("prompt" = String, Path, description = "The prompt's id or name (slashes as %2F)"),
        ("label" = String, Path, description = "The label"),
    ),
    request_body(content = LabelReasonRequest, description = "Optional: why"),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you, or no such label", body = Problem, content_type = "application/problem+json"),
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
    // Removing a label that is not there moves nothing.
    shift(&state, &req, &principal, &prompt, &name, None, reason, None)
        .await?
        .ok_or_else(|| no_label(&name))?;
    Ok(HttpResponse::NoContent().finish())
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

fn checked_reason(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    normalize_reason(raw).map_err(|reason| FieldError::new("reason", reason))
}

/// Undoes a label's last move: it points where it pointed before (or is removed again, if the
/// last move created it). Rolling back a rollback redoes the move.
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
        (status = 403, description = "Not your prompt", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such prompt visible to you, or the label was never set", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The label moved meanwhile (`conflict`)", body = Problem, content_type = "application/problem+json"),
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
) -> Result<web::Json<LabelMoveView>, ApiError> {
    let (prompt, name) = label_to_change(&state, &principal, path.into_inner()).await?;
    let reason = reason_of(&body)?;
    let last = state.db.tenant(principal.scope()).label_moves(prompt.id, Some(&name), None, 1).await?;
    let Some(last) = last.items.into_iter().next() else { return Err(no_label(&name)) };
    // Undo exactly that move: the label must still be where it put it.
    let undo = Undo { of: last.id, expected: last.to };
    let moved = shift(&state, &req, &principal, &prompt, &name, last.from, reason, Some(undo)).await?;
    let moved = moved.ok_or_else(moved_meanwhile)?;
    let names = people(&state, &principal, [moved.moved_by]).await?;
    Ok(web::Json(move_view(&moved, &names)))
}

fn moved_meanwhile() -> ApiError {
    ApiError::new(ErrorCode::Conflict, "The label was moved by someone else meanwhile; look again and retry.")
}

fn details(moved: &LabelMove) -> serde_json::Value {
    json!({
        "label": moved.label.as_str(),
        "from": moved.from,
        "to": moved.to,
        "reason": moved.reason,
        "rollback_of": moved.rollback_of,
    })
}

/// A rollback: the move it undoes, and where that move left the label.
struct Undo {
    of: LabelMoveId,
    expected: Option<u32>,
}

/// Moves `name` to `to` (`None`: removes it) from wherever it is — for a rollback, only from
/// where the undone move left it — recording the move and its audit event in one transaction;
/// retries when other moves land in between. `None` when the label already was at `to`.
#[allow(clippy::too_many_arguments)]
async fn shift(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    prompt: &Prompt,
    name: &LabelName,
    to: Option<u32>,
    reason: Option<String>,
    undo: Option<Undo>,
) -> Result<Option<LabelMove>, ApiError> {
    for _ in 0..MOVE_ATTEMPTS {
        // Read before the transaction, so that its first statement writes: on SQLite a
        // transaction that read first cannot take the write lock while another writes.
        let from = state.db.tenant(principal.scope()).label(prompt.id, name).await?.map(|l| l.version);
        if undo.as_ref().is_some_and(|u| u.expected != from) {
            return Err(moved_meanwhile());
        }
        if from == to {
            return Ok(None);
        }
        let now = Utc::now();
        let tx = state.db.begin().await?;
        let repo = tx.tenant(principal.scope()).await?;
        let change = NewLabelMove {
            label: name.clone(),
            to,
            reason: reason.clone(),
            rollback_of: undo.as_ref().map(|u| u.of),
            moved_by: principal.user.id,
        };
        // Conditional on `from`: nothing is written if the label moved since it was read.
        let Some(moved) = repo.move_label(prompt.id, from, change, now).await? else { continue };
        if from.is_none() && repo.labels(prompt.id).await?.len() > MAX_LABELS_PER_PROMPT {
            // Dropping the transaction undoes the new label.
            return Err(ApiError::new(
                ErrorCode::LabelLimitReached,
                format!("A prompt can carry at most {MAX_LABELS_PER_PROMPT} labels; remove one first."),
            ));
        }
        let action = if to.is_some() { AuditAction::LabelMoved } else { AuditAction::LabelRemoved };
        repo.record_audit(event(state, req, principal, action, prompt, details(&moved), now)).await?;
        tx.commit().await?;
        return Ok(Some(moved));
    }
    Err(moved_meanwhile())
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
    let names = people(&state, &principal, moves.items.iter().map(|m| m.moved_by)).await?;
    Ok(web::Json(LabelMoveList {
        items: moves.items.iter().map(|m| move_view(m, &names)).collect(),
        next_cursor: next_cursor(LABEL_HISTORY, moves.next_cursor.map(LabelMoveId::from_uuid)),
    }))
}
