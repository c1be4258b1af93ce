//! HTTP handlers. [`configure`] registers every API route through utoipa-actix-web, so the
//! served routes and `openapi/openapi.json` are generated from the same list. Each route's
//! access rule is in [`crate::access::RULES`].

pub mod admin;
pub mod auth;
pub mod health;
pub mod tokens;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).service(
        scope::scope("/api/v1")
            .service(auth::login)
            .service(auth::logout)
            .service(auth::refresh)
            .service(auth::me)
            .service(auth::update_me)
            .service(auth::change_password)
            .service(tokens::list_tokens)
            .service(tokens::create_token)
            .service(tokens::revoke_token)
            .service(admin::list_audit_events)
            .service(admin::list_tenants)
            .default_service(actix_web::web::to(unknown_route)),
    );
}

/// Any other path under `/api/v1`.
async fn unknown_route(
    req: actix_web::HttpRequest,
) -> Result<actix_web::HttpResponse, crate::error::ApiError> {
    Err(crate::error::ApiError::not_found(format!("Nothing is served at {}.", req.path())))
}
