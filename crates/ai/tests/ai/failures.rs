//! Everything that goes wrong: error statuses, bad answers, oversized answers, cut and slow
//! streams, and readers that stop reading.

use std::time::{Duration, Instant};

use ai::{AiClient, AiErrorKind, MAX_TOOL_CALLS, StreamEvent};
use domain::ai::Provider;
use outbound::{ErrorKind, Outbound, OutboundConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::server::{Server, end_events, event, json, respond, start_events, wait_for_close};
use crate::{
    KEY, MAX_ANSWER, assert_keyless, client, collect, delta, endpoint, openai_answer, openai_chunk, request,
};

/// `count` OpenAI tool calls, each with these arguments.
fn openai_calls(count: usize, arguments: &str) -> Value {
    (0..count)
        .map(|i| json!({"id": format!("call_{i}"), "type": "function", "function": {"name": "f", "arguments": arguments}}))
        .collect()
}

/// `count` Anthropic tool_use blocks.
fn anthropic_blocks(count: usize) -> Value {
    (0..count)
        .map(|i| json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": "f", "input": {}}))
        .collect()
}

fn too_many_calls(error: &ai::AiError) {
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::TooLarge), "{error}");
    assert_eq!(error.message(), format!("the answer has more than the {MAX_TOOL_CALLS} tool calls allowed"));
}

fn too_long(error: &ai::AiError) {
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::TooLarge), "{error}");
    assert_eq!(error.message(), format!("the answer is longer than the {MAX_ANSWER} bytes allowed"));
}

#[tokio::test]
async fn a_refused_key_is_unauthorized_with_the_provider_s_message_and_never_the_key() {
    let server = Server::start(|_, mut socket| async move {
        // Providers have been known to echo the key; it must not travel further.
        let error = json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error", "code": "invalid_api_key"}});
        json(&mut socket, "401 Unauthorized", &error).await;
    })
    .await;
    let endpoint = endpoint(Provider::Openai, &server);

    let error = client().complete(&endpoint, &request()).await.unwrap_err();
    assert_eq!((error.kind(), error.status()), (AiErrorKind::Unauthorized, Some(401)));
    assert_eq!(error.message(), "OpenAI answered 401 Unauthorized: Incorrect API key provided: ***.");
    assert_keyless(&error);

    let error = client().stream(&endpoint, &request()).await.err().unwrap();
    assert_eq!(error.kind(), AiErrorKind::Unauthorized);
    assert_keyless(&error);
    let error = client().list_models(&endpoint).await.unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Unauthorized);
    assert_keyless(&error);
}

#[tokio::test]
async fn error_statuses_are_sorted_by_kind_and_keep_the_status() {
    let server = Server::start(|request, mut socket| async move {
        match request.body["model"].as_str().unwrap() {
            "limited" => {
                json(
                    &mut socket,
                    "429 Too Many Requests",
                    &json!({"error": {"message": "Rate limit reached"}}),
                )
                .await
            }
            "broken" => respond(&mut socket, "500 Internal Server Error", "text/plain", b"oops").await,
            "moved" => respond(&mut socket, "302 Found", "text/plain", b"").await,
            _ => json(&mut socket, "404 Not Found", &json!({"error": "model 'missing' not found"})).await,
        }
    })
    .await;
    let call = |model: &'static str| {
        let mut endpoint = endpoint(Provider::Ollama, &server);
        endpoint.model = model.to_owned();
        async move { client().complete(&endpoint, &request()).await.unwrap_err() }
    };

    let limited = call("limited").await;
    assert_eq!((limited.kind(), limited.status()), (AiErrorKind::RateLimited, Some(429)));
    assert_eq!(limited.message(), "Ollama answered 429 Too Many Requests: Rate limit reached");

    let broken = call("broken").await;
    assert_eq!((broken.kind(), broken.status()), (AiErrorKind::Provider, Some(500)));
    assert_eq!(broken.message(), "Ollama answered 500 Internal Server Error");

    let moved = call("moved").await;
    assert_eq!((moved.kind(), moved.status()), (AiErrorKind::Provider, Some(302)));
    assert!(moved.message().contains("redirect, which is not followed"), "{moved}");

    let missing = call("missing").await;
    assert_eq!((missing.kind(), missing.status()), (AiErrorKind::Provider, Some(404)));
    assert_eq!(missing.message(), "Ollama answered 404 Not Found: model 'missing' not found");
}

