//! The [`TokenStore`] trait and its answer, [`Lookup`]: now, or later through a future.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::error::StoreError;
use super::state::TokenState;
use crate::token::presented::PresentedToken;

/// What a lookup resolves to: the store's answer, or the reason it could not answer.
pub type LookupResult = Result<TokenState, StoreError>;

/// A boxed lookup future, for stores that would rather not name their future type.
pub type BoxLookup = Pin<Box<dyn Future<Output = LookupResult> + Send + 'static>>;

/// The [`TokenStore::Future`] of stores that always answer at once; never constructed.
pub type NoFuture = std::future::Pending<LookupResult>;

/// Answers "who does this token belong to?" for [`BearerAuthLayer`](crate::BearerAuthLayer).
///
/// The store is given a [`PresentedToken`] whose SHA-256 digest is already computed; a store
/// keyed by digest never needs the plaintext.
///
/// A store answers either at once ([`Lookup::Now`]: an in-memory map, a cache hit) or later
/// ([`Lookup::Later`] with a future: a database query). The layer admits or rejects a request
/// answered at once without any asynchronous machinery, and the future type is an associated
/// type, so neither path allocates. A store written with `async` code can use
/// [`BoxLookup`]. The future is `'static`: clone what it needs (a connection pool handle, the
/// digest, or [`PresentedToken::into_owned`]) into it.
///
/// Answer `Ok(TokenState::Unknown)` for a token the store does not know, and `Err` only when
/// the store could not answer: the layer then fails closed with 503, and nothing from the error
/// reaches the client.
///
/// ```
/// use tower_bearer::store::{Lookup, NoFuture};
/// use tower_bearer::{PresentedToken, Principal, TokenHash, TokenState, TokenStore};
///
/// /// One fixed token, for tests.
/// struct OneToken(TokenHash);
///
/// impl TokenStore for OneToken {
///     type Future = NoFuture;
///
///     fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<NoFuture> {
///         Lookup::Now(Ok(if *token.hash() == self.0 {
///             TokenState::Active(Principal::builder("admin").build())
///         } else {
///             TokenState::Unknown
///         }))
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The future of answers that come later.
    type Future: Future<Output = LookupResult> + Send + 'static;

    /// Looks the presented token up.
    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<Self::Future>;
}

impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    type Future = T::Future;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<Self::Future> {
        (**self).lookup(token)
    }
}

/// A store's answer: available now, or a future that will produce it.
///
/// `.await` it (it implements [`IntoFuture`]) to get the answer either way.
#[derive(Debug)]
pub enum Lookup<F> {
    /// The answer, available at once.
    Now(LookupResult),
    /// The answer will come from this future.
    Later(F),
}

impl<F: Future<Output = LookupResult>> IntoFuture for Lookup<F> {
    type Output = LookupResult;
    type IntoFuture = LookupFuture<F>;

    fn into_future(self) -> LookupFuture<F> {
        let state = match self {
            Lookup::Now(answer) => LookupState::Now { answer: Some(answer) },
            Lookup::Later(future) => LookupState::Later { future },
        };
        LookupFuture { state }
    }
}

pin_project! {
    /// A [`Lookup`] as a future.
    #[must_use = "futures do nothing unless polled"]
    pub struct LookupFuture<F> {
        #[pin]
        state: LookupState<F>,
    }
}

pin_project! {
    #[project = LookupStateProj]
    enum LookupState<F> {
        Now { answer: Option<LookupResult> },
        Later { #[pin] future: F },
    }
}

impl<F: Future<Output = LookupResult>> Future for LookupFuture<F> {
    type Output = LookupResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LookupResult> {
        match self.project().state.project() {
            LookupStateProj::Now { answer } => {
                Poll::Ready(answer.take().expect("LookupFuture polled after completion"))
            }
            LookupStateProj::Later { future } => future.poll(cx),
        }
    }
}

impl<F> fmt::Debug for LookupFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LookupFuture").finish_non_exhaustive()
    }
}
