//! Releases in the service layer: which version of a prompt a caller gets when it asks by
//! release label or by version number ([`fetch`]), and every change of a label ([`change_label`])
//! with the protection a tenant's release policy puts on some: only an admin signed in, or an
//! admin's `promote` token, moves a protected label, and when the tenant requires approval a
//! change becomes a request that another person decides ([`decide`]). REST and every later
//! caller (MCP, the CLI) go through these.

use chrono::Duration;
use domain::audit::AuditAction;
use domain::prompt::{Prompt, PromptKey, PromptName};
use domain::release::{
    Approval, ApprovalStatus, Label, LabelMove, LabelName, MAX_LABELS_PER_PROMPT, NewApproval, NewLabelMove,
    Split, bucket,
};
use domain::wire::{ErrorCode, FieldError};
use domain::{ApprovalId, LabelMoveId, PromptId};
use persistence::StoreError;
use serde_json::json;

use crate::access::Principal;
use crate::admin::Acting;
use crate::error::ApiError;
use crate::routes::prompts::{load, prompt_ref, viewer};
use crate::state::AppState;
use crate::webhooks;
use domain::webhook::WebhookEvent;

/// Attempts at a move when other moves of the same label keep landing in between.
const MOVE_ATTEMPTS: usize = 3;

/// Which version of a prompt to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// The newest version (also `label=latest`).
    Current,
    Label(LabelName),
    Version(u32),
}

impl Pick {
    /// From a request's `label` and `version` (at most one of them).
    pub fn parse(label: Option<&str>, version: Option<u32>, errors: &mut Vec<FieldError>) -> Self {
        match (label, version) {
            (None, None) => Pick::Current,
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("version", "ask by label or by version, not both"));
                Pick::Current
            }
            (None, Some(0)) => {
                errors.push(FieldError::new("version", "versions start at 1"));
                Pick::Current
            }
            (None, Some(version)) => Pick::Version(version),
            (Some(raw), None) => match LabelName::parse(raw) {
                Ok(name) if name.is_latest() => Pick::Current,
                Ok(name) => Pick::Label(name),
                Err(reason) => {
                    errors.push(FieldError::new("label", reason));
                    Pick::Current
                }
            },
        }
    }

    /// A key naming this pick of the prompt `raw` (its path segment) in the read cache; prompt
    /// names never hold `?`.
    pub fn cache_key(&self, raw: &str) -> String {
        match self {
            Pick::Current => raw.to_owned(),
            Pick::Label(name) => format!("{raw}?label={name}"),
            Pick::Version(version) => format!("{raw}?version={version}"),
        }
    }
}

/// What a fetch may serve: one version, or — for a label that splits its traffic — one per
/// arm of the split, of which [`Release::serve`] picks a caller's.
#[derive(Debug, Clone)]
pub struct Release {
    /// For a split, in the order of its arms.
    pub versions: Vec<Prompt>,
    pub split: Option<Split>,
}

/// Which of a release's versions (the index into [`Release::versions`]) the caller with `key`
/// gets from `prompt`'s `label`: the same for the same key while the split stands; without a
/// key, a random one in proportion to the weights. Without a split, the one there is.
pub fn serve(split: Option<&Split>, prompt: PromptId, label: &LabelName, key: Option<&str>) -> usize {
    let Some(split) = split else { return 0 };
    let random = uuid::Uuid::new_v4();
    let key = key.map_or(random.as_bytes().as_slice(), str::as_bytes);
    split.pick(bucket(prompt, label, key))
}

/// Characters of a caller's split key (`?key=`) at most.
pub const MAX_SPLIT_KEY: usize = 256;

