//! [`TokenState`]: what a store knows about a presented token.

use std::time::{Duration, SystemTime};

use crate::principal::Principal;

/// What a store knows about a presented token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenState {
    /// The token is live and belongs to this principal. The layer still checks the expiry the
    /// principal carries (a store need not) and the scopes.
    Active(Principal),
    /// The token belongs to this principal but its expiry has passed. The client is told the
    /// token expired (401 `invalid_token`).
    Expired(Principal),
    /// The token existed and was revoked. The client gets exactly the answer an unknown token
    /// gets; the distinction reaches only the audit events and the
    /// [`AuthError`](crate::AuthError) (in the response extensions, if the layer puts it there).
    Revoked(Principal),
    /// The store has never seen the token.
    Unknown,
}

impl TokenState {
    /// What a self-contained token that verified as `principal` (a signed token's claims, an
    /// introspection answer) is at `now`: [`Unknown`](TokenState::Unknown) while `not_before`
    /// is more than `leeway` away, [`Expired`](TokenState::Expired) once the principal's
    /// expiry has passed (a verifier puts its leeway on that expiry when it builds the
    /// principal), [`Active`](TokenState::Active) otherwise. The one rule every verifier of
    /// such tokens applies, on every request.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tower_bearer::{Grant, Principal, TokenState};
    ///
    /// let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    /// let ada = Principal::for_grant(Grant::new("ada").with_expires_at(t0 + Duration::from_secs(60))).build();
    /// let at = |now| TokenState::of_verified(ada.clone(), Some(t0), now, Duration::from_secs(5));
    /// assert!(matches!(at(t0 - Duration::from_secs(6)), TokenState::Unknown));
    /// assert!(matches!(at(t0 - Duration::from_secs(5)), TokenState::Active(_)));
    /// assert!(matches!(at(t0 + Duration::from_secs(60)), TokenState::Expired(_)));
    /// ```
    #[must_use]
    pub fn of_verified(
        principal: Principal,
        not_before: Option<SystemTime>,
        now: SystemTime,
        leeway: Duration,
    ) -> TokenState {
        let late = now.checked_add(leeway).unwrap_or(now);
        if not_before.is_some_and(|nbf| nbf > late) {
            TokenState::Unknown
        } else if principal.is_expired_at(now) {
            TokenState::Expired(principal)
        } else {
            TokenState::Active(principal)
        }
    }
}

/// A found token is [`Active`](TokenState::Active) (the layer still checks its expiry);
/// `None` is [`Unknown`](TokenState::Unknown).
impl From<Option<Principal>> for TokenState {
    fn from(found: Option<Principal>) -> Self {
        found.map_or(TokenState::Unknown, TokenState::Active)
    }
}

/// [`Active`](TokenState::Active): the layer still checks the principal's expiry.
impl From<Principal> for TokenState {
    fn from(found: Principal) -> Self {
        TokenState::Active(found)
    }
}
