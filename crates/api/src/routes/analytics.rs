//! Usage figures for admins.

use actix_web::{get, web};
use chrono::Utc;
use domain::TenantId;
use domain::wire::{Analytics, Problem, SystemAnalytics};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::error::ApiError;
use crate::routes::users::target_tenant;
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AnalyticsQuery {
    /// System administrators only: another tenant's figures.
    tenant_id: Option<TenantId>,
}

/// One tenant's usage: users by role, active users, sign-ins, prompts by category and per day,
/// top contributors.
#[utoipa::path(
    tag = "analytics", security(("bearer" = [])), params(AnalyticsQuery),
    responses((status = 200, body = Analytics), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/analytics")]
pub async fn tenant_analytics(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AnalyticsQuery>,
) -> Result<web::Json<Analytics>, ApiError> {
    let target = target_tenant(&state, &principal, query.tenant_id).await?;
    Ok(web::Json(state.db.tenant(target.scope).analytics(Utc::now()).await?))
}

/// The whole system's usage, summed, and one row per tenant (system administrators).
#[utoipa::path(
    tag = "analytics", security(("bearer" = [])),
    responses((status = 200, body = SystemAnalytics), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/analytics/system")]
pub async fn system_analytics(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<SystemAnalytics>, ApiError> {
    let system = state.db.system(principal.require_system_access()?);
    let (totals, tenants) = system.analytics(Utc::now()).await?;
    Ok(web::Json(SystemAnalytics { totals, tenants }))
}
