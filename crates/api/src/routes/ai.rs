//! AI service settings: the providers the server speaks, connections (with "test"), the
//! caller's choice of connections and the tenant's AI policy. The operations are in
//! [`crate::ai_services`].

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use domain::ConnectionId;
use domain::ai::Provider;
use domain::wire::{
    AiPolicy, AiSettingsView, ConnectionList, ConnectionRequest, ConnectionTestResult, ConnectionView,
    Problem, ProviderInfo, UpdateAiSettingsRequest,
};

use super::acting;
use crate::access::Principal;
use crate::ai_services;
use crate::error::ApiError;
use crate::state::AppState;

/// The models a test lists at most.
const MAX_LISTED_MODELS: usize = 200;

/// The AI services the server can talk to, with their usual addresses.
#[utoipa::path(tag = "ai", security(("bearer" = [])), responses((status = 200, body = Vec<ProviderInfo>)))]
#[get("/ai/providers")]
pub async fn list_providers() -> web::Json<Vec<ProviderInfo>> {
    web::Json(
        Provider::ALL
            .iter()
            .map(|p| ProviderInfo {
                provider: *p,
                label: p.label().to_owned(),
                default_base_url: p.default_base_url().to_owned(),
                requires_api_key: p.requires_api_key(),
            })
            .collect(),
    )
}

/// The connections the caller may use: the tenant's and their own. Keys are never returned.
#[utoipa::path(tag = "ai", security(("bearer" = [])), responses((status = 200, body = ConnectionList)))]
#[get("/ai/connections")]
pub async fn list_connections(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<ConnectionList>, ApiError> {
    Ok(web::Json(ConnectionList { items: ai_services::list_connections(&state, &principal).await? }))
}

/// Adds a connection: personal, or (tenant admins) the tenant's. The key is sealed at rest.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    request_body = ConnectionRequest,
    responses(
        (status = 201, description = "Created", body = ConnectionView),
        (status = 403, description = "`forbidden` (tenant scope without admin) or `user_connections_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/ai/connections")]
pub async fn create_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<ConnectionRequest>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&state, &req, &principal);
    let created = ai_services::create_connection(&state, &principal, &acting, body.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/ai/connections/{}", created.id)))
        .json(ai_services::view(&created)))
}

/// One connection the caller may use.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = ConnectionId, Path)),
    responses(
        (status = 200, body = ConnectionView),
        (status = 404, description = "No such connection visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/ai/connections/{id}")]
pub async fn get_connection(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ConnectionId>,
) -> Result<web::Json<ConnectionView>, ApiError> {
    Ok(web::Json(ai_services::view(&ai_services::get_connection(&state, &principal, *id).await?)))
}

/// Replaces a connection's settings. Without `api_key` the stored key stays; `clear_api_key`
/// removes it.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = ConnectionId, Path)),
    request_body = ConnectionRequest,
    responses(
        (status = 200, body = ConnectionView),
        (status = 403, description = "A tenant connection, and you are not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connection visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/ai/connections/{id}")]
pub async fn update_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<ConnectionId>,
    body: web::Json<ConnectionRequest>,
) -> Result<web::Json<ConnectionView>, ApiError> {
    let acting = acting(&state, &req, &principal);
    let updated = ai_services::update_connection(&state, &principal, &acting, *id, body.into_inner()).await?;
    Ok(web::Json(ai_services::view(&updated)))
}

#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = ConnectionId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A tenant connection, and you are not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such connection visible to you", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/ai/connections/{id}")]
pub async fn delete_connection(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<ConnectionId>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&state, &req, &principal);
    ai_services::delete_connection(&state, &principal, &acting, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Asks the provider for its models: proves the address, the key and the network path, or says
/// exactly what failed (the same problem codes as a run). Counts against the run limit.
#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    params(("id" = ConnectionId, Path)),
    responses(
        (status = 200, description = "The outcome (also when the provider failed)", body = ConnectionTestResult),
        (status = 404, description = "No such connection visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many calls; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/ai/connections/{id}/test")]
pub async fn test_connection(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<ConnectionId>,
) -> Result<web::Json<ConnectionTestResult>, ApiError> {
    let connection = ai_services::get_connection(&state, &principal, *id).await?;
    let _permits = state.ai.admit(principal.user.id, 1)?;
    let endpoint = ai_services::endpoint(&state, &principal, &connection, None)?;
    let started = Instant::now();
    let answer = state.ai.client.list_models(&endpoint).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(web::Json(match answer {
        Ok(mut models) => {
            models.truncate(MAX_LISTED_MODELS);
            ConnectionTestResult { ok: true, models, latency_ms, error: None }
        }
        Err(e) => ConnectionTestResult {
            ok: false,
            models: Vec::new(),
            latency_ms,
            error: Some(ai_services::provider_error(&e).problem().clone()),
        },
    }))
}

/// The caller's choice of execution and enhancement connection, and what is in effect.
#[utoipa::path(tag = "ai", security(("bearer" = [])), responses((status = 200, body = AiSettingsView)))]
#[get("/ai/settings")]
pub async fn get_settings(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<AiSettingsView>, ApiError> {
    Ok(web::Json(ai_services::settings(&state, &principal).await?))
}

#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    request_body = UpdateAiSettingsRequest,
    responses(
        (status = 200, body = AiSettingsView),
        (status = 422, description = "Not a connection you may use", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/ai/settings")]
pub async fn update_settings(
    state: web::Data<AppState>,
    principal: Principal,
    body: web::Json<UpdateAiSettingsRequest>,
) -> Result<web::Json<AiSettingsView>, ApiError> {
    Ok(web::Json(ai_services::update_settings(&state, &principal, body.into_inner()).await?))
}

/// The tenant's AI policy: whether users may add connections, defaults, retention, prices.
#[utoipa::path(tag = "ai", security(("bearer" = [])), responses((status = 200, body = AiPolicy)))]
#[get("/ai/policy")]
pub async fn get_policy(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<AiPolicy>, ApiError> {
    Ok(web::Json(ai_services::policy(&state, &principal).await?))
}

#[utoipa::path(
    tag = "ai",
    security(("bearer" = [])),
    request_body = AiPolicy,
    responses(
        (status = 200, body = AiPolicy),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/ai/policy")]
pub async fn update_policy(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<AiPolicy>,
) -> Result<web::Json<AiPolicy>, ApiError> {
    let acting = acting(&state, &req, &principal);
    Ok(web::Json(ai_services::update_policy(&state, &principal, &acting, body.into_inner()).await?))
}
