//! Serves the browser app at `/`, with history fallback: any path that is not an API route or
//! an existing file gets `index.html`, so deep links work after a reload.
//!
//! The app is built into the binary (`cargo xtask frontend` writes `frontend/dist` first), so the
//! server serves it from wherever it is started; `WEB_DIST_DIR` serves a folder instead.

use std::borrow::Cow;
use std::path::PathBuf;

use actix_files::{Files, NamedFile};
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::Method;
use actix_web::http::header::{self, ALLOW, CACHE_CONTROL, EntityTag, HeaderValue};
use actix_web::{App, HttpRequest, guard};
use actix_web::{HttpResponse, ResponseError};

use crate::client;
use crate::error::ApiError;

/// The app as `cargo xtask frontend` left it when this binary was compiled (empty when it had
/// not been built). `debug-embed` makes debug builds embed it too, so tests serve what a release
/// serves.
#[derive(rust_embed::Embed)]
#[folder = "../../frontend/dist"]
#[allow_missing = true]
struct BuiltApp;

/// Where the app's files come from.
#[derive(Debug, Clone)]
pub enum WebApp {
    /// The copy built into the binary.
    Embedded,
    /// A folder on disk (`WEB_DIST_DIR`).
    Folder(PathBuf),
}

impl WebApp {
    pub fn new(folder: Option<PathBuf>) -> Self {
        folder.map_or(Self::Embedded, Self::Folder)
    }

    /// Whether there is an app to serve (`/` answers 503 otherwise).
    pub fn is_built(&self) -> bool {
        match self {
            Self::Embedded => BuiltApp::get(INDEX).is_some(),
            Self::Folder(dir) => dir.join(INDEX).is_file(),
        }
    }
}

const INDEX: &str = "index.html";

/// Registers the app's files and the fallback for every other path.
pub fn register<T>(app: App<T>, web_app: &WebApp) -> App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    let fallback_service = || {
        let web_app = web_app.clone();
        fn_service(move |req: ServiceRequest| {
            let web_app = web_app.clone();
            async move {
                let (req, _) = req.into_parts();
                let response = fallback(&req, &web_app).await;
                Ok(ServiceResponse::new(req, response))
            }
        })
    };
    match web_app {
        WebApp::Folder(dist) if dist.is_dir() => {
            // Files only for reads; any other method goes to the fallback (404 or 405 problems).
            let files = Files::new("/", dist)
                .index_file(INDEX)
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .default_handler(fallback_service());
            app.service(files).default_service(fallback_service())
        }
        WebApp::Folder(_) | WebApp::Embedded => app.default_service(fallback_service()),
    }
}

async fn fallback(req: &HttpRequest, web_app: &WebApp) -> HttpResponse {
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
    let is_api = path == "/api" || path.starts_with("/api/");
    if matches!(web_app, WebApp::Embedded)
        && !is_api
        && let Some(file) = path.strip_prefix('/').filter(|name| !name.is_empty()).and_then(BuiltApp::get)
    {
        return embedded(req, file);
    }
    // Unknown API routes and missing assets are real 404s, not the app shell.
    let looks_like_file = path.rsplit('/').next().is_some_and(|last| last.contains('.'));
    if is_api || looks_like_file {
        return ApiError::not_found(format!("Nothing is served at {path}.")).error_response();
    }
    let shell = match web_app {
        WebApp::Embedded => BuiltApp::get(INDEX).map(|file| embedded(req, file)),
        WebApp::Folder(dir) => {
            let index = dir.join(INDEX);
            match actix_web::web::block(move || NamedFile::open(index)).await {
                Ok(Ok(file)) => Some(file.into_response(req)),
                Ok(Err(_)) | Err(_) => None,
            }
        }
    };
    match shell {
        Some(mut response) => {
            // The shell names the current bundle: always revalidate it.
            response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => ApiError::new(
            domain::wire::ErrorCode::ServiceUnavailable,
            "The web app is not built here. Run `cargo xtask frontend` (or `cargo xtask run`).",
        )
        .error_response(),
    }
}

/// One file of the built-in app, revalidated by its content hash: the file names carry no
/// version, so a browser must ask each time, and gets 304 while the binary is the same.
fn embedded(req: &HttpRequest, file: rust_embed::EmbeddedFile) -> HttpResponse {
    let hash: String = file.metadata.sha256_hash()[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    let etag = EntityTag::new_strong(hash);
    let unchanged = client::holds(req, &etag);
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header(header::ETag(etag)).insert_header((CACHE_CONTROL, "no-cache"));
    if unchanged {
        return response.finish();
    }
    let body = match file.data {
        Cow::Borrowed(bytes) => actix_web::web::Bytes::from_static(bytes),
        Cow::Owned(bytes) => bytes.into(),
    };
    response.content_type(file.metadata.mimetype()).body(body)
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
