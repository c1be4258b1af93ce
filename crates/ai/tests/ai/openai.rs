//! OpenAI's chat completions, as OpenAI and the local servers that copy it speak them.

use ai::{Completion, StreamEvent};
use domain::ai::{Provider, ResponseFormat, Usage};
use serde_json::json;

use crate::server::{Server, end_events, event, json, raw_chunk, start_events};
use crate::{
    KEY, client, collect, delta, done, endpoint, full_request, openai_answer, openai_chunk, openai_full_body,
    openai_tool_answer, request, schema_format, tool_call,
};

#[tokio::test]
async fn a_completion_posts_the_conversation_with_a_bearer_key() {
    let server =
        Server::start(
            |_, mut socket| async move { json(&mut socket, "200 OK", &openai_answer("Hello!")).await },
        )
        .await;

    let completion = client().complete(&endpoint(Provider::Openai, &server), &request()).await.unwrap();
    assert_eq!(
        completion,
        Completion {
            text: "Hello!".to_owned(),
            finish_reason: Some("stop".to_owned()),
            usage: Some(Usage { input_tokens: 12, output_tokens: 3 }),
            model: "test-model-2024-01-01".to_owned(),
            tool_calls: Vec::new(),
        }
    );

    let sent = server.only_request();
    assert_eq!((sent.method.as_str(), sent.target.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(
        sent.body,
        json!({
            "model": "test-model",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
            "temperature": 0.5,
            "max_tokens": 64,
            "stream": false
        })
    );
}

#[tokio::test]
async fn a_local_server_without_a_key_gets_no_authorization_and_default_options() {
    let server = Server::start(|_, mut socket| async move {
        // Local servers often leave out the model and usage.
        let answer = json!({"choices": [{"message": {"role": "assistant", "content": "Hi"}}]});
        json(&mut socket, "200 OK", &answer).await;
    })
    .await;
    let mut endpoint = endpoint(Provider::Lmstudio, &server);
    endpoint.api_key = None;
    let mut request = request();
    request.options = Default::default();

    let completion = client().complete(&endpoint, &request).await.unwrap();
    assert_eq!(completion.text, "Hi");
    assert_eq!(completion.model, "test-model", "the requested model when none is reported");
    assert_eq!((completion.usage, completion.finish_reason), (None, None));

    let sent = server.only_request();
    assert_eq!(sent.header("authorization"), None);
    assert!(sent.body.get("temperature").is_none() && sent.body.get("max_tokens").is_none(), "{}", sent.body);
}

#[tokio::test]
async fn a_stream_yields_deltas_then_done_with_the_usage() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        for text in ["Hel", "lo", "!"] {
            event(&mut socket, None, &openai_chunk(text)).await.unwrap();
        }
        let last = json!({"model": "test-model-2024-01-01", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        event(&mut socket, None, &last.to_string()).await.unwrap();
        let usage = json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}});
        event(&mut socket, None, &usage.to_string()).await.unwrap();
        event(&mut socket, None, "[DONE]").await.unwrap();
        end_events(&mut socket).await;
    })
    .await;

    let stream = client().stream(&endpoint(Provider::Ollama, &server), &request()).await.unwrap();
    let events: Vec<StreamEvent> = collect(stream).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [
            delta("Hel"),
            delta("lo"),
            delta("!"),
            done("stop", Some(Usage { input_tokens: 12, output_tokens: 3 }), "test-model-2024-01-01")
        ]
    );

    let sent = server.only_request();
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn models_are_listed_from_the_models_endpoint() {
    let server = Server::start(|_, mut socket| async move {
        let list =
            json!({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}, {"id": "gpt-4o-mini"}]});
        json(&mut socket, "200 OK", &list).await;
    })
    .await;

    let models = client().list_models(&endpoint(Provider::Openai, &server)).await.unwrap();
    assert_eq!(models, ["gpt-4o", "gpt-4o-mini"]);
    let sent = server.only_request();
    assert_eq!((sent.method.as_str(), sent.target.as_str()), ("GET", "/v1/models"));
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}

#[tokio::test]
async fn every_setting_goes_to_openai_with_the_developer_role() {
    let server =
        Server::start(|_, mut socket| async move { json(&mut socket, "200 OK", &openai_answer("{}")).await })
            .await;

    client().complete(&endpoint(Provider::Openai, &server), &full_request(schema_format())).await.unwrap();
    let mut expected = openai_full_body(
        "developer",
        json!({
            "type": "json_schema",
            "json_schema": {
                "name": "forecast",
                "schema": {"type": "object", "properties": {"sky": {"type": "string"}}},
                "strict": true
            }
        }),
    );
    expected["model"] = json!("test-model");
    assert_eq!(server.only_request().body, expected);
}

