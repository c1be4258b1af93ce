//! The vocabulary of AI services: providers, chat messages, generation options, usage, the
//! rules a connection's settings must keep, filling an enhancement prompt, and price tables.
//! No I/O: the `ai` crate speaks to the providers, `persistence` stores connections.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::wire::{FieldError, RunKind, RunOutcome};
use crate::{ConnectionId, PromptId, RunId, Secret, TenantId, UserId};

/// Which service a connection talks to. All but Anthropic and Azure speak OpenAI's chat
/// completions API at `{base_url}/chat/completions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Openai,
    /// `{base_url}/openai/deployments/{model}/chat/completions?api-version=…`, `api-key` header;
    /// the model is the deployment name.
    AzureOpenai,
    Lmstudio,
    Ollama,
    Llamacpp,
    /// Any other server with OpenAI's chat completions API.
    OpenaiCompatible,
    /// Anthropic's Messages API at `{base_url}/v1/messages`.
    Anthropic,
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAiChat,
    AzureOpenAi,
    AnthropicMessages,
}

impl Provider {
    pub const ALL: [Provider; 7] = [
        Provider::Openai,
        Provider::AzureOpenai,
        Provider::Lmstudio,
        Provider::Ollama,
        Provider::Llamacpp,
        Provider::OpenaiCompatible,
        Provider::Anthropic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Openai => "openai",
            Provider::AzureOpenai => "azure_openai",
            Provider::Lmstudio => "lmstudio",
            Provider::Ollama => "ollama",
            Provider::Llamacpp => "llamacpp",
            Provider::OpenaiCompatible => "openai_compatible",
            Provider::Anthropic => "anthropic",
        }
    }

    pub fn parse(raw: &str) -> Option<Provider> {
        Provider::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    pub fn label(self) -> &'static str {
        match self {
            Provider::Openai => "OpenAI",
            Provider::AzureOpenai => "Azure OpenAI",
            Provider::Lmstudio => "LM Studio",
            Provider::Ollama => "Ollama",
            Provider::Llamacpp => "llama.cpp",
            Provider::OpenaiCompatible => "OpenAI-compatible",
            Provider::Anthropic => "Anthropic",
        }
    }

    /// Where the service usually listens; LM Studio's address is the original tool's default.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Provider::Openai => "https://api.openai.com/v1",
            Provider::AzureOpenai => "https://YOUR-RESOURCE.openai.azure.com",
            Provider::Lmstudio | Provider::OpenaiCompatible => DEFAULT_BASE_URL,
            Provider::Ollama => "http://localhost:11434/v1",
            Provider::Llamacpp => "http://localhost:8080/v1",
            Provider::Anthropic => "https://api.anthropic.com",
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Provider::AzureOpenai => Protocol::AzureOpenAi,
            Provider::Anthropic => Protocol::AnthropicMessages,
            _ => Protocol::OpenAiChat,
        }
    }

    /// Cloud services refuse calls without a key; local servers usually need none.
    pub fn requires_api_key(self) -> bool {
        matches!(self, Provider::Openai | Provider::AzureOpenai | Provider::Anthropic)
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The original tool's default AI service address (LM Studio on this machine).
pub const DEFAULT_BASE_URL: &str = "http://localhost:1234/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChatRole {
    System,
    /// Instructions from the application, above the user's: OpenAI's `developer` role. Sent
    /// as `system` to providers that lack it.
    Developer,
    User,
    Assistant,
}

impl ChatRole {
    pub const ALL: [ChatRole; 4] =
        [ChatRole::System, ChatRole::Developer, ChatRole::User, ChatRole::Assistant];

    pub fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::Developer => "developer",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        ChatRole::ALL.into_iter().find(|r| r.as_str() == raw)
    }
}

/// One message sent to a chat model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: ChatRole::User, content: content.into() }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self { role: ChatRole::System, content: content.into() }
    }
}

/// Sampling options of one call; `None` leaves the provider's default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerationOptions {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Nucleus sampling: only the most likely tokens whose probabilities add up to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
}

