//! [`TimeoutTokenStore`]: a deadline on lookups that answer later (feature `tokio`).

use std::fmt;
use std::time::Duration;

use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::lookup::TokenStore;
use crate::store::state::TokenState;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::presented::PresentedToken;

/// Wraps a store so that a lookup still pending after `timeout` fails with
/// [`StoreError::timeout`]: the layer answers 503 instead of holding the request (and its
/// connection) for as long as a hung database does.
///
/// Answers the inner store gives at once ([`Answer::Now`]) pass through untouched, at no cost.
/// Needs a tokio runtime with the time driver enabled.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::TimeoutTokenStore;
/// use tower_bearer::{BearerAuthLayer, CallbackTokenStore, PresentedToken};
///
/// let slow = CallbackTokenStore::new(|_token: PresentedToken<'_>| async {
///     Ok::<_, std::convert::Infallible>(None)
/// });
/// let layer = BearerAuthLayer::new(TimeoutTokenStore::new(slow, Duration::from_millis(250)));
/// ```
#[derive(Clone)]
pub struct TimeoutTokenStore<T> {
    inner: T,
    timeout: Duration,
}

impl<T> TimeoutTokenStore<T> {
    /// `inner`, with lookups limited to `timeout`.
    pub fn new(inner: T, timeout: Duration) -> Self {
        TimeoutTokenStore { inner, timeout }
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl<T: fmt::Debug> fmt::Debug for TimeoutTokenStore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutTokenStore")
            .field("inner", &self.inner)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<T: TokenStore> TokenStore for TimeoutTokenStore<T> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        match self.inner.lookup(token) {
            Answer::Now(answer) => Answer::Now(answer),
            Answer::Later(future) => {
                let deadline = self.timeout;
                Answer::later(async move {
                    tokio::time::timeout(deadline, future)
                        .await
                        .unwrap_or_else(|_| Err(StoreError::timeout()))
                })
            }
        }
    }

    /// Passed on to the store behind the timeout.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        self.inner.subscribe_revocations(subscriber)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreErrorKind;
    use crate::store::state::TokenState;
    use crate::stores::callback::CallbackTokenStore;
    use crate::{MemoryTokenStore, Principal};

    #[tokio::test(start_paused = true)]
    async fn a_hung_lookup_times_out() {
        let hung = CallbackTokenStore::new(|_t: PresentedToken<'_>| {
            std::future::pending::<Result<TokenState, StoreError>>()
        });
        let store = TimeoutTokenStore::new(hung, Duration::from_secs(2));
        let err = store.lookup(&PresentedToken::new("t")).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Timeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_prompt_lookup_is_not_affected() {
        let quick = CallbackTokenStore::new(|_t: PresentedToken<'_>| async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok::<_, StoreError>(TokenState::Unknown)
        });
        let store = TimeoutTokenStore::new(quick, Duration::from_secs(2));
        assert!(matches!(store.lookup(&PresentedToken::new("t")).await, Ok(TokenState::Unknown)));
    }

    #[test]
    fn immediate_answers_pass_through_without_a_timer() {
        let memory = MemoryTokenStore::new();
        memory.insert("tok", Principal::builder("u").build()).unwrap();
        // No runtime here: an immediate answer must not create a `Sleep`.
        let store = TimeoutTokenStore::new(memory, Duration::from_secs(1));
        assert!(matches!(store.lookup(&PresentedToken::new("tok")), Answer::Now(Ok(TokenState::Active(_)))));
    }
}
