//! AI provider clients: OpenAI's chat completions (and every server that speaks it), Azure
//! OpenAI and Anthropic Messages. They take rendered messages and settings and return an
//! answer, a stream of answer events, or the provider's models. No HTTP server, no SQL: every
//! call goes out through [`outbound::Outbound`], with its address policy, timeouts and caps.

mod anthropic;
mod error;
mod openai;
mod stream;
mod tokens;
mod tools;

use std::time::Duration;

use domain::Secret;
use domain::ai::{
    ChatMessage, GenerationOptions, Protocol, Provider, ResponseFormat, ToolCall, ToolDefinition, Usage,
};
use outbound::{Outbound, Request, Response};

pub use anthropic::{API_VERSION as ANTHROPIC_VERSION, DEFAULT_MAX_TOKENS as ANTHROPIC_DEFAULT_MAX_TOKENS};
pub use error::{AiError, AiErrorKind, MAX_PROVIDER_MESSAGE};
pub use openai::AZURE_API_VERSION;
pub use stream::ChatStream;
pub use tokens::{TokenCount, count_tokens};
pub use tools::MAX_TOOL_CALLS;

/// Where and how to call one model.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub provider: Provider,
    /// Without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The model, or for Azure OpenAI the deployment name.
    pub model: String,
    pub api_key: Option<Secret<String>>,
    /// For a whole answer, the time until it is complete; for a stream, the time to the first
    /// byte and the longest pause between chunks.
    pub timeout: Duration,
}

/// What to ask: the rendered conversation, its sampling options, and the shape of answer and
/// tools it allows. What a provider lacks is mapped to what it has: `developer` messages become
/// `system` ones outside OpenAI and Azure OpenAI; Anthropic gets them in its `system` field, and
/// a JSON answer format as an instruction there (see [`ChatRequest::response_format`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    pub options: GenerationOptions,
    /// Texts at which the model stops (OpenAI's `stop`, Anthropic's `stop_sequences`); none
    /// are sent when empty.
    pub stop: Vec<String>,
    /// `None` leaves the provider's default (text). OpenAI-protocol providers get OpenAI's
    /// `response_format`. Anthropic has none: for a JSON object or schema, the system text gets
    /// an instruction to answer with JSON only (with the schema), which the model usually, not
    /// always, keeps to.
    pub response_format: Option<ResponseFormat>,
    /// Functions the model may call instead of (or besides) answering; none are sent when empty.
    pub tools: Vec<ToolDefinition>,
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Empty when the model answered only with tool calls.
    pub text: String,
    /// The calls the model asked for, in its order.
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// As the provider reported it (often more specific than asked), else the requested one.
    pub model: String,
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The next piece of the answer's text.
    Delta(String),
    /// The provider said the answer is complete. Tool calls come whole, here, not as deltas.
    Done { finish_reason: Option<String>, usage: Option<Usage>, model: String, tool_calls: Vec<ToolCall> },
}

/// Calls AI providers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AiClient {
    outbound: Outbound,
    max_answer_bytes: usize,
}

/// Room for an error body's explanation; the rest is not read.
const ERROR_BODY_BYTES: usize = 64 * 1024;

impl AiClient {
    /// `max_answer_bytes` caps the answer, streamed or not: its text and its tool calls' ids,
    /// names and arguments together. An answer may also carry at most [`MAX_TOOL_CALLS`] calls.
    pub fn new(outbound: Outbound, max_answer_bytes: usize) -> Self {
        Self { outbound, max_answer_bytes }
    }

    /// Asks for a whole answer and waits for it.
    pub async fn complete(&self, endpoint: &Endpoint, request: &ChatRequest) -> Result<Completion, AiError> {
        let result = async {
            let response = self.send(self.chat(endpoint, request, false)?, endpoint).await?;
            // JSON may escape the text to several times its size (`\ud83d\ude00` for 😀), and
            // the answer's metadata comes on top; text and tool calls are checked exactly below.
            let body_cap = self.max_answer_bytes.saturating_mul(4).saturating_add(ERROR_BODY_BYTES);
            let body = response.read_capped(body_cap).await?;
            let provider = endpoint.provider.label();
            let completion = match endpoint.provider.protocol() {
                Protocol::OpenAiChat | Protocol::AzureOpenAi => {
                    openai::parse_completion(provider, &body, &endpoint.model)?
                }
                Protocol::AnthropicMessages => anthropic::parse_completion(provider, &body, &endpoint.model)?,
            };
            tools::check_answer(&completion.text, &completion.tool_calls, self.max_answer_bytes)?;
            Ok(completion)
        };
        result.await.map_err(|e: AiError| e.redacted(endpoint.api_key.as_ref()))
    }

