//! [`CreditsLayer`]: spends credits for every request the auth layer admitted.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use tower_layer::Layer;

use super::headers::retry_after;
use crate::middleware::gate::{Gate, Refusal, Verdict};
use crate::middleware::guard::Guard;
use crate::outcome::error::{AuthError, Throttle};
use crate::principal::Principal;
use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::ledger::{CreditLedger, Spend};

/// Spends [`Credits`](crate::Credits) for every request the
/// [`BearerAuthLayer`](crate::BearerAuthLayer) admitted, placed behind it: one per request,
/// or the [`cost`](Self::cost) the route declares. A token without credits is not metered. A
/// token with too few left is refused with 429 in the auth layer's format (reason
/// `credits_exhausted`, gRPC `RESOURCE_EXHAUSTED`), with `Retry-After` until its next refill
/// if it has one; nothing is spent then. A ledger that fails answers 503: credits fail closed.
///
/// ```
/// use axum::{Router, handler::Handler, routing::{get, post}};
/// use tower::ServiceBuilder;
/// use tower_bearer::{BearerAuthLayer, CreditsLayer, MemoryTokenStore};
///
/// let store = MemoryTokenStore::new();
/// let app: Router = Router::new()
///     .route("/v1/search", get(|| async { "[]" }))
///     // A report costs 10 credits.
///     .route("/v1/reports", post((|| async { "done" }).layer(CreditsLayer::new(store.clone()).cost(10))))
///     .layer(ServiceBuilder::new().layer(BearerAuthLayer::new(store.clone())).layer(CreditsLayer::new(store)));
/// ```
///
/// (As above, a route with its own cost sits under the router-wide layer too, and pays both.
/// Give such routes their cost alone, by putting the router-wide layer on the other routes.)
pub struct CreditsLayer<L> {
    pub(super) ledger: Arc<L>,
    pub(super) cost: u64,
}

impl<L: CreditLedger> CreditsLayer<L> {
    /// Spends one credit of `ledger` per request.
    pub fn new(ledger: L) -> Self {
        CreditsLayer { ledger: Arc::new(ledger), cost: 1 }
    }

    /// Spends `cost` credits per request instead (0 admits every request, spending nothing,
    /// but still refuses a token already out of credits).
    #[must_use]
    pub fn cost(mut self, cost: u64) -> Self {
        self.cost = cost;
        self
    }
}

impl<L> Clone for CreditsLayer<L> {
    fn clone(&self) -> Self {
        CreditsLayer { ledger: self.ledger.clone(), cost: self.cost }
    }
}

impl<L> fmt::Debug for CreditsLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreditsLayer").field("cost", &self.cost).finish_non_exhaustive()
    }
}

impl<S, L: CreditLedger> Layer<S> for CreditsLayer<L> {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard::new(inner, Arc::new(self.clone()), "CreditsLayer")
    }
}

impl<L: CreditLedger> Gate for CreditsLayer<L> {
    fn check(&self, principal: &Principal) -> Verdict {
        match self.ledger.spend(principal, self.cost) {
            Answer::Now(spent) => refusal_of(spent).map_or(Verdict::Pass(None), Verdict::Refuse),
            Answer::Later(spend) => {
                Verdict::Later(Box::pin(async move { refusal_of(spend.await).map_or(Ok(()), Err) }))
            }
        }
    }
}

/// Why a request whose spend was `spent` is refused, with the headers of the refusal (and
/// the ledger's error, for the event hook), unless it goes on.
fn refusal_of(spent: Result<Spend, StoreError>) -> Option<Refusal> {
    match spent {
        Ok(Spend::Unmetered | Spend::Granted) => None,
        Ok(Spend::Exhausted { retry_after: wait }) => {
            let mut headers = HeaderMap::new();
            if let Some(wait) = wait {
                let (name, value) = retry_after(wait);
                headers.insert(name, value);
            }
            Some(Box::new((AuthError::Throttled(Throttle::NoCredits), headers, None)))
        }
        // Credits fail closed.
        Err(e) => Some(Box::new((AuthError::StoreUnavailable(e.kind()), HeaderMap::new(), Some(e)))),
    }
}
