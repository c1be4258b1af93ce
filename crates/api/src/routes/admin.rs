//! Administration reads: the audit log and the tenant list. (Full tenant and user
//! administration is its own piece of work.)

use actix_web::{get, web};
use domain::wire::{AuditEventList, Problem, TenantList};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views;

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 500;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// How many events, newest first (1–500, default 50).
    limit: Option<u64>,
}

/// The audit log, newest first: a tenant admin sees their tenant's, a system admin everyone's.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit events", body = AuditEventList),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditEventList>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let events = if principal.is_system_admin() {
        state.db.system().list_audit(limit).await?
    } else {
        state.db.tenant(principal.scope()).list_audit(limit).await?
    };
    Ok(web::Json(AuditEventList { items: events.into_iter().map(views::audit_event).collect() }))
}

/// Every tenant, oldest first (system administrators only).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Tenants", body = TenantList),
        (status = 403, description = "Not a system administrator", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/tenants")]
pub async fn list_tenants(
    state: web::Data<AppState>,
    _principal: Principal,
) -> Result<web::Json<TenantList>, ApiError> {
    let tenants = state.db.system().list_tenants().await?;
    Ok(web::Json(TenantList { items: tenants.iter().map(views::tenant).collect() }))
}
