//! [`CachedTokenStore`]: the handle, and the lookup: hits at once, misses coalesced.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;

use super::config::CacheConfig;
use super::core::{Core, lock};
use super::flight::{CachedLookup, Flight, FlightFuture, FlightMap};
use super::invalidator::CacheInvalidator;
use crate::store::answer::Answer;
use crate::store::error::StoreError;
use crate::store::lookup::{LaterLookup, TokenStore};
use crate::store::state::TokenState;
use crate::store::subscriber::RevocationSubscriber;
use crate::token::hash::TokenHash;
use crate::token::presented::PresentedToken;

/// Flight maps are sharded by digest so that misses of different tokens rarely contend.
const SHARDS: usize = 16;

/// A cache in front of any [`TokenStore`]: hits answer at once, misses are coalesced, and
/// revocations through it (or pushed to it) invalidate at once. See below for the design
/// and the revocation bound.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::stores::CacheConfig;
/// use tower_bearer::CachedTokenStore;
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
///
/// let slow_store = MemoryTokenStore::new(); // in practice: a database-backed store
/// let config = CacheConfig::default()
///     .positive_ttl(Duration::from_secs(30))
///     .negative_ttl(Duration::from_secs(5))
///     .max_entries(50_000);
/// let cached = CachedTokenStore::with_config(slow_store, config);
/// let layer = BearerAuthLayer::new(cached.clone());
/// // `cached` also manages tokens (if the inner store does), invalidating as it goes.
/// ```
///
/// Cloning is cheap; clones share the cache.
/// positive and negative answers and request coalescing (feature `cache`).
///
/// # How a lookup is answered
///
/// - **Hit**: the digest is found in a [`moka::sync::Cache`], whose `get` is synchronous, so
///   the wrapper answers [`Answer::Now`](crate::store::Answer::Now): the layer admits or rejects the request without
///   awaiting anything, and the only cost beyond the hash-table probe is cloning the
///   [`Principal`](crate::Principal) (one reference count, no allocation). moka does its bookkeeping on the
///   caller, once per 64 reads; that may allocate (an epoch-GC bag), so a hit costs at most
///   1/64 of an allocation amortized (about 1/128 measured).
/// - **Miss**: the first request for a digest asks the inner store and registers its future
///   as the *flight* for that digest; every request for the same digest that arrives while the
///   flight is under way joins it instead of asking the store again (a burst of 200 requests
///   with one unknown token makes one store query). Joiners share the flight through
///   [`futures_util::future::Shared`]: whichever request polls drives the query, so one client
///   going away does not stall the others, and the flight map holds only weak references, so
///   a flight every client abandoned is dropped (and its database connection released).
/// - The flight's answer is cached when it arrives: active tokens for the positive TTL (but
///   never past the token's own expiry), unknown and revoked tokens for the negative TTL.
///   Store errors are never cached; every request of the flight gets the error (503).
///
/// # Staying correct under revocation
///
/// Every invalidation (a revoke, rotate or delete through this wrapper, a push notification
/// through [`invalidator`](crate::CachedTokenStore::invalidator), an explicit [`invalidate`](crate::CachedTokenStore::invalidate))
/// advances a global *epoch*. A flight remembers the epoch it started in; its answer is cached
/// only if no invalidation happened meanwhile, and a request never joins a flight from an older
/// epoch. So an answer read from the store before a revocation committed can neither be cached
/// after it nor be handed to a request that started after it.
///
/// A cached entry outlives a revocation by at most:
///
/// | where the token was revoked | bound |
/// |---|---|
/// | through this wrapper ([`TokenManager::revoke`](crate::TokenManager::revoke), `rotate`, `delete`) | none: invalidated before the call returns |
/// | elsewhere, with a push channel connected (Postgres `LISTEN/NOTIFY`, see [`invalidator`](crate::CachedTokenStore::invalidator)) | the notification's delivery time (milliseconds) |
/// | elsewhere, push channel lost | until the loss is detected (at once for a closed connection; for a silent one, the Postgres listener's heartbeat interval + timeout, 10 s by default); then the whole cache is cleared and active tokens are not cached until the channel is back |
/// | elsewhere, no push channel at all | the positive TTL |
///
/// The positive TTL bounds every case: no active entry is ever served longer than that after
/// it was read from the store. Expired tokens are rejected by the layer on every request, from
/// the cache or not. The one exception is opt-in: with
/// [`CacheConfig::serve_stale_for`], while the store answers errors, an active answer is
/// served for that window after the store gave it, whatever the push channel missed.
///
/// Usage tracking of the inner store (such as `last_used_at`) sees only cache misses, so with a
/// cache its precision is the larger of the store's usage interval and the positive TTL.
pub struct CachedTokenStore<S: TokenStore> {
    pub(super) inner: Arc<Inner<S>>,
}

pub(super) struct Inner<S: TokenStore> {
    pub(super) store: S,
    pub(super) core: Arc<Core>,
    flights: [Mutex<FlightMap<LaterLookup>>; SHARDS],
}

impl<S: TokenStore> CachedTokenStore<S> {
    /// `store` behind a cache with the default TTLs and size.
    pub fn new(store: S) -> Self {
        Self::with_config(store, CacheConfig::default())
    }

