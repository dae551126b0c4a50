//! The token lifecycle: [`NewToken`] in, [`IssuedToken`] out (its secret shown once), then
//! listing, rotation, revocation, expiry and usage, through the [`TokenLifecycle`] trait that
//! every managing store implements the same way.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::principal::{Principal, TokenId};
use crate::scope::Scopes;
use crate::store::{StoreError, TokenStore};
use crate::token::TokenSecret;

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

    /// Sets the scopes; [`WILDCARD`](crate::WILDCARD) (`*`) means full access.
    pub fn scopes(mut self, scopes: impl Into<Scopes>) -> Self {
        self.scopes = scopes.into();
        self
    }

    /// Makes the token expire at `at`. Without an expiry a token is valid until revoked.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Makes the token expire `lifetime` from now.
    pub fn expires_in(self, lifetime: Duration) -> Self {
        self.expires_at(SystemTime::now() + lifetime)
    }

    /// The subject the token will belong to.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The scopes the token will grant.
    #[must_use]
    pub fn requested_scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// Checks that `issuer` may mint this token: every requested scope must be granted by
    /// the issuer's own scopes (only a wildcard issuer can mint a wildcard token), and the
    /// token may not outlive the issuer's token. A `tokens:read` token cannot mint a
    /// `tokens:write` one.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::ScopeNotHeld`] naming the first scope the issuer lacks, or
    /// [`LifecycleError::OutlivesIssuer`].
    pub fn check_issuer(&self, issuer: &Principal) -> Result<(), LifecycleError> {
        let held = issuer.scopes();
        if let Some(missing) = self.scopes.iter().find(|s| !held.grants(s)) {
            return Err(LifecycleError::ScopeNotHeld(missing.to_owned()));
        }
        if let Some(limit) = issuer.expires_at()
            && self.expires_at.is_none_or(|at| at > limit)
        {
            return Err(LifecycleError::OutlivesIssuer);
        }
        Ok(())
    }

    /// The principal a store keeps for this token under `id`. For stores built on the
    /// lifecycle pieces: generate the secret with a [`TokenFormat`](crate::TokenFormat),
    /// keep its [`hash`](TokenSecret::hash) and this principal.
    #[must_use]
    pub fn principal(&self, id: TokenId) -> Principal {
        let mut b = Principal::builder(self.subject.clone()).token_id(id).scopes(self.scopes.clone());
        if let Some(o) = &self.organization {
            b = b.organization(o.clone());
        }
        if let Some(n) = &self.name {
            b = b.name(n.clone());
        }
        if let Some(k) = &self.kind {
            b = b.kind(k.clone());
        }
        if let Some(at) = self.expires_at {
            b = b.expires_at(at);
        }
        b.build()
    }
}

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
    /// When the token was last presented, to the precision of the store's usage interval.
    pub last_used_at: Option<SystemTime>,
}

impl TokenInfo {
    /// Metadata for a token the application stores itself.
    #[must_use]
    pub fn new(id: TokenId, principal: Principal, created_at: SystemTime) -> Self {
        TokenInfo { id, principal, hint: None, created_at, last_used_at: None }
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

    /// Checks that `manager` may revoke or rotate this token: a token may always manage
    /// itself; otherwise it must belong to the same subject and hold every scope this token
    /// has (a `tokens:write` token cannot revoke or take over the admin key).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::NotFound`] for another subject's token (its existence is not
    /// revealed), [`LifecycleError::ScopeNotHeld`] naming the first scope the manager lacks.
    pub fn check_manager(&self, manager: &Principal) -> Result<(), LifecycleError> {
        if manager.token_id() == Some(&self.id) {
            return Ok(());
        }
        if manager.subject() != self.principal.subject() {
            return Err(LifecycleError::NotFound(self.id.clone()));
        }
        match self.principal.scopes().iter().find(|s| !manager.scopes().grants(s)) {
            Some(missing) => Err(LifecycleError::ScopeNotHeld(missing.to_owned())),
            None => Ok(()),
        }
    }

    /// The expiry a replacement gets when this token is rotated at `now`: the same lifetime
    /// length, counted from `now`.
    #[must_use]
    pub fn rotated_expiry(&self, now: SystemTime) -> Option<SystemTime> {
        let expires = self.principal.expires_at()?;
        Some(now + expires.duration_since(self.created_at).unwrap_or_default())
    }

    /// [`check_manager`](Self::check_manager) for a rotation, which hands the manager a
    /// fresh copy of this token: unless the token rotates itself, the copy may not outlive
    /// the manager either.
    ///
    /// # Errors
    ///
    /// As [`check_manager`](Self::check_manager), and [`LifecycleError::OutlivesIssuer`].
    pub fn check_rotator(&self, manager: &Principal, now: SystemTime) -> Result<(), LifecycleError> {
        self.check_manager(manager)?;
        if manager.token_id() != Some(&self.id)
            && let Some(limit) = manager.expires_at()
            && self.rotated_expiry(now).is_none_or(|at| at > limit)
        {
            return Err(LifecycleError::OutlivesIssuer);
        }
        Ok(())
    }
}

/// A token just issued: its secret, to show the owner once, and its metadata.
///
/// `Debug` shows the metadata and redacts the secret.
#[must_use = "the secret is shown once: hand it to the token's owner"]
pub struct IssuedToken {
    secret: TokenSecret,
    info: TokenInfo,
}

impl IssuedToken {
    /// Pairs a secret with its metadata (for stores built on the lifecycle pieces).
    pub fn new(secret: TokenSecret, info: TokenInfo) -> Self {
        IssuedToken { secret, info }
    }

