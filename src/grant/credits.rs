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
/// ([`TokenInfo::credits`](crate::TokenInfo::credits)): three figures that add up to the
/// current period's [`allowance`](Self::allowance).
///
/// | figure | what it counts |
/// |---|---|
/// | [`remaining`](Self::remaining) | credits no instance holds: what requests can still spend this period |
/// | [`leased`](Self::leased) | credits instances of a shared store took in leases and have not accounted for yet: neither available to others nor known to be spent |
/// | [`spent`](Self::spent) | the rest of the allowance: credits gone for good this period |
///
/// Requests have used at most `spent + leased` credits this period: an instance spends its
/// lease in memory, so part of `leased` may be used already, and the unused part comes back
/// to `remaining` when the instance gives its lease back. The memory store holds no leases:
/// there `leased` is 0 and `spent` is exact.
///
/// ```
/// use tower_bearer::limit::CreditBalance;
///
/// // 1 000 for the period; an instance holds a lease of 50; 150 were accounted as spent.
/// let balance = CreditBalance::new(800, 50, None).with_allowance(1_000);
/// assert_eq!(balance.spent(), Some(150));
/// assert_eq!(CreditBalance::new(800, 50, None).spent(), None, "allowance unknown");
/// ```
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
    /// The credits the current period started with: the plan's initial credits in the first
    /// period, its refill amount after a refill; `None` where the store does not know it.
    pub allowance: Option<u64>,
}

impl CreditBalance {
    /// A balance of `remaining` credits, `leased` of them in leases, refilled at
    /// `next_refill_at`, of an allowance not given (see [`with_allowance`](Self::with_allowance)).
    #[must_use]
    pub fn new(remaining: u64, leased: u64, next_refill_at: Option<SystemTime>) -> Self {
        CreditBalance { remaining, leased, next_refill_at, allowance: None }
    }

    /// With the credits the current period started with.
    #[must_use]
    pub fn with_allowance(mut self, allowance: u64) -> Self {
        self.allowance = Some(allowance);
        self
    }

    /// The credits of the current period that are gone for good: `allowance - remaining -
    /// leased` (`None` if the allowance is unknown). They were used by requests, except the
    /// unused part of a lease that can no longer come back to this token (a rotated
    /// predecessor's). Requests have used at most `spent + leased` this period.
    #[must_use]
    pub fn spent(&self) -> Option<u64> {
        Some(self.allowance?.saturating_sub(self.remaining).saturating_sub(self.leased))
    }

    /// The balance at `now` of credits on `plan`: this one, unless a refill has come due since
    /// the store wrote it (a shared store writes a refill at the next spend), then the balance
    /// that refill sets (the refill amount, nothing leased: leases of an ended period are void).
    #[must_use]
    pub fn as_of(self, plan: Credits, now: SystemTime) -> Self {
        let (Some(next), Some((_, period))) = (self.next_refill_at, plan.refill()) else { return self };
        let Some(start) = next.checked_sub(period).filter(|_| now >= next) else { return self };
        match plan.refill_due(start, now) {
            Some((period_start, amount)) => CreditBalance {
                remaining: amount,
                leased: 0,
                next_refill_at: period_start.checked_add(period),
                allowance: Some(amount),
            },
            None => self,
        }
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

    #[test]
    fn a_balance_tells_remaining_leased_and_spent_apart() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let plan = Credits::new(100).refilled(60, Duration::from_secs(100));
        let balance = CreditBalance::new(40, 50, Some(at(1_100))).with_allowance(100);
        assert_eq!(balance.spent(), Some(10), "the lease is neither remaining nor spent");
        assert_eq!(CreditBalance::new(40, 50, None).spent(), None);
        assert_eq!(CreditBalance::new(90, 50, None).with_allowance(100).spent(), Some(0), "never below 0");
        // Before the refill, as stored; at and after it, what the refill sets.
        assert_eq!(balance.as_of(plan, at(1_099)), balance);
        let refilled = CreditBalance::new(60, 0, Some(at(1_300))).with_allowance(60);
        assert_eq!(balance.as_of(plan, at(1_250)), refilled);
        assert_eq!(refilled.spent(), Some(0));
        assert_eq!(balance.as_of(Credits::new(100), at(5_000)), balance, "never refilled");
    }
}
