//! HTTP handlers. [`configure`] registers every API route through utoipa-actix-web, so the
//! served routes and `openapi/openapi.json` are generated from the same list.

pub mod health;

use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}
