//! [`ReplayIds`]: the memory store's [`ReplayCache`], for one instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::clock::Clock;
use crate::store::error::StoreError;
#[cfg(doc)]
use crate::store::replay::ReplayCache;

/// How many identifiers are kept unless told otherwise (about 60 MiB when full).
pub(crate) const DEFAULT_CAPACITY: usize = 1 << 20;

/// The fewest identifiers kept before expired ones are swept out.
const FIRST_SWEEP: usize = 1024;

/// Single-use identifiers in this instance's memory (the
/// [`MemoryTokenStore`](crate::MemoryTokenStore)'s [`ReplayCache`]): at most `capacity` live
/// ones; expired ones are swept out as it fills. A full cache answers an error (the caller
/// refuses the request), never forgets a live identifier early: forgetting one would let its
/// replay in.
pub(crate) struct ReplayIds {
    seen: Mutex<Seen>,
    capacity: usize,
    clock: Clock,
}

struct Seen {
    until: HashMap<[u8; 32], SystemTime, foldhash::fast::RandomState>,
    /// The size at which expired identifiers are next swept out: twice what a sweep left.
    next_sweep: usize,
}

impl ReplayIds {
    /// An empty cache on `clock`, holding up to `capacity` live identifiers (at least one).
    pub(crate) fn new(capacity: usize, clock: Clock) -> Self {
        ReplayIds {
            seen: Mutex::new(Seen { until: HashMap::default(), next_sweep: FIRST_SWEEP }),
            capacity: capacity.max(1),
            clock,
        }
    }

    /// [`first_use`](ReplayCache::first_use), answered at once. An error when the cache
    /// holds `capacity` live identifiers.
    pub(crate) fn first_use_now(&self, id: [u8; 32], until: SystemTime) -> Result<bool, StoreError> {
        let now = self.clock.now();
        // A poisoned lock means a panic while holding it, which nothing here does; the map is
        // still consistent (each step below leaves it so), so go on with it.
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = seen.until.get_mut(&id) {
            if *known > now {
                return Ok(false);
            }
            // Expired: this use is a first one again.
            *known = until;
            return Ok(true);
        }
        if seen.until.len() >= seen.next_sweep.min(self.capacity) {
            seen.until.retain(|_, until| *until > now);
            seen.next_sweep = (seen.until.len() * 2).max(FIRST_SWEEP);
            if seen.until.len() >= self.capacity {
                return Err(StoreError::unavailable("the replay cache is full"));
            }
        }
        seen.until.insert(id, until);
        Ok(true)
    }

    /// How many identifiers the cache holds (expired ones not yet swept out included).
    pub(crate) fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).until.len()
    }
}

impl fmt::Debug for ReplayIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayIds")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_identifier_is_used_once_until_it_expires_and_a_full_cache_refuses() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Clock::manual(start);
        let cache = ReplayIds::new(2, clock.clone());
        let until = start + Duration::from_secs(60);
        assert_eq!(cache.first_use_now([1; 32], until).ok(), Some(true));
        assert_eq!(cache.first_use_now([1; 32], until).ok(), Some(false));
        assert_eq!(cache.first_use_now([2; 32], until).ok(), Some(true));
        assert!(cache.first_use_now([3; 32], until).is_err(), "full of live identifiers");
        assert_eq!(cache.first_use_now([1; 32], until).ok(), Some(false), "a live one is never forgotten");
        clock.advance(Duration::from_secs(61));
        assert_eq!(cache.first_use_now([3; 32], until + Duration::from_secs(120)).ok(), Some(true));
        assert_eq!(cache.first_use_now([1; 32], until + Duration::from_secs(120)).ok(), Some(true));
        assert_eq!(cache.first_use_now([1; 32], until + Duration::from_secs(120)).ok(), Some(false));
    }

    #[test]
    fn expired_identifiers_are_swept_as_it_fills() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Clock::manual(start);
        let cache = ReplayIds::new(10_000, clock.clone());
        for i in 0..5_000_u32 {
            let mut id = [0; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            assert_eq!(cache.first_use_now(id, start + Duration::from_secs(1)).ok(), Some(true));
        }
        clock.advance(Duration::from_secs(2));
        for i in 5_000..20_000_u32 {
            let mut id = [0; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            let until = clock.now() + Duration::from_secs(1);
            assert_eq!(cache.first_use_now(id, until).ok(), Some(true), "{i}");
            clock.advance(Duration::from_millis(1));
        }
        assert!(cache.len() <= 10_000, "{}", cache.len());
    }
}
