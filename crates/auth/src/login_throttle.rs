//! Sign-in throttling, in memory. Failures are counted in three buckets within a window:
//! per account and client address (slows, then refuses), per client address (stops one
//! source from trying many accounts), and per account from every address (stops a spread-out
//! attack, but with a short window so other people's failures cannot lock a user out for long).
//!
//! A refused attempt costs no hashing, so it must not cost an audit row either: each bucket
//! reports its refusals once per window ([`Gate::Closed::report`]), however many arrive.
//!
//! One server process keeps its own counts; several replicas each enforce the limits.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle ones are swept.
const SWEEP_THRESHOLD: usize = 10_000;
/// The window of the account-wide bucket.
const ACCOUNT_WIDE_WINDOW: Duration = Duration::from_secs(60);
/// The longest a failing sign-in is delayed before its answer.
const MAX_DELAY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failures allowed per account and address within `window`.
    pub max_failures: u32,
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self { max_failures: 5, window: Duration::from_secs(15 * 60) }
    }
}

/// What to do with the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead, after waiting `delay` (zero until failures pile up).
    Open { delay: Duration },
    /// Refuse; the caller may retry after this long. `report` is true for the first refusal
    /// of a closed bucket within its window: record that one, not every refusal.
    Closed { retry_after: Duration, report: bool },
}

pub struct LoginThrottle {
    limits: ThrottleLimits,
    failures: Mutex<HashMap<Key, Bucket>>,
}

/// One bucket's failures within its window, and when its refusals were last reported.
#[derive(Debug, Default)]
struct Bucket {
    failures: VecDeque<Instant>,
    reported_at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    AccountAtAddress(String, String),
    Address(String),
    Account(String),
}

