//! Webhooks in the service layer: registering endpoints (secrets made here, sealed at rest,
//! shown once), the events' [`payload`] — which every change that reports an event queues
//! inside its own transaction (`enqueue_webhooks`), so an event is sent if and only if the
//! change commits — and the delivery
//! worker every server runs: it claims due deliveries from the database (several servers
//! never take the same one), signs them per Standard Webhooks, sends them through the same
//! address-checked outbound client as AI calls, and records each try, retrying with backoff.
//! A server that dies mid-delivery loses nothing: the delivery's lease runs out and any server
//! (the same one restarted) takes it over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth::sealing::Sealer;
use chrono::{DateTime, Utc};
use domain::prompt::Prompt;
use domain::webhook::{AttemptOutcome, MAX_ATTEMPTS, WebhookEvent, retry_delay};
use domain::{Secret, TenantId, UserId, WebhookId};
use outbound::{Outbound, OutboundConfig, OutboundPolicy, header};
use persistence::{ClaimedDelivery, Database, StoreError, SystemAccess};
use serde_json::json;

use crate::config::WebhookSettings;

/// How long one try may take, connecting included.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed delivery is the claimer's before another server may take it over.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// Deliveries claimed (and sent concurrently) at a time by one server.
const CLAIM_BATCH: u64 = 16;
/// How often each server looks for due deliveries.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long delivered and failed deliveries stay in the log.
const LOG_DAYS: i64 = 30;

/// What delivering needs: the outbound client with the webhook address rules, the sealer and
/// the retry schedule.
pub struct WebhookRuntime {
    outbound: Outbound,
    pub sealer: Sealer,
    retry_base: Duration,
    pub allow_private_networks: bool,
}

impl WebhookRuntime {
    pub fn new(settings: &WebhookSettings, sealer: Sealer) -> Result<Self, String> {
        let outbound = Outbound::new(OutboundConfig {
            policy: OutboundPolicy { allow_private_networks: settings.allow_private_networks },
            connect_timeout: Duration::from_secs(5),
            read_timeout: SEND_TIMEOUT,
            // The answer is not read beyond its status.
            max_response_bytes: 64 * 1024,
            user_agent: format!("ai-prompt-manager-webhooks/{}", env!("CARGO_PKG_VERSION")),
        })
        .map_err(|e| e.to_string())?;
        Ok(Self {
            outbound,
            sealer,
            retry_base: settings.retry_base,
            allow_private_networks: settings.allow_private_networks,
        })
    }
}

/// The sealing context of an endpoint's secrets: bound to its tenant and itself.
pub fn secret_context(tenant: TenantId, endpoint: WebhookId) -> String {
    format!("webhook:{tenant}:{endpoint}")
}

/// The body every delivery carries: `{"type", "timestamp", "data"}` (the Standard Webhooks
/// payload shape).
pub fn payload(event: WebhookEvent, data: serde_json::Value, at: DateTime<Utc>) -> String {
    json!({ "type": event.as_str(), "timestamp": at, "data": data }).to_string()
}

/// The body of a `prompt.*` event: which prompt, at which version, changed by whom (the
/// content is not sent: receivers fetch what they need).
pub fn prompt_payload(event: WebhookEvent, prompt: &Prompt, actor: UserId, at: DateTime<Utc>) -> String {
    let data = json!({
        "prompt": { "id": prompt.id, "name": prompt.name.as_str(), "title": prompt.title, "version": prompt.version },
        "actor": { "id": actor },
    });
    payload(event, data, at)
}

/// Runs the delivery worker for as long as the server runs.
pub fn spawn_worker(db: Database, runtime: Arc<WebhookRuntime>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(POLL_EVERY);
        let mut pruned_at = None::<DateTime<Utc>>;
        loop {
            every.tick().await;
            loop {
                match deliver_due(&db, &runtime).await {
                    // A full batch: there may be more due right now.
                    Ok(sent) if sent as u64 == CLAIM_BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook deliveries could not be worked");
                        break;
                    }
                }
            }
            let now = Utc::now();
            if pruned_at.is_none_or(|at| now - at > chrono::Duration::hours(1)) {
                pruned_at = Some(now);
                if let Err(e) =
                    system(&db).prune_webhook_deliveries(now - chrono::Duration::days(LOG_DAYS)).await
                {
                    tracing::warn!(error = %e, "pruning the webhook delivery log failed");
                }
            }
        }
    });
}

