//! The product's one outbound HTTP client. AI providers, webhooks, OIDC discovery and JWKS all
//! go through [`Outbound`], so every call out of the server gets the same guarantees:
//!
//! - the address policy ([`OutboundPolicy`]) is checked on every address a connection may use,
//!   after DNS resolution, and on IP-literal URLs before anything is sent;
//! - redirects are never followed (a 3xx comes back as a status), and no proxy is picked up
//!   from the environment;
//! - connects, answers and pauses in streamed answers are bounded in time, and bodies in size
//!   even when the server sends no `Content-Length`;
//! - errors say what failed and where ([`ErrorKind`]), without URLs' paths, headers or keys.
//!
//! ```no_run
//! # async fn example() -> Result<(), outbound::OutboundError> {
//! use std::time::Duration;
//! let outbound = outbound::Outbound::new(outbound::OutboundConfig::default())?;
//! let response = outbound.get("https://login.example.com/.well-known/openid-configuration")?
//!     .send(Duration::from_secs(10))
//!     .await?;
//! let body = response.read_capped(64 * 1024).await?;
//! # Ok(()) }
//! ```

mod error;
mod policy;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use bytes::Bytes;
use futures_core::Stream;
pub use reqwest::{Method, StatusCode, Url, header};
use tokio::time::Instant;

pub use error::{ErrorKind, OutboundError};
pub use policy::{AddressClass, OutboundPolicy, classify};

use header::{HeaderMap, HeaderName, HeaderValue};

/// How the client behaves; one per process.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub policy: OutboundPolicy,
    /// Longest wait for the TCP connection and TLS handshake of one address.
    pub connect_timeout: Duration,
    /// Longest a connection may stay silent while a request waits or reads, whatever the
    /// request's own timeout. A safety net: keep it at least as long as the longest
    /// per-request timeout, or slow answers are cut before their own deadline.
    pub read_timeout: Duration,
    /// The most a response body read whole ([`Response::read`], [`Response::read_capped`])
    /// may hold; callers may ask for less, never more. Streams ([`Response::into_stream`]) are
    /// not held in memory and are capped by their caller alone.
    pub max_response_bytes: usize,
    pub user_agent: String,
}

impl Default for OutboundConfig {
    /// Private networks refused, 10 s to connect, 10 min of silence, 16 MiB per body.
    fn default() -> Self {
        Self {
            policy: OutboundPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(600),
            max_response_bytes: 16 * 1024 * 1024,
            user_agent: concat!("prompt-manager/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// The outbound HTTP client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    config: OutboundConfig,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Outbound {
    pub fn new(config: OutboundConfig) -> Result<Self, OutboundError> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(policy::PolicyResolver { policy: config.policy }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|e| {
                OutboundError::new(
                    ErrorKind::InvalidRequest,
                    format!("the HTTP client could not be built: {e}"),
                )
            })?;
        Ok(Self { inner: Arc::new(Inner { client, config }) })
    }

    pub fn config(&self) -> &OutboundConfig {
        &self.inner.config
    }

    pub fn get(&self, url: &str) -> Result<Request, OutboundError> {
        self.request(Method::GET, url)
    }

    pub fn post(&self, url: &str) -> Result<Request, OutboundError> {
        self.request(Method::POST, url)
    }

    /// Starts a request. Fails at once for URLs that are not `http(s)` with a host, and for IP
    /// literals the policy refuses (the resolver, which checks names, never sees those).
    pub fn request(&self, method: Method, url: &str) -> Result<Request, OutboundError> {
        let url = Url::parse(url)
            .map_err(|e| OutboundError::new(ErrorKind::InvalidUrl, format!("the URL is not valid: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::new(ErrorKind::InvalidUrl, "only http and https URLs can be called"));
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(ip.into()),
            Some(url::Host::Ipv6(ip)) => Some(ip.into()),
            Some(url::Host::Domain(name)) if !name.is_empty() => None,
            _ => return Err(OutboundError::new(ErrorKind::InvalidUrl, "the URL has no host")),
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        if let Some(ip) = ip
            && !self.inner.config.policy.allows(ip)
        {
            return Err(OutboundError::literal_not_allowed(&host, classify(ip) == AddressClass::Private));
        }
        Ok(Request {
            builder: self.inner.client.request(method, url),
            host,
            ceiling: self.inner.config.max_response_bytes,
            invalid: None,
        })
    }
}

/// A request being put together; only [`Outbound`] makes them, so every one has passed the
/// URL checks.
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    builder: reqwest::RequestBuilder,
    host: String,
    ceiling: usize,
    /// The first problem met while building, reported by `send` (keeps the chain fluent).
    invalid: Option<OutboundError>,
}

impl Request {
    pub fn header(self, name: HeaderName, value: &str) -> Self {
        self.header_value(name, value, false)
    }

    /// A header that carries a credential: marked sensitive, so it is never logged or printed
    /// by the HTTP stack, and an invalid value is reported without showing it.
    pub fn secret_header(self, name: HeaderName, value: &str) -> Self {
        self.header_value(name, value, true)
    }

    /// `Authorization: Bearer TOKEN`, as a secret header.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.secret_header(header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Self {
        self.builder = self.builder.json(body);
        self
    }

    /// A raw body; set its `Content-Type` with [`Request::header`].
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.builder = self.builder.body(body);
        self
    }

    fn header_value(mut self, name: HeaderName, value: &str, sensitive: bool) -> Self {
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                value.set_sensitive(sensitive);
                self.builder = self.builder.header(name, value);
            }
            Err(_) => {
                let message = format!("the {name} header has characters a header cannot carry");
                self.invalid.get_or_insert(OutboundError::new(ErrorKind::InvalidRequest, message));
            }
        }
        self
    }

