//! [`BearerAuth`]: the middleware service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};
use tower_service::Service;

use super::body::ResponseBody;
use super::credentials::mark_sensitive;
use super::future::{Readied, ResponseFuture};
use super::policy::Policy;
use crate::store::answer::Answer;
use crate::store::lookup::TokenStore;

/// The middleware built by [`BearerAuthLayer`](crate::BearerAuthLayer).
///
/// Wraps any `Service<http::Request<B>>`: an axum router, a hyper service, tonic's `Routes`.
/// Its responses carry a [`ResponseBody`]: the wrapped service's body untouched, or the
/// layer's own answer. Errors of the inner service pass through unchanged; the layer itself
/// never fails, it answers.
///
/// A response of the inner service that carries an [`AuthError`](crate::AuthError) as a
/// handler-side rejection (see its `IntoResponse`, feature `axum`, and
/// [`RequireScopesLayer`](crate::RequireScopesLayer)) is answered again in this layer's format and
/// realm.
pub struct BearerAuth<S, T> {
    inner: S,
    store: Arc<T>,
    policy: Arc<Policy>,
}

impl<S, T> BearerAuth<S, T> {
    pub(crate) fn new(inner: S, store: Arc<T>, policy: Arc<Policy>) -> Self {
        BearerAuth { inner, store, policy }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, T> Clone for BearerAuth<S, T> {
    fn clone(&self) -> Self {
        BearerAuth { inner: self.inner.clone(), store: self.store.clone(), policy: self.policy.clone() }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for BearerAuth<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<S, T, ReqBody, ResBody> Service<Request<ReqBody>> for BearerAuth<S, T>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    T: TokenStore,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = &self.policy.config;
        if config.allow_cors_preflight && is_cors_preflight(&req) {
            // Even a preflight let through may carry credentials.
            mark_sensitive(req.headers_mut(), config.sources.cookie.is_some());
            return ResponseFuture::unchecked(self.inner.call(req), self.policy.clone());
        }
        // Marks the credentials sensitive whatever the outcome, before anything else reads them.
        let lookup = match config.sources.find(&mut req) {
            Err(error) => return ResponseFuture::rejected(self.policy.reject(&req, error, None, None)),
            Ok(token) => self.store.lookup(&token),
        };
        match lookup {
            // Answered at once (memory store, cache hit): decided here, and the inner service
            // called in place, the very instance `poll_ready` readied.
            Answer::Now(answer) => {
                ResponseFuture::admit(self.policy.clone(), req, answer, Readied::Here(&mut self.inner))
            }
            Answer::Later(future) => {
                // Timed only here: an answer that waits for I/O pays two clock reads and a
                // box, noise beside its round trip; one answered at once pays nothing.
                #[cfg(feature = "metrics")]
                let future = timed(future);
                // The call happens after the lookup: take the readied instance into the future
                // and leave a fresh clone here for the next `poll_ready`.
                let inner = Readied::Here(&mut self.inner).into_owned();
                ResponseFuture::lookup(future, req, inner, self.policy.clone())
            }
        }
    }
}

fn is_cors_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(http::header::ORIGIN)
        && req.headers().contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// `future`, recording how long it took once it answers.
#[cfg(feature = "metrics")]
fn timed(future: crate::store::lookup::LaterLookup) -> crate::store::lookup::LaterLookup {
    let started = std::time::Instant::now();
    Box::pin(async move {
        let answer = future.await;
        crate::monitoring::lookup_took(started.elapsed());
        answer
    })
}
