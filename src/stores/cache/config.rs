//! [`CacheConfig`]: TTLs and size of a [`CachedTokenStore`](crate::CachedTokenStore).

use std::time::Duration;

use super::core::{Core, Ttls};
use super::fallback::Fallback;
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
    stale_window: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            positive_ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(5),
            max_entries: 100_000,
            clock: Clock::default(),
            stale_window: None,
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

    /// Off by default. While the store cannot answer (it returns an error: an outage, a
    /// timeout, an open circuit breaker inside the cache), a token the store said was active
    /// within the last `window` is admitted from that answer instead of refused with 503.
    ///
    /// **What it risks**: a token revoked while the store is unreachable, or revoked elsewhere
    /// shortly before the outage by a notification that never arrived, is admitted until its
    /// last answer is `window` old. Revocations that do reach the cache (through it, or a push
    /// channel) drop its kept answer; tokens past their expiry are never served; a revocation
    /// by id empties the whole fallback. Keep `window` to what an outage of your store may cost
    /// you in revoked-but-admitted requests. Put a circuit breaker *inside* the cache
    /// (`CachedTokenStore::with_config(CircuitBreakerTokenStore::new(store, ..), ..)`) for the
    /// fallback to answer at once; one outside the cache refuses before the cache is asked.
    pub fn serve_stale_for(mut self, window: Duration) -> Self {
        self.stale_window = Some(window.min(MAX_TTL));
        self
    }

    /// The cache's core: its entries and how long they are served.
    pub(super) fn core(self) -> Core {
        let fallback =
            self.stale_window.map(|window| Fallback::new(window, self.max_entries, self.clock.clone()));
        Core::new(
            Ttls { positive: self.positive_ttl, negative: self.negative_ttl, clock: self.clock },
            self.max_entries,
            fallback,
        )
    }
}
