//! Tool calls in answers: the most one answer may carry, what they weigh against the answer
//! cap, and putting together the pieces a stream delivers them in.

use std::collections::BTreeMap;

use domain::ai::ToolCall;

use crate::AiError;

/// The most tool calls one answer may carry; an answer with more fails as too large.
pub const MAX_TOOL_CALLS: usize = 128;

/// What a tool call weighs against the answer cap: its id, name and arguments.
fn weight(call: &ToolCall) -> usize {
    call.id.len() + call.name.len() + call.arguments.len()
}

/// Checks a whole answer against the caps: at most [`MAX_TOOL_CALLS`] calls, and the text and
/// the calls together at most `max_answer_bytes`.
pub(crate) fn check_answer(text: &str, calls: &[ToolCall], max_answer_bytes: usize) -> Result<(), AiError> {
    if calls.len() > MAX_TOOL_CALLS {
        return Err(AiError::too_many_tool_calls(MAX_TOOL_CALLS));
    }
    let size = calls.iter().map(weight).fold(text.len(), usize::saturating_add);
    if size > max_answer_bytes {
        return Err(AiError::answer_too_large(max_answer_bytes));
    }
    Ok(())
}

/// One streamed piece of a tool call.
#[derive(Default)]
pub(crate) struct Piece {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    /// Appended to the arguments so far.
    pub(crate) arguments: Option<String>,
    /// The arguments if no piece brings any (Anthropic's `input` at the block's start).
    pub(crate) initial_arguments: Option<String>,
}

/// Tool calls arriving in pieces, keyed by the provider's index and handed over in its order.
/// The first id and name a call gets are kept (some servers repeat them); its arguments are
/// the pieces' arguments, joined. Every byte kept is reported to the caller, who holds it
/// against the answer cap; a call beyond [`MAX_TOOL_CALLS`] is refused.
#[derive(Default)]
pub(crate) struct Pieces {
    calls: BTreeMap<u64, Partial>,
}

#[derive(Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
    initial_arguments: Option<String>,
}

impl Pieces {
    /// Adds `piece` to call `key`, starting the call if it is new. Returns the bytes it kept.
    pub(crate) fn add(&mut self, key: u64, piece: Piece) -> Result<usize, AiError> {
        if !self.calls.contains_key(&key) && self.calls.len() >= MAX_TOOL_CALLS {
            return Err(AiError::too_many_tool_calls(MAX_TOOL_CALLS));
        }
        let call = self.calls.entry(key).or_default();
        let mut kept = 0;
        for (field, value) in [(&mut call.id, piece.id), (&mut call.name, piece.name)] {
            if let Some(value) = value.filter(|v| !v.is_empty())
                && field.is_empty()
            {
                kept += value.len();
                *field = value;
            }
        }
        if let Some(arguments) = piece.arguments {
            kept += arguments.len();
            call.arguments.push_str(&arguments);
        }
        if let Some(initial) = piece.initial_arguments
            && call.initial_arguments.is_none()
        {
            kept += initial.len();
            call.initial_arguments = Some(initial);
        }
        Ok(kept)
    }

    pub(crate) fn contains(&self, key: u64) -> bool {
        self.calls.contains_key(&key)
    }

    /// The key of the call most recently started, by index.
    pub(crate) fn last_key(&self) -> Option<u64> {
        self.calls.keys().next_back().copied()
    }

    /// The key after every call so far.
    pub(crate) fn next_key(&self) -> u64 {
        self.last_key().map_or(0, |k| k.saturating_add(1))
    }

    /// The finished calls, in index order. A call that never got a name is malformed.
    pub(crate) fn finish(&mut self, provider: &str) -> Result<Vec<ToolCall>, AiError> {
        std::mem::take(&mut self.calls)
            .into_values()
            .map(|call| {
                if call.name.is_empty() {
                    return Err(AiError::malformed(provider, "a tool call without a name"));
                }
                let arguments = if call.arguments.is_empty() {
                    call.initial_arguments.unwrap_or_default()
                } else {
                    call.arguments
                };
                Ok(ToolCall { id: call.id, name: call.name, arguments })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(id: Option<&str>, name: Option<&str>, arguments: Option<&str>) -> Piece {
        Piece {
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: arguments.map(str::to_owned),
            initial_arguments: None,
        }
    }

    #[test]
    fn pieces_are_joined_by_key_in_key_order_and_the_first_name_is_kept() {
        let mut pieces = Pieces::default();
        assert_eq!(pieces.add(1, piece(Some("b"), Some("second"), Some(""))).unwrap(), 7);
        assert_eq!(pieces.add(0, piece(Some("a"), Some("first"), Some("{\"x\":"))).unwrap(), 11);
        assert_eq!(pieces.add(0, piece(Some("a"), Some("first"), Some("1}"))).unwrap(), 2);
        let calls = pieces.finish("P").unwrap();
        assert_eq!(
            calls,
            [
                ToolCall { id: "a".into(), name: "first".into(), arguments: "{\"x\":1}".into() },
                ToolCall { id: "b".into(), name: "second".into(), arguments: String::new() },
            ]
        );
    }

    #[test]
    fn initial_arguments_count_only_when_no_piece_brings_any() {
        let mut pieces = Pieces::default();
        let start = Piece { initial_arguments: Some("{}".into()), ..piece(Some("t"), Some("n"), None) };
        pieces.add(4, start).unwrap();
        assert_eq!(pieces.finish("P").unwrap()[0].arguments, "{}");
        assert!(pieces.finish("P").unwrap().is_empty(), "finishing hands the calls over once");
    }

    #[test]
    fn too_many_calls_and_nameless_calls_are_refused() {
        let mut pieces = Pieces::default();
        for key in 0..MAX_TOOL_CALLS as u64 {
            pieces.add(key * 1_000_000_000, piece(None, Some("f"), None)).unwrap();
        }
        assert!(pieces.add(0, piece(None, None, Some("more"))).is_ok(), "an existing call may grow");
        assert!(pieces.add(u64::MAX, piece(None, Some("f"), None)).is_err());

        let mut nameless = Pieces::default();
        nameless.add(0, piece(Some("id"), None, Some("{}"))).unwrap();
        assert!(nameless.finish("P").is_err());
    }

    #[test]
    fn whole_answers_weigh_text_and_calls_together() {
        let call = ToolCall { id: "id".into(), name: "name".into(), arguments: "1234".into() };
        assert!(check_answer("abcd", std::slice::from_ref(&call), 14).is_ok());
        assert!(check_answer("abcde", std::slice::from_ref(&call), 14).is_err());
        assert!(check_answer("", &vec![call; MAX_TOOL_CALLS + 1], usize::MAX).is_err());
    }
}
