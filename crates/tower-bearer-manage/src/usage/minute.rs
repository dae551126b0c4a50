//! [`RecentMinute`]: the minute requests are counted in, kept by the counter's task so that a
//! request does not read the clock (a read costs more than the rest of counting).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tower_bearer::Clock;

/// One count in this many on a shard checks the minute against the clock.
const CHECK_EVERY: u32 = 64;

/// The current minute since the epoch, set by the counter's task as each minute starts; one
/// count in [`CHECK_EVERY`] on a shard reads the clock too and moves it on if the task is late
/// (a busy runtime). A request in the first moments of a minute may so be counted in the one
/// before (until the task wakes or a check sees the clock): totals are exact, the boundary
/// blurred by that much. With a manual clock, every count reads it.
pub(super) struct RecentMinute {
    minute: AtomicU64,
    clock: Clock,
}

fn minute_of(clock: &Clock) -> u64 {
    clock.coarse_unix_millis() / 60_000
}

impl RecentMinute {
    pub(super) fn new(clock: Clock) -> Self {
        RecentMinute { minute: AtomicU64::new(minute_of(&clock)), clock }
    }

    /// The minute to count a request in; `seen` is how many counts its shard has made.
    #[inline]
    pub(super) fn get(&self, seen: u32) -> u64 {
        if self.clock.is_manual() {
            return minute_of(&self.clock);
        }
        if seen.is_multiple_of(CHECK_EVERY) {
            return self.refresh();
        }
        self.minute.load(Ordering::Relaxed)
    }

    /// Reads the clock; the minute moves on if it is later.
    #[cold]
    pub(super) fn refresh(&self) -> u64 {
        let now = minute_of(&self.clock);
        self.minute.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// How long until the next minute starts, by the clock.
    pub(super) fn until_next(&self) -> Duration {
        let ms = self.clock.coarse_unix_millis();
        Duration::from_millis(60_000 - ms % 60_000)
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn a_manual_clock_is_followed_exactly() {
        let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(59));
        let minute = RecentMinute::new(clock.clone());
        assert_eq!(minute.get(1), 0);
        assert_eq!(minute.until_next(), Duration::from_secs(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(minute.get(2), 1);
    }

    #[test]
    fn the_system_clock_is_checked_one_count_in_sixty_four() {
        let minute = RecentMinute::new(Clock::system());
        let now = minute.get(1);
        // A task late by a minute: the next check catches up.
        minute.minute.store(now - 1, Ordering::Relaxed);
        assert_eq!(minute.get(1), now - 1);
        assert!(minute.get(CHECK_EVERY) >= now);
        assert!(minute.get(1) >= now);
    }
}
