//! [`TokenState`]: what a store knows about a presented token.

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
