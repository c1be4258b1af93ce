//! A short-lived in-process cache for the hot read path: who a bearer credential belongs to, and
//! the answers of `GET /api/v1/prompts/{prompt}`. Integrations fetch the same prompts with the
//! same token on every request they serve; without this each fetch costs three queries.
//!
//! Consistency: every successful change made through this process (a request that writes,
//! answered 2xx: revoking a token, signing out, changing a role, editing a prompt…) marks its
//! tenant as changed, and an entry of that tenant read before the change is never served
//! again — so this process sees its own changes at once. Changes are per tenant: one tenant's
//! edits leave every other tenant's entries warm; a system administrator's change (which can
//! touch any tenant) marks them all. Reads that happen to be POSTs (render, run, token counts)
//! change nothing. Changes made elsewhere (other replicas, the admin command line) are seen
//! within `READ_CACHE_SECONDS`. `READ_CACHE_SECONDS=0` turns the cache off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix_web::http::header::EntityTag;
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use domain::release::Split;
use domain::{PromptId, TenantId, UserId};
use moka::sync::Cache;

use crate::access::Principal;

/// At most this many entries of each kind.
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
struct Entry<T> {
    /// The tick at which the read that produced it started.
    read_at: u64,
    value: T,
}

/// A checked credential's caller, and when the credential expires.
#[derive(Clone)]
struct CachedPrincipal {
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
}

/// A prompt answer as it was sent: its ETag and its JSON body, and which version it is.
#[derive(Clone)]
pub struct CachedPrompt {
    pub etag: EntityTag,
    pub body: Bytes,
    pub prompt_id: PromptId,
    pub version: u32,
}

/// What a fetch may answer: one prompt answer, or one per arm of a label's split.
#[derive(Clone)]
pub struct CachedRelease {
    pub answers: Arc<[CachedPrompt]>,
    pub split: Option<Split>,
}

pub struct ReadCache {
    /// Counts changes; a read notes it before reading ([`Self::epoch`]).
    tick: AtomicU64,
    /// The tick of the last change that may touch every tenant.
    all_changed_at: AtomicU64,
    /// The tick of each tenant's last change (one entry per tenant that changed).
    tenant_changed_at: RwLock<HashMap<TenantId, u64>>,
    /// Keyed by the SHA-256 of the credential; expires with the credential at the latest.
    principals: Option<Cache<String, Entry<CachedPrincipal>>>,
    /// Keyed by the viewer and the `{prompt}` path segment as sent.
    prompts: Option<Cache<(UserId, String), Entry<CachedRelease>>>,
}

impl ReadCache {
    pub fn new(time_to_live: Duration) -> Self {
        let enabled = !time_to_live.is_zero();
        Self {
            tick: AtomicU64::new(0),
            all_changed_at: AtomicU64::new(0),
            tenant_changed_at: RwLock::new(HashMap::new()),
            principals: enabled
                .then(|| Cache::builder().max_capacity(CAPACITY).time_to_live(time_to_live).build()),
            prompts: enabled
                .then(|| Cache::builder().max_capacity(CAPACITY).time_to_live(time_to_live).build()),
        }
    }

    /// Where a read starts; pass it back when caching what was read.
    pub fn epoch(&self) -> u64 {
        self.tick.load(Ordering::Acquire)
    }

    /// Makes what was read so far of `tenant` (of every tenant, for `None`) unusable: called
    /// after each successful change.
    pub fn invalidate(&self, tenant: Option<TenantId>) {
        let tick = self.tick.fetch_add(1, Ordering::AcqRel) + 1;
        match tenant {
            None => self.all_changed_at.store(tick, Ordering::Release),
            Some(tenant) => {
                let mut changed = self.tenant_changed_at.write().unwrap_or_else(|e| e.into_inner());
                changed.insert(tenant, tick);
            }
        }
    }

    /// Whether a read of `tenant` that started at `read_at` is still current.
    fn fresh(&self, tenant: TenantId, read_at: u64) -> bool {
        let changed = self.tenant_changed_at.read().unwrap_or_else(|e| e.into_inner());
        self.all_changed_at.load(Ordering::Acquire) <= read_at
            && changed.get(&tenant).is_none_or(|&at| at <= read_at)
    }

    pub fn principal(&self, credential_hash: &str, now: DateTime<Utc>) -> Option<Principal> {
        let entry = self.principals.as_ref()?.get(credential_hash)?;
        let CachedPrincipal { principal, expires_at } = entry.value;
        let live = self.fresh(principal.tenant.id, entry.read_at) && expires_at.is_none_or(|at| now < at);
        live.then_some(principal)
    }

    pub fn keep_principal(
        &self,
        read_at: u64,
        credential_hash: String,
        principal: &Principal,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if let Some(cache) = &self.principals {
            let value = CachedPrincipal { principal: principal.clone(), expires_at };
            cache.insert(credential_hash, Entry { read_at, value });
        }
    }

    /// A prompt answer for `viewer`, a user of `tenant`.
    pub fn prompt(&self, tenant: TenantId, viewer: UserId, key: &str) -> Option<CachedRelease> {
        let entry = self.prompts.as_ref()?.get(&(viewer, key.to_owned()))?;
        self.fresh(tenant, entry.read_at).then_some(entry.value)
    }

    pub fn keep_prompt(&self, read_at: u64, viewer: UserId, key: &str, prompt: CachedRelease) {
        if let Some(cache) = &self.prompts {
            cache.insert((viewer, key.to_owned()), Entry { read_at, value: prompt });
        }
    }
}