    /// Asks for a streamed answer. Fails before the first event when the call is refused or
    /// answered with an error; later failures are the stream's last item. A stream that ends
    /// without the provider's end marker (`data: [DONE]`, `message_stop`) ends with
    /// `StreamCut`, never with a `Done`. Dropping the stream drops the upstream connection,
    /// which is how a provider learns that nobody reads the answer any more.
    pub async fn stream(&self, endpoint: &Endpoint, request: &ChatRequest) -> Result<ChatStream, AiError> {
        let result = async {
            let response = self.send(self.chat(endpoint, request, true)?, endpoint).await?;
            let provider = endpoint.provider.label();
            let content_type = response
                .headers()
                .get(outbound::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !content_type.starts_with("text/event-stream") {
                let shown = if content_type.is_empty() { "no content type" } else { content_type };
                return Err(AiError::malformed(provider, format!("expected an event stream, got {shown}")));
            }
            let decoder = match endpoint.provider.protocol() {
                Protocol::OpenAiChat | Protocol::AzureOpenAi => stream::Decoder::OpenAi(Default::default()),
                Protocol::AnthropicMessages => stream::Decoder::Anthropic(Default::default()),
            };
            // The events' framing is many times the text it carries (a JSON object per token);
            // text and tool calls are capped exactly, the raw bytes only against a server that
            // never stops.
            let raw_cap = self.max_answer_bytes.saturating_mul(64).saturating_add(ERROR_BODY_BYTES);
            let answer = stream::Answer {
                decoder,
                provider,
                requested_model: endpoint.model.clone(),
                max_answer_bytes: self.max_answer_bytes,
                api_key: endpoint.api_key.clone(),
            };
            Ok(stream::events(response.into_stream(raw_cap), answer))
        };
        result.await.map_err(|e: AiError| e.redacted(endpoint.api_key.as_ref()))
    }

    /// The models the provider offers, in its order (for Azure OpenAI: the resource's models,
    /// not its deployments, which its data-plane API does not list).
    pub async fn list_models(&self, endpoint: &Endpoint) -> Result<Vec<String>, AiError> {
        let result = async {
            let request = match endpoint.provider.protocol() {
                Protocol::OpenAiChat => openai::models(&self.outbound, endpoint, false)?,
                Protocol::AzureOpenAi => openai::models(&self.outbound, endpoint, true)?,
                Protocol::AnthropicMessages => anthropic::models(&self.outbound, endpoint)?,
            };
            let body = self.send(request, endpoint).await?.read().await?;
            openai::parse_models(endpoint.provider.label(), &body)
        };
        result.await.map_err(|e: AiError| e.redacted(endpoint.api_key.as_ref()))
    }

    fn chat(&self, endpoint: &Endpoint, request: &ChatRequest, stream: bool) -> Result<Request, AiError> {
        let built = match endpoint.provider.protocol() {
            Protocol::OpenAiChat => openai::chat(&self.outbound, endpoint, request, stream, false),
            Protocol::AzureOpenAi => openai::chat(&self.outbound, endpoint, request, stream, true),
            Protocol::AnthropicMessages => anthropic::chat(&self.outbound, endpoint, request, stream),
        };
        Ok(built?)
    }

    /// Sends, and turns any status but 2xx into the provider's error.
    async fn send(&self, request: Request, endpoint: &Endpoint) -> Result<Response, AiError> {
        let response = request.send(endpoint.timeout).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // The explanation is a bonus: an unreadable error body still leaves the status.
        let body = response.read_capped(ERROR_BODY_BYTES).await.unwrap_or_default();
        Err(AiError::from_status(endpoint.provider.label(), status, &body))
    }
}
