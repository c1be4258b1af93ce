//! OpenAI's chat completions, as OpenAI and the local servers that copy it speak them.

use ai::{Completion, StreamEvent};
use domain::ai::{Provider, Usage};
use serde_json::json;

use crate::server::{Server, end_events, event, json, start_events};
use crate::{KEY, client, collect, delta, endpoint, openai_answer, openai_chunk, request};

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
            StreamEvent::Done {
                finish_reason: Some("stop".to_owned()),
                usage: Some(Usage { input_tokens: 12, output_tokens: 3 }),
                model: "test-model-2024-01-01".to_owned(),
            }
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
