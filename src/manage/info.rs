//! [`TokenInfo`]: the public metadata of a stored token.

use std::time::{Duration, SystemTime};

use crate::grant::{CreditBalance, Grant};
use crate::principal::Principal;
use crate::token::id::TokenId;

/// Public metadata of a stored token: never its secret or digest.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The token's public id.
    pub id: TokenId,
    /// Who the token authenticates: subject, organization, name, kind, scopes, expiry.
    pub principal: Principal,
    /// A non-secret reminder such as `tok_live_…a1B2`, where the store knows one.
    pub hint: Option<String>,
    /// When the token was stored.
    pub created_at: SystemTime,
    /// When the token was last presented and vouched for by the store, to the precision of the
    /// store's usage interval. A revoked or expired token's presentations are not uses; a
    /// presentation the layer then refused for a missing scope is (the token was valid).
    pub last_used_at: Option<SystemTime>,
    /// What is left of the token's [`Credits`](crate::Credits), if it has any.
    pub credits: Option<CreditBalance>,
}

impl TokenInfo {
    /// Metadata for a token the application stores itself.
    #[must_use]
    pub fn new(id: TokenId, principal: Principal, created_at: SystemTime) -> Self {
        TokenInfo { id, principal, hint: None, created_at, last_used_at: None, credits: None }
    }

    /// With a display hint.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// With a last-use time.
    #[must_use]
    pub fn with_last_used_at(mut self, at: Option<SystemTime>) -> Self {
        self.last_used_at = at;
        self
    }

    /// With a credit balance.
    #[must_use]
    pub fn with_credits(mut self, credits: Option<CreditBalance>) -> Self {
        self.credits = credits;
        self
    }

    /// Whether the token has expired at `now` (it is listed until purged).
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.principal.is_expired_at(now)
    }

    /// The token's expiry, if it is after `now` and at most `window` from it: the test of an
    /// expiry notice (`tower-bearer-manage`'s `ExpiryNotices`, `GET /notices`, the CLI's
    /// `notices`), defined once.
    #[must_use]
    pub fn expires_within(&self, now: SystemTime, window: Duration) -> Option<SystemTime> {
        let expires_at = self.principal.expires_at()?;
        let until = now.checked_add(window).unwrap_or(now);
        (expires_at > now && expires_at <= until).then_some(expires_at)
    }

    /// The expiry a replacement gets when this token is rotated at `now`: the same lifetime
    /// length, counted from `now` (a lifetime too long to count from `now` keeps its expiry).
    #[must_use]
    pub fn rotated_expiry(&self, now: SystemTime) -> Option<SystemTime> {
        let expires = self.principal.expires_at()?;
        Some(now.checked_add(expires.duration_since(self.created_at).unwrap_or_default()).unwrap_or(expires))
    }

    /// The grant a replacement gets when this token is rotated at `now`: this token's, with
    /// the [rotated expiry](Self::rotated_expiry), no later than `not_after` (if given).
    pub fn rotated_grant(&self, now: SystemTime, not_after: Option<SystemTime>) -> Grant {
        let expires = match (self.rotated_expiry(now), not_after) {
            (Some(at), Some(limit)) => Some(at.min(limit)),
            (at, limit) => at.or(limit),
        };
        self.principal.grant().clone().with_expiry(expires)
    }
}
