//! [`Buckets`]: one GCRA limiter per key (a token id, subject or organization), created on
//! first use and evicted once idle.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::Clock;
use crate::grant::RateLimit;

/// The limiter's view of the crate's [`Clock`]: nanoseconds since the Unix epoch, the system
/// clock read coarsely (a millisecond-precise, cheap read; a limiter counting whole requests
/// per period does not need more).
#[derive(Clone, Debug)]
struct LimiterClock(Clock);

impl LimiterClock {
    fn read(&self) -> Nanos {
        Nanos::new(self.0.coarse_unix_millis().saturating_mul(1_000_000))
    }
}

impl GovernorClock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        self.read()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, LimiterClock, StateInformationMiddleware>;

/// One key's limiter, with the limit it enforces and when it was last used.
struct Bucket {
    limit: RateLimit,
    /// `limit.interval()`, divided once.
    interval: Duration,
    limiter: Limiter,
    /// Nanoseconds since the Unix epoch, as [`LimiterClock`] reads them.
    last_used: AtomicU64,
}

/// What a check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted; `remaining` more requests would be admitted right now, and the bucket is
    /// full again after `reset` (both 0 unless the check asked for them).
    Admitted { remaining: u32, reset: Duration },
    /// Refused; the next request is admitted after `retry_after`.
    Refused { retry_after: Duration },
}

/// Map sizes below this are never swept.
const SWEEP_MIN: usize = 1024;

/// The limiters of one layer (and of every service it made).
pub(crate) struct Buckets {
    map: papaya::HashMap<Box<str>, Bucket, foldhash::fast::RandomState>,
    clock: LimiterClock,
    /// The map is swept of idle buckets when it reaches this size.
    sweep_at: AtomicUsize,
}

impl Buckets {
    pub(crate) fn new(clock: Clock) -> Self {
        Buckets {
            map: papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()),
            clock: LimiterClock(clock),
            sweep_at: AtomicUsize::new(SWEEP_MIN),
        }
    }

    /// Counts one request of `key` against `limit`.
    ///
    /// Keys that share a bucket (every token of one subject, say) but carry different limits
    /// get one bucket per limit: a token with a looser limit never resets a stricter one's
    /// count.
    /// With `detail`, an admission says how many requests remain and when the bucket is
    /// full (two divisions: only for responses that show them).
    pub(crate) fn check(&self, key: &str, limit: RateLimit, detail: bool) -> Decision {
        self.check_at(key, limit, detail, self.clock.read())
    }

    fn check_at(&self, key: &str, limit: RateLimit, detail: bool, now: Nanos) -> Decision {
        let map = self.map.pin();
        let key = match map.get(key) {
            Some(bucket) if bucket.limit == limit => return bucket.check(now, detail),
            // Rare: a key whose tokens carry several limits. Kept under a longer key.
            Some(_) => {
                format!("{key}\u{0}{}/{}", limit.requests(), limit.period().as_nanos()).into_boxed_str()
            }
            None => key.into(),
        };
        let decision = map.get_or_insert_with(key, || self.bucket(limit)).check(now, detail);
        // Only a new key grows the map (and counting its keys is not free: checked here only).
        if map.len() >= self.sweep_at.load(Ordering::Relaxed) {
            self.sweep(now);
        }
        decision
    }

    fn bucket(&self, limit: RateLimit) -> Bucket {
        // `RateLimit::new` keeps the interval at one nanosecond or more, so the quota exists.
        let quota = Quota::with_period(limit.interval()).map(|q| q.allow_burst(limit.nonzero_requests()));
        let quota = quota.unwrap_or_else(|| Quota::per_second(limit.nonzero_requests()));
        let limiter = RateLimiter::direct_with_clock(quota, self.clock.clone())
            .with_middleware::<StateInformationMiddleware>();
        Bucket { limit, interval: limit.interval(), limiter, last_used: AtomicU64::new(0) }
    }

    /// Drops every bucket unused for a whole period: it is full again, so dropping it loses
    /// nothing (a new one starts full). One caller sweeps; the others go on.
    fn sweep(&self, now: Nanos) {
        let threshold = self.sweep_at.load(Ordering::Relaxed);
        // Whoever moves the threshold sweeps.
        if self.sweep_at.compare_exchange(threshold, usize::MAX, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return;
        }
        let map = self.map.pin();
        map.retain(|_, bucket| {
            let idle = now.as_u64().saturating_sub(bucket.last_used.load(Ordering::Relaxed));
            u128::from(idle) < bucket.limit.period().as_nanos()
        });
        self.sweep_at.store((map.len() * 2).max(SWEEP_MIN), Ordering::Relaxed);
    }

    /// How many keys have a bucket.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