/// A function the model may ask to call, described by a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolDefinition {
    /// Letters, digits, `_` and `-`; at most 64 characters; unique in a prompt.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema of type `object`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub parameters: serde_json::Value,
}

/// The shape of answer asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching `schema`.
    JsonSchema {
        /// Letters, digits, `_` and `-`; at most 64 characters.
        name: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        schema: serde_json::Value,
        /// Ask the provider to keep to the schema exactly (OpenAI's structured outputs).
        #[serde(default)]
        strict: bool,
    },
}

/// A call of one tool the model asked for, instead of (or with) a text answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCall {
    /// The provider's id of the call.
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: usually, not always, JSON.
    pub arguments: String,
}

/// Tokens a call consumed, as the provider reported them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

/// Upper bounds a connection's settings must keep.
pub const MAX_TEMPERATURE: f32 = 2.0;
pub const MAX_TOP_P: f32 = 1.0;
/// No single answer may ask for more tokens than this (also caps what one call can cost).
pub const MAX_TOKENS_LIMIT: u32 = 32_768;
pub const MIN_TIMEOUT_SECONDS: u32 = 1;
pub const MAX_TIMEOUT_SECONDS: u32 = 600;
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 60;
pub const MAX_CONNECTION_NAME: usize = 100;
pub const MAX_MODEL_NAME: usize = 200;
pub const MAX_BASE_URL: usize = 2_000;
pub const MAX_API_KEY: usize = 4_000;

/// Checks the options a caller or connection asks for, adding one error per bad field.
pub fn check_options(prefix: &str, options: &GenerationOptions, errors: &mut Vec<FieldError>) {
    if let Some(t) = options.temperature
        && !(0.0..=MAX_TEMPERATURE).contains(&t)
    {
        errors
            .push(FieldError::new(format!("{prefix}temperature"), format!("must be 0 to {MAX_TEMPERATURE}")));
    }
    if let Some(m) = options.max_tokens
        && !(1..=MAX_TOKENS_LIMIT).contains(&m)
    {
        errors
            .push(FieldError::new(format!("{prefix}max_tokens"), format!("must be 1 to {MAX_TOKENS_LIMIT}")));
    }
    if let Some(p) = options.top_p
        && !(p > 0.0 && p <= MAX_TOP_P)
    {
        errors.push(FieldError::new(format!("{prefix}top_p"), "must be more than 0 and at most 1"));
    }
}

/// A base URL a connection may use: `http` or `https`, a host, no user name or password (keys
/// go in the key field, where they are sealed), no query or fragment. Returned without a
/// trailing slash.
pub fn parse_base_url(raw: &str) -> Result<String, &'static str> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("is required");
    }
    if trimmed.len() > MAX_BASE_URL {
        return Err("is too long");
    }
    let url = url::Url::parse(trimmed).map_err(|_| "is not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must start with http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password; put the key in api_key");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment");
    }
    Ok(trimmed.to_owned())
}