impl LoginThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self { limits, failures: Mutex::new(HashMap::new()) }
    }

    /// Decides on an attempt for `account` (tenant and email) from `addr`.
    pub fn check(&self, account: &str, addr: &str, now: Instant) -> Gate {
        let mut failures = self.lock();
        let mut retry_after = Duration::ZERO;
        let mut report = false;
        for (key, limit, window) in self.buckets(account, addr) {
            let Some(bucket) = failures.get_mut(&key) else {
                continue;
            };
            prune(&mut bucket.failures, window, now);
            if bucket.failures.len() >= limit as usize
                && let Some(oldest) = bucket.failures.front()
            {
                retry_after = retry_after.max(window.saturating_sub(now.duration_since(*oldest)));
                if bucket.reported_at.is_none_or(|at| now.saturating_duration_since(at) >= window) {
                    bucket.reported_at = Some(now);
                    report = true;
                }
            }
        }
        if !retry_after.is_zero() {
            return Gate::Closed { retry_after: retry_after.max(Duration::from_secs(1)), report };
        }
        let pair = failures
            .get(&Key::AccountAtAddress(account.to_owned(), addr.to_owned()))
            .map_or(0, |bucket| bucket.failures.len());
        // Past half the allowance, each further failure costs a growing wait.
        let half = (self.limits.max_failures / 2) as usize;
        let delay = if pair > half && half > 0 {
            (Duration::from_millis(250) * (pair - half) as u32).min(MAX_DELAY)
        } else {
            Duration::ZERO
        };
        Gate::Open { delay }
    }

    pub fn record_failure(&self, account: &str, addr: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() > SWEEP_THRESHOLD {
            let longest = self.limits.window.max(ACCOUNT_WIDE_WINDOW);
            failures.retain(|_, bucket| {
                prune(&mut bucket.failures, longest, now);
                !bucket.failures.is_empty()
            });
        }
        for (key, _, _) in self.buckets(account, addr) {
            failures.entry(key).or_default().failures.push_back(now);
        }
    }

    /// A successful sign-in forgets this account's failures from this address.
    pub fn record_success(&self, account: &str, addr: &str) {
        self.lock().remove(&Key::AccountAtAddress(account.to_owned(), addr.to_owned()));
    }

    fn buckets(&self, account: &str, addr: &str) -> [(Key, u32, Duration); 3] {
        let ThrottleLimits { max_failures, window } = self.limits;
        [
            (Key::AccountAtAddress(account.to_owned(), addr.to_owned()), max_failures, window),
            (Key::Address(addr.to_owned()), max_failures.saturating_mul(4), window),
            (
                Key::Account(account.to_owned()),
                max_failures.saturating_mul(3),
                ACCOUNT_WIDE_WINDOW.min(window),
            ),
        ]
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Bucket>> {
        // A panic while holding the lock leaves only counters behind; keep using them.
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn prune(times: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(900);

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleLimits { max_failures: 4, window: WINDOW })
    }

    #[test]
    fn slows_then_refuses_one_account_from_one_address() {
        let t = throttle();
        let start = Instant::now();
        assert_eq!(t.check("acme/a", "1.1.1.1", start), Gate::Open { delay: Duration::ZERO });
        for i in 0..3 {
            t.record_failure("acme/a", "1.1.1.1", start + Duration::from_secs(i));
        }
        assert_eq!(t.check("acme/a", "1.1.1.1", start), Gate::Open { delay: Duration::from_millis(250) });
        t.record_failure("acme/a", "1.1.1.1", start + Duration::from_secs(3));
        let Gate::Closed { retry_after, .. } = t.check("acme/a", "1.1.1.1", start + Duration::from_secs(10))
        else {
            panic!("the fifth attempt is refused");
        };
        assert_eq!(retry_after, WINDOW - Duration::from_secs(10));
        // Once the window has passed, attempts are welcome again.
        assert!(matches!(
            t.check("acme/a", "1.1.1.1", start + WINDOW + Duration::from_secs(4)),
            Gate::Open { .. }
        ));
    }

    #[test]
    fn other_addresses_are_blocked_only_briefly() {
        let t = throttle();
        let start = Instant::now();
        // An attacker spreads 12 failures over many addresses.
        for i in 0..12 {
            t.record_failure("acme/a", &format!("10.0.0.{i}"), start);
        }
        assert!(
            matches!(t.check("acme/a", "2.2.2.2", start), Gate::Closed { retry_after, .. } if retry_after <= ACCOUNT_WIDE_WINDOW)
        );
        assert!(matches!(t.check("acme/a", "2.2.2.2", start + ACCOUNT_WIDE_WINDOW), Gate::Open { .. }));
    }

    #[test]
    fn one_address_cannot_try_many_accounts() {
        let t = throttle();
        let start = Instant::now();
        for i in 0..16 {
            t.record_failure(&format!("acme/user{i}"), "3.3.3.3", start);
        }
        assert!(matches!(t.check("acme/fresh", "3.3.3.3", start), Gate::Closed { .. }));
        assert!(matches!(t.check("acme/fresh", "4.4.4.4", start), Gate::Open { .. }));
    }

    #[test]
    fn refusals_are_reported_once_per_bucket_and_window() {
        let t = throttle();
        let start = Instant::now();
        for i in 0..16 {
            t.record_failure(&format!("acme/user{i}"), "3.3.3.3", start);
        }
        let reports = |at: Instant| {
            (0..100)
                .filter(|i| {
                    matches!(
                        t.check(&format!("acme/other{i}"), "3.3.3.3", at),
                        Gate::Closed { report: true, .. }
                    )
                })
                .count()
        };
        // The address's bucket is closed: the first refusal reports, the next 99 do not.
        assert_eq!(reports(start + Duration::from_secs(1)), 1);
        assert_eq!(reports(start + Duration::from_secs(2)), 0);
        // A bucket that closes for another reason reports on its own.
        for _ in 0..4 {
            t.record_failure("acme/a", "5.5.5.5", start);
        }
        assert!(matches!(t.check("acme/a", "5.5.5.5", start), Gate::Closed { report: true, .. }));
        assert!(matches!(t.check("acme/a", "5.5.5.5", start), Gate::Closed { report: false, .. }));
        // In the next window, a bucket closed again reports again.
        let later = start + WINDOW;
        for i in 0..16 {
            t.record_failure(&format!("acme/user{i}"), "3.3.3.3", later);
        }
        assert_eq!(reports(later + Duration::from_secs(1)), 1);
    }

    #[test]
    fn success_clears_the_pair_bucket() {
        let t = throttle();
        let start = Instant::now();
        for _ in 0..3 {
            t.record_failure("acme/a", "1.1.1.1", start);
        }
        t.record_success("acme/a", "1.1.1.1");
        assert_eq!(t.check("acme/a", "1.1.1.1", start), Gate::Open { delay: Duration::ZERO });
    }
}
