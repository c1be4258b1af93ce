//! The audit log: filtered, paginated, exportable as CSV. Read-only through the API.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, AuditEvent};
use domain::wire::{AuditEventList, FieldError, Problem};
use domain::{AuditEventId, TenantId, UserId};
use futures_util::StreamExt as _;
use persistence::{AuditFilter, Page};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::access::Principal;
use crate::error::ApiError;
use crate::paging::{self, LIST_PAGE, PageQuery, next_cursor};
use crate::state::AppState;
use crate::views;

/// Events read per query while an export streams.
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
}

const AUDIT_EVENTS: &str = "audit_events";

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
    tag = "audit", security(("bearer" = [])), params(AuditQuery, PageQuery),
    responses((status = 200, body = AuditEventList), (status = 403, body = Problem, content_type = "application/problem+json"))
)]
#[get("/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<AuditQuery>,
    page_query: web::Query<PageQuery>,
) -> Result<web::Json<AuditEventList>, ApiError> {
    let request =
        ApiError::check(|errors| page_query.parse::<AuditEventId>(AUDIT_EVENTS, LIST_PAGE, errors))?;
    let page = page(&state, &principal, &query, request.after, request.limit).await?;
    Ok(web::Json(AuditEventList {
        items: page.items.into_iter().map(views::audit_event).collect(),
        next_cursor: next_cursor(AUDIT_EVENTS, page.next_cursor),
    }))
}

/// The same events as CSV, newest first, for spreadsheets and archives: all of them, streamed
/// a batch at a time ([`paging::stream_pages`]). Cells a spreadsheet would run as formulas are
/// escaped ([`crate::spreadsheet`]).
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
    let query = std::sync::Arc::new(query.into_inner());
    // The first batch is read before the response starts, so a bad filter is a 4xx, not a cut.
    let first = page(&state, &principal, &query, None, EXPORT_BATCH).await?;
    let header = csv_line([
        "id",
        "created_at",
        "tenant_id",
        "actor_user_id",
        "action",
        "target_type",
        "target_id",
        "client_addr",
        "details",
    ])?;
    let mut first = Some(first);
    let fetch = move |before: Option<uuid::Uuid>| {
        let (state, principal, query, first) =
            (state.clone(), principal.clone(), query.clone(), first.take());
        async move {
            match first {
                Some(first) => Ok(first),
                None => {
                    page(&state, &principal, &query, before.map(AuditEventId::from_uuid), EXPORT_BATCH).await
                }
            }
        }
    };
    let write = |out: &mut Vec<u8>, event: AuditEvent| {
        let optional = |v: Option<String>| v.unwrap_or_default();
        out.extend(csv_line(crate::spreadsheet::safe_cells([
            event.id.to_string(),
            event.created_at.to_rfc3339(),
            optional(event.tenant_id.map(|t| t.to_string())),
            optional(event.actor.user_id().map(|u| u.to_string())),
            event.action.as_str().to_owned(),
            event.target_type,
            optional(event.target_id),
            optional(event.client_addr),
            event.details.to_string(),
        ]))?);
        Ok(())
    };
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"audit-events.csv\""))
        .streaming(
            futures_util::stream::once(async move { Ok(web::Bytes::from(header)) })
                .chain(paging::stream_pages(fetch, write)),
        ))
}

/// One CSV record, quoted as needed, with its line end.
fn csv_line<I: AsRef<[u8]>>(cells: impl IntoIterator<Item = I>) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(cells).map_err(|e| ApiError::internal(&e))?;
    writer.into_inner().map_err(|e| ApiError::internal(&e))
}

async fn page(
    state: &AppState,
    principal: &Principal,
    query: &AuditQuery,
    before: Option<AuditEventId>,
    limit: u64,
) -> Result<Page<domain::audit::AuditEvent>, ApiError> {
    let filter = query.filter()?;
    Ok(if let Some(access) = principal.system_access() {
        state.db.system(access).list_audit_page(query.tenant_id, &filter, before, limit).await?
    } else if query.tenant_id.is_some_and(|t| t != principal.tenant.id) {
        return Err(ApiError::not_found("No such tenant."));
    } else {
        state.db.tenant(principal.scope()).list_audit_page(&filter, before, limit).await?
    })
}