#[tokio::test]
async fn answers_that_break_the_protocol_are_malformed() {
    let server = Server::start(|request, mut socket| async move {
        match request.body["model"].as_str().unwrap() {
            "html" => respond(&mut socket, "200 OK", "text/html", b"<html>proxy login</html>").await,
            "no-choices" => json(&mut socket, "200 OK", &json!({"choices": []})).await,
            "no-content" => {
                let tool_call = json!({"choices": [{"message": {"role": "assistant", "content": null}}]});
                json(&mut socket, "200 OK", &tool_call).await;
            }
            "json-instead-of-events" => json(&mut socket, "200 OK", &openai_answer("Hi")).await,
            _ => {
                start_events(&mut socket).await;
                event(&mut socket, None, "not json").await.unwrap();
                end_events(&mut socket).await;
            }
        }
    })
    .await;
    let endpoint = |model: &str| {
        let mut endpoint = endpoint(Provider::OpenaiCompatible, &server);
        endpoint.model = model.to_owned();
        endpoint
    };

    for model in ["html", "no-choices", "no-content"] {
        let error = client().complete(&endpoint(model), &request()).await.unwrap_err();
        assert_eq!(error.kind(), AiErrorKind::Malformed, "{model}: {error}");
        assert!(
            error.message().starts_with("OpenAI-compatible's answer is not what its API promises"),
            "{error}"
        );
    }
    let error = client().stream(&endpoint("json-instead-of-events"), &request()).await.err().unwrap();
    assert_eq!(error.kind(), AiErrorKind::Malformed);
    assert!(error.message().ends_with("expected an event stream, got application/json"), "{error}");

    let events = collect(client().stream(&endpoint("bad-event"), &request()).await.unwrap()).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].as_ref().unwrap_err().kind(), AiErrorKind::Malformed);
}

#[tokio::test]
async fn answers_over_the_cap_are_too_large() {
    let server = Server::start(|request, mut socket| async move {
        let long = "x".repeat(MAX_ANSWER + 1);
        if request.body["stream"] == true {
            start_events(&mut socket).await;
            for _ in 0..8 {
                let piece = &long[..MAX_ANSWER / 4];
                if event(&mut socket, None, &openai_chunk(piece)).await.is_err() {
                    return;
                }
            }
            let _ = event(&mut socket, None, "[DONE]").await;
            end_events(&mut socket).await;
        } else {
            json(&mut socket, "200 OK", &openai_answer(&long)).await;
        }
    })
    .await;
    let endpoint = endpoint(Provider::Openai, &server);

    let error = client().complete(&endpoint, &request()).await.unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::TooLarge));
    assert_eq!(error.message(), format!("the answer is longer than the {MAX_ANSWER} bytes allowed"));

    let mut events = collect(client().stream(&endpoint, &request()).await.unwrap()).await;
    let error = events.pop().unwrap().unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::TooLarge));
    assert_eq!(events.len(), 4, "the deltas within the cap come through first");
}

#[tokio::test]
async fn a_body_larger_than_the_client_allows_is_too_large_before_parsing() {
    let server =
        Server::start(
            |_, mut socket| async move { json(&mut socket, "200 OK", &openai_answer("Hello")).await },
        )
        .await;
    let outbound = Outbound::new(OutboundConfig {
        policy: outbound::OutboundPolicy { allow_private_networks: true },
        max_response_bytes: 64,
        ..Default::default()
    })
    .unwrap();

    let error = AiClient::new(outbound, MAX_ANSWER)
        .complete(&endpoint(Provider::Openai, &server), &request())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::TooLarge));
}

#[tokio::test]
async fn a_stream_cut_halfway_ends_with_stream_cut_after_its_deltas() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        event(&mut socket, None, &openai_chunk("Hel")).await.unwrap();
        event(&mut socket, None, &openai_chunk("lo")).await.unwrap();
        // Dropping the socket closes the connection in the middle of the chunked body.
    })
    .await;

    let mut events =
        collect(client().stream(&endpoint(Provider::Openai, &server), &request()).await.unwrap()).await;
    let error = events.pop().unwrap().unwrap_err();
    assert_eq!(events.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [delta("Hel"), delta("lo")]);
    assert_eq!(error.kind(), AiErrorKind::StreamCut, "{error}");
    assert!(error.message().starts_with("OpenAI's answer broke off before it was complete"), "{error}");
}

