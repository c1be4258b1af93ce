//! Release labels over the wire: `GET /api/v1/prompts/{prompt}/labels`, moves, history and
//! rollback.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::release::{ApprovalStatus, SplitArm};
use crate::wire::{PersonRef, PromptRef};
use crate::{ApprovalId, LabelMoveId};

/// A label of a prompt and the version it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelView {
    pub name: String,
    /// The version it names; for a split, the one with the largest share.
    pub version: u32,
    /// The versions it splits its traffic between, by weight (an A/B test), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitArm>>,
    /// `latest`, which follows the newest version by itself and cannot be moved.
    pub automatic: bool,
    /// Who moved it here last (absent for `latest`, and once they are deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_by: Option<PersonRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/prompts/{prompt}/labels`: `latest` first, then the others A to Z.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelList {
    pub items: Vec<LabelView>,
}

/// `PUT /api/v1/prompts/{prompt}/labels/{label}`: point the label at a version, or split it
/// between versions (creating it). Send `version` or `split`, not both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MoveLabelRequest {
    /// A version the prompt has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// 2 to 10 versions the prompt has, each with a weight of 1 to 10,000: a fetch by the
    /// label gets one of them in proportion, the same one for the same `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitArm>>,
    /// Why (kept in the label's history and the audit log; at most 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/prompts/{prompt}/labels/{label}/rollback`, and the reason of a removal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelReasonRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One change of a label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelMoveView {
    pub id: LabelMoveId,
    pub label: String,
    /// Where it pointed before; `null`: it was created.
    pub from_version: Option<u32>,
    /// Where it points after; `null`: it was removed. For a split, its primary version.
    pub to_version: Option<u32>,
    /// The split the move set, if it set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitArm>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The move this one undid, when it was a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<LabelMoveId>,
    /// Who moved it; for a move made on approval, who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_by: Option<PersonRef>,
    /// For a protected label moved on approval: who approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<PersonRef>,
    pub moved_at: DateTime<Utc>,
}

/// `GET /api/v1/prompts/{prompt}/label-history`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelMoveList {
    pub items: Vec<LabelMoveView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET`/`PUT /api/v1/release-policy`: which labels are protected in the tenant, and whether
/// moving one needs another person's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleasePolicyView {
    /// Label names (not `latest`; at most 50) that only an admin signed in, or an admin's
    /// `promote` token, may move, remove or roll back — on any prompt.
    pub protected_labels: Vec<String>,
    /// Moving a protected label makes a request that another person approves or denies.
    pub require_approval: bool,
    /// How long a request waits for a decision: 1 to 720 hours.
    pub approval_hours: u32,
}

/// A request to move a protected label: as asked and, once decided, the decision.
/// `PUT …/labels/{label}` (and removal, rollback) answer `202 Accepted` with one when the
/// tenant requires approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalView {
    pub id: ApprovalId,
    pub prompt: PromptRef,
    pub label: String,
    /// Where the label pointed when asked (`null`: it did not exist); the move is made only
    /// from there.
    pub from_version: Option<u32>,
    /// Where it is to point; `null`: it is to be removed. For a split, its primary version.
    pub to_version: Option<u32>,
    /// The split to set, if one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<SplitArm>>,
    /// For a rollback, the move it undoes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<LabelMoveId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Absent once they are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<PersonRef>,
    pub requested_at: DateTime<Utc>,
    /// A pending request nobody decides by then expires.
    pub expires_at: DateTime<Utc>,
    pub status: ApprovalStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<PersonRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    /// The approver's (or denier's) words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `GET /api/v1/approvals`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalList {
    pub items: Vec<ApprovalView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/approvals/{id}/approve`, `…/deny` and `…/cancel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecisionRequest {
    /// At most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `GET /api/v1/prompts/{prompt}/label-stats`: fetches by label, per version served and day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelStats {
    /// The first day counted (UTC); the last is today.
    pub from: NaiveDate,
    /// Each label and version fetched, by label A to Z, then by version.
    pub items: Vec<LabelVersionFetches>,
}

/// How often one version was served by one label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelVersionFetches {
    pub label: String,
    pub version: u32,
    /// Over the whole period.
    pub fetches: u64,
    /// Days with fetches, oldest first.
    pub days: Vec<DayFetches>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayFetches {
    pub day: NaiveDate,
    pub fetches: u64,
}
