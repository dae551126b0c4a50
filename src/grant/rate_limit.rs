//! [`RateLimit`]: how many requests a token may make per period.

use std::num::NonZeroU32;
use std::time::Duration;

/// The longest period a rate limit can have: a century (the limiter counts nanoseconds).
const MAX_PERIOD: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// At most `requests` requests per `period`, replenished evenly: "100 per 10 s" admits a burst
/// of 100, then one more every 100 ms (GCRA, the generic cell rate algorithm). Set on a token
/// when it is issued ([`NewToken::rate_limit`](crate::NewToken::rate_limit)), or as a default
/// of the `RateLimitLayer` ([`limit`](crate::limit)).
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::RateLimit;
///
/// let limit = RateLimit::new(100, Duration::from_secs(10)).unwrap();
/// assert_eq!((limit.requests(), limit.period()), (100, Duration::from_secs(10)));
/// assert!(RateLimit::new(0, Duration::from_secs(10)).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RateLimit {
    requests: NonZeroU32,
    period: Duration,
}

impl RateLimit {
    /// `requests` per `period`; `None` unless `requests` is at least 1, `period` at most a
    /// century, and at least one nanosecond per request.
    /// A `const fn`, so a fixed limit can be a constant.
    #[must_use]
    pub const fn new(requests: u32, period: Duration) -> Option<Self> {
        let Some(requests) = NonZeroU32::new(requests) else { return None };
        let nanos = period.as_nanos();
        if nanos <= MAX_PERIOD.as_nanos() && nanos >= requests.get() as u128 {
            Some(RateLimit { requests, period })
        } else {
            None
        }
    }

    /// `requests` per second.
    #[must_use]
    pub fn per_second(requests: u32) -> Option<Self> {
        RateLimit::new(requests, Duration::from_secs(1))
    }

    /// `requests` per minute.
    #[must_use]
    pub fn per_minute(requests: u32) -> Option<Self> {
        RateLimit::new(requests, Duration::from_secs(60))
    }

    /// How many requests a full period admits (also the largest burst).
    #[must_use]
    pub fn requests(&self) -> u32 {
        self.requests.get()
    }

    /// The period.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The time one request's allowance takes to come back: `period / requests`.
    pub(crate) fn interval(&self) -> Duration {
        self.period / self.requests.get()
    }

    #[cfg(feature = "rate-limit")]
    pub(crate) fn nonzero_requests(&self) -> NonZeroU32 {
        self.requests
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_limits_are_refused() {
        assert!(RateLimit::new(1, Duration::ZERO).is_none());
        assert!(RateLimit::new(10, Duration::from_nanos(9)).is_none());
        assert!(RateLimit::new(10, Duration::from_nanos(10)).is_some());
        assert!(RateLimit::new(1, Duration::MAX).is_none());
        assert!(RateLimit::new(1_000_000_000, Duration::from_secs(1)).is_some());
        assert!(RateLimit::new(u32::MAX, Duration::from_secs(1)).is_none(), "under a nanosecond each");
        assert_eq!(RateLimit::per_minute(60).unwrap().interval(), Duration::from_secs(1));
    }
}
