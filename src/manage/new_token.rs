//! [`NewToken`]: what a token to issue should be, and the rule for issuing on behalf of another
//! token.

use std::time::{Duration, SystemTime};

use super::error::ManageError;
use crate::limit::credits::Credits;
use crate::limit::rate_limit::RateLimit;
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
    subject: String,
    organization: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    scopes: Scopes,
    expires_at: Option<SystemTime>,
    rate_limit: Option<RateLimit>,
    credits: Option<Credits>,
    audience: Vec<String>,
    /// Set by a builder call whose argument could not be honoured; issuing then fails.
    out_of_range: Option<&'static str>,
}

impl NewToken {
    /// A token for `subject`, with no scopes and no expiry.
    pub fn for_subject(subject: impl Into<String>) -> Self {
        NewToken {
            subject: subject.into(),
            organization: None,
            name: None,
            kind: None,
            scopes: Scopes::none(),
            expires_at: None,
            rate_limit: None,
            credits: None,
            audience: Vec::new(),
            out_of_range: None,
        }
    }

    /// Sets the organization or tenant.
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = Some(organization.into());
        self
    }

    /// Names the token ("CI deploy key"); owners tell their tokens apart by name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the token's kind ("personal", "service", "oauth_access", ...).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Sets the scopes; [`Scopes::WILDCARD`](crate::Scopes::WILDCARD) (`*`) means full access.
    pub fn scopes(mut self, scopes: impl Into<Scopes>) -> Self {
        self.scopes = scopes.into();
        self
    }

    /// Gives the token its own rate limit, enforced by a
    /// `RateLimitLayer` ([`limit`](crate::limit)) behind the auth layer.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Gives the token credits, spent by a [`CreditsLayer`](crate::CreditsLayer) behind the
    /// auth layer.
    pub fn credits(mut self, credits: Credits) -> Self {
        self.credits = Some(credits);
        self
    }

    /// Restricts the token to `resources` (its audience: RFC 8707 resource indicators, such
    /// as `https://api.example.com`), checked by layers configured with
    /// [`BearerAuthLayer::audience`](crate::BearerAuthLayer::audience).
    pub fn audience<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience = resources.into_iter().map(Into::into).collect();
        self
    }

    /// Makes the token expire at `at`. Without an expiry a token is valid until revoked.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Makes the token expire `lifetime` from now (the system clock; with a store on another
    /// [`Clock`](crate::Clock), use `expires_at(clock.now() + lifetime)`). A lifetime past
    /// what a `SystemTime` can hold makes issuing fail with [`ManageError::OutOfRange`].
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        match SystemTime::now().checked_add(lifetime) {
            Some(at) => self.expires_at(at),
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

    /// The subject the token will belong to.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When the token will expire, if it does.
    #[must_use]
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The scopes the token will grant.
    #[must_use]
    pub fn requested_scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Checks that `issuer` may mint this token:
    ///
    /// - the issuer was not replaced by a rotation ([`Principal::replaced_by`]);
    /// - the token is for the issuer's own organization (both without one, or the same), and
    ///   for the issuer's own subject unless the issuer holds `admin_scope` (the store's
    ///   [`TokenManager::admin_scope`](crate::TokenManager::admin_scope));
    /// - every requested scope is granted by the issuer's own scopes (only a wildcard issuer
    ///   can mint a wildcard token): a `tokens:read` token cannot mint a `tokens:write` one;
    /// - the token does not outlive the issuer's token;
    /// - a token restricted to some resources mints tokens restricted to some of them;
    /// - the token's limits are no looser than the issuer's: a rate-limited issuer mints
    ///   tokens with a rate limit no faster and no burstier, an issuer with credits mints
    ///   tokens with no more credits, refilled no more nor sooner. (Each token still has its
    ///   own limits: to cap everything one customer's tokens do together, share the limit by
    ///   subject or organization, `RateLimitLayer::shared_by` ([`limit`](crate::limit)).)
    ///
    /// # Errors
    ///
    /// [`ManageError::Superseded`], [`ManageError::OtherTenant`],
    /// [`ManageError::ScopeNotHeld`] naming the first scope the issuer lacks,
    /// [`ManageError::OutlivesIssuer`] or [`ManageError::LooserLimits`].
    pub fn check_issuer(&self, issuer: &Principal, admin_scope: &str) -> Result<(), ManageError> {
        if issuer.replaced_by().is_some() {
            return Err(ManageError::Superseded);
        }
        let other_subject = issuer.subject() != self.subject && !issuer.scopes().contains(admin_scope);
        if issuer.organization() != self.organization.as_deref() || other_subject {
            return Err(ManageError::OtherTenant);
        }
        let held = issuer.scopes();
        if let Some(missing) = self.scopes.iter().find(|s| !held.grants(s)) {
            return Err(ManageError::ScopeNotHeld(missing.to_owned()));
        }
        if let Some(limit) = issuer.expires_at()
            && self.expires_at.is_none_or(|at| at > limit)
        {
            return Err(ManageError::OutlivesIssuer);
        }
        if issuer.audience().next().is_some()
            && (self.audience.is_empty() || self.audience.iter().any(|a| !issuer.is_for(a)))
        {
            return Err(ManageError::LooserLimits("audience"));
        }
        if !within_rate(self.rate_limit, issuer.rate_limit()) {
            return Err(ManageError::LooserLimits("rate_limit"));
        }
        if !within_credits(self.credits, issuer.credits()) {
            return Err(ManageError::LooserLimits("credits"));
        }
        Ok(())
    }

    /// The principal a store keeps for this token under `id`. For stores built on the
    /// lifecycle pieces: generate the secret with a [`TokenFormat`](crate::TokenFormat),
    /// keep its [`hash`](crate::TokenSecret::hash) and this principal.
    #[must_use]
    pub fn principal(&self, id: TokenId) -> Principal {
        let mut b = Principal::builder(self.subject.clone()).token_id(id).scopes(self.scopes.clone());
        if let Some(o) = &self.organization {
            b = b.organization(o.clone());
        }
        if let Some(n) = &self.name {
            b = b.token_name(n.clone());
        }
        if let Some(k) = &self.kind {
            b = b.token_kind(k.clone());
        }
        if let Some(at) = self.expires_at {
            b = b.expires_at(at);
        }
        if let Some(limit) = self.rate_limit {
            b = b.rate_limit(limit);
        }
        if let Some(credits) = self.credits {
            b = b.credits(credits);
        }
        if !self.audience.is_empty() {
            b = b.audience(self.audience.iter().cloned());
        }
        b.build()
    }
}

