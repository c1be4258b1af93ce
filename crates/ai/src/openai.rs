//! OpenAI's chat completions API, which OpenAI, LM Studio, Ollama, llama.cpp and many others
//! speak at `{base}/chat/completions`, and Azure OpenAI at a per-deployment path.

use domain::ai::{ChatRole, Provider, ResponseFormat, ToolCall, Usage};
use eventsource_stream::Event;
use outbound::{ErrorKind, Outbound, OutboundError, Request, Url, header::HeaderName};
use serde::{Deserialize, Serialize};

use crate::stream::Step;
use crate::tools::{Piece, Pieces};
use crate::{AiError, ChatRequest, Completion, Endpoint, StreamEvent};

/// The Azure OpenAI data-plane version we speak (the current GA one).
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// The chat request for OpenAI (`azure == false`) or Azure OpenAI.
pub(crate) fn chat(
    outbound: &Outbound,
    endpoint: &Endpoint,
    request: &ChatRequest,
    stream: bool,
    azure: bool,
) -> Result<Request, OutboundError> {
    let url = if azure {
        azure_url(&endpoint.base_url, &["deployments", &endpoint.model, "chat", "completions"])?
    } else {
        format!("{}/chat/completions", endpoint.base_url)
    };
    // Local servers refuse roles they do not know; only OpenAI's own services have `developer`.
    let developer = matches!(endpoint.provider, Provider::Openai | Provider::AzureOpenai);
    let body = ChatBody {
        // Azure takes the model from the deployment in the path.
        model: (!azure).then_some(endpoint.model.as_str()),
        messages: request
            .messages
            .iter()
            .map(|m| Message { role: role(m.role, developer), content: &m.content })
            .collect(),
        temperature: request.options.temperature,
        top_p: request.options.top_p,
        max_tokens: request.options.max_tokens,
        stop: &request.stop,
        response_format: request.response_format.as_ref().map(Format::from),
        tools: request
            .tools
            .iter()
            .map(|t| Tool {
                kind: "function",
                function: Function {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: &t.parameters,
                },
            })
            .collect(),
        stream,
        stream_options: stream.then_some(StreamOptions { include_usage: true }),
    };
    Ok(authorize(outbound.post(&url)?, endpoint, azure).json(&body))
}

/// The model list: `{base}/models`, or the models of an Azure resource.
pub(crate) fn models(
    outbound: &Outbound,
    endpoint: &Endpoint,
    azure: bool,
) -> Result<Request, OutboundError> {
    let url = if azure {
        azure_url(&endpoint.base_url, &["models"])?
    } else {
        format!("{}/models", endpoint.base_url)
    };
    Ok(authorize(outbound.get(&url)?, endpoint, azure))
}

/// `{base}/openai/{segments…}?api-version=…`, each segment percent-encoded (the deployment name
/// is the user's to choose).
fn azure_url(base: &str, segments: &[&str]) -> Result<String, OutboundError> {
    let invalid = || OutboundError::new(ErrorKind::InvalidUrl, "the base URL is not a valid http(s) URL");
    let mut url = Url::parse(base).map_err(|_| invalid())?;
    url.path_segments_mut().map_err(|()| invalid())?.pop_if_empty().push("openai").extend(segments);
    url.query_pairs_mut().append_pair("api-version", AZURE_API_VERSION);
    Ok(url.into())
}

/// OpenAI takes a bearer token, Azure an `api-key` header; local servers often need neither.
fn authorize(request: Request, endpoint: &Endpoint, azure: bool) -> Request {
    match endpoint.api_key.as_ref().map(|key| key.expose()) {
        None => request,
        Some(key) if azure => request.secret_header(HeaderName::from_static("api-key"), key),
        Some(key) => request.bearer_auth(key),
    }
}

/// The role a message is sent with: `developer` only where the provider has it.
fn role(role: ChatRole, developer: bool) -> &'static str {
    match role {
        ChatRole::Developer if !developer => ChatRole::System.as_str(),
        other => other.as_str(),
    }
}

#[derive(Serialize)]
struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Format<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    stream: bool,
    /// Asks for a last chunk with the usage, which streams otherwise lack.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

/// `{"type": "text"}`, `{"type": "json_object"}` or
/// `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Format<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchema<'a> },
}

#[derive(Serialize)]
struct JsonSchema<'a> {
    name: &'a str,
    schema: &'a serde_json::Value,
    strict: bool,
}

impl<'a> From<&'a ResponseFormat> for Format<'a> {
    fn from(format: &'a ResponseFormat) -> Self {
        match format {
            ResponseFormat::Text => Format::Text,
            ResponseFormat::JsonObject => Format::JsonObject,
            ResponseFormat::JsonSchema { name, schema, strict } => {
                Format::JsonSchema { json_schema: JsonSchema { name, schema, strict: *strict } }
            }
        }
    }
}

/// `{"type": "function", "function": {"name", "description", "parameters"}}`.
#[derive(Serialize)]
struct Tool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a serde_json::Value,
}

#[derive(Deserialize)]
struct ChatCompletion {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    /// `null` when the model answered with something other than text (a tool call, a refusal).
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

/// `{"id", "type": "function", "function": {"name", "arguments"}}`.
#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    function: CalledFunction,
}

