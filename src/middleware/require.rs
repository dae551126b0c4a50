//! [`RequireScopesLayer`]: a per-route or per-method scope check under one
//! [`BearerAuthLayer`](crate::BearerAuthLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::body::ResponseBody;
use super::guard::{GuardFuture, grpc_type_of, no_principal};
use super::reject::handler_rejection;
use crate::outcome::error::AuthError;
use crate::principal::Principal;
use crate::scope::{ScopeRequirement, Scopes};

/// Requires scopes of the [`Principal`] an outer [`BearerAuthLayer`](crate::BearerAuthLayer)
/// admitted: one auth layer for the whole router, and a `RequireScopesLayer` per route or method. A principal without the scopes
/// gets the layer's own 403 `insufficient_scope` answer, in its format and realm, with the
/// `scope` parameter, and the layer's event hook sees the request once, as that rejection
/// (`insufficient_scope`, with the principal).
///
/// A request that reaches it without a principal means the auth layer is not installed
/// around it: that is answered 500 with a message saying so, never passed on.
///
/// ```
/// use axum::Router;
/// use axum::handler::Handler;
/// use axum::routing::get;
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore, RequireScopesLayer};
///
/// let invoices = get((|| async { "list" }).layer(RequireScopesLayer::all(["invoices:read"])))
///     .post((|| async { "created" }).layer(RequireScopesLayer::all(["invoices:write"])));
/// let app: Router = Router::new()
///     .route("/v1/invoices", invoices)
///     .route("/v1/reports", get(|| async { "[]" }).route_layer(RequireScopesLayer::any(["reports:read", "admin"])))
///     .route_layer(BearerAuthLayer::new(MemoryTokenStore::new()).realm("billing"));
/// ```
///
/// Put it on a handler (`Handler::layer`) for a per-method requirement, or on a route
/// (`MethodRouter::route_layer`) for every method the route has at that point.
#[derive(Clone, Debug)]
pub struct RequireScopesLayer {
    requirement: Arc<ScopeRequirement>,
}

impl RequireScopesLayer {
    /// Requires every one of `scopes`.
    ///
    /// # Panics
    ///
    /// If a scope is not an RFC 6749 §3.3 `scope-token` (empty, or with a space, `"` or `\`):
    /// a configuration mistake, caught at start-up.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopesLayer { requirement: Arc::new(ScopeRequirement::All(checked(scopes))) }
    }

    /// Requires at least one of `scopes`.
    ///
    /// # Panics
    ///
    /// As [`all`](Self::all), and if `scopes` is empty: "at least one of nothing" would let
    /// every token through, which is never what was meant.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopesLayer { requirement: Arc::new(ScopeRequirement::Any(checked_any(scopes))) }
    }
}

/// [`checked`], and not empty: the scopes of an any-of requirement.
pub(crate) fn checked_any<I, S>(scopes: I) -> Scopes
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes = checked(scopes);
    assert!(!scopes.is_empty(), "tower-bearer: an any-of scope requirement needs at least one scope");
    scopes
}

/// The scopes, each checked to be a `scope-token`.
pub(crate) fn checked<I, S>(scopes: I) -> Scopes
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let scopes: Scopes = scopes.into_iter().collect();
    if let Some(bad) = scopes.iter().find(|s| !Scopes::is_valid(s)) {
        panic!("tower-bearer: {bad:?} is not a valid OAuth scope (RFC 6749 §3.3)");
    }
    scopes
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes { inner, requirement: self.requirement.clone() }
    }
}

/// The service of [`RequireScopesLayer`].
#[derive(Clone)]
pub struct RequireScopes<S> {
    inner: S,
    requirement: Arc<ScopeRequirement>,
}

impl<S: fmt::Debug> fmt::Debug for RequireScopes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScopes")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScopes<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let refusal = match req.extensions().get::<Principal>() {
            Some(p) if self.requirement.is_satisfied_by(p.scopes()) => {
                return GuardFuture::admitted(self.inner.call(req), None);
            }
            Some(_) => handler_rejection(
                AuthError::InsufficientScope((*self.requirement).clone()),
                grpc_type_of(&req),
            ),
            None => no_principal("RequireScopesLayer"),
        };
        GuardFuture::refused(refusal)
    }
}
