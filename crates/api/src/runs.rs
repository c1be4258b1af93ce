//! Running prompts on AI services: one call (answered whole or streamed), comparisons, and
//! enhancement. Every call is recorded — who, which version, connection, model, tokens,
//! latency, outcome, and the output for as long as the tenant keeps it — whether it succeeds,
//! fails or is abandoned by its caller.

use std::time::Instant;

use actix_web::web::Bytes;
use ai::{ChatRequest, StreamEvent};
use chrono::{DateTime, Duration as Days, Utc};
use domain::PromptId;
use domain::ai::{
    ChatMessage, Connection, GenerationOptions, NewRun, ToolCall, Usage, check_options, estimate_cost,
};
use domain::bundle::ModelSettings;
use domain::wire::{AiPolicy, ErrorCode, Problem, RunDelta, RunKind, RunOutcome, RunResult};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::access::Principal;
use crate::ai_services::{self, connection_ref};
use crate::error::ApiError;
use crate::state::AppState;

/// Enhancement suggestions are kept at least this long whatever the retention, so they can be
/// accepted.
const SUGGESTION_DAYS: i64 = 1;
/// Server-sent events waiting for a slow client, per stream.
const STREAM_BUFFER: usize = 32;
/// How often a streamed run writes an SSE comment while the model is silent. The server only
/// learns that a client went away when a write fails, so this bounds how long an abandoned
/// call keeps the provider busy.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

/// One call to make.
pub struct Call {
    pub kind: RunKind,
    pub prompt_id: Option<PromptId>,
    pub version: Option<u32>,
    pub connection: Connection,
    pub model: Option<String>,
    /// The messages and everything sent with them.
    pub request: ChatRequest,
    pub compare_group: Option<uuid::Uuid>,
    pub enhancement_prompt: Option<String>,
    /// The tenant's AI policy as read when the call was resolved (retention, prices).
    pub policy: AiPolicy,
}

/// What to send: `messages` with the options, stop sequences, answer format and tools of the
/// prompt version's settings.
pub fn chat_request(
    messages: Vec<ChatMessage>,
    options: GenerationOptions,
    settings: &ModelSettings,
) -> ChatRequest {
    ChatRequest {
        messages,
        options,
        stop: settings.stop.clone(),
        response_format: settings.response_format.clone(),
        tools: settings.tools.clone(),
    }
}

