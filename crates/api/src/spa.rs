//! Serves the browser app from `WEB_DIST_DIR`, with history fallback: any path that is not an
//! API route or an existing file gets `index.html`, so deep links work after a reload.

use std::path::Path;

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::Method;
use actix_web::http::header::{ALLOW, CACHE_CONTROL, HeaderValue};
use actix_web::{App, guard};
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

/// Registers the app's files (when built) and the fallback for every other path.
pub fn register<T>(app: App<T>, dist: &Path) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    let index = dist.join("index.html");
    let fallback_service = move || {
        let index = index.clone();
        fn_service(move |req: ServiceRequest| {
            let index = index.clone();
            async move {
                let (req, _) = req.into_parts();
                let response = fallback(&req, &index).await;
                Ok(ServiceResponse::new(req, response))
            }
        })
    };
    if dist.is_dir() {
        // Files only for reads; any other method goes to the fallback (404 or 405 problems).
        let files = Files::new("/", dist)
            .index_file("index.html")
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .default_handler(fallback_service());
        app.service(files).default_service(fallback_service())
    } else {
        app.default_service(fallback_service())
    }
}

async fn fallback(req: &actix_web::HttpRequest, index: &Path) -> HttpResponse {
    let path = req.path();
    // A route that exists with other methods: 405 naming them; any other path: 404.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        let allowed = allowed_methods(path);
        if allowed.is_empty() {
            return ApiError::not_found(format!("Nothing is served at {path}.")).error_response();
        }
        let allow = allowed.join(", ");
        let error = ApiError::new(
            domain::wire::ErrorCode::MethodNotAllowed,
            format!("{path} answers {allow}, not {}.", req.method()),
        );
        let mut response = error.error_response();
        if let Ok(value) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(ALLOW, value);
        }
        return response;
    }
    // Unknown API routes and missing assets are real 404s, not the app shell.
    let is_api = path == "/api" || path.starts_with("/api/");
    let looks_like_file = path.rsplit('/').next().is_some_and(|last| last.contains('.'));
    if is_api || looks_like_file {
        return ApiError::not_found(format!("Nothing is served at {path}.")).error_response();
    }
    let index = index.to_owned();
    match actix_web::web::block(move || NamedFile::open(index)).await {
        Ok(Ok(file)) => {
            let mut response = file.into_response(req);
            // The shell names the current bundle: always revalidate it.
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        Ok(Err(_)) | Err(_) => ApiError::new(
            domain::wire::ErrorCode::ServiceUnavailable,
            "The web app is not built here. Run `cargo xtask frontend` (or `cargo xtask run`).",
        )
        .error_response(),
    }
}

/// The methods the route table has for `path` (a pattern's `{param}` matches one segment).
fn allowed_methods(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |pattern: &str| {
        let pattern: Vec<&str> = pattern.split('/').collect();
        pattern.len() == segments.len()
            && pattern.iter().zip(&segments).all(|(p, s)| p == s || (p.starts_with('{') && !s.is_empty()))
    };
    let mut methods: Vec<&'static str> = crate::access::RULES
        .iter()
        .filter(|(_, pattern, _)| matches(pattern))
        .map(|(method, _, _)| *method)
        .collect();
    methods.dedup();
    methods
}