    /// Sends the request. `timeout` bounds the whole exchange: the answer's headers, and
    /// reading its body with [`Response::read_capped`]; for [`Response::into_stream`] it bounds
    /// each pause instead. Any status comes back as it is, 3xx included.
    pub async fn send(self, timeout: Duration) -> Result<Response, OutboundError> {
        if let Some(invalid) = self.invalid {
            return Err(invalid);
        }
        let deadline = Instant::now() + timeout;
        let inner = tokio::time::timeout_at(deadline, self.builder.send())
            .await
            .map_err(|_| OutboundError::timed_out(&self.host, timeout))?
            .map_err(|e| OutboundError::from_reqwest(&e, &self.host))?;
        Ok(Response { inner, host: self.host, timeout, deadline, ceiling: self.ceiling })
    }
}

/// Bytes of a streamed body, in the order they arrived.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, OutboundError>> + Send + 'static>>;

/// An answer whose body has not been read yet. Dropping it closes the connection unless the
/// body was read to the end.
pub struct Response {
    inner: reqwest::Response,
    host: String,
    timeout: Duration,
    deadline: Instant,
    ceiling: usize,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// Reads the whole body, up to the configured `max_response_bytes`.
    pub async fn read(self) -> Result<Bytes, OutboundError> {
        let cap = self.ceiling;
        self.read_capped(cap).await
    }

    /// Reads the whole body, refusing more than `cap` bytes (or the configured maximum, if that
    /// is lower). Stops reading as soon as the cap is passed, so a body without a
    /// `Content-Length` cannot make us buffer more than that.
    pub async fn read_capped(mut self, cap: usize) -> Result<Bytes, OutboundError> {
        let limit = cap.min(self.ceiling);
        if self.declared_length_exceeds(limit) {
            return Err(OutboundError::too_large(&self.host, limit));
        }
        let host = &self.host;
        let inner = &mut self.inner;
        let read_all = async move {
            let mut body = Vec::new();
            while let Some(chunk) = inner.chunk().await.map_err(|e| OutboundError::from_reqwest(&e, host))? {
                if body.len() + chunk.len() > limit {
                    return Err(OutboundError::too_large(host, limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(body))
        };
        tokio::time::timeout_at(self.deadline, read_all)
            .await
            .map_err(|_| OutboundError::timed_out(&self.host, self.timeout))?
    }

    /// The body as a stream of chunks, for answers that arrive over time (server-sent events).
    /// There is no overall deadline, a long answer may take minutes; instead each chunk must
    /// follow the previous one within the request's timeout. More than `limit` bytes in total
    /// end the stream with `TooLarge`. The stream ends after its first error; dropping it
    /// closes the connection.
    pub fn into_stream(self, limit: usize) -> ByteStream {
        if self.declared_length_exceeds(limit) {
            let error = OutboundError::too_large(&self.host, limit);
            return Box::pin(futures_util::stream::once(async move { Err(error) }));
        }
        let state = Some(StreamState { response: self, received: 0, limit });
        Box::pin(futures_util::stream::unfold(state, |state| async move {
            let mut state = state?;
            let response = &mut state.response;
            let next = match tokio::time::timeout(response.timeout, response.inner.chunk()).await {
                Err(_) => Err(OutboundError::stalled(&response.host, response.timeout)),
                Ok(Err(e)) => Err(OutboundError::from_reqwest(&e, &response.host)),
                Ok(Ok(None)) => return None,
                Ok(Ok(Some(chunk))) => {
                    state.received += chunk.len();
                    if state.received > state.limit {
                        Err(OutboundError::too_large(&response.host, state.limit))
                    } else {
                        Ok(chunk)
                    }
                }
            };
            let more = next.is_ok().then_some(state);
            Some((next, more))
        }))
    }

    fn declared_length_exceeds(&self, limit: usize) -> bool {
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        self.inner.content_length().is_some_and(|length| length > limit)
    }
}

struct StreamState {
    response: Response,
    received: usize,
    limit: usize,
}