/// The worker is the operator's own background work, across every tenant.
#[allow(clippy::disallowed_methods)]
fn system(db: &Database) -> persistence::SystemRepo {
    db.system(SystemAccess::operator())
}

/// Claims the due deliveries (a batch) and sends them concurrently; how many were claimed.
pub async fn deliver_due(db: &Database, runtime: &WebhookRuntime) -> Result<usize, StoreError> {
    let claimed = system(db).claim_webhook_deliveries(Utc::now(), LEASE, CLAIM_BATCH).await?;
    let count = claimed.len();
    let sends = claimed.into_iter().map(|delivery| async move {
        let started = Instant::now();
        let outcome = send(runtime, &delivery).await;
        let duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let now = Utc::now();
        let tried = delivery.delivery.attempts + 1;
        let retry_at = match &outcome {
            AttemptOutcome::Failed { .. } if tried < MAX_ATTEMPTS && delivery.enabled => {
                Some(now + chrono::Duration::from_std(retry_delay(tried, runtime.retry_base)).unwrap_or_default())
            }
            _ => None,
        };
        match system(db).record_webhook_attempt(&delivery, &outcome, duration_ms, retry_at, now).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(delivery = %delivery.delivery.id, "a webhook delivery's lease ran out while it was sent"),
            Err(e) => tracing::warn!(error = %e, delivery = %delivery.delivery.id, "recording a webhook try failed"),
        }
    });
    futures_util::future::join_all(sends).await;
    Ok(count)
}

/// One try: signed with every live secret, posted, judged by its status.
async fn send(runtime: &WebhookRuntime, claimed: &ClaimedDelivery) -> AttemptOutcome {
    let failed = |error: String| AttemptOutcome::Failed { status_code: None, error };
    if !claimed.enabled {
        return failed("the endpoint is disabled".to_owned());
    }
    let context = secret_context(claimed.tenant_id, claimed.delivery.endpoint_id);
    let mut secrets: Vec<Secret<String>> = Vec::with_capacity(claimed.sealed_secrets.len());
    for sealed in &claimed.sealed_secrets {
        match runtime.sealer.open(sealed, &context) {
            Ok(secret) => secrets.push(secret),
            Err(_) => {
                return failed("the endpoint's secret cannot be opened (was SECRET_KEY changed?)".to_owned());
            }
        }
    }
    let id = claimed.delivery.id.to_string();
    let timestamp = Utc::now().timestamp();
    let body = claimed.delivery.payload.as_bytes();
    let secret_refs: Vec<&Secret<String>> = secrets.iter().collect();
    let Ok(signature) = auth::webhook_signature::signature_header(&secret_refs, &id, timestamp, body) else {
        return failed("the endpoint's secret is malformed".to_owned());
    };
    let request = match runtime.outbound.post(&claimed.url) {
        Ok(request) => request,
        Err(e) => return failed(e.to_string()),
    };
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HeaderName::from_static("webhook-id"), &id)
        .header(header::HeaderName::from_static("webhook-timestamp"), &timestamp.to_string())
        .header(header::HeaderName::from_static("webhook-signature"), &signature)
        .body(body.to_vec());
    match request.send(SEND_TIMEOUT).await {
        Ok(response) if response.status().is_success() => {
            AttemptOutcome::Delivered { status_code: response.status().as_u16() }
        }
        Ok(response) => AttemptOutcome::Failed {
            status_code: Some(response.status().as_u16()),
            error: format!("the endpoint answered {}", response.status()),
        },
        Err(e) => failed(e.to_string()),
    }
}
