//! Bodies of the prompt library endpoints.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ai::ChatMessage;
use crate::bundle::{ChatEntry, ModelSettings, PromptKind, VariableSpec};
use crate::diff::DiffLine;
use crate::prompt::Visibility;
use crate::template::TemplateFormat;
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptView {
    pub id: PromptId,
    /// Unique in the tenant, case-insensitively; `/` separates folders.
    pub name: String,
    pub title: String,
    /// A text prompt's template; a chat prompt's messages as one text (`[role]` headings).
    pub content: String,
    pub kind: PromptKind,
    pub template_format: TemplateFormat,
    /// A chat prompt's messages and placeholders, in order; empty for a text prompt.
    pub messages: Vec<ChatEntry>,
    /// The model settings this version was tuned for.
    pub settings: ModelSettings,
    /// What each variable takes; `GET /api/v1/prompts/{prompt}/schema` gives it as JSON Schema.
    pub contract: Vec<VariableSpec>,
    pub category: String,
    pub tags: Vec<String>,
    pub is_enhancement_prompt: bool,
    pub visibility: Visibility,
    /// Starts at 1; every saved change adds one.
    pub version: u32,
    /// The variables' names, in order of first appearance.
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
    pub kind: PromptKind,
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

/// A bundle as a request or an export file states it: each part is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleRequest {
    /// `text` (the default) or `chat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PromptKind>,
    /// `basic` (the default: `{{variables}}` only) or `logic` (also conditionals, loops, includes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_format: Option<TemplateFormat>,
    /// A chat prompt's messages (`{"role", "content"}`) and placeholders (`{"placeholder"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ChatEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<ModelSettings>,
    /// Specs for some or all variables; the rest are inferred from the templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Vec<VariableSpec>>,
}

impl From<BundleRequest> for crate::bundle::BundleInput {
    fn from(request: BundleRequest) -> Self {
        Self {
            kind: request.kind,
            format: request.template_format,
            messages: request.messages,
            settings: request.settings,
            contract: request.contract,
        }
    }
}

/// `POST /api/v1/prompts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatePromptRequest {
    /// Letters, digits, `-`, `_`, `.` and `/` (folders); at most 200 characters.
    pub name: String,
    /// Defaults to the name.
    #[serde(default)]
    pub title: Option<String>,
    /// Up to 100 KB. A chat prompt's content is made from its messages: leave it out.
    #[serde(default)]
    pub content: String,
    /// Kind, template format, messages, settings and contract; what is left out is kept.
    #[serde(flatten)]
    pub bundle: BundleRequest,
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatePromptRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    /// Kind, template format, messages, settings and contract; what is left out is kept.
    #[serde(flatten)]
    pub bundle: BundleRequest,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptVersionView {
    pub version: u32,
    pub name: String,
    pub title: String,
    pub content: String,
    pub kind: PromptKind,
    pub template_format: TemplateFormat,
    pub messages: Vec<ChatEntry>,
    pub settings: ModelSettings,
    pub contract: Vec<VariableSpec>,
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
    /// `name`, `title`, `category`, `tags`, `kind`, `template_format`, `settings` or
    /// `contract` (the last two as JSON).
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenderRequest {
    /// A value for each variable, checked and coerced against the prompt's contract: text,
    /// numbers, booleans, JSON for lists and objects, a list of messages for a placeholder.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Object>))]
    pub variables: BTreeMap<String, serde_json::Value>,
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
    /// The content with every variable filled in (for a chat prompt, its messages as one text).
    pub text: String,
    /// What a run sends: a chat prompt's messages, placeholders filled in; a text prompt's
    /// text as one user message.
    pub messages: Vec<ChatMessage>,
    /// The version that was rendered.
    pub version: u32,
}

/// A prompt that includes another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptRef {
    pub id: PromptId,
    pub name: String,
    pub title: String,
}

/// One prompt whose current version includes the prompt asked about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsedBy {
    pub prompt: PromptRef,
    /// The version it includes; `null`: it follows the current one (or a label), so edits
    /// change it.
    pub pinned_version: Option<u32>,
    /// The label it includes the prompt by (`name@production`): it gets the version the label
    /// points at, so edits reach it only when the label moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_label: Option<String>,
}

/// `GET /api/v1/prompts/{prompt}/used-by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsedByList {
    pub items: Vec<UsedBy>,
}

/// What an edit would do to a prompt that includes the edited one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImpactOutcome {
    /// Renders the same.
    Unchanged,
    /// Renders differently; `before` and `after` show how.
    Changed,
    /// Would no longer render with the values it takes today; `problem` says why.
    Breaks,
    /// Includes a pinned version, or the version a label points at: the edit does not reach it.
    Pinned,
}

/// One dependent in an impact preview, rendered strictly with sample values from its contract
/// (defaults, else examples, else a value of the variable's type) before and after the edit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImpactItem {
    pub prompt: PromptRef,
    pub pinned_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_label: Option<String>,
    /// The prompt it includes the edited one through, when not directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    pub outcome: ImpactOutcome,
    /// The rendering today (at most 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// The rendering after the edit (at most 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Why it breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<crate::wire::Problem>,
}

/// `POST /api/v1/prompts/{prompt}/impact`: what saving the edit in the body would do to every
/// prompt that includes this one, directly or through others. Nothing is saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImpactReport {
    pub items: Vec<ImpactItem>,
    /// More dependents exist than were rendered.
    pub truncated: bool,
}

/// A folder: the part of prompt names before their last `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Folder {
    /// `marketing/emails`; pass as `folder` to list its prompts.
    pub path: String,
    /// Prompts directly in it.
    pub prompts: u64,
    /// Prompts in it and in its subfolders.
    pub total: u64,
}

/// `GET /api/v1/folders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FolderList {
    pub items: Vec<Folder>,
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

/// The export format's identifier. Version 2 adds bundles (kind, template format, messages,
/// settings, contract); imports also accept [`PROMPT_EXPORT_FORMAT_V1`] files.
pub const PROMPT_EXPORT_FORMAT: &str = "prompt-manager/prompts@2";
/// The first format: text prompts only.
pub const PROMPT_EXPORT_FORMAT_V1: &str = "prompt-manager/prompts@1";

/// A file of prompts: what export writes and import reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptExport {
    /// `prompt-manager/prompts@2` (`@1` files still import).
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exported_at: Option<DateTime<Utc>>,
    pub prompts: Vec<ExportedPrompt>,
}

/// One prompt in an export file. On import, everything but `name` and `content` (or, for a
/// chat prompt, `messages`) may be left out and takes the usual defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedPrompt {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub content: String,
    #[serde(flatten)]
    pub bundle: BundleRequest,
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
