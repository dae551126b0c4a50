//! [`MemoryCredits`]: credit balances in this process, exact under any concurrency.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clock::{Clock, unix_nanos};
use crate::grant::{CreditBalance, Credits};
use crate::principal::Principal;
use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::ledger::{CreditLedger, Spend};
use crate::token::id::TokenId;

/// Credit balances kept in this process (the [`MemoryTokenStore`](crate::MemoryTokenStore)'s
/// [`CreditLedger`]): every spend is exact (one lock per token, held for a subtraction), and
/// answered at once. A token's balance starts at its plan's initial credits the first time it
/// is spent from (or when the memory store issues it), and its refill periods count from then.
#[derive(Clone, Default)]
pub(crate) struct MemoryCredits {
    table: Arc<Table>,
}

struct Table {
    /// Tells this ledger's handles from another's.
    id: u64,
    accounts: papaya::HashMap<TokenId, Arc<Account>, foldhash::fast::RandomState>,
    clock: Clock,
}

impl Default for Table {
    fn default() -> Self {
        Table::new(Clock::system())
    }
}

impl Table {
    fn new(clock: Clock) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Table {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            accounts: papaya::HashMap::with_hasher(foldhash::fast::RandomState::default()),
            clock,
        }
    }
}

/// A principal's direct line to its account, attached by the memory store when it stores a
/// token with credits: spending then costs no map lookup. Private: only this module makes
/// them, so an application cannot forge one.
#[derive(Clone)]
struct CreditHandle {
    ledger: u64,
    account: Arc<Account>,
}

/// One token's credits: the balance is one atomic word, spent with a compare-and-swap; a
/// refill (once a period) takes a lock, so that one refill happens per period.
struct Account {
    plan: Credits,
    remaining: AtomicU64,
    /// The start of the current refill period, nanoseconds since the Unix epoch.
    period_start: AtomicU64,
    /// Whether a refill has happened: the period's allowance is then the refill amount, not
    /// the initial credits.
    refilled: AtomicBool,
    refilling: Mutex<()>,
}

impl Account {
    fn new(plan: Credits, start: SystemTime) -> Self {
        Account {
            plan,
            remaining: AtomicU64::new(plan.initial()),
            period_start: AtomicU64::new(unix_nanos(start)),
            refilled: AtomicBool::new(false),
            refilling: Mutex::new(()),
        }
    }

    /// Refills the balance if a period has started since the current one (`now` is read
    /// only for credits that are refilled).
    fn refill_if_due(&self, now: impl FnOnce() -> SystemTime) {
        if self.plan.refill().is_none() {
            return;
        }
        let start = self.period_start.load(Ordering::Acquire);
        let Some((next, amount)) = self.plan.refill_due(from_nanos(start), now()) else { return };
        // Nothing is left half-done under this lock: it only orders refills.
        let _one_at_a_time = self.refilling.lock().unwrap_or_else(PoisonError::into_inner);
        if self.period_start.load(Ordering::Acquire) == start {
            // The balance first: a spend that sees the new period spends the new balance.
            self.refilled.store(true, Ordering::Release);
            self.remaining.store(amount, Ordering::Release);
            self.period_start.store(unix_nanos(next), Ordering::Release);
        }
    }

    fn spend(&self, cost: u64) -> bool {
        self.remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| left.checked_sub(cost))
            .is_ok()
    }

    fn next_refill(&self) -> Option<SystemTime> {
        let (_, period) = self.plan.refill()?;
        from_nanos(self.period_start.load(Ordering::Acquire)).checked_add(period)
    }

    fn balance(&self, now: impl FnOnce() -> SystemTime) -> CreditBalance {
        self.refill_if_due(now);
        let remaining = self.remaining.load(Ordering::Acquire);
        let allowance = match self.plan.refill() {
            Some((amount, _)) if self.refilled.load(Ordering::Acquire) => amount,
            _ => self.plan.initial(),
        };
        CreditBalance::new(remaining, 0, self.next_refill()).with_allowance(allowance)
    }
}

fn from_nanos(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}

impl MemoryCredits {
    /// An empty ledger on the system clock.
    pub(crate) fn new() -> Self {
        MemoryCredits::default()
    }

    /// An empty ledger reading the time (for refills) from `clock`.
    pub(crate) fn with_clock(clock: Clock) -> Self {
        MemoryCredits { table: Arc::new(Table::new(clock)) }
    }

