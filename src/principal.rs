//! [`Principal`]: who an authenticated request acts for, handed to the inner service.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::grant::{Actor, Credits, Grant, RateLimit};
use crate::scope::Scopes;
use crate::token::id::TokenId;

/// The authenticated party of a request: put into the request's extensions by
/// [`BearerAuth`](crate::middleware::BearerAuth) and read by handlers (with the `axum` feature, simply by
/// taking `Principal` as a handler argument).
///
/// It never holds the token itself. Cloning is cheap (one reference count).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tower_bearer::{Principal, Scopes};
///
/// #[derive(Clone)]
/// struct Plan(&'static str);
///
/// let p = Principal::builder("user_42")
///     .organization("acme")
///     .token_id("tid_1")
///     .token_name("CI deploy key")
///     .scopes(Scopes::parse("invoices:read"))
///     .expires_at(SystemTime::now() + Duration::from_secs(3600))
///     .extension(Plan("pro"))
///     .build();
/// assert_eq!(p.subject(), "user_42");
/// assert!(p.scopes().grants("invoices:read"));
/// assert_eq!(p.extension::<Plan>().unwrap().0, "pro");
/// ```
#[derive(Clone)]
pub struct Principal(Arc<Inner>);

/// What every request reads inline; what few do behind one pointer. A memory store holds one
/// per token, so its size is most of a stored token's (BENCHMARKS.md, "Memory"); a test below
/// keeps it from growing.
#[derive(Clone)]
struct Inner {
    grant: Grant,
    token_id: Option<TokenId>,
    /// Name, successor and application data: `None` while all are.
    rare: Option<Box<Rare>>,
}

#[derive(Clone, Default)]
struct Rare {
    name: Option<Box<str>>,
    replaced_by: Option<TokenId>,
    extensions: http::Extensions,
}

impl Principal {
    /// Starts building a principal for `subject` (a user id, a client id, ...).
    pub fn builder(subject: impl Into<String>) -> PrincipalBuilder {
        Principal::for_grant(Grant::new(subject))
    }

    /// Starts building the principal of a token that grants `grant`.
    pub fn for_grant(grant: Grant) -> PrincipalBuilder {
        PrincipalBuilder(Inner { grant, token_id: None, rare: None })
    }

    /// Everything the token grants: subject, organization, scopes, audience, expiry, kind,
    /// limits.
    pub fn grant(&self) -> &Grant {
        &self.0.grant
    }