#[tokio::test]
async fn a_stream_that_ends_without_its_end_marker_is_cut_not_done() {
    let server = Server::start(|request, mut socket| async move {
        start_events(&mut socket).await;
        if request.target == "/v1/messages" {
            let delta = json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}});
            event(&mut socket, Some("content_block_delta"), &delta.to_string()).await.unwrap();
        } else {
            event(&mut socket, None, &openai_chunk("Hi")).await.unwrap();
        }
        end_events(&mut socket).await;
    })
    .await;

    for provider in [Provider::Llamacpp, Provider::Anthropic] {
        let events = collect(client().stream(&endpoint(provider, &server), &request()).await.unwrap()).await;
        assert_eq!(events.len(), 2, "{provider}: {events:?}");
        assert_eq!(events[0].as_ref().unwrap(), &delta("Hi"));
        assert_eq!(events[1].as_ref().unwrap_err().kind(), AiErrorKind::StreamCut, "{provider}");
    }
}

#[tokio::test]
async fn a_first_byte_later_than_the_endpoint_timeout_times_out() {
    let server = Server::start(|_, mut socket| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        json(&mut socket, "200 OK", &openai_answer("late")).await;
    })
    .await;
    let mut endpoint = endpoint(Provider::Openai, &server);
    endpoint.timeout = Duration::from_millis(300);
    let started = Instant::now();

    let error = client().complete(&endpoint, &request()).await.unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::Timeout));
    assert_eq!(error.message(), "127.0.0.1 did not answer within 300ms");
    let error = client().stream(&endpoint, &request()).await.err().unwrap();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::Timeout));
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_stream_that_pauses_longer_than_the_endpoint_timeout_times_out() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        event(&mut socket, None, &openai_chunk("Hi")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let mut endpoint = endpoint(Provider::Openai, &server);
    endpoint.timeout = Duration::from_millis(300);

    let events = collect(client().stream(&endpoint, &request()).await.unwrap()).await;
    assert_eq!(events[0].as_ref().unwrap(), &delta("Hi"));
    assert_eq!(events[1].as_ref().unwrap_err().kind(), AiErrorKind::Outbound(ErrorKind::Timeout));
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    let (closed, mut closed_seen) = mpsc::unbounded_channel();
    let server = Server::start(move |_, mut socket| {
        let closed = closed.clone();
        async move {
            start_events(&mut socket).await;
            event(&mut socket, None, &openai_chunk("Hel")).await.unwrap();
            // A provider keeps generating until its client goes away.
            wait_for_close(&mut socket).await;
            closed.send(()).unwrap();
        }
    })
    .await;

    let mut stream = client().stream(&endpoint(Provider::Openai, &server), &request()).await.unwrap();
    assert_eq!(
        futures_util::StreamExt::next(&mut stream).await.unwrap().unwrap(),
        StreamEvent::Delta("Hel".into())
    );
    drop(stream);

    let seen = tokio::time::timeout(Duration::from_secs(5), closed_seen.recv()).await;
    assert_eq!(seen, Ok(Some(())), "the server saw its connection end");
}

#[tokio::test]
async fn an_unreachable_or_refused_address_is_an_outbound_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    let endpoint =
        ai::Endpoint { base_url: base, ..endpoint(Provider::Openai, &Server::start(|_, _| async {}).await) };

    let error = client().complete(&endpoint, &request()).await.unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::Refused));
    assert_keyless(&error);

    // The default policy keeps AI calls off loopback and private networks.
    let strict = AiClient::new(Outbound::new(OutboundConfig::default()).unwrap(), MAX_ANSWER);
    let error = strict.list_models(&endpoint).await.unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Outbound(ErrorKind::AddressNotAllowed));
}

