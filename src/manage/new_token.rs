//! [`NewToken`]: what a token to issue should be, and the rule for issuing on behalf of another
//! token.

use std::time::{Duration, SystemTime};

use super::error::ManageError;
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
    /// - the token does not outlive the issuer's token.
    ///
    /// # Errors
    ///
    /// [`ManageError::Superseded`], [`ManageError::OtherTenant`],
    /// [`ManageError::ScopeNotHeld`] naming the first scope the issuer lacks, or
    /// [`ManageError::OutlivesIssuer`].
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
        b.build()
    }
}
