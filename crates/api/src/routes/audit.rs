//! The audit log: filtered, paginated, exportable as CSV. Read-only through the API.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use domain::audit::AuditAction;
use domain::wire::{AuditEventList, FieldError, Problem};
use domain::{AuditEventId, TenantId, UserId};
use persistence::{AuditFilter, Page};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::error::ApiError;
use crate::routes::parse_page;
use crate::state::AppState;
use crate::views;

/// Most rows one CSV export holds.
const EXPORT_LIMIT: u64 = 100_000;
const EXPORT_BATCH: u64 = 1_000;

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only events by this user.
    actor: Option<UserId>,
    /// Only this action, e.g. `auth.login_failed`, `user.updated`.
    action: Option<String>,
    /// Only events about this kind of thing: `user`, `tenant`.
    target_type: Option<String>,
    /// Only events about this id.
    target_id: Option<String>,
    /// Events at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Events before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// System administrators only: one tenant's events (default: every tenant's).
    tenant_id: Option<TenantId>,
    /// Items per page (1–500, default 50).
    limit: Option<u64>,
    /// `next_cursor` from the previous page.
    cursor: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let action = match self.action.as_deref() {
            Some(name) => Some(
                name.parse::<AuditAction>()
                    .map_err(|e| ApiError::validation(vec![FieldError::new("action", e.to_string())]))?,
            ),
            None => None,
        };
        Ok(AuditFilter {
            actor: self.actor,
            action,
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            from: self.from,
            to: self.to,
        })
    }
}

/// Audit events, newest first: tenant admins see their tenant's, system administrators every
/// tenant's (or one, with `tenant_id`).
#[utoipa::path(
    tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditEventList), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditEventList>, ApiError> {
    let (before, limit) = parse_page(query.limit, query.cursor.as_deref())?;
    let page = page(&state, &principal, &query, before.map(AuditEventId::from_uuid), limit).await?;
    Ok(web::Json(AuditEventList {
        items: page.items.into_iter().map(views::audit_event).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

/// The same events as CSV (up to 100,000, newest first), for spreadsheets and archives.
#[utoipa::path(
    tag = "audit", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, description = "CSV with a header row", content_type = "text/csv", body = String))
)]
#[get("/audit-events/export")]
pub async fn export_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "created_at",
        "tenant_id",
        "actor_user_id",
        "action",
        "target_type",
        "target_id",
        "client_addr",
        "details",
    ];
    csv.write_record(header).map_err(|e| ApiError::internal(&e))?;
    let (mut before, mut written) = (None, 0);
    loop {
        let batch =
            page(&state, &principal, &query, before, EXPORT_BATCH.min(EXPORT_LIMIT - written)).await?;
        for event in &batch.items {
            let optional = |v: Option<String>| v.unwrap_or_default();
            csv.write_record([
                event.id.to_string(),
                event.created_at.to_rfc3339(),
                optional(event.tenant_id.map(|t| t.to_string())),
                optional(event.actor.user_id().map(|u| u.to_string())),
                event.action.as_str().to_owned(),
                event.target_type.clone(),
                optional(event.target_id.clone()),
                optional(event.client_addr.clone()),
                event.details.to_string(),
            ])
            .map_err(|e| ApiError::internal(&e))?;
        }
        written += batch.items.len() as u64;
        match batch.next_cursor {
            Some(cursor) if written < EXPORT_LIMIT => before = Some(AuditEventId::from_uuid(cursor)),
            _ => break,
        }
    }
    let body = csv.into_inner().map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"audit-events.csv\""))
        .body(body))
}

async fn page(
    state: &AppState,
    principal: &Principal,
    query: &AuditQuery,
    before: Option<AuditEventId>,
    limit: u64,
) -> Result<Page<domain::audit::AuditEvent>, ApiError> {
    let filter = query.filter()?;
    Ok(if principal.is_system_admin() {
        state.db.system().list_audit_page(query.tenant_id, &filter, before, limit).await?
    } else if query.tenant_id.is_some_and(|t| t != principal.tenant.id) {
        return Err(ApiError::not_found("No such tenant."));
    } else {
        state.db.tenant(principal.scope()).list_audit_page(&filter, before, limit).await?
    })
}
