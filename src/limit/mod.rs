//! Limits on what a valid token may do, enforced behind the
//! [`BearerAuthLayer`](crate::BearerAuthLayer): a rate limit per token (or per subject or
//! organization), and credits, a number of uses a token carries.
//!
//! Both are set on a token when it is issued ([`NewToken::rate_limit`](crate::NewToken::rate_limit),
//! [`NewToken::credits`](crate::NewToken::credits)) and travel with its
//! [`Principal`](crate::Principal); both refusals are 429 answers in the auth layer's format.

#[cfg(feature = "rate-limit")]
mod buckets;
pub(crate) mod credits_layer;
mod headers;
mod in_layer;
#[cfg(feature = "rate-limit")]
pub(crate) mod layer;
#[cfg(feature = "rate-limit")]
pub(crate) mod limits;

pub use crate::grant::CreditBalance;
pub use crate::store::ledger::{CreditLedger, Spend};
#[cfg(feature = "rate-limit")]
#[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
pub use limits::LimitBy;
