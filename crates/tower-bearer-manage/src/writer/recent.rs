//! [`RecentTime`]: the time request events are stamped with, kept by the writer's task so that
//! a request does not read the clock.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tower_bearer::Clock;

/// One request in this many on a thread checks the recent time against the clock.
const CHECK_EVERY: u32 = 64;

/// How far behind the clock the recent time may be before a check corrects it: more than the
/// task's refresh and a kernel tick of the coarse clock.
const MAX_LAG_MS: u64 = 5;

thread_local! {
    /// Stamps made on this thread, to check one in [`CHECK_EVERY`].
    static STAMPS: Cell<u32> = const { Cell::new(0) };
}

/// Milliseconds since the epoch by the coarse clock (which moves once per kernel tick, 1 to
/// 4 ms), refreshed by the writer's task every millisecond while requests arrive; 0 while it is
/// not (a request then reads the clock itself, and asks for it).
#[derive(Debug, Default)]
pub(super) struct RecentTime {
    ms: AtomicU64,
    /// Set by a request that found no recent time: the task starts refreshing it.
    wanted: AtomicBool,
}

impl RecentTime {
    /// The time to stamp a request with: the recent time, else `clock`'s. One request in
    /// [`CHECK_EVERY`] on a thread reads the clock too, and corrects a recent time more than
    /// [`MAX_LAG_MS`] behind it (a task that a busy runtime delays), for every thread.
    #[inline]
    pub(super) fn stamp(&self, clock: &Clock) -> u64 {
        let recent = self.ms.load(Ordering::Relaxed);
        if recent == 0 {
            // Read before written: while the task keeps time, this line is only read.
            if !self.wanted.load(Ordering::Relaxed) {
                self.wanted.store(true, Ordering::Relaxed);
            }
            return clock.coarse_unix_millis();
        }
        let stamps = STAMPS.get().wrapping_add(1);
        STAMPS.set(stamps);
        if !stamps.is_multiple_of(CHECK_EVERY) {
            return recent;
        }
        let now = clock.coarse_unix_millis();
        if now > recent + MAX_LAG_MS {
            self.ms.fetch_max(now, Ordering::Relaxed);
            return now;
        }
        recent
    }

    /// Sets the recent time (0: none kept; requests read the clock).
    pub(super) fn set(&self, ms: u64) {
        self.ms.store(ms, Ordering::Relaxed);
    }

    /// Whether a request found no recent time since the last call.
    pub(super) fn take_wanted(&self) -> bool {
        self.wanted.swap(false, Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn get(&self) -> Option<u64> {
        Some(self.ms.load(Ordering::Relaxed)).filter(|ms| *ms != 0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    fn now_ms() -> u64 {
        u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_millis())
            .expect("before 2554")
    }

    #[test]
    fn without_a_recent_time_the_clock_stamps_and_the_task_is_asked() {
        let recent = RecentTime::default();
        let clock = Clock::manual(UNIX_EPOCH + std::time::Duration::from_millis(1_234));
        assert_eq!(recent.stamp(&clock), 1_234);
        assert!(recent.take_wanted());
        assert!(!recent.take_wanted());
    }

    #[test]
    fn a_recent_time_left_behind_is_corrected_within_a_few_dozen_requests() {
        let recent = RecentTime::default();
        recent.set(1_000);
        let stamps: Vec<u64> = (0..CHECK_EVERY).map(|_| recent.stamp(&Clock::system())).collect();
        assert!(stamps.contains(&1_000), "the recent time, unchecked");
        let corrected = stamps.iter().copied().find(|s| *s != 1_000).expect("one check");
        assert!(corrected.abs_diff(now_ms()) < 1_000);
        assert!(recent.get().is_some_and(|ms| ms >= corrected), "for every thread");
        assert!(!recent.take_wanted());
    }
}
