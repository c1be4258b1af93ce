//! Usage figures, computed by the database (GROUP BY and COUNT), never by loading rows.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use domain::audit::AuditAction;
use domain::wire::{Analytics, Contributor, Count, TenantUsage};
use domain::{TenantId, UserId};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::StoreError;
use crate::entities::{audit_events, prompts, tenants, users};
use crate::query::utc_day;

const TOP_CONTRIBUTORS: u64 = 5;

/// One tenant's figures, or every tenant's summed when `tenant` is `None`.
pub(crate) async fn analytics<C: ConnectionTrait>(
    conn: &C,
    tenant: Option<TenantId>,
    now: DateTime<Utc>,
) -> Result<Analytics, StoreError> {
    let in_tenant = |column: sea_orm::sea_query::SimpleExpr| match tenant {
        Some(t) => column.eq(t.as_uuid()),
        None => Expr::value(true),
    };
    let users_in =
        || users::Entity::find().filter(in_tenant(Expr::col((users::Entity, users::Column::TenantId))));
    let prompts_in =
        || prompts::Entity::find().filter(in_tenant(Expr::col((prompts::Entity, prompts::Column::TenantId))));
    let logins_since = |since: DateTime<Utc>| {
        audit_events::Entity::find()
            .filter(in_tenant(Expr::col((audit_events::Entity, audit_events::Column::TenantId))))
            .filter(audit_events::Column::Action.eq(AuditAction::LoginSucceeded.as_str()))
            .filter(audit_events::Column::CreatedAt.gte(since))
    };

    let users_by_role: Vec<(String, i64)> = users_in()
        .select_only()
        .column(users::Column::Role)
        .column_as(users::Column::Id.count(), "n")
        .group_by(users::Column::Role)
        .order_by_asc(users::Column::Role)
        .into_tuple()
        .all(conn)
        .await?;
    let prompts_by_category: Vec<(String, i64)> = prompts_in()
        .select_only()
        .column(prompts::Column::Category)
        .column_as(prompts::Column::Id.count(), "n")
        .group_by(prompts::Column::Category)
        .order_by_desc(Expr::col(Alias::new("n")))
        .order_by_asc(prompts::Column::Category)
        .into_tuple()
        .all(conn)
        .await?;
    let day = utc_day(conn.get_database_backend(), "prompts.created_at");
    let prompts_per_day: Vec<(String, i64)> = prompts_in()
        .filter(prompts::Column::CreatedAt.gte(now - Duration::days(30)))
        .select_only()
        .column_as(day.clone(), "day")
        .column_as(prompts::Column::Id.count(), "n")
        .group_by(day.clone())
        .order_by_asc(day)
        .into_tuple()
        .all(conn)
        .await?;
    let top: Vec<(uuid::Uuid, String, i64)> = prompts_in()
        .select_only()
        .column(prompts::Column::UserId)
        .column_as(Expr::col((users::Entity, users::Column::Email)).max(), "email")
        .column_as(prompts::Column::Id.count(), "n")
        .join(sea_orm::JoinType::InnerJoin, prompts_owner())
        .group_by(prompts::Column::UserId)
        .order_by_desc(Expr::col(Alias::new("n")))
        .order_by_asc(prompts::Column::UserId)
        .limit(TOP_CONTRIBUTORS)
        .into_tuple()
        .all(conn)
        .await?;

    Ok(Analytics {
        users_total: users_in().count(conn).await?,
        users_active: users_in().filter(users::Column::IsActive.eq(true)).count(conn).await?,
        users_by_role: counts(users_by_role),
        logins_last_7_days: logins_since(now - Duration::days(7)).count(conn).await?,
        logins_last_30_days: logins_since(now - Duration::days(30)).count(conn).await?,
        prompts_total: prompts_in().count(conn).await?,
        prompts_by_category: counts(prompts_by_category),
        prompts_per_day: counts(prompts_per_day),
        top_contributors: top
            .into_iter()
            .map(|(id, email, n)| Contributor { user_id: UserId::from_uuid(id), email, prompts: unsigned(n) })
            .collect(),
    })
}

/// Per-tenant rows for the system view: one grouped query per figure, merged by tenant.
pub(crate) async fn tenant_usage<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
) -> Result<Vec<TenantUsage>, StoreError> {
    let users_total =
        count_by_tenant(conn, users::Entity::find(), users::Column::TenantId, users::Column::Id).await?;
    let users_active = count_by_tenant(
        conn,
        users::Entity::find().filter(users::Column::IsActive.eq(true)),
        users::Column::TenantId,
        users::Column::Id,
    )
    .await?;
    let prompts_total =
        count_by_tenant(conn, prompts::Entity::find(), prompts::Column::TenantId, prompts::Column::Id)
            .await?;
    let logins: Vec<(Option<uuid::Uuid>, i64)> = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq(AuditAction::LoginSucceeded.as_str()))
        .filter(audit_events::Column::CreatedAt.gte(now - Duration::days(30)))
        .select_only()
        .column(audit_events::Column::TenantId)
        .column_as(audit_events::Column::Id.count(), "n")
        .group_by(audit_events::Column::TenantId)
        .into_tuple()
        .all(conn)
        .await?;
    let logins: HashMap<_, _> = logins.into_iter().filter_map(|(t, n)| Some((t?, n))).collect();

    let tenants: Vec<(uuid::Uuid, String)> = tenants::Entity::find()
        .select_only()
        .column(tenants::Column::Id)
        .column(tenants::Column::Subdomain)
        .order_by_asc(tenants::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    let get = |map: &HashMap<uuid::Uuid, i64>, id| unsigned(map.get(&id).copied().unwrap_or(0));
    Ok(tenants
        .into_iter()
        .map(|(id, subdomain)| TenantUsage {
            tenant_id: TenantId::from_uuid(id),
            subdomain,
            users_total: get(&users_total, id),
            users_active: get(&users_active, id),
            prompts_total: get(&prompts_total, id),
            logins_last_30_days: get(&logins, id),
        })
        .collect())
}

/// `SELECT tenant_id, count(id) … GROUP BY tenant_id` over `rows`.
async fn count_by_tenant<E: EntityTrait, C: ConnectionTrait>(
    conn: &C,
    rows: sea_orm::Select<E>,
    tenant_column: E::Column,
    id_column: E::Column,
) -> Result<HashMap<uuid::Uuid, i64>, StoreError> {
    let counts: Vec<(uuid::Uuid, i64)> = rows
        .select_only()
        .column(tenant_column)
        .column_as(id_column.count(), "n")
        .group_by(tenant_column)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(counts.into_iter().collect())
}

fn prompts_owner() -> sea_orm::RelationDef {
    prompts::Entity::belongs_to(users::Entity).from(prompts::Column::UserId).to(users::Column::Id).into()
}

fn counts(rows: Vec<(String, i64)>) -> Vec<Count> {
    rows.into_iter().map(|(key, n)| Count { key, count: unsigned(n) }).collect()
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
