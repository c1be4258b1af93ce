//! What can go wrong on an outbound call, sorted into kinds the API maps to problem codes.
//!
//! Messages name the host and the cause, never the URL's path or query, request headers or
//! bodies, so they are safe to show to the person who configured the call.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::policy::{ResolveError, refused_addresses};

/// The kind of an [`OutboundError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not an absolute `http` or `https` URL with a host.
    InvalidUrl,
    /// The request could not be built, e.g. a header value with a line break in it.
    InvalidRequest,
    /// The host is, or resolves only to, an address the policy refuses.
    AddressNotAllowed,
    /// The host name does not resolve.
    Dns,
    /// Nothing listens at the address (connection refused).
    Refused,
    /// The TLS handshake failed: bad or untrusted certificate, not TLS at all, …
    Tls,
    /// Connecting, the answer or a pause in a streamed answer took longer than allowed.
    Timeout,
    /// The body is larger than the caller's cap.
    TooLarge,
    /// Any other I/O failure: reset, closed halfway through a body, malformed HTTP.
    Connection,
}

impl ErrorKind {
    /// A stable snake_case name, for logs and problem codes.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::AddressNotAllowed => "address_not_allowed",
            ErrorKind::Dns => "dns",
            ErrorKind::Refused => "refused",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Connection => "connection",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed outbound call: its kind and a message for people that names the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundError {
    kind: ErrorKind,
    message: String,
}

impl OutboundError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn timed_out(host: &str, after: Duration) -> Self {
        Self::new(ErrorKind::Timeout, format!("{host} did not answer within {after:?}"))
    }

    pub(crate) fn stalled(host: &str, after: Duration) -> Self {
        Self::new(ErrorKind::Timeout, format!("{host} sent nothing more for {after:?}"))
    }

    pub(crate) fn too_large(host: &str, limit: usize) -> Self {
        Self::new(ErrorKind::TooLarge, format!("{host} sent a body larger than the {limit} bytes allowed"))
    }

    /// Sorts a reqwest failure by walking its chain of causes: our own resolver's refusals,
    /// TLS errors, refused connections and timeouts each become their kind; anything else is a
    /// connection failure described by its innermost cause.
    pub(crate) fn from_reqwest(err: &reqwest::Error, host: &str) -> Self {
        if err.is_builder() {
            return Self::new(ErrorKind::InvalidRequest, format!("the request to {host} could not be built"));
        }
        let mut innermost: Option<&(dyn StdError + 'static)> = None;
        let mut cause = next_cause(err);
        while let Some(e) = cause {
            if let Some(resolve) = e.downcast_ref::<ResolveError>() {
                return Self::from_resolve(resolve);
            }
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Self::new(ErrorKind::Tls, format!("TLS with {host} failed: {tls}"));
            }
            if let Some(io) = e.downcast_ref::<io::Error>() {
                match io.kind() {
                    io::ErrorKind::ConnectionRefused => {
                        return Self::new(ErrorKind::Refused, format!("{host} refused the connection"));
                    }
                    io::ErrorKind::TimedOut => {
                        return Self::new(ErrorKind::Timeout, format!("the call to {host} timed out"));
                    }
                    _ => {}
                }
            }
            innermost = Some(e);
            cause = next_cause(e);
        }
        if err.is_timeout() {
            return Self::new(ErrorKind::Timeout, format!("the call to {host} timed out"));
        }
        // Only the causes are described: reqwest's own message would repeat the whole URL.
        let detail = innermost.map_or_else(|| "the connection failed".to_owned(), ToString::to_string);
        Self::new(ErrorKind::Connection, format!("the connection to {host} failed: {detail}"))
    }

    fn from_resolve(err: &ResolveError) -> Self {
        let kind = match err {
            ResolveError::NotFound { .. } => ErrorKind::Dns,
            ResolveError::NotAllowed { .. } => ErrorKind::AddressNotAllowed,
        };
        Self::new(kind, err.to_string())
    }

    pub(crate) fn literal_not_allowed(host: &str, private_only: bool) -> Self {
        Self::new(
            ErrorKind::AddressNotAllowed,
            format!("{host} is one of the {}", refused_addresses(private_only)),
        )
    }
}

/// The error that caused `e`. An `io::Error`'s own `source()` skips the error it wraps (where
/// rustls puts its TLS errors, sometimes two `io::Error`s deep), so look inside those instead.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e.downcast_ref::<io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    }
}

impl fmt::Display for OutboundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for OutboundError {}
