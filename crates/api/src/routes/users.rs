//! User administration: tenant admins for their tenant, system administrators for any.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use domain::user::{Role, User};
use domain::wire::{CreateUserRequest, Problem, ResetPasswordRequest, UpdateUserRequest, UserList, UserView};
use domain::{TenantId, UserId};
use persistence::UserFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::admin::{self, TenantTarget};
use crate::error::ApiError;
use crate::paging::{LIST_PAGE, PageQuery, next_cursor};
use crate::routes::acting;
use crate::state::AppState;
use crate::views;

const USERS: &str = "users";

#[derive(Debug, Deserialize, IntoParams)]
pub struct UserQuery {
    /// Matches email, first or last name, case-insensitively.
    q: Option<String>,
    role: Option<Role>,
    active: Option<bool>,
    /// System administrators only: list another tenant's users.
    tenant_id: Option<TenantId>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeleteUserQuery {
    /// A user of the same tenant who receives the deleted user's prompts. Without it, the
    /// prompts stay and are attributed to a deleted user (no owner).
    transfer_to: Option<UserId>,
}

/// Users of the caller's tenant (or, for system administrators, of `tenant_id`), oldest first.
#[utoipa::path(
    tag = "users", security(("bearer" = [])), params(UserQuery, PageQuery),
    responses((status = 200, body = UserList), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<UserQuery>,
    page: web::Query<PageQuery>,
) -> Result<web::Json<UserList>, ApiError> {
    let query = query.into_inner();
    let page = ApiError::check(|errors| page.parse::<UserId>(USERS, LIST_PAGE, errors))?;
    let target = target_tenant(&state, &principal, query.tenant_id).await?;
    let filter = UserFilter { q: query.q, role: query.role, active: query.active };
    let page = state.db.tenant(target.scope).list_users_page(&filter, page.after, page.limit).await?;
    Ok(web::Json(UserList {
        items: page.items.iter().map(|u| views::user(u, &target.tenant)).collect(),
        next_cursor: next_cursor(USERS, page.next_cursor),
    }))
}

/// Creates a user with an initial password, or SSO-only without one. `max_users` counts
/// active users.
#[utoipa::path(
    tag = "users", security(("bearer" = [])), request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserView),
        (status = 409, description = "Email taken, or the tenant is at max_users", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    body: web::Json<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let target = target_tenant(&state, &principal, request.tenant_id).await?;
    let acting = acting(&state, &req, &principal);
    let user = admin::create_user(&state.db, &state.passwords, &target, request, &acting).await?;
    Ok(HttpResponse::Created().json(views::user(&user, &target.tenant)))
}

/// One user.
#[utoipa::path(
    tag = "users", security(("bearer" = [])), params(("id" = UserId, Path)),
    responses((status = 200, body = UserView), (status = 404, body = Problem, content_type = "application/problem+json"))
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Principal,
    id: web::Path<UserId>,
) -> Result<web::Json<UserView>, ApiError> {
    let (target, user) = target_user(&state, &principal, id.into_inner()).await?;
    Ok(web::Json(views::user(&user, &target.tenant)))
}

/// Changes names, role or the active flag. Role changes and deactivation end the user's
/// sessions; the last active admin of a tenant (or of the system) cannot be demoted or
/// deactivated; reactivation respects `max_users`.
#[utoipa::path(
    tag = "users", security(("bearer" = [])), params(("id" = UserId, Path)), request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = 409, description = "Last admin (`last_admin`), the last admin with a password while single sign-on is required (`break_glass_required`), or max_users reached", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<UserId>,
    body: web::Json<UpdateUserRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    let (target, user) = target_user(&state, &principal, id.into_inner()).await?;
    let acting = acting(&state, &req, &principal);
    let updated = admin::update_user(&state.db, &target, &user, body.into_inner(), &acting).await?;
    Ok(web::Json(views::user(&updated, &target.tenant)))
}

/// Sets a new password for the user and ends their sessions.
#[utoipa::path(
    tag = "users", security(("bearer" = [])), params(("id" = UserId, Path)), request_body = ResetPasswordRequest,
    responses((status = 204, description = "Reset"), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
#[post("/users/{id}/password")]
pub async fn reset_password(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<UserId>,
    body: web::Json<ResetPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let (target, user) = target_user(&state, &principal, id.into_inner()).await?;
    let acting = acting(&state, &req, &principal);
    admin::reset_password(
        &state.db,
        &state.passwords,
        &target,
        &user,
        body.into_inner().new_password,
        &acting,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a user. Their prompts go to `transfer_to`, or stay attributed to a deleted user.
#[utoipa::path(
    tag = "users", security(("bearer" = [])), params(("id" = UserId, Path), DeleteUserQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The last admin (`last_admin`), or the last admin with a password while single sign-on is required (`break_glass_required`)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/users/{id}")]
pub async fn delete_user(
    state: web::Data<AppState>,
    req: HttpRequest,
    principal: Principal,
    id: web::Path<UserId>,
    query: web::Query<DeleteUserQuery>,
) -> Result<HttpResponse, ApiError> {
    let (target, user) = target_user(&state, &principal, id.into_inner()).await?;
    let acting = acting(&state, &req, &principal);
    admin::delete_user(&state.db, &target, &user, query.transfer_to, &acting).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The tenant a request acts in: the caller's own, or any for system administrators. Another
/// tenant is "not found" to everybody else.
pub async fn target_tenant(
    state: &AppState,
    principal: &Principal,
    tenant_id: Option<TenantId>,
) -> Result<TenantTarget, ApiError> {
    let not_found = || ApiError::not_found("No such tenant.");
    match (tenant_id, principal.system_access()) {
        (None, _) => Ok(own_tenant(principal)),
        (Some(id), _) if id == principal.tenant.id => Ok(own_tenant(principal)),
        (Some(id), Some(access)) => {
            let system = state.db.system(access);
            let tenant = system.tenant_by_id(id).await?.ok_or_else(not_found)?;
            Ok(TenantTarget { scope: system.scope(&tenant), tenant })
        }
        (Some(_), None) => Err(not_found()),
    }
}

fn own_tenant(principal: &Principal) -> TenantTarget {
    TenantTarget { tenant: principal.tenant.clone(), scope: principal.scope() }
}

/// A user the caller may administer, with their tenant.
async fn target_user(
    state: &AppState,
    principal: &Principal,
    id: UserId,
) -> Result<(TenantTarget, User), ApiError> {
    let tenant_id = match principal.system_access() {
        Some(access) => state.db.system(access).tenant_of_user(id).await?,
        None => Some(principal.tenant.id),
    };
    let not_found = || ApiError::not_found("No such user.");
    let target = target_tenant(state, principal, Some(tenant_id.ok_or_else(not_found)?)).await?;
    let user = state.db.tenant(target.scope).user_by_id(id).await?.ok_or_else(not_found)?;
    Ok((target, user))
}
