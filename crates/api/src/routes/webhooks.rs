//! Webhook endpoints (tenant admins): register, change, rotate the secret, send a test, and the
//! delivery log with redelivery. Deliveries themselves are `crate::webhooks`' work.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::Utc;
use domain::audit::AuditAction;
use domain::webhook::{
    Delivery, DeliveryAttempt, DeliveryStatus, MAX_DESCRIPTION_LEN, MAX_ENDPOINTS_PER_TENANT, MAX_URL_LEN,
    ROTATION_GRACE_HOURS, WebhookEndpoint, WebhookEvent,
};
use domain::wire::{
    CreateWebhookRequest, DeliveryAttemptView, DeliveryDetail, DeliveryList, DeliveryView, ErrorCode,
    FieldError, Problem, UpdateWebhookRequest, WebhookList, WebhookView, WebhookWithSecret,
};
use domain::{DeliveryId, Secret, WebhookId};
use persistence::{NewWebhook, WebhookChange};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use super::acting;
use crate::access::Principal;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::state::AppState;
use crate::webhooks::{payload, secret_context};

fn view(endpoint: &WebhookEndpoint) -> WebhookView {
    WebhookView {
        id: endpoint.id,
        url: endpoint.url.clone(),
        description: endpoint.description.clone(),
        events: endpoint.events.clone(),
        enabled: endpoint.enabled,
        previous_secret_until: endpoint.previous_secret_until.filter(|until| *until > Utc::now()),
        created_at: endpoint.created_at,
        updated_at: endpoint.updated_at,
    }
}

fn delivery_view(delivery: &Delivery) -> DeliveryView {
    DeliveryView {
        id: delivery.id,
        event: delivery.event,
        status: delivery.status,
        attempts: delivery.attempts,
        next_attempt_at: delivery.next_attempt_at,
        last_status_code: delivery.last_status_code,
        last_error: delivery.last_error.clone(),
        created_at: delivery.created_at,
        delivered_at: delivery.delivered_at,
        redelivery_of: delivery.redelivery_of,
    }
}

fn attempt_view(attempt: &DeliveryAttempt) -> DeliveryAttemptView {
    DeliveryAttemptView {
        attempt: attempt.attempt,
        at: attempt.at,
        status_code: attempt.status_code,
        error: attempt.error.clone(),
        duration_ms: attempt.duration_ms,
    }
}

/// A new signing secret for endpoint `id`, and its sealed form to store.
fn new_secret(
    state: &AppState,
    principal: &Principal,
    id: WebhookId,
) -> Result<(Secret<String>, String), ApiError> {
    let secret = auth::webhook_signature::generate_secret();
    let context = secret_context(principal.tenant.id, id);
    let sealed = state.webhooks.sealer.seal(&secret, &context).map_err(|e| ApiError::internal(&e))?;
    Ok((secret, sealed))
}

fn no_webhook() -> ApiError {
    ApiError::not_found("No such webhook.")
}

/// An endpoint URL as accepted: absolute `https` (or `http` where private networks are
/// allowed), with a host and no credentials in it.
fn checked_url(raw: &str, allow_http: bool, errors: &mut Vec<FieldError>) -> String {
    let raw = raw.trim();
    let problem = match outbound::Url::parse(raw) {
        _ if raw.chars().count() > MAX_URL_LEN => Some(format!("must be at most {MAX_URL_LEN} characters")),
        Err(_) => Some("must be an absolute URL".to_owned()),
        Ok(url) if !(url.scheme() == "https" || (allow_http && url.scheme() == "http")) => {
            Some(if allow_http {
                "must be an http or https URL".to_owned()
            } else {
                "must be an https URL".to_owned()
            })
        }
        Ok(url) if url.host_str().is_none_or(str::is_empty) => Some("must name a host".to_owned()),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => {
            Some("must not hold a user name or password".to_owned())
        }
        Ok(_) => None,
    };
    if let Some(problem) = problem {
        errors.push(FieldError::new("url", problem));
    }
    raw.to_owned()
}

fn checked_events(events: &[WebhookEvent], errors: &mut Vec<FieldError>) -> Vec<WebhookEvent> {
    let mut events: Vec<WebhookEvent> = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        errors.push(FieldError::new("events", "subscribe to at least one event"));
    }
    if events.contains(&WebhookEvent::Test) {
        errors.push(FieldError::new("events", "webhook.test is sent on request only"));
    }
    events
}

