//! Protected release labels: the tenant's release policy (which labels only an admin moves,
//! whether a move needs another person's approval) and the requests to move protected labels
//! — listed as an inbox, approved, denied or cancelled. The rules live in `crate::releases`.

use std::collections::HashMap;

use actix_web::{HttpRequest, get, post, put, web};
use chrono::{DateTime, Utc};
use domain::audit::AuditAction;
use domain::prompt::Prompt;
use domain::release::{Approval, ApprovalStatus, LabelName, ReleasePolicy};
use domain::wire::{
    ApprovalDecisionRequest, ApprovalList, ApprovalView, ErrorCode, FieldError, Problem, PromptRef,
    ReleasePolicyView,
};
use domain::{ApprovalId, UserId};
use persistence::ApprovalFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use super::acting;
use super::labels::checked_reason;
use super::prompts::{load, people, person, prompt_ref, viewer};
use crate::access::Principal;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::releases::{Decision, decide, visible_approval};
use crate::state::AppState;

pub(super) fn approval_view(
    approval: &Approval,
    prompt: PromptRef,
    names: &HashMap<UserId, String>,
    now: DateTime<Utc>,
) -> ApprovalView {
    ApprovalView {
        id: approval.id,
        prompt,
        label: approval.label.as_str().to_owned(),
        from_version: approval.from,
        to_version: approval.to,
        split: approval.split.as_ref().map(|s| s.arms().to_vec()),
        rollback_of: approval.rollback_of,
        reason: approval.reason.clone(),
        requested_by: person(names, approval.requested_by),
        requested_at: approval.requested_at,
        expires_at: approval.expires_at,
        status: approval.status(now),
        decided_by: person(names, approval.decided_by),
        decided_at: approval.decided_at,
        comment: approval.comment.clone(),
    }
}

fn policy_view(policy: &ReleasePolicy) -> ReleasePolicyView {
    ReleasePolicyView {
        protected_labels: policy.protected().iter().map(|l| l.as_str().to_owned()).collect(),
        require_approval: policy.require_approval,
        approval_hours: policy.approval_hours,
    }
}

