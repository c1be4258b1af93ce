//! A short-lived in-process cache for the hot read path: who a bearer credential belongs to, and
//! the answers of `GET /api/v1/prompts/{prompt}`. Integrations fetch the same prompts with the
//! same token on every request they serve; without this each fetch costs three queries.
//!
//! Consistency: every successful change made through this process (a non-GET request answered
//! 2xx: revoking a token, signing out, changing a role, editing a prompt…) starts a new epoch,
//! and an entry read in an earlier epoch is never served again — so this process sees its own
//! changes at once. Changes made elsewhere (other replicas, the admin command line) are seen
//! within `READ_CACHE_SECONDS`. `READ_CACHE_SECONDS=0` turns the cache off.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::http::header::EntityTag;
use actix_web::web::Bytes;
use chrono::{DateTime, Utc};
use domain::UserId;
use moka::sync::Cache;

use crate::access::Principal;

/// At most this many entries of each kind.
const CAPACITY: u64 = 100_000;

#[derive(Clone)]
struct Entry<T> {
    epoch: u64,
    value: T,
}

/// A checked credential's caller, and when the credential expires.
#[derive(Clone)]
struct CachedPrincipal {
    principal: Principal,
    expires_at: Option<DateTime<Utc>>,
}

/// A prompt answer as it was sent: its ETag and its JSON body.
#[derive(Clone)]
pub struct CachedPrompt {
    pub etag: EntityTag,
    pub body: Bytes,
}

pub struct ReadCache {
    epoch: AtomicU64,
    /// Keyed by the SHA-256 of the credential; expires with the credential at the latest.
    principals: Option<Cache<String, Entry<CachedPrincipal>>>,
    /// Keyed by the viewer and the `{prompt}` path segment as sent.
    prompts: Option<Cache<(UserId, String), Entry<CachedPrompt>>>,
}

impl ReadCache {
    pub fn new(time_to_live: Duration) -> Self {
        let enabled = !time_to_live.is_zero();
        Self {
            epoch: AtomicU64::new(0),
            principals: enabled
                .then(|| Cache::builder().max_capacity(CAPACITY).time_to_live(time_to_live).build()),
            prompts: enabled
                .then(|| Cache::builder().max_capacity(CAPACITY).time_to_live(time_to_live).build()),
        }
    }

    /// The epoch a read starts in; pass it back when caching what was read.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Makes everything cached so far unusable (after any successful change).
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if let Some(cache) = &self.principals {
            cache.invalidate_all();
        }
        if let Some(cache) = &self.prompts {
            cache.invalidate_all();
        }
    }

    pub fn principal(&self, credential_hash: &str, now: DateTime<Utc>) -> Option<Principal> {
        let entry = self.principals.as_ref()?.get(credential_hash)?;
        let CachedPrincipal { principal, expires_at } = entry.value;
        let live = entry.epoch == self.epoch() && expires_at.is_none_or(|at| now < at);
        live.then_some(principal)
    }

    pub fn keep_principal(
        &self,
        epoch: u64,
        credential_hash: String,
        principal: &Principal,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if let Some(cache) = &self.principals {
            let value = CachedPrincipal { principal: principal.clone(), expires_at };
            cache.insert(credential_hash, Entry { epoch, value });
        }
    }

    pub fn prompt(&self, viewer: UserId, key: &str) -> Option<CachedPrompt> {
        let entry = self.prompts.as_ref()?.get(&(viewer, key.to_owned()))?;
        (entry.epoch == self.epoch()).then_some(entry.value)
    }

    pub fn keep_prompt(&self, epoch: u64, viewer: UserId, key: &str, prompt: CachedPrompt) {
        if let Some(cache) = &self.prompts {
            cache.insert((viewer, key.to_owned()), Entry { epoch, value: prompt });
        }
    }
}
