//! The [`TokenStore`] trait: how the layer asks who a token belongs to.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::principal::Principal;
use crate::token::PresentedToken;

pub mod callback;
pub mod memory;

/// A boxed error, as stores report them.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A boxed lookup future, for stores that would rather not name their future type.
pub type BoxLookup = Pin<Box<dyn Future<Output = Result<TokenState, StoreError>> + Send + 'static>>;

/// Answers "who does this token belong to?" for [`BearerAuthLayer`](crate::BearerAuthLayer).
///
/// The store is given a [`PresentedToken`] whose SHA-256 digest is already computed; a store
/// keyed by digest never needs the plaintext. The lookup future is an associated type so that a
/// store which answers synchronously (like [`MemoryTokenStore`](memory::MemoryTokenStore),
/// with [`std::future::Ready`]) costs no allocation per request; a store with an `async`
/// implementation can return a [`BoxLookup`]. The future is `'static`: clone what it needs
/// (a connection pool handle, say) into it.
///
/// Return `Ok(TokenState::Unknown)` for a token the store does not know, and `Err` only when
/// the store could not answer: the layer then fails closed with 503, and nothing from the error
/// reaches the client.
///
/// ```
/// use std::future::{ready, Ready};
/// use tower_bearer::{PresentedToken, Principal, StoreError, TokenHash, TokenState, TokenStore};
///
/// /// One fixed token, for tests.
/// struct OneToken(TokenHash);
///
/// impl TokenStore for OneToken {
///     type Lookup = Ready<Result<TokenState, StoreError>>;
///
///     fn lookup(&self, token: &PresentedToken) -> Self::Lookup {
///         ready(Ok(if *token.hash() == self.0 {
///             TokenState::Active(Principal::builder("admin").build())
///         } else {
///             TokenState::Unknown
///         }))
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The future [`lookup`](Self::lookup) returns.
    type Lookup: Future<Output = Result<TokenState, StoreError>> + Send + 'static;

    /// Looks the presented token up.
    fn lookup(&self, token: &PresentedToken) -> Self::Lookup;
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    type Lookup = T::Lookup;

    fn lookup(&self, token: &PresentedToken) -> Self::Lookup {
        (**self).lookup(token)
    }
}

/// What a store knows about a presented token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenState {
    /// The token is live and belongs to this principal. The layer still checks its expiry and
    /// scopes.
    Active(Principal),
    /// The token existed and was revoked. Answered exactly like an unknown token; the
    /// distinction only reaches the audit events.
    Revoked(Principal),
    /// The store has never seen the token.
    Unknown,
}

impl From<Option<Principal>> for TokenState {
    fn from(found: Option<Principal>) -> Self {
        found.map_or(TokenState::Unknown, TokenState::Active)
    }
}

impl From<Principal> for TokenState {
    fn from(found: Principal) -> Self {
        TokenState::Active(found)
    }
}

/// A store could not answer. The layer answers 503 and never shows the client this error.
#[derive(Debug, thiserror::Error)]
#[error("token store {kind}")]
pub struct StoreError {
    kind: StoreErrorKind,
    #[source]
    source: Option<BoxError>,
}

/// The broad reason a store failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The backing service is unreachable or refused the query.
    Unavailable,
    /// The lookup took longer than allowed.
    Timeout,
}

impl fmt::Display for StoreErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Timeout => "timed out",
        })
    }
}

impl StoreError {
    /// The store's backend failed with `source`.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        StoreError { kind: StoreErrorKind::Unavailable, source: Some(source.into()) }
    }

    /// The lookup timed out.
    #[must_use]
    pub fn timeout() -> Self {
        StoreError { kind: StoreErrorKind::Timeout, source: None }
    }

    /// What kind of failure this is.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}
