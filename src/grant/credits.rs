//! [`Credits`]: a number of uses a token carries, optionally refilled on a schedule, and
//! [`CreditBalance`], what is left of them.

use std::time::{Duration, SystemTime};

/// The shortest refill period: refilling faster is a rate limit ([`RateLimit`](crate::RateLimit)).
const MIN_REFILL_PERIOD: Duration = Duration::from_secs(1);

/// A number of uses: each request the [`CreditsLayer`](crate::CreditsLayer) admits spends one
/// (or the cost the route declares); at zero the token is refused with 429 until the next
/// refill, if it has one. Set on a token when it is issued
/// ([`NewToken::credits`](crate::NewToken::credits)).
///
/// A refill *sets* the balance to its amount at the start of every period, counted from the
/// token's issue: unused credits do not carry over.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::Credits;
///
/// // 1 000 calls, then 1 000 again every 30 days.
/// let monthly = Credits::new(1_000).refilled(1_000, Duration::from_secs(30 * 24 * 3600));
/// assert_eq!(monthly.refill(), Some((1_000, Duration::from_secs(30 * 24 * 3600))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credits {
    initial: u64,
    refill: Option<(u64, Duration)>,
}

impl Credits {
    /// `initial` uses, never refilled.
    #[must_use]
    pub fn new(initial: u64) -> Self {
        Credits { initial, refill: None }
    }

    /// Refilled to `amount` every `period` (at least one second: a shorter one counts as one
    /// second).
    #[must_use]
    pub fn refilled(mut self, amount: u64, period: Duration) -> Self {
        self.refill = Some((amount, period.max(MIN_REFILL_PERIOD)));
        self
    }

    /// The uses the token starts with.
    #[must_use]
    pub fn initial(&self) -> u64 {
        self.initial
    }

    /// The refill amount and period, if the credits are refilled.
    #[must_use]
    pub fn refill(&self) -> Option<(u64, Duration)> {
        self.refill
    }

    /// The start of the refill period that contains `now`, for credits whose first period
    /// started at `start`, and the balance a refill at that start set: `None` while `now` is
    /// still in the period that starts at `start` (or the credits are never refilled).
    pub(crate) fn refill_due(&self, start: SystemTime, now: SystemTime) -> Option<(SystemTime, u64)> {
        let (amount, period) = self.refill?;
        let elapsed = now.duration_since(start).ok()?;
        let periods = elapsed.as_nanos() / period.as_nanos();
        if periods == 0 {
            return None;
        }
        let offset = period.checked_mul(u32::try_from(periods).ok()?)?;
        Some((start.checked_add(offset)?, amount))
    }
}

/// What is left of a token's [`Credits`], as the store knows it
/// ([`TokenInfo::credits`](crate::TokenInfo::credits)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreditBalance {
    /// Credits not yet spent nor handed to an instance.
    pub remaining: u64,
    /// Credits instances of a shared store hold in leases they have not accounted for yet
    /// (always 0 in memory): between `remaining` and `remaining + leased` uses are left. An
    /// instance's unspent lease comes back when it shuts down.
    pub leased: u64,
    /// When the next refill sets the balance back to its amount, if the credits are refilled.
    pub next_refill_at: Option<SystemTime>,
}

impl CreditBalance {
    /// A balance of `remaining` credits, none leased, refilled at `next_refill_at`.
    #[must_use]
    pub fn new(remaining: u64, leased: u64, next_refill_at: Option<SystemTime>) -> Self {
        CreditBalance { remaining, leased, next_refill_at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_start_at_whole_periods_from_the_first() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let daily = Credits::new(5).refilled(10, Duration::from_secs(100));
        assert_eq!(daily.refill_due(start, start + Duration::from_secs(99)), None);
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(daily.refill_due(start, start + Duration::from_secs(100)), Some((at(1_100), 10)));
        assert_eq!(daily.refill_due(start, start + Duration::from_secs(350)), Some((at(1_300), 10)));
        assert_eq!(daily.refill_due(start, start - Duration::from_secs(1)), None, "clock went back");
        assert_eq!(Credits::new(5).refill_due(start, at(1_000_000)), None);
        assert_eq!(Credits::new(1).refilled(1, Duration::ZERO).refill(), Some((1, Duration::from_secs(1))));
    }
}
