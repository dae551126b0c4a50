//! [`Grant`]: everything a token allows, defined once; and [`MintRules`], the one rule for
//! what a token may do to other tokens (mint, rotate, revoke, list).
//!
//! Every representation of a token (the memory store's entries, SQL rows, signed-token claims,
//! introspection answers, the management API's bodies) converts to and from a [`Grant`] in
//! one place, and every entry point that lets one token act on another asks
//! the rule of [`MintRules`]. Minting is attenuation: a token creates or rotates only tokens whose
//! grant is within its own, in every dimension.

mod authority;
pub(crate) mod credits;
mod defaults;
pub(crate) mod rate_limit;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

pub use authority::MintRules;
pub(crate) use authority::{Action, Actor, Refusal, Visibility};
pub use credits::{CreditBalance, Credits};
pub use defaults::DefaultLimits;
pub use rate_limit::RateLimit;

use crate::scope::Scopes;

/// Everything a token allows: whose it is (subject, organization), what it may do (scopes,
/// audience, kind), until when (expiry), how much (rate limit, credits), and who may present
/// it (the key it is bound to, RFC 9449 DPoP).
///
/// A [`Principal`](crate::Principal) carries the grant of the token that authenticated a
/// request; a [`NewToken`](crate::NewToken) the grant of a token to issue. A missing
/// organization is a tenant of its own, never "any organization".
///
/// Tokens of one customer usually share everything but their subject and expiry; those
/// shared terms are one allocation, which stores holding many tokens share between them.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::{Grant, RateLimit, Scopes};
///
/// let grant = Grant::new("user_42")
///     .with_organization("acme")
///     .with_scopes(Scopes::parse("invoices:read"))
///     .with_rate_limit(RateLimit::per_second(10).unwrap());
/// assert_eq!(grant.organization(), Some("acme"));
/// assert!(grant.scopes().grants("invoices:read"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
#[must_use]
pub struct Grant {
    subject: Box<str>,
    expires_at: Option<SystemTime>,
    /// `None` while every term is at its default (no organization, scope, audience, kind or
    /// limit).
    terms: Option<Arc<Terms>>,
}

/// The part of a grant that the tokens of one customer share.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct Terms {
    organization: Option<Box<str>>,
    scopes: Scopes,
    kind: Option<Box<str>>,
    /// The resources the token is meant for (RFC 8707); empty: not restricted.
    audience: Box<[Box<str>]>,
    rate_limit: Option<RateLimit>,
    credits: Option<Credits>,
    /// The RFC 7638 SHA-256 thumbprint of the key the token is bound to (`cnf.jkt`).
    confirmation: Option<Box<str>>,
}

impl Grant {
    /// A grant for `subject`: no organization, no scopes, no expiry, no restriction.
    pub fn new(subject: impl Into<String>) -> Self {
        Grant { subject: subject.into().into_boxed_str(), expires_at: None, terms: None }
    }

    /// Who the token belongs to (a user id, a client id, ...).
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The organization or tenant the token acts in; `None` is a tenant of its own.
    #[must_use]
    pub fn organization(&self) -> Option<&str> {
        self.terms.as_ref()?.organization.as_deref()
    }

