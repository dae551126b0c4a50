//! [`FailureLimiter`]: failed client authentications counted per source address, in a table of
//! fixed size, to tell a source that keeps failing to slow down.

use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Slots of the table. Sources share a slot when their keys collide (the hash is keyed with
/// process-random keys, so a source cannot pick a victim's slot): a shared slot only makes the
/// limiter stricter for the sources in it.
const SLOTS: usize = 4096;

/// Failed authentications per source within a window. O(1) per request, one small lock per
/// slot, no state kept per client id or per attacker-chosen value.
pub(crate) struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    keys: RandomState,
    /// Failures and the start of their window.
    slots: Box<[Mutex<(u32, SystemTime)>]>,
}

impl FailureLimiter {
    pub(crate) fn new(max_failures: u32, window: Duration) -> Self {
        let slots = (0..SLOTS).map(|_| Mutex::new((0, SystemTime::UNIX_EPOCH))).collect();
        FailureLimiter { max_failures, window, keys: RandomState::new(), slots }
    }

    /// Records a failed authentication from `source` at `now`; returns how long the source
    /// should wait before trying again, once it is over the limit.
    pub(crate) fn failed(&self, source: Option<IpAddr>, now: SystemTime) -> Option<Duration> {
        let slot = &self.slots[self.slot(source)];
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.duration_since(slot.1).unwrap_or_default();
        if elapsed >= self.window {
            *slot = (0, now);
        }
        slot.0 = slot.0.saturating_add(1);
        let left = self.window.saturating_sub(now.duration_since(slot.1).unwrap_or_default());
        (slot.0 > self.max_failures).then_some(left)
    }

    /// The slot of `source`: IPv4 addresses by address, IPv6 by their /64 network (one host
    /// commonly holds a whole /64); requests of unknown source share one slot.
    fn slot(&self, source: Option<IpAddr>) -> usize {
        let key: u128 = match source {
            None => 0,
            Some(IpAddr::V4(v4)) => u128::from(u32::from(v4)) | 1 << 127,
            Some(IpAddr::V6(v6)) => u128::from(v6) & !((1 << 64) - 1),
        };
        // `SLOTS` is a power of two: the low bits of a keyed hash pick the slot.
        usize::try_from(self.keys.hash_one(key)).unwrap_or(0) % SLOTS
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn a_source_over_the_limit_is_told_to_wait_until_its_window_ends() {
        let limiter = FailureLimiter::new(2, Duration::from_secs(60));
        let (a, b) =
            (Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))), Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(limiter.failed(a, t0), None);
        assert_eq!(limiter.failed(a, t0), None);
        assert_eq!(limiter.failed(a, t0 + Duration::from_secs(10)), Some(Duration::from_secs(50)));
        // Another source is not affected (unless the keyed hash happens to share its slot).
        if limiter.slot(a) != limiter.slot(b) {
            assert_eq!(limiter.failed(b, t0 + Duration::from_secs(10)), None);
        }
        // A new window starts over.
        assert_eq!(limiter.failed(a, t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn ipv6_sources_count_by_their_64_network() {
        let limiter = FailureLimiter::new(1, Duration::from_secs(60));
        let host = |last: u16| Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last)));
        assert_eq!(limiter.slot(host(1)), limiter.slot(host(0xffff)));
    }

    #[test]
    fn the_table_has_a_fixed_size_whatever_the_sources() {
        let limiter = FailureLimiter::new(5, Duration::from_secs(60));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for i in 0..100_000_u32 {
            let _ = limiter.failed(Some(IpAddr::V4(Ipv4Addr::from(i))), now);
        }
        assert_eq!(limiter.slots.len(), SLOTS);
    }
}