/// The options of a call: the request's, else the prompt version's, else the connection's.
pub fn options(
    connection: &Connection,
    settings: &ModelSettings,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
) -> Result<GenerationOptions, ApiError> {
    let requested = GenerationOptions { temperature, max_tokens, top_p: None };
    let mut errors = Vec::new();
    check_options("", &requested, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let connection = connection.settings.options;
    Ok(GenerationOptions {
        temperature: temperature.or(settings.temperature).or(connection.temperature),
        max_tokens: max_tokens.or(settings.max_tokens).or(connection.max_tokens),
        top_p: settings.top_p,
    })
}

fn expiry(policy: &AiPolicy, kind: RunKind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let days = i64::from(policy.run_retention_days);
    let days = if kind == RunKind::Enhance { days.max(SUGGESTION_DAYS) } else { days };
    (days > 0).then(|| now + Days::days(days))
}

/// What a finished, failed or abandoned call leaves behind.
struct Outcome {
    outcome: RunOutcome,
    /// What failed, for `RunOutcome::Error`.
    problem: Option<Problem>,
    /// As the provider reported it; empty when it never said.
    model: String,
    output: String,
    /// The tools the model asked to call.
    tool_calls: Vec<ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    latency_ms: u64,
}

impl Outcome {
    fn answered(
        model: String,
        output: String,
        finish_reason: Option<String>,
        usage: Option<Usage>,
        started: Instant,
    ) -> Self {
        Self {
            outcome: RunOutcome::Ok,
            problem: None,
            model,
            output,
            tool_calls: Vec::new(),
            finish_reason,
            usage,
            latency_ms: elapsed_ms(started),
        }
    }

    /// `output` is what arrived before the failure.
    fn failed(error: &ApiError, output: String, started: Instant) -> Self {
        Self {
            outcome: RunOutcome::Error,
            problem: Some(error.problem().clone()),
            model: String::new(),
            output,
            tool_calls: Vec::new(),
            finish_reason: None,
            usage: None,
            latency_ms: elapsed_ms(started),
        }
    }

    fn cancelled(output: String, started: Instant) -> Self {
        Self {
            outcome: RunOutcome::Cancelled,
            problem: None,
            model: String::new(),
            output,
            tool_calls: Vec::new(),
            finish_reason: None,
            usage: None,
            latency_ms: elapsed_ms(started),
        }
    }
}

/// Records a call; the estimated cost comes from the tenant's price table.
async fn record(
    state: &AppState,
    principal: &Principal,
    call: &Call,
    model_asked: &str,
    done: Outcome,
) -> Result<RunResult, ApiError> {
    let repo = state.db.tenant(principal.scope());
    let policy = &call.policy;
    let now = Utc::now();
    let estimated_cost = done.usage.and_then(|u| estimate_cost(&policy.prices, &done.model, u));
    let kept = done.outcome == RunOutcome::Ok || !done.output.is_empty();
    let expires = if kept { expiry(policy, call.kind, now) } else { None };
    let run = repo
        .record_run(
            NewRun {
                user_id: principal.user.id,
                prompt_id: call.prompt_id,
                prompt_version: call.version,
                kind: call.kind,
                compare_group: call.compare_group,
                enhancement_prompt: call.enhancement_prompt.clone(),
                connection_id: Some(call.connection.id),
                connection_name: call.connection.settings.name.clone(),
                provider: call.connection.settings.provider,
                model: if done.model.is_empty() { model_asked.to_owned() } else { done.model.clone() },
                outcome: done.outcome,
                error_code: done.problem.as_ref().map(|p| p.code.name()),
                finish_reason: done.finish_reason.clone(),
                usage: done.usage,
                latency_ms: done.latency_ms,
                estimated_cost,
                output: expires.map(|_| done.output.clone()),
                output_expires_at: expires,
            },
            now,
        )
        .await?;
    Ok(RunResult {
        run_id: run.id,
        prompt_id: call.prompt_id,
        version: call.version,
        connection: connection_ref(&call.connection, &run.run.model),
        model: run.run.model,
        output: done.output,
        tool_calls: done.tool_calls,
        finish_reason: done.finish_reason,
        usage: done.usage,
        latency_ms: done.latency_ms,
        estimated_cost,
    })
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Makes one call and waits for the whole answer. A provider failure is recorded, then
/// returned as its problem.
pub async fn complete(
    state: &AppState,
    principal: &Principal,
    call: Call,
    _permit: OwnedSemaphorePermit,
) -> Result<RunResult, ApiError> {
    let endpoint = ai_services::endpoint(state, principal, &call.connection, call.model.as_deref())?;
    let started = Instant::now();
    match state.ai.client.complete(&endpoint, &call.request).await {
        Ok(done) => {
            let mut outcome =
                Outcome::answered(done.model, done.text, done.finish_reason, done.usage, started);
            outcome.tool_calls = done.tool_calls;
            record(state, principal, &call, &endpoint.model, outcome).await
        }
        Err(failure) => {
            let error = ai_services::provider_error(&failure);
            record(state, principal, &call, &endpoint.model, Outcome::failed(&error, String::new(), started))
                .await?;
            Err(error)
        }
    }
}

fn sse(event: &str, data: &impl serde::Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// Makes one call and streams it as server-sent events: `delta`s, then `done` (the recorded
/// [`RunResult`]) or `error` (a problem). The call runs in its own task; when the client goes
/// away the task notices, drops the upstream request (which closes its connection) and records
/// the run as cancelled.
pub async fn stream(
    state: actix_web::web::Data<AppState>,
    principal: Principal,
    call: Call,
    permit: OwnedSemaphorePermit,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>>, ApiError> {
    let endpoint = ai_services::endpoint(&state, &principal, &call.connection, call.model.as_deref())?;
    let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
    tokio::spawn(async move {
        let _permit = permit;
        let started = Instant::now();
        let mut output = String::new();
        let failed =
            |e: &ai::AiError, output| Outcome::failed(&ai_services::provider_error(e), output, started);
        let outcome = match state.ai.client.stream(&endpoint, &call.request).await {
            Err(e) => failed(&e, output),
            Ok(upstream) => {
                let mut upstream = std::pin::pin!(upstream);
                let mut keep_alive =
                    tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
                loop {
                    let next = tokio::select! {
                        () = tx.closed() => None,
                        next = upstream.next() => Some(next),
                        _ = keep_alive.tick() => {
                            let _ = tx.send(Bytes::from_static(b": keep-alive\n\n")).await;
                            continue;
                        }
                    };
                    match next {
                        // The client went away: stop reading (dropping `upstream` cancels it).
                        None => break Outcome::cancelled(output, started),
                        Some(Some(Ok(StreamEvent::Delta(text)))) => {
                            output.push_str(&text);
                            // A failed send means the client left: the next turn sees it.
                            let _ = tx.send(sse("delta", &RunDelta { text })).await;
                        }
                        Some(Some(Ok(StreamEvent::Done { finish_reason, usage, model, tool_calls }))) => {
                            let mut answered =
                                Outcome::answered(model, output, finish_reason, usage, started);
                            answered.tool_calls = tool_calls;
                            break answered;
                        }
                        Some(Some(Err(e))) => break failed(&e, output),
                        // The AI client ends every stream with `Done` or an error; this is a bug there.
                        Some(None) => {
                            let cut = ApiError::new(
                                ErrorCode::ProviderInvalidResponse,
                                "The AI service's stream ended before the answer was complete.",
                            );
                            break Outcome::failed(&cut, output, started);
                        }
                    }
                }
            }
        };
        if outcome.outcome == RunOutcome::Cancelled {
            let _ = record(&state, &principal, &call, &endpoint.model, outcome).await;
            return;
        }
        let problem = outcome.problem.clone();
        let last = match (record(&state, &principal, &call, &endpoint.model, outcome).await, problem) {
            (_, Some(problem)) => sse("error", &problem),
            (Ok(result), None) => sse("done", &result),
            (Err(e), None) => sse("error", e.problem()),
        };
        let _ = tx.send(last).await;
    });
    Ok(body(rx))
}

/// The events as a response body; dropping it (the client left) closes the channel.
fn body(rx: mpsc::Receiver<Bytes>) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|bytes| (Ok(bytes), rx)) })
}
