//! The SQL store's [`CreditLedger`]: each instance leases credits from the database in
//! batches and spends them in memory, so a database write comes once per lease, not once per
//! request, and no two instances ever spend the same credit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tower_bearer::limit::{CreditLedger, Spend, Spending, credit_account};
use tower_bearer::store::BoxError;
use tower_bearer::{Credits, Principal, StoreError, TokenId};

use crate::metering::Account;
use crate::row::micros;
use crate::store::{Inner, SqlTokenStore};

/// Compare-and-set attempts of one lease: each failure means another instance's lease went
/// through, so running out takes more instances racing on one token than this.
const LEASE_ATTEMPTS: usize = 16;

/// How long an instance that found a token's credits exhausted answers so without asking the
/// database again (a lease another instance returns shows after this).
const EXHAUSTED_RECHECK_US: i64 = 1_000_000;

/// This instance's leases, by credit account.
pub(crate) struct Leases {
    size: u64,
    accounts: papaya::HashMap<TokenId, Arc<Mutex<Lease>>>,
}

/// What this instance holds of one token's credits.
#[derive(Default)]
struct Lease {
    /// Taken from the database and not spent.
    available: u64,
    /// Taken from the database in this period and not given back.
    taken: u64,
    /// The refill period the lease belongs to (microseconds); `None` before the first lease.
    period_start: Option<i64>,
    /// Until when the database is known to have too few (microseconds).
    exhausted_until: i64,
}

