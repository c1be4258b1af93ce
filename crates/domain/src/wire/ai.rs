//! Bodies of the AI endpoints: connections, settings, runs, comparisons, enhancement, token
//! counts and run analytics.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{PersonRef, Problem};
use crate::ai::{ModelPrice, Provider, ToolCall, Usage};
use crate::diff::DiffLine;
use crate::{ConnectionId, PromptId, RunId};

/// Who a connection belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionScope {
    /// Set by a tenant admin; every user of the tenant may use it.
    Tenant,
    /// The caller's own; nobody else sees it.
    #[default]
    Personal,
}

/// A configured AI service. The key is never returned: `api_key` only says whether one is
/// set and how it ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionView {
    pub id: ConnectionId,
    pub name: String,
    pub scope: ConnectionScope,
    pub provider: Provider,
    pub base_url: String,
    /// The model (for Azure OpenAI: the deployment name).
    pub model: String,
    /// `null` when no key is set, else e.g. `set, ends in …1a2b`.
    pub api_key: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub timeout_seconds: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The connections the caller may use: the tenant's, then their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionList {
    pub items: Vec<ConnectionView>,
}

/// Creates a connection (`PUT` replaces one: the same fields; a missing `api_key` keeps the
/// stored key, `clear_api_key` removes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionRequest {
    pub name: String,
    /// `tenant` needs a tenant admin. Default `personal`. Ignored when replacing.
    #[serde(default)]
    pub scope: ConnectionScope,
    pub provider: Provider,
    /// Default: the provider's usual address (LM Studio: `http://localhost:1234/v1`).
    #[serde(default)]
    pub base_url: Option<String>,
    pub model: String,
    /// Sealed at rest; never returned.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub clear_api_key: bool,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// 1 to 600 seconds; default 60.
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
}

/// What testing a connection found: the provider's models, or exactly what failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionTestResult {
    pub ok: bool,
    /// The models the provider lists (at most 200).
    pub models: Vec<String>,
    pub latency_ms: u64,
    /// What failed, as the run endpoint would report it (`provider_unreachable`,
    /// `provider_unauthorized`, `provider_timeout`, `address_not_allowed`…).
    pub error: Option<Problem>,
}

/// A provider the server can talk to, with its usual address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderInfo {
    pub provider: Provider,
    pub label: String,
    pub default_base_url: String,
    pub requires_api_key: bool,
}

/// A connection named in another answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionRef {
    pub id: ConnectionId,
    pub name: String,
    pub provider: Provider,
    pub model: String,
}

/// The caller's AI settings: which connection runs prompts and which enhances them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiSettingsView {
    /// The caller's own choice; `null` inherits the tenant's default.
    pub execution_connection: Option<ConnectionId>,
    pub enhancement_connection: Option<ConnectionId>,
    /// What is used now (own choice, else the tenant's default); `null`: none configured.
    pub effective_execution: Option<ConnectionRef>,
    pub effective_enhancement: Option<ConnectionRef>,
    /// Whether the tenant lets users define their own connections.
    pub user_connections_allowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateAiSettingsRequest {
    /// A connection the caller may use, or `null` to inherit the tenant's default.
    #[serde(default)]
    pub execution_connection: Option<ConnectionId>,
    #[serde(default)]
    pub enhancement_connection: Option<ConnectionId>,
}

/// A tenant's AI rules, set by its admins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiPolicy {
    /// Whether users may define personal connections (else they use the tenant's).
    pub allow_user_connections: bool,
    /// The tenant's default connections (tenant connections only).
    pub default_execution_connection: Option<ConnectionId>,
    pub default_enhancement_connection: Option<ConnectionId>,
    /// How many days a run's output is kept (0: never stored; at most 3,650). Run records
    /// (who, model, tokens, time) stay.
    pub run_retention_days: u32,
    /// Prices for cost estimates, per million tokens.
    pub prices: Vec<ModelPrice>,
}

/// Runs a prompt: fills its variables (strictly: every variable needs a value and every value
/// a variable) and sends it to the AI service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Object>))]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// An older version to run (default: the current one).
    #[serde(default)]
    pub version: Option<u32>,
    /// Default: the caller's execution connection.
    #[serde(default)]
    pub connection: Option<ConnectionId>,
    /// Another model on the same connection.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Answer with server-sent events: `delta` events (`{"text": …}`), then one `done` event
    /// (a `RunResult`) or one `error` event (a problem document).
    #[serde(default)]
    pub stream: bool,
}