/// The tenant's release policy; every member may read it (the web app marks protected labels).
#[utoipa::path(tag = "releases", security(("bearer" = [])), responses((status = 200, body = ReleasePolicyView)))]
#[get("/release-policy")]
pub async fn get_release_policy(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<ReleasePolicyView>, ApiError> {
    Ok(web::Json(policy_view(&state.db.tenant(principal.scope()).release_policy().await?)))
}

/// Sets which labels are protected and whether moving one needs approval. Only an admin
/// signed in, or an admin's `promote` token: a token that may not move protected labels may
/// not unprotect them either.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    request_body = ReleasePolicyView,
    responses(
        (status = 200, body = ReleasePolicyView),
        (status = 403, description = "Not an admin, or an admin's token without the `promote` scope (`label_protected`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid label names or approval hours", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/release-policy")]
pub async fn put_release_policy(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<ReleasePolicyView>,
) -> Result<web::Json<ReleasePolicyView>, ApiError> {
    if !principal.may_release() {
        return Err(ApiError::new(
            ErrorCode::LabelProtected,
            "Which labels are protected is set by an administrator signed in, or with an administrator's promote token.",
        ));
    }
    let body = body.into_inner();
    let names = ApiError::check(|errors| {
        let parsed = body.protected_labels.iter().map(|raw| {
            LabelName::parse(raw).map_err(|reason| {
                errors.push(FieldError::new("protected_labels", format!("{raw:?} {reason}")))
            })
        });
        parsed.filter_map(Result::ok).collect::<Vec<_>>()
    })?;
    let policy = ReleasePolicy::new(names, body.require_approval, body.approval_hours)
        .map_err(|(field, reason)| ApiError::validation(vec![FieldError::new(field, reason)]))?;
    let acting = acting(&state, &req, &principal);
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    repo.set_release_policy(&policy, acting.at).await?;
    let view = policy_view(&policy);
    let details = serde_json::to_value(&view).unwrap_or_default();
    repo.record_audit(acting.event(
        AuditAction::ReleasePolicyUpdated,
        "tenant",
        principal.tenant.id.to_string(),
        details,
    ))
    .await?;
    tx.commit().await?;
    Ok(web::Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// Only requests in this status (`pending`: waiting and not expired).
    pub status: Option<String>,
    /// Only requests on this prompt (its id or name).
    pub prompt: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

const APPROVALS: &str = "approvals";

/// Requests to move protected labels, on the prompts you may see, newest first: the
/// approval inbox (`?status=pending`).
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(ApprovalQuery),
    responses(
        (status = 200, description = "One page of requests", body = ApprovalList),
        (status = 404, description = "No such prompt visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status, limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/approvals")]
pub async fn list_approvals(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<ApprovalQuery>,
) -> Result<web::Json<ApprovalList>, ApiError> {
    let query = query.into_inner();
    let (page, status) = ApiError::check(|errors| {
        let paging = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
        let page = paging.parse::<ApprovalId>(APPROVALS, LIST_PAGE, errors);
        let status = query.status.as_deref().and_then(|raw| {
            let status = ApprovalStatus::parse(raw);
            if status.is_none() {
                errors.push(FieldError::new(
                    "status",
                    "must be pending, approved, denied, cancelled or expired",
                ));
            }
            status
        });
        (page, status)
    })?;
    let prompt = match query.prompt.as_deref() {
        Some(raw) => Some(load(&state, &principal, raw).await?.id),
        None => None,
    };
    let now = Utc::now();
    let filter = ApprovalFilter { status, prompt };
    let repo = state.db.tenant(principal.scope());
    let approvals = repo.approvals(&viewer(&principal), filter, page.after, page.limit, now).await?;
    let ids = approvals.items.iter().flat_map(|(a, _)| [a.requested_by, a.decided_by]);
    let names = people(&state, &principal, ids).await?;
    Ok(web::Json(ApprovalList {
        items: approvals.items.iter().map(|(a, p)| approval_view(a, p.clone(), &names, now)).collect(),
        next_cursor: next_cursor(APPROVALS, approvals.next_cursor.map(ApprovalId::from_uuid)),
    }))
}

/// One request.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("id" = ApprovalId, Path)),
    responses(
        (status = 200, body = ApprovalView),
        (status = 404, description = "No such request visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/approvals/{id}")]
pub async fn get_approval(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ApprovalId>,
) -> Result<web::Json<ApprovalView>, ApiError> {
    let (approval, prompt) = visible_approval(&state, &principal, *id).await?;
    respond(&state, &principal, &approval, &prompt).await
}

async fn respond(
    state: &AppState,
    principal: &Principal,
    approval: &Approval,
    prompt: &Prompt,
) -> Result<web::Json<ApprovalView>, ApiError> {
    let names = people(state, principal, [approval.requested_by, approval.decided_by]).await?;
    Ok(web::Json(approval_view(approval, prompt_ref(prompt), &names, Utc::now())))
}

async fn decide_and_respond(
    state: &AppState,
    req: &HttpRequest,
    principal: &Principal,
    id: ApprovalId,
    decision: Decision,
    body: &[u8],
) -> Result<web::Json<ApprovalView>, ApiError> {
    let comment = comment_of(body)?;
    let acting = acting(state, req, principal);
    let (approval, prompt) = decide(state, &acting, principal, id, decision, comment).await?;
    respond(state, principal, &approval, &prompt).await
}

/// The optional body's comment: no body is no comment; a body that is not an
/// [`ApprovalDecisionRequest`] is refused, never ignored.
fn comment_of(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let request: ApprovalDecisionRequest =
        serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::InvalidJson, e.to_string()))?;
    checked_reason(request.comment.as_deref())
        .map_err(|e| ApiError::validation(vec![FieldError::new("comment", e.message)]))
}

/// Approves a request: the label moves as asked (recorded as the requester's move, approved
/// by you). Only an admin signed in, or an admin's `promote` token, who did not ask.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("id" = ApprovalId, Path)),
    request_body(content = ApprovalDecisionRequest, description = "Optional: a comment"),
    responses(
        (status = 200, description = "The request, approved", body = ApprovalView),
        (status = 403, description = "Not an admin, or a token without the `promote` scope (`forbidden`); your own request (`own_approval`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided, cancelled or expired already (`approval_closed`), or the label moved since it was asked (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Comment too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/approvals/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<ApprovalId>,
    body: web::Bytes,
) -> Result<web::Json<ApprovalView>, ApiError> {
    decide_and_respond(&state, &req, &principal, *id, Decision::Approve, &body).await
}

/// Denies a request: the label stays. Who may: as for approving.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("id" = ApprovalId, Path)),
    request_body(content = ApprovalDecisionRequest, description = "Optional: a comment"),
    responses(
        (status = 200, description = "The request, denied", body = ApprovalView),
        (status = 403, description = "Not an admin, or a token without the `promote` scope (`forbidden`); your own request (`own_approval`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided, cancelled or expired already (`approval_closed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Comment too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/approvals/{id}/deny")]
pub async fn deny(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<ApprovalId>,
    body: web::Bytes,
) -> Result<web::Json<ApprovalView>, ApiError> {
    decide_and_respond(&state, &req, &principal, *id, Decision::Deny, &body).await
}

/// Withdraws your own request.
#[utoipa::path(
    tag = "releases",
    security(("bearer" = [])),
    params(("id" = ApprovalId, Path)),
    request_body(content = ApprovalDecisionRequest, description = "Optional: a comment"),
    responses(
        (status = 200, description = "The request, cancelled", body = ApprovalView),
        (status = 403, description = "Someone else's request", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided, cancelled or expired already (`approval_closed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Comment too long", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/approvals/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<ApprovalId>,
    body: web::Bytes,
) -> Result<web::Json<ApprovalView>, ApiError> {
    decide_and_respond(&state, &req, &principal, *id, Decision::Cancel, &body).await
}