/// How a stored key is shown: never the key, only that it is set and its last four characters.
pub fn key_hint(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 12 {
        // Showing four characters of a short key would give away too much of it.
        return "set".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("set, ends in …{tail}")
}

/// The variable an enhancement prompt receives the original prompt in.
pub const ORIGINAL_PROMPT_VARIABLE: &str = "original_prompt";

/// Used when the caller picks no enhancement prompt of their own.
pub const BUILT_IN_ENHANCEMENT_PROMPT: &str =
    "You are an expert prompt engineer. Improve the prompt below so that a \
language model answers it better: make the task, the audience and the expected output explicit, add \
useful constraints and structure, remove ambiguity, and keep every {{placeholder}} in double braces \
exactly as written. Keep the prompt's language and intent. Answer with the improved prompt only, \
without explanations, preamble or quotes.

Prompt to improve:
{{original_prompt}}";

/// Fills an enhancement prompt with the prompt to improve: `{{original_prompt}}` (spaces
/// allowed inside the braces) and the original tool's `{original_prompt}` both work. A template
/// without either gets the original appended, so the model always sees it.
pub fn fill_enhancement(template: &str, original: &str) -> String {
    let mut out = String::with_capacity(template.len() + original.len());
    let mut rest = template;
    let mut filled = false;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(len) = placeholder_len(tail) {
            out.push_str(original);
            rest = &tail[len..];
            filled = true;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    if !filled {
        out.push_str("\n\n");
        out.push_str(original);
    }
    out
}

/// The length of an `{original_prompt}` or `{{ original_prompt }}` placeholder at the start of
/// `text`, if there is one.
fn placeholder_len(text: &str) -> Option<usize> {
    let (open, close) = if text.starts_with("{{") { ("{{", "}}") } else { ("{", "}") };
    let inner_start = open.len();
    let end = text[inner_start..].find(close)? + inner_start;
    let inner = &text[inner_start..end];
    let matches = if open == "{{" {
        inner.trim() == ORIGINAL_PROMPT_VARIABLE
    } else {
        inner == ORIGINAL_PROMPT_VARIABLE
    };
    matches.then_some(end + close.len())
}

/// The documented estimate for models without a known tokenizer: one token per four
/// characters, rounded up (close for English prose; code and other scripts run higher).
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX)
}

/// One row of a tenant's price table: what a model costs per million tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelPrice {
    /// A model name, or a prefix ending in `*` (`gpt-4o*`). The longest match wins.
    pub model: String,
    pub input_per_million: f64,
    pub output_per_million: f64,
}

pub const MAX_PRICE_ROWS: usize = 200;

/// The price row for `model`: an exact name first, else the longest matching `prefix*`.
pub fn price_for<'a>(prices: &'a [ModelPrice], model: &str) -> Option<&'a ModelPrice> {
    prices.iter().find(|p| p.model == model).or_else(|| {
        prices
            .iter()
            .filter_map(|p| {
                p.model
                    .strip_suffix('*')
                    .filter(|prefix| model.starts_with(prefix))
                    .map(|prefix| (prefix.len(), p))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, p)| p)
    })
}

/// The estimated cost of `usage` on `model`, in the price table's currency.
pub fn estimate_cost(prices: &[ModelPrice], model: &str, usage: Usage) -> Option<f64> {
    price_for(prices, model).map(|p| {
        (f64::from(usage.input_tokens) * p.input_per_million
            + f64::from(usage.output_tokens) * p.output_per_million)
            / 1_000_000.0
    })
}

/// Checks a price table, one error per bad row.
pub fn check_prices(prices: &[ModelPrice], errors: &mut Vec<FieldError>) {
    if prices.len() > MAX_PRICE_ROWS {
        errors.push(FieldError::new("prices", format!("at most {MAX_PRICE_ROWS} rows")));
    }
    for (i, p) in prices.iter().enumerate() {
        if p.model.trim().is_empty() || p.model.len() > MAX_MODEL_NAME {
            errors.push(FieldError::new(
                format!("prices[{i}].model"),
                format!("must be 1 to {MAX_MODEL_NAME} characters"),
            ));
        }
        for (field, value) in
            [("input_per_million", p.input_per_million), ("output_per_million", p.output_per_million)]
        {
            if !value.is_finite() || value < 0.0 {
                errors.push(FieldError::new(format!("prices[{i}].{field}"), "must be a number of 0 or more"));
            }
        }
    }
}

/// A stored connection. Its key stays sealed (`api_key_sealed`) until the moment of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    /// `None`: the tenant's; else the one user who owns it.
    pub owner: Option<UserId>,
    pub settings: ConnectionSettings,
    pub api_key_sealed: Option<Secret<String>>,
    pub api_key_hint: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a connection is, apart from its key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSettings {
    pub name: String,
    pub provider: Provider,
    pub base_url: String,
    pub model: String,
    pub options: GenerationOptions,
    pub timeout_seconds: u32,
}

/// How a write changes a connection's stored key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyChange {
    Keep,
    Clear,
    /// The sealed key and its hint.
    Set {
        sealed: Secret<String>,
        hint: String,
    },
}

