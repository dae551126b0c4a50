//! The SQL store's [`CreditLedger`]: each instance leases credits from the database in
//! batches and spends them in memory, so a database write comes once per lease, not once per
//! request, and no two instances ever spend the same credit. A lease has a deadline: its
//! holder renews what it uses and gives back what it stops using; a dead holder's lease is
//! reclaimed after its deadline, as spent.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Mutex;
use tower_bearer::limit::{CreditLedger, Spend};
use tower_bearer::store::Answer;
use tower_bearer::{Credits, Principal, StoreError, TokenId};

use crate::leases::{EXHAUSTED_RECHECK_US, LEASE_ATTEMPTS, Lease, as_i64, as_u64, refilled, retry_after};
use crate::metering::{Account, Hold};
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
        // Dead instances' leases leave the balance before it is read.
        self.db.reclaim_leases(id.as_str(), now).await?;
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
                    self.db.take_credits(id.as_str(), read, current, None).await?;
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
            let hold = Hold {
                holder: &self.leases.holder,
                taken: as_i64(take),
                until: now.saturating_add(self.leases.term),
            };
            if self.db.take_credits(id.as_str(), read, write, Some(hold)).await? {
                lease.taken += take;
                lease.available += take - cost;
                lease.held(now, self.leases.term);
                return Ok(Spend::Granted);
            }
        }
        Err("credits contended: every lease attempt lost to another instance".into())
    }

    /// Moves `lease`'s deadline in the database, or learns that it was reclaimed.
    async fn renew(&self, id: &TokenId, lease: &mut Lease, now: i64) {
        let until = now.saturating_add(self.leases.term);
        let start = lease.period_start.unwrap_or_default();
        let renewal = self.db.renew_lease(id.as_str(), &self.leases.holder, start, until);
        match tokio::time::timeout(self.lookup_timeout, renewal).await {
            Ok(Ok(true)) => lease.held(now, self.leases.term),
            // Another instance found it past its deadline and counted it as spent.
            Ok(Ok(false)) => lease.void(),
            // What is held stays this instance's to spend until the deadline (a reclaim
            // counts it as spent, never grants it twice); ask again a little later.
            Ok(Err(_)) | Err(_) => lease.renew_at = now.saturating_add(self.leases.term / 8),
        }
    }
}

impl CreditLedger for SqlTokenStore {
    /// Spends from this instance's lease when it holds enough (no database round trip), else
    /// leases a batch ([`credit_lease`](crate::SqlTokenStoreBuilder::credit_lease)) first.
    fn spend(&self, principal: &Principal, cost: u64) -> Answer<Result<Spend, StoreError>> {
        let (Some(plan), Some(id)) = (principal.credits(), principal.credit_account()) else {
            return Answer::Now(Ok(Spend::Unmetered));
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
            return Answer::Now(Ok(spend));
        }
        let (inner, id) = (self.inner.clone(), id.clone());
        Answer::Later(Box::pin(async move {
            let mut lease = account.lock().await;
            if lease.renewal_due(now) {
                inner.renew(&id, &mut lease, now).await;
            }
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
    /// already reset the balance. So is one reclaimed past its deadline: it counts as spent.
    ///
    /// # Errors
    ///
    /// The database's, for the first lease it could not give back (the others are still
    /// tried; a lease that was not given back stays counted as `leased` until its deadline).
    pub async fn release_credits(&self) -> Result<u64, StoreError> {
        self.inner.give_back(None).await
    }
}

impl Inner {
    /// Gives back the leases last used at `idle_since` or before (all of them for `None`).
    async fn give_back(&self, idle_since: Option<i64>) -> Result<u64, StoreError> {
        let accounts: Vec<(TokenId, Arc<Mutex<Lease>>)> =
            self.leases.accounts.pin().iter().map(|(id, lease)| (id.clone(), lease.clone())).collect();
        let (mut returned, mut first_error, mut held) = (0, None, 0);
        for (id, account) in accounts {
            let mut lease = account.lock().await;
            if idle_since.is_some_and(|since| lease.last_used > since) {
                held += u64::from(lease.taken > 0);
                continue;
            }
            let Some(start) = lease.period_start.filter(|_| lease.taken > 0) else { continue };
            let given_back =
                self.db.give_back(id.as_str(), &self.leases.holder, as_i64(lease.available), start);
            match given_back.await {
                Ok(came_back) => {
                    if came_back {
                        returned += lease.available;
                    }
                    lease.void();
                }
                Err(e) => {
                    held += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        #[cfg(feature = "metrics")]
        crate::monitoring::leases_held(held);
        #[cfg(not(feature = "metrics"))]
        let _ = held;
        match first_error {
            None => Ok(returned),
            Some(e) => Err(StoreError::unavailable(e)),
        }
    }
}

/// Gives back, every eighth of the lease term, the leases this instance has not used for an
/// eighth of the term, so that an idle lease returns to the balance before its deadline
/// instead of being reclaimed as spent. Runs until the store is dropped or closed.
pub(crate) fn spawn_idle_return(inner: &Arc<Inner>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    let every = Duration::from_micros(as_u64(inner.leases.term / 8)).max(Duration::from_millis(10));
    let inner: Weak<Inner> = Arc::downgrade(inner);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            if inner.db.is_closed() {
                return;
            }
            let idle_since = micros(inner.clock.now()).saturating_sub(inner.leases.term / 8);
            // A lease that cannot be given back now is tried again at the next tick.
            let _ = inner.give_back(Some(idle_since)).await;
        }
    });
}
