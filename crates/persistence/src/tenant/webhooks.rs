//! One tenant's webhook endpoints and their delivery log, and — for the servers' delivery
//! workers, across tenants — the outbox queue: claiming due deliveries (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, so several servers never take the same one; SQLite has one writer),
//! and recording each try.

use chrono::{DateTime, Utc};
use domain::webhook::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryStatus, MAX_PENDING_PER_ENDPOINT, WebhookEndpoint,
    WebhookEvent,
};
use domain::{DeliveryId, TenantId, UserId, WebhookId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use super::TenantRepo;
use crate::entities::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use crate::error::corrupt;
use crate::query::Page;
use crate::{StoreError, convert};

/// An endpoint to register; its secret sealed by the caller.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    pub sealed_secret: String,
    pub created_by: UserId,
}

/// What changes of an endpoint (absent: unchanged; `description: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub events: Option<Vec<WebhookEvent>>,
    pub enabled: Option<bool>,
}

/// A delivery a worker holds now, with what sending it takes.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub tenant_id: TenantId,
    pub delivery: Delivery,
    /// Its lease: the worker's claim, checked when the try is recorded.
    pub locked_until: DateTime<Utc>,
    pub url: String,
    /// Sealed; with the previous one while a rotation's grace lasts.
    pub sealed_secrets: Vec<String>,
    /// Disabled since it was queued: recorded as failed, not sent.
    pub enabled: bool,
}

fn events_of(raw: &str) -> Result<Vec<WebhookEvent>, StoreError> {
    serde_json::from_str(raw).map_err(|e| corrupt("webhook_endpoints.events", e))
}

fn events_json(events: &[WebhookEvent]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".to_owned())
}

fn endpoint(m: webhook_endpoints::Model) -> Result<WebhookEndpoint, StoreError> {
    Ok(WebhookEndpoint {
        id: WebhookId::from_uuid(m.id),
        url: m.url,
        description: m.description,
        events: events_of(&m.events)?,
        enabled: m.enabled,
        previous_secret_until: m.previous_secret.as_ref().and(m.previous_secret_until),
        created_by: m.created_by.map(UserId::from_uuid),
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

fn delivery(m: webhook_deliveries::Model) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: DeliveryId::from_uuid(m.id),
        endpoint_id: WebhookId::from_uuid(m.endpoint_id),
        event: WebhookEvent::parse(&m.event).ok_or_else(|| corrupt("webhook_deliveries.event", &m.event))?,
        payload: m.payload,
        status: DeliveryStatus::parse(&m.status)
            .ok_or_else(|| corrupt("webhook_deliveries.status", &m.status))?,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        next_attempt_at: m.next_attempt_at,
        last_status_code: m.last_status_code.and_then(|c| u16::try_from(c).ok()),
        last_error: m.last_error,
        created_at: m.created_at,
        delivered_at: m.delivered_at,
        redelivery_of: m.redelivery_of.map(DeliveryId::from_uuid),
    })
}

fn attempt(m: webhook_attempts::Model) -> DeliveryAttempt {
    DeliveryAttempt {
        attempt: u32::try_from(m.attempt).unwrap_or(0),
        at: m.at,
        status_code: m.status_code.and_then(|c| u16::try_from(c).ok()),
        error: m.error,
        duration_ms: u32::try_from(m.duration_ms).unwrap_or(0),
    }
}

/// Error text as stored: at most 500 characters.
fn stored_error(error: &str) -> String {
    error.chars().take(500).collect()
}

