//! [`RequireScopesLayer`]: a per-route or per-method scope check under one
//! [`BearerAuthLayer`](crate::BearerAuthLayer).

use std::sync::Arc;

use http::HeaderMap;
use tower_layer::Layer;

use super::gate::{Gate, Verdict};
use super::guard::Guard;
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
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard::new(inner, self.requirement.clone(), "RequireScopesLayer")
    }
}

impl Gate for ScopeRequirement {
    fn check(&self, principal: &Principal) -> Verdict {
        if self.is_satisfied_by(principal.scopes()) {
            Verdict::Pass(None)
        } else {
            Verdict::Refuse(Box::new((AuthError::InsufficientScope(self.clone()), HeaderMap::new(), None)))
        }
    }
}
