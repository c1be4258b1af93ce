//! HTTP handlers. [`configure`] registers every API route through utoipa-actix-web, so the
//! served routes and `openapi/openapi.json` are generated from the same list. Each route's
//! access rule is in [`crate::access::RULES`].

pub mod ai;
pub mod analytics;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod composition;
pub mod health;
pub mod labels;
pub mod prompt_files;
pub mod prompt_versions;
pub mod prompts;
pub mod runs;
pub mod sso;
pub mod tenants;
pub mod tokens;
pub mod users;
pub mod webhooks;

use actix_web::{HttpRequest, web};
use chrono::Utc;
use domain::audit::Actor;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::access::Principal;
use crate::admin::Acting;
use crate::client;
use crate::error::ApiError;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            // The browser's trip to the identity provider and back (not JSON: redirects, a form
            // post from the IdP, XML metadata).
            scope::scope("/auth")
                .app_data(
                    web::FormConfig::default().limit(SAML_FORM_LIMIT).error_handler(crate::error::form_error),
                )
                .service(sso::start_sign_in)
                .service(sso::oidc_callback)
                .service(sso::saml_acs)
                .service(sso::saml_metadata),
        )
        .service(
            scope::scope("/api/v1")
                .service(auth::login)
                .service(auth::logout)
                .service(auth::refresh)
                .service(auth::me)
                .service(auth::update_me)
                .service(auth::change_password)
                .service(sso::sso_options)
                .service(sso::exchange)
                .service(sso::get_sso_settings)
                .service(sso::put_sso_settings)
                .service(sso::delete_sso_settings)
                .service(sso::start_test)
                .service(sso::get_test_result)
                .service(tokens::list_tokens)
                .service(tokens::create_token)
                .service(tokens::revoke_token)
                .service(tenants::list_tenants)
                .service(tenants::create_tenant)
                .service(tenants::get_tenant)
                .service(tenants::update_tenant)
                .service(tenants::delete_tenant)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::get_user)
                .service(users::update_user)
                .service(users::reset_password)
                .service(users::delete_user)
                .service(audit::export_audit_events)
                .service(audit::list_audit_events)
                .service(runs::run_analytics)
                .service(analytics::system_analytics)
                .service(analytics::tenant_analytics)
                .service(prompts::list_prompts)
                .service(prompts::create_prompt)
                .service(prompts::get_prompt)
                .service(prompts::update_prompt)
                .service(prompts::delete_prompt)
                .service(prompt_versions::list_versions)
                .service(prompt_versions::get_version)
                .service(prompt_versions::diff_versions)
                .service(prompt_versions::restore_version)
                .service(prompt_versions::render_prompt)
                .service(prompt_versions::variables_schema)
                .service(composition::used_by)
                .service(composition::preview_impact)
                .service(labels::list_labels)
                .service(labels::move_label)
                .service(labels::remove_label)
                .service(labels::roll_back_label)
                .service(labels::label_history)
                .service(labels::label_stats)
                .service(approvals::get_release_policy)
                .service(approvals::put_release_policy)
                .service(approvals::list_approvals)
                .service(approvals::get_approval)
                .service(approvals::approve)
                .service(approvals::deny)
                .service(approvals::cancel)
                .service(webhooks::list_webhooks)
                .service(webhooks::create_webhook)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_secret)
                .service(webhooks::test_webhook)
                .service(webhooks::list_deliveries)
                .service(webhooks::get_delivery)
                .service(webhooks::redeliver)
                .service(prompts::list_categories)
                .service(prompts::list_tags)
                .service(prompts::list_folders)
                .service(prompt_files::export_prompts)
                .service(ai::list_providers)
                .service(ai::list_connections)
                .service(ai::create_connection)
                .service(ai::get_connection)
                .service(ai::update_connection)
                .service(ai::delete_connection)
                .service(ai::test_connection)
                .service(ai::get_settings)
                .service(ai::update_settings)
                .service(ai::get_policy)
                .service(ai::update_policy)
                .service(runs::run_prompt)
                .service(runs::compare_prompt)
                .service(runs::list_runs)
                .service(runs::get_run)
                .service(runs::enhance_prompt)
                .service(runs::enhance_text)
                .service(runs::accept_enhancement)
                .service(runs::count_tokens)
                .service(
                    // Import files are larger than any other body.
                    scope::scope("/imports")
                        .app_data(
                            web::JsonConfig::default()
                                .limit(IMPORT_BODY_LIMIT)
                                .error_handler(crate::error::json_error),
                        )
                        .service(prompt_files::import_prompts)
                        .default_service(web::to(unknown_route)),
                )
                .default_service(web::to(unknown_route)),
        );
}

/// Any other path under `/api/v1`.
async fn unknown_route(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!("Nothing is served at {}.", req.path())))
}

/// The largest SAML response form accepted (a signed response with its certificate is ~10 KB).
pub const SAML_FORM_LIMIT: usize = 256 * 1024;

/// The largest import file accepted (10,000 prompts of ordinary size).
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The caller as the actor of an administrative operation.
pub fn acting(state: &AppState, req: &HttpRequest, principal: &Principal) -> Acting {
    Acting {
        actor: Actor::User(principal.user.id),
        client_addr: Some(client::address(req, &state.trusted_proxies)),
        at: Utc::now(),
    }
}
