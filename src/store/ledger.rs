//! [`CreditLedger`]: where tokens' credits are kept and spent, and what spending answers.

use std::future::Future;
use std::time::Duration;

use crate::principal::Principal;
use crate::store::error::StoreError;
use crate::token::id::TokenId;

/// Keeps the balance of every token with [`Credits`](crate::Credits) and spends it, for the
/// [`CreditsLayer`](crate::CreditsLayer). The [`MemoryTokenStore`](crate::MemoryTokenStore)
/// is one (exact, in this process), the SQL store of `tower-bearer-sqlx` another (exact
/// across instances, without a database write per request); [`MemoryCredits`](crate::limit::MemoryCredits)
/// keeps the credits of any other store's principals.
///
/// A ledger answers at once when it can ([`Spending::Now`]: no allocation, no future), and
/// with a future when it has to ask a database.
pub trait CreditLedger: Send + Sync + 'static {
    /// The future of a spend that cannot be answered at once.
    type Future: Future<Output = Result<Spend, StoreError>> + Send + 'static;

    /// Spends `cost` credits of `principal`'s token: [`Spend::Unmetered`] if the principal
    /// has no [`credits`](Principal::credits), [`Spend::Exhausted`] (nothing spent) if fewer
    /// than `cost` are left.
    fn spend(&self, principal: &Principal, cost: u64) -> Spending<Self::Future>;
}

/// The answer of [`CreditLedger::spend`]: now, or later.
#[derive(Debug)]
pub enum Spending<F> {
    /// Answered without waiting.
    Now(Result<Spend, StoreError>),
    /// Answered when the future completes.
    Later(F),
}

/// What spending credits did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Spend {
    /// The token has no credits: it is not metered.
    Unmetered,
    /// The credits were spent.
    Granted,
    /// Too few credits are left; none were spent.
    Exhausted {
        /// How long until the next refill, if the credits are refilled.
        retry_after: Option<Duration>,
    },
}

/// The account a principal's credits are spent from: its token's, or, for a token rotated
/// with a grace period, its successor's (the balance moved to the successor at the rotation;
/// the old token spends from it until the grace ends, so a rotation never doubles credits).
/// `None` for a principal without credits, or without a token id to account them to.
pub fn credit_account(principal: &Principal) -> Option<&TokenId> {
    principal.credits()?;
    principal.replaced_by().or(principal.token_id())
}