    /// This principal acting on other tokens, for the rule of [`MintRules`](crate::grant::MintRules).
    #[must_use]
    pub(crate) fn actor(&self) -> Actor<'_> {
        Actor { grant: &self.0.grant, token_id: self.token_id(), superseded: self.replaced_by().is_some() }
    }

    /// Who the token belongs to.
    #[must_use]
    pub fn subject(&self) -> &str {
        self.0.grant.subject()
    }

    /// The organization or tenant the token acts in, if any.
    #[must_use]
    pub fn organization(&self) -> Option<&str> {
        self.0.grant.organization()
    }

    /// The token's public id, if the store assigns ids.
    #[must_use]
    pub fn token_id(&self) -> Option<&TokenId> {
        self.0.token_id.as_ref()
    }

    /// The token's human-readable name ("CI deploy key"), if any.
    #[must_use]
    pub fn token_name(&self) -> Option<&str> {
        self.0.rare.as_ref()?.name.as_deref()
    }

    /// The token's kind ("personal", "service", "oauth_access", ...), if any.
    #[must_use]
    pub fn token_kind(&self) -> Option<&str> {
        self.0.grant.kind()
    }

    /// The token that replaced this one, when a rotation left this one working for a grace
    /// period: it still authenticates until then, but manages nothing.
    #[must_use]
    pub fn replaced_by(&self) -> Option<&TokenId> {
        self.0.rare.as_ref()?.replaced_by.as_ref()
    }

    /// The token's own rate limit, set when it was issued, for the
    /// `RateLimitLayer` ([`limit`](crate::limit)).
    #[must_use]
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.0.grant.rate_limit()
    }

    /// The token's credits plan, set when it was issued, for the
    /// [`CreditsLayer`](crate::CreditsLayer) (the balance is the store's:
    /// [`TokenInfo::credits`](crate::TokenInfo::credits)).
    #[must_use]
    pub fn credits(&self) -> Option<Credits> {
        self.0.grant.credits()
    }

    /// The account this principal's credits are spent from: its token's, or, for a token
    /// rotated with a grace period, its successor's (the balance moved to the successor at the
    /// rotation; the old token spends from it until the grace ends, so a rotation never doubles
    /// credits). `None` without credits, or without a token id to account them to.
    #[must_use]
    pub fn credit_account(&self) -> Option<&TokenId> {
        self.credits()?;
        self.replaced_by().or(self.token_id())
    }

    /// The resources the token is meant for (its `aud`, RFC 8707 resource indicators); none
    /// for a token not restricted to any.
    pub fn audience(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.grant.audience()
    }

    /// Whether the token is meant for `resource` (listed in its [`audience`](Self::audience)).
    #[must_use]
    pub fn is_for(&self, resource: &str) -> bool {
        self.0.grant.is_for(resource)
    }

    /// The scopes the token grants.
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        self.0.grant.scopes()
    }

    /// When the token stops being valid; `None` means valid until revoked.
    #[must_use]
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.grant.expires_at()
    }

    /// Whether the token has expired at `now`.
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.0.grant.is_expired_at(now)
    }

    /// Application data attached by the store, by type.
    #[must_use]
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.0.rare.as_ref()?.extensions.get::<T>()
    }

    /// Whether `a` and `b` are handles on one principal (clones of each other, such as two
    /// requests' copies of one stored token's principal): a check in constant time for code
    /// that remembers the last principal it saw. Two principals built apart are never the
    /// same, even with equal contents.
    #[must_use]
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// A builder holding this principal's data, to derive a modified principal.
    pub fn to_builder(&self) -> PrincipalBuilder {
        PrincipalBuilder((*self.0).clone())
    }

    /// Sets the token id in place (copying the data only if the principal is shared).
    pub(crate) fn set_token_id(&mut self, id: TokenId) {
        Arc::make_mut(&mut self.0).token_id = Some(id);
    }

    /// Swaps the grant for an equal one sharing interned parts, in place if not shared.
    pub(crate) fn share_grant(&mut self, share: impl FnOnce(&mut Grant)) {
        share(&mut Arc::make_mut(&mut self.0).grant);
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.0;
        f.debug_struct("Principal")
            .field("grant", &i.grant)
            .field("token_id", &i.token_id)
            .field("token_name", &self.token_name())
            .field("replaced_by", &self.replaced_by())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Principal`]; see [`Principal::builder`].
#[must_use]
pub struct PrincipalBuilder(Inner);

impl PrincipalBuilder {
    /// Sets the organization or tenant.
    pub fn organization(self, organization: impl Into<String>) -> Self {
        self.map_grant(|g| g.with_organization(organization))
    }

    /// Sets the token's public id.
    pub fn token_id(mut self, id: impl Into<TokenId>) -> Self {
        self.0.token_id = Some(id.into());
        self
    }

    /// Sets the token's human-readable name.
    pub fn token_name(mut self, name: impl Into<String>) -> Self {
        self.rare().name = Some(name.into().into_boxed_str());
        self
    }

    /// Sets the token's kind.
    pub fn token_kind(self, kind: impl Into<String>) -> Self {
        self.map_grant(|g| g.with_kind(kind))
    }

    /// Marks the token as replaced by `successor` (a rotation with a grace period).
    pub fn replaced_by(mut self, successor: impl Into<TokenId>) -> Self {
        self.rare().replaced_by = Some(successor.into());
        self
    }

    /// Sets the token's own rate limit.
    pub fn rate_limit(self, limit: RateLimit) -> Self {
        self.map_grant(|g| g.with_rate_limit(limit))
    }

    /// Restricts the token to `resources` (its audience, RFC 8707).
    pub fn audience<I, S>(self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.map_grant(|g| g.with_audience(resources))
    }

    /// Sets the token's credits plan.
    pub fn credits(self, credits: Credits) -> Self {
        self.map_grant(|g| g.with_credits(credits))
    }

    /// Binds the token to the key whose RFC 7638 thumbprint is `jkt` (DPoP, RFC 9449; see
    /// [`Grant::confirmation`]).
    pub fn confirmation(self, jkt: impl Into<String>) -> Self {
        self.map_grant(|g| g.with_confirmation(jkt))
    }

    /// Clears [`replaced_by`](Self::replaced_by), for a successor built from its predecessor.
    pub(crate) fn not_replaced(mut self) -> Self {
        if let Some(rare) = &mut self.0.rare {
            rare.replaced_by = None;
        }
        self
    }

    /// Sets the granted scopes.
    pub fn scopes(self, scopes: impl Into<Scopes>) -> Self {
        self.map_grant(|g| g.with_scopes(scopes))
    }

    /// Sets the expiry.
    pub fn expires_at(self, at: SystemTime) -> Self {
        self.map_grant(|g| g.with_expires_at(at))
    }

    /// Replaces the whole grant.
    pub fn grant(mut self, grant: Grant) -> Self {
        self.0.grant = grant;
        self
    }

    /// Attaches application data, retrievable with [`Principal::extension`].
    pub fn extension<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.rare().extensions.insert(value);
        self
    }

    /// Finishes the principal.
    #[must_use]
    pub fn build(self) -> Principal {
        Principal(Arc::new(self.0))
    }

    fn map_grant(mut self, change: impl FnOnce(Grant) -> Grant) -> Self {
        let grant = std::mem::replace(&mut self.0.grant, Grant::new(""));
        self.0.grant = change(grant);
        self
    }

    fn rare(&mut self) -> &mut Rare {
        self.0.rare.get_or_insert_with(Box::default)
    }
}

impl fmt::Debug for PrincipalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrincipalBuilder").field("subject", &self.0.grant.subject()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_inline_part_stays_small() {
        assert!(std::mem::size_of::<Inner>() <= 72, "{}", std::mem::size_of::<Inner>());
    }

    #[test]
    fn rare_fields_round_trip() {
        let p = Principal::builder("u").token_name("n").build();
        assert_eq!((p.organization(), p.token_name(), p.token_kind()), (None, Some("n"), None));
        let q = p.to_builder().organization("o").token_kind("k").build();
        assert_eq!((q.organization(), q.token_name(), q.token_kind()), (Some("o"), Some("n"), Some("k")));
        assert_eq!(Principal::builder("u").build().token_name(), None);
    }

    #[test]
    fn clones_are_the_same_principal_and_equal_copies_are_not() {
        let p = Principal::builder("u").build();
        assert!(Principal::ptr_eq(&p, &p.clone()));
        assert!(!Principal::ptr_eq(&p, &p.to_builder().build()));
    }

    #[test]
    fn expiry() {
        let now = SystemTime::now();
        let p = Principal::builder("u").expires_at(now).build();
        assert!(p.is_expired_at(now));
        assert!(!p.is_expired_at(now - Duration::from_secs(1)));
        assert!(!Principal::builder("u").build().is_expired_at(now));
    }
}
