//! OpenAI's chat completions API, which OpenAI, LM Studio, Ollama, llama.cpp and many others
//! speak at `{base}/chat/completions`, and Azure OpenAI at a per-deployment path.

use domain::ai::{ChatMessage, Usage};
use eventsource_stream::Event;
use outbound::{ErrorKind, Outbound, OutboundError, Request, Url, header::HeaderName};
use serde::{Deserialize, Serialize};

use crate::stream::Step;
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
    let body = ChatBody {
        // Azure takes the model from the deployment in the path.
        model: (!azure).then_some(endpoint.model.as_str()),
        messages: &request.messages,
        temperature: request.options.temperature,
        max_tokens: request.options.max_tokens,
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

#[derive(Serialize)]
struct ChatBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    stream: bool,
    /// Asks for a last chunk with the usage, which streams otherwise lack.
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
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
    content: Option<String>,
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

/// A whole answer; `choices[0].message.content` must be there.
pub(crate) fn parse_completion(
    provider: &str,
    body: &[u8],
    requested_model: &str,
) -> Result<Completion, AiError> {
    let answer: ChatCompletion = serde_json::from_slice(body).map_err(|e| AiError::malformed(provider, e))?;
    let Some(choice) = answer.choices.into_iter().next() else {
        return Err(AiError::malformed(provider, "no choices"));
    };
    let Some(text) = choice.message.content else {
        return Err(AiError::malformed(provider, "the first choice has no text content"));
    };
    Ok(Completion {
        text,
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
/// `data: [DONE]`. Finish reason, usage and model are remembered for the final event.
#[derive(Default)]
pub(crate) struct StreamDecoder {
    model: Option<String>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
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
        Ok(choice.delta.and_then(|d| d.content).map_or(Step::Nothing, Step::Delta))
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