/// The prompt `raw` names, as of the version(s) `pick` names: their fields, bundle and version
/// number are those versions' (their ETags too), the rest (id, owner, visibility) the
/// prompt's. 404 for a prompt the caller may not see, a label it does not have, or a version
/// it never had.
pub async fn fetch(
    state: &AppState,
    principal: &Principal,
    raw: &str,
    pick: &Pick,
) -> Result<Release, ApiError> {
    let prompt = load(state, principal, raw).await?;
    let version = match pick {
        Pick::Current => return Ok(Release { versions: vec![prompt], split: None }),
        Pick::Version(version) => *version,
        Pick::Label(name) => {
            let label = state.db.tenant(principal.scope()).label(prompt.id, name).await?;
            let label = label.ok_or_else(|| no_label(name))?;
            if let Some(split) = label.split {
                let mut versions = Vec::with_capacity(split.arms().len());
                for arm in split.arms() {
                    versions.push(as_of(state, principal, prompt.clone(), arm.version).await?);
                }
                return Ok(Release { versions, split: Some(split) });
            }
            label.version
        }
    };
    Ok(Release { versions: vec![as_of(state, principal, prompt, version).await?], split: None })
}

pub fn no_label(name: &LabelName) -> ApiError {
    ApiError::not_found(format!("The prompt has no label \"{name}\"."))
}

/// `prompt` as it was at `version`.
async fn as_of(
    state: &AppState,
    principal: &Principal,
    prompt: Prompt,
    version: u32,
) -> Result<Prompt, ApiError> {
    if version == prompt.version {
        return Ok(prompt);
    }
    let old = state.db.tenant(principal.scope()).prompt_version(prompt.id, version).await?;
    let old = old.ok_or_else(|| ApiError::not_found(format!("The prompt has no version {version}.")))?;
    Ok(Prompt {
        // Stored names were valid when saved; a rule tightened since keeps today's name.
        name: PromptName::parse(&old.name).unwrap_or(prompt.name.clone()),
        title: old.title,
        content: old.content,
        category: old.category,
        tags: old.tags,
        bundle: old.bundle,
        version: old.version,
        updated_by: old.author,
        updated_at: old.created_at,
        ..prompt
    })
}

/// What a change of a label came to.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    /// The label is protected and the tenant requires approval: a request now waits.
    Requested(Box<Approval>),
}

/// A change of one label of a prompt, as asked.
#[derive(Debug, Clone)]
pub struct LabelChange {
    pub label: LabelName,
    /// The version to point at; `None` removes the label.
    pub to: Option<u32>,
    /// With `to` its primary version: the split to set.
    pub split: Option<Split>,
    pub reason: Option<String>,
    /// For a rollback: the move it undoes.
    pub undo: Option<Undo>,
}

/// A rollback: the move it undoes, and where that move left the label.
#[derive(Debug, Clone, Copy)]
pub struct Undo {
    pub of: LabelMoveId,
    pub expected: Option<u32>,
}

/// Makes `change` of one of `prompt`'s labels (the caller may edit the prompt) or, for a
/// protected label in a tenant that requires approval, asks for it. `Done(None)` when the
/// label already was where it was to go.
pub async fn change_label(
    state: &AppState,
    acting: &Acting,
    principal: &Principal,
    prompt: &Prompt,
    change: LabelChange,
) -> Result<Outcome<Option<LabelMove>>, ApiError> {
    let repo = state.db.tenant(principal.scope());
    let policy = repo.release_policy().await?;
    let expected = change.undo.map(|u| u.expected);
    let planned = Planned {
        label: &change.label,
        to: change.to,
        split: change.split.clone(),
        reason: change.reason.clone(),
        expected,
        rollback_of: change.undo.map(|u| u.of),
        approval: None,
    };
    if !policy.protects(&change.label) {
        return shift(state, acting, principal, prompt, planned).await.map(Outcome::Done);
    }
    if !policy.require_approval {
        if !principal.may_release() {
            return Err(protected(&change.label));
        }
        return shift(state, acting, principal, prompt, planned).await.map(Outcome::Done);
    }
    let current = repo.label(prompt.id, &change.label).await?;
    let from = current.as_ref().map(|l| l.version);
    if expected.is_some_and(|expected| expected != from) {
        return Err(moved_meanwhile());
    }
    if points(current.as_ref()) == (change.to, change.split.as_ref()) {
        return Ok(Outcome::Done(None));
    }
    let new = NewApproval {
        prompt_id: prompt.id,
        label: change.label,
        from,
        to: change.to,
        split: change.split,
        rollback_of: change.undo.map(|u| u.of),
        reason: change.reason,
        requested_by: principal.user.id,
        expires_at: acting.at + Duration::hours(i64::from(policy.approval_hours)),
    };
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let approval = match repo.open_approval(new, acting.at).await {
        Err(StoreError::Conflict) => {
            return Err(ApiError::new(
                ErrorCode::ApprovalPending,
                "A request to move this label already waits for a decision; decide or cancel it first.",
            ));
        }
        other => other?,
    };
    let details = approval_details(&approval, None);
    notify_approval(&repo, WebhookEvent::ApprovalRequested, prompt, &details, acting, principal.user.id)
        .await?;
    repo.record_audit(acting.event(AuditAction::ApprovalRequested, "prompt", prompt.id.to_string(), details))
        .await?;
    tx.commit().await?;
    Ok(Outcome::Requested(Box::new(approval)))
}

