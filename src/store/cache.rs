//! [`CachedTokenStore`]: a bounded cache in front of any [`TokenStore`], with separate TTLs for
//! positive and negative answers and request coalescing (feature `cache`).
//!
//! # How a lookup is answered
//!
//! - **Hit**: the digest is found in a [`moka::sync::Cache`], whose `get` is synchronous, so
//!   the wrapper answers [`Lookup::Now`]: the layer admits or rejects the request without
//!   awaiting anything, and the only cost beyond the hash-table probe is cloning the
//!   [`Principal`] (one reference count, no allocation). moka does its bookkeeping on the
//!   caller, once per 64 reads; that may allocate (an epoch-GC bag), so a hit costs at most
//!   1/64 of an allocation amortized (about 1/128 measured).
//! - **Miss**: the first request for a digest asks the inner store and registers its future
//!   as the *flight* for that digest; every request for the same digest that arrives while the
//!   flight is under way joins it instead of asking the store again (a burst of 200 requests
//!   with one unknown token makes one store query). Joiners share the flight through
//!   [`futures_util::future::Shared`]: whichever request polls drives the query, so one client
//!   going away does not stall the others, and the flight map holds only weak references, so
//!   a flight every client abandoned is dropped (and its database connection released).
//! - The flight's answer is cached when it arrives: active tokens for the positive TTL (but
//!   never past the token's own expiry), unknown and revoked tokens for the negative TTL.
//!   Store errors are never cached; every request of the flight gets the error (503).
//!
//! # Staying correct under revocation
//!
//! Every invalidation (a revoke, rotate or delete through this wrapper, a push notification
//! through [`CacheInvalidator`], an explicit [`invalidate`](CachedTokenStore::invalidate))
//! advances a global *epoch*. A flight remembers the epoch it started in; its answer is cached
//! only if no invalidation happened meanwhile, and a request never joins a flight from an older
//! epoch. So an answer read from the store before a revocation committed can neither be cached
//! after it nor be handed to a request that started after it.
//!
//! A cached entry outlives a revocation by at most:
//!
//! | where the token was revoked | bound |
//! |---|---|
//! | through this wrapper ([`TokenLifecycle::revoke`], `rotate`, `delete`) | none: invalidated before the call returns |
//! | elsewhere, with a push channel connected (Postgres `LISTEN/NOTIFY`, see [`CacheInvalidator`]) | the notification's delivery time (milliseconds) |
//! | elsewhere, push channel lost | until the loss is detected (at once for a closed connection; for a silent one, the Postgres listener's heartbeat interval + timeout, 10 s by default); then the whole cache is cleared and active tokens are not cached until the channel is back |
//! | elsewhere, no push channel at all | the positive TTL |
//!
//! The positive TTL bounds every case: no active entry is ever served longer than that after
//! it was read from the store. Expired tokens are rejected by the layer on every request, from
//! the cache or not.
//!
//! Usage tracking of the inner store (such as `last_used_at`) sees only cache misses, so with a
//! cache its precision is the larger of the store's usage interval and the positive TTL.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use futures_util::future::{Shared, WeakShared};
use moka::notification::RemovalCause;
use pin_project_lite::pin_project;

use crate::lifecycle::{IssuedToken, LifecycleError, NewToken, TokenInfo, TokenLifecycle};
use crate::principal::{Principal, TokenId};
use crate::store::{Lookup, LookupResult, StoreError, StoreErrorKind, TokenState, TokenStore};
use crate::token::{PresentedToken, TokenHash};

/// How long an active token's answer is cached by default: 30 seconds.
pub const DEFAULT_POSITIVE_TTL: Duration = Duration::from_secs(30);

/// How long "unknown" and "revoked" answers are cached by default: 5 seconds.
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(5);

/// How many digests the cache holds by default, positive and negative together.
pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;

/// moka refuses TTLs over 1000 years; nobody needs more than this.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Flight maps are sharded by digest so that misses of different tokens rarely contend.
const SHARDS: usize = 16;

/// A cache in front of any [`TokenStore`]: hits answer at once, misses are coalesced, and
/// revocations through it (or pushed to it) invalidate at once. See the
/// [module documentation](self) for the design and the revocation bound.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer::store::cache::{CacheConfig, CachedTokenStore};
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
pub struct CachedTokenStore<S: TokenStore> {
    inner: Arc<Inner<S>>,
}

