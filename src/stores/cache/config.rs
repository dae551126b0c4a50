//! [`CacheConfig`]: TTLs and size of a [`CachedTokenStore`](crate::CachedTokenStore).

use std::time::Duration;

use super::core::{Core, Ttls};
use crate::clock::Clock;

/// moka refuses TTLs over 1000 years; nobody needs more than this.
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// How a [`CachedTokenStore`](crate::CachedTokenStore) caches: TTLs and size.
/// `CacheConfig::default()` caches active tokens for 30 seconds, unknown and revoked ones for
/// 5, and at most 100 000 digests; [`CachedTokenStore::with_config`](crate::CachedTokenStore::with_config)
/// puts the cache in front of a store.
#[derive(Clone, Debug)]
#[must_use]
pub struct CacheConfig {
    positive_ttl: Duration,
    negative_ttl: Duration,
    max_entries: u64,
    clock: Clock,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            positive_ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            max_entries: 100_000,
            clock: Clock::default(),
        }
    }
}

impl CacheConfig {
    /// How long an active token's answer is served from the cache (default 30
    /// seconds; never past the token's expiry). This is also the upper bound
    /// on how long a revocation made elsewhere can go unseen; see the
    /// [`CachedTokenStore`](crate::CachedTokenStore) documentation.
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.positive_ttl = ttl.min(MAX_TTL);
        self
    }

    /// How long "unknown" and "revoked" answers are served from the cache (default 5
    /// seconds). Keeps a flood of made-up tokens off the store.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = ttl.min(MAX_TTL);
        self
    }

    /// The most digests the cache holds, positive and negative together (default
    /// 100 000). Beyond it, entries are evicted by moka's TinyLFU policy, which
    /// also keeps a flood of one-off unknown tokens from pushing out the frequently used ones.
    pub fn max_entries(mut self, max: u64) -> Self {
        self.max_entries = max;
        self
    }

    /// Reads the time from `clock` (default: the system clock), for TTLs and token expiry.
    /// For tests: with a [`Clock::manual`], entries expire when the clock is moved past them.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The cache's core: its entries and how long they are served.
    pub(super) fn core(self) -> Core {
        Core::new(
            Ttls { positive: self.positive_ttl, negative: self.negative_ttl, clock: self.clock },
            self.max_entries,
        )
    }
}
