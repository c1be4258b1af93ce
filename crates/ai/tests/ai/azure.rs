//! Azure OpenAI: the deployment in the path, the API version in the query, the key in `api-key`.

use ai::{AZURE_API_VERSION, StreamEvent};
use domain::ai::{Provider, Usage};
use serde_json::json;

use crate::server::{Server, end_events, event, json, start_events};
use crate::{
    KEY, client, collect, delta, done, endpoint, full_request, openai_answer, openai_chunk, openai_full_body,
    openai_tool_answer, request, schema_format, tool_call,
};

#[tokio::test]
async fn a_completion_goes_to_the_deployment_with_an_api_key_header() {
    let server =
        Server::start(
            |_, mut socket| async move { json(&mut socket, "200 OK", &openai_answer("Hello!")).await },
        )
        .await;
    let mut endpoint = endpoint(Provider::AzureOpenai, &server);
    endpoint.model = "my deployment".to_owned();

    let completion = client().complete(&endpoint, &request()).await.unwrap();
    assert_eq!(completion.text, "Hello!");

    let sent = server.only_request();
    assert_eq!(
        sent.target,
        format!("/openai/deployments/my%20deployment/chat/completions?api-version={AZURE_API_VERSION}")
    );
    assert_eq!(sent.header("api-key"), Some(KEY));
    assert_eq!(sent.header("authorization"), None);
    assert!(sent.body.get("model").is_none(), "the deployment decides the model: {}", sent.body);
    assert_eq!(sent.body["messages"][1], json!({"role": "user", "content": "Say hello"}));
}

#[tokio::test]
async fn a_stream_is_read_like_openai_s() {
    let server = Server::start(|_, mut socket| async move {
        start_events(&mut socket).await;
        // Azure opens with a chunk without choices (its content filter results).
        event(&mut socket, None, &json!({"choices": [], "prompt_filter_results": []}).to_string())
            .await
            .unwrap();
        event(&mut socket, None, &openai_chunk("Hi")).await.unwrap();
        let last = json!({
            "model": "gpt-4o-2024-08-06",
            "choices": [{"delta": {}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1}
        });
        event(&mut socket, None, &last.to_string()).await.unwrap();
        event(&mut socket, None, "[DONE]").await.unwrap();
        end_events(&mut socket).await;
    })
    .await;

    let stream = client().stream(&endpoint(Provider::AzureOpenai, &server), &request()).await.unwrap();
    let events: Vec<StreamEvent> = collect(stream).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [
            delta("Hi"),
            done("length", Some(Usage { input_tokens: 5, output_tokens: 1 }), "test-model-2024-01-01")
        ]
    );
    let sent = server.only_request();
    assert!(sent.target.starts_with("/openai/deployments/test-model/chat/completions?api-version="));
    assert_eq!(sent.header("api-key"), Some(KEY));
}

#[tokio::test]
async fn models_are_the_resource_s_models() {
    let server = Server::start(|_, mut socket| async move {
        json(&mut socket, "200 OK", &json!({"data": [{"id": "gpt-4o"}], "object": "list"})).await;
    })
    .await;

    let models = client().list_models(&endpoint(Provider::AzureOpenai, &server)).await.unwrap();
    assert_eq!(models, ["gpt-4o"]);
    let sent = server.only_request();
    assert_eq!(sent.target, format!("/openai/models?api-version={AZURE_API_VERSION}"));
    assert_eq!(sent.header("api-key"), Some(KEY));
}

#[tokio::test]
async fn every_setting_goes_to_azure_with_the_developer_role_and_tool_calls_come_back() {
    let server =
        Server::start(
            |_, mut socket| async move { json(&mut socket, "200 OK", &openai_tool_answer()).await },
        )
        .await;

    let completion = client()
        .complete(&endpoint(Provider::AzureOpenai, &server), &full_request(schema_format()))
        .await
        .unwrap();
    assert_eq!(completion.text, "");
    assert_eq!(
        completion.tool_calls,
        [tool_call("call_1", "get_weather", r#"{"city":"Paris"}"#), tool_call("call_2", "now", "{}")]
    );

    let format = json!({
        "type": "json_schema",
        "json_schema": {"name": "forecast", "schema": {"type": "object", "properties": {"sky": {"type": "string"}}}, "strict": true}
    });
    assert_eq!(server.only_request().body, openai_full_body("developer", format));
}