#[tokio::test]
async fn whole_answers_hold_text_and_tool_calls_to_the_caps_together() {
    let server = Server::start(|request, mut socket| async move {
        let half = "x".repeat(MAX_ANSWER / 2);
        let message = |content: Value, tool_calls: Value| {
            json!({"choices": [{"message": {"role": "assistant", "content": content, "tool_calls": tool_calls}}]})
        };
        let answer = match (request.target.as_str(), request.body["model"].as_str().unwrap()) {
            ("/v1/messages", "many") => json!({"content": anthropic_blocks(MAX_TOOL_CALLS + 1)}),
            ("/v1/messages", _) => {
                let blocks = json!([{"type": "text", "text": half}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": half}}]);
                json!({"content": blocks})
            }
            (_, "many") => message(Value::Null, openai_calls(MAX_TOOL_CALLS + 1, "{}")),
            (_, "enough") => message(Value::Null, openai_calls(MAX_TOOL_CALLS, "{}")),
            // Each half fits on its own; together they are over the cap.
            (_, _) => message(json!(half), openai_calls(1, &half)),
        };
        json(&mut socket, "200 OK", &answer).await;
    })
    .await;
    let call = |provider: Provider, model: &str| {
        let mut endpoint = endpoint(provider, &server);
        endpoint.model = model.to_owned();
        async move { client().complete(&endpoint, &request()).await }
    };

    too_many_calls(&call(Provider::Openai, "many").await.unwrap_err());
    assert_eq!(call(Provider::Openai, "enough").await.unwrap().tool_calls.len(), MAX_TOOL_CALLS);
    too_long(&call(Provider::Ollama, "halves").await.unwrap_err());
    too_many_calls(&call(Provider::Anthropic, "many").await.unwrap_err());
    too_long(&call(Provider::Anthropic, "halves").await.unwrap_err());
}

#[tokio::test]
async fn streamed_tool_calls_are_held_to_the_caps_as_they_arrive() {
    let server = Server::start(|request, mut socket| async move {
        start_events(&mut socket).await;
        let anthropic = request.target == "/v1/messages";
        let model = request.body["model"].as_str().unwrap().to_owned();
        let piece = "x".repeat(MAX_ANSWER / 4);
        // An endless answer: only the client's caps stop it.
        for i in 0..10 * MAX_TOOL_CALLS {
            let data = match (anthropic, model.as_str()) {
                (false, "many") => {
                    let call = json!({"index": i, "id": format!("call_{i}"), "function": {"name": "f", "arguments": "{}"}});
                    json!({"choices": [{"delta": {"tool_calls": [call]}}]})
                }
                (false, _) if i == 0 => json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_0", "function": {"name": "f", "arguments": ""}}]}}]}),
                (false, _) => json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}]}),
                (true, "many") => json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": format!("toolu_{i}"), "name": "f", "input": {}}}),
                (true, _) if i == 0 => json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_0", "name": "f", "input": {}}}),
                (true, _) => json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}),
            };
            if event(&mut socket, None, &data.to_string()).await.is_err() {
                return;
            }
        }
        let _ = event(&mut socket, None, "[DONE]").await;
        end_events(&mut socket).await;
    })
    .await;

    for provider in [Provider::Openai, Provider::Anthropic] {
        for model in ["many", "long"] {
            let mut endpoint = endpoint(provider, &server);
            endpoint.model = model.to_owned();
            let events = collect(client().stream(&endpoint, &request()).await.unwrap()).await;
            // Tool calls are no deltas: the error is the first and only item.
            assert_eq!(events.len(), 1, "{provider} {model}: {events:?}");
            let error = events[0].as_ref().unwrap_err();
            if model == "many" { too_many_calls(error) } else { too_long(error) }
        }
    }
}

#[tokio::test]
async fn streamed_text_and_tool_calls_share_one_cap() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        event(&mut socket, None, &openai_chunk(&"x".repeat(MAX_ANSWER / 2))).await.unwrap();
        let arguments = "y".repeat(MAX_ANSWER / 2);
        let call = json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": arguments}}]}}]});
        event(&mut socket, None, &call.to_string()).await.unwrap();
        event(&mut socket, None, "[DONE]").await.unwrap();
        end_events(&mut socket).await;
    })
    .await;

    let mut events =
        collect(client().stream(&endpoint(Provider::Openai, &server), &request()).await.unwrap()).await;
    too_long(&events.pop().unwrap().unwrap_err());
    assert_eq!(events.len(), 1, "the text within the cap came through first");
}

#[tokio::test]
async fn tool_calls_without_a_name_or_of_an_unknown_type_are_malformed() {
    let server = Server::start(|request, mut socket| async move {
        if request.body["stream"] == true {
            start_events(&mut socket).await;
            let nameless = json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": "{}"}}]}}]});
            event(&mut socket, None, &nameless.to_string()).await.unwrap();
            event(&mut socket, None, "[DONE]").await.unwrap();
            end_events(&mut socket).await;
        } else {
            let custom = json!({"type": "custom", "id": "c", "function": {"name": "f"}});
            let answer = json!({"choices": [{"message": {"content": null, "tool_calls": [custom]}}]});
            json(&mut socket, "200 OK", &answer).await;
        }
    })
    .await;
    let endpoint = endpoint(Provider::OpenaiCompatible, &server);

    let error = client().complete(&endpoint, &request()).await.unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Malformed);
    assert!(error.message().ends_with("a tool call of type custom"), "{error}");
    let events = collect(client().stream(&endpoint, &request()).await.unwrap()).await;
    let error = events.last().unwrap().as_ref().unwrap_err();
    assert_eq!(error.kind(), AiErrorKind::Malformed);
    assert!(error.message().ends_with("a tool call without a name"), "{error}");
}
