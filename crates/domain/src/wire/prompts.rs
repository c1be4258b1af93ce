//! Bodies of the prompt library endpoints.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diff::DiffLine;
use crate::prompt::Visibility;
use crate::{PromptId, UserId};

/// A person a prompt or version is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonRef {
    pub id: UserId,
    /// Their full name, or their email when they have none.
    pub name: String,
}

/// A prompt with its content. The `ETag` header of the response carries `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptView {
    pub id: PromptId,
    /// Unique in the tenant, case-insensitively; `/` separates folders.
    pub name: String,
    pub title: String,
    pub content: String,
    pub category: String,
    pub tags: Vec<String>,
    pub is_enhancement_prompt: bool,
    pub visibility: Visibility,
    /// Starts at 1; every saved change adds one.
    pub version: u32,
    /// The `{{variables}}` in `content`, in order of first appearance.
    pub variables: Vec<String>,
    /// `null` once the owner's account was deleted.
    pub owner: Option<PersonRef>,
    pub updated_by: Option<PersonRef>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A prompt in a list: everything but the full content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptSummary {
    pub id: PromptId,
    pub name: String,
    pub title: String,
    /// The first 200 characters of the content.
    pub preview: String,
    pub category: String,
    pub tags: Vec<String>,
    pub is_enhancement_prompt: bool,
    pub visibility: Visibility,
    pub version: u32,
    pub owner: Option<PersonRef>,
    pub updated_at: DateTime<Utc>,
}

/// One page of prompts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptList {
    pub items: Vec<PromptSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /api/v1/prompts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatePromptRequest {
    /// Letters, digits, `-`, `_`, `.` and `/` (folders); at most 200 characters.
    pub name: String,
    /// Defaults to the name.
    #[serde(default)]
    pub title: Option<String>,
    /// Up to 100 KB.
    pub content: String,
    /// Defaults to `Uncategorized`.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub is_enhancement_prompt: bool,
    #[serde(default)]
    pub visibility: Visibility,
    /// Recorded with the first version.
    #[serde(default)]
    pub commit_message: Option<String>,
}

/// `PATCH /api/v1/prompts/{prompt}`: the fields to change. Send `If-Match` with the ETag you
/// read, or `version`; a stale write is refused with 412.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatePromptRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub is_enhancement_prompt: Option<bool>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// The version this edit is based on (instead of `If-Match`).
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub commit_message: Option<String>,
}

/// `POST /api/v1/prompts/{prompt}/versions/{version}/restore`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestorePromptRequest {
    /// The current version this restore is based on (instead of `If-Match`).
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub commit_message: Option<String>,
}

/// One stored version, with its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptVersionView {
    pub version: u32,
    pub name: String,
    pub title: String,
    pub content: String,
    pub category: String,
    pub tags: Vec<String>,
    pub variables: Vec<String>,
    pub author: Option<PersonRef>,
    pub commit_message: Option<String>,
    /// Set when this version restored an older one.
    pub restored_from: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// One version in the history list (no content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptVersionSummary {
    pub version: u32,
    pub title: String,
    pub author: Option<PersonRef>,
    pub commit_message: Option<String>,
    pub restored_from: Option<u32>,
    pub created_at: DateTime<Utc>,
}

/// A prompt's history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptVersionList {
    pub items: Vec<PromptVersionSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A field other than the content that differs between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// `name`, `title`, `category` or `tags`.
    pub field: String,
    pub from: String,
    pub to: String,
}

/// `GET /api/v1/prompts/{prompt}/diff?from=&to=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptDiff {
    pub from: u32,
    pub to: u32,
    /// The content, line by line.
    pub lines: Vec<DiffLine>,
    /// The same as a unified diff.
    pub unified: String,
    pub changes: Vec<FieldChange>,
}

/// `POST /api/v1/prompts/{prompt}/render`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderRequest {
    /// A value for each `{{variable}}`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Also refuse values for variables the prompt does not have.
    #[serde(default)]
    pub strict: bool,
    /// Render this version instead of the current one.
    #[serde(default)]
    pub version: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderResponse {
    /// The content with every variable filled in.
    pub text: String,
    /// The version that was rendered.
    pub version: u32,
}

/// A category or tag with how many prompts use it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NameCount {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NameCountList {
    pub items: Vec<NameCount>,
}

/// The export format's identifier; imports accept this format only.
pub const PROMPT_EXPORT_FORMAT: &str = "prompt-manager/prompts@1";

/// A file of prompts: what export writes and import reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptExport {
    /// Always `prompt-manager/prompts@1`.
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_at: Option<DateTime<Utc>>,
    pub prompts: Vec<ExportedPrompt>,
}

/// One prompt in an export file. On import, everything but `name` and `content` may be left
/// out and takes the usual defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedPrompt {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    pub content: String,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub is_enhancement_prompt: bool,
    #[serde(default)]
    pub visibility: Visibility,
}

/// What an import does with a name that is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Leave the existing prompt alone.
    #[default]
    Skip,
    /// Save the imported text as a new version of the existing prompt.
    Overwrite,
    /// Import under a free name (`name-2`, `name-3`, …).
    Rename,
}

/// What happened (or, in a dry run, would happen) to one imported prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Created,
    /// A new version of the existing prompt.
    Updated,
    /// The existing prompt already had this text.
    Unchanged,
    Skipped,
    Renamed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportItem {
    /// The prompt's position in the file.
    pub index: usize,
    /// The name in the file.
    pub name: String,
    pub outcome: ImportOutcome,
    /// The name it was stored under (differs when renamed; absent when skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
}

/// `POST /api/v1/imports/prompts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// True when nothing was written.
    pub dry_run: bool,
    pub on_conflict: ConflictPolicy,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub renamed: usize,
    pub items: Vec<ImportItem>,
}