    /// The secret. Show it once; it cannot be recovered from the store.
    #[must_use]
    pub fn secret(&self) -> &TokenSecret {
        &self.secret
    }

    /// The token's public metadata.
    #[must_use]
    pub fn info(&self) -> &TokenInfo {
        &self.info
    }

    /// The token's id.
    #[must_use]
    pub fn id(&self) -> &TokenId {
        &self.info.id
    }

    /// Splits into secret and metadata.
    #[must_use]
    pub fn into_parts(self) -> (TokenSecret, TokenInfo) {
        (self.secret, self.info)
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken").field("secret", &self.secret).field("info", &self.info).finish()
    }
}

/// Why a lifecycle operation failed. Never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// No live token has this id.
    #[error("no live token with id {0}")]
    NotFound(TokenId),
    /// The issuing principal does not hold a scope the new token asks for.
    #[error("the issuer does not hold the scope {0:?}")]
    ScopeNotHeld(String),
    /// The new token would outlive the token that issues it.
    #[error("the new token would outlive the issuer's token")]
    OutlivesIssuer,
    /// The backing store failed.
    #[error("the token store failed")]
    Store(#[source] StoreError),
}

/// Managing tokens: every store that keeps tokens (not just checks them) implements this,
/// the same way, so an application changes store by changing one line.
///
/// All methods are `async` so that database-backed stores fit; the
/// [`MemoryTokenStore`](crate::MemoryTokenStore) answers at once (it also has the same
/// operations as plain synchronous methods).
pub trait TokenLifecycle: TokenStore {
    /// Mints a token of the store's format. The secret is in the result and nowhere else.
    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send;

    /// Mints a token on behalf of `issuer` (a token creating another through the API): as
    /// [`issue`](Self::issue), after [`NewToken::check_issuer`].
    fn issue_as(
        &self,
        issuer: &Principal,
        new: NewToken,
    ) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send {
        let checked = new.check_issuer(issuer).map(|()| new);
        async move { self.issue(checked?).await }
    }

    /// Revokes a token on behalf of `manager` (a token revoking another through the API):
    /// as [`revoke`](Self::revoke), after [`TokenInfo::check_manager`]. Returns `false` for
    /// a token that is not live.
    fn revoke_as(
        &self,
        manager: &Principal,
        id: &TokenId,
    ) -> impl Future<Output = Result<bool, LifecycleError>> + Send {
        async move {
            match self.get(id).await? {
                Some(target) => {
                    target.check_manager(manager)?;
                    self.revoke(id).await
                }
                None => Ok(false),
            }
        }
    }

    /// Rotates a token on behalf of `manager`: as [`rotate`](Self::rotate), after
    /// [`TokenInfo::check_rotator`].
    fn rotate_as(
        &self,
        manager: &Principal,
        id: &TokenId,
        grace: Duration,
    ) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send {
        async move {
            let target = self.get(id).await?.ok_or_else(|| LifecycleError::NotFound(id.clone()))?;
            target.check_rotator(manager, SystemTime::now())?;
            self.rotate(id, grace).await
        }
    }

    /// Metadata of every live token of `subject`, oldest first.
    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, LifecycleError>> + Send;

    /// Metadata of one live token.
    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, LifecycleError>> + Send;

    /// Revokes a token, effective for every request that starts after this returns. Returns
    /// whether a live token had this id.
    fn revoke(&self, id: &TokenId) -> impl Future<Output = Result<bool, LifecycleError>> + Send;

    /// Replaces a token with a new one with the same subject, organization, name, kind,
    /// scopes and lifetime length. With `grace == Duration::ZERO` the old token stops working
    /// at the instant the new one exists (its secret is returned only then, so no client
    /// ever holds two working tokens); otherwise the old one keeps working for `grace`.
    fn rotate(
        &self,
        id: &TokenId,
        grace: Duration,
    ) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send;

