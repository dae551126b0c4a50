//! The [`TokenStore`] trait: who a presented token belongs to, answered now or later.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::answer::Answer;
use super::error::StoreError;
use super::state::TokenState;
use super::subscriber::RevocationSubscriber;
use crate::token::presented::PresentedToken;

/// The future of a lookup answered later.
pub(crate) type LaterLookup = Pin<Box<dyn Future<Output = Result<TokenState, StoreError>> + Send + 'static>>;

/// Answers "who does this token belong to?" for [`BearerAuthLayer`](crate::BearerAuthLayer).
///
/// The store is given a [`PresentedToken`] whose SHA-256 digest is already computed; a store
/// keyed by digest never needs the plaintext.
///
/// A store answers either at once ([`Answer::Now`]: an in-memory map, a cache hit) or later
/// ([`Answer::later`] with a future: a database query); the future is `'static`: clone what it
/// needs (a connection pool handle, the digest, or [`PresentedToken::into_owned`]) into it.
///
/// Answer `Ok(TokenState::Unknown)` for a token the store does not know, and `Err` only when
/// the store could not answer: the layer then fails closed with 503, and nothing from the error
/// reaches the client.
///
/// The trait is dyn-compatible: `Arc<dyn TokenStore>` is a store.
///
/// ```
/// use tower_bearer::store::Answer;
/// use tower_bearer::{PresentedToken, Principal, StoreError, TokenHash, TokenState, TokenStore};
///
/// /// One fixed token, for tests.
/// struct OneToken(TokenHash);
///
/// impl TokenStore for OneToken {
///     fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
///         Answer::Now(Ok(if *token.hash() == self.0 {
///             TokenState::Active(Principal::builder("admin").build())
///         } else {
///             TokenState::Unknown
///         }))
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// Looks the presented token up.
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>>;

    /// Pushes every revocation, deletion and rotation of this store's tokens to `subscriber`
    /// from now on, after replaying those in effect if it asks
    /// ([`RevocationSubscriber::wants_replay`]), telling it whether the push is connected;
    /// returns whether the store does. A subscriber trusts what it holds only while connected.
    /// Whatever keeps answers of this store (a `CachedTokenStore`, feature `cache`;
    /// tower-bearer-jwt's `SignedTokens` and its deny list) subscribes when it is built, so a
    /// token revoked on the store, by any path, is refused through it too.
    ///
    /// The [`MemoryTokenStore`](crate::MemoryTokenStore) makes every revocation in this
    /// process and tells each subscriber before the call that made it returns; the stores
    /// that wrap another (cache, timeout, circuit breaker) pass the subscriber on;
    /// tower-bearer-sqlx's store starts its push of every instance's revocations when called
    /// within a tokio runtime. The default does not (`false`): a cache then relies on its TTL,
    /// and a deny list, never connected, has each token's record checked.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        drop(subscriber);
        false
    }
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        (**self).lookup(token)
    }

    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        (**self).subscribe_revocations(subscriber)
    }
}
