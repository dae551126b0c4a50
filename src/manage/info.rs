//! [`TokenInfo`]: the public metadata of a stored token, and the rules for managing it through
//! another token (revoking, rotating).

use std::time::SystemTime;

use super::error::ManageError;
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

    /// Whether the token has expired at `now` (it is listed until purged).
    #[must_use]
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.principal.is_expired_at(now)
    }

    /// Checks that `manager` may revoke or rotate this token: a token may always manage
    /// itself; otherwise it must belong to the same subject and hold every scope this token
    /// has (a `tokens:write` token cannot revoke or take over the admin key).
    ///
    /// # Errors
    ///
    /// [`ManageError::NotFound`] for another subject's token (its existence is not
    /// revealed), [`ManageError::ScopeNotHeld`] naming the first scope the manager lacks.
    pub fn check_manager(&self, manager: &Principal) -> Result<(), ManageError> {
        if manager.token_id() == Some(&self.id) {
            return Ok(());
        }
        if manager.subject() != self.principal.subject() {
            return Err(ManageError::NotFound(self.id.clone()));
        }
        match self.principal.scopes().iter().find(|s| !manager.scopes().grants(s)) {
            Some(missing) => Err(ManageError::ScopeNotHeld(missing.to_owned())),
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
    /// As [`check_manager`](Self::check_manager), and [`ManageError::OutlivesIssuer`].
    pub fn check_rotator(&self, manager: &Principal, now: SystemTime) -> Result<(), ManageError> {
        self.check_manager(manager)?;
        if manager.token_id() != Some(&self.id)
            && let Some(limit) = manager.expires_at()
            && self.rotated_expiry(now).is_none_or(|at| at > limit)
        {
            return Err(ManageError::OutlivesIssuer);
        }
        Ok(())
    }
}
