//! [`CreditLedger`]: where tokens' credits are kept and spent, and what spending answers.

use std::time::Duration;

use crate::principal::Principal;
use crate::store::answer::Answer;
use crate::store::error::StoreError;

/// Keeps the balance of every token with [`Credits`](crate::Credits) and spends it, for the
/// [`CreditsLayer`](crate::CreditsLayer). The [`MemoryTokenStore`](crate::MemoryTokenStore)
/// is one (exact, in this process), the SQL store of `tower-bearer-sqlx` another (exact
/// across instances, without a database write per request). The memory store keeps the
/// credits of any other store's principals too.
///
/// A ledger answers at once when it can ([`Answer::Now`]: no allocation, no future), and
/// with a future when it has to ask a database.
pub trait CreditLedger: Send + Sync + 'static {
    /// Spends `cost` credits of `principal`'s token: [`Spend::Unmetered`] if the principal
    /// has no [`credits`](Principal::credits), [`Spend::Exhausted`] (nothing spent) if fewer
    /// than `cost` are left.
    fn spend(&self, principal: &Principal, cost: u64) -> Answer<Result<Spend, StoreError>>;
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