struct Inner<S: TokenStore> {
    store: S,
    core: Arc<Core>,
    flights: [Mutex<FlightMap<S::Future>>; SHARDS],
}

/// The part of the cache that invalidations touch; independent of the store's type.
struct Core {
    entries: moka::sync::Cache<TokenHash, Cached>,
    /// Token id → digest (and the entry's sequence number) of cached active tokens, so that a
    /// revocation by id finds the entry to drop. Maintained by `remember` and the eviction
    /// listener.
    by_id: Arc<Mutex<HashMap<TokenId, (TokenHash, u64)>>>,
    /// Advanced by every invalidation; see the module docs.
    epoch: AtomicU64,
    /// Sequence numbers of cached active entries, to tell an entry from its replacement.
    seq: AtomicU64,
    /// False while a push channel is attached but not connected: active tokens are then not
    /// cached, since a revocation elsewhere could not reach this cache.
    cache_active: AtomicBool,
    /// Whether an active principal without a token id was ever cached: a revocation by id
    /// then cannot name its entry, so it clears the cache.
    anonymous: AtomicBool,
    positive_ttl: Duration,
    negative_ttl: Duration,
}

/// A cached answer. Cloning clones a [`Principal`]: one reference count.
#[derive(Clone)]
enum Cached {
    Active(Principal, u64),
    Revoked(Principal),
    Unknown,
}

impl Cached {
    fn into_state(self) -> TokenState {
        match self {
            Cached::Active(p, _) => TokenState::Active(p),
            Cached::Revoked(p) => TokenState::Revoked(p),
            Cached::Unknown => TokenState::Unknown,
        }
    }
}

struct Ttls {
    positive: Duration,
    negative: Duration,
}

impl Ttls {
    fn of(&self, value: &Cached) -> Duration {
        match value {
            Cached::Active(p, _) => match p.expires_at() {
                // Not past the token's own expiry: an expired entry is useless.
                Some(at) => at.duration_since(SystemTime::now()).unwrap_or_default().min(self.positive),
                None => self.positive,
            },
            Cached::Revoked(_) | Cached::Unknown => self.negative,
        }
    }
}

impl moka::Expiry<TokenHash, Cached> for Ttls {
    fn expire_after_create(&self, _: &TokenHash, value: &Cached, _: Instant) -> Option<Duration> {
        Some(self.of(value))
    }

    fn expire_after_update(
        &self,
        _: &TokenHash,
        value: &Cached,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.of(value))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its map consistent at each step.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    fn new(positive_ttl: Duration, negative_ttl: Duration, max_entries: u64) -> Self {
        let by_id: Arc<Mutex<HashMap<TokenId, (TokenHash, u64)>>> = Arc::default();
        let index = by_id.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_entries)
            .expire_after(Ttls { positive: positive_ttl, negative: negative_ttl })
            .eviction_listener(move |hash: Arc<TokenHash>, value: Cached, _cause: RemovalCause| {
                if let Cached::Active(p, seq) = value
                    && let Some(id) = p.token_id()
                {
                    let mut index = lock(&index);
                    // Only if the index still names this very entry, not a replacement.
                    if index.get(id).is_some_and(|&(h, s)| s == seq && h == *hash) {
                        index.remove(id);
                    }
                }
            })
            .build();
        Core {
            entries,
            by_id,
            epoch: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            cache_active: AtomicBool::new(true),
            anonymous: AtomicBool::new(false),
            positive_ttl,
            negative_ttl,
        }
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a store's answer obtained by a lookup that started in `epoch`, unless an
    /// invalidation happened since.
    fn remember(&self, hash: TokenHash, state: &TokenState, epoch: u64) {
        let value = match state {
            TokenState::Active(p) => {
                if !self.cache_active.load(Ordering::SeqCst) {
                    return;
                }
                Cached::Active(p.clone(), self.seq.fetch_add(1, Ordering::Relaxed))
            }
            TokenState::Revoked(p) => Cached::Revoked(p.clone()),
            TokenState::Unknown => Cached::Unknown,
        };
        if self.epoch() != epoch {
            return;
        }
        if let Cached::Active(p, seq) = &value {
            match p.token_id() {
                Some(id) => {
                    lock(&self.by_id).insert(id.clone(), (hash, *seq));
                }
                None => self.anonymous.store(true, Ordering::SeqCst),
            }
        }
        self.entries.insert(hash, value);
        // An invalidation that ran between the check above and the insert may have missed
        // the new entry: take it out again. (It advanced the epoch before removing entries.)
        if self.epoch() != epoch {
            self.entries.invalidate(&hash);
        }
    }

