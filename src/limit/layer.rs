//! [`RateLimitLayer`]: per-token rate limits behind the auth layer, and [`LimitBy`], whose
//! requests count together.

use std::sync::Arc;

use tower_layer::Layer;

use super::buckets::Buckets;
use super::limits::{LimitBy, Limits};
use crate::clock::Clock;
use crate::grant::{DefaultLimits, RateLimit};
use crate::middleware::guard::Guard;

/// Rate limits for requests the [`BearerAuthLayer`](crate::BearerAuthLayer) admitted, placed
/// behind it: counted per token id (never per token: the secret is not kept), or shared by
/// every token of a subject or organization ([`shared_by`](Self::shared_by)).
///
/// A token's limit is its own ([`NewToken::rate_limit`](crate::NewToken::rate_limit)), else the
/// layer's default for its kind ([`default_for_kind`](Self::default_for_kind)), else the layer's
/// default ([`default_limit`](Self::default_limit)); a token with none of them is not limited.
/// Over its limit, a request is answered 429 in the auth layer's format (gRPC
/// `RESOURCE_EXHAUSTED` for gRPC requests) with `Retry-After` and the IETF `RateLimit-Policy`
/// and `RateLimit` fields; the auth layer's event hook sees it as a `rate_limited` rejection.
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, routing::get};
/// use tower::ServiceBuilder;
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore, RateLimit, RateLimitLayer};
///
/// let limits = RateLimitLayer::new()
///     .default_limit(RateLimit::new(100, Duration::from_secs(10)).unwrap())
///     .default_for_kind("trial", RateLimit::per_minute(10).unwrap());
/// let app: Router = Router::new().route("/v1/things", get(|| async { "[]" })).layer(
///     ServiceBuilder::new().layer(BearerAuthLayer::new(MemoryTokenStore::new())).layer(limits),
/// );
/// ```
///
/// The counts are kept in this process: each instance of a service behind a load balancer
/// limits on its own (n instances admit up to n times the limit in all), which is what a
/// limit against bursts needs, at no cost per request beyond this process. For exact totals
/// across instances, use [`Credits`](crate::Credits) on a shared store. Memory stays bounded:
/// a key's count is dropped once it has been idle for its whole period (its quota is then
/// full again, so nothing is lost), swept when the number of keys doubles.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limits: Arc<Limits>,
}

impl Default for RateLimitLayer {
    fn default() -> Self {
        RateLimitLayer::new()
    }
}

impl RateLimitLayer {
    /// Limits by token, each token to its own rate limit, no defaults, on the system clock.
    #[must_use]
    pub fn new() -> Self {
        let limits = Limits {
            by: LimitBy::Token,
            defaults: DefaultLimits::none(),
            advertise: false,
            buckets: Arc::new(Buckets::new(Clock::system())),
        };
        RateLimitLayer { limits: Arc::new(limits) }
    }

    /// Counts the requests of every token of one subject or organization together.
    #[must_use]
    pub fn shared_by(mut self, by: LimitBy) -> Self {
        Arc::make_mut(&mut self.limits).by = by;
        self
    }

    /// The limits of tokens that have none of their own, by kind. Give the store the same
    /// value ([`MintRules::with_default_limits`](crate::grant::MintRules::with_default_limits)),
    /// so that a token limited only by its kind's default mints no looser token.
    #[must_use]
    pub fn default_limits(mut self, defaults: DefaultLimits) -> Self {
        Arc::make_mut(&mut self.limits).defaults = defaults;
        self
    }

    /// The limit of tokens that have none of their own (and whose kind has none): see
    /// [`default_limits`](Self::default_limits).
    #[must_use]
    pub fn default_limit(mut self, limit: RateLimit) -> Self {
        let limits = Arc::make_mut(&mut self.limits);
        limits.defaults = std::mem::take(&mut limits.defaults).for_others(limit);
        self
    }

    /// The limit of tokens of `kind` ([`Principal::token_kind`](crate::Principal::token_kind))
    /// that have none of their own; before the [`default_limit`](Self::default_limit). See
    /// [`default_limits`](Self::default_limits).
    #[must_use]
    pub fn default_for_kind(mut self, kind: impl Into<String>, limit: RateLimit) -> Self {
        let limits = Arc::make_mut(&mut self.limits);
        limits.defaults = std::mem::take(&mut limits.defaults).for_kind(kind, limit);
        self
    }

    /// The default limits this layer applies, to give the store's
    /// [`MintRules`](crate::grant::MintRules).
    pub fn defaults(&self) -> &DefaultLimits {
        &self.limits.defaults
    }

    /// Adds the `RateLimit-Policy` and `RateLimit` fields to every admitted response too, not
    /// only to refusals, so that clients can pace themselves (off by default: two formatted
    /// headers per response).
    #[must_use]
    pub fn advertise(mut self, on_every_response: bool) -> Self {
        Arc::make_mut(&mut self.limits).advertise = on_every_response;
        self
    }

    /// Reads the time from `clock` (the system clock by default); starts the counts afresh.
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        Arc::make_mut(&mut self.limits).buckets = Arc::new(Buckets::new(clock));
        self
    }
}

impl RateLimitLayer {
    /// The configuration and counts, for the auth layer to run in line.
    pub(crate) fn into_limits(self) -> Arc<Limits> {
        self.limits
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard::new(inner, self.limits.clone(), "RateLimitLayer")
    }
}