/// A run to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub user_id: UserId,
    pub prompt_id: Option<PromptId>,
    pub prompt_version: Option<u32>,
    pub kind: RunKind,
    pub compare_group: Option<uuid::Uuid>,
    pub enhancement_prompt: Option<String>,
    pub connection_id: Option<ConnectionId>,
    pub connection_name: String,
    pub provider: Provider,
    pub model: String,
    pub outcome: RunOutcome,
    pub error_code: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub latency_ms: u64,
    pub estimated_cost: Option<f64>,
    /// Kept until `output_expires_at` (the tenant's retention); `None` when not kept.
    pub output: Option<String>,
    pub output_expires_at: Option<DateTime<Utc>>,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: RunId,
    pub created_at: DateTime<Utc>,
    pub run: NewRun,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_round_trip_and_default_to_the_original_address() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(p.as_str()));
        }
        assert_eq!(Provider::Lmstudio.default_base_url(), "http://localhost:1234/v1");
        assert_eq!(Provider::parse("gpt"), None);
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(parse_base_url(" http://localhost:1234/v1/ ").unwrap(), "http://localhost:1234/v1");
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("https://user:pw@api.example.com").is_err());
        assert!(parse_base_url("https://api.example.com/v1?key=1").is_err());
        assert!(parse_base_url("not a url").is_err());
        assert!(parse_base_url("").is_err());
    }

    #[test]
    fn key_hints_show_only_the_end_of_long_keys() {
        assert_eq!(key_hint("sk-proj-abcdefgh1a2b"), "set, ends in …1a2b");
        assert_eq!(key_hint("short"), "set");
    }

    #[test]
    fn enhancement_prompts_are_filled_in_either_style() {
        assert_eq!(fill_enhancement("Improve: {original_prompt}!", "X"), "Improve: X!");
        assert_eq!(fill_enhancement("Improve: {{ original_prompt }}", "X"), "Improve: X");
        assert_eq!(fill_enhancement("a {{other}} {b}", "X"), "a {{other}} {b}\n\nX");
        // The original is inserted as it is, never expanded again.
        assert_eq!(fill_enhancement("{original_prompt}", "{original_prompt}"), "{original_prompt}");
        assert!(
            fill_enhancement(BUILT_IN_ENHANCEMENT_PROMPT, "Say hi").ends_with("Prompt to improve:\nSay hi")
        );
    }

    #[test]
    fn options_out_of_range_are_refused() {
        let mut errors = Vec::new();
        check_options(
            "",
            &GenerationOptions { temperature: Some(3.0), max_tokens: Some(0), top_p: None },
            &mut errors,
        );
        assert_eq!(errors.len(), 2);
        errors.clear();
        check_options(
            "",
            &GenerationOptions { temperature: Some(0.7), max_tokens: Some(256), top_p: Some(0.9) },
            &mut errors,
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn prices_match_exactly_then_by_the_longest_prefix() {
        let row = |model: &str, input: f64| ModelPrice {
            model: model.into(),
            input_per_million: input,
            output_per_million: 2.0 * input,
        };
        let prices = vec![row("gpt-4o*", 2.5), row("gpt-4o-mini*", 0.15), row("gpt-4o-mini-2024", 0.1)];
        assert_eq!(price_for(&prices, "gpt-4o-mini-2024").unwrap().input_per_million, 0.1);
        assert_eq!(price_for(&prices, "gpt-4o-mini-x").unwrap().input_per_million, 0.15);
        assert_eq!(price_for(&prices, "gpt-4o").unwrap().input_per_million, 2.5);
        assert!(price_for(&prices, "llama").is_none());
        let cost =
            estimate_cost(&prices, "gpt-4o", Usage { input_tokens: 1_000_000, output_tokens: 500_000 })
                .unwrap();
        assert!((cost - 5.0).abs() < 1e-9);
    }

    #[test]
    fn token_estimate_is_a_quarter_of_the_characters() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
