//! Limits on what a valid token may do, enforced behind the
//! [`BearerAuthLayer`](crate::BearerAuthLayer): a rate limit per token (or per subject or
//! organization), and credits, a number of uses a token carries.
//!
//! Both are set on a token when it is issued ([`NewToken::rate_limit`](crate::NewToken::rate_limit),
//! [`NewToken::credits`](crate::NewToken::credits)) and travel with its
//! [`Principal`](crate::Principal); both refusals are 429 answers in the auth layer's format.

#[cfg(feature = "rate-limit")]
mod buckets;
pub(crate) mod credits_future;
pub(crate) mod credits_layer;
mod headers;
#[cfg(feature = "rate-limit")]
pub(crate) mod layer;
pub(crate) mod ledger;
#[cfg(feature = "rate-limit")]
pub(crate) mod limits;
mod memory_credits;
#[cfg(feature = "rate-limit")]
mod service;

pub use crate::grant::CreditBalance;
pub use credits_future::CreditsFuture;
pub use credits_layer::CreditsService;
pub use ledger::{CreditLedger, Spend, Spending, credit_account};
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub use limits::LimitBy;
pub use memory_credits::MemoryCredits;
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub use service::RateLimitService;