/// Whether a rate limit `new` is no looser than the `issuer`'s (no limit is the loosest).
fn within_rate(new: Option<RateLimit>, issuer: Option<RateLimit>) -> bool {
    match (new, issuer) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(new), Some(held)) => new.requests() <= held.requests() && new.interval() >= held.interval(),
    }
}

/// Whether credits `new` are no more than the `issuer`'s (no credits is unlimited).
fn within_credits(new: Option<Credits>, issuer: Option<Credits>) -> bool {
    match (new, issuer) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(new), Some(held)) => {
            let refill_within = match (new.refill(), held.refill()) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some((amount, every)), Some((held_amount, held_every))) => {
                    amount <= held_amount && every >= held_every
                }
            };
            new.initial() <= held.initial() && refill_within
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn limits_are_no_looser_than_the_issuers() {
        let per = |n, s| RateLimit::new(n, Duration::from_secs(s));
        let issuer =
            Principal::builder("u").rate_limit(per(10, 1).unwrap()).credits(Credits::new(100)).build();
        let ok = NewToken::for_subject("u").rate_limit(per(5, 1).unwrap()).credits(Credits::new(50));
        assert!(ok.check_issuer(&issuer, "admin").is_ok());
        for (new, what) in [
            (NewToken::for_subject("u").credits(Credits::new(1)), "rate_limit"),
            (ok.clone().rate_limit(per(20, 1).unwrap()), "rate_limit"),
            (ok.clone().rate_limit(per(10, 2).unwrap()).credits(Credits::new(101)), "credits"),
            (ok.clone().credits(Credits::new(1).refilled(1, Duration::from_secs(60))), "credits"),
            (NewToken::for_subject("u").rate_limit(per(1, 1).unwrap()), "credits"),
        ] {
            assert!(
                matches!(new.check_issuer(&issuer, "admin"), Err(ManageError::LooserLimits(w)) if w == what)
            );
        }
        let for_api = Principal::builder("u").audience(["https://api"]).build();
        let within = NewToken::for_subject("u").audience(["https://api"]);
        assert!(within.check_issuer(&for_api, "admin").is_ok());
        for outside in [NewToken::for_subject("u"), NewToken::for_subject("u").audience(["https://other"])] {
            assert!(matches!(
                outside.check_issuer(&for_api, "admin"),
                Err(ManageError::LooserLimits("audience"))
            ));
        }
        let unlimited = Principal::builder("u").build();
        assert!(NewToken::for_subject("u").check_issuer(&unlimited, "admin").is_ok());
    }
}
