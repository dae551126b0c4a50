//! [`ManageError`]: why a management operation failed.

use crate::grant::Refusal;
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
    /// The new token's limit (`rate_limit`, `credits` or `audience`) would be looser than
    /// the issuer's own.
    #[error("the new token's {0} would be looser than the issuer's")]
    LooserLimits(&'static str),
    /// The managing token has expired.
    #[error("the managing token has expired")]
    ManagerExpired,
    /// The managing token was replaced by a rotation and lives on only for its grace period:
    /// it authenticates, but manages nothing (its successor does).
    #[error("the managing token was replaced by a rotation")]
    Superseded,
    /// The token would belong to another organization, or to another subject without the
    /// store's admin scope.
    #[error(
        "a token cannot issue tokens for another organization or, without the admin scope, another subject"
    )]
    OtherTenant,
    /// An argument is out of range (a lifetime or grace period past what a `SystemTime` can
    /// hold); nothing was changed.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// The kind is reserved for tokens the store's own endpoints mint (OAuth access tokens):
    /// no token mints one on behalf of another.
    #[error("the kind {0:?} is reserved")]
    ReservedKind(String),
    /// An argument is not valid (a listing cursor or an audit event type that is not one);
    /// the name says which.
    #[error("not a valid {0}")]
    Invalid(&'static str),
    /// The backing store failed.
    #[error("the token store failed")]
    Store(#[source] StoreError),
}

impl From<Refusal> for ManageError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Superseded => ManageError::Superseded,
            Refusal::Expired => ManageError::ManagerExpired,
            Refusal::NotFound(id) => ManageError::NotFound(id),
            Refusal::OtherTenant => ManageError::OtherTenant,
            Refusal::ScopeNotHeld(scope) => ManageError::ScopeNotHeld(scope),
            Refusal::OutlivesActor => ManageError::OutlivesIssuer,
            Refusal::Looser(what) => ManageError::LooserLimits(what),
            Refusal::ReservedKind(kind) => ManageError::ReservedKind(kind),
        }
    }
}
