//! [`CreditsLayer`]: spends credits for every request the auth layer admitted.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::credits_future::CreditsFuture;
use crate::middleware::body::ResponseBody;
use crate::middleware::guard::no_principal;
use crate::principal::Principal;
use crate::store::ledger::{CreditLedger, Spending};

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

impl<S, L> Layer<S> for CreditsLayer<L> {
    type Service = CreditsService<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        CreditsService { inner, ledger: self.ledger.clone(), cost: self.cost }
    }
}

/// The service of [`CreditsLayer`].
pub struct CreditsService<S, L> {
    inner: S,
    ledger: Arc<L>,
    cost: u64,
}

impl<S: Clone, L> Clone for CreditsService<S, L> {
    fn clone(&self) -> Self {
        CreditsService { inner: self.inner.clone(), ledger: self.ledger.clone(), cost: self.cost }
    }
}

impl<S: fmt::Debug, L> fmt::Debug for CreditsService<S, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreditsService")
            .field("inner", &self.inner)
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

impl<S, L, ReqBody, ResBody> Service<Request<ReqBody>> for CreditsService<S, L>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    L: CreditLedger,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = CreditsFuture<S, L::Future, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(principal) = req.extensions().get::<Principal>() else {
            return CreditsFuture::refused(no_principal("CreditsLayer"));
        };
        match self.ledger.spend(principal, self.cost) {
            Spending::Now(spent) => CreditsFuture::settled(&mut self.inner, req, spent),
            Spending::Later(spending) => {
                // The ledger answers later: this service was made ready for this request, so
                // it goes with the request, and a clone stays for the next poll_ready.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                CreditsFuture::spending(spending, ready, req)
            }
        }
    }
}
