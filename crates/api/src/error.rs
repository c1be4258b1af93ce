//! The one place where errors become HTTP responses: RFC 9457 problem documents with a stable
//! `code`. Internal failures are logged here and answered without detail.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error};
use domain::wire::{ErrorCode, FieldError, Problem};
use persistence::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// Boxed: errors travel in every handler's `Result`, which should stay small.
    problem: Box<Problem>,
    /// Sent as `Retry-After` (seconds) with 429s.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { problem: Box::new(Problem::new(code, Some(detail.into()))), retry_after: None }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, detail)
    }

    /// A validation failure with one entry per offending field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem =
            Problem::new(ErrorCode::ValidationFailed, Some("Some fields are not valid.".to_owned()));
        problem.errors = errors;
        Self { problem: Box::new(problem), retry_after: None }
    }

    /// The value `parse` builds, or a validation failure listing the field errors it found.
    pub fn check<T>(parse: impl FnOnce(&mut Vec<FieldError>) -> T) -> Result<T, Self> {
        let mut errors = Vec::new();
        let value = parse(&mut errors);
        if errors.is_empty() { Ok(value) } else { Err(Self::validation(errors)) }
    }

    /// Attaches per-field reasons to any problem.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.problem.errors = errors;
        self
    }

    /// A `precondition_failed` problem saying which version is stored now.
    pub fn with_current_version(mut self, version: u32) -> Self {
        self.problem.current_version = Some(version);
        self
    }

    /// A 409 naming the field whose value clashes with existing data.
    pub fn conflict(error: FieldError) -> Self {
        let mut problem =
            Problem::new(ErrorCode::Conflict, Some(format!("{} {}.", error.field, error.message)));
        problem.errors = vec![error];
        Self { problem: Box::new(problem), retry_after: None }
    }

    /// A failure the client cannot act on. The cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self { problem: Box::new(Problem::new(ErrorCode::InternalError, None)), retry_after: None }
    }

    /// A 429 that tells the client when to come back.
    pub fn rate_limited(detail: impl Into<String>, retry_after: std::time::Duration) -> Self {
        let mut error = Self::new(ErrorCode::RateLimited, detail);
        error.retry_after = Some(retry_after.as_secs().max(1));
        error
    }

    /// The problem document as it is sent (e.g. inside a server-sent `error` event).
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// Whether the request itself was at fault (4xx), as opposed to the server.
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.problem.status)
    }

    /// One line for people: the detail, then each field error.
    pub fn describe(&self) -> String {
        let mut line = self.to_string();
        for error in &self.problem.errors {
            line.push_str(&format!("; {}: {}", error.field, error.message));
        }
        line
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.problem.title)?;
        if let Some(detail) = &self.problem.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        // Every 401 names the scheme to use (RFC 9110).
        if self.problem.status == 401 {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if matches!(self.problem.code, ErrorCode::ServiceUnavailable | ErrorCode::DatabaseTimeout) {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        match serde_json::to_string(&self.problem) {
            Ok(body) => response.body(body),
            Err(_) => HttpResponse::InternalServerError().content_type(ContentType::plaintext()).finish(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => Self::new(ErrorCode::Conflict, "This conflicts with existing data."),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::new(ErrorCode::ServiceUnavailable, "The database is unavailable; try again shortly.")
            }
            StoreError::Timeout(cause) => {
                tracing::warn!(error = %cause, "database statement timed out");
                Self::new(
                    ErrorCode::DatabaseTimeout,
                    "The database took too long to answer; try again shortly.",
                )
            }
            StoreError::QuotaExceeded => Self::new(
                ErrorCode::QuotaExceeded,
                "The tenant's prompt library is full (its prompt count or stored bytes quota); \
                 delete prompts or ask an operator for a larger quota.",
            ),
            StoreError::UnstorableText(cause) => {
                tracing::info!(error = %cause, "refused text the database cannot store");
                Self::new(ErrorCode::ValidationFailed, "Text must not contain NUL characters (U+0000).")
            }
            other => Self::internal(&other),
        }
    }
}

