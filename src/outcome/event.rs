//! [`AuthEvent`]: what happened to one request at the layer. Never carries a token secret.

use http::Method;

use super::error::AuthError;
use crate::principal::Principal;
use crate::store::error::StoreError;

/// What happened to one request at the layer.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AuthEvent<'a> {
    /// Accepted or rejected, and why.
    pub outcome: Outcome<'a>,
    /// The request method.
    pub method: &'a Method,
    /// The request path, without the query string (which may hold a token).
    pub path: &'a str,
}

/// The outcome of one request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// The token was accepted for this principal, and nothing behind the layer refused the
    /// request.
    Authenticated(&'a Principal),
    /// The request was refused. `principal` is the token's owner where the store knew the
    /// token (revoked, expired, insufficient scope).
    #[non_exhaustive]
    Rejected {
        /// Why.
        error: &'a AuthError,
        /// Whose token it was, if known.
        principal: Option<&'a Principal>,
        /// The store's own error, for [`AuthError::StoreUnavailable`]: for the operator's logs,
        /// never for the client.
        store_error: Option<&'a StoreError>,
    },
}

impl<'a> AuthEvent<'a> {
    /// The principal involved, if any.
    #[must_use]
    pub fn principal(&self) -> Option<&'a Principal> {
        match self.outcome {
            Outcome::Authenticated(p) => Some(p),
            Outcome::Rejected { principal, .. } => principal,
        }
    }
}
