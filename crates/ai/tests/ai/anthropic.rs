//! Anthropic's Messages API: its headers, the `system` field, its stream of typed events.

use ai::{ANTHROPIC_VERSION, AiErrorKind, Completion, StreamEvent};
use domain::ai::{ChatMessage, Provider, ResponseFormat, Usage};
use serde_json::{Value, json};

use crate::server::{Server, end_events, event, json, start_events};
use crate::{
    KEY, assert_keyless, client, collect, delta, done, endpoint, full_request, request, schema_format,
    tool_call, weather_schema,
};

/// A message as Anthropic answers it, with these content blocks.
fn message(content: Value) -> Value {
    json!({
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test-20250101",
        "content": content,
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 30, "output_tokens": 12}
    })
}

#[tokio::test]
async fn a_completion_sends_the_key_version_and_system_field() {
    let server = Server::start(|_, mut socket| async move {
        let answer = json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test-20250101",
            "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 9, "output_tokens": 2}
        });
        json(&mut socket, "200 OK", &answer).await;
    })
    .await;
    let mut request = request();
    request.messages.push(ChatMessage::system("Use English."));
    request.options.max_tokens = None;

    let completion = client().complete(&endpoint(Provider::Anthropic, &server), &request).await.unwrap();
    assert_eq!(
        completion,
        Completion {
            text: "Hello there".to_owned(),
            finish_reason: Some("end_turn".to_owned()),
            usage: Some(Usage { input_tokens: 9, output_tokens: 2 }),
            model: "claude-test-20250101".to_owned(),
            tool_calls: Vec::new(),
        }
    );

    let sent = server.only_request();
    assert_eq!((sent.method.as_str(), sent.target.as_str()), ("POST", "/v1/messages"));
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some(ANTHROPIC_VERSION));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(
        sent.body,
        json!({
            "model": "test-model",
            "system": "Be brief.\n\nUse English.",
            "messages": [{"role": "user", "content": "Say hello"}],
            "max_tokens": 1024,
            "temperature": 0.5,
            "stream": false
        })
    );
}

#[tokio::test]
async fn a_stream_follows_the_message_events() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        let events = [
            ("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude-test", "content": [], "usage": {"input_tokens": 25, "output_tokens": 1}}})),
            ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})),
            ("ping", json!({"type": "ping"})),
            ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}})),
            ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}})),
            ("message_stop", json!({"type": "message_stop"})),
        ];
        for (name, data) in events {
            event(&mut socket, Some(name), &data.to_string()).await.unwrap();
        }
        end_events(&mut socket).await;
    })
    .await;

    let stream = client().stream(&endpoint(Provider::Anthropic, &server), &request()).await.unwrap();
    let events: Vec<StreamEvent> = collect(stream).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [
            delta("Hello"),
            delta("!"),
            done("end_turn", Some(Usage { input_tokens: 25, output_tokens: 15 }), "claude-test")
        ]
    );
    let sent = server.only_request();
    assert_eq!(sent.body["stream"], true);
    assert!(sent.body.get("stream_options").is_none());
    assert_eq!(sent.header("x-api-key"), Some(KEY));
}

#[tokio::test]
async fn an_error_event_ends_the_stream_with_its_kind() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        let start = json!({"type": "message_start", "message": {"model": "claude-test", "usage": {"input_tokens": 3}}});
        event(&mut socket, Some("message_start"), &start.to_string()).await.unwrap();
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}});
        event(&mut socket, Some("content_block_delta"), &delta.to_string()).await.unwrap();
        let error = json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}});
        event(&mut socket, Some("error"), &error.to_string()).await.unwrap();
        end_events(&mut socket).await;
    })
    .await;

    let mut events =
        collect(client().stream(&endpoint(Provider::Anthropic, &server), &request()).await.unwrap()).await;
    let error = events.pop().unwrap().unwrap_err();
    assert_eq!(events.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [delta("Hel")]);
    assert_eq!(error.kind(), AiErrorKind::RateLimited);
    assert_eq!(error.message(), "Anthropic reported an error: Slow down");
}

#[tokio::test]
async fn an_error_answer_carries_anthropic_s_message() {
    let server = Server::start(|_, mut socket| async move {
        let error = json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}});
        json(&mut socket, "401 Unauthorized", &error).await;
    })
    .await;

    let error = client().complete(&endpoint(Provider::Anthropic, &server), &request()).await.unwrap_err();
    assert_eq!((error.kind(), error.status()), (AiErrorKind::Unauthorized, Some(401)));
    assert_eq!(error.message(), "Anthropic answered 401 Unauthorized: invalid x-api-key");
    assert_keyless(&error);
}

