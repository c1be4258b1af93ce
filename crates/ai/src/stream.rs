//! From a capped byte stream to answer events: server-sent events are parsed by
//! `eventsource-stream`, each protocol's decoder turns them into deltas and a final `Done`, and
//! this module enforces what holds for every protocol (the answer cap over text and tool-call
//! pieces, "a stream must say it is complete", one error ends it).

use std::pin::Pin;

use domain::Secret;
use eventsource_stream::{EventStream, EventStreamError, Eventsource};
use futures_core::Stream;
use futures_util::StreamExt;
use outbound::{ByteStream, OutboundError};

use crate::{AiError, StreamEvent, anthropic, openai};

/// The events of one streamed answer: deltas, then exactly one `Done`, or an error. Nothing
/// follows a `Done` or an error. Dropping it drops the upstream connection.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, AiError>> + Send + 'static>>;

/// What one server-sent event meant.
pub(crate) enum Step {
    /// Keep-alives, block boundaries, usage-only chunks.
    Nothing,
    /// The next piece of text (possibly empty), and the bytes of tool-call pieces the decoder
    /// kept for the final `Done`; both count against the answer cap.
    Piece { text: String, kept: usize },
    /// The provider said the answer is complete.
    Done(StreamEvent),
}

pub(crate) enum Decoder {
    OpenAi(openai::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
}

/// Everything the stream needs to carry along.
pub(crate) struct Answer {
    pub(crate) decoder: Decoder,
    pub(crate) provider: &'static str,
    pub(crate) requested_model: String,
    pub(crate) max_answer_bytes: usize,
    pub(crate) api_key: Option<Secret<String>>,
}

struct State {
    events: EventStream<ByteStream>,
    answer: Answer,
    answered: usize,
}

pub(crate) fn events(bytes: ByteStream, answer: Answer) -> ChatStream {
    let state = State { events: bytes.eventsource(), answer, answered: 0 };
    Box::pin(futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let item = state.next().await;
        let key = state.answer.api_key.clone();
        // Only deltas keep the stream going; `Done` and errors are the last item.
        let more = matches!(item, Ok(StreamEvent::Delta(_))).then_some(state);
        Some((item.map_err(|e| e.redacted(key.as_ref())), more))
    }))
}

impl State {
    async fn next(&mut self) -> Result<StreamEvent, AiError> {
        let provider = self.answer.provider;
        loop {
            let event = match self.events.next().await {
                Some(Ok(event)) => event,
                Some(Err(EventStreamError::Transport(error))) => return Err(transport(provider, error)),
                Some(Err(EventStreamError::Utf8(e))) => return Err(AiError::malformed(provider, e)),
                Some(Err(EventStreamError::Parser(e))) => return Err(AiError::malformed(provider, e)),
                None => return Err(AiError::stream_cut(provider, None)),
            };
            let model = &self.answer.requested_model;
            let step = match &mut self.answer.decoder {
                Decoder::OpenAi(decoder) => decoder.decode(provider, &event, model)?,
                Decoder::Anthropic(decoder) => decoder.decode(provider, &event, model)?,
            };
            match step {
                Step::Nothing => {}
                Step::Piece { text, kept } => {
                    self.answered = self.answered.saturating_add(text.len()).saturating_add(kept);
                    if self.answered > self.answer.max_answer_bytes {
                        return Err(AiError::answer_too_large(self.answer.max_answer_bytes));
                    }
                    if !text.is_empty() {
                        return Ok(StreamEvent::Delta(text));
                    }
                }
                Step::Done(done) => return Ok(done),
            }
        }
    }
}

/// A connection that fails partway through an answer cut the answer; timeouts and the size
/// cap keep their own kinds.
fn transport(provider: &str, error: OutboundError) -> AiError {
    match error.kind() {
        outbound::ErrorKind::Connection => AiError::stream_cut(provider, Some(error.message())),
        _ => error.into(),
    }
}
