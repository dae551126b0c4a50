//! The part of the cache every invalidation touches: the entries, the id index, the epoch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::fallback::Fallback;
use crate::clock::Clock;
use crate::principal::Principal;
use crate::store::state::TokenState;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;

/// The part of the cache that invalidations touch; independent of the store's type.
pub(super) struct Core {
    pub(super) entries: moka::sync::Cache<TokenHash, Entry>,
    /// Taken by every write to `entries`: an answer is cached (with its id) and an
    /// invalidation happens one after the other, never interleaved, so an answer read before
    /// an invalidation can never be cached after it, and a cached active token always has its
    /// id in the index. Lookups (hits) never take it.
    pub(super) writes: Mutex<Index>,
    /// Advanced by every invalidation, under `writes`: a lookup remembers the epoch it started
    /// in, and its answer is cached only if no invalidation happened since.
    pub(super) epoch: AtomicU64,
    /// False while a push channel is attached but not connected: active tokens are then not
    /// cached, since a revocation elsewhere could not reach this cache.
    pub(super) cache_active: AtomicBool,
    /// Whether an active principal without a token id was ever cached: a revocation by id
    /// then cannot name its entry, so it clears the cache.
    pub(super) anonymous: AtomicBool,
    pub(super) ttls: Ttls,
    /// Active answers kept for an outage, when configured.
    pub(super) fallback: Option<Fallback>,
}

/// Token id → digest of cached active tokens, so that a revocation by id finds the entry to
/// drop. Ids whose entry left the cache (TTL, size) are swept when the index doubles.
#[derive(Default)]
pub(super) struct Index {
    by_id: HashMap<TokenId, TokenHash>,
    sweep_at: usize,
}

/// A cached answer. Cloning clones a [`Principal`]: one reference count.
#[derive(Clone)]
pub(super) enum Cached {
    Active(Principal),
    Revoked(Principal),
    Expired(Principal),
    Unknown,
}

/// A cached answer and when it stops being served.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) cached: Cached,
    until: SystemTime,
}

impl Cached {
    pub(super) fn into_state(self) -> TokenState {
        match self {
            Cached::Active(p) => TokenState::Active(p),
            Cached::Revoked(p) => TokenState::Revoked(p),
            Cached::Expired(p) => TokenState::Expired(p),
            Cached::Unknown => TokenState::Unknown,
        }
    }
}

/// How long answers are served, by the cache's clock.
#[derive(Clone, Debug)]
pub(super) struct Ttls {
    pub(super) positive: Duration,
    pub(super) negative: Duration,
    pub(super) clock: Clock,
}

impl Ttls {
    /// How long `value`, cached now, is served.
    fn of(&self, value: &Cached) -> Duration {
        match value {
            Cached::Active(p) => match p.expires_at() {
                // Not past the token's own expiry: an expired entry is useless.
                Some(at) => at.duration_since(self.clock.now()).unwrap_or_default().min(self.positive),
                None => self.positive,
            },
            Cached::Revoked(_) | Cached::Expired(_) | Cached::Unknown => self.negative,
        }
    }

    fn entry(&self, cached: Cached) -> Entry {
        let until = self.clock.now().checked_add(self.of(&cached)).unwrap_or(SystemTime::UNIX_EPOCH);
        Entry { cached, until }
    }

    /// What is left of `entry`'s time, by the clock (moka's own timer enforces it).
    fn left(&self, entry: &Entry) -> Duration {
        entry.until.duration_since(self.clock.now()).unwrap_or_default()
    }
}

impl moka::Expiry<TokenHash, Entry> for Ttls {
    fn expire_after_create(&self, _: &TokenHash, value: &Entry, _: Instant) -> Option<Duration> {
        Some(self.left(value))
    }

    fn expire_after_update(
        &self,
        _: &TokenHash,
        value: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.left(value))
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its map consistent at each step.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    pub(super) fn new(ttls: Ttls, max_entries: u64, fallback: Option<Fallback>) -> Self {
        let entries =
            moka::sync::Cache::builder().max_capacity(max_entries).expire_after(ttls.clone()).build();
        Core {
            entries,
            writes: Mutex::default(),
            epoch: AtomicU64::new(0),
            cache_active: AtomicBool::new(true),
            anonymous: AtomicBool::new(false),
            ttls,
            fallback,
        }
    }