impl Leases {
    pub(crate) fn new(size: u64) -> Self {
        Leases { size: size.max(1), accounts: papaya::HashMap::new() }
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn as_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `plan`'s refill period in microseconds, if it refills.
fn refill_us(plan: Credits) -> Option<(i64, i64)> {
    let (amount, every) = plan.refill()?;
    Some((as_i64(amount), i64::try_from(every.as_micros()).unwrap_or(i64::MAX).max(1)))
}

/// The time until the refill after the period starting at `start`, from `now`.
fn retry_after(plan: Credits, start: Option<i64>, now: i64) -> Option<Duration> {
    let (_, every) = refill_us(plan)?;
    let wait = start?.saturating_add(every).saturating_sub(now);
    Some(Duration::from_micros(as_u64(wait)))
}

/// `account` at `now`: refilled if a period of `plan` has started since its own.
fn refilled(account: Account, plan: Credits, now: i64) -> Account {
    match refill_us(plan) {
        Some((amount, every)) if now >= account.period_start.saturating_add(every) => {
            let periods = (now - account.period_start) / every;
            Account { remaining: amount, leased: 0, period_start: account.period_start + periods * every }
        }
        _ => account,
    }
}

impl Lease {
    /// Answers from what this instance holds, if it can.
    fn spend_locally(&mut self, plan: Credits, cost: u64, now: i64) -> Option<Spend> {
        if let (Some(start), Some((_, every))) = (self.period_start, refill_us(plan))
            && now >= start.saturating_add(every)
        {
            // A refill reset the database's count of leases: what is left here is void.
            *self = Lease::default();
        }
        if let Some(left) = self.available.checked_sub(cost) {
            self.available = left;
            return Some(Spend::Granted);
        }
        (now < self.exhausted_until)
            .then(|| Spend::Exhausted { retry_after: retry_after(plan, self.period_start, now) })
    }
}

impl Inner {
    /// Leases at least `cost` credits of token `id` (the lease size, or what is left if less)
    /// and spends `cost` of them.
    async fn lease(
        &self,
        id: &TokenId,
        lease: &mut Lease,
        plan: Credits,
        cost: u64,
        now: i64,
    ) -> Result<Spend, BoxError> {
        for _ in 0..LEASE_ATTEMPTS {
            // A metered principal whose row has no credits was deleted meanwhile: nothing left.
            let Some(read) = self.db.credits(id.as_str()).await? else {
                return Ok(Spend::Exhausted { retry_after: None });
            };
            let current = refilled(read, plan, now);
            if lease.period_start != Some(current.period_start) {
                *lease = Lease { period_start: Some(current.period_start), ..Lease::default() };
            }
            let take = self.leases.size.max(cost).min(as_u64(current.remaining));
            if take < cost {
                if current != read {
                    // Record the refill even though it does not cover this request.
                    self.db.take_credits(id.as_str(), read, current).await?;
                }
                lease.exhausted_until = now.saturating_add(EXHAUSTED_RECHECK_US);
                return Ok(Spend::Exhausted {
                    retry_after: retry_after(plan, Some(current.period_start), now),
                });
            }
            let write = Account {
                remaining: current.remaining - as_i64(take),
                leased: current.leased.saturating_add(as_i64(take)),
                period_start: current.period_start,
            };
            if self.db.take_credits(id.as_str(), read, write).await? {
                lease.taken += take;
                lease.available += take - cost;
                return Ok(Spend::Granted);
            }
        }
        Err("credits contended: every lease attempt lost to another instance".into())
    }
}

impl CreditLedger for SqlTokenStore {
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Spend, StoreError>> + Send>>;

    /// Spends from this instance's lease when it holds enough (no database round trip), else
    /// leases a batch ([`credit_lease`](crate::SqlTokenStoreBuilder::credit_lease)) first.
    fn spend(&self, principal: &Principal, cost: u64) -> Spending<Self::Future> {
        let (Some(plan), Some(id)) = (principal.credits(), credit_account(principal)) else {
            return Spending::Now(Ok(Spend::Unmetered));
        };
        let now = micros(self.inner.clock.now());
        let account = {
            let accounts = self.inner.leases.accounts.pin();
            match accounts.get(id) {
                Some(account) => account.clone(),
                None => accounts.get_or_insert_with(id.clone(), Arc::default).clone(),
            }
        };
        if let Ok(mut lease) = account.try_lock()
            && let Some(spend) = lease.spend_locally(plan, cost, now)
        {
            return Spending::Now(Ok(spend));
        }
        let (inner, id) = (self.inner.clone(), id.clone());
        Spending::Later(Box::pin(async move {
            let mut lease = account.lock().await;
            if let Some(spend) = lease.spend_locally(plan, cost, now) {
                return Ok(spend);
            }
            match tokio::time::timeout(inner.lookup_timeout, inner.lease(&id, &mut lease, plan, cost, now))
                .await
            {
                Ok(Ok(spend)) => Ok(spend),
                Ok(Err(e)) => Err(StoreError::unavailable(e)),
                Err(_) => Err(StoreError::timeout()),
            }
        }))
    }
}

impl SqlTokenStore {
    /// Gives back to the database the credits this instance leased and did not spend, and
    /// accounts for the ones it did (they leave `leased`). Returns how many credits came back.
    /// [`close`](Self::close) calls it; call it yourself to hand credits to other instances
    /// earlier. A lease made in a refill period that has since ended is dropped: the refill
    /// already reset the balance.
    ///
    /// # Errors
    ///
    /// The database's, for the first lease it could not give back (the others are still
    /// tried; a lease that was not given back stays counted as `leased`).
    pub async fn release_credits(&self) -> Result<u64, StoreError> {
        let accounts: Vec<(TokenId, Arc<Mutex<Lease>>)> =
            self.inner.leases.accounts.pin().iter().map(|(id, lease)| (id.clone(), lease.clone())).collect();
        let (mut returned, mut first_error) = (0, None);
        for (id, account) in accounts {
            let mut lease = account.lock().await;
            let Some(start) = lease.period_start.filter(|_| lease.taken > 0) else { continue };
            let given_back = self.inner.db.return_credits(
                id.as_str(),
                as_i64(lease.available),
                as_i64(lease.taken),
                start,
            );
            match given_back.await {
                Ok(()) => {
                    returned += lease.available;
                    *lease = Lease { period_start: lease.period_start, ..Lease::default() };
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(returned),
            Some(e) => Err(StoreError::unavailable(e)),
        }
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
        let mut lease = Lease { available: 5, taken: 5, period_start: Some(0), exhausted_until: 0 };
        assert_eq!(lease.spend_locally(plan, 1, 500_000), Some(Spend::Granted));
        assert_eq!(lease.spend_locally(plan, 1, 1_000_000), None, "ask the database");
        assert_eq!((lease.available, lease.taken), (0, 0));
    }
}