#[derive(Deserialize)]
struct CalledFunction {
    name: String,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

/// Arguments as the model wrote them: OpenAI sends a string of JSON; a server that sends the
/// JSON itself gets it back compact.
fn arguments_text(arguments: Option<serde_json::Value>) -> String {
    match arguments {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => text,
        Some(other) => other.to_string(),
    }
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(usage: WireUsage) -> Self {
        Usage {
            input_tokens: saturate(usage.prompt_tokens),
            output_tokens: saturate(usage.completion_tokens),
        }
    }
}

pub(crate) fn saturate(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// A whole answer; `choices[0].message` must have text content, tool calls, or both.
pub(crate) fn parse_completion(
    provider: &str,
    body: &[u8],
    requested_model: &str,
) -> Result<Completion, AiError> {
    let answer: ChatCompletion = serde_json::from_slice(body).map_err(|e| AiError::malformed(provider, e))?;
    let Some(choice) = answer.choices.into_iter().next() else {
        return Err(AiError::malformed(provider, "no choices"));
    };
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| match call.kind.as_deref() {
            None | Some("function") => Ok(ToolCall {
                id: call.id.unwrap_or_default(),
                name: call.function.name,
                arguments: arguments_text(call.function.arguments),
            }),
            Some(other) => Err(AiError::malformed(provider, format!("a tool call of type {other}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = match choice.message.content {
        Some(text) => text,
        None if !tool_calls.is_empty() => String::new(),
        None => {
            return Err(AiError::malformed(provider, "the first choice has no text content or tool calls"));
        }
    };
    Ok(Completion {
        text,
        tool_calls,
        finish_reason: choice.finish_reason,
        usage: answer.usage.map(Usage::from),
        model: reported_or(answer.model, requested_model),
    })
}

pub(crate) fn reported_or(reported: Option<String>, requested: &str) -> String {
    reported.filter(|m| !m.is_empty()).unwrap_or_else(|| requested.to_owned())
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Option<Vec<ChunkChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<WireError>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaToolCall>>,
}

/// A piece of a tool call: `{index, id?, function: {name?, arguments?}}`.
#[derive(Deserialize)]
struct DeltaToolCall {
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct WireError {
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
    #[serde(default)]
    pub(crate) code: Option<serde_json::Value>,
}

/// Follows a streamed answer: `data:` chunks with deltas, a last chunk with the usage, then
/// `data: [DONE]`. Finish reason, usage, model and tool calls are kept for the final event.
/// Tool calls come in pieces put together by their `index`; a piece without one (which some
/// servers send, each call whole) starts a new call when it has an id and adds to the latest
/// call otherwise.
#[derive(Default)]
pub(crate) struct StreamDecoder {
    model: Option<String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    tool_calls: Pieces,
}

impl StreamDecoder {
    pub(crate) fn decode(
        &mut self,
        provider: &str,
        event: &Event,
        requested_model: &str,
    ) -> Result<Step, AiError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Step::Done(StreamEvent::Done {
                finish_reason: self.finish_reason.take(),
                usage: self.usage.take(),
                model: reported_or(self.model.take(), requested_model),
                tool_calls: self.tool_calls.finish(provider)?,
            }));
        }
        if data.is_empty() {
            return Ok(Step::Nothing);
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| AiError::malformed(provider, e))?;
        if let Some(error) = chunk.error {
            let code = error.code.as_ref().and_then(serde_json::Value::as_str);
            return Err(AiError::in_stream(
                provider,
                error.kind.as_deref().or(code),
                error.message.as_deref(),
            ));
        }
        if self.model.is_none() {
            self.model = chunk.model.filter(|m| !m.is_empty());
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.into());
        }
        let Some(choice) = chunk.choices.and_then(|choices| choices.into_iter().next()) else {
            return Ok(Step::Nothing);
        };
        if choice.finish_reason.is_some() {
            self.finish_reason = choice.finish_reason;
        }
        let Some(delta) = choice.delta else {
            return Ok(Step::Nothing);
        };
        let mut kept = 0;
        for call in delta.tool_calls.unwrap_or_default() {
            let key = match call.index {
                Some(index) => index,
                None if call.id.is_some() => self.tool_calls.next_key(),
                None => self.tool_calls.last_key().unwrap_or(0),
            };
            let function = call.function.unwrap_or(DeltaFunction { name: None, arguments: None });
            let piece = Piece {
                id: call.id,
                name: function.name,
                arguments: function.arguments.map(|a| arguments_text(Some(a))),
                initial_arguments: None,
            };
            kept += self.tool_calls.add(key, piece)?;
        }
        Ok(Step::Piece { text: delta.content.unwrap_or_default(), kept })
    }
}

#[derive(Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

/// `{"data": [{"id": …}, …]}`, which OpenAI, Azure and Anthropic all answer.
pub(crate) fn parse_models(provider: &str, body: &[u8]) -> Result<Vec<String>, AiError> {
    let list: ModelList = serde_json::from_slice(body).map_err(|e| AiError::malformed(provider, e))?;
    Ok(list.data.into_iter().map(|m| m.id).collect())
}
