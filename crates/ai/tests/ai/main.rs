//! The provider clients against a real HTTP server on loopback that speaks OpenAI's, Azure
//! OpenAI's and Anthropic's APIs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod anthropic;
mod azure;
mod failures;
mod openai;
mod server;

use std::time::Duration;

use ai::{AiClient, AiError, ChatRequest, ChatStream, Endpoint, StreamEvent};
use domain::Secret;
use domain::ai::{
    ChatMessage, ChatRole, GenerationOptions, Provider, ResponseFormat, ToolCall, ToolDefinition,
};
use futures_util::StreamExt;
use outbound::{Outbound, OutboundConfig, OutboundPolicy};
use serde_json::{Value, json};
use server::Server;

/// The key every test endpoint carries; it must never show up in an error.
const KEY: &str = "sk-test-0123456789abcdef";

/// The answer cap of [`client`].
const MAX_ANSWER: usize = 4096;

/// A client that may reach loopback, where the test servers listen.
fn client() -> AiClient {
    let outbound = Outbound::new(OutboundConfig {
        policy: OutboundPolicy { allow_private_networks: true },
        ..Default::default()
    })
    .unwrap();
    AiClient::new(outbound, MAX_ANSWER)
}

/// An endpoint on `server`, at the base URL each provider is usually configured with.
fn endpoint(provider: Provider, server: &Server) -> Endpoint {
    let base_url = match provider {
        Provider::AzureOpenai | Provider::Anthropic => server.base.clone(),
        _ => format!("{}/v1", server.base),
    };
    Endpoint {
        provider,
        base_url,
        model: "test-model".to_owned(),
        api_key: Some(Secret::new(KEY.to_owned())),
        timeout: Duration::from_secs(10),
    }
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::system("Be brief."), ChatMessage::user("Say hello")],
        options: GenerationOptions { temperature: Some(0.5), max_tokens: Some(64), top_p: None },
        ..Default::default()
    }
}

/// A request with every setting there is: a developer message, top_p, stop texts, an answer
/// format and two tools.
fn full_request(format: ResponseFormat) -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::system("Be brief."),
            ChatMessage { role: ChatRole::Developer, content: "Answer as JSON.".to_owned() },
            ChatMessage::user("Weather in Paris?"),
        ],
        options: GenerationOptions { temperature: Some(0.5), max_tokens: Some(64), top_p: Some(0.9) },
        stop: vec!["END".to_owned(), "\n\n".to_owned()],
        response_format: Some(format),
        tools: vec![
            ToolDefinition {
                name: "get_weather".to_owned(),
                description: Some("The weather in a city".to_owned()),
                parameters: weather_schema(),
            },
            ToolDefinition {
                name: "now".to_owned(),
                description: None,
                parameters: json!({"type": "object", "properties": {}}),
            },
        ],
    }
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

fn schema_format() -> ResponseFormat {
    ResponseFormat::JsonSchema {
        name: "forecast".to_owned(),
        schema: json!({"type": "object", "properties": {"sky": {"type": "string"}}}),
        strict: true,
    }
}

fn tool_call(id: &str, name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: id.to_owned(), name: name.to_owned(), arguments: arguments.to_owned() }
}

/// A `Done` without tool calls.
fn done(finish_reason: &str, usage: Option<domain::ai::Usage>, model: &str) -> StreamEvent {
    StreamEvent::Done {
        finish_reason: Some(finish_reason.to_owned()),
        usage,
        model: model.to_owned(),
        tool_calls: Vec::new(),
    }
}

/// Every item of a stream, up to its end.
async fn collect(stream: ChatStream) -> Vec<Result<StreamEvent, AiError>> {
    stream.collect().await
}

fn delta(text: &str) -> StreamEvent {
    StreamEvent::Delta(text.to_owned())
}

fn assert_keyless(error: &AiError) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(KEY), "the key leaked: {shown}");
}

/// A chat completion as OpenAI answers it.
fn openai_answer(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model-2024-01-01",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    })
}

/// One streamed chunk carrying `text`.
fn openai_chunk(text: &str) -> String {
    json!({"model": "test-model-2024-01-01", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        .to_string()
}

/// What OpenAI's protocol carries for [`full_request`], but the model: `developer` is the role
/// the developer message is sent with, `format` the `response_format`.
fn openai_full_body(developer: &str, format: Value) -> Value {
    json!({
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": developer, "content": "Answer as JSON."},
            {"role": "user", "content": "Weather in Paris?"}
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "max_tokens": 64,
        "stop": ["END", "\n\n"],
        "response_format": format,
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "The weather in a city", "parameters": weather_schema()}},
            {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
        ],
        "stream": false
    })
}

/// A chat completion that asks for two tool calls and has no text.
fn openai_tool_answer() -> Value {
    json!({
        "model": "test-model-2024-01-01",
        "choices": [{"index": 0, "message": {
            "role": "assistant",
            "content": null,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}
            ]
        }, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 20}
    })
}
