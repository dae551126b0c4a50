//! The SQL store's [`CreditLedger`]: each instance leases credits from the database in
//! batches and spends them in memory, so a database write comes once per lease, not once per
//! request, and no two instances ever spend the same credit.

use std::sync::Arc;

use tokio::sync::Mutex;
use tower_bearer::limit::{CreditLedger, Spend, Spending};
use tower_bearer::{Credits, Principal, StoreError, TokenId};

use crate::leases::{EXHAUSTED_RECHECK_US, LEASE_ATTEMPTS, Lease, as_i64, as_u64, refilled, retry_after};
use crate::metering::Account;
use crate::micros::micros;
use crate::store::{Inner, SqlTokenStore};

/// A boxed error, as the backends report them.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// Spends from this instance's lease when it holds enough (no database round trip), else
    /// leases a batch ([`credit_lease`](crate::SqlTokenStoreBuilder::credit_lease)) first.
    fn spend(&self, principal: &Principal, cost: u64) -> Spending {
        let (Some(plan), Some(id)) = (principal.credits(), principal.credit_account()) else {
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