/// What a person does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Another admin's yes: the label moves.
    Approve,
    /// Another admin's no.
    Deny,
    /// The requester withdraws it.
    Cancel,
}

/// Decides request `id` and returns it as it now stands, with its prompt.
pub async fn decide(
    state: &AppState,
    acting: &Acting,
    principal: &Principal,
    id: ApprovalId,
    decision: Decision,
    comment: Option<String>,
) -> Result<(Approval, Prompt), ApiError> {
    let repo = state.db.tenant(principal.scope());
    let (approval, prompt) = visible_approval(state, principal, id).await?;
    let asked_by_caller = approval.requested_by == Some(principal.user.id);
    match decision {
        Decision::Cancel if !asked_by_caller => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "Only the person who asked may cancel a request; an administrator denies it instead.",
            ));
        }
        Decision::Approve | Decision::Deny if !principal.may_release() => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "Requests are decided by an administrator signed in, or by an administrator's promote token.",
            ));
        }
        Decision::Approve | Decision::Deny if asked_by_caller => {
            return Err(ApiError::new(
                ErrorCode::OwnApproval,
                "You asked for this move; another administrator must decide it.",
            ));
        }
        _ => {}
    }
    let status = approval.status(acting.at);
    if status != ApprovalStatus::Pending {
        return Err(closed(status));
    }
    match decision {
        Decision::Approve => {
            let planned = Planned {
                label: &approval.label,
                to: approval.to,
                split: approval.split.clone(),
                reason: approval.reason.clone(),
                expected: Some(approval.from),
                rollback_of: approval.rollback_of,
                approval: Some((&approval, comment)),
            };
            shift(state, acting, principal, &prompt, planned).await?.ok_or_else(moved_meanwhile)?;
        }
        Decision::Deny | Decision::Cancel => {
            let (status, action) = if decision == Decision::Deny {
                (ApprovalStatus::Denied, AuditAction::ApprovalDenied)
            } else {
                (ApprovalStatus::Cancelled, AuditAction::ApprovalCancelled)
            };
            let tx = state.db.begin().await?;
            let repo = tx.tenant(principal.scope()).await?;
            if !repo.close_approval(id, status, principal.user.id, comment.clone(), acting.at).await? {
                return Err(closed_now(state, principal, id, acting).await);
            }
            let details = approval_details(&approval, comment.as_deref());
            if decision == Decision::Deny {
                notify_approval(
                    &repo,
                    WebhookEvent::ApprovalDenied,
                    &prompt,
                    &details,
                    acting,
                    principal.user.id,
                )
                .await?;
            }
            repo.record_audit(acting.event(action, "prompt", prompt.id.to_string(), details)).await?;
            tx.commit().await?;
        }
    }
    let approval = repo.approval(id).await?.ok_or_else(no_approval)?;
    Ok((approval, prompt))
}