    fn invalidate(&self, hash: &TokenHash) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(hash);
    }

    fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Drops whatever is cached for the token with this id.
    fn forget_id(&self, id: &TokenId) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let found = lock(&self.by_id).get(id).map(|&(hash, _)| hash);
        match found {
            Some(hash) => self.entries.invalidate(&hash),
            None if self.anonymous.load(Ordering::SeqCst) => self.entries.invalidate_all(),
            None => {}
        }
    }

    fn set_push_connected(&self, connected: bool) {
        if connected {
            // Clear first: anything cached before the subscription took effect may have missed
            // a notification.
            self.invalidate_all();
            self.cache_active.store(true, Ordering::SeqCst);
        } else {
            self.cache_active.store(false, Ordering::SeqCst);
            self.invalidate_all();
        }
    }
}

/// A store error shared by every request of a coalesced flight.
#[derive(Clone)]
struct SharedError(Arc<StoreError>);

impl SharedError {
    fn to_store_error(&self) -> StoreError {
        match self.0.kind() {
            StoreErrorKind::Timeout => StoreError::timeout(),
            _ => StoreError::unavailable(self.clone()),
        }
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The original's own source, so the chain reads "unavailable: <cause>".
        match std::error::Error::source(&*self.0) {
            Some(source) => fmt::Display::fmt(source, f),
            None => fmt::Display::fmt(&*self.0, f),
        }
    }
}

impl std::error::Error for SharedError {}

type FlightOutput = Result<Cached, SharedError>;

pin_project! {
    /// The inner store's lookup, caching its answer when it arrives.
    struct FlightFuture<F> {
        #[pin]
        inner: F,
        core: Arc<Core>,
        hash: TokenHash,
        epoch: u64,
    }
}

impl<F: Future<Output = LookupResult>> Future for FlightFuture<F> {
    type Output = FlightOutput;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FlightOutput> {
        let this = self.project();
        let answer = ready!(this.inner.poll(cx));
        Poll::Ready(match answer {
            Ok(state) => {
                this.core.remember(*this.hash, &state, *this.epoch);
                Ok(match state {
                    TokenState::Active(p) => Cached::Active(p, 0),
                    TokenState::Revoked(p) => Cached::Revoked(p),
                    TokenState::Unknown => Cached::Unknown,
                })
            }
            Err(e) => Err(SharedError(Arc::new(e))),
        })
    }
}

struct Flight<F: Future<Output = LookupResult>> {
    epoch: u64,
    future: WeakShared<FlightFuture<F>>,
}

impl<F: Future<Output = LookupResult>> Flight<F> {
    /// The flight, if it can still be joined: not abandoned, not finished.
    fn join(&self, epoch: u64) -> Option<Shared<FlightFuture<F>>> {
        if self.epoch != epoch {
            return None;
        }
        self.future.upgrade().filter(|shared| shared.peek().is_none())
    }
}

struct FlightMap<F: Future<Output = LookupResult>> {
    flights: HashMap<TokenHash, Flight<F>>,
    /// Finished and abandoned flights are swept out when the map reaches this size.
    sweep_at: usize,
}

impl<F: Future<Output = LookupResult>> Default for FlightMap<F> {
    fn default() -> Self {
        FlightMap { flights: HashMap::new(), sweep_at: 64 }
    }
}

impl<F: Future<Output = LookupResult>> FlightMap<F> {
    fn insert(&mut self, hash: TokenHash, flight: Flight<F>) {
        self.flights.insert(hash, flight);
        if self.flights.len() >= self.sweep_at {
            self.flights.retain(|_, f| f.future.upgrade().is_some_and(|s| s.peek().is_none()));
            self.sweep_at = (self.flights.len() * 2).max(64);
        }
    }
}

