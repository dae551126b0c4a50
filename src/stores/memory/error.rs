//! [`InsertError`]: why a known token could not be stored.

use crate::token::id::TokenId;

/// Why a known token could not be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The secret is empty, too long, or not an RFC 6750 `b64token`: no request could ever
    /// present it.
    #[error("the token is not a valid RFC 6750 bearer token")]
    InvalidToken,
    /// A token with the same secret is already stored.
    #[error("the token is already stored")]
    DuplicateToken,
    /// The principal's token id is already used by another token.
    #[error("token id {0} is already in use")]
    DuplicateTokenId(TokenId),
}
