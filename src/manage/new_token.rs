//! [`NewToken`]: what a token to issue should be: a [`Grant`] and a name.

use std::time::{Duration, SystemTime};

use super::error::ManageError;
use crate::grant::{Credits, Grant, RateLimit};
use crate::principal::Principal;
use crate::scope::Scopes;
use crate::token::id::TokenId;

/// What a new token should be: whose, named what, with which scopes, until when.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::NewToken;
///
/// let new = NewToken::for_subject("user_42")
///     .organization("acme")
///     .name("CI deploy key")
///     .kind("personal")
///     .scopes(["deployments:write"])
///     .expires_in(Duration::from_secs(90 * 24 * 3600));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct NewToken {
    grant: Grant,
    name: Option<String>,
    /// Set by a builder call whose argument could not be honoured; issuing then fails.
    out_of_range: Option<&'static str>,
    /// A lifetime given with [`expires_in`](Self::expires_in), until the issuing store counts
    /// it from its clock ([`issued_at`](Self::issued_at)).
    lifetime: Option<Duration>,
}

impl NewToken {
    /// A token for `subject`, with no scopes and no expiry.
    pub fn for_subject(subject: impl Into<String>) -> Self {
        NewToken::for_grant(Grant::new(subject))
    }

    /// A token that grants `grant`.
    pub fn for_grant(grant: Grant) -> Self {
        NewToken { grant, name: None, out_of_range: None, lifetime: None }
    }

    /// Sets the organization or tenant.
    pub fn organization(self, organization: impl Into<String>) -> Self {
        self.map_grant(|g| g.with_organization(organization))
    }

    /// Names the token ("CI deploy key"); owners tell their tokens apart by name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the token's kind ("personal", "service", ...). Kinds a store reserves
    /// ([`MintRules::reserve_kind`](crate::grant::MintRules::reserve_kind), `oauth_access` by
    /// default) are minted only by the store's own endpoints.
    pub fn kind(self, kind: impl Into<String>) -> Self {
        self.map_grant(|g| g.with_kind(kind))
    }

    /// Sets the scopes; [`Scopes::WILDCARD`](crate::Scopes::WILDCARD) (`*`) means every scope
    /// but the store's admin scope.
    pub fn scopes(self, scopes: impl Into<Scopes>) -> Self {
        self.map_grant(|g| g.with_scopes(scopes))
    }

    /// Gives the token its own rate limit, enforced by a
    /// `RateLimitLayer` ([`limit`](crate::limit)) behind the auth layer.
    pub fn rate_limit(self, limit: RateLimit) -> Self {
        self.map_grant(|g| g.with_rate_limit(limit))
    }

    /// Gives the token credits, spent by a [`CreditsLayer`](crate::CreditsLayer) behind the
    /// auth layer.
    pub fn credits(self, credits: Credits) -> Self {
        self.map_grant(|g| g.with_credits(credits))
    }

    /// Binds the token to the key whose RFC 7638 SHA-256 thumbprint is `jkt`: it is then
    /// accepted only with a DPoP proof of that key (see [`Grant::confirmation`]).
    pub fn confirmation(self, jkt: impl Into<String>) -> Self {
        self.map_grant(|g| g.with_confirmation(jkt))
    }

    /// Restricts the token to `resources` (its audience: RFC 8707 resource indicators, such
    /// as `https://api.example.com`), checked by layers configured with
    /// [`BearerAuthLayer::audience`](crate::BearerAuthLayer::audience).
    pub fn audience<I, S>(self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_grant(|g| g.with_audience(resources))
    }

    /// Makes the token expire at `at`. Without an expiry a token is valid until revoked.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.lifetime = None;
        self.map_grant(|g| g.with_expires_at(at))
    }

    /// Makes the token expire `lifetime` after it is issued, by the issuing store's
    /// [`Clock`](crate::Clock) (until a store counts it, [`expiry`](Self::expiry) counts it
    /// from the system clock). A lifetime past what a `SystemTime` can hold makes issuing fail
    /// with [`ManageError::OutOfRange`].
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(lifetime);
        self.count_lifetime(SystemTime::now())
    }

    /// This token as issued at `now`, the issuing store's time: a lifetime given with
    /// [`expires_in`](Self::expires_in) counts from then. Stores call it, with
    /// [`validate`](Self::validate), before issuing, and
    /// [`TokenManager::issue_as`](crate::TokenManager::issue_as) before it decides: once
    /// counted, the expiry is fixed, so the one the rule checked is the one issued.
    pub fn issued_at(self, now: SystemTime) -> Self {
        let mut counted = self.count_lifetime(now);
        counted.lifetime = None;
        counted
    }

    /// The expiry `now` plus the lifetime, if one was given, keeping the lifetime.
    fn count_lifetime(mut self, now: SystemTime) -> Self {
        let Some(lifetime) = self.lifetime else { return self };
        match now.checked_add(lifetime) {
            Some(at) => self.map_grant(|g| g.with_expires_at(at)),
            None => {
                self.out_of_range = Some("expires_in");
                self
            }
        }
    }

    /// Whether the token can be issued as asked: stores call this before issuing.
    ///
    /// # Errors
    ///
    /// [`ManageError::OutOfRange`] naming the builder call whose argument was out of range.
    pub fn validate(&self) -> Result<(), ManageError> {
        self.out_of_range.map_or(Ok(()), |what| Err(ManageError::OutOfRange(what)))
    }

    /// Everything the token will grant.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The token's name, if it has one.
    #[must_use]
    pub fn token_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The subject the token will belong to.
    #[must_use]
    pub fn subject(&self) -> &str {
        self.grant.subject()
    }

    /// When the token will expire, if it does.
    #[must_use]
    pub fn expiry(&self) -> Option<SystemTime> {
        self.grant.expires_at()
    }

    /// The scopes the token will grant.
    #[must_use]
    pub fn requested_scopes(&self) -> &Scopes {
        self.grant.scopes()
    }

    /// The principal a store keeps for this token under `id`. For stores built on the
    /// lifecycle pieces: generate the secret with a [`TokenFormat`](crate::TokenFormat),
    /// keep its [`hash`](crate::TokenSecret::hash) and this principal.
    #[must_use]
    pub fn principal(&self, id: TokenId) -> Principal {
        let b = Principal::for_grant(self.grant.clone()).token_id(id);
        match &self.name {
            Some(name) => b.token_name(name.clone()),
            None => b,
        }
        .build()
    }

    fn map_grant(mut self, change: impl FnOnce(Grant) -> Grant) -> Self {
        self.grant = change(std::mem::replace(&mut self.grant, Grant::new("")));
        self
    }
}
