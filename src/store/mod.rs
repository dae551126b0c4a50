//! The [`TokenStore`] trait: how the layer asks who a token belongs to.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::principal::Principal;
use crate::token::PresentedToken;

#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
pub mod callback;
pub mod memory;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod sql;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod timeout;

/// A boxed error, as stores report them.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

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

/// What a store knows about a presented token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenState {
    /// The token is live and belongs to this principal. The layer still checks its expiry and
    /// scopes.
    Active(Principal),
    /// The token existed and was revoked. The client gets exactly the answer an unknown token
    /// gets; the distinction reaches only the audit events and the
    /// [`AuthError`](crate::AuthError) (in the response extensions, if the layer puts it there).
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
