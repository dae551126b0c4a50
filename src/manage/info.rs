//! [`TokenInfo`]: the public metadata of a stored token, and the rules for managing it through
//! another token (revoking, rotating).

use std::time::SystemTime;

use super::error::ManageError;
use crate::limit::credits::CreditBalance;
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

    /// Checks that `manager` may revoke or rotate this token:
    ///
    /// - a token replaced by a rotation ([`Principal::replaced_by`]) manages nothing, not
    ///   even itself: a leaked key its owner rotated cannot fork itself or revoke its
    ///   successor during the grace period;
    /// - a token may otherwise always manage itself;
    /// - another token must be of the same organization (both without one, or the same) and
    ///   of the same subject, unless the manager holds `admin_scope` (the store's
    ///   [`TokenManager::admin_scope`](crate::TokenManager::admin_scope)); and it must hold
    ///   every scope this token has (a `tokens:write` token cannot revoke or take over the
    ///   admin key).
    ///
    /// # Errors
    ///
    /// [`ManageError::Superseded`]; [`ManageError::NotFound`] for another tenant's token (its
    /// existence is not revealed); [`ManageError::ScopeNotHeld`] naming the first scope the
    /// manager lacks.
    pub fn check_manager(&self, manager: &Principal, admin_scope: &str) -> Result<(), ManageError> {
        if manager.replaced_by().is_some() {
            return Err(ManageError::Superseded);
        }
        if manager.token_id() == Some(&self.id) {
            return Ok(());
        }
        let target = &self.principal;
        let other_subject = manager.subject() != target.subject() && !manager.scopes().contains(admin_scope);
        if manager.organization() != target.organization() || other_subject {
            return Err(ManageError::NotFound(self.id.clone()));
        }
        match self.principal.scopes().iter().find(|s| !manager.scopes().grants(s)) {
            Some(missing) => Err(ManageError::ScopeNotHeld(missing.to_owned())),
            None => Ok(()),
        }
    }

    /// The expiry a replacement gets when this token is rotated at `now`: the same lifetime
    /// length, counted from `now` (a lifetime too long to count from `now` keeps its expiry).
    #[must_use]
    pub fn rotated_expiry(&self, now: SystemTime) -> Option<SystemTime> {
        let expires = self.principal.expires_at()?;
        Some(now.checked_add(expires.duration_since(self.created_at).unwrap_or_default()).unwrap_or(expires))
    }

    /// [`check_manager`](Self::check_manager) for a rotation, which hands the manager a
    /// fresh copy of this token. Returns the latest expiry the copy may have:
    ///
    /// - a token rotating itself gets a copy that expires no later than it does (rotation
    ///   renews a token only through another token, or the store's own
    ///   [`rotate`](crate::TokenManager::rotate): a key cannot keep itself alive forever);
    /// - another manager's copy must not outlive the manager.
    ///
    /// # Errors
    ///
    /// As [`check_manager`](Self::check_manager), and [`ManageError::OutlivesIssuer`].
    pub fn check_rotator(
        &self,
        manager: &Principal,
        admin_scope: &str,
        now: SystemTime,
    ) -> Result<Option<SystemTime>, ManageError> {
        self.check_manager(manager, admin_scope)?;
        if manager.token_id() == Some(&self.id) {
            return Ok(self.principal.expires_at());
        }
        if let Some(limit) = manager.expires_at()
            && self.rotated_expiry(now).is_none_or(|at| at > limit)
        {
            return Err(ManageError::OutlivesIssuer);
        }
        Ok(None)
    }
}