    /// Removes a token without replacement and without a trace (it then looks unknown, not
    /// revoked). Returns whether a token had this id.
    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<bool, LifecycleError>> + Send;

    /// Removes tokens whose expiry has passed. Returns how many.
    fn purge_expired(&self) -> impl Future<Output = Result<usize, LifecycleError>> + Send;

    /// Records that a token was used at `at` (stores that track usage themselves coalesce
    /// the writes).
    fn record_usage(
        &self,
        id: &TokenId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_scopes_bound_new_tokens() {
        let reader = Principal::builder("u").scopes(Scopes::parse("tokens:read invoices:read")).build();
        let admin = Principal::builder("u").scopes(Scopes::parse("*")).build();
        let want_write = NewToken::for_subject("u").scopes(["tokens:write"]);
        assert!(
            matches!(want_write.check_issuer(&reader), Err(LifecycleError::ScopeNotHeld(s)) if s == "tokens:write")
        );
        assert!(want_write.check_issuer(&admin).is_ok());
        assert!(NewToken::for_subject("u").scopes(["invoices:read"]).check_issuer(&reader).is_ok());
        let want_all = NewToken::for_subject("u").scopes(["*"]);
        assert!(matches!(want_all.check_issuer(&reader), Err(LifecycleError::ScopeNotHeld(s)) if s == "*"));
    }

    #[test]
    fn derived_tokens_do_not_outlive_their_issuer() {
        let soon = SystemTime::now() + Duration::from_secs(60);
        let issuer = Principal::builder("u").scopes(Scopes::parse("*")).expires_at(soon).build();
        assert!(matches!(
            NewToken::for_subject("u").check_issuer(&issuer),
            Err(LifecycleError::OutlivesIssuer)
        ));
        let later = NewToken::for_subject("u").expires_at(soon + Duration::from_secs(1));
        assert!(matches!(later.check_issuer(&issuer), Err(LifecycleError::OutlivesIssuer)));
        assert!(NewToken::for_subject("u").expires_at(soon).check_issuer(&issuer).is_ok());
    }

    #[test]
    fn managers_hold_the_scopes_of_what_they_manage() {
        let now = SystemTime::now();
        let admin_p = NewToken::for_subject("u").scopes(["*"]).principal(TokenId::from("admin"));
        let admin = TokenInfo::new(TokenId::from("admin"), admin_p.clone(), now);
        let writer = Principal::builder("u").token_id("w").scopes(Scopes::parse("tokens:write")).build();
        assert!(matches!(admin.check_manager(&writer), Err(LifecycleError::ScopeNotHeld(s)) if s == "*"));
        assert!(admin.check_manager(&admin_p).is_ok(), "a token manages itself");
        let scoped = TokenInfo::new(
            TokenId::from("s"),
            Principal::builder("u").token_id("s").scopes(Scopes::parse("tokens:write")).build(),
            now,
        );
        assert!(scoped.check_manager(&writer).is_ok());
        assert!(scoped.check_manager(&admin_p).is_ok());
        let stranger = Principal::builder("v").scopes(Scopes::parse("*")).build();
        assert!(matches!(scoped.check_manager(&stranger), Err(LifecycleError::NotFound(_))));
    }

    #[test]
    fn a_rotation_may_not_hand_out_a_longer_lived_copy() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let short_admin =
            Principal::builder("u").token_id("a").scopes(Scopes::parse("*")).expires_at(now + hour).build();
        let forever = TokenInfo::new(TokenId::from("f"), Principal::builder("u").token_id("f").build(), now);
        assert!(matches!(forever.check_rotator(&short_admin, now), Err(LifecycleError::OutlivesIssuer)));
        let brief = TokenInfo::new(
            TokenId::from("b"),
            Principal::builder("u").token_id("b").expires_at(now + Duration::from_secs(60)).build(),
            now,
        );
        assert_eq!(brief.rotated_expiry(now + hour), Some(now + hour + Duration::from_secs(60)));
        assert!(brief.check_rotator(&short_admin, now).is_ok());
    }

    #[test]
    fn principal_carries_everything() {
        let at = SystemTime::now();
        let p = NewToken::for_subject("s")
            .organization("o")
            .name("n")
            .kind("k")
            .scopes(["a"])
            .expires_at(at)
            .principal(TokenId::from("tid_x"));
        assert_eq!(
            (p.subject(), p.organization(), p.name(), p.kind(), p.token_id().unwrap().as_str()),
            ("s", Some("o"), Some("n"), Some("k"), "tid_x")
        );
        assert!(p.scopes().contains("a"));
        assert_eq!(p.expires_at(), Some(at));
    }
}
