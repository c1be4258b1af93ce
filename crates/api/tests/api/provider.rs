//! A small, real HTTP server on loopback that speaks OpenAI's chat completions API, for the
//! error paths a real model server cannot be asked to produce on cue. The model name picks the
//! behaviour:
//!
//! - `echo` (or anything else): answers `echo: <last user message>`; streamed word by word.
//! - `slow`: waits 3 s before the first byte.
//! - `http-500`, `http-429`: that status with an OpenAI-style error body.
//! - `malformed`: 200 with a body that is not JSON.
//! - `huge`: a 200 KB answer.
//! - `cut`: streams two deltas, then breaks the connection without `[DONE]`.
//! - `hang`: streams one delta, then only SSE comments; notes when the client closes the
//!   connection.
//! - `tools`: calls the first tool of the request with `{"id": "42"}` instead of answering
//!   (streamed: the arguments in two pieces).
//!
//! The key `bad-key` gets a 401 on every route. The last request's body and Authorization
//! header are kept for assertions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use futures_util::stream;
use serde_json::{Value, json};

#[derive(Default)]
pub struct Seen {
    pub last_body: Mutex<Option<Value>>,
    pub last_authorization: Mutex<Option<String>>,
    /// Streams whose client went away before the end.
    pub abandoned_streams: AtomicUsize,
    pub requests: AtomicUsize,
}

pub struct Provider {
    pub base_url: String,
    pub seen: Arc<Seen>,
}

/// Notes, when dropped, that its stream was abandoned.
struct AbandonGuard(Arc<Seen>);

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        self.0.abandoned_streams.fetch_add(1, Ordering::SeqCst);
    }
}

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .json(json!({"error": {"message": message, "type": "test_error"}}))
}

fn chunk(delta: Value, finish: Option<&str>) -> Bytes {
    let event = json!({"id": "c1", "object": "chat.completion.chunk", "model": "echo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    Bytes::from(format!("data: {event}\n\n"))
}

async fn chat(req: HttpRequest, body: web::Json<Value>, seen: web::Data<Arc<Seen>>) -> HttpResponse {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let authorization = req.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    *seen.last_authorization.lock().unwrap() = authorization.clone();
    *seen.last_body.lock().unwrap() = Some(body.0.clone());
    if authorization.as_deref() == Some("Bearer bad-key") {
        return error(401, "Incorrect API key provided");
    }
    let model = body["model"].as_str().unwrap_or("echo").to_owned();
    let last = body["messages"].as_array().and_then(|m| m.last()).and_then(|m| m["content"].as_str());
    let answer = format!("echo: {}", last.unwrap_or_default());
    let streaming = body["stream"].as_bool().unwrap_or(false);
    match model.as_str() {
        "slow" => tokio::time::sleep(Duration::from_secs(3)).await,
        "http-500" => return error(500, "the model crashed"),
        "http-429" => return error(429, "quota exceeded"),
        "malformed" => return HttpResponse::Ok().content_type("application/json").body("this is not json"),
        _ => {}
    }
    let answer = if model == "huge" { "x".repeat(200_000) } else { answer };
    let tool = body["tools"][0]["function"]["name"].as_str().unwrap_or("none").to_owned();
    if model == "tools" && !streaming {
        return HttpResponse::Ok().json(json!({
            "id": "c1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{\"id\": \"42\"}"}}]}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        }));
    }
    if !streaming {
        return HttpResponse::Ok().json(json!({
            "id": "c1", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
        }));
    }
    let sse = |chunks: Vec<Result<Bytes, actix_web::Error>>| {
        HttpResponse::Ok().content_type("text/event-stream").streaming(stream::iter(chunks))
    };
    match model.as_str() {
        "cut" => {
            // The break comes a moment after the deltas, so they are on the wire first.
            let deltas = stream::iter([
                Ok(chunk(json!({"role": "assistant", "content": "partial "}), None)),
                Ok(chunk(json!({"content": "answer"}), None)),
            ]);
            let cut = stream::once(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err(actix_web::error::ErrorInternalServerError("connection cut"))
            });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(futures_util::StreamExt::chain(deltas, cut))
        }
        "hang" => {
            let guard = AbandonGuard(Arc::clone(&seen));
            let first = stream::once(async {
                Ok::<_, actix_web::Error>(chunk(json!({"content": "thinking"}), None))
            });
            // SSE comments keep the connection busy, as a model thinking would; writing them is
            // also how this server notices that the client has gone.
            let forever = stream::unfold(guard, |guard| async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok(Bytes::from_static(b": still thinking\n\n")), guard))
            });
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(futures_util::StreamExt::chain(first, forever))
        }
        "tools" => {
            let call = |piece: Value| chunk(json!({"tool_calls": [piece]}), None);
            sse(vec![
                Ok(call(
                    json!({"index": 0, "id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{\"id\": "}}),
                )),
                Ok(call(json!({"index": 0, "function": {"arguments": "\"42\"}"}}))),
                Ok(chunk(json!({}), Some("tool_calls"))),
                Ok(Bytes::from_static(b"data: [DONE]\n\n")),
            ])
        }
        _ => {
            let mut chunks: Vec<Result<Bytes, actix_web::Error>> =
                answer.split_inclusive(' ').map(|word| Ok(chunk(json!({"content": word}), None))).collect();
            chunks.push(Ok(chunk(json!({}), Some("stop"))));
            let usage = json!({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}});
            chunks.push(Ok(Bytes::from(format!("data: {usage}\n\n"))));
            chunks.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
            sse(chunks)
        }
    }
}

async fn models(req: HttpRequest) -> HttpResponse {
    if req.headers().get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer bad-key") {
        return error(401, "Incorrect API key provided");
    }
    HttpResponse::Ok().json(json!({"object": "list", "data": [{"id": "echo"}, {"id": "slow"}]}))
}

impl Provider {
    pub fn start() -> Provider {
        let seen = Arc::new(Seen::default());
        let data = web::Data::new(Arc::clone(&seen));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(chat))
                .route("/v1/models", web::get().to(models))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Provider { base_url: format!("http://127.0.0.1:{port}/v1"), seen }
    }
}