    /// `store` behind a cache configured by `config`, subscribed to the store's revocations
    /// ([`TokenStore::subscribe_revocations`]): where the store pushes them (the memory
    /// store; the SQL store, built within a tokio runtime), a token revoked by any path, not
    /// only through this cache, loses its cached answer at once. Otherwise the positive TTL
    /// bounds how long a revocation made around the cache takes to reach it. Build a cache
    /// once and clone it (clones share it): over Postgres each one built holds a listening
    /// connection while it lives.
    pub fn with_config(store: S, config: CacheConfig) -> Self {
        let core = Arc::new(config.core());
        let flights = std::array::from_fn(|_| Mutex::default());
        let invalidator = CacheInvalidator::new(Arc::downgrade(&core));
        store.subscribe_revocations(Box::new(invalidator));
        CachedTokenStore { inner: Arc::new(Inner { store, core, flights }) }
    }

    /// The wrapped store.
    pub fn get_ref(&self) -> &S {
        &self.inner.store
    }

    /// Drops the cached answer for this digest. Lookups already under way are not cached
    /// either, and no request that starts after this returns joins them.
    pub fn invalidate(&self, hash: &TokenHash) {
        self.inner.core.invalidate(hash);
    }

    /// Drops every cached answer (and, as [`invalidate`](Self::invalidate), keeps lookups
    /// under way from being cached or joined).
    pub fn invalidate_all(&self) {
        self.inner.core.invalidate_all();
    }

    /// A handle for a push channel (such as the Postgres store's revocation listener) to
    /// invalidate this cache from elsewhere: it drops a revoked token's answer, clears the
    /// cache on a reset, and caches no valid token while the channel reports itself down. It
    /// does not keep the cache alive: once every clone of the cache is dropped, its methods
    /// return `false`.
    #[must_use]
    pub fn invalidator(&self) -> impl RevocationSubscriber + Clone + fmt::Debug {
        CacheInvalidator::new(Arc::downgrade(&self.inner.core))
    }

    /// How many answers are cached, after pending maintenance (evictions, expirations).
    #[must_use]
    pub fn entry_count(&self) -> u64 {
        self.inner.core.entries.run_pending_tasks();
        self.inner.core.entries.entry_count()
    }

    /// The positive TTL.
    #[must_use]
    pub fn positive_ttl(&self) -> Duration {
        self.inner.core.ttls.positive
    }

    /// The negative TTL.
    #[must_use]
    pub fn negative_ttl(&self) -> Duration {
        self.inner.core.ttls.negative
    }

    /// Whether active tokens are being cached: false while an attached push channel is down.
    #[must_use]
    pub fn is_caching_active_tokens(&self) -> bool {
        self.inner.core.cache_active.load(Ordering::SeqCst)
    }
}

impl<S: TokenStore> Clone for CachedTokenStore<S> {
    fn clone(&self) -> Self {
        CachedTokenStore { inner: self.inner.clone() }
    }
}

impl<S: TokenStore + fmt::Debug> fmt::Debug for CachedTokenStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.inner.core;
        f.debug_struct("CachedTokenStore")
            .field("store", &self.inner.store)
            .field("entries", &core.entries.entry_count())
            .field("positive_ttl", &core.ttls.positive)
            .field("negative_ttl", &core.ttls.negative)
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore> TokenStore for CachedTokenStore<S> {
    fn lookup(&self, token: &PresentedToken<'_>) -> Answer<Result<TokenState, StoreError>> {
        let inner = &*self.inner;
        let hash = *token.hash();
        if let Some(hit) = inner.core.get(&hash) {
            #[cfg(feature = "metrics")]
            crate::monitoring::cache(true);
            return Answer::Now(Ok(hit.into_state()));
        }
        #[cfg(feature = "metrics")]
        crate::monitoring::cache(false);
        // Read before the store is asked: an invalidation from here on keeps the answer out.
        let epoch = inner.core.epoch();
        let mut shard = lock(&inner.flights[usize::from(hash.as_bytes()[31]) % SHARDS]);
        if let Some(shared) = shard.flights.get(&hash).and_then(|f| f.join(epoch)) {
            return Answer::later(CachedLookup { shared });
        }
        // A flight may have finished (and cached) between the probe above and the lock.
        if let Some(hit) = inner.core.get(&hash) {
            return Answer::Now(Ok(hit.into_state()));
        }
        // Asked under the shard lock, so concurrent misses of this digest make one call.
        match inner.store.lookup(token) {
            Answer::Now(answer) => {
                drop(shard);
                match &answer {
                    Ok(state) => inner.core.remember(hash, state, epoch),
                    Err(_) => {
                        if let Some(kept) = inner.core.fallback(&hash) {
                            return Answer::Now(Ok(kept));
                        }
                    }
                }
                Answer::Now(answer)
            }
            Answer::Later(future) => {
                let flight = FlightFuture { inner: future, core: inner.core.clone(), hash, epoch };
                let shared = flight.shared();
                if let Some(weak) = shared.downgrade() {
                    shard.insert(hash, Flight { epoch, future: weak });
                }
                let lookup = CachedLookup { shared };
                if inner.core.fallback.is_none() {
                    return Answer::later(lookup);
                }
                let core = inner.core.clone();
                Answer::later(async move {
                    match lookup.await {
                        Err(e) => core.fallback(&hash).ok_or(e),
                        answer => answer,
                    }
                })
            }
        }
    }

    /// Passed on to the store behind the cache.
    fn subscribe_revocations(&self, subscriber: Box<dyn RevocationSubscriber>) -> bool {
        self.inner.store.subscribe_revocations(subscriber)
    }
}
