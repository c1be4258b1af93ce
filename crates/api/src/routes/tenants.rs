//! Tenant administration (system administrators).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use domain::TenantId;
use domain::tenant::Tenant;
use domain::wire::{CreateTenantRequest, Problem, TenantList, TenantView, UpdateTenantRequest};
use persistence::SystemAccess;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::admin;
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::routes::acting;
use crate::state::AppState;
use crate::views;

const TENANTS: &str = "tenants";

#[derive(Debug, Deserialize, IntoParams)]
pub struct TenantQuery {
    /// Matches name or subdomain, case-insensitively.
    q: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteTenantQuery {
    /// The tenant's subdomain, to confirm deleting a tenant that still has users or prompts.
    confirm: Option<String>,
}

/// Tenants, oldest first, with search and cursor pagination.
#[utoipa::path(
    tag = "tenants", security(("bearer" = [])), params(TenantQuery, PageQuery),
    responses((status = 200, body = TenantList), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/tenants")]
pub async fn list_tenants(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<TenantQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<TenantList>, ApiError> {
    let page = ApiError::check(|errors| page.parse::<TenantId>(TENANTS, LIST_PAGE, errors))?;
    let system = state.db.system(principal.require_system_access()?);
    let page = system.list_tenants(query.q.as_deref(), page.after, page.limit).await?;
    Ok(web::Json(TenantList {
        items: page.items.iter().map(views::tenant).collect(),
        next_cursor: next_cursor(TENANTS, page.next_cursor),
    }))
}

/// Creates a tenant.
#[utoipa::path(
    tag = "tenants", security(("bearer" = [])), request_body = CreateTenantRequest,
    responses(
        (status = 201, body = TenantView),
        (status = 409, description = "Subdomain taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/tenants")]
pub async fn create_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<CreateTenantRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant = admin::create_tenant(
        &state.db,
        principal.require_system_access()?,
        body.into_inner(),
        &acting(&state, &req, &principal),
    )
    .await?;
    Ok(HttpResponse::Created().json(views::tenant(&tenant)))
}

/// One tenant.
#[utoipa::path(
    tag = "tenants", security(("bearer" = [])), params(("id" = TenantId, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/tenants/{id}")]
pub async fn get_tenant(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<TenantId>,
) -> Result<web::Json<TenantView>, ApiError> {
    let tenant = find(&state, principal.require_system_access()?, id.into_inner()).await?;
    Ok(web::Json(views::tenant(&tenant)))
}

/// Changes name, `max_users` or the active flag. Deactivating ends its users' sessions.
#[utoipa::path(
    tag = "tenants", security(("bearer" = [])), params(("id" = TenantId, Path)), request_body = UpdateTenantRequest,
    responses(
        (status = 200, body = TenantView),
        (status = 409, description = "The system tenant cannot be deactivated", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/tenants/{id}")]
pub async fn update_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<TenantId>,
    body: web::Json<UpdateTenantRequest>,
) -> Result<web::Json<TenantView>, ApiError> {
    let access = principal.require_system_access()?;
    let tenant = find(&state, access, id.into_inner()).await?;
    let updated = admin::update_tenant(
        &state.db,
        access,
        &tenant,
        body.into_inner(),
        &acting(&state, &req, &principal),
    )
    .await?;
    Ok(web::Json(views::tenant(&updated)))
}

/// Deletes a tenant: at once when empty, else only with `confirm=<subdomain>`, which removes
/// its users, prompts and settings too. Its audit events remain.
#[utoipa::path(
    tag = "tenants", security(("bearer" = [])), params(("id" = TenantId, Path), DeleteTenantQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Not empty (confirm), or the system tenant", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/tenants/{id}")]
pub async fn delete_tenant(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<TenantId>,
    query: web::Query<DeleteTenantQuery>,
) -> Result<HttpResponse, ApiError> {
    let access = principal.require_system_access()?;
    let tenant = find(&state, access, id.into_inner()).await?;
    let acting = acting(&state, &req, &principal);
    admin::delete_tenant(&state.db, access, &tenant, query.confirm.as_deref(), &acting).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn find(state: &AppState, access: SystemAccess, id: TenantId) -> Result<Tenant, ApiError> {
    state.db.system(access).tenant_by_id(id).await?.ok_or_else(|| ApiError::not_found("No such tenant."))
}
