//! Fetches by release label, counted per version served and UTC day: the numbers an A/B split
//! is judged by. The hot path only adds to a map in memory; every few seconds (and at
//! shutdown) the counts are added to the database, where several instances' counts sum up.
//! A crash loses at most the last few seconds' counts.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::NaiveDate;
use domain::release::LabelName;
use domain::{PromptId, TenantId};
use persistence::{Database, StoreError, TenantScope};

/// Distinct (prompt, label, version, day) counts held between flushes at most; past it, new
/// ones are dropped (with a warning) until the next flush. Real labels are far fewer.
const MAX_PENDING: usize = 100_000;

type Key = (TenantId, PromptId, LabelName, u32, NaiveDate);

#[derive(Default)]
pub struct FetchCounts {
    pending: Mutex<HashMap<Key, (TenantScope, u64)>>,
}

impl FetchCounts {
    /// One fetch of `prompt` by `label` that served `version`, on `day`.
    pub fn count(
        &self,
        scope: TenantScope,
        prompt: PromptId,
        label: &LabelName,
        version: u32,
        day: NaiveDate,
    ) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let key = (scope.tenant_id(), prompt, label.clone(), version, day);
        if let Some((_, fetches)) = pending.get_mut(&key) {
            *fetches += 1;
        } else if pending.len() < MAX_PENDING {
            pending.insert(key, (scope, 1));
        } else {
            tracing::warn!("too many distinct label fetch counts between flushes; one was dropped");
        }
    }

    /// Adds what was counted so far to the database. What fails to be written is kept for the
    /// next flush.
    pub async fn flush(&self, db: &Database) -> Result<(), StoreError> {
        let taken = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut by_tenant: HashMap<TenantId, (TenantScope, Vec<_>)> = HashMap::new();
        for ((tenant, prompt, label, version, day), (scope, fetches)) in taken {
            by_tenant
                .entry(tenant)
                .or_insert_with(|| (scope, Vec::new()))
                .1
                .push((prompt, label, version, day, fetches));
        }
        let mut failure = None;
        for (_, (scope, counts)) in by_tenant {
            if let Err(e) = db.tenant(scope).add_label_fetches(&counts).await {
                // The tenant's counts wait for the next flush. (A chunk written before the
                // failure is counted again then: a rare over-count, never a loss.)
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                for (prompt, label, version, day, fetches) in counts {
                    let key = (scope.tenant_id(), prompt, label, version, day);
                    pending.entry(key).or_insert((scope, 0)).1 += fetches;
                }
                failure = Some(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}