fn new_delivery(
    tenant: TenantId,
    endpoint: WebhookId,
    event: WebhookEvent,
    payload: String,
    now: DateTime<Utc>,
    refused: Option<&str>,
    redelivery_of: Option<DeliveryId>,
) -> webhook_deliveries::ActiveModel {
    let status = if refused.is_some() { DeliveryStatus::Failed } else { DeliveryStatus::Pending };
    webhook_deliveries::ActiveModel {
        id: Set(convert::new_id(now)),
        tenant_id: Set(tenant.as_uuid()),
        endpoint_id: Set(endpoint.as_uuid()),
        event: Set(event.as_str().to_owned()),
        payload: Set(payload),
        status: Set(status.as_str().to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        last_status_code: Set(None),
        last_error: Set(refused.map(stored_error)),
        created_at: Set(now),
        delivered_at: Set(None),
        redelivery_of: Set(redelivery_of.map(|id| id.as_uuid())),
    }
}

impl<C: ConnectionTrait> TenantRepo<C> {
    pub async fn count_webhooks(&self) -> Result<u64, StoreError> {
        Ok(self.scope.select::<webhook_endpoints::Entity>().count(&self.conn).await?)
    }

    pub async fn create_webhook(
        &self,
        new: NewWebhook,
        now: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, StoreError> {
        let row = webhook_endpoints::ActiveModel {
            id: Set(new.id.as_uuid()),
            tenant_id: Set(self.scope.tenant_id().as_uuid()),
            url: Set(new.url),
            description: Set(new.description),
            events: Set(events_json(&new.events)),
            enabled: Set(new.enabled),
            secret: Set(new.sealed_secret),
            previous_secret: Set(None),
            previous_secret_until: Set(None),
            created_by: Set(Some(new.created_by.as_uuid())),
            created_at: Set(now),
            updated_at: Set(now),
        };
        endpoint(webhook_endpoints::Entity::insert(row).exec_with_returning(&self.conn).await?)
    }

    /// The tenant's endpoints, oldest first.
    pub async fn webhooks(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows = self
            .scope
            .select::<webhook_endpoints::Entity>()
            .order_by_asc(webhook_endpoints::Column::Id)
            .all(&self.conn)
            .await?;
        rows.into_iter().map(endpoint).collect()
    }

    pub async fn webhook(&self, id: WebhookId) -> Result<Option<WebhookEndpoint>, StoreError> {
        let row = self
            .scope
            .select::<webhook_endpoints::Entity>()
            .filter(webhook_endpoints::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?;
        row.map(endpoint).transpose()
    }

    /// `None` when there is no such endpoint.
    pub async fn update_webhook(
        &self,
        id: WebhookId,
        change: WebhookChange,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let mut update = self
            .scope
            .update::<webhook_endpoints::Entity>()
            .col_expr(webhook_endpoints::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_endpoints::Column::Id.eq(id.as_uuid()));
        if let Some(url) = change.url {
            update = update.col_expr(webhook_endpoints::Column::Url, Expr::value(url));
        }
        if let Some(description) = change.description {
            update = update.col_expr(webhook_endpoints::Column::Description, Expr::value(description));
        }
        if let Some(events) = change.events {
            update = update.col_expr(webhook_endpoints::Column::Events, Expr::value(events_json(&events)));
        }
        if let Some(enabled) = change.enabled {
            update = update.col_expr(webhook_endpoints::Column::Enabled, Expr::value(enabled));
        }
        if update.exec(&self.conn).await?.rows_affected == 0 {
            return Ok(None);
        }
        self.webhook(id).await
    }

    pub async fn delete_webhook(&self, id: WebhookId) -> Result<bool, StoreError> {
        let deleted = self
            .scope
            .delete::<webhook_endpoints::Entity>()
            .filter(webhook_endpoints::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        Ok(deleted.rows_affected > 0)
    }

    /// Signs with `sealed_secret` from now on, and with the current secret too until `until`.
    pub async fn rotate_webhook_secret(
        &self,
        id: WebhookId,
        sealed_secret: String,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<WebhookEndpoint>, StoreError> {
        let rotated = self
            .scope
            .update::<webhook_endpoints::Entity>()
            .col_expr(webhook_endpoints::Column::PreviousSecret, Expr::col(webhook_endpoints::Column::Secret))
            .col_expr(webhook_endpoints::Column::Secret, Expr::value(sealed_secret))
            .col_expr(webhook_endpoints::Column::PreviousSecretUntil, Expr::value(until))
            .col_expr(webhook_endpoints::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_endpoints::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await?;
        if rotated.rows_affected == 0 {
            return Ok(None);
        }
        self.webhook(id).await
    }

    /// Queues `payload` for every enabled endpoint subscribed to `event`, in the caller's
    /// transaction (the outbox: the event is sent if and only if the change commits). An
    /// endpoint with [`MAX_PENDING_PER_ENDPOINT`] deliveries waiting gets this one as failed.
    /// Returns how many were queued.
    pub async fn enqueue_webhooks(
        &self,
        event: WebhookEvent,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let endpoints = self
            .scope
            .select::<webhook_endpoints::Entity>()
            .filter(webhook_endpoints::Column::Enabled.eq(true))
            .all(&self.conn)
            .await?;
        let mut queued = 0;
        for endpoint in endpoints {
            if !events_of(&endpoint.events)?.contains(&event) {
                continue;
            }
            let waiting = self
                .scope
                .select::<webhook_deliveries::Entity>()
                .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.id))
                .filter(
                    webhook_deliveries::Column::Status
                        .is_in([DeliveryStatus::Pending.as_str(), DeliveryStatus::Delivering.as_str()]),
                )
                .count(&self.conn)
                .await?;
            let refused = (waiting >= MAX_PENDING_PER_ENDPOINT).then_some(
                "not queued: the endpoint has 10,000 deliveries waiting; redeliver once it catches up",
            );
            let id = WebhookId::from_uuid(endpoint.id);
            let row = new_delivery(self.scope.tenant_id(), id, event, payload.to_owned(), now, refused, None);
            webhook_deliveries::Entity::insert(row).exec_without_returning(&self.conn).await?;
            queued += u64::from(refused.is_none());
        }
        Ok(queued)
    }

    /// An endpoint's deliveries, newest first, older than `before`.
    pub async fn deliveries(
        &self,
        endpoint: WebhookId,
        status: Option<DeliveryStatus>,
        before: Option<DeliveryId>,
        limit: u64,
    ) -> Result<Page<Delivery>, StoreError> {
        let mut query = self
            .scope
            .select::<webhook_deliveries::Entity>()
            .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.as_uuid()));
        if let Some(status) = status {
            query = query.filter(webhook_deliveries::Column::Status.eq(status.as_str()));
        }
        if let Some(before) = before {
            query = query.filter(webhook_deliveries::Column::Id.lt(before.as_uuid()));
        }
        let rows =
            query.order_by_desc(webhook_deliveries::Column::Id).limit(limit + 1).all(&self.conn).await?;
        Page::from_rows(rows, limit, |m| m.id).try_map(delivery)
    }

    /// One delivery of an endpoint, with its tries.
    pub async fn delivery(
        &self,
        endpoint: WebhookId,
        id: DeliveryId,
    ) -> Result<Option<(Delivery, Vec<DeliveryAttempt>)>, StoreError> {
        let Some(row) = self
            .scope
            .select::<webhook_deliveries::Entity>()
            .filter(webhook_deliveries::Column::EndpointId.eq(endpoint.as_uuid()))
            .filter(webhook_deliveries::Column::Id.eq(id.as_uuid()))
            .one(&self.conn)
            .await?
        else {
            return Ok(None);
        };
        let attempts = self
            .scope
            .select::<webhook_attempts::Entity>()
            .filter(webhook_attempts::Column::DeliveryId.eq(id.as_uuid()))
            .order_by_asc(webhook_attempts::Column::Attempt)
            .all(&self.conn)
            .await?;
        Ok(Some((delivery(row)?, attempts.into_iter().map(attempt).collect())))
    }

    /// Queues `payload` for one endpoint, whatever it subscribes to (a test delivery).
    pub async fn enqueue_for(
        &self,
        endpoint: WebhookId,
        event: WebhookEvent,
        payload: String,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let row = new_delivery(self.scope.tenant_id(), endpoint, event, payload, now, None, None);
        delivery(webhook_deliveries::Entity::insert(row).exec_with_returning(&self.conn).await?)
    }

    /// Queues the same event for the same endpoint again, as a new delivery (a new
    /// `webhook-id`: the receiver asked for it again).
    pub async fn redeliver(
        &self,
        endpoint: WebhookId,
        id: DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Option<Delivery>, StoreError> {
        let Some((original, _)) = self.delivery(endpoint, id).await? else { return Ok(None) };
        let row = new_delivery(
            self.scope.tenant_id(),
            endpoint,
            original.event,
            original.payload,
            now,
            None,
            Some(id),
        );
        delivery(webhook_deliveries::Entity::insert(row).exec_with_returning(&self.conn).await?).map(Some)
    }
}

fn claim_sql([locked_until, now, now_again, limit]: [&str; 4], lock: &str) -> String {
    format!(
        "UPDATE webhook_deliveries SET status = 'delivering', locked_until = {locked_until} \
         WHERE id IN (SELECT id FROM webhook_deliveries \
           WHERE (status = 'pending' AND next_attempt_at <= {now}) \
              OR (status = 'delivering' AND locked_until <= {now_again}) \
           ORDER BY next_attempt_at LIMIT {limit}{lock}) \
         RETURNING *"
    )
}

/// Takes up to `limit` due deliveries of any tenant — waiting ones whose time has come, and
/// ones whose sender's lease ran out — for `lease`.
pub(crate) async fn claim_webhook_deliveries(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    lease: chrono::Duration,
    limit: u64,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let backend = conn.get_database_backend();
    let locked_until = now + lease;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let (sql, values) = if backend == DbBackend::Postgres {
        (
            claim_sql(["$1", "$2", "$2", "$3"], " FOR UPDATE SKIP LOCKED"),
            vec![locked_until.into(), now.into(), limit.into()],
        )
    } else {
        // One writer at a time: the UPDATE itself is the lock.
        (claim_sql(["?", "?", "?", "?"], ""), vec![locked_until.into(), now.into(), now.into(), limit.into()])
    };
    let rows =
        webhook_deliveries::Model::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
            .all(conn)
            .await?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        let tenant_id = TenantId::from_uuid(row.tenant_id);
        let Some(endpoint) = webhook_endpoints::Entity::find_by_id(row.endpoint_id).one(conn).await? else {
            continue;
        };
        let mut sealed_secrets = vec![endpoint.secret];
        if let (Some(previous), Some(until)) = (endpoint.previous_secret, endpoint.previous_secret_until)
            && until > now
        {
            sealed_secrets.push(previous);
        }
        claimed.push(ClaimedDelivery {
            tenant_id,
            delivery: delivery(row)?,
            locked_until,
            url: endpoint.url,
            sealed_secrets,
            enabled: endpoint.enabled,
        });
    }
    Ok(claimed)
}

/// Records a try of a claimed delivery: delivered, waiting for `retry_at`, or (without one)
/// failed for good. `false` when the claim was lost (its lease ran out and another server
/// took the delivery over); nothing is written then.
pub(crate) async fn record_webhook_attempt(
    conn: &impl ConnectionTrait,
    claimed: &ClaimedDelivery,
    outcome: &AttemptOutcome,
    duration_ms: u32,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let attempt = claimed.delivery.attempts + 1;
    let (status, status_code, error) = match outcome {
        AttemptOutcome::Delivered { status_code } => (DeliveryStatus::Delivered, Some(*status_code), None),
        AttemptOutcome::Failed { status_code, error } => {
            let status = if retry_at.is_some() { DeliveryStatus::Pending } else { DeliveryStatus::Failed };
            (status, *status_code, Some(stored_error(error)))
        }
    };
    let delivered_at = (status == DeliveryStatus::Delivered).then_some(now);
    let updated = webhook_deliveries::Entity::update_many()
        .col_expr(webhook_deliveries::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            webhook_deliveries::Column::Attempts,
            Expr::value(i32::try_from(attempt).unwrap_or(i32::MAX)),
        )
        .col_expr(webhook_deliveries::Column::NextAttemptAt, Expr::value(retry_at.unwrap_or(now)))
        .col_expr(webhook_deliveries::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(webhook_deliveries::Column::LastStatusCode, Expr::value(status_code.map(i32::from)))
        .col_expr(webhook_deliveries::Column::LastError, Expr::value(error.clone()))
        .col_expr(webhook_deliveries::Column::DeliveredAt, Expr::value(delivered_at))
        .filter(webhook_deliveries::Column::Id.eq(claimed.delivery.id.as_uuid()))
        .filter(webhook_deliveries::Column::Status.eq(DeliveryStatus::Delivering.as_str()))
        .filter(webhook_deliveries::Column::LockedUntil.eq(claimed.locked_until))
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(false);
    }
    let row = webhook_attempts::ActiveModel {
        tenant_id: Set(claimed.tenant_id.as_uuid()),
        delivery_id: Set(claimed.delivery.id.as_uuid()),
        attempt: Set(i32::try_from(attempt).unwrap_or(i32::MAX)),
        at: Set(now),
        status_code: Set(status_code.map(i32::from)),
        error: Set(error),
        duration_ms: Set(i32::try_from(duration_ms).unwrap_or(i32::MAX)),
    };
    webhook_attempts::Entity::insert(row).exec_without_returning(conn).await?;
    Ok(true)
}

/// Drops delivered and failed deliveries made before `before` (the log's retention).
pub(crate) async fn prune_webhook_deliveries(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let deleted = webhook_deliveries::Entity::delete_many()
        .filter(
            webhook_deliveries::Column::Status
                .is_in([DeliveryStatus::Delivered.as_str(), DeliveryStatus::Failed.as_str()]),
        )
        .filter(webhook_deliveries::Column::CreatedAt.lt(before))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected)
}
