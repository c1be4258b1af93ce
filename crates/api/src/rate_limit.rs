//! The general request rate limit of the API (`/api/…`): per credential for authenticated
//! requests (`RATE_LIMIT_PER_MINUTE`, keyed by the session or API token), per client address
//! for anonymous ones (`RATE_LIMIT_ANONYMOUS_PER_MINUTE`). Over the limit: `429 rate_limited`
//! with `Retry-After`. `0` turns a limit off. Health and readiness (`/healthz`, `/readyz`) and
//! the web app's static files are not limited.
//!
//! Each allowance refills evenly over the minute and may be spent at once (a burst of a whole
//! minute's worth). Two middlewares share the work, around authentication in
//! [`crate::access::enforce`]:
//! - [`by_address`], outside it, charges anonymous requests to their address before anything
//!   else runs. A request that carries a credential passes on to authentication — unless its
//!   address sent a credential that failed authentication lately: then it is charged to the
//!   address too, so guessing tokens costs no more than any other anonymous request.
//! - [`by_credential`], inside it, charges an authenticated request to its credential, and a
//!   request that carried a credential to a public route (such as sign-in) to its address.
//!
//! Memory is bounded: keys whose allowance is full again are dropped by the hourly housekeeping
//! ([`RateLimits::forget_idle`]) and, when a limiter holds [`MAX_KEYS`] keys, at once; if it
//! still holds that many, the keys it holds keep their allowances and every new key shares one
//! until there is room again.
//! Counts are per process: with several replicas each enforces the limit.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use domain::{ApiTokenId, SessionId};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};
use moka::sync::Cache;

use crate::access::{Credential, Principal};
use crate::client;
use crate::error::ApiError;
use crate::state::AppState;

/// Keys one limiter holds at most before they share one allowance.
pub const MAX_KEYS: usize = 100_000;
/// A full limiter is swept at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How long an address that sent a failing credential stays charged for credentialed requests.
const SUSPECT_FOR: Duration = Duration::from_secs(60);

/// The configured allowances (requests per minute; `0`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_credential: u32,
    pub per_address: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Session(SessionId),
    ApiToken(ApiTokenId),
    Address(String),
    /// Every key the limiter had no room for.
    Shared,
}

/// Marks a request [`by_address`] has charged already.
#[derive(Clone, Copy)]
struct ChargedToAddress;

pub struct RateLimits {
    credentials: Option<Limiter>,
    addresses: Option<Limiter>,
    /// Addresses that recently sent a credential that failed authentication.
    suspects: Cache<String, ()>,
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        Self {
            credentials: Limiter::new(settings.per_credential, MAX_KEYS),
            addresses: Limiter::new(settings.per_address, MAX_KEYS),
            suspects: Cache::builder().max_capacity(MAX_KEYS as u64).time_to_live(SUSPECT_FOR).build(),
        }
    }

    /// Drops the keys whose allowance is full again (they are as good as new) and frees the
    /// memory they held.
    pub fn forget_idle(&self) {
        for limiter in [&self.credentials, &self.addresses].into_iter().flatten() {
            limiter.sweep();
            limiter.limiter.shrink_to_fit();
        }
        self.suspects.run_pending_tasks();
    }

    fn charge_address(&self, addr: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.addresses else {
            return Ok(());
        };
        limiter.check(Key::Address(addr.to_owned())).map_err(|wait| {
            ApiError::rate_limited("Too many requests from your address; wait a moment.", wait)
        })
    }

    fn charge_credential(&self, credential: Credential) -> Result<(), ApiError> {
        let Some(limiter) = &self.credentials else {
            return Ok(());
        };
        let key = match credential {
            Credential::Session(id) => Key::Session(id),
            Credential::ApiToken { id, .. } => Key::ApiToken(id),
        };
        limiter
            .check(key)
            .map_err(|wait| ApiError::rate_limited("Too many requests with this token; wait a moment.", wait))
    }
}

/// One keyed limiter with a bound on its keys.
struct Limiter {
    limiter: RateLimiter<Key, BoundedStore, DefaultClock, NoOpMiddleware<<DefaultClock as Clock>::Instant>>,
    max_keys: usize,
    last_sweep: Mutex<Instant>,
}

impl Limiter {
    fn new(per_minute: u32, max_keys: usize) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        let store = BoundedStore { map: DashMapStateStore::default(), max_keys };
        Some(Self {
            limiter: RateLimiter::new(Quota::per_minute(per_minute), store, DefaultClock::default()),
            max_keys,
            last_sweep: Mutex::new(Instant::now()),
        })
    }

    /// Takes one request of `key`'s allowance, or says how long until one is free.
    fn check(&self, key: Key) -> Result<(), Duration> {
        if self.limiter.len() >= self.max_keys {
            self.sweep_if_due();
        }
        self.limiter.check_key(&key).map_err(|not_until| {
            not_until.wait_time_from(DefaultClock::default().now()).max(Duration::from_secs(1))
        })
    }

    fn sweep_if_due(&self) {
        let mut last = self.last_sweep.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= SWEEP_EVERY {
            *last = Instant::now();
            drop(last);
            self.sweep();
        }
    }

    fn sweep(&self) {
        self.limiter.retain_recent();
    }
}

