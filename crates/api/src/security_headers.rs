//! Security headers on every response: a Content-Security-Policy (a looser one for the Swagger
//! UI at `/api/docs/`), HSTS when the request came over TLS, and the usual anti-sniffing,
//! anti-framing and referrer headers. A header a handler already set is left alone.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::Error;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::client::{self, TrustedProxies};

/// The web app and the API: scripts only from this origin (the app is loaded by `/boot.js`,
/// never inline), WebAssembly compiled from them, no plugins, no `<base>`, no framing, forms
/// post only here. Everything else (styles, images, fonts, `fetch`) from this origin only.
pub const APP_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// The vendored Swagger UI at `/api/docs/`: its scripts are files too, but its bundle injects a
/// `<style>` (for its logo) and its CSS draws select arrows, checkboxes and copy buttons from
/// `data:` SVGs — which the app does not need and must not allow.
pub const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// Two years, subdomains included (every tenant lives on a subdomain).
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

const DOCS_PREFIX: &str = "/api/docs";

/// The middleware; forwarded schemes count only from `proxies`.
pub fn security_headers(proxies: TrustedProxies) -> SecurityHeaders {
    SecurityHeaders { proxies: Rc::new(proxies) }
}

pub struct SecurityHeaders {
    proxies: Rc<TrustedProxies>,
}

impl<S, B> Transform<S, ServiceRequest> for SecurityHeaders
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = SecurityHeadersService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SecurityHeadersService { service: Rc::new(service), proxies: self.proxies.clone() }))
    }
}

pub struct SecurityHeadersService<S> {
    service: Rc<S>,
    proxies: Rc<TrustedProxies>,
}

impl<S, B> Service<ServiceRequest> for SecurityHeadersService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let tls = client::came_over_tls(req.request(), &self.proxies);
        let docs = is_docs(req.path());
        let response = self.service.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            apply(response.headers_mut(), docs, tls);
            Ok(response)
        })
    }
}

fn is_docs(path: &str) -> bool {
    path.strip_prefix(DOCS_PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn apply(headers: &mut HeaderMap, docs: bool, tls: bool) {
    let policy = if docs { DOCS_POLICY } else { APP_POLICY };
    let mut set = |name: HeaderName, value: &'static str| {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, policy);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    if tls {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_docs_get_the_docs_policy() {
        assert!(is_docs("/api/docs/"));
        assert!(is_docs("/api/docs/swagger-ui.css"));
        assert!(is_docs("/api/docs"));
        assert!(!is_docs("/api/docsx"));
        assert!(!is_docs("/api/v1/prompts"));
        assert!(!is_docs("/login"));
    }

    #[test]
    fn the_app_policy_never_allows_inline_script_or_framing() {
        for policy in [APP_POLICY, DOCS_POLICY] {
            let script = policy.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap();
            assert!(!script.contains("unsafe-inline") && !script.contains("'unsafe-eval'"), "{script}");
            assert!(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"));
        }
        assert!(!APP_POLICY.contains("unsafe-inline") && !APP_POLICY.contains("data:"));
    }

    #[test]
    fn hsts_only_over_tls_and_handler_headers_win() {
        let mut plain = HeaderMap::new();
        apply(&mut plain, false, false);
        assert!(!plain.contains_key(header::STRICT_TRANSPORT_SECURITY));
        assert_eq!(plain.get(header::CONTENT_SECURITY_POLICY).unwrap(), APP_POLICY);

        let mut secure = HeaderMap::new();
        secure.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        apply(&mut secure, true, true);
        assert_eq!(secure.get(header::STRICT_TRANSPORT_SECURITY).unwrap(), HSTS);
        assert_eq!(secure.get(header::CONTENT_SECURITY_POLICY).unwrap(), DOCS_POLICY);
        assert_eq!(secure.get(header::REFERRER_POLICY).unwrap(), "same-origin");
    }
}
