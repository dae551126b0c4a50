//! [`Leases`]: the credits this instance holds, per token, and the arithmetic of leases,
//! their deadlines and refills (no database here).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tower_bearer::limit::Spend;
use tower_bearer::{Credits, TokenId};

use crate::metering::Account;

/// Compare-and-set attempts of one lease: each failure means another instance's lease went
/// through, so running out takes more instances racing on one token than this.
pub(crate) const LEASE_ATTEMPTS: usize = 16;

/// How long an instance that found a token's credits exhausted answers so without asking the
/// database again (a lease another instance returns shows after this).
pub(crate) const EXHAUSTED_RECHECK_US: i64 = 1_000_000;

/// This instance's leases, by credit account.
pub(crate) struct Leases {
    pub(crate) size: u64,
    /// How long a lease holds in the database without renewal (microseconds).
    pub(crate) term: i64,
    /// This instance's name on its leases in the database: random, one per opened store.
    pub(crate) holder: String,
    pub(crate) accounts: papaya::HashMap<TokenId, Arc<Mutex<Lease>>>,
}

/// What this instance holds of one token's credits.
#[derive(Default)]
pub(crate) struct Lease {
    /// Taken from the database and not spent.
    pub(crate) available: u64,
    /// Taken from the database in this period and not given back.
    pub(crate) taken: u64,
    /// The refill period the lease belongs to (microseconds); `None` before the first lease.
    pub(crate) period_start: Option<i64>,
    /// Until when the database is known to have too few (microseconds).
    pub(crate) exhausted_until: i64,
    /// When the lease's deadline in the database passes unless renewed (microseconds): from
    /// then on another instance may reclaim it, so this one no longer spends from it.
    pub(crate) deadline: i64,
    /// When to renew it (halfway to the deadline).
    pub(crate) renew_at: i64,
    /// When this instance last spent from it.
    pub(crate) last_used: i64,
}

impl Leases {
    pub(crate) fn new(size: u64, term: Duration, holder: String) -> Self {
        let term = i64::try_from(term.as_micros()).unwrap_or(i64::MAX).max(1);
        Leases { size: size.max(1), term, holder, accounts: papaya::HashMap::new() }
    }
}

pub(crate) fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn as_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `plan`'s refill period in microseconds, if it refills.
fn refill_us(plan: Credits) -> Option<(i64, i64)> {
    let (amount, every) = plan.refill()?;
    Some((as_i64(amount), i64::try_from(every.as_micros()).unwrap_or(i64::MAX).max(1)))
}

/// The time until the refill after the period starting at `start`, from `now`.
pub(crate) fn retry_after(plan: Credits, start: Option<i64>, now: i64) -> Option<Duration> {
    let (_, every) = refill_us(plan)?;
    let wait = start?.saturating_add(every).saturating_sub(now);
    Some(Duration::from_micros(as_u64(wait)))
}

/// `account` at `now`: refilled if a period of `plan` has started since its own.
pub(crate) fn refilled(account: Account, plan: Credits, now: i64) -> Account {
    match refill_us(plan) {
        Some((amount, every)) if now >= account.period_start.saturating_add(every) => {
            let periods = (now - account.period_start) / every;
            Account { remaining: amount, leased: 0, period_start: account.period_start + periods * every }
        }
        _ => account,
    }
}

impl Lease {
    /// Answers from what this instance holds, if it can; `None` to ask the database (to
    /// lease more, or to renew the lease first).
    pub(crate) fn spend_locally(&mut self, plan: Credits, cost: u64, now: i64) -> Option<Spend> {
        if let (Some(start), Some((_, every))) = (self.period_start, refill_us(plan))
            && now >= start.saturating_add(every)
        {
            // A refill reset the database's count of leases: what is left here is void.
            *self = Lease::default();
        }
        if self.taken > 0 && now >= self.deadline {
            // Past its deadline another instance may have reclaimed it, as spent.
            self.void();
        }
        if let Some(left) = self.available.checked_sub(cost) {
            if self.renewal_due(now) {
                return None;
            }
            self.available = left;
            self.last_used = now;
            return Some(Spend::Granted);
        }
        (now < self.exhausted_until)
            .then(|| Spend::Exhausted { retry_after: retry_after(plan, self.period_start, now) })
    }

    /// Whether the lease's deadline in the database is to be moved before spending from it.
    pub(crate) fn renewal_due(&self, now: i64) -> bool {
        self.taken > 0 && now >= self.renew_at
    }

    /// Records a lease taken or renewed at `now` for `term`.
    pub(crate) fn held(&mut self, now: i64, term: i64) {
        self.deadline = now.saturating_add(term);
        self.renew_at = now.saturating_add(term / 2);
        self.last_used = now;
    }

    /// Forgets what this instance held (reclaimed, or not to be relied on): nothing to spend,
    /// nothing to give back. The refill period is kept.
    pub(crate) fn void(&mut self) {
        *self = Lease { period_start: self.period_start, ..Lease::default() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refill_starts_the_period_that_contains_now() {
        let plan = Credits::new(10).refilled(7, Duration::from_secs(10));
        let account = Account { remaining: 1, leased: 4, period_start: 0 };
        assert_eq!(refilled(account, plan, 9_999_999), account);
        let after = refilled(account, plan, 25_000_000);
        assert_eq!(after, Account { remaining: 7, leased: 0, period_start: 20_000_000 });
        assert_eq!(retry_after(plan, Some(20_000_000), 25_000_000), Some(Duration::from_secs(5)));
        assert_eq!(refilled(account, Credits::new(10), i64::MAX), account);
    }

    #[test]
    fn a_lease_from_an_ended_period_is_void() {
        let plan = Credits::new(10).refilled(10, Duration::from_secs(1));
        let mut lease = Lease { available: 5, taken: 5, period_start: Some(0), ..Lease::default() };
        lease.held(0, 10_000_000);
        assert_eq!(lease.spend_locally(plan, 1, 500_000), Some(Spend::Granted));
        assert_eq!(lease.spend_locally(plan, 1, 1_000_000), None, "ask the database");
        assert_eq!((lease.available, lease.taken), (0, 0));
    }

    #[test]
    fn a_lease_is_renewed_halfway_and_void_past_its_deadline() {
        let plan = Credits::new(100);
        let mut lease = Lease { available: 50, taken: 50, period_start: Some(0), ..Lease::default() };
        lease.held(0, 1_000);
        assert_eq!(lease.spend_locally(plan, 1, 499), Some(Spend::Granted));
        assert_eq!(lease.last_used, 499);
        assert!(lease.renewal_due(500));
        assert_eq!(lease.spend_locally(plan, 1, 500), None, "renew first");
        assert_eq!(lease.available, 49, "nothing spent meanwhile");
        lease.held(500, 1_000);
        assert_eq!(lease.spend_locally(plan, 1, 600), Some(Spend::Granted));
        assert_eq!(lease.spend_locally(plan, 1, 1_500), None);
        assert_eq!((lease.available, lease.taken, lease.period_start), (0, 0, Some(0)), "void, period kept");
    }
}