/// governor's map of allowances, holding at most `max_keys` keys (and [`Key::Shared`]): when
/// full, a key it does not hold is measured against the shared allowance.
struct BoundedStore {
    map: DashMapStateStore<Key>,
    max_keys: usize,
}

impl StateStore for BoundedStore {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if self.map.len() >= self.max_keys && !self.map.contains_key(key) {
            return self.map.measure_and_replace(&Key::Shared, f);
        }
        self.map.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<Key> for BoundedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The app state when the request is one that is limited: only the API is; health checks and
/// the web app's files are not.
fn limited(req: &ServiceRequest) -> Option<web::Data<AppState>> {
    if !req.path().starts_with("/api/") {
        return None;
    }
    req.app_data::<web::Data<AppState>>().cloned()
}

/// Charges anonymous requests (and credentialed ones from suspect addresses) to their address.
/// Runs before authentication.
pub async fn by_address(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = limited(&req) else { return Ok(next.call(req).await?.map_into_boxed_body()) };
    let limits = &state.rate_limits;
    let addr = client::address(req.request(), &state.trusted_proxies);
    let has_credential = req.headers().contains_key(AUTHORIZATION);
    if !has_credential || limits.suspects.contains_key(&addr) {
        if let Err(err) = limits.charge_address(&addr) {
            return Ok(req.error_response(err));
        }
        req.extensions_mut().insert(ChargedToAddress);
    }
    let response = next.call(req).await?;
    if has_credential && response.status() == StatusCode::UNAUTHORIZED {
        limits.suspects.insert(addr, ());
    }
    Ok(response.map_into_boxed_body())
}

/// Charges an authenticated request to its credential. Runs after authentication.
pub async fn by_credential(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = limited(&req) else { return Ok(next.call(req).await?.map_into_boxed_body()) };
    let credential = req.extensions().get::<Principal>().map(|principal| principal.credential);
    let charged = match credential {
        Some(credential) => state.rate_limits.charge_credential(credential),
        // A public route called with a credential: not charged yet.
        None if req.extensions().get::<ChargedToAddress>().is_none() => {
            state.rate_limits.charge_address(&client::address(req.request(), &state.trusted_proxies))
        }
        None => Ok(()),
    };
    match charged {
        Ok(()) => Ok(next.call(req).await?.map_into_boxed_body()),
        Err(err) => Ok(req.error_response(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(n: u32) -> Key {
        Key::Address(format!("10.0.{}.{}", n / 256, n % 256))
    }

    #[test]
    fn each_key_has_its_own_allowance() {
        let limiter = Limiter::new(3, MAX_KEYS).unwrap();
        for _ in 0..3 {
            assert!(limiter.check(address(1)).is_ok());
        }
        let wait = limiter.check(address(1)).unwrap_err();
        assert!(wait >= Duration::from_secs(1) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limiter.check(address(2)).is_ok());
    }

    #[test]
    fn zero_is_unlimited() {
        assert!(Limiter::new(0, MAX_KEYS).is_none());
        let limits = RateLimits::new(RateLimitSettings { per_credential: 0, per_address: 0 });
        for _ in 0..10_000 {
            assert!(limits.charge_address("10.0.0.1").is_ok());
        }
    }

    #[test]
    fn a_full_limiter_keeps_its_keys_and_new_ones_share_one_allowance() {
        let limiter = Limiter::new(2, 10).unwrap();
        // Ten keys that each spent part of their allowance stay (they are not as good as new),
        // even through a sweep.
        for n in 0..10 {
            limiter.check(address(n)).unwrap();
        }
        *limiter.last_sweep.lock().unwrap() = Instant::now() - SWEEP_EVERY;
        limiter.check(address(0)).unwrap();
        assert_eq!(limiter.limiter.len(), 10);
        assert!(limiter.check(address(0)).is_err(), "a known key keeps its own allowance");
        assert!(limiter.check(address(1)).is_ok());
        // Further keys share one allowance rather than growing the map.
        assert!(limiter.check(address(100)).is_ok());
        assert!(limiter.check(address(101)).is_ok());
        assert!(limiter.check(address(102)).is_err());
        assert!(limiter.check(address(9)).is_ok(), "known keys are not charged to the shared one");
        assert_eq!(limiter.limiter.len(), 11);
    }

    #[test]
    fn sweeping_drops_the_keys_that_are_as_good_as_new() {
        let limiter = Limiter::new(600, MAX_KEYS).unwrap();
        for n in 0..50 {
            limiter.check(address(n)).unwrap();
        }
        assert_eq!(limiter.limiter.len(), 50);
        // One request of 600 per minute is refilled after 100 ms (governor keeps a key a little
        // longer than that).
        std::thread::sleep(Duration::from_millis(300));
        limiter.sweep();
        assert_eq!(limiter.limiter.len(), 0);
    }
}
