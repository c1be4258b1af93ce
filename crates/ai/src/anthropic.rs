//! Anthropic's Messages API at `{base}/v1/messages`.

use domain::ai::{ChatRole, Usage};
use eventsource_stream::Event;
use outbound::{Outbound, OutboundError, Request, header::HeaderName};
use serde::{Deserialize, Serialize};

use crate::openai::{WireError, reported_or, saturate};
use crate::stream::Step;
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
    // Anthropic takes system instructions beside the conversation, not inside it.
    let system: Vec<&str> =
        request.messages.iter().filter(|m| m.role == ChatRole::System).map(|m| m.content.as_str()).collect();
    let messages = request
        .messages
        .iter()
        .filter(|m| m.role != ChatRole::System)
        .map(|m| Message { role: m.role, content: &m.content })
        .collect();
    let body = MessagesBody {
        model: &endpoint.model,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        max_tokens: request.options.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        temperature: request.options.temperature,
        stream,
    };
    let url = format!("{}/v1/messages", endpoint.base_url);
    Ok(authorize(outbound.post(&url)?, endpoint).json(&body))
}

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
    stream: bool,
}

#[derive(Serialize)]
struct Message<'a> {
    role: ChatRole,
    content: &'a str,
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
    /// Tool calls, thinking and whatever comes next carry no answer text.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

/// A whole answer: the text is every text block, in order.
pub(crate) fn parse_completion(
    provider: &str,
    body: &[u8],
    requested_model: &str,
) -> Result<Completion, AiError> {
    let answer: MessageAnswer = serde_json::from_slice(body).map_err(|e| AiError::malformed(provider, e))?;
    let text = answer
        .content
        .into_iter()
        .filter_map(|block| match block {
            Block::Text { text } => Some(text),
            Block::Other => None,
        })
        .collect();
    Ok(Completion {
        text,
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
    ContentBlockDelta {
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
    /// `ping`, `content_block_start`, `content_block_stop` and future events.
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
enum BlockDelta {
    TextDelta {
        text: String,
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
/// `message_delta` (stop reason, output tokens), then `message_stop`.
#[derive(Default)]
pub(crate) struct StreamDecoder {
    model: Option<String>,
    stop_reason: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
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
            StreamData::ContentBlockDelta { delta: BlockDelta::TextDelta { text } } => {
                return Ok(Step::Delta(text));
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
                }));
            }
            StreamData::Error { error } => {
                return Err(AiError::in_stream(provider, error.kind.as_deref(), error.message.as_deref()));
            }
            StreamData::ContentBlockDelta { delta: BlockDelta::Other } | StreamData::Other => {}
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
