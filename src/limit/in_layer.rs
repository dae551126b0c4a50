//! The limits run in line by the [`BearerAuthLayer`] itself, as its gates: a rate limit and
//! credits, without a service of their own behind it.

use std::sync::Arc;

use super::credits_layer::CreditsLayer;
#[cfg(feature = "rate-limit")]
use super::layer::RateLimitLayer;
#[cfg(feature = "rate-limit")]
use super::limits::{self, Limits};
#[cfg(feature = "rate-limit")]
use crate::middleware::gate::{Gate, Verdict};
use crate::middleware::layer::BearerAuthLayer;
#[cfg(feature = "rate-limit")]
use crate::outcome::error::{AuthError, Throttle};
#[cfg(feature = "rate-limit")]
use crate::principal::Principal;
use crate::store::ledger::CreditLedger;

impl<T> BearerAuthLayer<T> {
    /// Runs `limits` in line, on every request the layer admits: the same limits as the
    /// [`RateLimitLayer`](crate::RateLimitLayer) placed behind this layer (the same counts,
    /// shared with that layer's clones), without a service of their own in between, which is
    /// most of what a check behind the layer costs (BENCHMARKS.md, "Limits"). A refusal is
    /// this layer's own 429 answer, and its event hook sees it as a `rate_limited` rejection
    /// (with no `Authenticated` event before it). Keep the separate layer for limits on some
    /// routes only.
    ///
    /// ```
    /// use tower_bearer::{BearerAuthLayer, MemoryTokenStore, RateLimit, RateLimitLayer};
    ///
    /// let limits = RateLimitLayer::new().default_limit(RateLimit::per_second(10).unwrap());
    /// let layer = BearerAuthLayer::new(MemoryTokenStore::new()).rate_limit(limits);
    /// ```
    #[cfg(feature = "rate-limit")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rate-limit")))]
    #[must_use]
    pub fn rate_limit(mut self, limits: RateLimitLayer) -> Self {
        self.config_mut().rate_limit = Some(limits.into_limits());
        self
    }

    /// Spends credits in line, on every request the layer admits (after the rate limit, if
    /// any): the [`CreditsLayer`](crate::CreditsLayer)'s ledger and cost, without a service of
    /// its own in between. A token out of credits gets this layer's own 429
    /// (`credits_exhausted`), a failed ledger its 503. Routes that cost more than the rest
    /// add a `CreditsLayer` with the difference behind the layer.
    ///
    /// ```
    /// use tower_bearer::{BearerAuthLayer, CreditsLayer, MemoryTokenStore};
    ///
    /// let store = MemoryTokenStore::new();
    /// let layer = BearerAuthLayer::new(store.clone()).spend_credits(CreditsLayer::new(store));
    /// ```
    #[must_use]
    pub fn spend_credits<L: CreditLedger>(mut self, credits: CreditsLayer<L>) -> Self {
        self.config_mut().credits = Some(Arc::new(credits));
        self
    }
}

#[cfg(feature = "rate-limit")]
impl Gate for Limits {
    fn check(&self, principal: &Principal) -> Verdict {
        match self.decide(principal) {
            limits::Verdict::Pass(headers) => Verdict::Pass(headers),
            limits::Verdict::Refuse(headers) => {
                Verdict::Refuse(Box::new((AuthError::Throttled(Throttle::RateLimited), headers, None)))
            }
        }
    }
}
