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
use domain::ai::{ChatMessage, GenerationOptions, Provider};
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
        options: GenerationOptions { temperature: Some(0.5), max_tokens: Some(64) },
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
