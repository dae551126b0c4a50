//! [`DefaultLimits`]: the rate limit a token without its own gets, by kind.

use std::sync::Arc;

use super::Grant;
use crate::grant::RateLimit;

/// The rate limits of tokens that have none of their own: one per kind, and one for every
/// other token. Defined once and given both to the `RateLimitLayer` that applies them
/// ([`limit`](crate::limit)) and to the store whose [`MintRules`](super::MintRules) compare
/// *effective* limits when one token mints another: a `trial` key limited only by its kind's
/// default cannot mint an unlimited key of another kind.
///
/// ```
/// use tower_bearer::RateLimit;
/// use tower_bearer::grant::DefaultLimits;
///
/// let defaults = DefaultLimits::none()
///     .for_kind("trial", RateLimit::per_minute(10).unwrap())
///     .for_others(RateLimit::per_second(100).unwrap());
/// assert_eq!(defaults.of_kind(Some("trial")), RateLimit::per_minute(10));
/// assert_eq!(defaults.of_kind(None), RateLimit::per_second(100));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct DefaultLimits {
    by_kind: Arc<[(Box<str>, RateLimit)]>,
    others: Option<RateLimit>,
}

impl DefaultLimits {
    /// No defaults: a token without its own rate limit is unlimited.
    pub fn none() -> Self {
        DefaultLimits::default()
    }

    /// Tokens of `kind` without their own limit get `limit` (replacing an earlier one).
    pub fn for_kind(self, kind: impl Into<String>, limit: RateLimit) -> Self {
        let kind = kind.into().into_boxed_str();
        let mut by_kind: Vec<_> = self.by_kind.iter().filter(|(k, _)| *k != kind).cloned().collect();
        by_kind.push((kind, limit));
        DefaultLimits { by_kind: by_kind.into(), ..self }
    }

    /// Tokens of no listed kind and without their own limit get `limit`.
    pub fn for_others(self, limit: RateLimit) -> Self {
        DefaultLimits { others: Some(limit), ..self }
    }

    /// The default limit of a token of `kind` (`None` for no kind).
    #[must_use]
    pub fn of_kind(&self, kind: Option<&str>) -> Option<RateLimit> {
        kind.and_then(|kind| self.by_kind.iter().find(|(k, _)| **k == *kind).map(|(_, limit)| *limit))
            .or(self.others)
    }

    /// The limit that applies to `grant`'s requests: its own, else its kind's default.
    #[must_use]
    pub fn effective(&self, grant: &Grant) -> Option<RateLimit> {
        grant.rate_limit().or_else(|| self.of_kind(grant.kind()))
    }
}
