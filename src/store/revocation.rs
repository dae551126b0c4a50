//! [`Revocation`]: a token refused before its own expiry, as the stores that share tokens
//! between instances record and announce it.

use std::time::SystemTime;

use crate::token::id::TokenId;

/// A token that must be refused before its own expiry: revoked, deleted, or replaced by a
/// rotation (from the end of its grace period).
///
/// A token whose validity is decided by looking it up needs no such record: the store answers
/// "revoked". A token that carries its own validity (a signed token, verified without a store
/// round trip) does: verifiers keep these records, as a deny list, until
/// [`kept_until`](Self::kept_until), when the token would have expired anyway. Stores that
/// share tokens between instances keep them ([`TokenManager::revocations`](crate::TokenManager::revocations))
/// and push them to other instances as they happen.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revocation {
    /// The token's id.
    pub id: TokenId,
    /// From when the token is refused: the revocation's time, or the end of a rotation's
    /// grace period.
    pub refused_from: SystemTime,
    /// The token's own expiry: after it, the record can be forgotten.
    pub kept_until: SystemTime,
    /// The token that replaced it, for a rotation.
    pub replaced_by: Option<TokenId>,
}

impl Revocation {
    /// A token refused from `refused_from` until its expiry `kept_until`.
    #[must_use]
    pub fn new(id: TokenId, refused_from: SystemTime, kept_until: SystemTime) -> Self {
        Revocation { id, refused_from, kept_until, replaced_by: None }
    }

    /// Replaced by `successor` (a rotation).
    #[must_use]
    pub fn replaced_by(mut self, successor: TokenId) -> Self {
        self.replaced_by = Some(successor);
        self
    }

    /// Whether the token is refused at `now`.
    #[must_use]
    pub fn refuses_at(&self, now: SystemTime) -> bool {
        now >= self.refused_from
    }
}