    /// The store could not answer `hash`: an active answer it gave within the fallback's
    /// window, if one is configured and kept.
    pub(super) fn fallback(&self, hash: &TokenHash) -> Option<TokenState> {
        self.fallback.as_ref()?.serve(hash)
    }

    /// The cached answer for `hash`, if it is still to be served. moka drops entries at their
    /// TTL by its own timer; a manual clock is checked here too, so that moving it expires
    /// entries.
    pub(super) fn get(&self, hash: &TokenHash) -> Option<Cached> {
        let entry = self.entries.get(hash)?;
        if self.ttls.clock.is_manual() && self.ttls.left(&entry).is_zero() {
            self.entries.invalidate(hash);
            return None;
        }
        Some(entry.cached)
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Caches a store's answer obtained by a lookup that started in `epoch`, unless an
    /// invalidation happened since.
    pub(super) fn remember(&self, hash: TokenHash, state: &TokenState, epoch: u64) {
        let cached = match state {
            TokenState::Active(p) => Cached::Active(p.clone()),
            TokenState::Revoked(p) => Cached::Revoked(p.clone()),
            // Not cached: a purge turns it into an unknown token, and the store says so at once.
            TokenState::Expired(_) => return,
            TokenState::Unknown => Cached::Unknown,
        };
        let mut writes = lock(&self.writes);
        if self.epoch() != epoch {
            return;
        }
        if let (Cached::Active(p), Some(fallback)) = (&cached, &self.fallback) {
            // Kept even while active tokens are not cached: it is served only in an outage.
            fallback.keep(hash, p);
        }
        let id = match &cached {
            Cached::Active(_) if !self.cache_active.load(Ordering::SeqCst) => return,
            Cached::Active(p) => p.token_id().cloned(),
            _ => None,
        };
        if matches!(cached, Cached::Active(_)) && id.is_none() {
            self.anonymous.store(true, Ordering::SeqCst);
        }
        self.entries.insert(hash, self.ttls.entry(cached));
        if let Some(id) = id {
            writes.remember(id, hash, &self.entries);
        }
    }

    /// Drops the cached answer for `hash`; lookups under way are not cached either.
    pub(super) fn invalidate(&self, hash: &TokenHash) {
        let _writes = self.invalidation();
        self.entries.invalidate(hash);
        if let Some(fallback) = &self.fallback {
            fallback.forget(hash);
        }
    }

    /// Drops every cached answer; lookups under way are not cached either.
    pub(super) fn invalidate_all(&self) {
        let _writes = self.invalidation();
        self.entries.invalidate_all();
        if let Some(fallback) = &self.fallback {
            fallback.forget_all();
        }
    }

    /// Drops whatever is cached for the token with this id.
    pub(super) fn forget_id(&self, id: &TokenId) {
        let writes = self.invalidation();
        match writes.by_id.get(id) {
            Some(hash) => self.entries.invalidate(hash),
            None if self.anonymous.load(Ordering::SeqCst) => self.entries.invalidate_all(),
            None => {}
        }
        // The fallback keeps answers the index may not name (those read while active tokens
        // were not cached): a revocation by id empties it.
        if let Some(fallback) = &self.fallback {
            fallback.forget_all();
        }
    }

    /// Starts an invalidation: the write lock, and a new epoch so that no answer read before
    /// it is cached or joined after it.
    fn invalidation(&self) -> MutexGuard<'_, Index> {
        let writes = lock(&self.writes);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        writes
    }

    /// A push channel connected or lost: the cache is cleared either way (a notification may
    /// have been missed), and active tokens are cached only while it is connected.
    pub(super) fn set_push_connected(&self, connected: bool) {
        let _writes = self.invalidation();
        self.entries.invalidate_all();
        self.cache_active.store(connected, Ordering::SeqCst);
    }
}

impl Index {
    /// Records that `id`'s answer is cached under `hash`; sweeps ids whose entry is gone when
    /// the index has doubled since the last sweep (amortized O(1)).
    fn remember(&mut self, id: TokenId, hash: TokenHash, entries: &moka::sync::Cache<TokenHash, Entry>) {
        self.by_id.insert(id, hash);
        if self.by_id.len() >= self.sweep_at.max(1024) {
            self.by_id.retain(|_, hash| entries.contains_key(hash));
            self.sweep_at = self.by_id.len() * 2;
        }
    }
}