/// The future of a [`CachedTokenStore`] lookup that missed: this request's share of the
/// (possibly coalesced) inner lookup.
#[must_use = "futures do nothing unless polled"]
pub struct CachedLookup<F: Future<Output = LookupResult>> {
    shared: Shared<FlightFuture<F>>,
}

impl<F: Future<Output = LookupResult>> Future for CachedLookup<F> {
    type Output = LookupResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LookupResult> {
        Poll::Ready(match ready!(Pin::new(&mut self.shared).poll(cx)) {
            Ok(cached) => Ok(cached.into_state()),
            Err(e) => Err(e.to_store_error()),
        })
    }
}

impl<F: Future<Output = LookupResult>> fmt::Debug for CachedLookup<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedLookup").finish_non_exhaustive()
    }
}

/// How a [`CachedTokenStore`] caches: TTLs and size. `CacheConfig::default()` has the
/// `DEFAULT_*` values; [`build`](Self::build) puts the cache in front of a store.
#[derive(Clone, Debug)]
#[must_use]
pub struct CacheConfig {
    positive_ttl: Duration,
    negative_ttl: Duration,
    max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            positive_ttl: DEFAULT_POSITIVE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

impl CacheConfig {
    /// How long an active token's answer is served from the cache (default
    /// [`DEFAULT_POSITIVE_TTL`]; never past the token's expiry). This is also the upper bound
    /// on how long a revocation made elsewhere can go unseen; see the
    /// [module documentation](self).
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl.min(MAX_TTL);
        self
    }

    /// How long "unknown" and "revoked" answers are served from the cache (default
    /// [`DEFAULT_NEGATIVE_TTL`]). Keeps a flood of made-up tokens off the store.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl.min(MAX_TTL);
        self
    }

    /// The most digests the cache holds, positive and negative together (default
    /// [`DEFAULT_MAX_ENTRIES`]). Beyond it, entries are evicted by moka's TinyLFU policy, which
    /// also keeps a flood of one-off unknown tokens from pushing out the frequently used ones.
    pub fn max_entries(mut self, max: u64) -> Self {
        self.max_entries = max;
        self
    }

    /// The cache, in front of `store`.
    pub fn build<S: TokenStore>(self, store: S) -> CachedTokenStore<S> {
        let core = Arc::new(Core::new(self.positive_ttl, self.negative_ttl, self.max_entries));
        CachedTokenStore {
            inner: Arc::new(Inner { store, core, flights: std::array::from_fn(|_| Mutex::default()) }),
        }
    }
}

impl<S: TokenStore> CachedTokenStore<S> {
    /// `store` behind a cache with the default TTLs and size.
    pub fn new(store: S) -> Self {
        CacheConfig::default().build(store)
    }

    /// `store` behind a cache configured by `config`.
    pub fn with_config(store: S, config: CacheConfig) -> Self {
        config.build(store)
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
    /// invalidate this cache from elsewhere.
    #[must_use]
    pub fn invalidator(&self) -> CacheInvalidator {
        CacheInvalidator { core: Arc::downgrade(&self.inner.core) }
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
        self.inner.core.positive_ttl
    }

    /// The negative TTL.
    #[must_use]
    pub fn negative_ttl(&self) -> Duration {
        self.inner.core.negative_ttl
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
            .field("positive_ttl", &core.positive_ttl)
            .field("negative_ttl", &core.negative_ttl)
            .finish_non_exhaustive()
    }
}

impl<S: TokenStore> TokenStore for CachedTokenStore<S> {
    type Future = CachedLookup<S::Future>;

