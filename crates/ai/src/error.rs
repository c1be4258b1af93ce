//! Why a call to an AI provider failed, in terms the API can answer with.

use std::fmt;

use domain::Secret;
use outbound::{OutboundError, StatusCode};

/// What went wrong, from the network up to the provider's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AiErrorKind {
    /// The call did not get an answer: address refused by policy, DNS, connection refused, TLS,
    /// timeout, or an answer over the size cap (its text and tool calls together) or with more
    /// tool calls than allowed.
    Outbound(outbound::ErrorKind),
    /// The provider refused the key (401 or 403).
    Unauthorized,
    /// The provider asked us to slow down (429).
    RateLimited,
    /// Any other error status, or an error the provider reported inside a stream.
    Provider,
    /// The answer is not the JSON or event stream the protocol promises.
    Malformed,
    /// The streamed answer broke off before the provider said it was complete.
    StreamCut,
}

/// A failed call: its kind, the provider's HTTP status if it answered, and a message for the
/// person who configured the connection. The message includes the provider's own explanation
/// when it sent one, cut to [`MAX_PROVIDER_MESSAGE`] characters, and never the API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiError {
    kind: AiErrorKind,
    status: Option<u16>,
    message: String,
}

/// How much of a provider's own error message is kept.
pub const MAX_PROVIDER_MESSAGE: usize = 500;

impl AiError {
    pub fn new(kind: AiErrorKind, status: Option<u16>, message: impl Into<String>) -> Self {
        Self { kind, status, message: message.into() }
    }

    pub fn kind(&self) -> AiErrorKind {
        self.kind
    }

    /// The provider's HTTP status, when the failure is its answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn malformed(provider: &str, what: impl fmt::Display) -> Self {
        let what = clip(&what.to_string());
        Self::new(
            AiErrorKind::Malformed,
            None,
            format!("{provider}'s answer is not what its API promises: {what}"),
        )
    }

    pub(crate) fn stream_cut(provider: &str, cause: Option<&str>) -> Self {
        let mut message = format!("{provider}'s answer broke off before it was complete");
        if let Some(cause) = cause {
            message.push_str(" (");
            message.push_str(cause);
            message.push(')');
        }
        Self::new(AiErrorKind::StreamCut, None, message)
    }

    pub(crate) fn answer_too_large(limit: usize) -> Self {
        Self::new(
            AiErrorKind::Outbound(outbound::ErrorKind::TooLarge),
            None,
            format!("the answer is longer than the {limit} bytes allowed"),
        )
    }

    pub(crate) fn too_many_tool_calls(limit: usize) -> Self {
        Self::new(
            AiErrorKind::Outbound(outbound::ErrorKind::TooLarge),
            None,
            format!("the answer has more than the {limit} tool calls allowed"),
        )
    }

    /// An error status. `body` is read for the provider's own message: OpenAI's and Anthropic's
    /// `{"error": {"message": …}}`, or the plainer shapes local servers use.
    pub(crate) fn from_status(provider: &str, status: StatusCode, body: &[u8]) -> Self {
        let kind = match status.as_u16() {
            401 | 403 => AiErrorKind::Unauthorized,
            429 => AiErrorKind::RateLimited,
            _ => AiErrorKind::Provider,
        };
        let mut message = format!("{provider} answered {status}");
        if status.is_redirection() {
            message.push_str(" (a redirect, which is not followed: check the base URL)");
        }
        if let Some(said) = provider_message(body) {
            message.push_str(": ");
            message.push_str(&clip(&said));
        }
        Self::new(kind, Some(status.as_u16()), message)
    }

    /// An error the provider reported inside a stream (OpenAI's `{"error": …}` chunk,
    /// Anthropic's `error` event), sorted by the error's type.
    pub(crate) fn in_stream(provider: &str, error_type: Option<&str>, said: Option<&str>) -> Self {
        let kind = match error_type.unwrap_or_default() {
            t if t.contains("rate_limit") => AiErrorKind::RateLimited,
            t if t.contains("authentication")
                || t.contains("permission")
                || t.contains("invalid_api_key") =>
            {
                AiErrorKind::Unauthorized
            }
            _ => AiErrorKind::Provider,
        };
        let said = said.or(error_type).unwrap_or("no details");
        Self::new(kind, None, format!("{provider} reported an error: {}", clip(said)))
    }

    /// Removes the key from the message, in case a provider echoed it back.
    pub(crate) fn redacted(mut self, key: Option<&Secret<String>>) -> Self {
        if let Some(key) = key.map(Secret::expose).filter(|k| !k.is_empty())
            && self.message.contains(key.as_str())
        {
            self.message = self.message.replace(key.as_str(), "***");
        }
        self
    }
}

impl From<OutboundError> for AiError {
    fn from(error: OutboundError) -> Self {
        Self::new(AiErrorKind::Outbound(error.kind()), None, error.message())
    }
}

impl fmt::Display for AiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AiError {}

/// The explanation in an error body, wherever the provider put it.
fn provider_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    [
        value.pointer("/error/message"),
        value.get("error"),
        value.get("message"),
        value.get("detail"),
        value.pointer("/error/type"),
    ]
    .into_iter()
    .flatten()
    .filter_map(serde_json::Value::as_str)
    .map(str::trim)
    .find(|s| !s.is_empty())
    .map(str::to_owned)
}

/// At most [`MAX_PROVIDER_MESSAGE`] characters, on one line.
fn clip(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(MAX_PROVIDER_MESSAGE) {
        Some((end, _)) => format!("{}…", &one_line[..end]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_messages_are_found_in_the_usual_places() {
        let found = |body: &str| provider_message(body.as_bytes());
        assert_eq!(
            found(r#"{"error":{"message":"bad key","type":"invalid_request_error"}}"#).unwrap(),
            "bad key"
        );
        assert_eq!(
            found(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#).unwrap(),
            "Overloaded"
        );
        assert_eq!(found(r#"{"error":"model 'x' not found"}"#).unwrap(), "model 'x' not found");
        assert_eq!(found(r#"{"detail":"Not Found"}"#).unwrap(), "Not Found");
        assert_eq!(found("<html>502</html>"), None);
    }

    #[test]
    fn long_messages_are_clipped_to_one_line() {
        let clipped = clip(&format!("a\nb {}", "x".repeat(1000)));
        assert!(clipped.starts_with("a b x"));
        assert_eq!(clipped.chars().count(), MAX_PROVIDER_MESSAGE + 1);
    }

    #[test]
    fn keys_are_redacted() {
        let key = Secret::new("sk-secret-123".to_owned());
        let error =
            AiError::new(AiErrorKind::Unauthorized, Some(401), "Incorrect API key provided: sk-secret-123");
        assert_eq!(error.redacted(Some(&key)).message(), "Incorrect API key provided: ***");
    }
}
