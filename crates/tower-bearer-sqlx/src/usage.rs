//! [`Usage`]: `last_used_at` writes, coalesced to one per token per interval per instance.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tower_bearer::TokenHash;

/// Coalesces `last_used_at` writes: at most one per token per interval, per instance.
pub(crate) struct Usage {
    interval_ms: u64,
    /// Digest → when this instance last wrote (or learned of) its use, in ms since the epoch.
    last: papaya::HashMap<TokenHash, AtomicU64>,
    /// Entries older than the interval are swept out when the map reaches this size.
    sweep_at: AtomicUsize,
}

const USAGE_SWEEP_MIN: usize = 1024;

impl Usage {
    pub(crate) fn new(interval: Duration) -> Self {
        Usage {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last: papaya::HashMap::new(),
            sweep_at: AtomicUsize::new(USAGE_SWEEP_MIN),
        }
    }

    /// Whether this use should be written: the last known use (ours, or the database's
    /// `stored`) is an interval old. At most one caller wins per interval.
    pub(crate) fn claim(&self, hash: &TokenHash, now_ms: u64, stored_ms: u64) -> bool {
        let map = self.last.pin();
        let slot = map.get_or_insert_with(*hash, || AtomicU64::new(stored_ms));
        let last = slot.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last.max(stored_ms)) < self.interval_ms {
            return false;
        }
        let won = slot.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        if map.len() >= self.sweep_at.load(Ordering::Relaxed) {
            let interval = self.interval_ms;
            map.retain(|_, at| now_ms.saturating_sub(at.load(Ordering::Relaxed)) < interval);
            self.sweep_at.store((map.len() * 2).max(USAGE_SWEEP_MIN), Ordering::Relaxed);
        }
        won
    }
}

pub(crate) fn millis(us: i64) -> u64 {
    u64::try_from(us / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn usage_writes_are_claimed_once_per_interval() {
        let usage = Usage::new(Duration::from_secs(60));
        let h = TokenHash::of("t");
        assert!(usage.claim(&h, 1_000_000, 0));
        assert!(!usage.claim(&h, 1_030_000, 0), "within the interval");
        assert!(usage.claim(&h, 1_060_000, 0), "an interval later");
        let other = TokenHash::of("u");
        assert!(!usage.claim(&other, 2_000_000, 1_990_000), "the database saw a use 10 s ago");
        let eager = Usage::new(Duration::ZERO);
        assert!(eager.claim(&h, 5, 0) && eager.claim(&h, 5, 0));
    }
}