impl Bucket {
    fn check(&self, now: Nanos, detail: bool) -> Decision {
        // A plain store, and only when the (millisecond) clock moved: no read-modify-write per
        // request. A racing older store can only make the bucket look idle a little earlier
        // than it is, by less than the time between the racing reads; sweeping waits a whole
        // period on top of that.
        if self.last_used.load(Ordering::Relaxed) < now.as_u64() {
            self.last_used.store(now.as_u64(), Ordering::Relaxed);
        }
        match self.limiter.check() {
            Ok(_) if !detail => Decision::Admitted { remaining: 0, reset: Duration::ZERO },
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.limit.requests().saturating_sub(remaining);
                Decision::Admitted { remaining, reset: self.interval.saturating_mul(used) }
            }
            Err(not_until) => Decision::Refused { retry_after: not_until.wait_time_from(now) },
        }
    }
}

impl std::fmt::Debug for Buckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buckets").field("keys", &self.map.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn clock() -> Clock {
        Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    #[test]
    fn a_burst_then_one_per_interval() {
        let clock = clock();
        let buckets = Buckets::new(clock.clone());
        let limit = RateLimit::new(3, Duration::from_secs(3)).unwrap();
        let remaining: Vec<Decision> = (0..3).map(|_| buckets.check("k", limit, true)).collect();
        assert_eq!(
            remaining,
            [2, 1, 0]
                .map(|r| Decision::Admitted { remaining: r, reset: Duration::from_secs(3 - u64::from(r)) })
        );
        assert_eq!(
            buckets.check("k", limit, true),
            Decision::Refused { retry_after: Duration::from_secs(1) }
        );
        assert!(matches!(buckets.check("other", limit, true), Decision::Admitted { remaining: 2, .. }));
        clock.advance(Duration::from_millis(999));
        assert!(matches!(buckets.check("k", limit, true), Decision::Refused { .. }));
        clock.advance(Duration::from_millis(1));
        assert!(matches!(buckets.check("k", limit, true), Decision::Admitted { remaining: 0, .. }));
    }

    #[test]
    fn a_key_with_two_limits_keeps_two_counts() {
        let buckets = Buckets::new(clock());
        let strict = RateLimit::new(1, Duration::from_secs(60)).unwrap();
        let loose = RateLimit::new(100, Duration::from_secs(60)).unwrap();
        assert!(matches!(buckets.check("org", strict, false), Decision::Admitted { .. }));
        assert!(matches!(buckets.check("org", loose, false), Decision::Admitted { .. }));
        assert!(matches!(buckets.check("org", strict, false), Decision::Refused { .. }));
    }

    #[test]
    fn idle_buckets_are_swept_and_busy_ones_kept() {
        let clock = clock();
        let buckets = Buckets::new(clock.clone());
        let limit = RateLimit::new(1, Duration::from_secs(10)).unwrap();
        assert!(matches!(buckets.check("busy", limit, false), Decision::Admitted { .. }));
        clock.advance(Duration::from_secs(11));
        for i in 0..SWEEP_MIN {
            buckets.check(&format!("k{i}"), limit, false);
        }
        // The sweep ran when the map reached its threshold: the idle buckets of the first
        // pass are gone, the ones made in this instant stay.
        assert!(buckets.len() <= SWEEP_MIN, "{}", buckets.len());
        assert!(
            matches!(buckets.check("busy", limit, false), Decision::Admitted { .. }),
            "starts full again"
        );
        assert!(matches!(buckets.check("k1", limit, false), Decision::Refused { .. }), "still counted");
    }
}
