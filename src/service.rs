//! [`BearerAuth`]: the middleware service, and the policy it applies to every request.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response};
use tower_service::Service;

use crate::clock;
use crate::credentials::{TokenSources, mark_sensitive};
use crate::event::{AuthEvent, EventSink, Outcome};
use crate::future::ResponseFuture;
use crate::principal::Principal;
use crate::response::{AuthError, InvalidToken, Responder};
use crate::scope::ScopeRequirement;
use crate::store::{Lookup, StoreError, TokenState, TokenStore};

/// The middleware built by [`BearerAuthLayer`](crate::BearerAuthLayer).
///
/// Wraps any `Service<http::Request<B>>` whose response body can be built from [`Bytes`]
/// (`axum::body::Body`, `http_body_util::Full<Bytes>`, ...): the layer's own rejections use
/// that body type, so the wrapped service's type does not change. Errors of the inner service
/// pass through unchanged; the layer itself never fails, it answers.
pub struct BearerAuth<S, T> {
    inner: S,
    store: Arc<T>,
    policy: Arc<Policy>,
}

/// Everything the layer decides with, shared by all its services.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) responder: Responder,
    pub(crate) requirement: Option<ScopeRequirement>,
    pub(crate) allow_cors_preflight: bool,
    pub(crate) sources: TokenSources,
    pub(crate) events: EventSink,
    /// Whether rejections carry their `AuthError` in the response extensions.
    pub(crate) error_extension: bool,
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
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, T, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if self.policy.allow_cors_preflight && is_cors_preflight(&req) {
            // Even a preflight let through may carry credentials.
            mark_sensitive(req.headers_mut(), self.policy.sources.cookie.is_some());
            return ResponseFuture::inner(self.inner.call(req));
        }
        // Marks the credentials sensitive whatever the outcome, before anything else reads them.
        let lookup = match self.policy.sources.find(&mut req) {
            Err(error) => return ResponseFuture::rejected(self.policy.reject(&req, error, None, None)),
            Ok(token) => self.store.lookup(&token),
        };
        match lookup {
            // Answered at once (memory store, cache hit): decide here and call the inner
            // service directly, the very instance `poll_ready` readied.
            Lookup::Now(answer) => match self.policy.admit(&req, answer) {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    ResponseFuture::inner(self.inner.call(req))
                }
                Err(response) => ResponseFuture::rejected(response),
            },
            Lookup::Later(future) => {
                // The call happens after the lookup: take the readied instance into the future
                // and leave a fresh clone here for the next `poll_ready` (see tower's "be
                // careful when cloning inner services").
                let clone = self.inner.clone();
                let inner = mem::replace(&mut self.inner, clone);
                ResponseFuture::lookup(future, req, inner, self.policy.clone())
            }
        }
    }
}

fn is_cors_preflight<B>(req: &Request<B>) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
}

impl Policy {
    /// Turns the store's answer into the principal to admit, or the rejection response.
    pub(crate) fn admit<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
        answer: Result<TokenState, StoreError>,
    ) -> Result<Principal, Response<R>> {
        let (error, principal, store_error) = match answer {
            Err(e) => (AuthError::StoreUnavailable(e.kind()), None, Some(e)),
            Ok(TokenState::Unknown) => (AuthError::InvalidToken(InvalidToken::Unknown), None, None),
            Ok(TokenState::Revoked(p)) => (AuthError::InvalidToken(InvalidToken::Revoked), Some(p), None),
            Ok(TokenState::Active(p)) => match self.check(&p) {
                Ok(()) => {
                    self.emit(req, Outcome::Authenticated(&p));
                    return Ok(p);
                }
                Err(error) => (error, Some(p), None),
            },
        };
        Err(self.reject(req, error, principal.as_ref(), store_error.as_ref()))
    }

    /// Expiry and scopes of a token the store vouched for.
    fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        if principal.expires_at().is_some_and(clock::is_expired) {
            return Err(AuthError::InvalidToken(InvalidToken::Expired));
        }
        match &self.requirement {
            Some(req) if !req.is_satisfied_by(principal.scopes()) => {
                Err(AuthError::InsufficientScope(req.clone()))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn reject<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
        error: AuthError,
        principal: Option<&Principal>,
        store_error: Option<&StoreError>,
    ) -> Response<R> {
        self.emit(req, Outcome::Rejected { error: &error, principal, store_error });
        self.responder.respond(error, self.error_extension)
    }

    fn emit<B>(&self, req: &Request<B>, outcome: Outcome<'_>) {
        self.events.emit(&AuthEvent { outcome, method: req.method(), path: req.uri().path() });
    }
}
