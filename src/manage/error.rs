//! [`ManageError`]: why a management operation failed.

use crate::store::error::StoreError;
use crate::token::id::TokenId;

/// Why a lifecycle operation failed. Never contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManageError {
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