    /// The scopes the token grants.
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        match &self.terms {
            Some(terms) => &terms.scopes,
            None => Scopes::empty(),
        }
    }

    /// The resources the token is meant for (its `aud`, RFC 8707 resource indicators); none
    /// for a token not restricted to any.
    pub fn audience(&self) -> impl ExactSizeIterator<Item = &str> {
        self.terms.as_ref().map_or(&[][..], |t| &t.audience[..]).iter().map(|a| &**a)
    }

    /// Whether the token is meant for `resource` (listed in its [`audience`](Self::audience)).
    #[must_use]
    pub fn is_for(&self, resource: &str) -> bool {
        self.audience().any(|a| a == resource)
    }

    /// When the token stops being valid; `None` means valid until revoked.
    #[must_use]
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether the token has expired at `now`.
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The token's kind ("personal", "service", ...), if any.
    #[must_use]
    pub fn kind(&self) -> Option<&str> {
        self.terms.as_ref()?.kind.as_deref()
    }

    /// The token's own rate limit, if it has one (a kind's default is not included: see
    /// [`DefaultLimits`]).
    #[must_use]
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.terms.as_ref()?.rate_limit
    }

    /// The token's credits plan, if it has one.
    #[must_use]
    pub fn credits(&self) -> Option<Credits> {
        self.terms.as_ref()?.credits
    }

    /// The key the token is bound to, if any: the RFC 7638 SHA-256 thumbprint (base64url)
    /// of a public key (`cnf.jkt`, RFC 9449 §6). A bound token is accepted only with a DPoP
    /// proof signed by that key, never as a plain bearer token.
    #[must_use]
    pub fn confirmation(&self) -> Option<&str> {
        self.terms.as_ref()?.confirmation.as_deref()
    }

    /// Sets the subject.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = subject.into().into_boxed_str();
        self
    }

    /// Sets the organization or tenant.
    pub fn with_organization(self, organization: impl Into<String>) -> Self {
        self.with_terms(|t| t.organization = Some(organization.into().into_boxed_str()))
    }

    /// Sets the scopes; [`Scopes::WILDCARD`] (`*`) means every scope but the store's admin
    /// scope ([`MintRules::admin_scope`]).
    pub fn with_scopes(self, scopes: impl Into<Scopes>) -> Self {
        self.with_terms(|t| t.scopes = scopes.into())
    }

    /// Restricts the token to `resources` (its audience, RFC 8707).
    pub fn with_audience<I, S>(self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with_terms(|t| t.audience = resources.into_iter().map(|r| r.into().into_boxed_str()).collect())
    }

    /// Makes the token expire at `at`.
    pub fn with_expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets or clears the expiry.
    pub fn with_expiry(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = at;
        self
    }

    /// Sets the token's kind.
    pub fn with_kind(self, kind: impl Into<String>) -> Self {
        self.with_terms(|t| t.kind = Some(kind.into().into_boxed_str()))
    }

    /// Gives the token its own rate limit.
    pub fn with_rate_limit(self, limit: RateLimit) -> Self {
        self.with_terms(|t| t.rate_limit = Some(limit))
    }

    /// Gives the token credits.
    pub fn with_credits(self, credits: Credits) -> Self {
        self.with_terms(|t| t.credits = Some(credits))
    }

    /// Binds the token to the key whose RFC 7638 SHA-256 thumbprint is `jkt` (see
    /// [`confirmation`](Self::confirmation)).
    pub fn with_confirmation(self, jkt: impl Into<String>) -> Self {
        self.with_terms(|t| t.confirmation = Some(jkt.into().into_boxed_str()))
    }

    /// A grant with every attribute set to a value other than its default (whole seconds, as
    /// every representation keeps them): what each representation's round-trip test stores
    /// and reads back. A test in this crate destructures [`Grant`] without `..`, so adding an
    /// attribute fails to compile until this sets it, and then fails every round trip that
    /// does not carry it.
    #[doc(hidden)]
    pub fn every_attribute_example() -> Self {
        Grant::new("user_every")
            .with_organization("org_every")
            .with_scopes(Scopes::parse("reports:read reports:write"))
            .with_audience(["https://api.example.com", "https://reports.example.com"])
            .with_expires_at(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(4_102_444_800))
            .with_kind("service")
            .with_rate_limit(RateLimit::new(120, std::time::Duration::from_secs(60)).expect("a valid limit"))
            .with_credits(Credits::new(5_000).refilled(1_000, std::time::Duration::from_secs(86_400)))
            .with_confirmation("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    }

    /// Whether both grants share one allocation of their common terms (organization, scopes,
    /// audience, kind, limits): a store's check that interning worked.
    #[must_use]
    pub fn shares_terms_with(&self, other: &Grant) -> bool {
        match (&self.terms, &other.terms) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The shared terms, for a store that interns them.
    pub(crate) fn terms(&self) -> Option<&Arc<Terms>> {
        self.terms.as_ref()
    }

    /// Swaps the shared terms for equal ones (an interned copy).
    pub(crate) fn share(&mut self, terms: Option<Arc<Terms>>) {
        debug_assert!(terms == self.terms);
        self.terms = terms;
    }

    /// Changes the shared terms; terms all at their defaults are none, so that equal grants
    /// compare equal however they were built.
    fn with_terms(mut self, change: impl FnOnce(&mut Terms)) -> Self {
        change(Arc::make_mut(self.terms.get_or_insert_with(Arc::default)));
        if self.terms.as_deref().is_some_and(Terms::is_default) {
            self.terms = None;
        }
        self
    }
}

impl Terms {
    /// Whether every term is at its default, read in place: a setter asks this on every call,
    /// and a default `Terms` to compare with would allocate an empty scope set each time.
    fn is_default(&self) -> bool {
        let Terms { organization, scopes, kind, audience, rate_limit, credits, confirmation } = self;
        organization.is_none()
            && confirmation.is_none()
            && scopes.is_empty()
            && kind.is_none()
            && audience.is_empty()
            && rate_limit.is_none()
            && credits.is_none()
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grant")
            .field("subject", &self.subject)
            .field("organization", &self.organization())
            .field("scopes", self.scopes())
            .field("audience", &self.audience().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .field("kind", &self.kind())
            .field("rate_limit", &self.rate_limit())
            .field("credits", &self.credits())
            .field("confirmation", &self.confirmation())
            .finish()
    }
}
