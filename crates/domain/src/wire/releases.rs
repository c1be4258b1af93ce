//! Release labels over the wire: `GET /api/v1/prompts/{prompt}/labels`, moves, history and
//! rollback.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::LabelMoveId;
use crate::wire::PersonRef;

/// A label of a prompt and the version it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LabelView {
    pub name: String,
    pub version: u32,
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

/// `PUT /api/v1/prompts/{prompt}/labels/{label}`: point the label at a version (creating it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MoveLabelRequest {
    /// A version the prompt has.
    pub version: u32,
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
    /// Where it points after; `null`: it was removed.
    pub to_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The move this one undid, when it was a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<LabelMoveId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_by: Option<PersonRef>,
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
