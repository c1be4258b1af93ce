//! Webhooks: tenant admins register endpoints for events; each event becomes one delivery per
//! subscribed endpoint, kept in the database until it is delivered or gives up.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{DeliveryId, UserId, WebhookId};

/// Endpoints one tenant may register.
pub const MAX_ENDPOINTS_PER_TENANT: usize = 20;
/// Characters of an endpoint's URL at most.
pub const MAX_URL_LEN: usize = 2048;
/// Characters of an endpoint's description at most.
pub const MAX_DESCRIPTION_LEN: usize = 200;
/// Tries of one delivery before it is given up (failed).
pub const MAX_ATTEMPTS: u32 = 8;
/// Deliveries of one endpoint waiting at once at most: past it, new events are recorded as
/// failed at once (visible in the log, redeliverable) instead of queueing without end.
pub const MAX_PENDING_PER_ENDPOINT: u64 = 10_000;
/// How long a rotated-out secret still signs deliveries, so receivers can switch over.
pub const ROTATION_GRACE_HOURS: i64 = 24;

/// What an endpoint can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEvent {
    #[serde(rename = "prompt.created")]
    PromptCreated,
    #[serde(rename = "prompt.updated")]
    PromptUpdated,
    #[serde(rename = "prompt.deleted")]
    PromptDeleted,
    /// A release label set, moved, removed or rolled back.
    #[serde(rename = "label.moved")]
    LabelMoved,
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    #[serde(rename = "approval.approved")]
    ApprovalApproved,
    #[serde(rename = "approval.denied")]
    ApprovalDenied,
    /// Sent by `POST /api/v1/webhooks/{id}/test` only.
    #[serde(rename = "webhook.test")]
    Test,
}

impl WebhookEvent {
    pub const SUBSCRIBABLE: &[WebhookEvent] = &[
        WebhookEvent::PromptCreated,
        WebhookEvent::PromptUpdated,
        WebhookEvent::PromptDeleted,
        WebhookEvent::LabelMoved,
        WebhookEvent::ApprovalRequested,
        WebhookEvent::ApprovalApproved,
        WebhookEvent::ApprovalDenied,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::PromptCreated => "prompt.created",
            WebhookEvent::PromptUpdated => "prompt.updated",
            WebhookEvent::PromptDeleted => "prompt.deleted",
            WebhookEvent::LabelMoved => "label.moved",
            WebhookEvent::ApprovalRequested => "approval.requested",
            WebhookEvent::ApprovalApproved => "approval.approved",
            WebhookEvent::ApprovalDenied => "approval.denied",
            WebhookEvent::Test => "webhook.test",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::SUBSCRIBABLE.iter().chain([&WebhookEvent::Test]).copied().find(|e| e.as_str() == raw)
    }
}

/// A registered endpoint (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    /// Sorted, without duplicates.
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    /// While a rotated-out secret still signs too: until when.
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) try.
    Pending,
    /// Being sent by a server now (a server that died meanwhile gives it back after its lease).
    Delivering,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up after its last try, or refused at once (backlog full).
    Failed,
}

impl DeliveryStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivering => "delivering",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Delivering, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Also its `webhook-id`: the same on every try, so receivers can drop duplicates.
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub event: WebhookEvent,
    /// The JSON body, exactly as sent.
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The delivery this one sends again.
    pub redelivery_of: Option<DeliveryId>,
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: u32,
}

/// How a try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered { status_code: u16 },
    /// Another status, or no answer (`status_code` absent, `error` says why).
    Failed { status_code: Option<u16>, error: String },
}

/// The wait before try `attempt + 1` after try `attempt` failed: `base`, then six times longer
/// each time (5 s, 30 s, 3 min, 18 min, 1.8 h, then 6 h with the default base), at most 6 h.
pub fn retry_delay(attempt: u32, base: Duration) -> Duration {
    let factor = 6u32.saturating_pow(attempt.saturating_sub(1));
    base.saturating_mul(factor).min(Duration::from_secs(6 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_retries_back_off() {
        for event in WebhookEvent::SUBSCRIBABLE {
            assert_eq!(WebhookEvent::parse(event.as_str()), Some(*event));
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
        assert_eq!(WebhookEvent::parse("prompt.exploded"), None);
        let base = Duration::from_secs(5);
        let delays: Vec<u64> = (1..MAX_ATTEMPTS).map(|a| retry_delay(a, base).as_secs()).collect();
        assert_eq!(delays, [5, 30, 180, 1080, 6480, 21_600, 21_600]);
    }
}