    fn lookup(&self, token: &PresentedToken<'_>) -> Lookup<Self::Future> {
        let inner = &*self.inner;
        let hash = *token.hash();
        if let Some(hit) = inner.core.entries.get(&hash) {
            return Lookup::Now(Ok(hit.into_state()));
        }
        // Read before the store is asked: an invalidation from here on keeps the answer out.
        let epoch = inner.core.epoch();
        let mut shard = lock(&inner.flights[usize::from(hash.as_bytes()[31]) % SHARDS]);
        if let Some(shared) = shard.flights.get(&hash).and_then(|f| f.join(epoch)) {
            return Lookup::Later(CachedLookup { shared });
        }
        // A flight may have finished (and cached) between the probe above and the lock.
        if let Some(hit) = inner.core.entries.get(&hash) {
            return Lookup::Now(Ok(hit.into_state()));
        }
        // Asked under the shard lock, so concurrent misses of this digest make one call.
        match inner.store.lookup(token) {
            Lookup::Now(answer) => {
                drop(shard);
                if let Ok(state) = &answer {
                    inner.core.remember(hash, state, epoch);
                }
                Lookup::Now(answer)
            }
            Lookup::Later(future) => {
                let flight = FlightFuture { inner: future, core: inner.core.clone(), hash, epoch };
                let shared = flight.shared();
                if let Some(weak) = shared.downgrade() {
                    shard.insert(hash, Flight { epoch, future: weak });
                }
                Lookup::Later(CachedLookup { shared })
            }
        }
    }
}

/// Invalidates through the cache: every operation that can end a token's validity (revoke,
/// rotate, delete) drops its cached answer before returning, whatever the inner store
/// answered (a failed call may still have committed).
impl<S: TokenLifecycle> TokenLifecycle for CachedTokenStore<S> {
    fn issue(&self, new: NewToken) -> impl Future<Output = Result<IssuedToken, LifecycleError>> + Send {
        self.inner.store.issue(new)
    }

    fn list(&self, subject: &str) -> impl Future<Output = Result<Vec<TokenInfo>, LifecycleError>> + Send {
        self.inner.store.list(subject)
    }

    fn get(&self, id: &TokenId) -> impl Future<Output = Result<Option<TokenInfo>, LifecycleError>> + Send {
        self.inner.store.get(id)
    }

    async fn revoke(&self, id: &TokenId) -> Result<bool, LifecycleError> {
        let result = self.inner.store.revoke(id).await;
        self.inner.core.forget_id(id);
        result
    }

    async fn rotate(&self, id: &TokenId, grace: Duration) -> Result<IssuedToken, LifecycleError> {
        let result = self.inner.store.rotate(id, grace).await;
        // With grace the old token's expiry changed; without, it is revoked.
        self.inner.core.forget_id(id);
        result
    }

    async fn delete(&self, id: &TokenId) -> Result<bool, LifecycleError> {
        let result = self.inner.store.delete(id).await;
        self.inner.core.forget_id(id);
        result
    }

    fn purge_expired(&self) -> impl Future<Output = Result<usize, LifecycleError>> + Send {
        // Expired entries are never served as valid (the layer checks expiry) and leave the
        // cache at their expiry.
        self.inner.store.purge_expired()
    }

    fn record_usage(
        &self,
        id: &TokenId,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), LifecycleError>> + Send {
        self.inner.store.record_usage(id, at)
    }
}

/// Invalidates a [`CachedTokenStore`] from elsewhere: the handle a push channel (such as the
/// Postgres store's `LISTEN/NOTIFY` revocation listener) uses. It does not keep the cache
/// alive: once every clone of the cache is dropped, its methods return `false`.
#[derive(Clone)]
pub struct CacheInvalidator {
    core: Weak<Core>,
}

impl CacheInvalidator {
    /// Drops the cached answer for this digest. Returns whether the cache still exists.
    pub fn invalidate(&self, hash: &TokenHash) -> bool {
        self.core.upgrade().map(|core| core.invalidate(hash)).is_some()
    }

    /// Drops every cached answer. Returns whether the cache still exists.
    pub fn invalidate_all(&self) -> bool {
        self.core.upgrade().map(|core| core.invalidate_all()).is_some()
    }

    /// Reports the push channel's state. Disconnected: the cache is cleared and active tokens
    /// are no longer cached (a revocation elsewhere could not reach it). Connected: the cache
    /// is cleared once more (a notification may have been missed before the subscription took
    /// effect) and caching resumes. Returns whether the cache still exists.
    pub fn set_push_connected(&self, connected: bool) -> bool {
        self.core.upgrade().map(|core| core.set_push_connected(connected)).is_some()
    }

    /// Whether the cache still exists.
    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.core.strong_count() > 0
    }
}

impl fmt::Debug for CacheInvalidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheInvalidator").field("alive", &self.is_alive()).finish()
    }
}