impl From<error::BlockingError> for ApiError {
    fn from(err: error::BlockingError) -> Self {
        Self::internal(&err)
    }
}

/// Malformed or oversized JSON bodies.
pub fn json_error(err: error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use error::JsonPayloadError as E;
    let api_error = match &err {
        E::OverflowKnownLength { limit, .. } | E::Overflow { limit } => {
            ApiError::new(ErrorCode::PayloadTooLarge, format!("The body must be at most {limit} bytes."))
        }
        E::ContentType => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "Send the body as application/json.")
        }
        E::Deserialize(cause) => ApiError::new(ErrorCode::InvalidJson, cause.to_string()),
        _ => ApiError::new(ErrorCode::InvalidJson, "The body could not be read."),
    };
    api_error.into()
}

/// Malformed or oversized form bodies (the SAML POST binding).
pub fn form_error(err: error::UrlencodedError, _req: &HttpRequest) -> actix_web::Error {
    use error::UrlencodedError as E;
    let api_error = match &err {
        E::Overflow { limit, .. } => {
            ApiError::new(ErrorCode::PayloadTooLarge, format!("The body must be at most {limit} bytes."))
        }
        E::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "Send the body as application/x-www-form-urlencoded.",
        ),
        other => ApiError::validation(vec![FieldError { field: "body".into(), message: other.to_string() }]),
    };
    api_error.into()
}

/// Malformed query strings.
pub fn query_error(err: error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::validation(vec![FieldError { field: "query".into(), message: err.to_string() }]).into()
}

/// Malformed path segments (such as an id that is not a UUID).
pub fn path_error(err: error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::validation(vec![FieldError { field: "path".into(), message: err.to_string() }]).into()
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use actix_web::test::TestRequest;

    use super::*;

    async fn problem_of(err: actix_web::Error) -> (StatusCode, Problem, HttpResponse) {
        let response = err.error_response();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        assert_eq!(content_type.unwrap(), PROBLEM_JSON);
        let body = to_bytes(err.error_response().into_body()).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap(), response)
    }

    #[actix_web::test]
    async fn oversized_json_is_413_payload_too_large() {
        let req = TestRequest::default().to_http_request();
        let (status, problem, _) =
            problem_of(json_error(error::JsonPayloadError::Overflow { limit: 10 }, &req)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(problem.code, ErrorCode::PayloadTooLarge);
    }

    #[actix_web::test]
    async fn malformed_json_is_400_invalid_json() {
        let req = TestRequest::default().to_http_request();
        let cause = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        let (status, problem, _) =
            problem_of(json_error(error::JsonPayloadError::Deserialize(cause), &req)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem.code, ErrorCode::InvalidJson);
        let (status, problem, _) = problem_of(json_error(error::JsonPayloadError::ContentType, &req)).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(problem.code, ErrorCode::UnsupportedMediaType);
    }

    #[actix_web::test]
    async fn unauthorized_carries_www_authenticate() {
        let err: actix_web::Error = ApiError::new(ErrorCode::Unauthorized, "no token").into();
        let (status, _, response) = problem_of(err).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    }

    #[actix_web::test]
    async fn internal_errors_hide_their_cause() {
        let err: actix_web::Error = ApiError::internal(&"password=hunter2 in SQL").into();
        let (status, problem, _) = problem_of(err).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(problem.code, ErrorCode::InternalError);
        assert_eq!(problem.detail, None);
    }

    #[actix_web::test]
    async fn statement_timeouts_are_503_database_timeout_without_detail_of_the_cause() {
        let cause = sea_orm::DbErr::Query(sea_orm::RuntimeErr::Internal("SELECT secret_column".into()));
        let err: actix_web::Error = ApiError::from(StoreError::Timeout(cause)).into();
        let (status, problem, response) = problem_of(err).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.code, ErrorCode::DatabaseTimeout);
        assert!(!problem.detail.unwrap_or_default().contains("secret_column"));
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[actix_web::test]
    async fn store_conflicts_are_409() {
        let err: actix_web::Error = ApiError::from(StoreError::Conflict).into();
        let (status, problem, _) = problem_of(err).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(problem.code, ErrorCode::Conflict);
    }
}
