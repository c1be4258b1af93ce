//! Anthropic's Messages API at `{base}/v1/messages`.

use domain::ai::{ChatMessage, ChatRole, ResponseFormat, ToolCall, Usage};
use eventsource_stream::Event;
use outbound::{Outbound, OutboundError, Request, header::HeaderName};
use serde::{Deserialize, Serialize};

use crate::openai::{WireError, reported_or, saturate};
use crate::stream::Step;
use crate::tools::{Piece, Pieces};
use crate::{AiError, ChatRequest, Completion, Endpoint, StreamEvent};

/// The API version we speak, sent on every request as Anthropic requires.
pub const API_VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`; this is used when the caller sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

pub(crate) fn chat(
    outbound: &Outbound,
    endpoint: &Endpoint,
    request: &ChatRequest,
    stream: bool,
) -> Result<Request, OutboundError> {
    let messages = request
        .messages
        .iter()
        .filter(|m| !is_instruction(m))
        .map(|m| Message { role: m.role, content: &m.content })
        .collect();
    let tools = request
        .tools
        .iter()
        .map(|t| Tool { name: &t.name, description: t.description.as_deref(), input_schema: &t.parameters })
        .collect();
    let body = MessagesBody {
        model: &endpoint.model,
        system: system(request),
        messages,
        max_tokens: request.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        // Sent as asked, both together if both are set, which some recent models refuse with
        // an error that names them.
        temperature: request.options.temperature,
        top_p: request.options.top_p,
        stop_sequences: &request.stop,
        tools,
        stream,
    };
    let url = format!("{}/v1/messages", endpoint.base_url);
    Ok(authorize(outbound.post(&url)?, endpoint).json(&body))
}

/// Anthropic takes system (and developer) instructions beside the conversation, not inside it.
fn is_instruction(message: &ChatMessage) -> bool {
    matches!(message.role, ChatRole::System | ChatRole::Developer)
}

/// The `system` field: every system and developer message in order, then, since Anthropic has
/// no answer format, the instruction to answer in JSON that the request's format asks for.
fn system(request: &ChatRequest) -> Option<String> {
    let mut parts: Vec<String> =
        request.messages.iter().filter(|m| is_instruction(m)).map(|m| m.content.clone()).collect();
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => parts.push(JSON_OBJECT_INSTRUCTION.to_owned()),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            parts.push(format!("{JSON_SCHEMA_INSTRUCTION}\n{schema}"));
        }
    }
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Appended to the system text for [`ResponseFormat::JsonObject`].
const JSON_OBJECT_INSTRUCTION: &str =
    "Answer with a single JSON object only: no other text before or after it, no code fences.";

/// Appended to the system text for [`ResponseFormat::JsonSchema`], followed by the schema as
/// compact JSON on the next line.
const JSON_SCHEMA_INSTRUCTION: &str = "Answer with JSON only, matching the JSON Schema below: \
no other text before or after it, no code fences.";

pub(crate) fn models(outbound: &Outbound, endpoint: &Endpoint) -> Result<Request, OutboundError> {
    // The list is paged, 20 by default; one page of the maximum holds every model there is.
    let url = format!("{}/v1/models?limit=1000", endpoint.base_url);
    Ok(authorize(outbound.get(&url)?, endpoint))
}

fn authorize(request: Request, endpoint: &Endpoint) -> Request {
    let request = request.header(HeaderName::from_static("anthropic-version"), API_VERSION);
    match &endpoint.api_key {
        Some(key) => request.secret_header(HeaderName::from_static("x-api-key"), key.expose()),
        None => request,
    }
}

#[derive(Serialize)]
struct MessagesBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Message<'a>>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool<'a>>,
    stream: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    role: ChatRole,
    content: &'a str,
}

/// `{"name", "description", "input_schema"}`.
#[derive(Serialize)]
struct Tool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a serde_json::Value,
}

#[derive(Deserialize)]
struct MessageAnswer {
    #[serde(default)]
    model: Option<String>,
    content: Vec<Block>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        name: String,
        #[serde(default)]
        input: Option<serde_json::Value>,
    },
    /// Thinking, server tools and whatever comes next carry no answer.
    #[serde(other)]
    Other,
}

/// A tool call's arguments: its `input`, as compact JSON (`{}` when there is none).
fn input_text(input: Option<serde_json::Value>) -> String {
    input.map_or_else(|| "{}".to_owned(), |input| input.to_string())
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

/// A whole answer: the text is every text block, in order; the tool calls are the `tool_use`
/// blocks, in order.
pub(crate) fn parse_completion(
    provider: &str,
    body: &[u8],
    requested_model: &str,
) -> Result<Completion, AiError> {
    let answer: MessageAnswer = serde_json::from_slice(body).map_err(|e| AiError::malformed(provider, e))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in answer.content {
        match block {
            Block::Text { text: piece } => text.push_str(&piece),
            Block::ToolUse { id, name, input } => {
                tool_calls.push(ToolCall { id, name, arguments: input_text(input) });
            }
            Block::Other => {}
        }
    }
    Ok(Completion {
        text,
        tool_calls,
        finish_reason: answer.stop_reason,
        usage: answer.usage.map(|u| Usage {
            input_tokens: saturate(u.input_tokens.unwrap_or(0)),
            output_tokens: saturate(u.output_tokens.unwrap_or(0)),
        }),
        model: reported_or(answer.model, requested_model),
    })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StreamData {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        #[serde(default)]
        index: u64,
        content_block: StartedBlock,
    },
    ContentBlockDelta {
        #[serde(default)]
        index: u64,
        delta: BlockDelta,
    },
    MessageDelta {
        #[serde(default)]
        delta: Option<MessageDelta>,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Error {
        error: WireError,
    },
    /// `ping`, `content_block_stop` and future events.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartedMessage {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartedBlock {
    ToolUse {
        #[serde(default)]
        id: Option<String>,
        name: String,
        #[serde(default)]
        input: Option<serde_json::Value>,
    },
    /// Text blocks start empty; their text comes in deltas.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
}

/// Follows a streamed message: `message_start` (model, input tokens), `content_block_delta`s,
/// `message_delta` (stop reason, output tokens), then `message_stop`. A tool call is a
/// `content_block_start` with a `tool_use` block, then `input_json_delta`s with its arguments
/// in pieces, kept by block index for the final event. Input pieces of blocks that are not
/// tool calls (server tools, which we never ask for) are dropped, not kept.
#[derive(Default)]
pub(crate) struct StreamDecoder {
    model: Option<String>,
    stop_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
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
        if data.is_empty() {
            return Ok(Step::Nothing);
        }
        let data: StreamData = serde_json::from_str(data).map_err(|e| AiError::malformed(provider, e))?;
        match data {
            StreamData::MessageStart { message } => {
                self.model = message.model.filter(|m| !m.is_empty());
                self.count(message.usage);
            }
            StreamData::ContentBlockStart {
                index,
                content_block: StartedBlock::ToolUse { id, name, input },
            } => {
                let piece = Piece {
                    id,
                    name: Some(name),
                    arguments: None,
                    initial_arguments: Some(input_text(input)),
                };
                let kept = self.tool_calls.add(index, piece)?;
                return Ok(Step::Piece { text: String::new(), kept });
            }
            StreamData::ContentBlockDelta { delta: BlockDelta::TextDelta { text }, .. } => {
                return Ok(Step::Piece { text, kept: 0 });
            }
            StreamData::ContentBlockDelta { index, delta: BlockDelta::InputJsonDelta { partial_json } } => {
                if self.tool_calls.contains(index) {
                    let piece = Piece { arguments: Some(partial_json), ..Piece::default() };
                    let kept = self.tool_calls.add(index, piece)?;
                    return Ok(Step::Piece { text: String::new(), kept });
                }
            }
            StreamData::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.and_then(|d| d.stop_reason) {
                    self.stop_reason = Some(reason);
                }
                self.count(usage);
            }
            StreamData::MessageStop => {
                let usage = (self.input_tokens.is_some() || self.output_tokens.is_some()).then(|| Usage {
                    input_tokens: saturate(self.input_tokens.unwrap_or(0)),
                    output_tokens: saturate(self.output_tokens.unwrap_or(0)),
                });
                return Ok(Step::Done(StreamEvent::Done {
                    finish_reason: self.stop_reason.take(),
                    usage,
                    model: reported_or(self.model.take(), requested_model),
                    tool_calls: self.tool_calls.finish(provider)?,
                }));
            }
            StreamData::Error { error } => {
                return Err(AiError::in_stream(provider, error.kind.as_deref(), error.message.as_deref()));
            }
            StreamData::ContentBlockStart { content_block: StartedBlock::Other, .. }
            | StreamData::ContentBlockDelta { delta: BlockDelta::Other, .. }
            | StreamData::Other => {}
        }
        Ok(Step::Nothing)
    }

    /// Counts are cumulative: a later event's count replaces an earlier one.
    fn count(&mut self, usage: Option<WireUsage>) {
        let usage = usage.unwrap_or_default();
        self.input_tokens = usage.input_tokens.or(self.input_tokens);
        self.output_tokens = usage.output_tokens.or(self.output_tokens);
    }
}
