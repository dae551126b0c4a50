//! [`MemoryCredits`]: credit balances in this process, exact under any concurrency.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use super::credits::{CreditBalance, Credits};
use super::ledger::{CreditLedger, Spend, Spending, credit_account};
use crate::clock::Clock;
use crate::principal::Principal;
use crate::store::error::StoreError;
use crate::token::id::TokenId;

/// Credit balances kept in this process: every spend is exact (one lock per token, held for
/// a subtraction), and answered at once. Use it with stores that are not ledgers themselves
/// (a [`CallbackTokenStore`](crate::CallbackTokenStore) whose principals carry
/// [`Credits`]); the [`MemoryTokenStore`](crate::MemoryTokenStore) keeps one inside.
///
/// A token's balance starts at its plan's initial credits the first time it is spent from
/// (or when the memory store issues it), and its refill periods count from then.
///
/// ```
/// use tower_bearer::limit::{CreditLedger, MemoryCredits, Spend, Spending};
/// use tower_bearer::{Credits, Principal};
///
/// let ledger = MemoryCredits::new();
/// let p = Principal::builder("u").token_id("tid_1").credits(Credits::new(2)).build();
/// for expected in [Spend::Granted, Spend::Granted, Spend::Exhausted { retry_after: None }] {
///     assert!(matches!(ledger.spend(&p, 1), Spending::Now(Ok(s)) if s == expected));
/// }
/// ```
#[derive(Clone, Default)]
pub struct MemoryCredits {
    table: Arc<Table>,
}

#[derive(Default)]
struct Table {
    accounts: papaya::HashMap<TokenId, Account>,
    clock: Clock,
}

struct Account {
    plan: Credits,
    state: Mutex<Balance>,
}

#[derive(Clone, Copy)]
struct Balance {
    remaining: u64,
    /// The start of the current refill period.
    period_start: SystemTime,
}

impl Account {
    fn new(plan: Credits, start: SystemTime) -> Self {
        Account { plan, state: Mutex::new(Balance { remaining: plan.initial(), period_start: start }) }
    }

    /// The balance at `now`, refilled if a period has started since.
    fn balance(&self, now: SystemTime) -> std::sync::MutexGuard<'_, Balance> {
        // A `Balance` is two plain fields written together: a panic cannot leave it torn.
        let mut balance = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((start, amount)) = self.plan.refill_due(balance.period_start, now) {
            *balance = Balance { remaining: amount, period_start: start };
        }
        balance
    }

    fn next_refill(&self, balance: &Balance) -> Option<SystemTime> {
        let (_, period) = self.plan.refill()?;
        balance.period_start.checked_add(period)
    }
}

impl MemoryCredits {
    /// An empty ledger on the system clock.
    #[must_use]
    pub fn new() -> Self {
        MemoryCredits::default()
    }

    /// An empty ledger reading the time (for refills) from `clock`.
    #[must_use]
    pub fn with_clock(clock: Clock) -> Self {
        MemoryCredits { table: Arc::new(Table { accounts: papaya::HashMap::new(), clock }) }
    }

    /// The balance of token `id`'s credits, if it has an account here.
    #[must_use]
    pub fn balance(&self, id: &TokenId) -> Option<CreditBalance> {
        let accounts = self.table.accounts.pin();
        let account = accounts.get(id)?;
        let balance = account.balance(self.table.clock.now());
        Some(CreditBalance::new(balance.remaining, 0, account.next_refill(&balance)))
    }

    /// Opens token `id`'s account with `plan`, its periods counted from `start` (a no-op if
    /// it has one).
    pub(crate) fn open(&self, id: &TokenId, plan: Credits, start: SystemTime) {
        self.table.accounts.pin().get_or_insert_with(id.clone(), || Account::new(plan, start));
    }

