//! Coalesced misses: one inner lookup per digest at a time, shared by every request that
//! misses on it meanwhile.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_util::future::{Shared, WeakShared};
use pin_project_lite::pin_project;

use super::core::{Cached, Core};
use crate::store::error::StoreError;
use crate::store::state::TokenState;
use crate::token::hash::TokenHash;

pub(super) type FlightOutput = Result<Cached, StoreError>;

pin_project! {
    /// The inner store's lookup, caching its answer when it arrives.
    pub(super) struct FlightFuture<F> {
        #[pin]
        pub(super) inner: F,
        pub(super) core: Arc<Core>,
        pub(super) hash: TokenHash,
        pub(super) epoch: u64,
    }
}

impl<F: Future<Output = Result<TokenState, StoreError>>> Future for FlightFuture<F> {
    type Output = FlightOutput;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FlightOutput> {
        let this = self.project();
        let answer = ready!(this.inner.poll(cx));
        Poll::Ready(match answer {
            Ok(state) => {
                this.core.remember(*this.hash, &state, *this.epoch);
                Ok(match state {
                    TokenState::Active(p) => Cached::Active(p),
                    TokenState::Revoked(p) => Cached::Revoked(p),
                    TokenState::Expired(p) => Cached::Expired(p),
                    TokenState::Unknown => Cached::Unknown,
                })
            }
            Err(e) => Err(e),
        })
    }
}

pub(super) struct Flight<F: Future<Output = Result<TokenState, StoreError>>> {
    pub(super) epoch: u64,
    pub(super) future: WeakShared<FlightFuture<F>>,
}

impl<F: Future<Output = Result<TokenState, StoreError>>> Flight<F> {
    /// The flight, if it can still be joined: not abandoned, not finished.
    pub(super) fn join(&self, epoch: u64) -> Option<Shared<FlightFuture<F>>> {
        if self.epoch != epoch {
            return None;
        }
        self.future.upgrade().filter(|shared| shared.peek().is_none())
    }
}

pub(super) struct FlightMap<F: Future<Output = Result<TokenState, StoreError>>> {
    pub(super) flights: HashMap<TokenHash, Flight<F>>,
    /// Finished and abandoned flights are swept out when the map reaches this size.
    pub(super) sweep_at: usize,
}

impl<F: Future<Output = Result<TokenState, StoreError>>> Default for FlightMap<F> {
    fn default() -> Self {
        FlightMap { flights: HashMap::new(), sweep_at: 64 }
    }
}

impl<F: Future<Output = Result<TokenState, StoreError>>> FlightMap<F> {
    pub(super) fn insert(&mut self, hash: TokenHash, flight: Flight<F>) {
        self.flights.insert(hash, flight);
        if self.flights.len() >= self.sweep_at {
            self.flights.retain(|_, f| f.future.upgrade().is_some_and(|s| s.peek().is_none()));
            self.sweep_at = (self.flights.len() * 2).max(64);
        }
    }
}

/// The future of a [`CachedTokenStore`](crate::CachedTokenStore) lookup that missed: this request's share of the
/// (possibly coalesced) inner lookup.
#[must_use = "futures do nothing unless polled"]
pub(super) struct CachedLookup<F: Future<Output = Result<TokenState, StoreError>>> {
    pub(super) shared: Shared<FlightFuture<F>>,
}

impl<F: Future<Output = Result<TokenState, StoreError>>> Future for CachedLookup<F> {
    type Output = Result<TokenState, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<TokenState, StoreError>> {
        Poll::Ready(match ready!(Pin::new(&mut self.shared).poll(cx)) {
            Ok(cached) => Ok(cached.into_state()),
            Err(e) => Err(e),
        })
    }
}

impl<F: Future<Output = Result<TokenState, StoreError>>> fmt::Debug for CachedLookup<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedLookup").finish_non_exhaustive()
    }
}