/// Request `id` and its prompt, if the caller may see the prompt: a request on a prompt the
/// caller may not see is as missing as the prompt.
pub async fn visible_approval(
    state: &AppState,
    principal: &Principal,
    id: ApprovalId,
) -> Result<(Approval, Prompt), ApiError> {
    let repo = state.db.tenant(principal.scope());
    let approval = repo.approval(id).await?.ok_or_else(no_approval)?;
    let prompt = repo.prompt(&viewer(principal), &PromptKey::Id(approval.prompt_id)).await?;
    Ok((approval, prompt.ok_or_else(no_approval)?))
}

/// A label move as planned: from wherever the label is, or only from `expected`.
struct Planned<'a> {
    label: &'a LabelName,
    to: Option<u32>,
    split: Option<Split>,
    reason: Option<String>,
    /// Where the label must still be: a rollback's, or an approved request's, starting point.
    expected: Option<Option<u32>>,
    rollback_of: Option<LabelMoveId>,
    /// Made on approval: the request it closes and the approver's comment.
    approval: Option<(&'a Approval, Option<String>)>,
}

/// Moves the label as planned, recording the move and its audit event (and closing the
/// approved request) in one transaction; retries when other moves land in between. `None`
/// when the label already was at `to`.
async fn shift(
    state: &AppState,
    acting: &Acting,
    principal: &Principal,
    prompt: &Prompt,
    planned: Planned<'_>,
) -> Result<Option<LabelMove>, ApiError> {
    let name = planned.label;
    for _ in 0..MOVE_ATTEMPTS {
        // Read before the transaction, so that its first statement writes: on SQLite a
        // transaction that read first cannot take the write lock while another writes.
        let current = state.db.tenant(principal.scope()).label(prompt.id, name).await?;
        let from = current.as_ref().map(|l| l.version);
        if planned.expected.is_some_and(|expected| expected != from) {
            return Err(moved_meanwhile());
        }
        if points(current.as_ref()) == (planned.to, planned.split.as_ref()) {
            return Ok(None);
        }
        let tx = state.db.begin().await?;
        let repo = tx.tenant(principal.scope()).await?;
        let (moved_by, approved_by) = match &planned.approval {
            None => (principal.user.id, None),
            Some((approval, comment)) => {
                let closed = repo
                    .close_approval(
                        approval.id,
                        ApprovalStatus::Approved,
                        principal.user.id,
                        comment.clone(),
                        acting.at,
                    )
                    .await?;
                if !closed {
                    return Err(closed_now(state, principal, approval.id, acting).await);
                }
                // The move is the requester's, approved by the caller.
                (approval.requested_by.unwrap_or(principal.user.id), Some(principal.user.id))
            }
        };
        let change = NewLabelMove {
            label: name.clone(),
            to: planned.to,
            split: planned.split.clone(),
            reason: planned.reason.clone(),
            rollback_of: planned.rollback_of,
            moved_by,
            approved_by,
        };
        // Conditional on `from`: nothing is written if the label moved since it was read.
        let Some(moved) = repo.move_label(prompt.id, from, change, acting.at).await? else { continue };
        if from.is_none() && repo.labels(prompt.id).await?.len() > MAX_LABELS_PER_PROMPT {
            // Dropping the transaction undoes the new label.
            return Err(ApiError::new(
                ErrorCode::LabelLimitReached,
                format!("A prompt can carry at most {MAX_LABELS_PER_PROMPT} labels; remove one first."),
            ));
        }
        let action = if planned.to.is_some() { AuditAction::LabelMoved } else { AuditAction::LabelRemoved };
        let target = prompt.id.to_string();
        repo.record_audit(acting.event(action, "prompt", target.clone(), move_details(&moved))).await?;
        let moved_data = json!({ "prompt": prompt_ref(prompt), "move": move_details(&moved) });
        let notice = webhooks::payload(WebhookEvent::LabelMoved, moved_data, acting.at);
        repo.enqueue_webhooks(WebhookEvent::LabelMoved, &notice, acting.at).await?;
        if let Some((approval, comment)) = &planned.approval {
            let details = approval_details(approval, comment.as_deref());
            notify_approval(
                &repo,
                WebhookEvent::ApprovalApproved,
                prompt,
                &details,
                acting,
                principal.user.id,
            )
            .await?;
            repo.record_audit(acting.event(AuditAction::ApprovalApproved, "prompt", target, details)).await?;
        }
        tx.commit().await?;
        return Ok(Some(moved));
    }
    Err(moved_meanwhile())
}

