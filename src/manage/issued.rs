//! [`IssuedToken`]: a token just minted, its secret shown once.

use std::fmt;

use super::info::TokenInfo;
use crate::token::id::TokenId;
use crate::token::secret::TokenSecret;

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
