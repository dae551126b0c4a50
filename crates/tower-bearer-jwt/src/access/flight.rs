//! A resolver call shared by the requests that miss at once: the flight, its future, and its
//! error as every waiting request gets it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use futures_util::future::{Shared, WeakShared};
use tower_bearer::{Scopes, StoreError};

/// A resolver call, boxed so that the flight map does not depend on the resolver's future type.
pub(super) type BoxFlight = Pin<Box<dyn Future<Output = FlightOutput> + Send>>;

pub(super) type FlightOutput = Result<Option<Scopes>, StoreError>;

pub(super) struct Flight {
    pub(super) id: u64,
    pub(super) started: SystemTime,
    pub(super) future: WeakShared<BoxFlight>,
}

impl Flight {
    /// The call, if a request at `now` may wait for it: under way, and asked recently enough
    /// that its answer would still be served from the cache.
    pub(super) fn join(&self, now: SystemTime, ttl: Duration) -> Option<Shared<BoxFlight>> {
        // A request that read the clock just before the call started (concurrent requests on
        // the system clock) may join it: its answer is only newer than that request.
        if now.duration_since(self.started).unwrap_or_default() >= ttl {
            return None;
        }
        self.future.upgrade().filter(|shared| shared.peek().is_none())
    }
}

/// The future of [`EffectiveAccess::resolve`]: the cached answer, or this request's share of a
/// resolver call.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Resolving(pub(super) State);

pub(super) enum State {
    Ready(Option<Scopes>),
    Flight(Shared<BoxFlight>),
}

impl Future for Resolving {
    type Output = Result<Option<Scopes>, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Ready(answer) => Poll::Ready(Ok(answer.clone())),
            State::Flight(shared) => Pin::new(shared).poll(cx).map(|output| output),
        }
    }
}

impl fmt::Debug for Resolving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolving").finish_non_exhaustive()
    }
}