fn checked_description(raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let description = raw.map(str::trim).filter(|d| !d.is_empty())?;
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    }
    Some(description.to_owned())
}

/// The tenant's webhook endpoints, oldest first.
#[utoipa::path(tag = "webhooks", security(("bearer" = [])), responses((status = 200, body = WebhookList)))]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<WebhookList>, ApiError> {
    let endpoints = state.db.tenant(principal.scope()).webhooks().await?;
    Ok(web::Json(WebhookList { items: endpoints.iter().map(view).collect() }))
}

/// Registers an endpoint for events. The answer holds its secret, shown this once.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Registered; keep `secret`", body = WebhookWithSecret),
        (status = 409, description = "The tenant has 20 endpoints (`webhook_limit_reached`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid URL, events or description", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let allow_http = state.webhooks.allow_private_networks;
    let (url, events, description) = ApiError::check(|errors| {
        (
            checked_url(&body.url, allow_http, errors),
            checked_events(&body.events, errors),
            checked_description(body.description.as_deref(), errors),
        )
    })?;
    let acting = acting(&state, &req, &principal);
    let id = WebhookId::from_uuid(uuid::Uuid::now_v7());
    let (secret, sealed) = new_secret(&state, &principal, id)?;
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let new = NewWebhook {
        id,
        url,
        description,
        events,
        enabled: body.enabled.unwrap_or(true),
        sealed_secret: sealed,
        created_by: principal.user.id,
    };
    let endpoint = repo.create_webhook(new, acting.at).await?;
    if repo.count_webhooks().await? > MAX_ENDPOINTS_PER_TENANT as u64 {
        // Dropping the transaction undoes the new endpoint.
        return Err(ApiError::new(
            ErrorCode::WebhookLimitReached,
            format!("A tenant can register at most {MAX_ENDPOINTS_PER_TENANT} webhooks; delete one first."),
        ));
    }
    let details = json!({ "url": endpoint.url, "events": endpoint.events });
    repo.record_audit(acting.event(AuditAction::WebhookCreated, "webhook", id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created()
        .json(WebhookWithSecret { webhook: view(&endpoint), secret: secret.expose().clone() }))
}

#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 200, body = WebhookView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let endpoint = state.db.tenant(principal.scope()).webhook(*id).await?.ok_or_else(no_webhook)?;
    Ok(web::Json(view(&endpoint)))
}

/// Changes an endpoint's URL, events, description or whether it is enabled. A disabled
/// endpoint gets no new deliveries; those waiting fail at their next try.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, body = WebhookView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid URL, events or description", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<WebhookId>,
    body: web::Json<UpdateWebhookRequest>,
) -> Result<web::Json<WebhookView>, ApiError> {
    let body = body.into_inner();
    let allow_http = state.webhooks.allow_private_networks;
    let change = ApiError::check(|errors| WebhookChange {
        url: body.url.as_deref().map(|u| checked_url(u, allow_http, errors)),
        description: body.description.as_deref().map(|d| checked_description(Some(d), errors)),
        events: body.events.as_deref().map(|e| checked_events(e, errors)),
        enabled: body.enabled,
    })?;
    let acting = acting(&state, &req, &principal);
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let endpoint = repo.update_webhook(*id, change, acting.at).await?.ok_or_else(no_webhook)?;
    let details = json!({ "url": endpoint.url, "events": endpoint.events, "enabled": endpoint.enabled });
    repo.record_audit(acting.event(AuditAction::WebhookUpdated, "webhook", id.to_string(), details)).await?;
    tx.commit().await?;
    Ok(web::Json(view(&endpoint)))
}

/// Deletes an endpoint with its delivery log; waiting deliveries are dropped.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    let acting = acting(&state, &req, &principal);
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    if !repo.delete_webhook(*id).await? {
        return Err(no_webhook());
    }
    repo.record_audit(acting.event(AuditAction::WebhookDeleted, "webhook", id.to_string(), json!({})))
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives the endpoint a new secret, shown this once. For the next 24 hours deliveries carry
/// a signature by the old secret too, so the receiver can switch without losing any.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 200, description = "The new secret; `previous_secret_until` says how long the old one still signs", body = WebhookWithSecret),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<web::Json<WebhookWithSecret>, ApiError> {
    let acting = acting(&state, &req, &principal);
    let (secret, sealed) = new_secret(&state, &principal, *id)?;
    let until = acting.at + chrono::Duration::hours(ROTATION_GRACE_HOURS);
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let endpoint = repo.rotate_webhook_secret(*id, sealed, until, acting.at).await?.ok_or_else(no_webhook)?;
    let details = json!({ "previous_secret_until": until });
    repo.record_audit(acting.event(AuditAction::WebhookSecretRotated, "webhook", id.to_string(), details))
        .await?;
    tx.commit().await?;
    Ok(web::Json(WebhookWithSecret { webhook: view(&endpoint), secret: secret.expose().clone() }))
}

