//! The [`TokenStore`] trait and its answer, [`Lookup`]: now, or later through a future.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;

use super::error::StoreError;
use super::state::TokenState;
use crate::token::presented::PresentedToken;

/// The future of a lookup answered later.
pub(crate) type LaterLookup = Pin<Box<dyn Future<Output = Result<TokenState, StoreError>> + Send + 'static>>;

/// Answers "who does this token belong to?" for [`BearerAuthLayer`](crate::BearerAuthLayer).
///
/// The store is given a [`PresentedToken`] whose SHA-256 digest is already computed; a store
/// keyed by digest never needs the plaintext.
///
/// A store answers either at once ([`Lookup::Now`]: an in-memory map, a cache hit) or later
/// ([`Lookup::later`] with a future: a database query). The layer admits or rejects a request
/// answered at once without any asynchronous machinery or allocation; an answer that waits
/// for I/O pays one allocation for its future, which is nothing beside the round trip. The
/// future is `'static`: clone what it needs (a connection pool handle, the digest, or
/// [`PresentedToken::into_owned`]) into it.
///
/// Answer `Ok(TokenState::Unknown)` for a token the store does not know, and `Err` only when
/// the store could not answer: the layer then fails closed with 503, and nothing from the error
/// reaches the client.
///
/// The trait is dyn-compatible: `Arc<dyn TokenStore>` is a store.
///
/// ```
/// use tower_bearer::store::Lookup;
/// use tower_bearer::{PresentedToken, Principal, TokenHash, TokenState, TokenStore};
///
/// /// One fixed token, for tests.
/// struct OneToken(TokenHash);
///
/// impl TokenStore for OneToken {
///     fn lookup(&self, token: &PresentedToken<'_>) -> Lookup {
///         Lookup::Now(Ok(if *token.hash() == self.0 {
///             TokenState::Active(Principal::builder("admin").build())
///         } else {
///             TokenState::Unknown
///         }))
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// Looks the presented token up.
    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup;
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup {
        (**self).lookup(token)
    }
}

/// A store's answer: available now, or a future that will produce it.
///
/// `.await` it (it implements [`IntoFuture`]) to get the answer either way.
pub enum Lookup {
    /// The answer, available at once.
    Now(Result<TokenState, StoreError>),
    /// The answer will come from this future; build it with [`Lookup::later`].
    Later(Pin<Box<dyn Future<Output = Result<TokenState, StoreError>> + Send + 'static>>),
}

impl Lookup {
    /// An answer that `future` will produce.
    pub fn later(future: impl Future<Output = Result<TokenState, StoreError>> + Send + 'static) -> Self {
        Lookup::Later(Box::pin(future))
    }
}

impl IntoFuture for Lookup {
    type Output = Result<TokenState, StoreError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<TokenState, StoreError>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Lookup::Now(answer) => Box::pin(std::future::ready(answer)),
            Lookup::Later(future) => future,
        }
    }
}

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::Now(answer) => f.debug_tuple("Now").field(answer).finish(),
            Lookup::Later(_) => f.write_str("Later(..)"),
        }
    }
}