/// Where a label points: its version and split (`None`: it does not exist).
fn points(label: Option<&Label>) -> (Option<u32>, Option<&Split>) {
    (label.map(|l| l.version), label.and_then(|l| l.split.as_ref()))
}

/// Queues an `approval.*` event in the transaction of `repo`.
async fn notify_approval(
    repo: &persistence::TransactionRepo<'_>,
    event: WebhookEvent,
    prompt: &Prompt,
    details: &serde_json::Value,
    acting: &Acting,
    actor: domain::UserId,
) -> Result<(), StoreError> {
    let data = json!({ "prompt": prompt_ref(prompt), "approval": details, "actor": { "id": actor } });
    repo.enqueue_webhooks(event, &webhooks::payload(event, data, acting.at), acting.at).await.map(|_| ())
}

fn move_details(moved: &LabelMove) -> serde_json::Value {
    json!({
        "label": moved.label.as_str(),
        "from": moved.from,
        "to": moved.to,
        "split": moved.split.as_ref().map(Split::arms),
        "reason": moved.reason,
        "rollback_of": moved.rollback_of,
        "moved_by": moved.moved_by,
        "approved_by": moved.approved_by,
    })
}

fn approval_details(approval: &Approval, comment: Option<&str>) -> serde_json::Value {
    json!({
        "approval": approval.id,
        "label": approval.label.as_str(),
        "from": approval.from,
        "to": approval.to,
        "split": approval.split.as_ref().map(Split::arms),
        "reason": approval.reason,
        "requested_by": approval.requested_by,
        "comment": comment,
    })
}

pub fn moved_meanwhile() -> ApiError {
    ApiError::new(ErrorCode::Conflict, "The label was moved by someone else meanwhile; look again and retry.")
}

fn protected(name: &LabelName) -> ApiError {
    ApiError::new(
        ErrorCode::LabelProtected,
        format!(
            "\"{name}\" is a protected label: an administrator signed in, or an administrator's promote token, moves it."
        ),
    )
}

fn no_approval() -> ApiError {
    ApiError::not_found("No such request.")
}

fn closed(status: ApprovalStatus) -> ApiError {
    ApiError::new(ErrorCode::ApprovalClosed, format!("The request is {} already.", status.as_str()))
}

/// The answer when a conditional decision wrote nothing: someone decided first, or it expired.
async fn closed_now(state: &AppState, principal: &Principal, id: ApprovalId, acting: &Acting) -> ApiError {
    match state.db.tenant(principal.scope()).approval(id).await {
        Ok(Some(approval)) => closed(approval.status(acting.at)),
        Ok(None) => no_approval(),
        Err(e) => e.into(),
    }
}

/// Whether the caller may delete `prompt` with its labels: anyone who may edit it, unless one of
/// them is protected, which only those who may release can take away.
pub async fn check_may_drop_labels(
    state: &AppState,
    principal: &Principal,
    prompt: &Prompt,
) -> Result<(), ApiError> {
    if principal.may_release() {
        return Ok(());
    }
    let repo = state.db.tenant(principal.scope());
    let policy = repo.release_policy().await?;
    if policy.protected().is_empty() {
        return Ok(());
    }
    match repo.labels(prompt.id).await?.into_iter().find(|l| policy.protects(&l.name)) {
        Some(label) => Err(protected(&label.name)),
        None => Ok(()),
    }
}