#[tokio::test]
async fn local_servers_get_developer_messages_as_system_and_the_other_formats() {
    for provider in [Provider::Lmstudio, Provider::Ollama, Provider::Llamacpp, Provider::OpenaiCompatible] {
        let server = Server::start(|_, mut socket| async move {
            json(&mut socket, "200 OK", &openai_answer("{}")).await;
        })
        .await;
        let endpoint = endpoint(provider, &server);
        for format in [ResponseFormat::JsonObject, ResponseFormat::Text] {
            client().complete(&endpoint, &full_request(format)).await.unwrap();
        }

        let sent = server.requests();
        assert_eq!(sent.len(), 2);
        let roles: Vec<&str> = sent[0].body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "system", "user"], "{provider}");
        assert_eq!(sent[0].body["messages"][1]["content"], "Answer as JSON.");
        assert_eq!(sent[0].body["response_format"], json!({"type": "json_object"}), "{provider}");
        assert_eq!(sent[1].body["response_format"], json!({"type": "text"}), "{provider}");
        assert_eq!(sent[0].body["top_p"], json!(0.9));
        assert_eq!(sent[0].body["stop"], json!(["END", "\n\n"]));
        assert_eq!(sent[0].body["tools"][0]["function"]["name"], "get_weather");
    }
}

#[tokio::test]
async fn tool_calls_are_read_from_a_whole_answer() {
    let server = Server::start(|request, mut socket| async move {
        let answer = if request.body["model"] == "local" {
            // A local server that sends the arguments as JSON, beside some text.
            json!({"choices": [{"message": {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
            }, "finish_reason": "tool_calls"}]})
        } else {
            openai_tool_answer()
        };
        json(&mut socket, "200 OK", &answer).await;
    })
    .await;
    let mut endpoint = endpoint(Provider::Openai, &server);

    let completion = client().complete(&endpoint, &full_request(ResponseFormat::Text)).await.unwrap();
    assert_eq!(
        completion,
        Completion {
            text: String::new(),
            tool_calls: vec![
                tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#),
                tool_call("call_2", "now", "{}"),
            ],
            finish_reason: Some("tool_calls".to_owned()),
            usage: Some(Usage { input_tokens: 40, output_tokens: 20 }),
            model: "test-model-2024-01-01".to_owned(),
        }
    );

    endpoint.model = "local".to_owned();
    let completion = client().complete(&endpoint, &full_request(ResponseFormat::Text)).await.unwrap();
    assert_eq!(completion.text, "Let me check.");
    assert_eq!(completion.tool_calls, [tool_call("call_9", "get_weather", r#"{"city":"Paris"}"#)]);
}

#[tokio::test]
async fn streamed_tool_calls_are_put_together_by_index() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        event(&mut socket, None, &openai_chunk("Checking.")).await.unwrap();
        let pieces = [
            json!([{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]),
            json!([{"index": 0, "function": {"arguments": "{\"ci"}}]),
            // The second call starts before the first one is complete.
            json!([{"index": 1, "id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{"}}]),
            json!([{"index": 0, "function": {"arguments": "ty\":\"Par"}}, {"index": 1, "function": {"arguments": "}"}}]),
        ];
        for tool_calls in pieces {
            let chunk = json!({"model": "test-model-2024-01-01", "choices": [{"index": 0, "delta": {"tool_calls": tool_calls}}]});
            event(&mut socket, None, &chunk.to_string()).await.unwrap();
        }
        // The last piece arrives split over two chunks of the HTTP body.
        let last = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "is\"}"}}]}}]}).to_string();
        let (head, tail) = last.split_at(last.len() / 2);
        raw_chunk(&mut socket, &format!("data: {head}")).await.unwrap();
        raw_chunk(&mut socket, &format!("{tail}\n\n")).await.unwrap();
        let finish = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
        event(&mut socket, None, &finish.to_string()).await.unwrap();
        event(&mut socket, None, "[DONE]").await.unwrap();
        end_events(&mut socket).await;
    })
    .await;

    let stream = client()
        .stream(&endpoint(Provider::Openai, &server), &full_request(ResponseFormat::Text))
        .await
        .unwrap();
    let events: Vec<StreamEvent> = collect(stream).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [
            delta("Checking."),
            StreamEvent::Done {
                finish_reason: Some("tool_calls".to_owned()),
                usage: None,
                model: "test-model-2024-01-01".to_owned(),
                tool_calls: vec![
                    tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#),
                    tool_call("call_2", "now", "{}"),
                ],
            }
        ]
    );
}