/// Queues a `webhook.test` event for the endpoint, whatever it subscribes to.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path)),
    responses(
        (status = 202, description = "Queued", body = DeliveryView),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
) -> Result<HttpResponse, ApiError> {
    let repo = state.db.tenant(principal.scope());
    repo.webhook(*id).await?.ok_or_else(no_webhook)?;
    let now = Utc::now();
    let data = json!({ "webhook": id.to_string(), "requested_by": principal.user.id });
    let body = payload(WebhookEvent::Test, data, now);
    let delivery = repo.enqueue_for(*id, WebhookEvent::Test, body, now).await?;
    Ok(HttpResponse::Accepted().json(delivery_view(&delivery)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this status.
    pub status: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

const DELIVERIES: &str = "deliveries";

/// An endpoint's delivery log, newest first (the last 30 days).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path), DeliveryQuery),
    responses(
        (status = 200, body = DeliveryList),
        (status = 404, description = "No such webhook", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid status, limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_deliveries(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<WebhookId>,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<DeliveryList>, ApiError> {
    let query = query.into_inner();
    let (page, status) = ApiError::check(|errors| {
        let paging = PageQuery { limit: query.limit, cursor: query.cursor.clone() };
        let page = paging.parse::<DeliveryId>(DELIVERIES, LIST_PAGE, errors);
        let status = query.status.as_deref().and_then(|raw| {
            let status = DeliveryStatus::parse(raw);
            if status.is_none() {
                errors.push(FieldError::new("status", "must be pending, delivering, delivered or failed"));
            }
            status
        });
        (page, status)
    })?;
    let repo = state.db.tenant(principal.scope());
    repo.webhook(*id).await?.ok_or_else(no_webhook)?;
    let deliveries = repo.deliveries(*id, status, page.after, page.limit).await?;
    Ok(web::Json(DeliveryList {
        items: deliveries.items.iter().map(delivery_view).collect(),
        next_cursor: next_cursor(DELIVERIES, deliveries.next_cursor.map(DeliveryId::from_uuid)),
    }))
}

/// One delivery: its body as sent and every try.
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path), ("delivery" = DeliveryId, Path)),
    responses(
        (status = 200, body = DeliveryDetail),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/webhooks/{id}/deliveries/{delivery}")]
pub async fn get_delivery(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(WebhookId, DeliveryId)>,
) -> Result<web::Json<DeliveryDetail>, ApiError> {
    let (id, delivery) = path.into_inner();
    let found = state.db.tenant(principal.scope()).delivery(id, delivery).await?;
    let (delivery, attempts) = found.ok_or_else(|| ApiError::not_found("No such delivery."))?;
    let payload = serde_json::from_str(&delivery.payload).unwrap_or(serde_json::Value::Null);
    Ok(web::Json(DeliveryDetail {
        delivery: delivery_view(&delivery),
        payload,
        attempts: attempts.iter().map(attempt_view).collect(),
    }))
}

/// Sends a delivery's event again, as a new delivery (with a new `webhook-id`).
#[utoipa::path(
    tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = WebhookId, Path), ("delivery" = DeliveryId, Path)),
    responses(
        (status = 202, description = "Queued", body = DeliveryView),
        (status = 404, description = "No such webhook or delivery", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/webhooks/{id}/deliveries/{delivery}/redeliver")]
pub async fn redeliver(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    path: web::Path<(WebhookId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let acting = acting(&state, &req, &principal);
    let tx = state.db.begin().await?;
    let repo = tx.tenant(principal.scope()).await?;
    let queued = repo.redeliver(id, delivery, acting.at).await?;
    let queued = queued.ok_or_else(|| ApiError::not_found("No such delivery."))?;
    let details = json!({ "delivery": delivery, "redelivery": queued.id });
    repo.record_audit(acting.event(AuditAction::WebhookRedelivered, "webhook", id.to_string(), details))
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(delivery_view(&queued)))
}