#[tokio::test]
async fn models_are_listed_with_the_anthropic_headers() {
    let server = Server::start(|_, mut socket| async move {
        let list = json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5"}], "has_more": false});
        json(&mut socket, "200 OK", &list).await;
    })
    .await;

    let models = client().list_models(&endpoint(Provider::Anthropic, &server)).await.unwrap();
    assert_eq!(models, ["claude-sonnet-4-5"]);
    let sent = server.only_request();
    assert_eq!((sent.method.as_str(), sent.target.as_str()), ("GET", "/v1/models?limit=1000"));
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some(ANTHROPIC_VERSION));
}

#[tokio::test]
async fn every_setting_goes_to_anthropic_with_instructions_in_the_system_field() {
    let server = Server::start(|_, mut socket| async move {
        json(&mut socket, "200 OK", &message(json!([{"type": "text", "text": "{}"}]))).await;
    })
    .await;
    let endpoint = endpoint(Provider::Anthropic, &server);
    let schema = json!({"type": "object", "properties": {"sky": {"type": "string"}}});
    for format in [schema_format(), ResponseFormat::JsonObject, ResponseFormat::Text] {
        client().complete(&endpoint, &full_request(format)).await.unwrap();
    }

    let sent = server.requests();
    assert_eq!(sent.len(), 3);
    // Anthropic has no answer format: the system text asks for JSON (and the schema, compact).
    let system = |ask: &str| format!("Be brief.\n\nAnswer as JSON.{ask}");
    let with_schema = system(&format!(
        "\n\nAnswer with JSON only, matching the JSON Schema below: no other text before or after it, \
no code fences.\n{schema}"
    ));
    assert_eq!(
        sent[0].body,
        json!({
            "model": "test-model",
            "system": with_schema,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "max_tokens": 64,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop_sequences": ["END", "\n\n"],
            "tools": [
                {"name": "get_weather", "description": "The weather in a city", "input_schema": weather_schema()},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}}
            ],
            "stream": false
        })
    );
    assert_eq!(
        sent[1].body["system"],
        system(
            "\n\nAnswer with a single JSON object only: no other text before or after it, no code fences."
        )
    );
    assert_eq!(sent[2].body["system"], system(""));
    assert!(sent.iter().all(|r| r.body.get("response_format").is_none()));
}

#[tokio::test]
async fn tool_use_blocks_are_tool_calls_with_their_input_as_compact_json() {
    let server = Server::start(|_, mut socket| async move {
        let content = json!([
            {"type": "text", "text": "Let me"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "text", "text": " check."},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}
        ]);
        json(&mut socket, "200 OK", &message(content)).await;
    })
    .await;

    let completion = client()
        .complete(&endpoint(Provider::Anthropic, &server), &full_request(ResponseFormat::Text))
        .await
        .unwrap();
    assert_eq!(
        completion,
        Completion {
            text: "Let me check.".to_owned(),
            tool_calls: vec![
                tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                tool_call("toolu_2", "now", "{}"),
            ],
            finish_reason: Some("tool_use".to_owned()),
            usage: Some(Usage { input_tokens: 30, output_tokens: 12 }),
            model: "claude-test-20250101".to_owned(),
        }
    );
}

#[tokio::test]
async fn streamed_tool_use_is_put_together_from_input_json_deltas() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        let input = |index: u64, partial: &str| {
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": partial}})
        };
        let events = [
            json!({"type": "message_start", "message": {"model": "claude-test", "usage": {"input_tokens": 30, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}}),
            input(1, ""),
            input(1, "{\"city\": \"Pa"),
            input(1, "ris\"}"),
            json!({"type": "content_block_stop", "index": 1}),
            // A tool without arguments gets no input deltas at all.
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}}),
            json!({"type": "content_block_stop", "index": 2}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 12}}),
            json!({"type": "message_stop"}),
        ];
        for data in events {
            let name = data["type"].as_str().unwrap().to_owned();
            event(&mut socket, Some(&name), &data.to_string()).await.unwrap();
        }
        end_events(&mut socket).await;
    })
    .await;

    let stream = client()
        .stream(&endpoint(Provider::Anthropic, &server), &full_request(ResponseFormat::Text))
        .await
        .unwrap();
    let events: Vec<StreamEvent> = collect(stream).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [
            delta("Let me check."),
            StreamEvent::Done {
                finish_reason: Some("tool_use".to_owned()),
                usage: Some(Usage { input_tokens: 30, output_tokens: 12 }),
                model: "claude-test".to_owned(),
                tool_calls: vec![
                    tool_call("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
                    tool_call("toolu_2", "now", "{}"),
                ],
            }
        ]
    );
}
