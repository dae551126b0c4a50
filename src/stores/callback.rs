//! [`CallbackTokenStore`]: any async function as a token store.

use std::fmt;
use std::future::Future;

use crate::store::answer::Answer;
use crate::store::error::{BoxError, StoreError};
use crate::store::lookup::TokenStore;
use crate::store::state::TokenState;
use crate::token::presented::PresentedToken;

/// A token store backed by an async function or closure, for example a database query.
///
/// The function receives the [`PresentedToken`] (use [`PresentedToken::hash`] to query a
/// digest column) and returns `Result<T, E>` where `T` is `Option<Principal>` or
/// [`TokenState`], and `E` is any error. An `Err` makes the layer answer 503: the store
/// fails closed, and the error never reaches the client. Return a [`StoreError`] (for
/// example [`StoreError::timeout`]) to choose its kind; any other error counts as
/// [`StoreErrorKind::Unavailable`](crate::store::StoreErrorKind::Unavailable).
///
/// The function's future is used as is, with no boxing.
///
/// ```
/// use std::convert::Infallible;
/// use tower_bearer::{CallbackTokenStore, PresentedToken, Principal, TokenHash};
///
/// let admin = TokenHash::of("admin-token");
/// let store = CallbackTokenStore::new(move |token: PresentedToken<'_>| async move {
///     // e.g. `SELECT ... FROM tokens WHERE sha256 = $1`, bound to token.hash().as_bytes()
///     let found = (*token.hash() == admin).then(|| Principal::builder("admin").build());
///     Ok::<_, Infallible>(found)
/// });
/// ```
#[derive(Clone)]
pub struct CallbackTokenStore<F> {
    lookup: F,
}

impl<F> CallbackTokenStore<F> {
    /// Wraps `lookup`. It receives the token owning its secret, so its future may keep it.
    pub fn new<Fut, T, E>(lookup: F) -> Self
    where
        F: Fn(PresentedToken<'static>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Into<TokenState>,
        E: Into<BoxError>,
    {
        CallbackTokenStore { lookup }
    }
}

impl<F> fmt::Debug for CallbackTokenStore<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackTokenStore").finish_non_exhaustive()
    }
}

impl<F, Fut, T, E> TokenStore for CallbackTokenStore<F>
where
    F: Fn(PresentedToken<'static>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Into<TokenState>,
    E: Into<BoxError>,
{
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        let future = (self.lookup)(token.clone().into_owned());
        Answer::later(async move {
            // A callback may fail with a `StoreError` of its own (a timeout stays a timeout).
            future.await.map(Into::into).map_err(|e| match e.into().downcast::<StoreError>() {
                Ok(e) => *e,
                Err(other) => StoreError::unavailable(other),
            })
        })
    }
}
