//! Query pieces shared by the repositories: filters, keyset pages, case-insensitive search and
//! the few expressions that differ between SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use domain::audit::{AuditAction, AuditEvent, NewAuditEvent};
use domain::tenant::{Subdomain, Tenant};
use domain::user::Role;
use domain::{AuditEventId, TenantId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoSimpleExpr, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::entities::{audit_events, tenants};
use crate::{StoreError, convert};

/// Which users to list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matches email, first or last name, case-insensitively.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<UserId>,
    pub action: Option<AuditAction>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

/// One page of a keyset-paginated list: its items and, when more follow, the sort key of the
/// last item, from which the next page continues. Most lists are in id order (ids are UUIDv7s,
/// so that is creation order) and their key is the id.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, K = uuid::Uuid> {
    pub items: Vec<T>,
    pub next_cursor: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` rows (the extra row only says there is more).
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: u64, key_of: impl Fn(&T) -> K) -> Self {
        let more = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_cursor = if more { rows.last().map(key_of) } else { None };
        Self { items: rows, next_cursor }
    }

    /// The same page with each item converted (rows to domain values).
    pub(crate) fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U, K>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// `lower(column) LIKE '%text%'` with `%`, `_` and `\\` in `text` matched literally.
pub(crate) fn contains_ci(column: impl ColumnTrait, text: &str) -> SimpleExpr {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Expr::expr(Func::lower(column.into_simple_expr()))
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

/// `column LIKE pattern`, with `text` matched literally inside it: `pattern` is `text` with
/// `%`, `_` and `\` escaped, and `{}` where it goes (`{}/%` for what starts with `text/`).
pub(crate) fn like_literal(column: impl ColumnTrait, pattern: &str, text: &str) -> SimpleExpr {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Expr::col(column).like(LikeExpr::new(pattern.replace("{}", &escaped)).escape('\\'))
}

/// The UTC calendar day (`YYYY-MM-DD`) of a timestamp column.
pub(crate) fn utc_day(backend: DbBackend, column: &str) -> SimpleExpr {
    match backend {
        // sea-orm stores SQLite timestamps as text starting with the UTC date.
        DbBackend::Sqlite => Expr::cust(format!("substr({column}, 1, 10)")),
        _ => Expr::cust(format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')")),
    }
}

/// One page of audit events, newest first; `tenant` restricts to one tenant.
pub(crate) async fn audit_page<C: ConnectionTrait>(
    conn: &C,
    tenant: Option<TenantId>,
    filter: &AuditFilter,
    before: Option<AuditEventId>,
    limit: u64,
) -> Result<Page<AuditEvent>, StoreError> {
    let mut query = audit_events::Entity::find();
    if let Some(tenant) = tenant {
        query = query.filter(audit_events::Column::TenantId.eq(tenant.as_uuid()));
    }
    if let Some(actor) = filter.actor {
        query = query.filter(audit_events::Column::ActorUserId.eq(actor.as_uuid()));
    }
    if let Some(action) = filter.action {
        query = query.filter(audit_events::Column::Action.eq(action.as_str()));
    }
    if let Some(target_type) = &filter.target_type {
        query = query.filter(audit_events::Column::TargetType.eq(target_type.as_str()));
    }
    if let Some(target_id) = &filter.target_id {
        query = query.filter(audit_events::Column::TargetId.eq(target_id.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_events::Column::CreatedAt.lt(to));
    }
    if let Some(before) = before {
        query = query.filter(audit_events::Column::Id.lt(before.as_uuid()));
    }
    let rows = query.order_by_desc(audit_events::Column::Id).limit(limit + 1).all(conn).await?;
    let events = rows.into_iter().map(convert::audit_event).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(events, limit, |e| e.id.as_uuid()))
}

/// Appends an event to the audit log; `tenant` is `None` for system-wide events.
pub(crate) async fn insert_audit<C: ConnectionTrait>(
    conn: &C,
    tenant: Option<TenantId>,
    event: NewAuditEvent,
) -> Result<(), StoreError> {
    audit_events::Entity::insert(convert::new_audit_row(tenant, event)).exec_without_returning(conn).await?;
    Ok(())
}

/// The tenant with this subdomain (sign-in and the command line look tenants up by it).
pub(crate) async fn tenant_by_subdomain<C: ConnectionTrait>(
    conn: &C,
    subdomain: &Subdomain,
) -> Result<Option<Tenant>, StoreError> {
    tenants::Entity::find()
        .filter(tenants::Column::Subdomain.eq(subdomain.as_str()))
        .one(conn)
        .await?
        .map(convert::tenant)
        .transpose()
}