/// The answer of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunResult {
    pub run_id: RunId,
    pub prompt_id: Option<PromptId>,
    /// The prompt version that ran.
    pub version: Option<u32>,
    pub connection: ConnectionRef,
    /// The model that answered, as the provider reports it.
    pub model: String,
    pub output: String,
    /// The tools the model asked to call (with the prompt's tool definitions), in its order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`… as the provider reports it.
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub latency_ms: u64,
    /// From the tenant's price table, when it has a price for the model.
    pub estimated_cost: Option<f64>,
}

/// A `delta` event of a streamed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDelta {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Run,
    Compare,
    Enhance,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Run => "run",
            RunKind::Compare => "compare",
            RunKind::Enhance => "enhance",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [RunKind::Run, RunKind::Compare, RunKind::Enhance].into_iter().find(|k| k.as_str() == raw)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    Ok,
    Error,
    /// The caller went away before the answer was complete.
    Cancelled,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Error => "error",
            RunOutcome::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [RunOutcome::Ok, RunOutcome::Error, RunOutcome::Cancelled].into_iter().find(|k| k.as_str() == raw)
    }
}

/// A recorded run, as listed in a prompt's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunRecordView {
    pub id: RunId,
    pub kind: RunKind,
    pub prompt_id: Option<PromptId>,
    pub version: Option<u32>,
    /// Runs of one comparison share this id.
    pub compare_group: Option<uuid::Uuid>,
    pub user: Option<PersonRef>,
    pub connection_name: String,
    pub provider: Provider,
    pub model: String,
    pub outcome: RunOutcome,
    /// The problem code when `outcome` is `error`.
    pub error_code: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub latency_ms: u64,
    pub estimated_cost: Option<f64>,
    /// `null` once the tenant's retention has passed (or when it keeps no output).
    pub output: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunList {
    pub items: Vec<RunRecordView>,
    pub next_cursor: Option<String>,
}

/// One side of a comparison: a connection (default: the caller's execution connection), a
/// model on it, a version of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareTarget {
    #[serde(default)]
    pub connection: Option<ConnectionId>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
}

/// Runs one prompt on up to four targets at once, side by side.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Object>))]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// 2 to 4 targets.
    pub targets: Vec<CompareTarget>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
}

/// Each target's answer, or what failed for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareItem {
    pub target: CompareTarget,
    pub result: Option<RunResult>,
    pub error: Option<Problem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompareResult {
    pub compare_group: uuid::Uuid,
    pub items: Vec<CompareItem>,
}

/// Asks the enhancement service to improve a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnhanceRequest {
    /// An enhancement prompt of the tenant (id or name); default: the built-in one.
    #[serde(default)]
    pub enhancement_prompt: Option<String>,
    /// Default: the caller's enhancement connection (else their execution connection).
    #[serde(default)]
    pub connection: Option<ConnectionId>,
    #[serde(default)]
    pub model: Option<String>,
    /// Only for `POST /api/v1/enhance`: the unsaved text to improve.
    #[serde(default)]
    pub text: Option<String>,
}

/// A suggested improvement. Nothing is saved until it is accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnhanceResult {
    /// Pass to `…/enhance/accept` to save the suggestion as a new version.
    pub run_id: RunId,
    pub prompt_id: Option<PromptId>,
    /// The version that was enhanced.
    pub version: Option<u32>,
    pub original: String,
    pub suggestion: String,
    pub lines: Vec<DiffLine>,
    pub unified: String,
    /// The enhancement prompt used; `null`: the built-in one.
    pub enhancement_prompt: Option<String>,
    pub connection: ConnectionRef,
    pub model: String,
    pub usage: Option<Usage>,
    pub latency_ms: u64,
}

/// Saves an enhancement's suggestion as the prompt's new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptEnhancementRequest {
    pub run_id: RunId,
    /// The version the suggestion was made for (or send `If-Match`); a newer one gets 412.
    #[serde(default)]
    pub version: Option<u32>,
    /// Default: names the enhancement prompt and the model.
    #[serde(default)]
    pub commit_message: Option<String>,
}

/// Counts a prompt's tokens for a model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCountRequest {
    /// Values to fill in first; variables without a value are counted as written.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Object>))]
    pub variables: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub version: Option<u32>,
    /// The model to count for (default: the caller's execution connection's model).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub connection: Option<ConnectionId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCount {
    pub model: String,
    pub tokens: u32,
    /// `tiktoken:<encoding>` for OpenAI models; `estimate:chars/4` otherwise.
    pub method: String,
    /// What sending these tokens costs, from the tenant's price table.
    pub estimated_input_cost: Option<f64>,
    pub price: Option<ModelPrice>,
}

/// Runs and tokens per day and per model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunAnalytics {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<RunDay>,
    pub models: Vec<ModelUsage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunDay {
    pub day: NaiveDate,
    pub runs: u64,
    pub failed: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelUsage {
    pub provider: Provider,
    pub model: String,
    pub runs: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub estimated_cost: Option<f64>,
}
