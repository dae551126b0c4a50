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
    /// An environment variable's value is not UTF-8
    /// ([`insert_from_env`](crate::MemoryTokenStore::insert_from_env)). The value is never
    /// shown.
    #[error("{variable}: the value is not UTF-8")]
    NotUnicode {
        /// The variable's name.
        variable: String,
    },
    /// An environment variable's value could not be stored
    /// ([`insert_from_env`](crate::MemoryTokenStore::insert_from_env)): `error` says why. The
    /// value is never shown.
    #[error("{variable}: {error}")]
    FromEnv {
        /// The variable's name.
        variable: String,
        /// Why the store refused it.
        #[source]
        error: Box<InsertError>,
    },
}