    /// Moves token `from`'s account to `to` (a rotation: the successor keeps the balance).
    pub(crate) fn transfer(&self, from: &TokenId, to: &TokenId) {
        let accounts = self.table.accounts.pin();
        if let Some(account) = accounts.get(from) {
            let balance = *account.state.lock().unwrap_or_else(PoisonError::into_inner);
            let moved = Account { plan: account.plan, state: Mutex::new(balance) };
            accounts.insert(to.clone(), moved);
            accounts.remove(from);
        }
    }

    /// Closes token `id`'s account (the token is gone).
    pub(crate) fn close(&self, id: &TokenId) {
        self.table.accounts.pin().remove(id);
    }
}

impl CreditLedger for MemoryCredits {
    /// Never used: every spend is answered at once.
    type Future = std::future::Pending<Result<Spend, StoreError>>;

    fn spend(&self, principal: &Principal, cost: u64) -> Spending<Self::Future> {
        let (Some(plan), Some(id)) = (principal.credits(), credit_account(principal)) else {
            return Spending::Now(Ok(Spend::Unmetered));
        };
        let now = self.table.clock.now();
        let accounts = self.table.accounts.pin();
        let account = match accounts.get(id) {
            Some(account) => account,
            None => accounts.get_or_insert_with(id.clone(), || Account::new(plan, now)),
        };
        let mut balance = account.balance(now);
        let spend = match balance.remaining.checked_sub(cost) {
            Some(left) => {
                balance.remaining = left;
                Spend::Granted
            }
            None => {
                let next = account.next_refill(&balance);
                Spend::Exhausted { retry_after: next.map(|at| at.duration_since(now).unwrap_or_default()) }
            }
        };
        Spending::Now(Ok(spend))
    }
}

impl fmt::Debug for MemoryCredits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCredits").field("accounts", &self.table.accounts.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spend(ledger: &MemoryCredits, p: &Principal, cost: u64) -> Spend {
        match ledger.spend(p, cost) {
            Spending::Now(Ok(spend)) => spend,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refills_set_the_balance_each_period() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = Clock::manual(start);
        let ledger = MemoryCredits::with_clock(clock.clone());
        let plan = Credits::new(3).refilled(2, Duration::from_secs(60));
        let p = Principal::builder("u").token_id("t").credits(plan).build();
        assert_eq!(spend(&ledger, &p, 3), Spend::Granted);
        let wait = |s| Spend::Exhausted { retry_after: Some(Duration::from_secs(s)) };
        assert_eq!(spend(&ledger, &p, 1), wait(60));
        clock.advance(Duration::from_secs(125));
        assert_eq!(spend(&ledger, &p, 3), wait(55));
        assert_eq!(spend(&ledger, &p, 2), Spend::Granted);
        let id = TokenId::from("t");
        assert_eq!(ledger.balance(&id).map(|b| b.remaining), Some(0));
        assert_eq!(spend(&ledger, &Principal::builder("u").token_id("x").build(), 1), Spend::Unmetered);
    }

    #[test]
    fn a_predecessor_in_its_grace_period_spends_its_successors_credits() {
        let ledger = MemoryCredits::new();
        let (old, new) = (TokenId::from("old"), TokenId::from("new"));
        ledger.open(&old, Credits::new(2), SystemTime::now());
        assert_eq!(
            spend(&ledger, &Principal::builder("u").token_id("old").credits(Credits::new(2)).build(), 1),
            Spend::Granted
        );
        ledger.transfer(&old, &new);
        let predecessor =
            Principal::builder("u").token_id("old").replaced_by("new").credits(Credits::new(2)).build();
        assert_eq!(spend(&ledger, &predecessor, 1), Spend::Granted);
        assert_eq!(ledger.balance(&new).map(|b| b.remaining), Some(0));
        assert_eq!(ledger.balance(&old), None);
    }

    #[test]
    fn concurrent_spends_never_overdraw() {
        let ledger = MemoryCredits::new();
        let p = Principal::builder("u").token_id("t").credits(Credits::new(1_000)).build();
        let granted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..500).filter(|_| spend(&ledger, &p, 1) == Spend::Granted).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(granted, 1_000);
    }
}
