//! [`Answer`]: what a contract of this crate answers, at once or later.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// An answer available now, or a future that will produce it: what a
/// [`TokenStore`](crate::TokenStore)'s lookup, a [`CreditLedger`](crate::limit::CreditLedger)'s
/// spend, a [`ReplayCache`](crate::store::ReplayCache)'s check and a
/// [`ProofVerifier`](crate::middleware::ProofVerifier)'s check give the layer.
///
/// The layer takes an answer given now without any asynchronous machinery or allocation (an
/// in-memory map, a cache hit); one that waits for I/O pays one allocation for its future,
/// which is nothing beside the round trip. The future is `'static`: clone what it needs (a
/// connection pool handle, a digest) into it. Awaited (it is [`IntoFuture`]), either gives its
/// value.
///
/// ```
/// use tower_bearer::store::Answer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let now: Answer<u32> = Answer::Now(7);
/// let later = Answer::later(async { 7 });
/// assert_eq!(now.await, later.await);
/// # }
/// ```
pub enum Answer<T> {
    /// The answer, available now.
    Now(T),
    /// The answer will come from this future; build it with [`Answer::later`].
    Later(Pin<Box<dyn Future<Output = T> + Send + 'static>>),
}

impl<T> Answer<T> {
    /// An answer that `future` will produce.
    pub fn later(future: impl Future<Output = T> + Send + 'static) -> Self {
        Answer::Later(Box::pin(future))
    }
}

impl<T: Send + 'static> IntoFuture for Answer<T> {
    type Output = T;
    type IntoFuture = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        match self {
            Answer::Now(answer) => Box::pin(std::future::ready(answer)),
            Answer::Later(future) => future,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Answer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Now(answer) => f.debug_tuple("Now").field(answer).finish(),
            Answer::Later(_) => f.write_str("Later(..)"),
        }
    }
}