    /// The balance of token `id`'s credits, if it has an account here.
    pub(crate) fn balance(&self, id: &TokenId) -> Option<CreditBalance> {
        let accounts = self.table.accounts.pin();
        Some(accounts.get(id)?.balance(|| self.table.clock.now()))
    }

    /// Opens token `id`'s account with `plan`, its periods counted from `start` (or finds the
    /// one it has), and returns `principal` with a handle to it attached.
    pub(crate) fn attach(
        &self,
        principal: Principal,
        id: &TokenId,
        plan: Credits,
        start: SystemTime,
    ) -> Principal {
        let accounts = self.table.accounts.pin();
        if let Some(handle) = principal.extension::<CreditHandle>()
            && handle.ledger == self.table.id
        {
            // A principal of another token of this ledger (a rotation's successor): one account.
            accounts.insert(id.clone(), handle.account.clone());
            return principal;
        }
        let account = accounts.get_or_insert_with(id.clone(), || Arc::new(Account::new(plan, start))).clone();
        principal.to_builder().extension(CreditHandle { ledger: self.table.id, account }).build()
    }

    /// Moves token `from`'s account to `to` (a rotation: the successor keeps the balance, and
    /// the predecessor's handle still reaches it).
    pub(crate) fn transfer(&self, from: &TokenId, to: &TokenId) {
        let accounts = self.table.accounts.pin();
        if let Some(account) = accounts.remove(from) {
            accounts.insert(to.clone(), account.clone());
        }
    }

    /// Closes token `id`'s account (the token is gone).
    pub(crate) fn close(&self, id: &TokenId) {
        self.table.accounts.pin().remove(id);
    }

    fn spend_from(&self, account: &Account, cost: u64) -> Spend {
        let clock = &self.table.clock;
        account.refill_if_due(|| clock.now());
        if account.spend(cost) {
            return Spend::Granted;
        }
        let wait = account.next_refill().map(|at| at.duration_since(clock.now()).unwrap_or_default());
        Spend::Exhausted { retry_after: wait }
    }
}

impl CreditLedger for MemoryCredits {
    /// Never used: every spend is answered at once.
    fn spend(&self, principal: &Principal, cost: u64) -> Answer<Result<Spend, StoreError>> {
        let Some(plan) = principal.credits() else {
            return Answer::Now(Ok(Spend::Unmetered));
        };
        if let Some(handle) = principal.extension::<CreditHandle>()
            && handle.ledger == self.table.id
        {
            return Answer::Now(Ok(self.spend_from(&handle.account, cost)));
        }
        let Some(id) = principal.credit_account() else {
            return Answer::Now(Ok(Spend::Unmetered));
        };
        let accounts = self.table.accounts.pin();
        let account = match accounts.get(id) {
            Some(account) => account,
            None => accounts
                .get_or_insert_with(id.clone(), || Arc::new(Account::new(plan, self.table.clock.now()))),
        };
        Answer::Now(Ok(self.spend_from(account, cost)))
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
            Answer::Now(Ok(spend)) => spend,
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
        let id = TokenId::from("t");
        let figures = |b: CreditBalance| (b.remaining, b.allowance, b.spent());
        assert_eq!(ledger.balance(&id).map(figures), Some((0, Some(3), Some(3))), "the initial credits");
        let wait = |s| Spend::Exhausted { retry_after: Some(Duration::from_secs(s)) };
        assert_eq!(spend(&ledger, &p, 1), wait(60));
        clock.advance(Duration::from_secs(125));
        assert_eq!(spend(&ledger, &p, 3), wait(55));
        assert_eq!(spend(&ledger, &p, 2), Spend::Granted);
        assert_eq!(ledger.balance(&id).map(figures), Some((0, Some(2), Some(2))), "the refill amount");
        assert_eq!(spend(&ledger, &Principal::builder("u").token_id("x").build(), 1), Spend::Unmetered);
    }

    #[test]
    fn a_predecessor_in_its_grace_period_spends_its_successors_credits() {
        let ledger = MemoryCredits::new();
        let (old, new) = (TokenId::from("old"), TokenId::from("new"));
        let p = Principal::builder("u").token_id("old").credits(Credits::new(3)).build();
        let p = ledger.attach(p, &old, Credits::new(3), SystemTime::now());
        assert_eq!(spend(&ledger, &p, 1), Spend::Granted);
        ledger.transfer(&old, &new);
        // The predecessor by its handle, another principal of it by the successor's id.
        assert_eq!(spend(&ledger, &p, 1), Spend::Granted);
        let predecessor =
            Principal::builder("u").token_id("old").replaced_by("new").credits(Credits::new(3)).build();
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
