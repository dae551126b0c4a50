//! The part of the cache every invalidation touches: the entries, the id index, the epoch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use moka::notification::RemovalCause;

use crate::clock::Clock;
use crate::principal::Principal;
use crate::store::state::TokenState;
use crate::token::hash::TokenHash;
use crate::token::id::TokenId;

/// The part of the cache that invalidations touch; independent of the store's type.
pub(super) struct Core {
    pub(super) entries: moka::sync::Cache<TokenHash, Entry>,
    /// Token id → digest (and the entry's sequence number) of cached active tokens, so that a
    /// revocation by id finds the entry to drop. Maintained by `remember` and the eviction
    /// listener.
    pub(super) by_id: Arc<Mutex<HashMap<TokenId, (TokenHash, u64)>>>,
    /// Advanced by every invalidation; see the module docs.
    pub(super) epoch: AtomicU64,
    /// Sequence numbers of cached active entries, to tell an entry from its replacement.
    pub(super) seq: AtomicU64,
    /// False while a push channel is attached but not connected: active tokens are then not
    /// cached, since a revocation elsewhere could not reach this cache.
    pub(super) cache_active: AtomicBool,
    /// Whether an active principal without a token id was ever cached: a revocation by id
    /// then cannot name its entry, so it clears the cache.
    pub(super) anonymous: AtomicBool,
    pub(super) ttls: Ttls,
}

/// A cached answer. Cloning clones a [`Principal`]: one reference count.
#[derive(Clone)]
pub(super) enum Cached {
    Active(Principal, u64),
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
            Cached::Active(p, _) => TokenState::Active(p),
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
            Cached::Active(p, _) => match p.expires_at() {
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
    pub(super) fn new(ttls: Ttls, max_entries: u64) -> Self {
        let by_id: Arc<Mutex<HashMap<TokenId, (TokenHash, u64)>>> = Arc::default();
        let index = by_id.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_entries)
            .expire_after(ttls.clone())
            .eviction_listener(move |hash: Arc<TokenHash>, value: Entry, _cause: RemovalCause| {
                if let Cached::Active(p, seq) = value.cached
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
            ttls,
        }
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
        let value = match state {
            TokenState::Active(p) => {
                if !self.cache_active.load(Ordering::SeqCst) {
                    return;
                }
                Cached::Active(p.clone(), self.seq.fetch_add(1, Ordering::Relaxed))
            }
            TokenState::Revoked(p) => Cached::Revoked(p.clone()),
            // Not cached: a purge turns it into an unknown token, and the store says so at once.
            TokenState::Expired(_) => return,
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
        self.entries.insert(hash, self.ttls.entry(value));
        // An invalidation that ran between the check above and the insert may have missed
        // the new entry: take it out again. (It advanced the epoch before removing entries.)
        if self.epoch() != epoch {
            self.entries.invalidate(&hash);
        }
    }

    pub(super) fn invalidate(&self, hash: &TokenHash) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(hash);
    }

    pub(super) fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }

    /// Drops whatever is cached for the token with this id.
    pub(super) fn forget_id(&self, id: &TokenId) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let found = lock(&self.by_id).get(id).map(|&(hash, _)| hash);
        match found {
            Some(hash) => self.entries.invalidate(&hash),
            None if self.anonymous.load(Ordering::SeqCst) => self.entries.invalidate_all(),
            None => {}
        }
    }

    pub(super) fn set_push_connected(&self, connected: bool) {
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
